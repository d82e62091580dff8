//! Owns generation: turning rule findings plus retrieved evidence into [`Guidance`] in
//! which every claim cites retrieved chunks.
//!
//! Two generators implement [`Generator`]:
//! - [`RulesGenerator`] (`rules_generator.rs`): deterministic and extractive. One required
//!   action per finding, citations chosen from the evidence by regulation, an answer
//!   quoted from the best passages. It never fails and is the fallback.
//! - [`LlmGenerator`] (`llm.rs`): an OpenAI-compatible chat endpoint asked for a JSON
//!   object under a schema whose citation ids are exactly the retrieved chunks. Its
//!   output is validated and then [`merge`]d over the rules generator's output.
//!
//! [`generate_guidance`] ties them together: the LLM first, the rules on any failure.
//!
//! Invariants, whatever the model says:
//! - every rule finding appears in `required_actions` with the rule's code, deadline
//!   and (at least) the rules generator's citations; the LLM cannot remove or add a
//!   required action (an action it proposes that the rules did not find becomes a
//!   recommendation);
//! - every citation is a retrieved chunk; ids the model invents are dropped and counted
//!   in `generator.dropped_citations`; model items left with no valid citation are
//!   dropped;
//! - a model item that names a CFR section found neither in the findings nor in the
//!   retrieved chunks (an invented regulation) is dropped.

mod llm;
mod prompt;
mod rules_generator;

use std::collections::HashMap;

use async_trait::async_trait;
use reagent_ingest::store::ScoredChunk;
use thiserror::Error;
use uuid::Uuid;

use crate::domain::ValidRuleInput;
use crate::guidance::{
    Citation, GeneratorInfo, GeneratorKind, Guidance, Recommendation, RequiredAction,
};
use crate::rules::{ActionCode, RuleOutcome};

pub use llm::{
    LlmGenerator, LlmRun, LlmSettings, LlmSettingsError, MAX_RESPONSE_BYTES, ResponseFormatMode,
};
pub use prompt::PromptSet;
pub use rules_generator::RulesGenerator;

/// Version of the analysis prompt (transaction, optionally with a question).
pub const ANALYSIS_PROMPT_VERSION: &str = "analysis.v1";
/// Version of the ask prompt (a question without a transaction).
pub const ASK_PROMPT_VERSION: &str = "ask.v1";
/// The default prompt version, that of a transaction analysis.
pub const PROMPT_VERSION: &str = ANALYSIS_PROMPT_VERSION;

/// The prompt version used for `input`: `ask.v1` for a question with no transaction,
/// otherwise `analysis.v1`. Record it in the response next to the guidance.
pub fn prompt_version(input: &GenerationInput<'_>) -> &'static str {
    if input.is_ask() {
        ASK_PROMPT_VERSION
    } else {
        ANALYSIS_PROMPT_VERSION
    }
}

/// A retrieved chunk and the findings whose retrieval queries found it.
#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceChunk {
    pub hit: ScoredChunk,
    /// Which findings' queries retrieved it (empty for a question's own query).
    pub for_actions: Vec<ActionCode>,
}

/// Everything a generator may use. Generators cite only chunks in `evidence`.
#[derive(Debug, Clone, Copy)]
pub struct GenerationInput<'a> {
    pub request: Option<&'a ValidRuleInput>,
    pub outcome: Option<&'a RuleOutcome>,
    pub evidence: &'a [EvidenceChunk],
    pub question: Option<&'a str>,
}

impl GenerationInput<'_> {
    /// The question, if present and not blank.
    pub fn question(&self) -> Option<&str> {
        self.question.map(str::trim).filter(|q| !q.is_empty())
    }

    /// A question with neither a transaction nor findings.
    pub fn is_ask(&self) -> bool {
        self.request.is_none() && self.outcome.is_none() && self.question().is_some()
    }
}

