//! Owns access control on the HTTP API: the one table that says which
//! [`Permission`] each API route needs ([`ROUTES`]), the middleware that
//! authenticates the caller (after the per-address budget of failed authentications in
//! `service::limits`), checks that permission, counts refusals for the aggregated audit
//! entries (`audit::refusals`) and puts the
//! [`Principal`] and [`RequestId`] into the request's extensions, and the API-key
//! routes (`/api/v1/keys`, admin only).
//!
//! Scope: `/api/…` and `/metrics`. `/health` and `/ready` are public; the web
//! pages (`crate::web`) authenticate with their own sessions. An `/api/` route
//! missing from [`ROUTES`] needs [`Permission::ManageKeys`] (admin): forgetting an
//! entry denies rather than opens.
//!
//! Credentials: `Authorization: Bearer <key or JWT>` or `X-API-Key: <key>`.

use std::sync::Arc;

use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::{ApiError, ApiJson, ApiState};
use crate::app::{Actor, AuthError, Permission, Principal, Refusal, RequestId, Role};

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    Needs(Permission),
}

/// Every API route (method, path template as registered) and what it needs. The
/// OpenAPI document's `x-required-roles` are generated from this table (`api::openapi`).
pub const ROUTES: &[(&str, &str, Access)] = &[
    ("GET", "/health", Access::Public),
    ("GET", "/ready", Access::Public),
    ("GET", "/metrics", Access::Needs(Permission::Authenticated)),
    ("GET", "/api/v1/openapi.json", Access::Needs(Permission::Authenticated)),
    ("POST", "/api/v1/analyze", Access::Needs(Permission::Analyze)),
    ("POST", "/api/v1/ask", Access::Needs(Permission::Analyze)),
    ("GET", "/api/v1/analyses/{id}", Access::Needs(Permission::ReadAnalyses)),
    ("GET", "/api/v1/analyses/{id}/decisions", Access::Needs(Permission::ReadAnalyses)),
    ("POST", "/api/v1/analyses/{id}/decision", Access::Needs(Permission::Decide)),
    ("GET", "/api/v1/analyses/{id}/feedback", Access::Needs(Permission::ReadAnalyses)),
    ("POST", "/api/v1/analyses/{id}/feedback", Access::Needs(Permission::Decide)),
    ("GET", "/api/v1/chunks/{id}", Access::Needs(Permission::ReadAnalyses)),
    ("GET", "/api/v1/review-queue", Access::Needs(Permission::Decide)),
    ("POST", "/api/v1/analyses/{id}/assignment", Access::Needs(Permission::Decide)),
    ("GET", "/api/v1/analyses/{id}/case", Access::Needs(Permission::Decide)),
    ("GET", "/api/v1/audit", Access::Needs(Permission::ReadAudit)),
    ("POST", "/api/v1/documents", Access::Needs(Permission::UploadDocuments)),
    ("GET", "/api/v1/jobs/{id}", Access::Needs(Permission::UploadDocuments)),
    ("POST", "/api/v1/batches", Access::Needs(Permission::Analyze)),
    ("GET", "/api/v1/batches/{id}", Access::Needs(Permission::Analyze)),
    ("GET", "/api/v1/keys", Access::Needs(Permission::ManageKeys)),
    ("POST", "/api/v1/keys", Access::Needs(Permission::ManageKeys)),
    ("DELETE", "/api/v1/keys/{id}", Access::Needs(Permission::ManageKeys)),
];

/// What `method path` needs; `None` for paths outside the API (the web pages).
pub fn access(method: &Method, path: &str) -> Option<Access> {
    if let Some((_, _, a)) = ROUTES.iter().find(|(m, p, _)| *p == path && *m == method.as_str()) {
        return Some(*a);
    }
    if path.starts_with("/api/") || path == "/metrics" {
        return Some(Access::Needs(Permission::ManageKeys));
    }
    None
}

