//! Owns assembling [`Guidance`]: the one place where a required action is made (from a
//! rule finding, with its citations and due date), where the LLM's words are laid onto a
//! rule action, and where the generator is recorded. Both the rules generator and
//! [`super::merge`] build their guidance here.
//!
//! A required action can only come from a rule [`Finding`] ([`GuidanceBuilder::require`])
//! or from the rules' guidance a merge starts from ([`GuidanceBuilder::over_rules`]), and
//! nothing removes one: the LLM can explain an action, never add or drop one.

use super::merge::DraftAction;
use crate::guidance::{
    Citation, ComplianceIssue, GeneratorInfo, GeneratorKind, Guidance, Recommendation,
    RequiredAction,
};
use crate::rules::Finding;

/// Label in front of model-written text appended to a rule's description.
pub const LLM_EXPLANATION_LABEL: &str = "Explanation (LLM):";
/// Prefix of a recommendation made from an action the rules did not find.
pub const LLM_SUGGESTION_PREFIX: &str = "LLM suggests considering";

/// Guidance under construction; lists keep the order items are added in.
#[derive(Debug, Default)]
pub(crate) struct GuidanceBuilder {
    required_actions: Vec<RequiredAction>,
    compliance_issues: Vec<ComplianceIssue>,
    recommendations: Vec<Recommendation>,
    answer: Option<String>,
    answer_citations: Vec<Citation>,
}

