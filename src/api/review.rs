//! Owns the review routes: `GET /api/v1/review-queue`, `POST
//! /api/v1/analyses/{id}/assignment` and `GET /api/v1/analyses/{id}/case`
//! (compliance officers, admins). The workflow is `crate::review`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::{ApiError, ApiJson, ApiState};
use crate::app::{Principal, RequestId};
use crate::app::{AssignRequest, QueueQuery};

#[utoipa::path(get, path = "/api/v1/review-queue",
    summary = "Analyses that require review and have no decision (the latest analysis of each transaction), earliest due date first, items without one last, then oldest",
    params(crate::app::QueueQuery),
    responses((status = 200, description = "{today, truncated, items: [{analysis_id, transaction_id, customer_name, risk_level, actions, analyzed_at, due_on, days_left, overdue, assignment}]}; days_left counts from today in the institution's time zone")))]
pub async fn queue(
    State(state): State<Arc<ApiState>>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<QueueQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_query", e.body_text()))?;
    let queue = state.app.review_queue(&principal, &query).await?;
    Ok(Json(queue).into_response())
}

#[utoipa::path(post, path = "/api/v1/analyses/{id}/assignment",
    summary = "Assign an analysis in the queue to an officer (\"me\" or an officer's key id) or unassign it (null); audited as review.assign / review.unassign. 409 when it is decided or needs no review.",
    params(("id" = uuid::Uuid, Path, description = "analysis id")), request_body = crate::app::AssignRequest,
    responses((status = 200, description = "{analysis_id, assignment: {assignee_id, assignee_name, assigned_by, assigned_at} | null}"),
        (status = 404, description = "no such analysis", body = super::error::Body<'static>),
        (status = 409, description = "decided, or needs no review", body = super::error::Body<'static>)))]
pub async fn assign(
    State(state): State<Arc<ApiState>>,
    Extension(principal): Extension<Principal>,
    rid: Option<Extension<RequestId>>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<AssignRequest>,
) -> Result<Response, ApiError> {
    let id = ApiError::path_uuid("analysis", &id)?;
    let assignment = state.app.assign(&principal, rid.as_deref(), id, &req).await?;
    Ok(Json(serde_json::json!({ "analysis_id": id, "assignment": assignment })).into_response())
}

#[utoipa::path(get, path = "/api/v1/analyses/{id}/case",
    summary = "The case view: actions with due dates, the transactions the rules looked at (in_pattern marks those the findings name), a SAR narrative draft (who, what, when, where, why, how; each section cites chunk ids) and, when a CTR is due, a CTR data sheet (FinCEN CTR parts I-III; unknown fields are required_to_complete)",
    params(("id" = uuid::Uuid, Path, description = "analysis id")),
    responses((status = 200, description = "{analysis_id, transaction_id, today, due_on, days_left, overdue, actions, related_transactions, narrative: {sections, draft, saved}, ctr, decisions}"),
        (status = 404, description = "no such analysis", body = super::error::Body<'static>)))]
pub async fn case(
    State(state): State<Arc<ApiState>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = ApiError::path_uuid("analysis", &id)?;
    let case = state.app.case(&principal, id).await?;
    Ok(Json(case).into_response())
}

