//! Owns the decision routes: `POST /api/v1/analyses/{id}/decision` (compliance
//! officer, admin) and `GET /api/v1/analyses/{id}/decisions`. The workflow itself
//! is `crate::decision`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::{ApiError, ApiJson, AppState};
use crate::auth::{Principal, RequestId};
use crate::decision::{self, DecisionError, DecisionRequest};

impl From<DecisionError> for ApiError {
    fn from(e: DecisionError) -> Self {
        match e {
            DecisionError::Forbidden(_) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string()),
            DecisionError::NotFound(_) => ApiError::not_found(e.to_string()).field("id"),
            DecisionError::Invalid { field, ref reason } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", reason.clone()).field(field)
            }
            DecisionError::AlreadyDecided(m) => ApiError::new(StatusCode::CONFLICT, "already_decided", m).field("override"),
            DecisionError::Db(e) => e.into(),
            DecisionError::Audit(e) => e.into(),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/analyses/{id}/decision",
    summary = "Decide on an analysis: approve, escalate, file_sar or reject, with a comment. A second decision needs \"override\": true and is recorded as an override (409 otherwise).",
    params(("id" = uuid::Uuid, Path, description = "analysis id")), request_body = crate::decision::DecisionRequest,
    responses((status = 201, description = "the stored decision", body = crate::decision::Decision),
        (status = 404, description = "no such analysis", body = super::error::Body<'static>),
        (status = 409, description = "already decided (send override)", body = super::error::Body<'static>)))]
pub async fn decide(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    rid: Option<Extension<RequestId>>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<DecisionRequest>,
) -> Result<Response, ApiError> {
    let id = ApiError::path_uuid("analysis", &id)?;
    let decision = decision::decide(&state.audit, &principal, rid.as_ref().map(|r| &r.0), id, &req).await?;
    Ok((StatusCode::CREATED, Json(decision)).into_response())
}

#[utoipa::path(get, path = "/api/v1/analyses/{id}/decisions", operation_id = "list_decisions", summary = "The decisions on an analysis, first to latest (the last is in force)",
    params(("id" = uuid::Uuid, Path, description = "analysis id")),
    responses((status = 200, description = "decisions", body = Vec<crate::decision::Decision>),
        (status = 404, description = "no such analysis", body = super::error::Body<'static>)))]
pub async fn list(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = ApiError::path_uuid("analysis", &id)?;
    if state.db.get_analysis(id).await.map_err(|e| ApiError::internal(format!("database: {e}")))?.is_none() {
        return Err(ApiError::not_found(format!("no analysis {id}")).field("id"));
    }
    Ok(Json(decision::decisions(&state.audit, id).await?).into_response())
}
