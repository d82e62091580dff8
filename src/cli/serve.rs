//! `reagent serve`: open the database and store, start the HTTP service.

use std::process::ExitCode;

use anyhow::{Context, Result};
use reagent::config::Config;
use reagent::services::Services;

pub async fn run(config: Config, bind: Option<String>) -> Result<ExitCode> {
    let addr: std::net::SocketAddr = bind
        .as_deref()
        .unwrap_or(&config.server.bind)
        .parse()
        .context("--bind must be an address like 127.0.0.1:8080")?;
    let db = reagent::services::open_database(&config).await.context("opening the database")?;
    let services = Services::start(config).context("starting")?;
    let state = std::sync::Arc::new(services.app_state(db).context("starting the service")?);
    reagent::app::watch_sanctions_lists(&state).await.context("loading the sanctions lists")?;
    // Before the first request: jobs of this host's gone processes are released (or
    // failed), so their state reads right at once; the worker started by `serve` then
    // runs what is queued.
    let failed = state.jobs().recover().await.context("recovering the jobs of stopped processes")?;
    if !failed.is_empty() {
        tracing::warn!("{} job(s) of a stopped server process marked failed", failed.len());
    }
    if state.keys().await?.iter().all(|k| k.revoked_at.is_some()) && !state.jwt_enabled() {
        tracing::warn!("no active API key and no JWT configured: every API call will be refused; create one with `reagent keys create --role admin --name NAME`");
    }
    if !state.llm_configured() {
        tracing::info!("no LLM configured (llm.enabled = false): guidance comes from the rules generator");
    }
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    reagent::server::serve(state, services.config.clone(), listener, reagent::server::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}
