//! Owns the decision routes: `POST /api/v1/analyses/{id}/decision` (compliance
//! officer, admin) and `GET /api/v1/analyses/{id}/decisions`. The workflow itself
//! is `crate::decision`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::{ApiError, ApiJson, ApiState};
use crate::app::{Principal, RequestId};
use crate::app::DecisionRequest;

#[utoipa::path(post, path = "/api/v1/analyses/{id}/decision",
    summary = "Decide on an analysis: approve, escalate, file_sar or reject, with a comment. A second decision needs \"override\": true and is recorded as an override (409 otherwise).",
    params(("id" = uuid::Uuid, Path, description = "analysis id")), request_body = crate::app::DecisionRequest,
    responses((status = 201, description = "the stored decision", body = crate::app::Decision),
        (status = 404, description = "no such analysis", body = super::error::Body<'static>),
        (status = 409, description = "already decided (send override)", body = super::error::Body<'static>)))]
pub async fn decide(
    State(state): State<Arc<ApiState>>,
    Extension(principal): Extension<Principal>,
    rid: Option<Extension<RequestId>>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<DecisionRequest>,
) -> Result<Response, ApiError> {
    let id = ApiError::path_uuid("analysis", &id)?;
    let decision = state.app.decide(&principal, rid.as_deref(), id, &req).await?;
    Ok((StatusCode::CREATED, Json(decision)).into_response())
}

#[utoipa::path(get, path = "/api/v1/analyses/{id}/decisions", operation_id = "list_decisions", summary = "The decisions on an analysis, first to latest (the last is in force)",
    params(("id" = uuid::Uuid, Path, description = "analysis id")),
    responses((status = 200, description = "decisions", body = Vec<crate::app::Decision>),
        (status = 404, description = "no such analysis", body = super::error::Body<'static>)))]
pub async fn list(State(state): State<Arc<ApiState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = ApiError::path_uuid("analysis", &id)?;
    Ok(Json(state.app.decisions(id).await?).into_response())
}
