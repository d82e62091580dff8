//! The quality figures (`reagent::monitoring`) against a seeded history: every
//! figure of every day and of the range checked exactly, on SQLite and (when
//! `REAGENT_TEST_POSTGRES_URL` is set) PostgreSQL; the same figures as gauges on
//! `/metrics`, on the dashboard page for the roles that may see it, and in the
//! monthly report written by `reagent report monthly`.

use crate::common;

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use reagent::audit::{Actor, AuditEvent, AuditKind, AuditLog, AuditSettings};
use reagent::auth::Role;
use reagent::db::{AuditedWrite, Database, DatabaseSettings, DecisionRecord};
use reagent::guidance::Analysis;
use reagent::monitoring::{self, DateRange, Figures, Latency, OutcomeCounts, Period, RiskCounts};
use uuid::Uuid;

const TZ: Tz = chrono_tz::America::New_York;

fn local(day: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    TZ.from_local_datetime(&day.and_hms_opt(hour, minute, 0).unwrap()).earliest().unwrap().with_timezone(&Utc)
}

fn plus(day: NaiveDate, n: i64) -> NaiveDate {
    if n >= 0 { day + Days::new(n as u64) } else { day - Days::new(n.unsigned_abs()) }
}

/// An analysis as the pipeline stores it; `actions` are (code, due date).
fn analysis(
    at: DateTime<Utc>,
    risk: &str,
    review: bool,
    generator: &str,
    ms: u64,
    actions: &[(&str, Option<NaiveDate>)],
) -> Analysis {
    let actions: Vec<_> = actions
        .iter()
        .map(|(code, due)| {
            serde_json::json!({
                "code": code, "title": code, "description": "seeded", "citations": [],
                "deadline": due.map(|d| format!("within 30 calendar days of detection (by {d})")),
                "due_on": due,
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({
        "analysis_id": Uuid::new_v4(), "transaction_id": format!("TXN-{}", at.timestamp()),
        "risk_level": risk, "risk_score": 0.5, "requires_review": review, "required_actions": actions,
        "compliance_issues": [], "recommendations": [],
        "generator": { "kind": generator, "model": null, "degraded_reason": null },
        "retrieval": { "queries": [], "filters": { "as_of": null, "jurisdictions": [], "document_types": [], "document_ids": [] }, "chunks": [] },
        "processing_time_ms": ms, "analyzed_at": at, "prompt_version": "test",
    }))
    .unwrap()
}

async fn decide(
    audit: &AuditLog,
    analysis: &Analysis,
    sequence: i64,
    kind: &str,
    at: DateTime<Utc>,
    supersedes: Option<Uuid>,
) -> Uuid {
    let record = DecisionRecord {
        decision_id: Uuid::new_v4(),
        analysis_id: analysis.analysis_id,
        sequence,
        decision: kind.into(),
        comment: "seeded".into(),
        actor_id: "officer".into(),
        actor_name: "Officer".into(),
        actor_role: "compliance_officer".into(),
        decided_at: at,
        supersedes,
        narrative: None,
    };
    let actor = Actor { id: "officer".into(), role: "compliance_officer".into() };
    let event = AuditEvent::new(AuditKind::Decision, "decision.create", actor, record.decision_id.to_string());
    audit.record_with(event, AuditedWrite::decision(&record).unwrap()).await.unwrap();
    record.decision_id
}

/// Seeds the history whose figures are checked below; `d0` is its first day (the
/// checked range is `d0..=d0+3`, in New York time).
///
/// | id | made (local)     | risk   | review | generator | ms   | action (due)           | decisions (local)                       |
/// |----|------------------|--------|--------|-----------|------|------------------------|-----------------------------------------|
/// | A0 | d0−3 10:00       | HIGH   | yes    | llm       | 700  | SAR_REVIEW (d0−2)      | escalate d0+2 14:00 (differs: file_sar) |
/// | A1 | d0 10:00         | LOW    | no     | rules     | 100  | –                      | –                                       |
/// | A2 | d0 22:00         | HIGH   | yes    | llm       | 300  | SAR_REVIEW (d0)        | file_sar d0+2 12:00 (agrees)            |
/// | A3 | d0+1 09:00       | MEDIUM | yes    | rules     | 200  | CTR_FILING (d0+15)     | approve d0+1 15:00 (differs: escalate), then escalate d0+3 10:00 (agrees) |
/// | A4 | d0+1 11:00       | HIGH   | yes    | llm       | 400  | OFAC (d0+2)            | –                                       |
/// | A5 | d0+2 08:00       | LOW    | no     | rules     | 50   | –                      | approve d0+2 09:00 (agrees)             |
/// | A6 | d0+3 23:30       | MEDIUM | yes    | rules     | 1000 | EDD (no due date)      | reject d0+4 10:00 (outside the range)   |
/// | A7 | d0+4 10:00       | HIGH   | yes    | llm       | 9000 | –                      | –                                       |
///
/// A2 is made at 22:00 local, already the next day in UTC: it must count on d0.
/// A0's due date is only in its deadline text (stored before due dates were typed);
/// A4's text names d0+30 but its typed due date d0+2 is the one that counts.
async fn seed(db: &Database, d0: NaiveDate) {
    let audit = AuditLog::new(db.clone(), &AuditSettings { pii_key: "k".repeat(32), ..Default::default() }).unwrap();
    let d = |n: i64| plus(d0, n);
    let a0 = analysis(local(d(-3), 10, 0), "HIGH", true, "llm", 700, &[("SAR_REVIEW", Some(d(-2)))]);
    let a1 = analysis(local(d(0), 10, 0), "LOW", false, "rules", 100, &[]);
    let a2 = analysis(local(d(0), 22, 0), "HIGH", true, "llm", 300, &[("SAR_REVIEW", Some(d(0)))]);
    let a3 = analysis(local(d(1), 9, 0), "MEDIUM", true, "rules", 200, &[("CTR_FILING", Some(d(15)))]);
    let a4 = analysis(local(d(1), 11, 0), "HIGH", true, "llm", 400, &[("OFAC_BLOCK_OR_REJECT", Some(d(2)))]);
    let a5 = analysis(local(d(2), 8, 0), "LOW", false, "rules", 50, &[]);
    let a6 = analysis(local(d(3), 23, 30), "MEDIUM", true, "rules", 1000, &[("ENHANCED_DUE_DILIGENCE", None)]);
    let a7 = analysis(local(d(4), 10, 0), "HIGH", true, "llm", 9000, &[]);
    // A0 was stored before due dates were typed: its date is only in the text.
    let mut a0 = a0;
    a0.required_actions[0].due_on = None;
    // A4's typed date wins over a text that says otherwise.
    let mut a4 = a4;
    a4.required_actions[0].deadline = Some(format!("within 10 business days (by {})", d(30)));
    assert_ne!(a2.analyzed_at.date_naive(), d0, "A2 falls on the next UTC day");
    for a in [&a0, &a1, &a2, &a3, &a4, &a5, &a6, &a7] {
        db.save_analysis(a, &serde_json::json!({})).await.unwrap();
    }
    decide(&audit, &a0, 1, "escalate", local(d(2), 14, 0), None).await;
    decide(&audit, &a2, 1, "file_sar", local(d(2), 12, 0), None).await;
    let first = decide(&audit, &a3, 1, "approve", local(d(1), 15, 0), None).await;
    decide(&audit, &a3, 2, "escalate", local(d(3), 10, 0), Some(first)).await;
    decide(&audit, &a5, 1, "approve", local(d(2), 9, 0), None).await;
    decide(&audit, &a6, 1, "reject", local(d(4), 10, 0), None).await;
}

struct Want {
    risk: (u64, u64, u64),
    review: u64,
    queue: u64,
    overdue: u64,
    /// approve, escalate, file_sar, reject
    decisions: (u64, u64, u64, u64),
    disagreements: u64,
    rules_llm: (u64, u64),
    latency: Option<(u64, u64, u64, u64)>,
}

impl Want {
    fn period(&self) -> Period {
        let analyses = self.risk.0 + self.risk.1 + self.risk.2;
        let n_decisions = self.decisions.0 + self.decisions.1 + self.decisions.2 + self.decisions.3;
        let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
        Period {
            analyses,
            by_risk: RiskCounts { low: self.risk.0, medium: self.risk.1, high: self.risk.2 },
            requiring_review: self.review,
            review_rate: ratio(self.review, analyses),
            queue_size: self.queue,
            overdue: self.overdue,
            decisions: OutcomeCounts {
                approve: self.decisions.0,
                escalate: self.decisions.1,
                file_sar: self.decisions.2,
                reject: self.decisions.3,
            },
            disagreements: self.disagreements,
            override_rate: ratio(self.disagreements, n_decisions),
            rules_answers: self.rules_llm.0,
            llm_answers: self.rules_llm.1,
            rules_share: ratio(self.rules_llm.0, self.rules_llm.0 + self.rules_llm.1),
            latency: self.latency.map(|(n, p50_ms, p95_ms, p99_ms)| Latency { n, p50_ms, p95_ms, p99_ms }),
        }
    }
}

/// The figures of `d0..=d0+3`, worked out by hand from the table of [`seed`].
fn expected_days() -> Vec<Period> {
    vec![
        // d0: A1, A2. Queue at close: A0 (overdue since d0−2), A2 (due d0: not yet overdue).
        Want {
            risk: (1, 0, 1),
            review: 1,
            queue: 2,
            overdue: 1,
            decisions: (0, 0, 0, 0),
            disagreements: 0,
            rules_llm: (1, 1),
            latency: Some((2, 100, 300, 300)),
        },
        // d0+1: A3, A4; A3 approved (recommended: escalate). Queue: A0, A2 (both overdue), A4.
        Want {
            risk: (0, 1, 1),
            review: 2,
            queue: 3,
            overdue: 2,
            decisions: (1, 0, 0, 0),
            disagreements: 1,
            rules_llm: (1, 1),
            latency: Some((2, 200, 400, 400)),
        },
        // d0+2: A5; A2 file_sar (agrees), A5 approve (agrees), A0 escalate (differs). Queue: A4 (due today: not overdue).
        Want {
            risk: (1, 0, 0),
            review: 0,
            queue: 1,
            overdue: 0,
            decisions: (1, 1, 1, 0),
            disagreements: 1,
            rules_llm: (1, 0),
            latency: Some((1, 50, 50, 50)),
        },
        // d0+3: A6; A3 escalated (agrees). Queue: A4 (overdue), A6 (no due date).
        Want {
            risk: (0, 1, 0),
            review: 1,
            queue: 2,
            overdue: 1,
            decisions: (0, 1, 0, 0),
            disagreements: 0,
            rules_llm: (1, 0),
            latency: Some((1, 1000, 1000, 1000)),
        },
    ]
    .iter()
    .map(Want::period)
    .collect()
}

/// The whole range: latencies 50 100 200 300 400 1000 → ranks 3, 6, 6.
fn expected_total() -> Period {
    Want {
        risk: (2, 2, 2),
        review: 4,
        queue: 2,
        overdue: 1,
        decisions: (2, 2, 1, 0),
        disagreements: 2,
        rules_llm: (4, 2),
        latency: Some((6, 200, 1000, 1000)),
    }
    .period()
}

fn d0() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 2).unwrap()
}

async fn check_figures(db: &Database) {
    seed(db, d0()).await;
    let range = DateRange::new(d0(), plus(d0(), 3)).unwrap();
    let figures = Figures::compute(db, range, TZ).await.unwrap();
    assert_eq!(figures.time_zone, "America/New_York");
    let days: Vec<NaiveDate> = figures.days.iter().map(|d| d.day).collect();
    assert_eq!(days, range.days().collect::<Vec<_>>());
    for (i, (got, want)) in figures.days.iter().zip(expected_days()).enumerate() {
        assert_eq!(got.figures, want, "day d0+{i}");
    }
    assert_eq!(figures.total, expected_total());
    assert_eq!(figures.total.override_rate, Some(0.4));

    // A range with nothing in it: zeros and absent rates, never NaN.
    let empty = DateRange::new(plus(d0(), 100), plus(d0(), 101)).unwrap();
    let figures = Figures::compute(db, empty, TZ).await.unwrap();
    assert_eq!(
        figures.total,
        Period { queue_size: 2, overdue: 1, ..Period::default() },
        "nothing made or decided; A4 (overdue) and A7 (no due date) still open"
    );
    for chart in monitoring::chart::charts(&figures) {
        let svg = chart.svg();
        assert!(!svg.contains("NaN"), "{svg}");
    }
}

async fn sqlite_db(dir: &std::path::Path) -> Database {
    let url = format!("sqlite://{}?mode=rwc", dir.join("reagent.db").display());
    Database::open(&DatabaseSettings { url, ..Default::default() }).await.unwrap()
}

#[tokio::test]
async fn figures_match_the_seeded_history_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    check_figures(&sqlite_db(dir.path()).await).await;
}

