//! Owns the citation-feedback routes: `POST /api/v1/analyses/{id}/feedback`
//! (compliance officer, admin) and `GET /api/v1/analyses/{id}/feedback` (readers of
//! analyses), each with its `#[utoipa::path]` for the OpenAPI document. The rules are `crate::feedback`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::{ApiError, ApiJson, ApiState};
use crate::app::{Principal, RequestId};
use crate::app::FeedbackRequest;

#[utoipa::path(post, path = "/api/v1/analyses/{id}/feedback", operation_id = "submit_feedback",
    summary = "Judge a chunk cited for a required action: supports or does_not_support, optionally pointing to a better chunk. A later judgement of the same citation by the same officer replaces the earlier one; every judgement is audited. 422 names the field when the action is not in the analysis, the chunk is not cited for it, or the better chunk is not in the store.",
    params(("id" = uuid::Uuid, Path, description = "analysis id")), request_body = crate::app::FeedbackRequest,
    responses((status = 201, description = "the judgement in force", body = crate::app::CitationFeedback),
        (status = 404, description = "no such analysis", body = super::error::Body<'static>)))]
pub async fn submit(
    State(state): State<Arc<ApiState>>,
    Extension(principal): Extension<Principal>,
    rid: Option<Extension<RequestId>>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<FeedbackRequest>,
) -> Result<Response, ApiError> {
    let id = ApiError::path_uuid("analysis", &id)?;
    let stored = state.app.judge_citation(&principal, rid.as_deref(), id, &req).await?;
    Ok((StatusCode::CREATED, Json(stored)).into_response())
}

#[utoipa::path(get, path = "/api/v1/analyses/{id}/feedback", operation_id = "list_feedback", summary = "Every officer's judgements of the citations of an analysis",
    params(("id" = uuid::Uuid, Path, description = "analysis id")),
    responses((status = 200, description = "judgements by action, chunk and officer", body = Vec<crate::app::CitationFeedback>),
        (status = 404, description = "no such analysis", body = super::error::Body<'static>)))]
pub async fn list(State(state): State<Arc<ApiState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = ApiError::path_uuid("analysis", &id)?;
    Ok(Json(state.app.citation_feedback(id).await?).into_response())
}

