//! Owns how the Analysis page shows findings once: each required action with
//! its deadline, days left, evidence and the issue and recommendation that
//! merely restate it folded in; issues and recommendations that add something
//! of their own are kept apart, once each. Pure: the page passes the analysis
//! and today's date.

use chrono::NaiveDate;
use uuid::Uuid;

use super::view::{CitationView, severity};
use crate::guidance::{Analysis, Citation, ComplianceIssue, Recommendation, RequiredAction};

pub struct FindingView {
    pub code: String,
    pub title: String,
    pub description: String,
    pub deadline: Option<String>,
    pub due_on: Option<String>,
    /// "3 days left", "due today", "overdue by 2 days".
    pub days_left: Option<String>,
    pub overdue: bool,
    /// What a folded issue added beyond the description (e.g. the applicable rules).
    pub notes: Vec<String>,
    /// The recommendation folded into this finding.
    pub recommendation: Option<String>,
    pub citations: Vec<CitationView>,
}

pub struct IssueView {
    pub title: String,
    pub severity: (&'static str, &'static str),
    pub explanation: String,
    pub citations: Vec<CitationView>,
}

pub struct RecommendationView {
    pub text: String,
    pub citations: Vec<CitationView>,
}

/// The page's three lists: findings, other issues, other recommendations.
pub struct Folded {
    pub findings: Vec<FindingView>,
    pub issues: Vec<IssueView>,
    pub recommendations: Vec<RecommendationView>,
}

/// Days-left wording for a due date as of `today`.
pub fn days_left_label(due: NaiveDate, today: NaiveDate) -> (String, bool) {
    let days = crate::app::days_left(due, today);
    let label = match days {
        0 => "due today".to_owned(),
        1 => "1 day left".to_owned(),
        d if d > 1 => format!("{d} days left"),
        -1 => "overdue by 1 day".to_owned(),
        d => format!("overdue by {} days", -d),
    };
    (label, days < 0)
}

fn chunk_set(cs: &[Citation]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = cs.iter().map(|c| c.chunk_id).collect();
    ids.sort();
    ids.dedup();
    ids
}

/// The issue restates `action` (the rules generator writes one issue per
/// finding: its title, and its description plus the rules it cites).
fn restates(issue: &ComplianceIssue, action: &RequiredAction) -> bool {
    issue.title.trim() == action.title.trim()
}

/// The recommendation belongs to `action`: the same evidence (the rules
/// generator writes one per finding with the finding's citations), and not a
/// suggestion of an action the rules did not find.
fn belongs(rec: &Recommendation, action: &RequiredAction) -> bool {
    !rec.text.starts_with(crate::app::LLM_SUGGESTION_PREFIX) && chunk_set(&rec.citations) == chunk_set(&action.citations)
}

