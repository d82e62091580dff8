//! Owns the decision routes: `POST /api/v1/analyses/{id}/decision` (compliance
//! officer, admin) and `GET /api/v1/analyses/{id}/decisions`. The workflow itself
//! is `crate::decision`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::{ApiError, ApiJson, ApiState};
use crate::auth::{Principal, RequestId};
use crate::decision::DecisionRequest;

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

pub async fn list(State(state): State<Arc<ApiState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = ApiError::path_uuid("analysis", &id)?;
    Ok(Json(state.app.decisions(id).await?).into_response())
}
