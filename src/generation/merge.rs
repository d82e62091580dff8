//! Owns the merge: the LLM's verified draft laid over the rules generator's guidance,
//! through the [`GuidanceBuilder`], so every rule action stays whatever the model says.

use super::builder::GuidanceBuilder;
use crate::guidance::{Citation, ComplianceIssue, Guidance, Recommendation};
use crate::rules::ActionCode;

/// What the LLM said, verified ([`super::cite`]): citations already resolved to
/// retrieved chunks, items without a valid citation already removed. Input of [`merge`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LlmDraft {
    pub required_actions: Vec<DraftAction>,
    pub compliance_issues: Vec<ComplianceIssue>,
    pub recommendations: Vec<Recommendation>,
    pub answer: Option<String>,
    pub answer_citations: Vec<Citation>,
    pub model: Option<String>,
    /// Citation ids the model gave that were not retrieved chunks.
    pub dropped_citations: usize,
}

/// An action as the model wrote it. It has no deadline or due date: those are the
/// rules', and only a rule finding makes a required action.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftAction {
    pub code: ActionCode,
    pub title: String,
    pub description: String,
    pub citations: Vec<Citation>,
}

/// Lays the LLM's draft over the rules generator's guidance. Pure.
///
/// - Every rules action stays, in the rules' order, with its code, title, deadline and
///   citations; the LLM's description for the same code is appended as an explanation
///   and its citations are added after the rules' ones.
/// - An LLM action whose code the rules did not find is not an obligation: it becomes a
///   recommendation ("LLM suggests considering …") with its citations, grouped by code
///   in the order the codes first appear.
/// - The LLM's issues and recommendations are added after the rules' ones.
/// - The LLM's answer replaces the rules' extractive answer when it has citations.
pub fn merge(rules: &Guidance, draft: LlmDraft) -> Guidance {
    let mut guidance = GuidanceBuilder::over_rules(rules);
    let mut unmatched = Vec::new();
    for action in draft.required_actions {
        if let Err(action) = guidance.explain(action) {
            unmatched.push(action);
        }
    }
    let mut first_seen: Vec<ActionCode> = Vec::new();
    for action in &unmatched {
        if !first_seen.contains(&action.code) {
            first_seen.push(action.code);
        }
    }
    // Stable: within a code, the model's order.
    unmatched.sort_by_key(|a| first_seen.iter().position(|c| *c == a.code));
    for action in unmatched {
        guidance.suggest(action);
    }
    guidance.extend_issues(draft.compliance_issues);
    guidance.extend_recommendations(draft.recommendations);
    if let Some(answer) = draft.answer.filter(|a| !a.trim().is_empty())
        && !draft.answer_citations.is_empty()
    {
        guidance.answer(Some(answer), draft.answer_citations);
    }
    guidance.finish_llm(draft.model, draft.dropped_citations)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use reagent_ingest::DocumentType;
    use uuid::Uuid;

    use super::*;
    use crate::generation::evidence::test_support::chunk;
    use crate::guidance::{GeneratorInfo, GeneratorKind, RequiredAction};
    use crate::rules::Severity;

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

    fn llm_action(code: ActionCode, desc: &str, cites: &[u128]) -> DraftAction {
        DraftAction {
            code,
            title: format!("LLM {code}"),
            description: desc.into(),
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
        assert_eq!(
            ctr.due_on,
            NaiveDate::from_ymd_opt(2026, 3, 25),
            "the rules' due date, not the LLM's"
        );
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
    fn merge_groups_llm_only_actions_by_code_in_first_seen_order() {
        let rules = rules_guidance();
        let draft = LlmDraft {
            required_actions: vec![
                llm_action(ActionCode::OfacBlockOrReject, "first", &[4]),
                llm_action(ActionCode::KycRemediation, "second", &[5]),
                llm_action(ActionCode::CtrFiling, "explains the CTR", &[6]),
                llm_action(ActionCode::OfacBlockOrReject, "third", &[7]),
            ],
            ..LlmDraft::default()
        };
        let g = merge(&rules, draft);
        let texts: Vec<&str> = g.recommendations.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts.len(), 3, "{texts:?}");
        assert!(texts[0].contains(": first."), "{texts:?}");
        assert!(texts[1].contains(": third."), "{texts:?}");
        assert!(
            texts[2].starts_with("LLM suggests considering KYC_REMEDIATION"),
            "{texts:?}"
        );
        assert!(
            g.required_actions[0]
                .description
                .ends_with("Explanation (LLM): explains the CTR")
        );
        assert_eq!(g.required_actions.len(), rules.required_actions.len());
    }
}
