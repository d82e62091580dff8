//! Owns the citation-feedback routes: `POST /api/v1/analyses/{id}/feedback`
//! (compliance officer, admin) and `GET /api/v1/analyses/{id}/feedback` (readers of
//! analyses), and their OpenAPI entries. The rules are `crate::feedback`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::{ApiError, ApiJson, ApiState};
use crate::auth::{Principal, RequestId};
use crate::feedback::{self, FeedbackRequest, Verdict};
use crate::rules::ActionCode;

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

pub async fn list(State(state): State<Arc<ApiState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = ApiError::path_uuid("analysis", &id)?;
    Ok(Json(state.app.citation_feedback(id).await?).into_response())
}

/// Adds the routes and schemas to the OpenAPI document (before the roles are filled
/// in from `service::auth::ROUTES`).
pub fn document(doc: &mut Value) {
    let err = || json!({"$ref": "#/components/responses/Error"});
    let errors = |ok_status: &str, ok: Value| {
        let mut r = json!({"400": err(), "401": err(), "403": err(), "404": err(), "415": err(), "422": err(), "503": err()});
        r[ok_status] = ok;
        r
    };
    let id = json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}, "description": "analysis id"}]);
    doc["paths"]["/api/v1/analyses/{id}/feedback"] = json!({
        "post": {
            "summary": "Judge a chunk cited for a required action: supports or does_not_support, optionally pointing to a better chunk. A later judgement of the same citation by the same officer replaces the earlier one; every judgement is audited. 422 names the field when the action is not in the analysis, the chunk is not cited for it, or the better chunk is not in the store.",
            "parameters": id.clone(),
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FeedbackRequest"}}}},
            "responses": errors("201", json!({"description": "the judgement in force", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CitationFeedback"}}}}))
        },
        "get": {
            "summary": "Every officer's judgements of the citations of an analysis",
            "parameters": id,
            "responses": errors("200", json!({"description": "judgements by action, chunk and officer", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/CitationFeedback"}}}}}))
        }
    });
    let actions: Vec<&str> = ActionCode::ALL.iter().map(|a| a.as_str()).collect();
    let verdicts: Vec<&str> = Verdict::ALL.iter().map(|v| v.as_str()).collect();
    let schemas = &mut doc["components"]["schemas"];
    schemas["Analysis"]["properties"]["retrieval"]["properties"]["action_queries"] = json!({"type": "array",
        "description": "which of queries was built for each required action (the query of its training pairs); absent in analyses stored before it was recorded",
        "items": {"type": "object", "properties": {"action": {"type": "string", "enum": actions.clone()}, "query": {"type": "integer", "description": "index into queries"}}}});
    schemas["FeedbackRequest"] = json!({"type": "object", "required": ["action", "chunk_id", "verdict"], "additionalProperties": false, "properties": {
        "action": {"type": "string", "enum": actions, "description": "the required action the chunk is cited for"},
        "chunk_id": {"type": "string", "format": "uuid", "description": "a chunk cited for that action in this analysis"},
        "verdict": {"type": "string", "enum": verdicts},
        "better_chunk_id": {"type": ["string", "null"], "format": "uuid", "description": "only with does_not_support: a stored chunk that supports the action"},
        "note": {"type": ["string", "null"], "maxLength": feedback::MAX_NOTE_CHARS}}});
    schemas["CitationFeedback"] = json!({"type": "object", "properties": {
        "feedback_id": {"type": "string", "format": "uuid"}, "analysis_id": {"type": "string", "format": "uuid"},
        "action": {"type": "string", "enum": actions}, "chunk_id": {"type": "string", "format": "uuid"},
        "verdict": {"type": "string", "enum": verdicts}, "better_chunk_id": {"type": ["string", "null"], "format": "uuid"},
        "note": {"type": ["string", "null"]}, "judged_by": {"type": "string"}, "judged_by_name": {"type": "string"},
        "role": {"type": "string"}, "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"}}});
}
