//! Owns the citation-feedback routes: `POST /api/v1/analyses/{id}/feedback`
//! (compliance officer, admin) and `GET /api/v1/analyses/{id}/feedback` (readers of
//! analyses), each with its `#[utoipa::path]` for the OpenAPI document. The rules are `crate::feedback`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::{ApiError, ApiJson, AppState};
use crate::auth::{Principal, RequestId};
use crate::feedback::{self, FeedbackError, FeedbackRequest};

impl From<FeedbackError> for ApiError {
    fn from(e: FeedbackError) -> Self {
        match e {
            FeedbackError::Forbidden(_) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string()),
            FeedbackError::NotFound(_) => ApiError::not_found(e.to_string()).field("id"),
            FeedbackError::Invalid { field, ref reason } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", reason.clone()).field(field)
            }
            FeedbackError::Store(m) => ApiError::unavailable(format!("the chunk store did not answer: {m}")),
            FeedbackError::Db(e) => e.into(),
            FeedbackError::Audit(e) => e.into(),
            FeedbackError::Io(e) => {
                tracing::error!("citation feedback: {e}");
                ApiError::internal("the judgement could not be recorded")
            }
        }
    }
}

#[utoipa::path(post, path = "/api/v1/analyses/{id}/feedback", operation_id = "submit_feedback",
    summary = "Judge a chunk cited for a required action: supports or does_not_support, optionally pointing to a better chunk. A later judgement of the same citation by the same officer replaces the earlier one; every judgement is audited. 422 names the field when the action is not in the analysis, the chunk is not cited for it, or the better chunk is not in the store.",
    params(("id" = uuid::Uuid, Path, description = "analysis id")), request_body = crate::feedback::FeedbackRequest,
    responses((status = 201, description = "the judgement in force", body = crate::feedback::CitationFeedback),
        (status = 404, description = "no such analysis", body = super::error::Body<'static>)))]
pub async fn submit(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    rid: Option<Extension<RequestId>>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<FeedbackRequest>,
) -> Result<Response, ApiError> {
    let id = ApiError::path_uuid("analysis", &id)?;
    let stored = feedback::record(&state.audit, state.store.clone(), &principal, rid.as_ref().map(|r| &r.0), id, &req).await?;
    Ok((StatusCode::CREATED, Json(stored)).into_response())
}

#[utoipa::path(get, path = "/api/v1/analyses/{id}/feedback", operation_id = "list_feedback", summary = "Every officer's judgements of the citations of an analysis",
    params(("id" = uuid::Uuid, Path, description = "analysis id")),
    responses((status = 200, description = "judgements by action, chunk and officer", body = Vec<crate::feedback::CitationFeedback>),
        (status = 404, description = "no such analysis", body = super::error::Body<'static>)))]
pub async fn list(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = ApiError::path_uuid("analysis", &id)?;
    if state.db.get_analysis(id).await?.is_none() {
        return Err(ApiError::not_found(format!("no analysis {id}")).field("id"));
    }
    Ok(Json(feedback::list(&state.db, id).await?).into_response())
}

