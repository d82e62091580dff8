//! Owns the Analysis page: verdict, review banner, each finding once (its action,
//! deadline and days left, evidence, with the issue and recommendation that restate
//! it folded in: `findings.rs`), the other issues and recommendations, every
//! citation linked to its chunk; the generator that answered;
//! free questions about the transaction; officers' decisions and the audit timeline.

use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use uuid::Uuid;

use super::findings::{FindingView, IssueView, RecommendationView};
use super::view::CitationView;
use super::{
    Layout, SignedIn, UserView, Web, WebError, is_htmx, render, render_status, see_other, view,
};
use crate::app::{Actor, App, AppError, DecisionKind, DecisionRequest};
use crate::guidance::{Analysis, GeneratorKind};

pub struct TransactionView {
    pub id: String,
    pub customer: String,
    pub amount: String,
    pub kind: String,
    pub route: String,
    pub date: String,
    pub counterparty: String,
    pub description: String,
}

pub struct AnswerView {
    pub question: String,
    pub answer: String,
    pub generator: String,
    pub citations: Vec<CitationView>,
}

pub struct TimelineEntry {
    pub at: String,
    pub what: String,
    pub who: String,
    pub detail: String,
}

pub struct OtherAnalysis {
    pub id: String,
    pub at: String,
    pub risk: (&'static str, &'static str),
    pub current: bool,
}

#[derive(Template)]
#[template(path = "analysis.html")]
struct AnalysisPage {
    layout: Layout,
    user: UserView,
    id: String,
    transaction: Option<TransactionView>,
    stored: bool,
    risk: (&'static str, &'static str),
    score: String,
    requires_review: bool,
    generator: String,
    degraded: Option<String>,
    dropped_citations: usize,
    analyzed_at: String,
    processing_ms: u64,
    findings: Vec<FindingView>,
    issues: Vec<IssueView>,
    recommendations: Vec<RecommendationView>,
    question: String,
    question_error: Option<String>,
    answer: Option<AnswerView>,
    decision_error: Option<String>,
    decision_comment: String,
    decisions: [(&'static str, &'static str); 4],
    timeline: Vec<TimelineEntry>,
    /// A decision is already recorded (a new one must override it).
    decided: bool,
    history: Vec<OtherAnalysis>,
    /// The officer's judgements of the cited chunks (`partials/citation_feedback.html`).
    feedback: super::citation_feedback::FeedbackMarks,
}

/// Decisions an officer may record: `(value, button label)`.
pub const DECISIONS: [(&str, &str); 4] = [
    ("approve", "Approve"),
    ("escalate", "Escalate"),
    ("file_sar", "File SAR"),
    ("reject", "Reject"),
];

pub fn generator_label(kind: GeneratorKind, model: Option<&str>) -> String {
    match kind {
        GeneratorKind::Llm => format!("LLM ({})", model.unwrap_or("model not named")),
        GeneratorKind::Rules => "Rules generator (fallback, no LLM text)".into(),
    }
}

fn parse_id(id: &str) -> Result<Uuid, WebError> {
    Uuid::parse_str(id).map_err(|_| WebError::bad_request(format!("{id:?} is not an analysis id.")))
}

async fn load(app: &Arc<App>, id: Uuid) -> Result<Analysis, WebError> {
    app.analysis(id).await.map_err(|e| match e {
        AppError::NotFound { .. } => WebError::not_found(format!("There is no analysis {id}.")),
        other => other.into(),
    })
}

async fn build(
    app: &Arc<App>,
    user: &SignedIn,
    a: Analysis,
) -> Result<AnalysisPage, WebError> {
    let request = app.analysed_request(a.analysis_id).await?;
    let stored = !request.inline;
    let transaction = request.input.map(|i| {
        let t = &i.transaction;
        TransactionView {
            id: t.transaction_id.clone(),
            customer: format!("{} ({})", i.customer.name, i.customer.customer_id),
            amount: format!("{} {}", view::amount(t.amount), t.currency.as_str()),
            kind: format!(
                "{} {}",
                t.transaction_type.as_str(),
                if matches!(t.direction, crate::domain::Direction::Inbound) {
                    "inbound"
                } else {
                    "outbound"
                }
            ),
            route: format!("{} → {}", t.origin_country, t.destination_country),
            date: t.timestamp.to_rfc3339(),
            counterparty: t.counterparty_name.clone().unwrap_or_default(),
            description: t.description.clone().unwrap_or_default(),
        }
    });
    let history = app
        .analyses_of_transaction(&a.transaction_id)
        .await?
        .into_iter()
        .map(|h| OtherAnalysis {
            id: h.analysis_id.to_string(),
            at: h.analyzed_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            risk: (
                view::risk_label(h.risk_level),
                view::risk_class(h.risk_level),
            ),
            current: h.analysis_id == a.analysis_id,
        })
        .collect();
    let (timeline, decided) = timeline(app, a.analysis_id).await?;
    let folded = super::findings::fold(&a, app.today());
    Ok(AnalysisPage {
        layout: user.layout("transactions"),
        user: user.user(),
        id: a.analysis_id.to_string(),
        transaction,
        stored,
        risk: (
            view::risk_label(a.risk_level),
            view::risk_class(a.risk_level),
        ),
        score: format!("{:.2}", a.risk_score),
        requires_review: a.requires_review,
        generator: generator_label(a.generator.kind, a.generator.model.as_deref()),
        degraded: a.generator.degraded_reason.clone(),
        dropped_citations: a.generator.dropped_citations,
        analyzed_at: a.analyzed_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        processing_ms: a.processing_time_ms,
        findings: folded.findings,
        issues: folded.issues,
        recommendations: folded.recommendations,
        question: String::new(),
        question_error: None,
        answer: None,
        decision_error: None,
        decision_comment: String::new(),
        decisions: DECISIONS,
        timeline,
        decided,
        history,
        feedback: super::citation_feedback::FeedbackMarks::load(app, user.principal(), a.analysis_id).await?,
    })
}

