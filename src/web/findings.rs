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
    let days = crate::review::days_left(due, today);
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

/// The recommendation belongs to `action`: the same evidence, and not a
/// suggestion of an action the rules did not find.
fn belongs(rec: &Recommendation, action: &RequiredAction) -> bool {
    !rec.citations.is_empty()
        && !rec.text.starts_with(crate::generation::LLM_SUGGESTION_PREFIX)
        && chunk_set(&rec.citations) == chunk_set(&action.citations)
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
