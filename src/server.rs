//! Owns serving: the one router of the service (the JSON API's routes and the web
//! pages merged, under the API's shared layers) and [`serve`], which runs it on a
//! listener until a shutdown future resolves. `reagent serve` and the in-process test
//! server both call [`serve`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;

use crate::app::App;
use crate::config::Config;
use crate::{api, web};

/// The service's router over `app`: both front doors, each with its own settings from
/// `config`, and the layers every route gets.
pub fn router(app: &Arc<App>, config: &Config) -> Router {
    let api = api::ApiState::new(app.clone(), config.server.clone(), &config.limits);
    let web = web::router(app.clone(), config.web.clone(), api.limits.clone());
    api::layers(api::routes(api.clone()).merge(web), api)
}

/// Serves [`router`] on `listener` until `shutdown` resolves, then lets in-flight
/// requests finish. Refused requests are written to the audit trail, aggregated, every
/// `audit.refusal_interval_seconds` and once more after the last request. This
/// replica's job worker ([`crate::app::jobs::Worker`]) runs meanwhile.
pub async fn serve(
    app: Arc<App>,
    config: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    tracing::info!("listening on http://{}", listener.local_addr()?);
    // The flusher finishes the flush it is in and writes the last counts itself, so no
    // audit write is ever cut off mid-way.
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let refusals = app.clone();
    let flusher = tokio::spawn(async move {
        let mut tick = tokio::time::interval(refusals.refusal_interval());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // the first tick is immediate
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    refusals.flush_refusals().await;
                }
                _ = &mut stopped => break,
            }
        }
        refusals.flush_refusals().await
    });
    let worker = crate::app::jobs::Worker::spawn(app.clone());
    // Connection info gives the rate limiter the client's address.
    let served = axum::serve(listener, router(&app, &config).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await;
    worker.stop().await;
    let _ = stop.send(());
    match flusher.await {
        Ok(0) => {}
        Ok(written) => tracing::info!("wrote {written} aggregated audit entries of refused requests"),
        Err(e) => tracing::error!("the audit flusher failed: {e}"),
    }
    served
}

/// Resolves at SIGINT or SIGTERM: the shutdown of `reagent serve`.
pub async fn shutdown_signal() {
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
