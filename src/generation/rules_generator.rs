//! The deterministic generator: guidance built from the rule findings and quoted
//! evidence only. It writes no claim of its own beyond the findings (which come from the
//! rules engine) and fixed procedural recommendations, and it never fails. It chooses
//! each finding's citations from the evidence; the [`GuidanceBuilder`] assembles them,
//! and records that the guidance was made without an LLM.

use async_trait::async_trait;
use reagent_ingest::DocumentType;

use super::builder::GuidanceBuilder;
use super::cfr::CfrRef;
use super::{GenerationError, GenerationInput, Generator, Ranked, best_for_action, rank_evidence};
use crate::guidance::{Citation, ComplianceIssue, Guidance, Recommendation};
use crate::rules::{ActionCode, Finding, Severity};

/// Most citations attached to one action.
pub const MAX_ACTION_CITATIONS: usize = 3;
/// Passages quoted in an extractive answer.
pub const ANSWER_PASSAGES: usize = 3;

#[derive(Debug, Clone, Copy, Default)]
pub struct RulesGenerator;

#[async_trait]
impl Generator for RulesGenerator {
    async fn generate(&self, input: &GenerationInput<'_>) -> Result<Guidance, GenerationError> {
        Ok(self.build(input))
    }
}

impl RulesGenerator {
    pub fn new() -> Self {
        Self
    }

    /// The guidance for `input` (synchronous; the [`Generator`] impl wraps this).
    pub fn build(&self, input: &GenerationInput<'_>) -> Guidance {
        let ranked = rank_evidence(input.evidence);
        let findings: &[Finding] = input.outcome.map_or(&[], |o| o.findings.as_slice());

        let mut guidance = GuidanceBuilder::new();
        for finding in findings {
            let citations = citations_for_finding(finding, &ranked);
            guidance.issue(ComplianceIssue {
                title: finding.title.clone(),
                severity: finding.severity,
                explanation: issue_explanation(finding),
                citations: citations.clone(),
            });
            guidance.recommend(Recommendation {
                text: recommendation_for(finding.code).into(),
                citations: citations.clone(),
            });
            guidance.require(finding, citations);
        }

        // Issues the rules raised that are not actions (no conversion rate,
        // a CTR suppressed for an exempt person, a licence to confirm).
        for issue in input.outcome.map_or(&[][..], |o| o.issues.as_slice()) {
            let mut explanation = issue.explanation.clone();
            if !issue.policies.is_empty() {
                explanation.push_str(&format!(" Bank procedures: {}.", issue.policies.join(", ")));
            }
            guidance.issue(ComplianceIssue {
                title: issue.title.clone(),
                severity: issue.severity,
                explanation,
                citations: citations_for_regulations(&issue.regulations, &ranked),
            });
        }

        if let Some(outcome) = input.outcome
            && outcome.requires_review
            && !outcome.review_reasons.is_empty()
        {
            let severity = findings
                .iter()
                .map(|f| f.severity)
                .max()
                .unwrap_or(Severity::Medium)
                .max(Severity::Medium);
            let mut citations: Vec<Citation> = Vec::new();
            for a in guidance.actions() {
                if let Some(c) = a.citations.first()
                    && !citations.iter().any(|x| x.chunk_id == c.chunk_id)
                    && citations.len() < MAX_ACTION_CITATIONS
                {
                    citations.push(c.clone());
                }
            }
            guidance.issue(ComplianceIssue {
                title: "Transaction requires compliance review".into(),
                severity,
                explanation: format!(
                    "The rules engine flagged this transaction for review: {}.",
                    outcome.review_reasons.join("; ")
                ),
                citations,
            });
        }

        if !findings.is_empty() {
            let best = ranked
                .iter()
                .find(|r| !r.for_actions.is_empty())
                .or(ranked.first());
            guidance.recommend(Recommendation {
                text: "Document the review of this transaction in the case file: the facts considered, the sources \
                       consulted, each decision taken and who approved it."
                    .into(),
                citations: best.map(Ranked::citation).into_iter().collect(),
            });
        } else if input.question().is_none() {
            guidance.recommend(Recommendation {
                text: "No obligations triggered: the rules engine found no required action for this transaction. \
                       Document the review and continue routine monitoring."
                    .into(),
                citations: Vec::new(),
            });
        }

        if input.question().is_some() {
            let (answer, citations) = extractive_answer(&ranked);
            guidance.answer(answer, citations);
        }
        guidance.finish_rules()
    }
}