#[tokio::test]
async fn figures_match_the_seeded_history_on_postgres() {
    let Some(fresh) = common::postgres::fresh_database().await else { return };
    let db = Database::open(&DatabaseSettings { url: fresh.url.clone(), ..Default::default() }).await.unwrap();
    check_figures(&db).await;
}

#[tokio::test]
async fn gauges_charts_and_report_text_carry_the_figures() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_db(dir.path()).await;
    seed(&db, d0()).await;
    let range = DateRange::new(d0(), plus(d0(), 3)).unwrap();
    let figures = Figures::compute(&db, range, TZ).await.unwrap();

    let text = monitoring::prometheus::render(&figures);
    for line in [
        "reagent_review_queue_size 2",
        "reagent_review_overdue 1",
        "reagent_analyses_total{risk=\"LOW\"} 2",
        "reagent_analyses_total{risk=\"HIGH\"} 2",
        "reagent_decisions_total{outcome=\"escalate\"} 2",
        "reagent_decisions_total{outcome=\"reject\"} 0",
        "reagent_override_rate 0.4",
        "reagent_review_rate 0.6666666666666666",
        "reagent_rules_generator_share 0.6666666666666666",
        "reagent_analysis_latency_ms{quantile=\"0.5\"} 200",
        "reagent_analysis_latency_ms{quantile=\"0.99\"} 1000",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    assert!(text.contains("# TYPE reagent_override_rate gauge"));

    let charts = monitoring::chart::charts(&figures);
    assert_eq!(charts.len(), 7);
    let analyses = &charts[0];
    assert_eq!(analyses.table().rows[0], ("2026-11-02".to_string(), vec!["1".to_string(), "0".to_string(), "1".to_string()]));
    let svg = analyses.svg();
    assert_eq!(svg.matches("<rect").count() - 3, 6, "one bar segment per non-zero count, besides 3 legend keys: {svg}");
    assert!(svg.contains("<title>2026-11-02: high 1</title>"), "{svg}");
    let queue = charts.iter().find(|c| c.id == "queue").unwrap();
    assert_eq!(queue.series[1].values, vec![Some(1.0), Some(2.0), Some(0.0), Some(1.0)]);

    let md = monitoring::report::markdown(&figures, &charts, "charts", Utc::now());
    assert!(md.contains("| Override rate | 40.0 % |"), "{md}");
    assert!(md.contains("| Review queue at the close | 2 |"), "{md}");
    assert!(md.contains("![Analyses per day by risk level](charts/analyses.svg)"), "{md}");
    let html = monitoring::report::html(&figures, &charts, Utc::now());
    assert_eq!(html.matches("<svg").count(), 7);
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "self-contained");
}

