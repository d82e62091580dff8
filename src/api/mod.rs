//! Owns the HTTP service (`reagent serve`): state, routes and handlers. Handlers stay
//! thin: decode and resolve the request, call [`Analyzer`], store, answer.

pub mod audit;
pub mod auth;
pub mod batches;
pub mod decisions;
pub mod documents;
mod error;
pub mod feedback;
pub mod jobs;
pub mod limits;
pub mod metrics;
mod openapi;
pub mod review;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::NaiveDate;
use reagent_ingest::ChunkStore;
use serde::{Deserialize, Serialize};
use tower_http::LatencyUnit;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::analysis::Analyzer;
use crate::db::Database;
use crate::domain::{Customer, RuleInput, Transaction};
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

pub struct AppState {
    pub analyzer: Analyzer,
    pub db: Database,
    pub store: Arc<dyn ChunkStore>,
    pub metrics: Metrics,
    pub settings: ServerSettings,
    pub model_id: String,
    /// Settings of the web interface (`[web]`).
    pub web: crate::web::WebSettings,
    /// Rate, concurrency and time limits (`[limits]`).
    pub limits: Arc<limits::Limits>,
    /// API keys and JWTs → principals (`[auth]`).
    pub auth: Arc<crate::auth::Authenticator>,
    /// The hash-chained audit trail (`[audit]`).
    pub audit: Arc<crate::audit::AuditLog>,
    /// Ingestion jobs started over HTTP.
    pub jobs: Arc<jobs::Jobs>,
    /// The ingest pipeline for `POST /api/v1/documents` (`None`: uploads answer 503).
    pub documents: Option<Arc<documents::DocumentIngest>>,
}

/// `POST /api/v1/analyze` and `/api/v1/ask` accept a stored transaction by id or an
/// inline one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct TransactionRequest {
    pub transaction_id: Option<String>,
    pub transaction: Option<Transaction>,
    pub customer: Option<Customer>,
    #[serde(default)]
    pub recent_transactions: Vec<Transaction>,
    pub question: Option<String>,
    /// `/ask` only: the date whose documents apply when no transaction is given.
    pub as_of: Option<NaiveDate>,
    /// Screen names against the newest sanctions list instead of the one in force
    /// on the transaction's date.
    #[serde(default)]
    pub sanctions_lookback: bool,
}

/// Why [`AppState::analyze_and_record`] failed, by step.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Analyze(#[from] crate::analysis::AnalyzeError),
    /// Storing the analysis with its audit entry (one transaction) failed.
    #[error("storing the analysis failed: {0}")]
    Store(crate::audit::AuditError),
}

impl From<RecordError> for ApiError {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::Analyze(e) => e.into(),
            RecordError::Store(e) => e.into(),
        }
    }
}

impl AppState {
    /// Analyses `input`, records the timings, stores the analysis with `request`, and
    /// audits it: the steps of `POST /api/v1/analyze` and of the web pages' analyses.
    pub async fn analyze_and_record(
        &self,
        input: RuleInput,
        question: Option<String>,
        request: &serde_json::Value,
        actor: crate::audit::Actor,
        request_id: Option<&crate::auth::RequestId>,
    ) -> Result<crate::guidance::Analysis, RecordError> {
        let customer_id = input.customer.customer_id.clone();
        let (analysis, timings) = self.analyzer.analyze(input, question).await?;
        self.metrics.retrieval(timings.retrieval);
        let kind = match analysis.generator.kind {
            crate::guidance::GeneratorKind::Llm => "llm",
            crate::guidance::GeneratorKind::Rules => "rules",
        };
        self.metrics.generation(kind, analysis.generator.degraded_reason.is_some(), timings.generation);
        self.audit
            .record_analysis(actor, request_id, &analysis, request, &customer_id)
            .await
            .map_err(RecordError::Store)?;
        Ok(analysis)
    }

