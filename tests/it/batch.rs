//! Batch screening (`reagent::batch`, `POST /api/v1/batches`): bad rows reported with
//! line and field and nothing lost, aggregation across rows of one customer-day and
//! across days, the same actions as analysing one by one, idempotent re-runs, CSV
//! and JSON lines, and the upload job with its progress, report and role check.
//! Needs the embedding model (scripts/setup-models.sh); the corpus is the repository's.

use crate::common;

use std::time::Duration;

use reagent::audit::Actor;
use reagent::auth::Role;
use reagent::batch::{self, BatchReport, Format, Options, Rejected};
use reagent_ingest::progress::Silent;

const HEADER: &str = "transaction_id,customer_id,amount,currency,transaction_type,direction,origin_country,destination_country,counterparty_name,timestamp,name,customer_type,risk_rating,kyc_status,is_pep,country";

async fn server() -> common::server::TestServer {
    common::server::start_with(common::Embedding::Hashing, &[common::repo().join("corpus")], |_| {}).await
}

fn options(source: &str) -> Options {
    Options { lookback_days: 30, chunk_size: 7, actor: Actor::cli(), source: source.into() }
}

async fn run(server: &common::server::TestServer, text: &str, format: Format) -> BatchReport {
    server.state.screen_batch(text.as_bytes(), format, &options("test"), &Silent).await.expect("batch runs")
}

/// A CSV row; the customer columns are filled when `with_customer`.
fn csv_row(id: &str, customer: &str, amount: &str, kind: &str, at: &str, with_customer: bool) -> String {
    let customer_cells =
        if with_customer { format!("{customer} Holder,INDIVIDUAL,LOW,COMPLETE,false,US") } else { ",,,,,".to_string() };
    let direction = if kind == "CASH_WITHDRAWAL" { "OUTBOUND" } else { "INBOUND" };
    format!("{id},{customer},{amount},USD,{kind},{direction},US,US,,{at},{customer_cells}")
}