/// The credential a request carries, if any.
fn credential(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if let Some((scheme, token)) = v.split_once(' ')
            && scheme.eq_ignore_ascii_case("bearer")
        {
            return Some(token.trim().to_string());
        }
        return Some(String::new()); // another scheme: treated as invalid, not missing
    }
    headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(|v| v.trim().to_string())
}

/// The caller's request id if it is sane (≤ 128 visible ASCII characters), else a new one.
fn request_id(headers: &HeaderMap) -> RequestId {
    let given = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()));
    RequestId(given.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_string))
}

/// The middleware (see the module doc). A caller whose address has spent its budget of
/// failed authentications (`limits.auth_failure_burst`) is answered 429 before its
/// credential is looked at, unless that credential is an API key verified moments ago.
/// Refusals are counted for the aggregated audit entries, not written one by one.
pub async fn authorize(State(state): State<Arc<ApiState>>, mut req: Request, next: Next) -> Response {
    let rid = request_id(req.headers());
    // What the handlers log (internal failures above all) names the request: the
    // trace layer's span (see `api::layers`) carries the id from here on.
    tracing::Span::current().record("request_id", rid.0.as_str());
    req.extensions_mut().insert(rid.clone());
    let path = req.extensions().get::<MatchedPath>().map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string());
    let method = req.method().clone();
    let needed = access(&method, &path);
    let response = match needed {
        None | Some(Access::Public) => next.run(req).await,
        Some(Access::Needs(permission)) => {
            let source = super::limits::client_source(req.extensions());
            let refusal = |action: &'static str, outcome: &'static str, actor: Actor, status: StatusCode, reason: String| Refusal {
                source: source.clone().unwrap_or_else(|| "ip:unknown".into()),
                action,
                outcome,
                actor,
                route: format!("{method} {path}"),
                status: status.as_u16(),
                reason,
                request_id: rid.0.clone(),
            };
            // The budget is for credentials that cost a lookup; a key verified moments
            // ago keeps working from an address that a flood shares.
            // Only a 401 spends a token of the budget (`AuthAttempt::failed`); a valid
            // key or a client that hung up before the check finished costs nothing.
            let attempt = match &source {
                Some(source) if !credential(req.headers()).is_some_and(|c| state.app.is_verified(&c)) => {
                    match state.limits.reserve_auth_attempt(source, chrono::Utc::now()).await {
                        Ok(attempt) => Some(attempt),
                        Err(wait) => {
                            let reason = "too many failed authentications from this address".to_string();
                            state.app.count_refusal(refusal("auth.throttled", "throttled", Actor::anonymous(), StatusCode::TOO_MANY_REQUESTS, reason));
                            let error = ApiError::new(
                                StatusCode::TOO_MANY_REQUESTS,
                                "too_many_failed_authentications",
                                "too many failed authentications from this address; retry later",
                            );
                            return with_request_id(super::limits::retry_after(error.into_response(), wait), &rid);
                        }
                    }
                }
                _ => None,
            };
            match check(&state, req.headers(), permission).await {
                Ok(principal) => {
                    req.extensions_mut().insert(principal);
                    next.run(req).await
                }
                Err((error, actor, why)) => {
                    // Only a credential that did not authenticate spends the budget.
                    if let Some(attempt) = attempt
                        && error.status == StatusCode::UNAUTHORIZED
                    {
                        attempt.failed().await;
                    }
                    let (action, outcome) = if error.status == StatusCode::FORBIDDEN {
                        ("auth.forbidden", "denied")
                    } else {
                        ("auth.unauthenticated", "rejected")
                    };
                    state.app.count_refusal(refusal(action, outcome, actor, error.status, why));
                    let mut response = error.into_response();
                    if response.status() == StatusCode::UNAUTHORIZED {
                        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                    }
                    response
                }
            }
        }
    };
    with_request_id(response, &rid)
}

