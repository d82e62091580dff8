//! Batch screening throughput (`reagent::batch::run`) with the rules generator: a
//! seeded file of transactions over customers (card and ACH payments, cash near the
//! CTR threshold, customers structuring across days, wires of $3,000 and more, a few
//! to sanctioned countries) screened end to end: parse, store, history, rules,
//! retrieval over the demo corpus, analyses and audit entries written. SQLite, and
//! PostgreSQL too when `REAGENT_TEST_POSTGRES_URL` names a server (a fresh database
//! is made there and dropped).
//!
//! `cargo bench --bench batch [-- --transactions 100000 --customers 5000]`. Prints figures.

#[path = "../tests/it/common/mod.rs"]
mod common;

use reagent::audit::{Actor, AuditLog, AuditSettings};
use reagent::batch::{self, BatchReport, Format, Options};
use reagent::db::{Database, DatabaseSettings};
use reagent_ingest::progress::Silent;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[path = "common/rng.rs"]
#[allow(dead_code)]
mod rng;
use rng::Rng;

const HEADER: &str = "transaction_id,customer_id,amount,currency,transaction_type,direction,origin_country,destination_country,counterparty_name,timestamp,name,customer_type,risk_rating,kyc_status,is_pep,country";

/// The business days of March 2026 (no federal holiday in it).
fn days() -> Vec<String> {
    (2..=31)
        .filter_map(|d| chrono::NaiveDate::from_ymd_opt(2026, 3, d))
        .filter(|d| chrono::Datelike::weekday(d).num_days_from_monday() < 5)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .collect()
}

/// A CSV file of `n` transactions over `customers` customers; each customer's first
/// row carries the customer columns.
fn generate(n: u64, customers: u64) -> String {
    let mut rng = Rng(0x5eed_ba7c_4a11_0001);
    let days = days();
    let mut seen = vec![false; customers as usize];
    let mut out = String::with_capacity(n as usize * 160);
    out.push_str(HEADER);
    out.push('\n');
    for i in 0..n {
        let c = rng.below_u64(customers);
        // One customer in a hundred deposits just under $10,000 cash on many days.
        let structuring = c % 100 == 7;
        let roll = rng.below_u64(1000);
        let (kind, direction, amount, destination) = if structuring && roll < 600 {
            ("CASH_DEPOSIT", "INBOUND", 8_000 + rng.below_u64(1_900), "US")
        } else {
            match roll {
                0..=449 => ("CARD", "OUTBOUND", 5 + rng.below_u64(400), "US"),
                450..=599 => ("ACH", "INBOUND", 200 + rng.below_u64(4_000), "US"),
                600..=699 => ("CASH_DEPOSIT", "INBOUND", 100 + rng.below_u64(6_000), "US"),
                700..=739 => ("CASH_DEPOSIT", "INBOUND", 7_000 + rng.below_u64(5_000), "US"),
                740..=789 => ("CASH_WITHDRAWAL", "OUTBOUND", 100 + rng.below_u64(4_000), "US"),
                790..=869 => ("WIRE", "OUTBOUND", 3_000 + rng.below_u64(60_000), ["US", "GB", "DE", "MX", "CA"][rng.below_u64(5) as usize]),
                870..=874 => ("WIRE", "OUTBOUND", 3_000 + rng.below_u64(20_000), ["IR", "KP", "SY", "CU"][rng.below_u64(4) as usize]),
                875..=949 => ("CHECK", "INBOUND", 50 + rng.below_u64(3_000), "US"),
                _ => ("INTERNAL", "OUTBOUND", 20 + rng.below_u64(2_000), "US"),
            }
        };
        let cents = rng.below_u64(100);
        let day = &days[rng.below_u64(days.len() as u64) as usize];
        let (hour, minute) = (13 + rng.below_u64(8), rng.below_u64(60)); // 09:00–16:59 in New York
        let counterparty = if kind == "WIRE" { format!("Counterparty {}", rng.below_u64(500)) } else { String::new() };
        let customer_cells = if std::mem::replace(&mut seen[c as usize], true) {
            ",,,,,".to_string()
        } else {
            let (kind, rating) = if c % 10 == 0 { ("BUSINESS", "MEDIUM") } else { ("INDIVIDUAL", "LOW") };
            format!("Customer {c},{kind},{rating},COMPLETE,false,US")
        };
        out.push_str(&format!(
            "BT{i:07},BC{c:05},{amount}.{cents:02},USD,{kind},{direction},US,{destination},{counterparty},{day}T{hour:02}:{minute:02}:00Z,{customer_cells}\n"
        ));
    }
    out
}