fn issue_explanation(finding: &Finding) -> String {
    let mut s = finding.description.trim().to_string();
    if !finding.regulations.is_empty() {
        if !s.is_empty() && !s.ends_with('.') {
            s.push('.');
        }
        s.push_str(&format!(
            " Applicable rules: {}.",
            finding.regulations.join(", ")
        ));
    }
    if !finding.policies.is_empty() {
        s.push_str(&format!(
            " Bank procedures: {}.",
            finding.policies.join(", ")
        ));
    }
    s.trim().to_string()
}

/// Fixed procedural advice per action; it states no rule of its own.
fn recommendation_for(code: ActionCode) -> &'static str {
    match code {
        ActionCode::CtrFiling => {
            "Verify and record the identity of each person who conducted the cash transactions, then file the CTR \
             by the deadline and keep the filing with the transaction record."
        }
        ActionCode::SarReview => {
            "Complete the SAR review and document the decision to file or not to file with its reasons; do not tell \
             the customer or any party to the transaction that a SAR is being considered."
        }
        ActionCode::TravelRuleRecords => {
            "Check that the transfer order carries the originator and beneficiary information the cited rules \
             require, and retain the transfer records as they require."
        }
        ActionCode::OfacBlockOrReject => {
            "Hold the transaction and escalate the potential sanctions match to the OFAC officer; do not release \
             funds until the match is resolved and the resolution is documented."
        }
        ActionCode::EnhancedDueDiligence => {
            "Complete and document enhanced due diligence (purpose of the transaction, source of funds, approvals \
             the cited procedure requires) before proceeding."
        }
        ActionCode::KycRemediation => {
            "Verify the customer's identity and bring the KYC record up to date before processing further \
             transactions."
        }
        ActionCode::MonetaryInstrumentRecord => {
            "Verify the purchaser's identity and complete the monetary instrument record before the instruments \
             are issued, and keep it with the transaction record."
        }
    }
}