impl GuidanceBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts from the rules generator's guidance: every rule action, issue,
    /// recommendation and the extractive answer, in their order.
    pub fn over_rules(rules: &Guidance) -> Self {
        Self {
            required_actions: rules.required_actions.clone(),
            compliance_issues: rules.compliance_issues.clone(),
            recommendations: rules.recommendations.clone(),
            answer: rules.answer.clone(),
            answer_citations: rules.answer_citations.clone(),
        }
    }

    /// The required action of a rule finding: its code, title, description, deadline and
    /// due date are the rule's; `citations` are retrieved chunks.
    pub fn require(&mut self, finding: &Finding, citations: Vec<Citation>) {
        self.required_actions.push(RequiredAction {
            code: finding.code,
            title: finding.title.clone(),
            description: finding.description.clone(),
            deadline: finding.deadline.clone(),
            due_on: finding.due_on,
            citations,
        });
    }

    /// The required actions so far.
    pub fn actions(&self) -> &[RequiredAction] {
        &self.required_actions
    }

    /// Lays the model's `draft` onto the first rule action with its code: its
    /// description is appended as an explanation (unless empty or already there) and its
    /// citations follow the rule's ones; the rule's code, title, deadline and due date
    /// stay. Gives `draft` back when the rules found no action with its code.
    pub fn explain(&mut self, draft: DraftAction) -> Result<(), DraftAction> {
        let Some(action) = self
            .required_actions
            .iter_mut()
            .find(|a| a.code == draft.code)
        else {
            return Err(draft);
        };
        let text = draft.description.trim();
        if !text.is_empty() && !action.description.contains(text) {
            action.description =
                format!("{}\n\n{LLM_EXPLANATION_LABEL} {text}", action.description);
        }
        for c in draft.citations {
            if !action.citations.iter().any(|x| x.chunk_id == c.chunk_id) {
                action.citations.push(c);
            }
        }
        Ok(())
    }

    /// A model action the rules did not find: not an obligation, so a recommendation
    /// ("LLM suggests considering …") with its citations; without citations, nothing.
    pub fn suggest(&mut self, draft: DraftAction) {
        if draft.citations.is_empty() {
            return;
        }
        let title = draft.title.trim();
        let description = draft.description.trim();
        let mut text = format!("{LLM_SUGGESTION_PREFIX} {}", draft.code);
        if !title.is_empty() {
            text.push_str(&format!(" ({title})"));
        }
        if !description.is_empty() {
            text.push_str(&format!(": {description}"));
        }
        text.push_str(
            ". The rules engine did not find this obligation; it is not a required action.",
        );
        self.recommend(Recommendation {
            text,
            citations: draft.citations,
        });
    }

    pub fn issue(&mut self, issue: ComplianceIssue) {
        self.compliance_issues.push(issue);
    }

    pub fn extend_issues(&mut self, issues: impl IntoIterator<Item = ComplianceIssue>) {
        self.compliance_issues.extend(issues);
    }

    pub fn recommend(&mut self, recommendation: Recommendation) {
        self.recommendations.push(recommendation);
    }

    pub fn extend_recommendations(
        &mut self,
        recommendations: impl IntoIterator<Item = Recommendation>,
    ) {
        self.recommendations.extend(recommendations);
    }

    /// Replaces the answer to the question and its citations.
    pub fn answer(&mut self, answer: Option<String>, citations: Vec<Citation>) {
        self.answer = answer;
        self.answer_citations = citations;
    }

    /// The guidance as the rules generator's: made without an LLM.
    pub fn finish_rules(self) -> Guidance {
        self.finish(GeneratorInfo {
            kind: GeneratorKind::Rules,
            model: None,
            degraded_reason: None,
            dropped_citations: 0,
        })
    }

    /// The guidance as the LLM's (merged over the rules'): the model that wrote it and
    /// how many of its citations were dropped as not retrieved.
    pub fn finish_llm(self, model: Option<String>, dropped_citations: usize) -> Guidance {
        self.finish(GeneratorInfo {
            kind: GeneratorKind::Llm,
            model,
            degraded_reason: None,
            dropped_citations,
        })
    }

    fn finish(self, generator: GeneratorInfo) -> Guidance {
        Guidance {
            required_actions: self.required_actions,
            compliance_issues: self.compliance_issues,
            recommendations: self.recommendations,
            answer: self.answer,
            answer_citations: self.answer_citations,
            generator,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use reagent_ingest::DocumentType;

    use super::*;
    use crate::generation::evidence::test_support::chunk;
    use crate::rules::{ActionCode, Severity};

    fn cite(n: u128) -> Citation {
        Citation::from_chunk(&chunk(n, DocumentType::Regulation, None, "t", 1.0, &[]).hit)
    }

    fn finding(code: ActionCode, due: u32) -> Finding {
        Finding {
            code,
            title: format!("title {code}"),
            description: format!("desc {code}"),
            deadline: Some(format!("by 2026-04-{due:02}")),
            due_on: NaiveDate::from_ymd_opt(2026, 4, due),
            regulations: vec!["31 CFR 1010.311".into()],
            policies: vec![],
            retrieval_query: "q".into(),
            severity: Severity::High,
        }
    }

    fn draft(code: ActionCode, description: &str, cites: &[u128]) -> DraftAction {
        DraftAction {
            code,
            title: "model title".into(),
            description: description.into(),
            citations: cites.iter().map(|n| cite(*n)).collect(),
        }
    }

    fn rules() -> Guidance {
        let mut b = GuidanceBuilder::new();
        b.require(&finding(ActionCode::CtrFiling, 1), vec![cite(1)]);
        b.require(&finding(ActionCode::SarReview, 15), vec![cite(2)]);
        b.finish_rules()
    }

    #[test]
    fn a_required_action_is_the_finding_with_its_citations_and_due_date() {
        let f = finding(ActionCode::CtrFiling, 1);
        let mut b = GuidanceBuilder::new();
        b.require(&f, vec![cite(1), cite(3)]);
        let a = &b.actions()[0];
        assert_eq!(
            (a.code, a.title.as_str(), a.description.as_str()),
            (f.code, f.title.as_str(), f.description.as_str())
        );
        assert_eq!(a.deadline, f.deadline);
        assert_eq!(a.due_on, NaiveDate::from_ymd_opt(2026, 4, 1));
        assert_eq!(a.citations, vec![cite(1), cite(3)]);
    }

    #[test]
    fn rules_guidance_says_it_was_made_without_an_llm() {
        let g = rules();
        assert_eq!(g.generator.kind, GeneratorKind::Rules);
        assert_eq!(g.generator.model, None);
        assert_eq!(g.generator.degraded_reason, None);
        assert_eq!(g.generator.dropped_citations, 0);
        let g = GuidanceBuilder::over_rules(&g).finish_llm(Some("m".into()), 2);
        assert_eq!(g.generator.kind, GeneratorKind::Llm);
        assert_eq!(g.generator.model.as_deref(), Some("m"));
        assert_eq!(g.generator.dropped_citations, 2);
    }

    #[test]
    fn the_builder_keeps_every_rule_action_whatever_is_laid_over_it() {
        let rules = rules();
        let mut b = GuidanceBuilder::over_rules(&rules);
        for d in [
            draft(ActionCode::CtrFiling, "", &[]),
            draft(ActionCode::CtrFiling, "why", &[1, 4]),
            draft(ActionCode::CtrFiling, "why", &[4]),
            draft(ActionCode::SarReview, "  ", &[5]),
        ] {
            assert!(b.explain(d).is_ok());
        }
        let back = b.explain(draft(ActionCode::KycRemediation, "new", &[6]));
        assert_eq!(back.map_err(|d| d.code), Err(ActionCode::KycRemediation));
        b.suggest(draft(ActionCode::OfacBlockOrReject, "uncited", &[]));
        let g = b.finish_llm(None, 0);

        assert_eq!(g.required_actions.len(), rules.required_actions.len());
        for (got, rule) in g.required_actions.iter().zip(&rules.required_actions) {
            assert_eq!(
                (got.code, &got.title, &got.deadline, got.due_on),
                (rule.code, &rule.title, &rule.deadline, rule.due_on)
            );
            assert!(got.citations.starts_with(&rule.citations));
        }
        let ctr = &g.required_actions[0];
        assert_eq!(
            ctr.description, "desc CTR_FILING\n\nExplanation (LLM): why",
            "once"
        );
        assert_eq!(ctr.citations, vec![cite(1), cite(4)], "no duplicates");
        assert_eq!(g.required_actions[1].description, "desc SAR_REVIEW");
        assert_eq!(g.required_actions[1].citations, vec![cite(2), cite(5)]);
        assert!(
            g.recommendations.is_empty(),
            "an uncited suggestion is not kept"
        );
    }

    #[test]
    fn a_suggestion_names_the_code_and_says_it_is_not_required() {
        let mut b = GuidanceBuilder::new();
        b.suggest(draft(ActionCode::OfacBlockOrReject, " Block it. ", &[4]));
        let g = b.finish_llm(None, 0);
        assert!(g.required_actions.is_empty());
        assert_eq!(
            g.recommendations[0].text,
            "LLM suggests considering OFAC_BLOCK_OR_REJECT (model title): Block it.. \
             The rules engine did not find this obligation; it is not a required action."
        );
        assert_eq!(g.recommendations[0].citations, vec![cite(4)]);
    }
}