    /// The rule input a request names, if any.
    async fn resolve(&self, req: TransactionRequest) -> Result<Option<RuleInput>, ApiError> {
        let lookback = req.sanctions_lookback;
        let input = match (req.transaction_id, req.transaction, req.customer) {
            (Some(_), Some(_), _) => Err(ApiError::from(crate::domain::ValidationError::new(
                "transaction_id",
                "give either transaction_id or an inline transaction, not both",
            ))),
            (Some(id), None, _) => {
                let input = self
                    .db
                    .transaction_context_in(&id, self.settings.lookback_days, self.analyzer.engine().config().time_zone())
                    .await
                    .map_err(|e| ApiError::internal(format!("database: {e}")))?;
                input.map(Some).ok_or_else(|| ApiError::not_found(format!("no transaction {id:?}")).field("transaction_id"))
            }
            (None, Some(transaction), Some(customer)) => {
                Ok(Some(RuleInput {
                    transaction,
                    customer,
                    recent_transactions: req.recent_transactions,
                    sanctions_lookback: false,
                }))
            }
            (None, Some(_), None) => {
                Err(crate::domain::ValidationError::new("customer", "an inline transaction needs its customer").into())
            }
            (None, None, _) => Ok(None),
        }?;
        Ok(input.map(|i| RuleInput { sanctions_lookback: lookback, ..i }))
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.settings.body_limit_bytes;
    // Uploads may carry several files of up to ingest.max_file_bytes each.
    let upload_limit = state.documents.as_ref().map_or(body_limit, |d| {
        usize::try_from(d.parse.max_file_bytes.saturating_mul(4)).unwrap_or(usize::MAX).max(body_limit)
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
        .route(
            "/api/v1/documents",
            post(documents::upload).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/api/v1/jobs/{id}", get(jobs::get_job))
        .route("/api/v1/batches", post(batches::upload).layer(DefaultBodyLimit::max(upload_limit)))
        .route("/api/v1/batches/{id}", get(batches::get_batch))
        .route("/api/v1/keys", get(auth::list_keys).post(auth::create_key))
        .route("/api/v1/keys/{id}", axum::routing::delete(auth::revoke_key))
        .merge(crate::web::router(state.clone()))
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not take that method")
        })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(limits::layer(state.limits.clone()))
        .layer(middleware::from_fn_with_state(state.clone(), auth::authorize))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
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
        .with_state(state)
}

/// Count and time every request by its route template.
async fn observe(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
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

#[utoipa::path(get, path = "/ready", summary = "Readiness: store, model and database open",
    responses((status = 200, description = "ready"), (status = 503, description = "not ready")))]
async fn ready(State(state): State<Arc<AppState>>) -> Response {
    let store = state.store.count().map_err(|e| e.to_string());
    // A write, not a read: a database that still answers reads can be unable to
    // take a write (a connection stuck holding the write lock), and then every
    // analysis would fail while a read probe said "ok".
    let db = state.db.probe_write().await.map_err(|e| e.to_string());
    let ok = store.is_ok() && db.is_ok();
    let body = serde_json::json!({
        "status": if ok { "ready" } else { "not_ready" },
        "store": match &store { Ok(n) => serde_json::json!({"ok": true, "chunks": n}), Err(e) => serde_json::json!({"ok": false, "error": e}) },
        "database": match &db { Ok(()) => serde_json::json!({"ok": true, "writable": true}), Err(e) => serde_json::json!({"ok": false, "writable": false, "error": e}) },
        "embedding_model": state.model_id,
        "llm_configured": state.analyzer.llm_configured(),
    });
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

#[utoipa::path(get, path = "/metrics", summary = "Prometheus metrics",
    responses((status = 200, description = "text exposition format", body = String, content_type = "text/plain; version=0.0.4")))]
async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    let mut text = state.metrics.render();
    let tz = state.analyzer.engine().config().time_zone();
    match state.metrics.quality.text(&state.db, tz).await {
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
    State(state): State<Arc<AppState>>,
    principal: Option<axum::Extension<crate::auth::Principal>>,
    rid: Option<axum::Extension<crate::auth::RequestId>>,
    ApiJson(req): ApiJson<TransactionRequest>,
) -> Result<Response, ApiError> {
    if req.as_of.is_some() {
        return Err(crate::domain::ValidationError::new("as_of", "only /api/v1/ask takes as_of; analyses use the transaction's date").into());
    }
    let question = req.question.clone();
    let request_json = serde_json::json!({
        "transaction_id": req.transaction_id,
        "inline": req.transaction.is_some(),
        "question": question,
    });
    let input = state
        .resolve(req)
        .await?
        .ok_or_else(|| ApiError::from(crate::domain::ValidationError::new("transaction", "give transaction_id or an inline transaction with its customer")))?;
    let mut stored_request = request_json;
    stored_request["request"] = serde_json::to_value(&input).unwrap_or_default();
    let analysis = state
        .analyze_and_record(input, question, &stored_request, actor(principal.as_deref()), rid.as_deref())
        .await?;
    Ok(Json(analysis).into_response())
}