/// The action codes of the latest stored analysis of `id`.
async fn stored_actions(server: &common::server::TestServer, id: &str) -> Vec<String> {
    let analyses = server.db.analyses_for_transaction(id).await.unwrap();
    assert_eq!(analyses.len(), 1, "{id} has exactly one analysis");
    analyses[0].required_actions.iter().map(|a| a.code.as_str().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rows_are_reported_with_line_and_field_and_nothing_else_is_lost() {
    let server = server().await;
    // 40 good rows over 8 customers, with bad rows at known lines.
    let mut lines = vec![HEADER.to_string()];
    let mut good = Vec::new();
    let mut expected: Vec<(u64, &str)> = Vec::new();
    for i in 0..40 {
        let id = format!("G{i:03}");
        let day = 2 + i % 4; // 2026-03-02 (Monday) .. 03-05
        let at = format!("2026-03-0{day}T15:{:02}:00Z", i % 60);
        let first_of_customer = i < 8;
        lines.push(csv_row(&id, &format!("GC{}", i % 8), &format!("{}", 100 + i * 37), "CARD", &at, first_of_customer));
        good.push(id);
        let line = lines.len() as u64 + 1; // the next line's number
        match i {
            5 => {
                lines.push(csv_row("B1", "GC1", "ten", "CARD", "2026-03-02T15:00:00Z", false));
                expected.push((line, "transaction.amount"));
            }
            11 => {
                lines.push(csv_row("B2", "GC1", "50", "BITCOIN", "2026-03-02T15:00:00Z", false));
                expected.push((line, "transaction.transaction_type"));
            }
            17 => {
                lines.push(csv_row("B3", "GC1", "50", "CARD", "2026-03-02T15:00:00Z", false).replace("USD", "usd"));
                expected.push((line, "transaction.currency"));
            }
            23 => {
                lines.push(csv_row("B4", "NOBODY", "50", "CARD", "2026-03-02T15:00:00Z", false));
                expected.push((line, "transaction.customer_id"));
            }
            29 => {
                lines.push(csv_row("G000", "GC0", "50", "CARD", "2026-03-02T15:00:00Z", false));
                expected.push((line, "transaction.transaction_id"));
            }
            35 => {
                lines.push("B6,GC2,50,USD".to_string());
                expected.push((line, "row"));
            }
            _ => {}
        }
    }
    let text = lines.join("\n") + "\n";
    let report = run(&server, &text, Format::Csv).await;
    let got: Vec<(u64, &str)> = report.rejected.iter().map(|r| (r.line, r.field.as_str())).collect();
    assert_eq!(got, expected, "{:#?}", report.rejected);
    assert_eq!((report.rows, report.analysed, report.stored), (46, 40, 40));
    assert_eq!(report.summary(), format!("40 analysed, {} require review, 6 rejected rows, {:.0} per second", report.requires_review, report.per_second));
    // Every good row is stored and analysed once; no bad row left a trace.
    let analysed = server.db.analysed_transactions(&good).await.unwrap();
    assert_eq!(analysed.len(), 40);
    for bad in ["B1", "B2", "B3", "B4", "B6"] {
        assert!(server.db.get_transaction(bad).await.unwrap().is_none(), "{bad} was stored");
    }
    let csv = report.rejected_csv();
    assert!(csv.starts_with("line,field,message\n"), "{csv}");
    assert!(csv.contains(&format!("{},transaction.amount,", expected[0].0)), "{csv}");
    // One audit entry per analysis, and the chain still verifies.
    let verify = reagent::audit::verify(&server.db).await.unwrap();
    assert!(verify.broken.is_none(), "{verify:?}");
    let entries = server.db.audit_page(0, 1000).await.unwrap();
    assert_eq!(entries.iter().filter(|e| e.action == "analysis.create").count(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cash_of_one_customer_day_is_aggregated_across_rows_and_matches_one_by_one_analyses() {
    let server = server().await;
    let customer = |id: &str| {
        format!(r#""customer":{{"customer_id":"{id}","name":"{id} Holder","customer_type":"INDIVIDUAL","risk_rating":"LOW","kyc_status":"COMPLETE","is_pep":false,"country":"US"}}"#)
    };
    let tx = |id: &str, c: &str, amount: u32, at: &str| {
        format!(
            r#"{{"transaction":{{"transaction_id":"{id}","customer_id":"{c}","amount":{amount},"currency":"USD","transaction_type":"CASH_DEPOSIT","direction":"INBOUND","origin_country":"US","destination_country":"US","timestamp":"{at}"}},{}}}"#,
            customer(c)
        )
    };
    // AGG: three deposits on Tuesday 2026-03-10 total $11,000 (> $10,000), none above it alone.
    // LOW: two deposits the same day total $8,000. Rows out of time order on purpose.
    let text = [
        tx("AGG-2", "AGG", 4000, "2026-03-10T17:00:00Z"),
        tx("LOW-1", "LOW", 4000, "2026-03-10T14:00:00Z"),
        tx("AGG-1", "AGG", 4000, "2026-03-10T14:00:00Z"),
        tx("LOW-2", "LOW", 4000, "2026-03-10T15:00:00Z"),
        tx("AGG-3", "AGG", 3000, "2026-03-10T19:00:00Z"),
    ]
    .join("\n");
    let report = run(&server, &text, Format::JsonLines).await;
    assert_eq!(report.rejected, Vec::<Rejected>::new());
    assert_eq!(report.analysed, 5);
    for id in ["AGG-1", "AGG-2", "AGG-3"] {
        assert!(stored_actions(&server, id).await.contains(&"CTR_FILING".to_string()), "{id}");
    }
    for id in ["LOW-1", "LOW-2"] {
        assert!(!stored_actions(&server, id).await.contains(&"CTR_FILING".to_string()), "{id}");
    }
    // The same transactions analysed one by one through the existing path.
    // A fresh analyzer over the same store and rules (no sanctions list is loaded).
    let analyzer = server.services.analyzer().unwrap();
    for id in ["AGG-1", "AGG-2", "AGG-3", "LOW-1", "LOW-2"] {
        let input = server.state.stored_transaction(id).await.unwrap().unwrap();
        let (single, _) = analyzer.analyze(input, None).await.unwrap();
        let batch = server.db.analyses_for_transaction(id).await.unwrap().remove(0);
        let codes = |a: &reagent::guidance::Analysis| a.required_actions.iter().map(|x| x.code).collect::<Vec<_>>();
        assert_eq!(codes(&batch), codes(&single), "{id}");
        assert_eq!((batch.risk_level, batch.requires_review), (single.risk_level, single.requires_review), "{id}");
        assert_eq!(batch.retrieval.queries, single.retrieval.queries, "{id}");
        let chunks = |a: &reagent::guidance::Analysis| a.retrieval.chunks.iter().map(|c| c.chunk_id).collect::<Vec<_>>();
        assert_eq!(chunks(&batch), chunks(&single), "{id}: the cached searches give the same evidence");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn structuring_across_days_is_found_within_the_batch_and_a_rerun_analyses_nothing() {
    let server = server().await;
    // $9,500 cash on Monday and on Tuesday: near-threshold cash on two business days.
    let mut lines = vec![HEADER.to_string()];
    lines.push(csv_row("S-1", "STR", "9500", "CASH_DEPOSIT", "2026-03-09T15:00:00Z", true));
    lines.push(csv_row("S-2", "STR", "9500", "CASH_DEPOSIT", "2026-03-10T15:00:00Z", false));
    lines.push(csv_row("N-1", "ONE", "9500", "CASH_DEPOSIT", "2026-03-10T15:00:00Z", true));
    let text = lines.join("\n");
    let report = run(&server, &text, Format::Csv).await;
    assert_eq!((report.analysed, report.rejected.len()), (3, 0), "{:?}", report.rejected);
    assert!(stored_actions(&server, "S-2").await.contains(&"SAR_REVIEW".to_string()));
    assert!(!stored_actions(&server, "N-1").await.contains(&"SAR_REVIEW".to_string()));
    assert!(report.requires_review >= 1);

    let again = run(&server, &text, Format::Csv).await;
    assert_eq!((again.analysed, again.already_analysed, again.stored), (0, 3, 3));
    for id in ["S-1", "S-2", "N-1"] {
        assert_eq!(server.db.analyses_for_transaction(id).await.unwrap().len(), 1, "{id}");
    }
    // A file with one new row analyses only that one.
    lines.push(csv_row("S-3", "STR", "9400", "CASH_DEPOSIT", "2026-03-11T15:00:00Z", false));
    let third = run(&server, &lines.join("\n"), Format::Csv).await;
    assert_eq!((third.analysed, third.already_analysed), (1, 3));
    assert!(stored_actions(&server, "S-3").await.contains(&"SAR_REVIEW".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_load_from_their_own_file() {
    let server = server().await;
    let db = &server.db;
    let csv = "customer_id,name,customer_type,risk_rating,kyc_status,is_pep,country\nK1,Kay,INDIVIDUAL,HIGH,COMPLETE,true,US\nK2,Kim,ALIEN,LOW,COMPLETE,false,US\n";
    let report = batch::load_customers(db, csv.as_bytes(), Format::Csv).await.unwrap();
    assert_eq!(report.stored, 1);
    assert_eq!(report.rejected.iter().map(|r| (r.line, r.field.as_str())).collect::<Vec<_>>(), vec![(3, "customer.customer_type")]);
    assert!(db.get_customer("K1").await.unwrap().is_some_and(|c| c.is_pep));
    // A transaction row without customer columns uses the stored customer.
    let text = format!("{HEADER}\n{}", csv_row("K1-T", "K1", "20", "CARD", "2026-03-10T15:00:00Z", false));
    assert_eq!(run(&server, &text, Format::Csv).await.analysed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_job_screens_the_file_with_progress_and_a_report_for_roles_that_analyse() {
    let server = server().await;
    let mut lines = vec![HEADER.to_string()];
    for i in 0..30 {
        lines.push(csv_row(&format!("H{i:02}"), &format!("HC{}", i % 3), "120", "CARD", "2026-03-10T15:00:00Z", true));
    }
    lines.push(csv_row("HBAD", "HC0", "-5", "CARD", "2026-03-10T15:00:00Z", false));
    let (content_type, body) = common::multipart::form(&[("day.csv", lines.join("\n").as_bytes())], &[]);
    let post = |role: Role| {
        server
            .client_as(role)
            .post(server.url("/api/v1/batches"))
            .header("content-type", &content_type)
            .body(body.clone())
            .send()
    };
    assert_eq!(post(Role::Viewer).await.unwrap().status(), 403, "a viewer may not analyse");
    let response = post(Role::Analyst).await.unwrap();
    assert_eq!(response.status(), 202);
    let job: serde_json::Value = response.json().await.unwrap();
    assert_eq!(job["kind"], "batch");
    let id = job["job_id"].as_str().unwrap().to_string();
    let client = server.client_as(Role::Analyst);
    let mut view = serde_json::Value::Null;
    for _ in 0..600 {
        view = client.get(server.url(&format!("/api/v1/batches/{id}"))).send().await.unwrap().json().await.unwrap();
        if view["status"] == "succeeded" || view["status"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(view["status"], "succeeded", "{view:#}");
    assert_eq!(view["progress"]["done"], 30);
    assert_eq!(view["progress"]["total"], 30);
    let result = &view["result"];
    assert_eq!(result["analysed"], 30);
    assert_eq!(result["rejected"][0]["line"], 32);
    assert_eq!(result["rejected"][0]["field"], "transaction.amount");
    assert!(result["summary"].as_str().unwrap().starts_with("30 analysed, "), "{result:#}");
    // The batch's view is its own: not an ingestion job, not for a viewer.
    let admin = server.client_as(Role::Admin);
    assert_eq!(admin.get(server.url(&format!("/api/v1/jobs/{id}"))).send().await.unwrap().status(), 404);
    let viewer = server.client_as(Role::Viewer);
    assert_eq!(viewer.get(server.url(&format!("/api/v1/batches/{id}"))).send().await.unwrap().status(), 403);
    // The upload and the run are audited.
    let trail = server.db.audit_for_object(&id, 10).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, vec!["batch.upload", "batch.run"]);
    // A form without a file is refused naming the field.
    let empty = client
        .post(server.url("/api/v1/batches"))
        .header("content-type", "multipart/form-data; boundary=x")
        .body("--x--\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 422);
    let error: serde_json::Value = empty.json().await.unwrap();
    assert_eq!(error["error"]["field"], "file", "{error}");
}

#[test]
fn the_example_files_of_the_readme_parse_as_described() {
    let day = std::fs::read(common::repo().join("examples/batch/day.csv")).unwrap();
    let parsed = batch::parse_transactions(&day, Format::detect("day.csv", &day)).unwrap();
    assert_eq!(parsed.rows.len(), 5);
    let rejected: Vec<(u64, &str)> = parsed.rejected.iter().map(|r| (r.line, r.field.as_str())).collect();
    assert_eq!(rejected, vec![(7, "transaction.amount")]);
    let customers = std::fs::read(common::repo().join("examples/batch/customers.csv")).unwrap();
    let parsed = batch::parse_customers(&customers, Format::Csv).unwrap();
    assert_eq!((parsed.rows.len(), parsed.rejected.len()), (2, 0), "{:?}", parsed.rejected);
}

/// The CLI front door on the README's example files, through the real binary:
/// customers first, then the day; the summary line, exit code 2 and the rejected-rows
/// report naming line 7's amount, and a second run that analyses nothing.
#[test]
fn the_cli_screens_the_example_day_and_a_rerun_analyses_nothing() {
    use common::spawned;
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    spawned::prepare(dir);
    for name in ["customers.csv", "day.csv"] {
        std::fs::copy(common::repo().join("examples/batch").join(name), dir.join(name)).unwrap();
    }
    let text = |out: &std::process::Output| (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());

    let out = spawned::run(dir, &["batch", "customers", dir.join("customers.csv").to_str().unwrap()], &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("2 customers stored, 0 rejected rows"), "{stdout}");

    let report = dir.join("rejected.csv");
    let day = dir.join("day.csv");
    let out = spawned::run(dir, &["batch", "run", day.to_str().unwrap(), "--report", report.to_str().unwrap()], &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "a rejected row: exit 2\n{stdout}{stderr}");
    assert!(stdout.contains("5 analysed, 3 require review, 1 rejected rows"), "{stdout}");
    let rejected = std::fs::read_to_string(&report).expect("the rejected-rows report");
    assert!(rejected.lines().any(|l| l.starts_with("7,") && l.contains("transaction.amount")), "{rejected}");

    let out = spawned::run(dir, &["batch", "run", day.to_str().unwrap(), "--report", report.to_str().unwrap()], &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stdout.contains("0 analysed"), "a re-run analyses nothing: {stdout}");
    assert!(stdout.contains("5 transactions were analysed by an earlier run and skipped"), "{stdout}");
}