#[derive(Debug, Error)]
pub enum GenerationError {
    #[error("no evidence was retrieved, so the LLM was not asked (it could cite nothing)")]
    NoEvidence,
    #[error("timeout: the LLM did not answer within {secs} s")]
    Timeout { secs: u64 },
    #[error("timeout: all {slots} LLM slots stayed busy for {secs} s")]
    Busy { slots: usize, secs: u64 },
    #[error("LLM endpoint unreachable: {0}")]
    Transport(String),
    #[error("LLM endpoint answered HTTP {status}: {message}")]
    Http { status: u16, message: String },
    #[error("LLM response larger than {limit} bytes was refused")]
    TooLarge { limit: usize },
    #[error("LLM output malformed after {attempts} attempt(s): {reason}")]
    Malformed { attempts: u32, reason: String },
    #[error("LLM refused to answer: {0}")]
    Refused(String),
    #[error("LLM settings: {0}")]
    Settings(#[from] LlmSettingsError),
    #[error("prompt templates: {0}")]
    Prompt(String),
}

/// Anything that writes guidance.
#[async_trait]
pub trait Generator: Send + Sync {
    async fn generate(&self, input: &GenerationInput<'_>) -> Result<Guidance, GenerationError>;
}

/// The LLM's guidance when one is configured and answers usefully, otherwise the rules
/// generator's. With no LLM configured the rules answer with `degraded_reason: None`;
/// when the LLM fails (timeout, HTTP error, malformed output twice, no evidence …) the
/// rules answer with `generator.kind = rules` and the reason in `degraded_reason`.
pub async fn generate_guidance(
    llm: Option<&LlmGenerator>,
    input: &GenerationInput<'_>,
) -> Guidance {
    let Some(llm) = llm else {
        return RulesGenerator::new().build(input);
    };
    match llm.generate(input).await {
        Ok(guidance) => guidance,
        Err(e) => {
            tracing::warn!(error = %e, "LLM generation failed; answering with the rules generator");
            let mut guidance = RulesGenerator::new().build(input);
            guidance.generator.degraded_reason = Some(e.to_string());
            guidance
        }
    }
}

/// What the LLM said, validated: citations already resolved to retrieved chunks, items
/// without a valid citation already removed. Input of [`merge`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LlmDraft {
    pub required_actions: Vec<RequiredAction>,
    pub compliance_issues: Vec<crate::guidance::ComplianceIssue>,
    pub recommendations: Vec<Recommendation>,
    pub answer: Option<String>,
    pub answer_citations: Vec<Citation>,
    pub model: Option<String>,
    /// Citation ids the model gave that were not retrieved chunks.
    pub dropped_citations: usize,
}

/// Label in front of model-written text appended to a rule's description.
pub const LLM_EXPLANATION_LABEL: &str = "Explanation (LLM):";
/// Prefix of a recommendation made from an action the rules did not find.
pub const LLM_SUGGESTION_PREFIX: &str = "LLM suggests considering";

/// Lays the LLM's draft over the rules generator's guidance. Pure.
///
/// - Every rules action stays, in the rules' order, with its code, title, deadline and
///   citations; the LLM's description for the same code is appended as an explanation
///   and its citations are added after the rules' ones.
/// - An LLM action whose code the rules did not find is not an obligation: it becomes a
///   recommendation ("LLM suggests considering …") with its citations.
/// - The LLM's issues and recommendations are added after the rules' ones.
/// - The LLM's answer replaces the rules' extractive answer when it has citations.
pub fn merge(rules: &Guidance, draft: LlmDraft) -> Guidance {
    let mut by_code: HashMap<ActionCode, Vec<RequiredAction>> = HashMap::new();
    let mut order = Vec::new();
    for action in draft.required_actions {
        if !by_code.contains_key(&action.code) {
            order.push(action.code);
        }
        by_code.entry(action.code).or_default().push(action);
    }

    let mut required_actions = Vec::with_capacity(rules.required_actions.len());
    for rule in &rules.required_actions {
        let mut action = rule.clone();
        for extra in by_code.remove(&rule.code).unwrap_or_default() {
            let text = extra.description.trim();
            if !text.is_empty() && !action.description.contains(text) {
                action.description =
                    format!("{}\n\n{LLM_EXPLANATION_LABEL} {text}", action.description);
            }
            extend_unique(&mut action.citations, extra.citations);
        }
        required_actions.push(action);
    }

    let mut compliance_issues = rules.compliance_issues.clone();
    compliance_issues.extend(draft.compliance_issues);

    let mut recommendations = rules.recommendations.clone();
    for code in order {
        for extra in by_code.remove(&code).unwrap_or_default() {
            if extra.citations.is_empty() {
                continue;
            }
            let title = extra.title.trim();
            let description = extra.description.trim();
            let mut text = format!("{LLM_SUGGESTION_PREFIX} {code}");
            if !title.is_empty() {
                text.push_str(&format!(" ({title})"));
            }
            if !description.is_empty() {
                text.push_str(&format!(": {description}"));
            }
            text.push_str(
                ". The rules engine did not find this obligation; it is not a required action.",
            );
            recommendations.push(Recommendation {
                text,
                citations: extra.citations,
            });
        }
    }
    recommendations.extend(draft.recommendations);

    let (answer, answer_citations) = match draft.answer.filter(|a| !a.trim().is_empty()) {
        Some(a) if !draft.answer_citations.is_empty() => (Some(a), draft.answer_citations),
        _ => (rules.answer.clone(), rules.answer_citations.clone()),
    };

    Guidance {
        required_actions,
        compliance_issues,
        recommendations,
        answer,
        answer_citations,
        generator: GeneratorInfo {
            kind: GeneratorKind::Llm,
            model: draft.model,
            degraded_reason: None,
            dropped_citations: draft.dropped_citations,
        },
    }
}

fn extend_unique(into: &mut Vec<Citation>, more: Vec<Citation>) {
    for c in more {
        if !into.iter().any(|x| x.chunk_id == c.chunk_id) {
            into.push(c);
        }
    }
}

/// Evidence deduplicated by chunk id (the `for_actions` of duplicates merged, the best
/// score kept), best score first; ties keep the input order. Both generators see the
/// evidence in this order, and the LLM's short ids `C1`, `C2`, … follow it.
#[derive(Debug, Clone)]
pub(crate) struct Ranked<'a> {
    pub hit: &'a ScoredChunk,
    pub score: f32,
    pub for_actions: Vec<ActionCode>,
}

