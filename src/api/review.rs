//! Owns the review routes: `GET /api/v1/review-queue`, `POST
//! /api/v1/analyses/{id}/assignment` and `GET /api/v1/analyses/{id}/case`
//! (compliance officers, admins). The workflow is `crate::review`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::{ApiError, ApiJson, ApiState};
use crate::auth::{Principal, RequestId};
use crate::review::{AssignRequest, QueueQuery};

pub async fn queue(
    State(state): State<Arc<ApiState>>,
    Extension(principal): Extension<Principal>,
    query: Result<Query<QueueQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_query", e.body_text()))?;
    let queue = state.app.review_queue(&principal, &query).await?;
    Ok(Json(queue).into_response())
}

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

pub async fn case(
    State(state): State<Arc<ApiState>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = ApiError::path_uuid("analysis", &id)?;
    let case = state.app.case(&principal, id).await?;
    Ok(Json(case).into_response())
}

/// The review routes in the OpenAPI document (`x-required-roles` are added from
/// `service::auth::ROUTES` afterwards).
pub(super) fn document(doc: &mut serde_json::Value) {
    use serde_json::json;
    let err = || json!({"$ref": "#/components/responses/Error"});
    let errors = |ok_status: &str, ok: serde_json::Value| {
        let mut r = json!({"400": err(), "401": err(), "403": err(), "404": err(), "409": err(), "422": err(), "503": err()});
        r[ok_status] = ok;
        r
    };
    let id = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}, "description": "analysis id"});
    let q = |name: &str, description: &str| json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}, "description": description});
    doc["paths"]["/api/v1/review-queue"] = json!({"get": {
        "summary": "Analyses that require review and have no decision (the latest analysis of each transaction), earliest due date first, items without one last, then oldest",
        "parameters": [
            q("action", "an action code, e.g. SAR_REVIEW"), q("risk", "LOW, MEDIUM or HIGH"),
            q("assignee", "me, none (unassigned) or an officer's key id"),
            q("from", "due on or after (YYYY-MM-DD)"), q("to", "due on or before (YYYY-MM-DD)"),
            {"name": "limit", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 1, "maximum": crate::db::MAX_QUEUE_PAGE}}],
        "responses": errors("200", json!({"description": "{today, truncated, items: [{analysis_id, transaction_id, customer_name, risk_level, actions, analyzed_at, due_on, days_left, overdue, assignment}]}; days_left counts from today in the institution's time zone"}))
    }});
    doc["paths"]["/api/v1/analyses/{id}/assignment"] = json!({"post": {
        "summary": "Assign an analysis in the queue to an officer (\"me\" or an officer's key id) or unassign it (null); audited as review.assign / review.unassign. 409 when it is decided or needs no review.",
        "parameters": [id],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["assignee"], "additionalProperties": false,
            "properties": {"assignee": {"type": ["string", "null"]}}}}}},
        "responses": errors("200", json!({"description": "{analysis_id, assignment: {assignee_id, assignee_name, assigned_by, assigned_at} | null}"}))
    }});
    doc["paths"]["/api/v1/analyses/{id}/case"] = json!({"get": {
        "summary": "The case view: actions with due dates, the transactions the rules looked at (in_pattern marks those the findings name), a SAR narrative draft (who, what, when, where, why, how; each section cites chunk ids) and, when a CTR is due, a CTR data sheet (FinCEN CTR parts I-III; unknown fields are required_to_complete)",
        "parameters": [id],
        "responses": errors("200", json!({"description": "{analysis_id, transaction_id, today, due_on, days_left, overdue, actions, related_transactions, narrative: {sections, draft, saved}, ctr, decisions}"}))
    }});
}