pub async fn page(
    State(web): State<Web>,
    user: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    user.require_read()?;
    let a = load(&web.app, parse_id(&id)?).await?;
    Ok(render(&build(&web.app, &user, a).await?))
}

#[derive(Template)]
#[template(path = "answer.html")]
struct AnswerFragment {
    question_error: Option<String>,
    answer: Option<AnswerView>,
}

#[derive(Deserialize)]
pub struct AskForm {
    #[serde(default)]
    question: String,
}

/// Question limits: enough for a real question, not a document.
const QUESTION_MAX_CHARS: usize = 2000;

pub async fn ask(
    State(web): State<Web>,
    user: SignedIn,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<AskForm>,
) -> Result<Response, WebError> {
    if !user.user().can_analyze {
        return Err(WebError::forbidden(
            "Your role may read analyses but not ask questions.",
        ));
    }
    let app = &web.app;
    let a = load(app, parse_id(&id)?).await?;
    let question = f.question.trim().to_string();
    let (question_error, answer) = if question.is_empty() {
        (Some("Type a question first.".to_string()), None)
    } else if question.chars().count() > QUESTION_MAX_CHARS {
        (
            Some(format!(
                "Keep the question under {QUESTION_MAX_CHARS} characters."
            )),
            None,
        )
    } else {
        let input = app.analysed_request(a.analysis_id).await?.input;
        let ans = app
            .ask_about(input, question.clone(), None, Actor::from(user.principal()), None)
            .await?;
        let view = AnswerView {
            question: ans.question.clone(),
            answer: ans.answer.clone(),
            generator: generator_label(ans.generator.kind, ans.generator.model.as_deref()),
            citations: CitationView::list(&ans.citations),
        };
        (None, Some(view))
    };
    let status = if question_error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    if is_htmx(&headers) {
        // htmx swaps only 2xx answers by default; a 200 keeps the message visible.
        return Ok(render(&AnswerFragment {
            question_error,
            answer,
        }));
    }
    let mut page = build(app, &user, a).await?;
    page.question = question;
    page.question_error = question_error;
    page.answer = answer;
    Ok(render_status(status, &page))
}

#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    decision: String,
    #[serde(default)]
    comment: String,
    /// Checkbox: change a decision already recorded.
    #[serde(default)]
    r#override: Option<String>,
}

