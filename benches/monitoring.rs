//! Cost of the quality figures (`reagent::monitoring`) on a generated history in a
//! SQLite file: N analyses spread over the 29 days before now (New York days), a tenth
//! requiring review, half of those decided; then the median time of computing the
//! dashboard's 30-day figures, a whole year's, and the `/metrics` gauges.
//!
//! `cargo bench --bench monitoring [-- --analyses N]` (default 50,000). Prints
//! figures; checks only that every analysis was counted. The stored analyses carry no citations, so real ones
//! (larger JSON) make the queue and decision reads somewhat slower.

use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate, Utc};
use reagent::audit::{Actor, AuditEvent, AuditKind, AuditLog, AuditSettings};
use reagent::db::{AuditedWrite, Database, DatabaseSettings, DecisionRecord, TimeBucket};
use reagent::guidance::Analysis;
use reagent::monitoring::{DateRange, Figures, day_start, prometheus};
use uuid::Uuid;

const RUNS: usize = 5;

fn analysis(i: usize, at: chrono::DateTime<Utc>, review: bool, due: NaiveDate) -> Analysis {
    let risk = ["LOW", "MEDIUM", "HIGH"][i % 3];
    let actions = if review {
        serde_json::json!([{ "code": "SAR_REVIEW", "title": "t", "description": "d", "deadline": null, "citations": [], "due_on": due }])
    } else {
        serde_json::json!([])
    };
    serde_json::from_value(serde_json::json!({
        "analysis_id": Uuid::new_v4(), "transaction_id": format!("B{i}"),
        "risk_level": risk, "risk_score": 0.5, "requires_review": review, "required_actions": actions,
        "compliance_issues": [], "recommendations": [],
        "generator": { "kind": if i % 4 == 0 { "llm" } else { "rules" }, "model": null, "degraded_reason": null },
        "retrieval": { "queries": [], "filters": { "as_of": null, "jurisdictions": [], "document_types": [], "document_ids": [] }, "chunks": [] },
        "processing_time_ms": 20 + (i * 7919) % 900, "analyzed_at": at, "prompt_version": "bench",
    }))
    .expect("a valid analysis")
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.iter().position(|a| a == "--analyses").and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(50_000);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display());
    let db = Database::open(&DatabaseSettings { url, ..Default::default() }).await.expect("the database");
    let audit = AuditLog::new(db.clone(), &AuditSettings { pii_key: "k".repeat(32), ..Default::default() }).expect("the audit log");
    let tz = chrono_tz::America::New_York;
    let today = Utc::now().with_timezone(&tz).date_naive();

    let started = Instant::now();
    let span = Duration::from_secs(29 * 86_400);
    let (mut n_review, mut n_decided) = (0, 0);
    for i in 0..n {
        let at = Utc::now() - span + span.mul_f64(i as f64 / n as f64);
        let review = i % 10 == 0;
        let a = analysis(i, at, review, at.date_naive() + Days::new(10));
        db.save_analysis(&a, &serde_json::json!({})).await.expect("stored");
        if review {
            n_review += 1;
            if i % 20 == 0 {
                n_decided += 1;
                let record = DecisionRecord {
                    decision_id: Uuid::new_v4(),
                    analysis_id: a.analysis_id,
                    sequence: 1,
                    decision: ["approve", "escalate", "file_sar"][i % 3].into(),
                    comment: "bench".into(),
                    actor_id: "officer".into(),
                    actor_name: "Officer".into(),
                    actor_role: "compliance_officer".into(),
                    decided_at: at + chrono::Duration::hours(30),
                    supersedes: None,
                    narrative: None,
                };
                let event = AuditEvent::new(AuditKind::Decision, "decision.create", Actor { id: "officer".into(), role: "compliance_officer".into() }, record.decision_id.to_string());
                audit.record_with(event, AuditedWrite::decision(&record).expect("a decision")).await.expect("decided");
            }
        }
    }
    println!("seeded {n} analyses ({n_review} requiring review, {n_decided} decided) over 29 days in {:.1} s", started.elapsed().as_secs_f64());

    for (label, days) in [("dashboard, 30 days", 30), ("whole year, 366 days", 366)] {
        let range = DateRange::ending(today, days).expect("a range");
        let mut times = Vec::new();
        for _ in 0..RUNS {
            let t = Instant::now();
            let figures = Figures::compute(&db, range, tz).await.expect("figures");
            times.push(t.elapsed());
            assert_eq!(figures.total.analyses as usize, n);
        }
        println!("{label}: median {:.1} ms over {RUNS} runs", median(times).as_secs_f64() * 1000.0);
    }
    // Each read of the 30-day figures on its own.
    let range = DateRange::ending(today, 30).expect("a range");
    let starts: Vec<_> = range.days().map(|d| day_start(tz, d)).collect();
    let end = day_start(tz, today + Days::new(1));
    let buckets: Vec<TimeBucket> =
        starts.iter().enumerate().map(|(i, s)| TimeBucket { start: *s, end: starts.get(i + 1).copied().unwrap_or(end) }).collect();
    let whole = [TimeBucket { start: starts[0], end }];
    let time = |label: &str, elapsed: Duration| println!("  {label}: {:.1} ms", elapsed.as_secs_f64() * 1000.0);
    let t = Instant::now();
    db.analysis_counts(&buckets).await.expect("counts");
    time("analysis counts per day", t.elapsed());
    let t = Instant::now();
    db.latency_percentiles(&buckets).await.expect("latency");
    time("latency percentiles per day", t.elapsed());
    let t = Instant::now();
    db.latency_percentiles(&whole).await.expect("latency");
    time("latency percentiles of the range", t.elapsed());
    let t = Instant::now();
    db.decisions_in(&buckets).await.expect("decisions");
    time("decisions per day", t.elapsed());
    let t = Instant::now();
    db.open_review_items(starts[0], end, 50_000).await.expect("queue");
    time("open review items", t.elapsed());

    let mut times = Vec::new();
    for _ in 0..RUNS {
        let cache = prometheus::GaugeCache::default();
        let t = Instant::now();
        cache.text(&db, tz).await.expect("gauges");
        times.push(t.elapsed());
    }
    println!("/metrics gauges, uncached: median {:.1} ms over {RUNS} runs (then served from cache for {} s)", median(times).as_secs_f64() * 1000.0, prometheus::REFRESH.as_secs());
}