impl Ranked<'_> {
    pub fn chunk_id(&self) -> Uuid {
        self.hit.record.chunk_id
    }

    pub fn citation(&self) -> Citation {
        Citation::from_chunk(self.hit)
    }

    pub fn retrieved_for(&self, code: ActionCode) -> bool {
        self.for_actions.contains(&code)
    }
}

pub(crate) fn rank_evidence(evidence: &[EvidenceChunk]) -> Vec<Ranked<'_>> {
    let mut out: Vec<Ranked<'_>> = Vec::with_capacity(evidence.len());
    let mut index: HashMap<Uuid, usize> = HashMap::new();
    for e in evidence {
        let score = if e.hit.score.is_nan() {
            f32::NEG_INFINITY
        } else {
            e.hit.score
        };
        match index.get(&e.hit.record.chunk_id) {
            Some(&i) => {
                let r = &mut out[i];
                if score > r.score {
                    r.score = score;
                    r.hit = &e.hit;
                }
                for a in &e.for_actions {
                    if !r.for_actions.contains(a) {
                        r.for_actions.push(*a);
                    }
                }
            }
            None => {
                index.insert(e.hit.record.chunk_id, out.len());
                out.push(Ranked {
                    hit: &e.hit,
                    score,
                    for_actions: e.for_actions.clone(),
                });
            }
        }
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out
}

/// The best-scored chunk retrieved for `code`, if any.
pub(crate) fn best_for_action<'a>(
    ranked: &'a [Ranked<'a>],
    code: ActionCode,
) -> Option<&'a Ranked<'a>> {
    ranked.iter().find(|r| r.retrieved_for(code))
}

#[cfg(test)]
pub(crate) mod test_support {
    use chrono::NaiveDate;
    use reagent_ingest::store::{ChunkRecord, ScoredChunk};
    use reagent_ingest::{Chunk, DocumentMeta, DocumentType};
    use uuid::Uuid;

    use super::EvidenceChunk;
    use crate::rules::ActionCode;