pub async fn decide(
    State(web): State<Web>,
    user: SignedIn,
    Path(id): Path<String>,
    Form(f): Form<DecisionForm>,
) -> Result<Response, WebError> {
    if !user.user().can_decide {
        return Err(WebError::forbidden(
            "Only compliance officers may record decisions.",
        ));
    }
    let app = &web.app;
    let a = load(app, parse_id(&id)?).await?;
    let error = record_decision(app, &user, a.analysis_id, &f.decision, &f.comment, f.r#override.is_some(), None).await?;
    let Some(error) = error else {
        return Ok(see_other(&format!("/analyses/{}#decision", a.analysis_id)));
    };
    let mut page = build(app, &user, a).await?;
    page.decision_error = Some(error);
    page.decision_comment = f.comment;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

/// Records a decision posted from a page (the analysis page or the case view):
/// `Ok(None)` once it is stored, `Ok(Some(message))` for the form to show (no
/// decision chosen, no comment, a field refused, already decided), `Err` for what the
/// form cannot fix.
pub(super) async fn record_decision(
    app: &App,
    user: &SignedIn,
    analysis_id: Uuid,
    decision: &str,
    comment: &str,
    r#override: bool,
    narrative: Option<String>,
) -> Result<Option<String>, WebError> {
    let Some(decision) = DecisionKind::parse(decision) else {
        return Ok(Some("Choose approve, escalate, file SAR or reject.".to_owned()));
    };
    if comment.trim().is_empty() {
        return Ok(Some("Say why: a comment is required with every decision.".to_owned()));
    }
    let req = DecisionRequest { decision, comment: comment.trim().to_owned(), r#override, narrative };
    match app.decide(user.principal(), None, analysis_id, &req).await {
        Ok(_) => Ok(None),
        Err(AppError::Invalid { field: Some(field), message }) => Ok(Some(format!("{field}: {message}"))),
        Err(AppError::Conflict { code: "already_decided", .. }) => Ok(Some(
            "This analysis already has a decision. Tick “Override the current decision” and give the reason in the comment.".to_owned(),
        )),
        Err(e) => Err(WebError::about_analysis(
            e,
            Some(analysis_id),
            "Only compliance officers may record decisions.",
            StatusCode::UNPROCESSABLE_ENTITY,
        )),
    }
}

fn decision_label(d: DecisionKind) -> &'static str {
    match d {
        DecisionKind::Approve => "approved",
        DecisionKind::Escalate => "escalated",
        DecisionKind::FileSar => "SAR to be filed",
        DecisionKind::Reject => "rejected",
    }
}

/// The decision in force on an analysis, as a status line.
pub async fn latest_decision(app: &Arc<App>, analysis_id: Uuid) -> Option<String> {
    match app.decision_history(analysis_id).await {
        Ok(ds) => ds
            .last()
            .map(|d| format!("{} by {}", decision_label(d.decision), d.decided_by_name)),
        Err(e) => {
            tracing::warn!("reading decisions of {analysis_id}: {e}");
            None
        }
    }
}

/// The audit trail of an analysis, oldest first, with each decision's comment.
async fn timeline(
    app: &Arc<App>,
    analysis_id: Uuid,
) -> Result<(Vec<TimelineEntry>, bool), WebError> {
    let (_, rows) = app.audit_timeline(Some(&analysis_id.to_string())).await?;
    let decisions = app
        .decision_history(analysis_id)
        .await
        .map_err(WebError::internal)?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let decision = decisions
            .iter()
            .find(|d| d.decision_id.to_string() == r.object_id);
        let (what, who, detail) = match decision {
            Some(d) => (
                format!("{} ({})", r.action, d.decision.as_str()),
                format!("{} ({})", d.decided_by_name, d.role),
                d.comment.clone(),
            ),
            None => (
                r.action.clone(),
                format!("{} ({})", r.actor_id, r.actor_role),
                if r.outcome == "success" {
                    String::new()
                } else {
                    r.outcome.clone()
                },
            ),
        };
        out.push(TimelineEntry {
            at: r.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            what,
            who,
            detail,
        });
    }
    Ok((out, !decisions.is_empty()))
}

#[derive(Template)]
#[template(path = "chunk.html")]
struct ChunkPage {
    layout: Layout,
    chunk: ChunkView,
}

#[derive(Template)]
#[template(path = "chunk_panel.html")]
struct ChunkPanel {
    chunk: ChunkView,
}

pub struct ChunkView {
    pub id: String,
    pub document_id: String,
    pub title: String,
    pub version: String,
    pub citation: Option<String>,
    pub section_path: String,
    pub pages: Option<String>,
    pub in_force: String,
    pub document_type: String,
    pub issuer: String,
    pub text: String,
}

#[derive(Deserialize)]
pub struct ChunkQuery {
    #[serde(default)]
    fragment: bool,
}

pub async fn chunk(
    State(web): State<Web>,
    user: SignedIn,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ChunkQuery>,
) -> Result<Response, WebError> {
    user.require_read()?;
    let id = Uuid::parse_str(&id)
        .map_err(|_| WebError::bad_request(format!("{id:?} is not a chunk id.")))?;
    let record = web.app.chunk(id).await?.ok_or_else(|| {
        WebError::not_found(format!(
            "There is no chunk {id}; its document version may have been deleted."
        ))
    })?;
    let m = &record.meta;
    let chunk = ChunkView {
        id: record.chunk_id.to_string(),
        document_id: m.document_id.clone(),
        title: m.title.clone(),
        version: m.version.clone(),
        citation: record.chunk.citation.clone(),
        section_path: record.chunk.section_path.join(" › "),
        pages: view::pages(record.chunk.pages),
        in_force: format!(
            "{} – {}",
            m.effective_from,
            m.effective_to
                .map_or("in force".to_string(), |d| d.to_string())
        ),
        document_type: m.document_type.as_str().to_string(),
        issuer: m.issuer.clone(),
        text: record.chunk.text.clone(),
    };
    if q.fragment || is_htmx(&headers) {
        return Ok(render(&ChunkPanel { chunk }));
    }
    Ok(render(&ChunkPage {
        layout: user.layout("transactions"),
        chunk,
    }))
}
