//! Owns the review pages for compliance officers (and admins): the queue
//! (`/queue`: filters, due dates with days left, overdue marking, assign to me /
//! to an officer) and the case view (`/cases/{id}`: related transactions, the
//! SAR narrative draft to edit and keep with the decision, the CTR data sheet;
//! a printable page and a JSON export), over the review use-cases of `app`.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::findings::days_left_label;
use super::view::{self, CitationView};
use super::{Layout, SignedIn, Web, WebError, render, render_status, see_other};
use crate::app::case::{Case, CtrField, FieldStatus, RelatedTransaction, heading};
use crate::app::{AppError, AssignRequest, QueueQuery, Role};

/// A review use-case's error as these pages word it (a refused field is 400 here).
fn review_error(analysis: Option<Uuid>) -> impl FnOnce(AppError) -> WebError {
    move |e| WebError::about_analysis(e, analysis, "Only compliance officers work the review queue.", StatusCode::BAD_REQUEST)
}

fn require_decide(user: &SignedIn) -> Result<(), WebError> {
    if user.user().can_decide {
        Ok(())
    } else {
        Err(WebError::forbidden("Only compliance officers work the review queue and case view."))
    }
}

pub struct QueueRowView {
    pub analysis_id: String,
    pub transaction_id: String,
    pub customer: String,
    pub risk: (&'static str, &'static str),
    pub actions: Vec<String>,
    pub due_on: String,
    pub days_left: String,
    pub overdue: bool,
    pub assignee: Option<String>,
    pub mine: bool,
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    layout: Layout,
    today: String,
    rows: Vec<QueueRowView>,
    truncated: bool,
    /// The filters as given, to refill the form.
    action: String,
    risk: String,
    assignee: String,
    from: String,
    to: String,
    action_codes: Vec<&'static str>,
    /// Active officers' keys: `(id, name)`, for the assign control.
    officers: Vec<(String, String)>,
}

pub async fn queue(State(web): State<Web>, user: SignedIn, Query(q): Query<QueueQuery>) -> Result<Response, WebError> {
    require_decide(&user)?;
    let today = web.app.today();
    let queue = web.app.review_queue(user.principal(), &q).await.map_err(review_error(None))?;
    let officers = web
        .app
        .keys()
        .await?
        .into_iter()
        .filter(|k| k.revoked_at.is_none())
        .filter(|k| k.role.parse::<Role>().is_ok_and(super::can_decide))
        .map(|k| (k.key_id, k.name))
        .collect();
    let me = &user.principal().id;
    let rows = queue
        .items
        .into_iter()
        .map(|i| {
            let days = i.due_on.map(|d| days_left_label(d, today));
            QueueRowView {
                analysis_id: i.analysis_id.to_string(),
                transaction_id: i.transaction_id,
                customer: i.customer_name.unwrap_or_default(),
                risk: match i.risk_level.as_str() {
                    "HIGH" => ("High", "badge-high"),
                    "MEDIUM" => ("Medium", "badge-medium"),
                    _ => ("Low", "badge-low"),
                },
                actions: i.actions,
                due_on: i.due_on.map_or_else(|| "no due date".to_owned(), |d| d.to_string()),
                overdue: i.overdue,
                days_left: days.map(|d| d.0).unwrap_or_default(),
                mine: i.assignment.as_ref().is_some_and(|a| &a.assignee_id == me),
                assignee: i.assignment.map(|a| a.assignee_name),
            }
        })
        .collect();
    let given = |v: &Option<String>| v.clone().unwrap_or_default();
    Ok(render(&QueuePage {
        layout: user.layout("queue"),
        today: queue.today.to_string(),
        rows,
        truncated: queue.truncated,
        action: given(&q.action),
        risk: given(&q.risk),
        assignee: given(&q.assignee),
        from: given(&q.from),
        to: given(&q.to),
        action_codes: crate::rules::ActionCode::ALL.iter().map(|c| c.as_str()).collect(),
        officers,
    }))
}

#[derive(Deserialize)]
pub struct AssignForm {
    /// `me`, an officer's key id, or empty to unassign.
    #[serde(default)]
    assignee: String,
    /// Where to go back to (a local path: the queue with its filters, or the case).
    #[serde(default)]
    back: String,
}