fn print(backend: &str, report: &BatchReport, rerun: &BatchReport) {
    let share = |part: f64| 100.0 * part / report.analysis_seconds.max(1e-9);
    println!("== batch screening on {backend}: {} rows, rules generator", report.rows);
    println!("{}", report.summary());
    println!("wall                      {:.1} s ({:.0} transactions/s end to end)", report.seconds, report.per_second);
    println!("parse, store rows, history {:.1} s; analysis loop {:.1} s", report.seconds - report.analysis_seconds, report.analysis_seconds);
    println!("chunk of {}               p50 {:.1} ms", batch::DEFAULT_CHUNK_SIZE, report.chunk_p50_ms);
    println!(
        "in the loop: rules+retrieval {:.1} s ({:.0}%), database writes {:.1} s ({:.0}%, overlapping the next chunk's analyses)",
        report.retrieval_seconds,
        share(report.retrieval_seconds),
        report.write_seconds,
        share(report.write_seconds)
    );
    println!("store searches run        {} (the rest from the batch cache)", report.searches);
    println!("re-run of the same file   {} analysed, {} skipped, {:.1} s", rerun.analysed, rerun.already_analysed, rerun.seconds);
}

/// Screens `file` with `deps`, or (`None`) with the server's own use-case.
async fn screen(server: &common::server::TestServer, deps: Option<&batch::Deps<'_>>, file: &str) -> BatchReport {
    let options = Options { lookback_days: 30, chunk_size: batch::DEFAULT_CHUNK_SIZE, actor: Actor::cli(), source: "bench.csv".into() };
    let report = match deps {
        Some(deps) => batch::run(deps, file.as_bytes(), Format::Csv, &options, &Silent).await,
        None => server.state.screen_batch(file.as_bytes(), Format::Csv, &options, &Silent).await,
    };
    report.expect("batch runs")
}

fn main() {
    let n = arg("--transactions", 100_000);
    let customers = arg("--customers", 5_000);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let file = generate(n, customers);
    let server = runtime.block_on(common::server::start(&[common::repo().join("corpus")], |_| {}));
    runtime.block_on(async {
        let report = screen(&server, None, &file).await;
        let rerun = screen(&server, None, &file).await;
        print("SQLite", &report, &rerun);

        // Prints why it skips when REAGENT_TEST_POSTGRES_URL is not set.
        let Some(fresh) = common::postgres::fresh_database().await else { return };
        let db = Database::open(&DatabaseSettings { url: fresh.url.clone(), ..DatabaseSettings::default() }).await.expect("PostgreSQL opens");
        let audit = AuditLog::new(db.clone(), &AuditSettings::default()).expect("audit log");
        // An analyzer like the server's (same rules, store and settings; no sanctions list
        // is loaded in either).
        let analyzer = server.services.analyzer().expect("analyzer");
        let deps = batch::Deps { analyzer: &analyzer, db: &db, audit: &audit };
        let report = screen(&server, Some(&deps), &file).await;
        let rerun = screen(&server, Some(&deps), &file).await;
        print("PostgreSQL", &report, &rerun);
        db.close().await;
    });
    // The server's task holds the store: stop it before its folder goes.
    drop(runtime);
    drop(server);
}
