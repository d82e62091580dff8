//! Owns `GET /api/v1/audit?object_id=…` (compliance officer, admin): the audit
//! timeline of one analysis, transaction, decision, key or job, oldest first.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::{ApiError, ApiState};

#[derive(Debug, Deserialize)]
#[derive(utoipa::IntoParams)]
pub struct AuditQuery {
    pub object_id: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/audit", summary = "The audit timeline of one transaction, analysis, decision, key or job",
    params(AuditQuery),
    responses((status = 200, description = "{object_id, events: [{seq, at, kind, action, actor_id, actor_role, request_id, object_id, related_id, outcome, details, hash}]}")))]
pub async fn trail(
    State(state): State<Arc<ApiState>>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    let (object_id, entries) = state.app.audit_timeline(q.object_id.as_deref()).await?;
    let events: Vec<serde_json::Value> = entries
        .into_iter()
        .map(|e| {
            let details = serde_json::from_str::<serde_json::Value>(&e.details).unwrap_or(serde_json::Value::String(e.details.clone()));
            serde_json::json!({
                "seq": e.seq, "at": e.at, "kind": e.kind, "action": e.action,
                "actor_id": e.actor_id, "actor_role": e.actor_role, "request_id": e.request_id,
                "object_id": e.object_id, "related_id": e.related_id, "outcome": e.outcome,
                "details": details, "hash": e.hash,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "object_id": object_id, "events": events })).into_response())
}