#[test]
fn monthly_report_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async { seed(&sqlite_db(dir.path()).await, d0()).await });
    std::fs::write(dir.path().join("reagent.toml"), "").unwrap();
    let out_dir = dir.path().join("out");

    let out =
        common::spawned::run(dir.path(), &["report", "monthly", "--month", "2026-13", "--out", out_dir.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2), "a bad month is a usage error");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--month") && stderr.contains("2026-13"), "{stderr}");
    assert!(!out_dir.exists(), "nothing written for a bad month");

    let out =
        common::spawned::run(dir.path(), &["report", "monthly", "--month", "2026-11", "--out", out_dir.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let md = std::fs::read_to_string(out_dir.join("report-2026-11.md")).unwrap();
    // November holds A1..A7 (A0 is in October); A7's analysis and A6's rejection too.
    assert!(md.contains("| Analyses | 7 |"), "{md}");
    assert!(md.contains("| Analyses, high risk | 3 |"), "{md}");
    assert!(md.contains("| Decisions: reject | 1 |"), "{md}");
    // Differing: A3's approve, A0's escalate, A6's reject (recommended: escalate), of 6.
    assert!(md.contains("| Override rate | 50.0 % |"), "{md}");
    assert!(md.contains("## Method"), "{md}");
    let svg = std::fs::read_to_string(out_dir.join("charts-2026-11/latency.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("Analysis latency percentiles") && !svg.contains("NaN"));
    let html = std::fs::read_to_string(out_dir.join("report-2026-11.html")).unwrap();
    assert!(html.contains("<th scope=\"row\">Override rate</th><td>50.0 %</td>"), "{html}");
    assert_eq!(html.matches("<svg").count(), 7);

    let out = common::spawned::run(
        dir.path(),
        &["report", "monthly", "--month", "2026-10", "--out", out_dir.to_str().unwrap(), "--format", "html"],
        &[],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out_dir.join("report-2026-10.html").is_file() && !out_dir.join("report-2026-10.md").exists());
}

/// Signs in through the sign-in form; the session cookie (`name=value`).
async fn session(server: &common::server::TestServer, key: &str) -> String {
    let base = server.url("");
    common::browser::sign_in(&common::browser::client(), &base, key).await.session.expect("signed in")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_page_and_metrics_for_the_roles_that_may_see_them() {
    let server = common::server::start_with(common::Embedding::Hashing, &[common::repo().join("corpus")], |_| {}).await;
    // The history ends today (New York), so the gauges' 30-day window holds all of it but A7.
    let today = Utc::now().with_timezone(&TZ).date_naive();
    let d0 = plus(today, -3);
    seed(&server.db, d0).await;

    // A request first, so the scrape has a route to show the latency histogram of.
    let health = server.client_as(Role::Viewer).get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let metrics = server.client_as(Role::Viewer).get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status().as_u16(), 200);
    let text = metrics.text().await.unwrap();
    // The window holds A0..A6 (the demo seed stores no analyses); A4 and A6 are open, A4 overdue.
    for line in [
        "reagent_review_queue_size 2",
        "reagent_review_overdue 1",
        "reagent_analyses_total{risk=\"HIGH\"} 3",
        "reagent_override_rate 0.4",
        "reagent_analysis_latency_ms{quantile=\"0.5\"} 300",
        "# TYPE reagent_http_request_duration_seconds histogram", // the service's own metrics are still there
    ] {
        assert!(text.lines().any(|l| l.starts_with(line)), "missing {line:?} in\n{text}");
    }

    let c = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = c.get(server.url("/dashboard")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 303, "signed out: to the sign-in page");
    assert!(res.headers()["location"].to_str().unwrap().starts_with("/sign-in"));

    let from = d0.to_string();
    let to = plus(d0, 3).to_string();
    for role in [Role::ComplianceOfficer, Role::Admin] {
        let cookie = session(&server, server.key(role)).await;
        let res = c.get(server.url(&format!("/dashboard?from={from}&to={to}"))).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200, "{role}");
        let html = res.text().await.unwrap();
        assert_eq!(html.matches("<svg").count(), 7, "{role}");
        assert!(html.contains(r#"<th scope="row">Override rate</th><td class="num">40.0 %</td>"#), "{html}");
        assert!(html.contains(r#"<th scope="row">Analyses</th><td class="num">6</td>"#), "{html}");
        assert!(html.contains(r#"href="/dashboard" aria-current="page""#), "the nav marks the page");
        assert!(!html.contains("NaN"));
        let res = c.get(server.url("/dashboard?from=2026-13-01")).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 400);
        assert!(res.text().await.unwrap().contains("from: "), "the message names the field");
        let res = c.get(server.url("/dashboard?from=2020-01-01&to=2026-01-01")).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 400, "a range longer than a year is refused");
    }
    for role in [Role::Viewer, Role::Analyst, Role::PolicyEditor] {
        let cookie = session(&server, server.key(role)).await;
        let res = c.get(server.url("/dashboard")).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 403, "{role}");
        let home = c.get(server.url("/documents")).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
        assert!(!home.contains(r#"href="/dashboard""#), "{role} has no dashboard link");
    }
}