/// Folds the analysis's issues and recommendations into its actions (see the
/// module doc).
pub fn fold(a: &Analysis, today: NaiveDate) -> Folded {
    let mut findings: Vec<FindingView> = a
        .required_actions
        .iter()
        .map(|r| {
            let days = r.due_on.map(|d| days_left_label(d, today));
            FindingView {
                code: r.code.as_str().to_owned(),
                title: r.title.clone(),
                description: r.description.clone(),
                deadline: r.deadline.clone(),
                due_on: r.due_on.map(|d| d.to_string()),
                overdue: days.as_ref().is_some_and(|d| d.1),
                days_left: days.map(|d| d.0),
                notes: Vec::new(),
                recommendation: None,
                citations: CitationView::list(&r.citations),
            }
        })
        .collect();

    let mut issues = Vec::new();
    for issue in &a.compliance_issues {
        match a.required_actions.iter().position(|r| restates(issue, r)) {
            Some(idx) => {
                let action = &a.required_actions[idx];
                let extra = issue
                    .explanation
                    .strip_prefix(action.description.trim())
                    .unwrap_or(&issue.explanation)
                    .trim()
                    .trim_start_matches('.')
                    .trim();
                let finding = &mut findings[idx];
                if !extra.is_empty() && !action.description.contains(extra) && !finding.notes.iter().any(|n| n == extra) {
                    finding.notes.push(extra.to_owned());
                }
                for c in &issue.citations {
                    if !finding.citations.iter().any(|x| x.chunk_id == c.chunk_id.to_string()) {
                        finding.citations.push(CitationView::of(c));
                    }
                }
            }
            None => issues.push(IssueView {
                title: issue.title.clone(),
                severity: severity(issue.severity),
                explanation: issue.explanation.clone(),
                citations: CitationView::list(&issue.citations),
            }),
        }
    }

    let mut recommendations = Vec::new();
    for rec in &a.recommendations {
        let home = a
            .required_actions
            .iter()
            .enumerate()
            .position(|(idx, r)| findings[idx].recommendation.is_none() && belongs(rec, r));
        match home {
            Some(idx) => findings[idx].recommendation = Some(rec.text.clone()),
            None => recommendations.push(RecommendationView { text: rec.text.clone(), citations: CitationView::list(&rec.citations) }),
        }
    }
    Folded { findings, issues, recommendations }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guidance::{GeneratorInfo, GeneratorKind};
    use crate::rules::{ActionCode, RiskLevel, Severity};

    fn cite(n: u128) -> Citation {
        Citation {
            chunk_id: Uuid::from_u128(n),
            document_id: "d".into(),
            document_title: "Doc".into(),
            version: "1".into(),
            citation: None,
            section_path: vec![],
            pages: None,
            excerpt: "x".into(),
        }
    }

    fn action(code: ActionCode, title: &str, cites: &[u128], due: &str) -> RequiredAction {
        RequiredAction {
            code,
            title: title.into(),
            description: format!("{title} facts."),
            deadline: Some(format!("by {due}")),
            due_on: due.parse().ok(),
            citations: cites.iter().map(|n| cite(*n)).collect(),
        }
    }

    fn analysis(actions: Vec<RequiredAction>, issues: Vec<ComplianceIssue>, recs: Vec<Recommendation>) -> Analysis {
        Analysis {
            analysis_id: Uuid::nil(),
            transaction_id: "T".into(),
            risk_level: RiskLevel::High,
            risk_score: 0.9,
            requires_review: true,
            required_actions: actions,
            compliance_issues: issues,
            recommendations: recs,
            answer: None,
            answer_citations: vec![],
            generator: GeneratorInfo { kind: GeneratorKind::Rules, model: None, degraded_reason: None, dropped_citations: 0 },
            retrieval: crate::guidance::RetrievalTrace { queries: vec![], filters: Default::default(), chunks: vec![], action_queries: vec![] },
            processing_time_ms: 1,
            analyzed_at: chrono::Utc::now(),
            prompt_version: "v".into(),
            sanctions_screening: Default::default(),
        }
    }

    #[test]
    fn restating_issues_and_recommendations_fold_into_their_action_others_stay_once() {
        let a = analysis(
            vec![action(ActionCode::CtrFiling, "File a CTR", &[1, 2], "2026-03-25"), action(ActionCode::TravelRuleRecords, "Keep records", &[], "")],
            vec![
                ComplianceIssue { title: "File a CTR".into(), severity: Severity::Medium, explanation: "File a CTR facts. Applicable rules: 31 CFR 1010.311.".into(), citations: vec![cite(2), cite(1)] },
                ComplianceIssue { title: "No conversion rate".into(), severity: Severity::High, explanation: "JPY".into(), citations: vec![] },
            ],
            vec![
                Recommendation { text: "Verify identity".into(), citations: vec![cite(2), cite(1)] },
                Recommendation { text: "Check the transfer order".into(), citations: vec![] },
                Recommendation { text: "Document the review".into(), citations: vec![cite(1)] },
            ],
        );
        let today = "2026-03-27".parse().unwrap_or_default();
        let f = fold(&a, today);
        assert_eq!(f.findings.len(), 2);
        assert_eq!(f.findings[0].notes, ["Applicable rules: 31 CFR 1010.311."]);
        assert_eq!(f.findings[0].recommendation.as_deref(), Some("Verify identity"));
        assert_eq!(f.findings[0].citations.len(), 2, "citations shown once");
        assert_eq!((f.findings[0].days_left.as_deref(), f.findings[0].overdue), (Some("overdue by 2 days"), true));
        assert_eq!(f.findings[1].recommendation.as_deref(), Some("Check the transfer order"));
        assert_eq!(f.issues.iter().map(|i| i.title.as_str()).collect::<Vec<_>>(), ["No conversion rate"]);
        assert_eq!(f.recommendations.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(), ["Document the review"]);
    }

    #[test]
    fn days_left_wording() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap_or_default();
        assert_eq!(days_left_label(d("2026-03-10"), d("2026-03-10")), ("due today".to_owned(), false));
        assert_eq!(days_left_label(d("2026-03-11"), d("2026-03-10")), ("1 day left".to_owned(), false));
        assert_eq!(days_left_label(d("2026-03-09"), d("2026-03-10")), ("overdue by 1 day".to_owned(), true));
    }
}
