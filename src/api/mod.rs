//! Owns the JSON API front door: its routes and handlers (decode the request, call
//! the use-case in [`crate::app`], answer), the mapping of [`crate::app::AppError`] to
//! status and JSON body (`error.rs`), and the layers every route of the service gets
//! (authentication and access, limits, request metrics). It never imports the web
//! pages; `crate::server` merges the two.

pub mod audit;
pub mod auth;
pub mod batches;
pub mod decisions;
mod error;
pub mod feedback;
pub mod limits;
pub mod metrics;
mod openapi;
pub mod review;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};
use tower_http::LatencyUnit;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::app::documents::read_form;
use crate::app::jobs::JobKind;
use crate::app::{AnalysisObserver, App, TransactionRequest};
use crate::app::{Principal, RequestId};
pub use error::{ApiError, ApiJson, decode};
use metrics::Metrics;

/// Settings of `reagent serve`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on.
    pub bind: String,
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// Days of a customer's history loaded with a stored transaction.
    pub lookback_days: i64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self { bind: "127.0.0.1:8080".into(), body_limit_bytes: 1024 * 1024, lookback_days: 30 }
    }
}

/// What the API's handlers and middleware share: the use-cases and what only HTTP needs.
pub struct ApiState {
    pub app: Arc<App>,
    pub metrics: Arc<Metrics>,
    pub settings: ServerSettings,
    /// Rate, concurrency and time limits (`[limits]`).
    pub limits: Arc<limits::Limits>,
}

impl ApiState {
    /// The API over `app`; its metrics are told every analysis of the process.
    pub fn new(app: Arc<App>, settings: ServerSettings, limits: &limits::LimitSettings) -> Arc<Self> {
        let metrics = Arc::new(Metrics::default());
        if app.observe(metrics.clone()).is_err() {
            tracing::warn!("the analyses of this process are already observed; the API's metrics miss their timings");
        }
        let limits = Arc::new(limits::Limits::new(limits, app.failure_budgets(limits.auth_failure_burst, limits.auth_failures_per_minute)));
        Arc::new(Self { app, metrics, settings, limits })
    }
}

impl AnalysisObserver for Metrics {
    fn analysed(&self, timings: &crate::app::Timings, generator: crate::guidance::GeneratorKind, degraded: bool) {
        self.retrieval(timings.retrieval);
        let kind = match generator {
            crate::guidance::GeneratorKind::Llm => "llm",
            crate::guidance::GeneratorKind::Rules => "rules",
        };
        self.generation(kind, degraded, timings.generation);
    }
}

/// The API's routes (without the layers every route of the service gets, see [`layers`]).
pub fn routes(state: Arc<ApiState>) -> Router {
    let body_limit = state.settings.body_limit_bytes;
    // Uploads may carry several files of up to ingest.max_file_bytes each.
    let upload_limit = state.app.max_upload_file_bytes().map_or(body_limit, |max| {
        usize::try_from(max.saturating_mul(4)).unwrap_or(usize::MAX).max(body_limit)
    });
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics_text))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/analyze", post(analyze))
        .route("/api/v1/ask", post(ask))
        .route("/api/v1/analyses/{id}", get(get_analysis))
        .route("/api/v1/chunks/{id}", get(get_chunk))
        .route("/api/v1/analyses/{id}/decision", post(decisions::decide))
        .route("/api/v1/analyses/{id}/decisions", get(decisions::list))
        .route("/api/v1/analyses/{id}/feedback", get(feedback::list).post(feedback::submit))
        .route("/api/v1/review-queue", get(review::queue))
        .route("/api/v1/analyses/{id}/assignment", post(review::assign))
        .route("/api/v1/analyses/{id}/case", get(review::case))
        .route("/api/v1/audit", get(audit::trail))
        .route("/api/v1/documents", post(upload_documents).layer(DefaultBodyLimit::max(upload_limit)))
        .route("/api/v1/jobs/{id}", get(get_job))
        .route("/api/v1/batches", post(batches::upload).layer(DefaultBodyLimit::max(upload_limit)))
        .route("/api/v1/batches/{id}", get(batches::get_batch))
        .route("/api/v1/keys", get(auth::list_keys).post(auth::create_key))
        .route("/api/v1/keys/{id}", axum::routing::delete(auth::revoke_key))
        .with_state(state)
}