/// Quotes the best passages; interprets nothing.
fn extractive_answer(ranked: &[Ranked<'_>]) -> (Option<String>, Vec<Citation>) {
    let top: Vec<Citation> = ranked
        .iter()
        .take(ANSWER_PASSAGES)
        .map(Ranked::citation)
        .collect();
    if top.is_empty() {
        return (
            Some("No retrieved source addresses this question, so no answer can be given from the corpus.".into()),
            Vec::new(),
        );
    }
    let mut answer = String::from("The retrieved sources say:");
    for c in &top {
        let source = match &c.citation {
            Some(cit) => format!("{cit} ({})", c.document_title),
            None => c.document_title.clone(),
        };
        answer.push_str(&format!("\n- {source}: \"{}\"", c.excerpt));
    }
    answer.push_str("\n(Quoted from the best-matching retrieved passages without interpretation.)");
    (Some(answer), top)
}

/// True when the chunk's own citation falls under one of `regs`.
fn cites_one_of(r: &Ranked<'_>, regs: &[CfrRef]) -> bool {
    r.hit
        .record
        .chunk
        .citation
        .as_deref()
        .and_then(CfrRef::parse)
        .is_some_and(|c| regs.iter().any(|f| f.covers(&c)))
}

/// Citations for a rule issue: retrieved chunks whose own citation is one of
/// `regulations` (best score first, at most [`MAX_ACTION_CITATIONS`]).
fn citations_for_regulations(regulations: &[String], ranked: &[Ranked<'_>]) -> Vec<Citation> {
    let regs: Vec<CfrRef> = regulations
        .iter()
        .filter_map(|r| CfrRef::parse(r))
        .collect();
    ranked
        .iter()
        .filter(|r| cites_one_of(r, &regs))
        .take(MAX_ACTION_CITATIONS)
        .map(Ranked::citation)
        .collect()
}

/// Citations for one finding, from the evidence only (at most [`MAX_ACTION_CITATIONS`]):
/// 1. chunks retrieved for the finding's action whose own citation is one of the
///    finding's regulations (same section, or same part for `31 CFR Part N`);
/// 2. institution policy/procedure chunks retrieved for the action that cite one of those
///    regulations in their text;
/// 3. if neither found anything: the best-scored chunk retrieved for the action, else a
///    chunk retrieved for another query whose citation is one of the regulations.
pub(crate) fn citations_for_finding(finding: &Finding, ranked: &[Ranked<'_>]) -> Vec<Citation> {
    let regs: Vec<CfrRef> = finding
        .regulations
        .iter()
        .filter_map(|r| CfrRef::parse(r))
        .collect();
    let cites_reg = |r: &Ranked<'_>| cites_one_of(r, &regs);
    let is_policy = |r: &Ranked<'_>| {
        matches!(
            r.hit.record.meta.document_type,
            DocumentType::Policy | DocumentType::Procedure
        )
    };
    let mentions_reg = |r: &Ranked<'_>| {
        regs.iter()
            .any(|f| f.mentioned_in(&r.hit.record.chunk.text))
    };

    let for_action: Vec<&Ranked<'_>> = ranked
        .iter()
        .filter(|r| r.retrieved_for(finding.code))
        .collect();
    // The bank procedure sections the finding rests on (`EDD 5.1` covers
    // `EDD 5.1` and `EDD 5.1.2`).
    let cites_policy = |r: &Ranked<'_>| {
        r.hit.record.chunk.citation.as_deref().is_some_and(|c| {
            finding.policies.iter().any(|p| {
                c == p
                    || c.strip_prefix(p.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
            })
        })
    };
    let mut tier1 = for_action.iter().copied().filter(|r| cites_reg(r));
    let policy = for_action
        .iter()
        .copied()
        .filter(|r| is_policy(r) && cites_policy(r));
    let tier2 = for_action
        .iter()
        .copied()
        .filter(|r| is_policy(r) && !cites_reg(r) && mentions_reg(r));
    let mut chosen: Vec<&Ranked<'_>> = Vec::new();
    // The best regulation chunk, then the cited procedure, then the rest.
    let first = tier1.next();
    for r in first.into_iter().chain(policy).chain(tier1).chain(tier2) {
        add(&mut chosen, r);
    }
    if chosen.is_empty() {
        match best_for_action(ranked, finding.code) {
            Some(best) => add(&mut chosen, best),
            None => {
                for r in ranked.iter().filter(|r| cites_reg(r)) {
                    add(&mut chosen, r);
                }
            }
        }
    }
    chosen.into_iter().map(Ranked::citation).collect()
}

fn add<'r, 'a>(chosen: &mut Vec<&'r Ranked<'a>>, r: &'r Ranked<'a>) {
    if chosen.len() < MAX_ACTION_CITATIONS && !chosen.iter().any(|c| c.chunk_id() == r.chunk_id()) {
        chosen.push(r);
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use reagent_ingest::DocumentType::{Guidance as Gd, Policy, Procedure, Regulation};
    use uuid::Uuid;

    use super::*;
    use crate::generation::evidence::test_support::chunk;
    use crate::generation::{EvidenceChunk, rank_evidence};
    use crate::guidance::GeneratorKind;
    use crate::rules::{RiskLevel, RuleOutcome};

    fn finding(code: ActionCode, regs: &[&str]) -> Finding {
        Finding {
            code,
            title: format!("title {code}"),
            description: format!("desc {code}"),
            deadline: Some("within 15 days".into()),
            due_on: None,
            regulations: regs.iter().map(|s| s.to_string()).collect(),
            policies: vec![],
            retrieval_query: "q".into(),
            severity: Severity::High,
        }
    }

    fn outcome(findings: Vec<Finding>) -> RuleOutcome {
        RuleOutcome {
            findings,
            risk_score: 0.5,
            risk_level: RiskLevel::Medium,
            requires_review: false,
            review_reasons: vec![],
            risk_factors: vec![],
            issues: vec![],
            as_of: NaiveDate::from_ymd_opt(2026, 3, 10).unwrap_or_default(),
            business_day: NaiveDate::from_ymd_opt(2026, 3, 10).unwrap_or_default(),
            sanctions_screening: Default::default(),
        }
    }

    fn ids(cs: &[Citation]) -> Vec<u128> {
        cs.iter().map(|c| c.chunk_id.as_u128()).collect()
    }

    #[test]
    fn prefers_matching_regulation_then_policy_citing_it_then_best_chunk() {
        let ctr = ActionCode::CtrFiling;
        let f = finding(ctr, &["31 CFR 1010.311", "31 CFR 1010.313"]);
        let ev = vec![
            // Best score, retrieved for the action, but another regulation.
            chunk(
                1,
                Regulation,
                Some("31 CFR 1010.100(m)"),
                "definitions",
                0.95,
                &[ctr],
            ),
            // Policy that cites the regulation in its text.
            chunk(
                2,
                Policy,
                Some("AML 4.1"),
                "File a CTR for cash over $10,000 (31 CFR 1010.311).",
                0.9,
                &[ctr],
            ),
            // The regulation itself, paragraph-level citation.
            chunk(
                3,
                Regulation,
                Some("31 CFR 1010.311(a)"),
                "Each financial institution shall file",
                0.5,
                &[ctr],
            ),
            // Matching regulation, but not retrieved for this action.
            chunk(
                4,
                Regulation,
                Some("31 CFR 1010.313"),
                "aggregation",
                0.99,
                &[ActionCode::SarReview],
            ),
            // Aggregation rule, retrieved for the action.
            chunk(
                5,
                Regulation,
                Some("31 CFR 1010.313(b)"),
                "multiple transactions",
                0.4,
                &[ctr],
            ),
            // Procedure citing it in text, but a fourth choice: capped out.
            chunk(
                6,
                Procedure,
                Some("CASH 2"),
                "per 31 CFR 1010.313",
                0.3,
                &[ctr],
            ),
        ];
        let ranked = rank_evidence(&ev);
        let got = citations_for_finding(&f, &ranked);
        assert_eq!(
            ids(&got),
            vec![3, 5, 2],
            "regulation chunks by score, then the policy; at most 3"
        );
    }

    /// Senior management approval for a foreign PEP is bank policy (EDD
    /// 5.1), so the finding cites the procedure section it names even when
    /// three regulation chunks were retrieved.
    #[test]
    fn cites_the_named_bank_procedure_section() {
        let edd = ActionCode::EnhancedDueDiligence;
        let mut f = finding(edd, &["31 CFR 1010.230", "31 CFR 1020.210"]);
        f.policies = vec!["EDD 5.1".into()];
        let ev = vec![
            chunk(
                1,
                Regulation,
                Some("31 CFR 1010.230(a)"),
                "CDD",
                0.9,
                &[edd],
            ),
            chunk(
                2,
                Regulation,
                Some("31 CFR 1020.210"),
                "program",
                0.8,
                &[edd],
            ),
            chunk(
                3,
                Regulation,
                Some("31 CFR 1010.230(b)"),
                "owners",
                0.7,
                &[edd],
            ),
            chunk(4, Procedure, Some("EDD 5.10"), "other table", 0.65, &[edd]),
            chunk(
                5,
                Procedure,
                Some("EDD 5.1"),
                "Approval authority",
                0.6,
                &[edd],
            ),
        ];
        let got = citations_for_finding(&f, &rank_evidence(&ev));
        assert_eq!(ids(&got), vec![1, 5, 2]);
        f.policies.clear();
        assert_eq!(
            ids(&citations_for_finding(&f, &rank_evidence(&ev))),
            vec![1, 2, 3]
        );
    }

    #[test]
    fn part_level_finding_matches_sections_of_the_part() {
        let ofac = ActionCode::OfacBlockOrReject;
        let f = finding(ofac, &["31 CFR Part 501", "31 CFR Part 515"]);
        let ev = vec![
            chunk(1, Regulation, Some("31 CFR 560.201"), "Iran", 0.9, &[ofac]),
            chunk(2, Regulation, Some("31 CFR 515.201"), "Cuba", 0.6, &[ofac]),
            chunk(
                3,
                Regulation,
                Some("31 CFR Part 515"),
                "Cuban Assets Control Regulations",
                0.5,
                &[ofac],
            ),
        ];
        let got = citations_for_finding(&f, &rank_evidence(&ev));
        assert_eq!(ids(&got), vec![2, 3]);
    }

    #[test]
    fn falls_back_to_best_chunk_for_the_action_and_never_cites_unretrieved_chunks() {
        let kyc = ActionCode::KycRemediation;
        let f = finding(kyc, &["31 CFR 1020.220"]);
        let ev = vec![
            chunk(
                1,
                Gd,
                Some("FFIEC CIP"),
                "customer identification",
                0.3,
                &[kyc],
            ),
            chunk(2, Gd, Some("FFIEC CIP 2"), "verification", 0.7, &[kyc]),
            chunk(
                3,
                Regulation,
                Some("31 CFR 1010.311"),
                "ctr",
                0.99,
                &[ActionCode::CtrFiling],
            ),
        ];
        assert_eq!(
            ids(&citations_for_finding(&f, &rank_evidence(&ev))),
            vec![2]
        );

        // Nothing retrieved for the action: a chunk citing the regulation found by another query.
        let ev = vec![
            chunk(
                1,
                Regulation,
                Some("31 CFR 1020.220(a)(2)"),
                "CIP",
                0.2,
                &[ActionCode::EnhancedDueDiligence],
            ),
            chunk(
                2,
                Regulation,
                Some("31 CFR 1010.311"),
                "ctr",
                0.99,
                &[ActionCode::CtrFiling],
            ),
        ];
        assert_eq!(
            ids(&citations_for_finding(&f, &rank_evidence(&ev))),
            vec![1]
        );
        // Nothing at all: no citation rather than an invented one.
        assert!(citations_for_finding(&f, &rank_evidence(&[])).is_empty());
    }

    #[test]
    fn builds_actions_issues_and_recommendations_from_findings() {
        let f1 = finding(ActionCode::CtrFiling, &["31 CFR 1010.311"]);
        let f2 = finding(ActionCode::SarReview, &["31 CFR 1020.320"]);
        let ev = vec![
            chunk(
                1,
                Regulation,
                Some("31 CFR 1010.311"),
                "ctr",
                0.8,
                &[ActionCode::CtrFiling],
            ),
            chunk(
                2,
                Regulation,
                Some("31 CFR 1020.320(a)"),
                "sar",
                0.7,
                &[ActionCode::SarReview],
            ),
        ];
        let mut o = outcome(vec![f1, f2]);
        o.requires_review = true;
        o.review_reasons = vec!["structuring pattern".into()];
        let input = GenerationInput {
            request: None,
            outcome: Some(&o),
            evidence: &ev,
            question: None,
        };
        let g = RulesGenerator::new().build(&input);
        assert_eq!(g.generator.kind, GeneratorKind::Rules);
        assert_eq!(g.generator.degraded_reason, None);
        assert_eq!(g.required_actions.len(), 2);
        assert_eq!(
            g.required_actions[0].deadline.as_deref(),
            Some("within 15 days")
        );
        assert_eq!(ids(&g.required_actions[0].citations), vec![1]);
        assert_eq!(ids(&g.required_actions[1].citations), vec![2]);
        assert_eq!(
            g.compliance_issues.len(),
            3,
            "one per finding plus the review flag"
        );
        assert!(
            g.compliance_issues[2]
                .explanation
                .contains("structuring pattern")
        );
        assert!(
            g.recommendations
                .iter()
                .any(|r| r.text.starts_with("Document the review"))
        );
        assert!(g.recommendations.iter().all(|r| !r.citations.is_empty()));
        assert_eq!(g.answer, None);
        let known: Vec<Uuid> = ev
            .iter()
            .map(|e: &EvidenceChunk| e.hit.record.chunk_id)
            .collect();
        for c in g.required_actions.iter().flat_map(|a| &a.citations) {
            assert!(known.contains(&c.chunk_id));
        }
    }

    #[test]
    fn no_findings_and_no_question_says_no_obligations() {
        let o = outcome(vec![]);
        let input = GenerationInput {
            request: None,
            outcome: Some(&o),
            evidence: &[],
            question: None,
        };
        let g = RulesGenerator::new().build(&input);
        assert!(g.required_actions.is_empty());
        assert_eq!(g.recommendations.len(), 1);
        assert!(
            g.recommendations[0]
                .text
                .starts_with("No obligations triggered")
        );
    }

    #[test]
    fn question_gets_an_extractive_answer() {
        let ev = vec![
            chunk(
                1,
                Regulation,
                Some("31 CFR 1010.311"),
                "Each financial institution shall file a report.",
                0.4,
                &[],
            ),
            chunk(
                2,
                Policy,
                Some("AML 4.4"),
                "File within 15 calendar days.",
                0.9,
                &[],
            ),
        ];
        let input = GenerationInput {
            request: None,
            outcome: None,
            evidence: &ev,
            question: Some("When is a CTR due?"),
        };
        let g = RulesGenerator::new().build(&input);
        let a = g.answer.unwrap_or_default();
        assert!(a.starts_with("The retrieved sources say:"), "{a}");
        assert!(a.contains("\"File within 15 calendar days.\""), "{a}");
        assert_eq!(ids(&g.answer_citations), vec![2, 1]);
        assert!(g.recommendations.is_empty());

        let none = GenerationInput {
            evidence: &[],
            ..input
        };
        let g = RulesGenerator::new().build(&none);
        assert!(
            g.answer
                .unwrap_or_default()
                .starts_with("No retrieved source")
        );
        assert!(g.answer_citations.is_empty());
    }
}
