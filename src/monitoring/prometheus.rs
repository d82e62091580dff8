//! Owns the quality figures as Prometheus gauges for `GET /metrics`: the review
//! queue and its overdue part now, and the other figures over the last
//! [`WINDOW_DAYS`] local days including today, set through the `metrics` facade and
//! rendered by the Prometheus exporter. Computed on a scrape at most once
//! per [`REFRESH`]; scrapes in between (and concurrent ones, which wait for the one
//! computing) get the cached text, so the database work per scrape is bounded
//! whatever the scrape rate.

use std::time::{Duration, Instant};

use chrono_tz::Tz;
use metrics::{describe_gauge, gauge};
use metrics_exporter_prometheus::PrometheusBuilder;

use super::{DateRange, Figures, MonitoringError};
use crate::db::Database;
use crate::decision::DecisionKind;
use crate::rules::RiskLevel;

/// Days the windowed gauges cover, today included.
pub const WINDOW_DAYS: u64 = 30;

/// How long computed gauges are served before the next scrape recomputes them.
pub const REFRESH: Duration = Duration::from_secs(60);

/// The cached gauges of the last computation.
#[derive(Default)]
pub struct GaugeCache {
    last: tokio::sync::Mutex<Option<(Instant, String)>>,
}

impl GaugeCache {
    /// The gauges' text, recomputed if older than [`REFRESH`]. A failed computation
    /// is not cached; the caller decides how to show it.
    pub async fn text(
        &self,
        db: &Database,
        tz: Tz,
    ) -> Result<String, MonitoringError> {
        let mut last = self.last.lock().await;
        if let Some((at, text)) = last.as_ref()
            && at.elapsed() < REFRESH
        {
            return Ok(text.clone());
        }
        let today = crate::review::today_in(tz);
        let figures = Figures::compute(db, DateRange::ending(today, WINDOW_DAYS)?, tz).await?;
        let text = render(&figures);
        *last = Some((Instant::now(), text.clone()));
        Ok(text)
    }
}

/// The gauges of `figures` (its total over the range; queue and overdue at its last
/// day's close) in the text exposition format. Each computation gets a recorder of
/// its own, so a figure that has no value now (no decisions: no override rate) is
/// absent from the scrape rather than left at an old value.
pub fn render(figures: &Figures) -> String {
    let t = &figures.total;
    let window = format!(
        "the last {} days ({} to {}, {})",
        figures.days.len(),
        figures.range.from(),
        figures.range.to(),
        figures.time_zone
    );
    let recorder = PrometheusBuilder::new().build_recorder();
    metrics::with_local_recorder(&recorder, || {
        let rate = |name: &'static str, help: String, value: Option<f64>| {
            describe_gauge!(name, help);
            if let Some(v) = value {
                gauge!(name).set(v);
            }
        };
        describe_gauge!("reagent_review_queue_size", "Analyses requiring review with no decision yet.");
        gauge!("reagent_review_queue_size").set(t.queue_size as f64);
        describe_gauge!("reagent_review_overdue", "Review queue items past their earliest due date.");
        gauge!("reagent_review_overdue").set(t.overdue as f64);
        describe_gauge!("reagent_analyses_total", format!("Analyses by risk level in {window}."));
        for level in [RiskLevel::Low, RiskLevel::Medium, RiskLevel::High] {
            gauge!("reagent_analyses_total", "risk" => risk_label(level)).set(t.by_risk.get(level) as f64);
        }
        rate("reagent_review_rate", format!("Share of analyses requiring review in {window}."), t.review_rate);
        describe_gauge!("reagent_decisions_total", format!("Decisions by outcome in {window}."));
        for kind in DecisionKind::ALL {
            gauge!("reagent_decisions_total", "outcome" => kind.as_str()).set(t.decisions.get(kind) as f64);
        }
        rate(
            "reagent_override_rate",
            format!("Share of decisions whose outcome differs from the guidance's recommended outcome in {window}."),
            t.override_rate,
        );
        rate("reagent_rules_generator_share", format!("Share of analyses answered by the rules generator in {window}."), t.rules_share);
        describe_gauge!("reagent_analysis_latency_ms", format!("Analysis latency percentiles (nearest rank) in {window}."));
        if let Some(l) = t.latency {
            for (quantile, ms) in [("0.5", l.p50_ms), ("0.95", l.p95_ms), ("0.99", l.p99_ms)] {
                gauge!("reagent_analysis_latency_ms", "quantile" => quantile).set(ms as f64);
            }
        }
    });
    recorder.handle().render()
}

fn risk_label(level: RiskLevel) -> &'static str {
    match level {
        RiskLevel::Low => "LOW",
        RiskLevel::Medium => "MEDIUM",
        RiskLevel::High => "HIGH",
    }
}