/// `router` (the API's routes merged with the other front door's) with what every
/// route of the service gets: JSON answers for unknown routes and methods, the body
/// limit, the rate limits, authentication and access (the routes of
/// [`auth::ROUTES`]), and the request metrics.
pub fn layers(router: Router, state: Arc<ApiState>) -> Router {
    router
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take that method")
        })
        .layer(DefaultBodyLimit::max(state.settings.body_limit_bytes))
        .layer(limits::layer(state.limits.clone()))
        .layer(middleware::from_fn_with_state(state.clone(), auth::authorize))
        .layer(middleware::from_fn_with_state(state, observe))
        // One span per request (method, route template, and the request id once
        // `auth::authorize` has settled it), a log line per response with its status
        // and latency; server errors are logged as failures.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str());
                    tracing::info_span!("request", method = %req.method(), route, request_id = tracing::field::Empty)
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO).latency_unit(LatencyUnit::Millis)),
        )
}

/// Count and time every request by its route template.
async fn observe(State(state): State<Arc<ApiState>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched".to_string(), |p| p.as_str().to_string());
    let started = Instant::now();
    let response = next.run(req).await;
    state.metrics.request(&route, response.status().as_u16(), started.elapsed());
    response
}

#[utoipa::path(get, path = "/health", summary = "Liveness", responses((status = 200, description = "alive")))]
async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

// Readiness: the store (`ok`, `backend`, `reachable`, `status` ok | degraded |
// unavailable, `chunks`, and a cluster's `shards` with each copy's peer and state),
// the database (writable), the model. 503 when the store does not serve every chunk
// or the database takes no write.
#[utoipa::path(get, path = "/ready", summary = "Readiness: store, model and database open",
    responses((status = 200, description = "ready"), (status = 503, description = "not ready")))]
async fn ready(State(state): State<Arc<ApiState>>) -> Response {
    let app = &state.app;
    // Ready while the store serves every chunk: a cluster that lost a node but still has
    // an active copy of each shard is `degraded` and ready.
    let health = app.store_health();
    let mut store = serde_json::to_value(&health).unwrap_or_default();
    store["ok"] = health.serves().into();
    // A write, not a read: a database that still answers reads can be unable to
    // take a write (a connection stuck holding the write lock), and then every
    // analysis would fail while a read probe said "ok".
    let db = app.probe_database().await.map_err(|e| e.to_string());
    let ok = health.serves() && db.is_ok();
    let body = serde_json::json!({
        "status": if ok { "ready" } else { "not_ready" },
        "store": store,
        "database": match &db { Ok(()) => serde_json::json!({"ok": true, "writable": true}), Err(e) => serde_json::json!({"ok": false, "writable": false, "error": e}) },
        "embedding_model": app.model_id(),
        "llm_configured": app.llm_configured(),
    });
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

#[utoipa::path(get, path = "/metrics", summary = "Prometheus metrics",
    responses((status = 200, description = "text exposition format", body = String, content_type = "text/plain; version=0.0.4")))]
