//! Owns the citation-feedback controls of the analysis page: the signed-in
//! officer's current judgement of each chunk cited for a required action
//! ([`FeedbackMarks`], shown by `templates/partials/citation_feedback.html`), and the
//! form post that records a judgement through `app`'s citation feedback (session + CSRF,
//! `Permission::Decide`, as decisions).

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use uuid::Uuid;

use super::{SignedIn, Web, WebError, see_other};
use crate::app::{App, AppError, FeedbackRequest, Principal, Verdict};
use crate::rules::ActionCode;

/// The signed-in officer's judgement of one citation.
#[derive(Debug, Clone)]
pub struct Mark {
    /// `supports` or `does_not_support`.
    pub verdict: &'static str,
    pub label: &'static str,
    pub better_chunk_id: Option<String>,
}

/// The signed-in officer's judgements on one analysis, by (action code, chunk id).
#[derive(Debug, Clone, Default)]
pub struct FeedbackMarks(HashMap<(String, String), Mark>);

impl FeedbackMarks {
    pub async fn load(app: &Arc<App>, officer: &Principal, analysis_id: Uuid) -> Result<Self, WebError> {
        let all = app.citation_feedback(analysis_id).await.map_err(web_error(analysis_id))?;
        let mine = all.into_iter().filter(|f| f.judged_by == officer.id).map(|f| {
            let mark = Mark {
                verdict: f.verdict.as_str(),
                label: label(f.verdict),
                better_chunk_id: f.better_chunk_id.map(|u| u.to_string()),
            };
            ((f.action.as_str().to_string(), f.chunk_id.to_string()), mark)
        });
        Ok(Self(mine.collect()))
    }

    /// The officer's judgement of `chunk_id` cited for `action`, if any.
    pub fn mark(&self, action: &str, chunk_id: &str) -> Option<&Mark> {
        self.0.get(&(action.to_string(), chunk_id.to_string()))
    }
}

fn label(v: Verdict) -> &'static str {
    match v {
        Verdict::Supports => "supports the action",
        Verdict::DoesNotSupport => "does not support the action",
    }
}

/// A feedback use-case's error on analysis `id` as this page words it.
fn web_error(id: Uuid) -> impl FnOnce(AppError) -> WebError {
    move |e| match e {
        // The chunk store did not answer (logged by the use-case).
        AppError::Unavailable { .. } => WebError::unavailable("The document store did not answer."),
        other => WebError::about_analysis(
            other,
            Some(id),
            "Only compliance officers may judge citations.",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    }
}

#[derive(Deserialize)]
pub struct FeedbackForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    chunk_id: String,
    #[serde(default)]
    verdict: String,
    /// Blank: none.
    #[serde(default)]
    better_chunk_id: String,
    #[serde(default)]
    note: String,
}

impl FeedbackForm {
    fn parse(&self) -> Result<FeedbackRequest, WebError> {
        let invalid = |field: &str, reason: &str| WebError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("{field}: {reason}"));
        let better = self.better_chunk_id.trim();
        Ok(FeedbackRequest {
            action: ActionCode::from_str(self.action.trim()).map_err(|_| invalid("action", "not an action code"))?,
            chunk_id: Uuid::parse_str(self.chunk_id.trim()).map_err(|_| invalid("chunk_id", "not a chunk id"))?,
            verdict: Verdict::parse(&self.verdict).ok_or_else(|| invalid("verdict", "choose supports or does not support"))?,
            better_chunk_id: match better {
                "" => None,
                id => Some(Uuid::parse_str(id).map_err(|_| invalid("better_chunk_id", "not a chunk id (a UUID, as in the chunk's link)"))?),
            },
            note: Some(self.note.clone()).filter(|n| !n.trim().is_empty()),
        })
    }
}

/// `POST /analyses/{id}/feedback`: records the judgement, then back to the page.
pub async fn submit(
    State(web): State<Web>,
    user: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<FeedbackForm>,
) -> Result<Response, WebError> {
    if !user.user().can_decide {
        return Err(WebError::forbidden("Only compliance officers may judge citations."));
    }
    let analysis_id = Uuid::parse_str(&id).map_err(|_| WebError::bad_request(format!("{id:?} is not an analysis id.")))?;
    let req = form.parse()?;
    web.app.judge_citation(user.principal(), None, analysis_id, &req).await.map_err(web_error(analysis_id))?;
    Ok(see_other(&format!("/analyses/{analysis_id}#actions-title")))
}