pub async fn assign(State(web): State<Web>, user: SignedIn, Path(id): Path<String>, Form(f): Form<AssignForm>) -> Result<Response, WebError> {
    require_decide(&user)?;
    let id = parse_id(&id)?;
    let assignee = Some(f.assignee.trim().to_owned()).filter(|a| !a.is_empty());
    web.app.assign(user.principal(), None, id, &AssignRequest { assignee }).await.map_err(review_error(Some(id)))?;
    // Only a local path: never redirect elsewhere.
    let back = if f.back.starts_with("/queue") || f.back.starts_with("/cases/") { f.back.as_str() } else { "/queue" };
    Ok(see_other(back))
}

fn parse_id(id: &str) -> Result<Uuid, WebError> {
    Uuid::parse_str(id).map_err(|_| WebError::bad_request(format!("{id:?} is not an analysis id.")))
}

pub struct CaseActionView {
    pub code: String,
    pub title: String,
    pub deadline: String,
    pub days_left: String,
    pub overdue: bool,
    pub citations: Vec<CitationView>,
}

pub struct SectionView {
    pub heading: &'static str,
    pub text: String,
    pub citations: Vec<String>,
}

pub struct FieldView {
    pub field: &'static str,
    pub value: String,
    pub required: bool,
}

/// The sheet's parts: `(title, fields)`.
pub struct CtrView {
    pub parts: Vec<(&'static str, Vec<FieldView>)>,
}

pub struct DecisionView {
    pub what: String,
    pub who: String,
    pub at: String,
    pub comment: String,
}

#[derive(Template)]
#[template(path = "case.html")]
struct CasePage {
    layout: Layout,
    c: CaseView,
    decision_error: Option<String>,
    decision_comment: String,
    decisions: [(&'static str, &'static str); 4],
    /// A decision is already recorded (a new one must override it).
    decided: bool,
}

#[derive(Template)]
#[template(path = "case_print.html")]
struct CasePrint {
    c: CaseView,
}

pub struct CaseView {
    pub id: String,
    pub transaction_id: String,
    pub customer: String,
    pub risk: (&'static str, &'static str),
    pub sar_candidate: bool,
    pub today: String,
    pub due: String,
    pub overdue: bool,
    pub actions: Vec<CaseActionView>,
    pub related: Vec<RelatedTransaction>,
    pub sections: Vec<SectionView>,
    /// What the narrative box holds: the kept narrative, else the draft.
    pub narrative: String,
    pub narrative_saved: bool,
    pub ctr: Option<CtrView>,
    pub decided: bool,
    pub history: Vec<DecisionView>,
}

fn fields(fs: &[CtrField]) -> Vec<FieldView> {
    fs.iter()
        .map(|f| FieldView {
            field: f.field,
            value: match f.status {
                FieldStatus::Filled => f.value.clone().unwrap_or_default(),
                FieldStatus::RequiredToComplete => "required to complete".to_owned(),
                FieldStatus::NotApplicable => "not applicable".to_owned(),
            },
            required: f.status == FieldStatus::RequiredToComplete,
        })
        .collect()
}

fn case_view(c: Case, today: chrono::NaiveDate) -> CaseView {
    let due = c.due_on.map_or_else(
        || "no due date".to_owned(),
        |d| format!("{d} ({})", days_left_label(d, today).0),
    );
    CaseView {
        id: c.analysis_id.to_string(),
        transaction_id: c.transaction_id.clone(),
        customer: match (&c.customer_name, &c.customer_id) {
            (Some(n), Some(id)) => format!("{n} ({id})"),
            _ => "not stored with the analysis".to_owned(),
        },
        risk: (view::risk_label(c.risk_level), view::risk_class(c.risk_level)),
        sar_candidate: c.sar_candidate,
        today: c.today.to_string(),
        due,
        overdue: c.overdue,
        actions: c
            .actions
            .iter()
            .map(|a| {
                let days = a.due_on.map(|d| days_left_label(d, today));
                CaseActionView {
                    code: a.code.as_str().to_owned(),
                    title: a.title.clone(),
                    deadline: a.deadline.clone().unwrap_or_default(),
                    overdue: days.as_ref().is_some_and(|d| d.1),
                    days_left: days.map(|d| d.0).unwrap_or_default(),
                    citations: CitationView::list(&a.citations),
                }
            })
            .collect(),
        sections: c
            .narrative
            .sections
            .iter()
            .map(|s| SectionView { heading: heading(s.key), text: s.text.clone(), citations: s.citations.iter().map(Uuid::to_string).collect() })
            .collect(),
        narrative_saved: c.narrative.saved.is_some(),
        narrative: c.narrative.saved.clone().unwrap_or_else(|| c.narrative.draft.clone()),
        ctr: c.ctr.as_ref().map(|s| CtrView {
            parts: vec![
                ("Part I — Person(s) involved in transaction(s)", fields(&s.part_i_persons)),
                ("Part II — Amount and type of transaction(s)", fields(&s.part_ii_amounts)),
                ("Part III — Financial institution where transaction(s) took place", fields(&s.part_iii_institution)),
            ],
        }),
        decided: !c.decisions.is_empty(),
        history: c
            .decisions
            .iter()
            .map(|d| DecisionView {
                what: d.decision.as_str().to_owned(),
                who: d.decided_by_name.clone(),
                at: d.decided_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                comment: d.comment.clone(),
            })
            .collect(),
        related: c.related_transactions,
    }
}

async fn load_case(web: &Web, user: &SignedIn, id: &str) -> Result<(Case, chrono::NaiveDate), WebError> {
    require_decide(user)?;
    let today = web.app.today();
    let id = parse_id(id)?;
    let case = web.app.case(user.principal(), id).await.map_err(review_error(Some(id)))?;
    Ok((case, today))
}

pub async fn case(State(web): State<Web>, user: SignedIn, Path(id): Path<String>) -> Result<Response, WebError> {
    let (case, today) = load_case(&web, &user, &id).await?;
    let c = case_view(case, today);
    Ok(render(&CasePage {
        layout: user.layout("queue"),
        decided: c.decided,
        c,
        decision_error: None,
        decision_comment: String::new(),
        decisions: super::analysis::DECISIONS,
    }))
}

/// The case on one printable page (print CSS, no navigation).
pub async fn print(State(web): State<Web>, user: SignedIn, Path(id): Path<String>) -> Result<Response, WebError> {
    let (case, today) = load_case(&web, &user, &id).await?;
    Ok(render(&CasePrint { c: case_view(case, today) }))
}

/// The case as JSON (the same document as `GET /api/v1/analyses/{id}/case`), as a download.
pub async fn export(State(web): State<Web>, user: SignedIn, Path(id): Path<String>) -> Result<Response, WebError> {
    let (case, _) = load_case(&web, &user, &id).await?;
    let body = serde_json::to_string_pretty(&case).map_err(WebError::internal)?;
    let disposition = format!("attachment; filename=\"case-{}.json\"", case.analysis_id);
    Ok(([(header::CONTENT_TYPE, "application/json".to_owned()), (header::CONTENT_DISPOSITION, disposition)], body).into_response())
}

#[derive(Deserialize)]
pub struct CaseDecisionForm {
    #[serde(default)]
    decision: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    narrative: String,
    #[serde(default)]
    r#override: Option<String>,
}

/// A decision from the case view, with the narrative as edited.
pub async fn decide(State(web): State<Web>, user: SignedIn, Path(id): Path<String>, Form(f): Form<CaseDecisionForm>) -> Result<Response, WebError> {
    require_decide(&user)?;
    let analysis_id = parse_id(&id)?;
    let narrative = Some(f.narrative.clone());
    let error = super::analysis::record_decision(&web.app, &user, analysis_id, &f.decision, &f.comment, f.r#override.is_some(), narrative).await?;
    let Some(error) = error else {
        return Ok(see_other(&format!("/cases/{analysis_id}#decision")));
    };
    let (case, today) = load_case(&web, &user, &id).await?;
    let mut c = case_view(case, today);
    // Keep what the officer typed.
    c.narrative = f.narrative;
    Ok(render_status(
        StatusCode::UNPROCESSABLE_ENTITY,
        &CasePage {
            layout: user.layout("queue"),
            decided: c.decided,
            c,
            decision_error: Some(error),
            decision_comment: f.comment,
            decisions: super::analysis::DECISIONS,
        },
    ))
}