fn with_request_id(mut response: Response, rid: &RequestId) -> Response {
    if let Ok(v) = HeaderValue::from_str(&rid.0) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

type Denial = (ApiError, Actor, String);

async fn check(state: &ApiState, headers: &HeaderMap, permission: Permission) -> Result<Principal, Denial> {
    let unauthorized = |message: String, why: String| {
        (ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message), Actor::anonymous(), why)
    };
    let Some(credential) = credential(headers) else {
        return Err(unauthorized(AuthError::Missing.to_string(), "no credential".into()));
    };
    let principal = match state.app.authenticate(&credential).await {
        Ok(p) => p,
        Err(AuthError::Missing) => return Err(unauthorized(AuthError::Missing.to_string(), "empty credential".into())),
        Err(AuthError::Invalid(why)) => return Err(unauthorized("invalid credentials".into(), why)),
        Err(e) => {
            tracing::error!("authentication failed: {e}");
            return Err((ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "authentication is unavailable"), Actor::anonymous(), e.to_string()));
        }
    };
    if !principal.role.allows(permission) {
        let roles: Vec<&str> = permission.roles().into_iter().map(Role::as_str).collect();
        let message = format!("role {} may not do this; it needs one of: {}", principal.role, roles.join(", "));
        return Err((ApiError::new(StatusCode::FORBIDDEN, "forbidden", message), Actor::from(&principal), "role".into()));
    }
    Ok(principal)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct CreateKeyRequest {
    pub name: String,
    pub role: Role,
}

#[utoipa::path(get, path = "/api/v1/keys", summary = "Every API key (never the secret)", responses((status = 200, description = "keys")))]
pub async fn list_keys(State(state): State<Arc<ApiState>>) -> Result<Response, ApiError> {
    Ok(Json(state.app.keys().await?).into_response())
}

#[utoipa::path(post, path = "/api/v1/keys", summary = "Create an API key; the answer is the only time the key is shown",
    request_body = CreateKeyRequest, responses((status = 201, description = "{key_id, name, role, created_at, key}")))]
pub async fn create_key(
    State(state): State<Arc<ApiState>>,
    Extension(principal): Extension<Principal>,
    rid: Option<Extension<RequestId>>,
    ApiJson(req): ApiJson<CreateKeyRequest>,
) -> Result<Response, ApiError> {
    let created = state.app.create_key(&principal, rid.as_deref(), req.name, req.role).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[utoipa::path(delete, path = "/api/v1/keys/{id}", summary = "Revoke an API key", params(("id" = String, Path, description = "key id")),
    responses((status = 200, description = "the revoked key"), (status = 404, description = "no such key", body = super::error::Body<'static>)))]
pub async fn revoke_key(
    State(state): State<Arc<ApiState>>,
    Extension(principal): Extension<Principal>,
    rid: Option<Extension<RequestId>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.app.revoke_key(&principal, rid.as_deref(), id).await?).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlisted_api_routes_need_admin_and_pages_are_out_of_scope() {
        assert_eq!(access(&Method::GET, "/health"), Some(Access::Public));
        assert_eq!(access(&Method::POST, "/api/v1/analyze"), Some(Access::Needs(Permission::Analyze)));
        assert_eq!(access(&Method::GET, "/api/v1/analyze"), Some(Access::Needs(Permission::ManageKeys)));
        assert_eq!(access(&Method::GET, "/api/v2/new"), Some(Access::Needs(Permission::ManageKeys)));
        assert_eq!(access(&Method::GET, "/transactions"), None);
    }

    #[test]
    fn credentials_from_either_header() {
        let mut h = HeaderMap::new();
        assert_eq!(credential(&h), None);
        h.insert("x-api-key", HeaderValue::from_static(" rk_a_b "));
        assert_eq!(credential(&h).as_deref(), Some("rk_a_b"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer tok"));
        assert_eq!(credential(&h).as_deref(), Some("tok"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic dXNlcg=="));
        assert_eq!(credential(&h).as_deref(), Some(""));
    }
}