#[utoipa::path(post, path = "/api/v1/ask", summary = "A free question, optionally about a transaction",
    request_body = TransactionRequest,
    responses((status = 200, description = "answer with citations", body = crate::analysis::Answer),
        (status = 404, description = "no such stored transaction", body = error::Body<'static>)))]
async fn ask(
    State(state): State<Arc<AppState>>,
    principal: Option<axum::Extension<crate::auth::Principal>>,
    rid: Option<axum::Extension<crate::auth::RequestId>>,
    ApiJson(req): ApiJson<TransactionRequest>,
) -> Result<Response, ApiError> {
    let question = req.question.clone().unwrap_or_default();
    let as_of = req.as_of;
    let input = state.resolve(req).await?;
    let customer_id = input.as_ref().map(|i| i.customer.customer_id.clone());
    let answer = state.analyzer.ask(input, question, as_of).await?;
    state
        .audit
        .question_asked(actor(principal.as_deref()), rid.as_deref(), &answer, customer_id.as_deref())
        .await
        .map_err(|e| ApiError::internal(format!("audit entry failed: {e}")))?;
    Ok(Json(answer).into_response())
}

/// Runs `work` in a task of its own and waits for it: a handler whose steps must
/// all happen once the first has (store a record, then audit it) runs them here,
/// so a client hanging up (which drops the handler's future) cannot stop it half-way.
pub(crate) async fn detached<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T, ApiError>> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::spawn(work).await.unwrap_or_else(|e| {
        tracing::error!("a detached request step failed: {e}");
        Err(ApiError::internal("the request failed on our side"))
    })
}

/// The audit actor of a request (anonymous only if a route forgot its table entry).
fn actor(principal: Option<&crate::auth::Principal>) -> crate::audit::Actor {
    principal.map_or_else(crate::audit::Actor::anonymous, crate::audit::Actor::from)
}

#[utoipa::path(get, path = "/api/v1/analyses/{id}", summary = "A stored analysis", params(("id" = uuid::Uuid, Path, description = "analysis id")),
    responses((status = 200, description = "the analysis", body = crate::guidance::Analysis),
        (status = 400, description = "not a UUID", body = error::Body<'static>),
        (status = 404, description = "no such analysis", body = error::Body<'static>)))]
async fn get_analysis(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = ApiError::path_uuid("analysis", &id)?;
    let analysis = state.db.get_analysis(id).await.map_err(|e| ApiError::internal(format!("database: {e}")))?;
    analysis.map(|a| Json(a).into_response()).ok_or_else(|| ApiError::not_found(format!("no analysis {id}")))
}

#[utoipa::path(get, path = "/api/v1/chunks/{id}", summary = "The full text of a cited chunk with its document metadata",
    params(("id" = uuid::Uuid, Path, description = "chunk id")),
    responses((status = 200, description = "the chunk"),
        (status = 400, description = "not a UUID", body = error::Body<'static>),
        (status = 404, description = "no such chunk", body = error::Body<'static>)))]
async fn get_chunk(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = ApiError::path_uuid("chunk", &id)?;
    let store = state.store.clone();
    let record = tokio::task::spawn_blocking(move || store.get(id))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    record.map(|r| Json(r).into_response()).ok_or_else(|| ApiError::not_found(format!("no chunk {id}")))
}

/// Serve until SIGINT/SIGTERM, letting in-flight requests finish. Refused requests are
/// written to the audit trail, aggregated, every `audit.refusal_interval_seconds` and once
/// more after the last request.
pub async fn serve(state: Arc<AppState>, addr: SocketAddr) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    // The flusher finishes the flush it is in and writes the last counts itself, so no
    // audit write is ever cut off mid-way.
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let audit = state.audit.clone();
    let flusher = tokio::spawn(async move {
        let mut tick = tokio::time::interval(audit.refusal_interval());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick is immediate
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    audit.flush_refusals().await;
                }
                _ = &mut stopped => break,
            }
        }
        audit.flush_refusals().await
    });
    // Connection info gives the rate limiter the client's address.
    let served = axum::serve(listener, router(state).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown_signal())
        .await;
    let _ = stop.send(());
    match flusher.await {
        Ok(0) => {}
        Ok(written) => tracing::info!("wrote {written} aggregated audit entries of refused requests"),
        Err(e) => tracing::error!("the audit flusher failed: {e}"),
    }
    served
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// How often a running service looks for sanctions list versions stored since it
/// started (by `reagent sanctions load` in another process).
const SANCTIONS_REFRESH: std::time::Duration = std::time::Duration::from_secs(60);

/// Loads the stored sanctions list versions into the engine, then keeps looking for
/// new ones in the background. A new version's index is built on its first use.
pub async fn watch_sanctions_lists(state: &Arc<AppState>) -> Result<(), crate::db::DbError> {
    let lists = state.analyzer.engine().sanctions().clone();
    state.db.refresh_sanctions(&lists).await?;
    if lists.is_empty() {
        tracing::warn!("no sanctions list loaded (`reagent sanctions load FILE --published DATE`): names are not screened");
    }
    let db = state.db.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SANCTIONS_REFRESH);
        tick.tick().await;
        loop {
            tick.tick().await;
            match db.refresh_sanctions(&lists).await {
                Ok(0) => {}
                Ok(n) => tracing::info!("loaded {n} new sanctions list version(s)"),
                Err(e) => tracing::warn!("refreshing the sanctions lists: {e}"),
            }
        }
    });
    Ok(())
}