    pub fn chunk(
        n: u128,
        doc_type: DocumentType,
        citation: Option<&str>,
        text: &str,
        score: f32,
        for_actions: &[ActionCode],
    ) -> EvidenceChunk {
        let meta = DocumentMeta {
            document_id: format!("doc-{n}"),
            title: format!("Document {n}"),
            version: "2025-01-01".into(),
            document_type: doc_type,
            jurisdiction: "US".into(),
            issuer: "test".into(),
            citation: citation.map(str::to_string),
            effective_from: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap_or_default(),
            effective_to: None,
            source_path: format!("doc-{n}.md"),
            content_hash: "0".repeat(64),
        };
        let chunk = Chunk {
            index: 0,
            text: text.to_string(),
            section_path: vec![format!("Section {n}")],
            citation: citation.map(str::to_string),
            pages: None,
            char_start: 0,
            char_end: text.len(),
            passage_id: None,
            token_count: text.split_whitespace().count(),
        };
        EvidenceChunk {
            hit: ScoredChunk {
                record: ChunkRecord {
                    chunk_id: Uuid::from_u128(n),
                    meta,
                    chunk,
                },
                score,
            },
            for_actions: for_actions.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use reagent_ingest::DocumentType;

    use super::test_support::chunk;
    use super::*;
    use crate::guidance::ComplianceIssue;
    use crate::rules::Severity;
    use chrono::NaiveDate;

    fn cite(n: u128) -> Citation {
        Citation::from_chunk(&chunk(n, DocumentType::Regulation, None, "t", 1.0, &[]).hit)
    }

    fn rules_guidance() -> Guidance {
        Guidance {
            required_actions: vec![
                RequiredAction {
                    code: ActionCode::CtrFiling,
                    title: "File a CTR".into(),
                    description: "Cash of $15,000.".into(),
                    deadline: Some("by 2026-03-25".into()),
                    due_on: NaiveDate::from_ymd_opt(2026, 3, 25),
                    citations: vec![cite(1)],
                },
                RequiredAction {
                    code: ActionCode::SarReview,
                    title: "Review for a SAR".into(),
                    description: "Structuring pattern.".into(),
                    deadline: Some("by 2026-04-09".into()),
                    due_on: NaiveDate::from_ymd_opt(2026, 4, 9),
                    citations: vec![cite(2)],
                },
            ],
            compliance_issues: vec![],
            recommendations: vec![],
            answer: Some("The retrieved sources say: x".into()),
            answer_citations: vec![cite(1)],
            generator: GeneratorInfo {
                kind: GeneratorKind::Rules,
                model: None,
                degraded_reason: None,
                dropped_citations: 0,
            },
        }
    }

    fn llm_action(code: ActionCode, desc: &str, cites: &[u128]) -> RequiredAction {
        RequiredAction {
            code,
            title: format!("LLM {code}"),
            description: desc.into(),
            deadline: Some("never".into()),
            due_on: NaiveDate::from_ymd_opt(2099, 1, 1),
            citations: cites.iter().map(|n| cite(*n)).collect(),
        }
    }

    #[test]
    fn merge_keeps_every_rule_action_when_the_llm_omits_them() {
        let rules = rules_guidance();
        let draft = LlmDraft {
            model: Some("m".into()),
            ..LlmDraft::default()
        };
        let g = merge(&rules, draft);
        assert_eq!(g.required_actions, rules.required_actions);
        assert_eq!(g.generator.kind, GeneratorKind::Llm);
        assert_eq!(
            g.answer, rules.answer,
            "no LLM answer: the extractive one stays"
        );
    }

    #[test]
    fn merge_appends_llm_explanation_but_keeps_rule_code_deadline_and_citations() {
        let rules = rules_guidance();
        let draft = LlmDraft {
            required_actions: vec![llm_action(
                ActionCode::CtrFiling,
                "Because cash exceeded $10,000.",
                &[3, 1],
            )],
            ..LlmDraft::default()
        };
        let g = merge(&rules, draft);
        let ctr = &g.required_actions[0];
        assert_eq!(ctr.code, ActionCode::CtrFiling);
        assert_eq!(ctr.title, "File a CTR");
        assert_eq!(ctr.deadline.as_deref(), Some("by 2026-03-25"));
        assert_eq!(ctr.due_on, NaiveDate::from_ymd_opt(2026, 3, 25), "the rules' due date, not the LLM's");
        assert!(ctr.description.starts_with("Cash of $15,000."));
        assert!(
            ctr.description
                .contains("Explanation (LLM): Because cash exceeded $10,000.")
        );
        let ids: Vec<_> = ctr.citations.iter().map(|c| c.chunk_id).collect();
        assert_eq!(
            ids,
            vec![Uuid::from_u128(1), Uuid::from_u128(3)],
            "rules' citations first, no duplicates"
        );
        assert_eq!(g.required_actions[1], rules.required_actions[1]);
    }

    #[test]
    fn merge_turns_an_llm_only_action_into_a_recommendation() {
        let rules = rules_guidance();
        let draft = LlmDraft {
            required_actions: vec![
                llm_action(ActionCode::OfacBlockOrReject, "Block the funds.", &[4]),
                llm_action(ActionCode::KycRemediation, "Uncited.", &[]),
            ],
            ..LlmDraft::default()
        };
        let g = merge(&rules, draft);
        let codes: Vec<_> = g.required_actions.iter().map(|a| a.code).collect();
        assert_eq!(codes, vec![ActionCode::CtrFiling, ActionCode::SarReview]);
        assert_eq!(g.recommendations.len(), 1, "{:?}", g.recommendations);
        let rec = &g.recommendations[0];
        assert!(
            rec.text
                .starts_with("LLM suggests considering OFAC_BLOCK_OR_REJECT"),
            "{}",
            rec.text
        );
        assert!(rec.text.contains("not a required action"));
        assert_eq!(rec.citations[0].chunk_id, Uuid::from_u128(4));
    }

    #[test]
    fn merge_adds_llm_issues_recommendations_and_a_cited_answer() {
        let rules = rules_guidance();
        let draft = LlmDraft {
            compliance_issues: vec![ComplianceIssue {
                title: "Possible structuring".into(),
                severity: Severity::High,
                explanation: "Several deposits just under the threshold.".into(),
                citations: vec![cite(2)],
            }],
            recommendations: vec![Recommendation {
                text: "Interview the teller.".into(),
                citations: vec![cite(1)],
            }],
            answer: Some("Yes, file within 15 days.".into()),
            answer_citations: vec![cite(1)],
            dropped_citations: 2,
            ..LlmDraft::default()
        };
        let g = merge(&rules, draft);
        assert_eq!(g.compliance_issues.len(), 1);
        assert_eq!(g.recommendations.len(), 1);
        assert_eq!(g.answer.as_deref(), Some("Yes, file within 15 days."));
        assert_eq!(g.generator.dropped_citations, 2);
    }

    #[test]
    fn merge_ignores_an_uncited_answer() {
        let rules = rules_guidance();
        let draft = LlmDraft {
            answer: Some("Trust me.".into()),
            ..LlmDraft::default()
        };
        let g = merge(&rules, draft);
        assert_eq!(g.answer, rules.answer);
        assert_eq!(g.answer_citations, rules.answer_citations);
    }

    #[test]
    fn evidence_is_deduplicated_and_ranked() {
        let ev = vec![
            chunk(
                1,
                DocumentType::Regulation,
                None,
                "a",
                0.2,
                &[ActionCode::CtrFiling],
            ),
            chunk(
                2,
                DocumentType::Regulation,
                None,
                "b",
                0.9,
                &[ActionCode::SarReview],
            ),
            chunk(
                1,
                DocumentType::Regulation,
                None,
                "a",
                0.5,
                &[ActionCode::SarReview],
            ),
            chunk(3, DocumentType::Regulation, None, "c", f32::NAN, &[]),
        ];
        let r = rank_evidence(&ev);
        let ids: Vec<_> = r.iter().map(|x| x.chunk_id()).collect();
        assert_eq!(
            ids,
            vec![Uuid::from_u128(2), Uuid::from_u128(1), Uuid::from_u128(3)]
        );
        assert_eq!(r[1].score, 0.5);
        assert_eq!(
            r[1].for_actions,
            vec![ActionCode::CtrFiling, ActionCode::SarReview]
        );
        assert_eq!(
            best_for_action(&r, ActionCode::SarReview).map(|x| x.chunk_id()),
            Some(Uuid::from_u128(2))
        );
    }

    #[test]
    fn prompt_version_follows_the_input() {
        let ask = GenerationInput {
            request: None,
            outcome: None,
            evidence: &[],
            question: Some("What is a CTR?"),
        };
        assert_eq!(prompt_version(&ask), "ask.v1");
        let blank = GenerationInput {
            question: Some("  "),
            ..ask
        };
        assert_eq!(prompt_version(&blank), "analysis.v1");
    }
}
