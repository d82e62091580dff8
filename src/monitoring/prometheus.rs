//! Owns the quality figures as Prometheus gauges for `GET /metrics`: the review
//! queue and its overdue part now, and the other figures over the last
//! [`WINDOW_DAYS`] local days including today. Computed on a scrape at most once
//! per [`REFRESH`]; scrapes in between (and concurrent ones, which wait for the one
//! computing) get the cached text, so the database work per scrape is bounded
//! whatever the scrape rate.

use std::fmt::Write;
use std::time::{Duration, Instant};

use chrono_tz::Tz;

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

/// The gauges of `figures` (its total over the range; queue and overdue at its last day's close).
pub fn render(figures: &Figures) -> String {
    let t = &figures.total;
    let window = format!(
        "the last {} days ({} to {}, {})",
        figures.days.len(),
        figures.range.from(),
        figures.range.to(),
        figures.time_zone
    );
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (labels, v) in samples {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    let one = |v: f64| vec![(String::new(), v)];
    let rate = |v: Option<f64>| v.map_or_else(Vec::new, one);
    gauge("reagent_review_queue_size", "Analyses requiring review with no decision yet.", &one(t.queue_size as f64));
    gauge("reagent_review_overdue", "Review queue items past their earliest due date.", &one(t.overdue as f64));
    gauge(
        "reagent_analyses_total",
        &format!("Analyses by risk level in {window}."),
        &[RiskLevel::Low, RiskLevel::Medium, RiskLevel::High]
            .map(|l| (format!("{{risk=\"{}\"}}", risk_label(l)), t.by_risk.get(l) as f64)),
    );
    gauge("reagent_review_rate", &format!("Share of analyses requiring review in {window}."), &rate(t.review_rate));
    gauge(
        "reagent_decisions_total",
        &format!("Decisions by outcome in {window}."),
        &DecisionKind::ALL.map(|k| (format!("{{outcome=\"{}\"}}", k.as_str()), t.decisions.get(k) as f64)),
    );
    gauge(
        "reagent_override_rate",
        &format!("Share of decisions whose outcome differs from the guidance's recommended outcome in {window}."),
        &rate(t.override_rate),
    );
    gauge(
        "reagent_rules_generator_share",
        &format!("Share of analyses answered by the rules generator in {window}."),
        &rate(t.rules_share),
    );
    let latency = t.latency.map_or_else(Vec::new, |l| {
        vec![
            ("{quantile=\"0.5\"}".to_string(), l.p50_ms as f64),
            ("{quantile=\"0.95\"}".to_string(), l.p95_ms as f64),
            ("{quantile=\"0.99\"}".to_string(), l.p99_ms as f64),
        ]
    });
    gauge("reagent_analysis_latency_ms", &format!("Analysis latency percentiles (nearest rank) in {window}."), &latency);
    out
}

fn risk_label(level: RiskLevel) -> &'static str {
    match level {
        RiskLevel::Low => "LOW",
        RiskLevel::Medium => "MEDIUM",
        RiskLevel::High => "HIGH",
    }
}