async fn metrics_text(State(state): State<Arc<ApiState>>) -> Response {
    let mut text = state.metrics.render();
    match state.app.quality_gauges(&state.metrics.quality).await {
        Ok(quality) => text.push_str(&quality),
        // The service's own metrics still answer; the scrape shows the figures are missing.
        Err(e) => tracing::warn!("quality gauges for /metrics: {e}"),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

#[utoipa::path(post, path = "/api/v1/analyze", summary = "Analyze one transaction (stored, by id, or inline)",
    request_body = TransactionRequest,
    responses((status = 200, description = "cited guidance", body = crate::guidance::Analysis),
        (status = 404, description = "no such stored transaction", body = error::Body<'static>)))]
async fn analyze(
    State(state): State<Arc<ApiState>>,
    principal: Option<Extension<Principal>>,
    rid: Option<Extension<RequestId>>,
    ApiJson(req): ApiJson<TransactionRequest>,
) -> Result<Response, ApiError> {
    let analysis = state.app.analyze(req, actor(principal.as_deref()), rid.as_deref()).await?;
    Ok(Json(analysis).into_response())
}

#[utoipa::path(post, path = "/api/v1/ask", summary = "A free question, optionally about a transaction",
    request_body = TransactionRequest,
    responses((status = 200, description = "answer with citations", body = crate::app::Answer),
        (status = 404, description = "no such stored transaction", body = error::Body<'static>)))]
async fn ask(
    State(state): State<Arc<ApiState>>,
    principal: Option<Extension<Principal>>,
    rid: Option<Extension<RequestId>>,
    ApiJson(req): ApiJson<TransactionRequest>,
) -> Result<Response, ApiError> {
    let answer = state.app.ask(req, actor(principal.as_deref()), rid.as_deref()).await?;
    Ok(Json(answer).into_response())
}

/// The audit actor of a request (anonymous only if a route forgot its table entry).
fn actor(principal: Option<&Principal>) -> crate::app::Actor {
    principal.map_or_else(crate::app::Actor::anonymous, crate::app::Actor::from)
}

#[utoipa::path(get, path = "/api/v1/analyses/{id}", summary = "A stored analysis", params(("id" = uuid::Uuid, Path, description = "analysis id")),
    responses((status = 200, description = "the analysis", body = crate::guidance::Analysis),
        (status = 400, description = "not a UUID", body = error::Body<'static>),
        (status = 404, description = "no such analysis", body = error::Body<'static>)))]
async fn get_analysis(State(state): State<Arc<ApiState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = ApiError::path_uuid("analysis", &id)?;
    Ok(Json(state.app.analysis(id).await?).into_response())
}

#[utoipa::path(get, path = "/api/v1/chunks/{id}", summary = "The full text of a cited chunk with its document metadata",
    params(("id" = uuid::Uuid, Path, description = "chunk id")),
    responses((status = 200, description = "the chunk"),
        (status = 400, description = "not a UUID", body = error::Body<'static>),
        (status = 404, description = "no such chunk", body = error::Body<'static>)))]
async fn get_chunk(State(state): State<Arc<ApiState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = ApiError::path_uuid("chunk", &id)?;
    let record = state.app.chunk(id).await?.ok_or_else(|| ApiError::not_found(format!("no chunk {id}")))?;
    Ok(Json(record).into_response())
}

/// The form of an upload route, or 415 when the body is not multipart.
fn multipart_form(form: Result<Multipart, MultipartRejection>) -> Result<Multipart, ApiError> {
    form.map_err(|e| {
        ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", format!("send multipart/form-data: {e}"))
    })
}

/// `POST /api/v1/documents` (admin or policy_editor): the upload form
/// ([`crate::app::documents`]), answered `202` with the ingestion job to poll.
#[utoipa::path(post, path = "/api/v1/documents", operation_id = "upload_documents",
    summary = "Upload documents to ingest (multipart: one or more `file` parts; optional id, title, version, type, jurisdiction, issuer, citation, effective_from, effective_to, replace). Answers 202 with the ingestion job.",
    request_body(content = openapi::DocumentUpload, content_type = "multipart/form-data"),
    responses((status = 202, description = "the job", body = crate::app::jobs::JobView)))]
pub(crate) async fn upload_documents(
    State(state): State<Arc<ApiState>>,
    Extension(principal): Extension<Principal>,
    rid: Option<Extension<RequestId>>,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let form = multipart_form(form)?;
    let max = state.app.max_upload_file_bytes().unwrap_or(0);
    let (files, meta) = read_form(form, max).await?;
    let job = crate::app::documents::start_ingest(&state.app, &principal, rid.as_deref(), files, meta).await?;
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

/// The job `id` of `kind` as a response (404 for another kind: each kind's route
/// answers for its own jobs, under its own permission).
async fn job_response(app: &App, kind: JobKind, id: &str) -> Result<Response, ApiError> {
    let id = ApiError::path_uuid("job", id)?;
    Ok(Json(app.jobs().get_of(kind, id).await?).into_response())
}

/// `GET /api/v1/jobs/{id}`: an ingestion job.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", summary = "An ingestion job: status (queued, running, succeeded, failed), progress, error, result",
    params(("id" = uuid::Uuid, Path, description = "job id")),
    responses((status = 200, description = "the job", body = crate::app::jobs::JobView), (status = 404, description = "no such job", body = error::Body<'static>)))]
pub(crate) async fn get_job(State(state): State<Arc<ApiState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    job_response(&state.app, JobKind::Ingest, &id).await
}
