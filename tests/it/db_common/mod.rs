//! The persistence test suite, shared by `db_sqlite.rs` and `db_postgres.rs`.
//!
//! Each backend file provides `async fn fresh() -> Option<TestDb>` (a new, empty
//! database; `None` means "skip") and expands `db_suite!(fresh)`, which defines
//! one `#[tokio::test]` per function below. The bodies only use the public API,
//! so they cannot tell the backends apart.

#![allow(dead_code)] // each test binary uses the part it needs

use std::collections::BTreeSet;

use chrono::{DateTime, FixedOffset};
use reagent::db::{Database, DatabaseSettings, DbError, SeedData, TransactionFilter};
use reagent::domain::{Customer, RuleInput, Transaction};
use reagent::guidance::Analysis;
use reagent::rules::{ActionCode, RiskLevel, RulesEngine};
use uuid::Uuid;

/// A fresh database for one test; whatever `_cleanup` holds is released when
/// the test ends (temp folder removed, PostgreSQL database dropped), even on panic.
pub struct TestDb {
    pub settings: DatabaseSettings,
    pub _cleanup: Box<dyn Send>,
}

impl TestDb {
    pub async fn open(&self) -> Database {
        match Database::open(&self.settings).await {
            Ok(db) => db,
            Err(e) => panic!("opening {}: {e}", self.settings.redacted_url()),
        }
    }
}

/// One `#[tokio::test]` per suite function, each on a database from `$fresh`.
#[macro_export]
macro_rules! db_suite {
    ($fresh:path) => {
        $crate::db_suite!(@tests $fresh;
            migrations_apply_twice_and_data_survives_reopen,
            seed_loads_twice_without_duplicates,
            seed_expectations_hold_against_the_rules_engine,
            transaction_context_window_boundaries,
            transaction_context_in_another_time_zone,
            amounts_and_timestamps_round_trip_exactly,
            invalid_writes_name_the_field,
            analysis_round_trips_the_full_json,
            list_searches_and_pages,
            unknown_ids_are_none,
            rule_inputs_round_trip,
            jobs_keep_their_owner_and_only_unfinished_ones_are_failed,
            review_queue_orders_by_due_date_latest_analysis_only,
            web_sessions_expire_and_are_purged,
        );
    };
    (@tests $fresh:path; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let Some(test_db) = $fresh().await else { return };
                db_common::$name(&test_db).await;
            }
        )+
    };
}

fn ok<T>(what: &str, r: Result<T, DbError>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e}"),
    }
}

fn ts(s: &str) -> DateTime<FixedOffset> {
    match DateTime::parse_from_rfc3339(s) {
        Ok(t) => t,
        Err(e) => panic!("{s}: {e}"),
    }
}

pub fn customer(id: &str, name: &str) -> Customer {
    serde_json::from_value(serde_json::json!({
        "customer_id": id, "name": name, "customer_type": "INDIVIDUAL", "risk_rating": "LOW",
        "kyc_status": "COMPLETE", "is_pep": false, "country": "US"
    }))
    .expect("customer JSON")
}

pub fn transaction(id: &str, customer_id: &str, amount: f64, timestamp: &str) -> Transaction {
    serde_json::from_value(serde_json::json!({
        "transaction_id": id, "customer_id": customer_id, "amount": amount, "currency": "USD",
        "transaction_type": "CASH_DEPOSIT", "direction": "INBOUND", "origin_country": "US",
        "destination_country": "US", "timestamp": timestamp
    }))
    .expect("transaction JSON")
}

/// A complete analysis, as the analysis step would produce it.
pub fn analysis(
    transaction_id: &str,
    analyzed_at: &str,
    risk_level: &str,
    requires_review: bool,
) -> Analysis {
    let chunk = Uuid::new_v4();
    serde_json::from_value(serde_json::json!({
        "analysis_id": Uuid::new_v4(),
        "transaction_id": transaction_id,
        "risk_level": risk_level,
        "risk_score": 0.735,
        "requires_review": requires_review,
        "required_actions": [{
            "code": "CTR_FILING",
            "title": "File a Currency Transaction Report",
            "description": "Cash deposit of $15,000.00 — more than $10,000 (“currency”).",
            "deadline": "within 15 calendar days of 2026-03-03 (by 2026-03-18)",
            "citations": [{
                "chunk_id": chunk, "document_id": "31-cfr-1010", "document_title": "31 CFR Part 1010",
                "version": "2026-01-01", "citation": "31 CFR 1010.311", "section_path": ["Subpart C", "1010.311"],
                "pages": [12, 13], "excerpt": "Each financial institution … shall file a report of each deposit …"
            }]
        }],
        "compliance_issues": [{
            "title": "Cash-intensive business", "severity": "MEDIUM",
            "explanation": "Large weekly cash deposits.", "citations": []
        }],
        "recommendations": [{"text": "Verify the source of the cash.", "citations": []}],
        "answer": null,
        "generator": {"kind": "llm", "model": "smollm2-135m", "degraded_reason": null, "dropped_citations": 1},
        "retrieval": {
            "queries": ["currency transaction report"],
            "filters": {"as_of": "2026-03-03", "jurisdictions": ["US"], "document_types": ["regulation"], "document_ids": []},
            "chunks": [{"chunk_id": chunk, "score": 0.8125}, {"chunk_id": Uuid::new_v4(), "score": 0.1}]
        },
        "processing_time_ms": 1234,
        "analyzed_at": analyzed_at,
        "prompt_version": "analysis-v1"
    }))
    .expect("analysis JSON")
}

pub async fn migrations_apply_twice_and_data_survives_reopen(t: &TestDb) {
    let db = t.open().await;
    ok("ping", db.ping().await);
    ok("migrate again", db.migrate().await);
    ok(
        "upsert",
        db.upsert_customer(&customer("C1", "Ada Lovelace")).await,
    );
    db.close().await;
    assert!(db.ping().await.is_err(), "a closed pool must not answer");

    // A second open runs the migrator again: nothing to do, nothing lost.
    let db = t.open().await;
    ok("migrate a third time", db.migrate().await);
    assert_eq!(
        ok("get", db.get_customer("C1").await).map(|c| c.name),
        Some("Ada Lovelace".to_owned())
    );
}

pub async fn seed_loads_twice_without_duplicates(t: &TestDb) {
    let db = t.open().await;
    let demo = ok("demo", SeedData::demo());
    let first = ok("seed once", db.seed_demo().await);
    let second = ok("seed twice", db.seed_demo().await);
    assert_eq!(first, second);
    assert_eq!(
        (first.customers, first.transactions),
        (demo.customers.len(), demo.transactions.len())
    );
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seed/demo.json");
    assert_eq!(ok("seed from file", db.seed_from(&path).await), first);

    let all = TransactionFilter {
        limit: 1000,
        ..Default::default()
    };
    assert_eq!(
        ok("count", db.count_transactions(&all).await),
        demo.transactions.len() as u64
    );
    let rows = ok("list", db.list_transactions(&all).await);
    let ids: BTreeSet<_> = rows
        .iter()
        .map(|r| r.transaction.transaction_id.clone())
        .collect();
    let expected: BTreeSet<_> = demo
        .transactions
        .iter()
        .map(|t| t.transaction_id.clone())
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(rows.len(), ids.len(), "no duplicates");
    for c in &demo.customers {
        assert_eq!(
            ok("get customer", db.get_customer(&c.customer_id).await).as_ref(),
            Some(c)
        );
    }
    for tx in &demo.transactions {
        let got = ok(
            "get transaction",
            db.get_transaction(&tx.transaction_id).await,
        );
        assert_eq!(got.as_ref(), Some(tx), "{}", tx.transaction_id);
    }
}

pub async fn seed_expectations_hold_against_the_rules_engine(t: &TestDb) {
    let db = t.open().await;
    ok("seed", db.seed_demo().await);
    let demo = ok("demo", SeedData::demo());
    // TXN015's counterparty is on the real SDN list: screened when the shared
    // snapshot is beside the checkout, skipped (saying so) otherwise.
    let snapshot = std::env::var_os("REAGENT_SHARED_DATA")
        .map_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"), std::path::PathBuf::from)
        .join("sanctions/sdn-2024-05-03.csv");
    let lists = reagent::sanctions::SanctionsLists::empty();
    if snapshot.exists() {
        let published = chrono::NaiveDate::from_ymd_opt(2024, 5, 3).expect("date");
        let (info, entries) = reagent::sanctions::read_list(reagent::sanctions::ListKind::Sdn, published, &snapshot, None, None)
            .expect("the shared SDN snapshot parses");
        lists.insert(info, entries);
    } else {
        println!("TXN015 skipped: {} not found (the shared data folder is not beside this checkout)", snapshot.display());
    }
    let screened = !lists.is_empty();
    let config = match reagent::rules::RulesConfig::builtin() {
        Ok(c) => c,
        Err(e) => panic!("rules engine: {e}"),
    };
    let engine = RulesEngine::with_sanctions(config, std::sync::Arc::new(lists));
    let mut failures = Vec::new();
    for (id, expect) in demo.expectations.iter().filter(|(id, _)| screened || id.as_str() != "TXN015") {
        let input = ok("context", db.transaction_context(id, 30).await)
            .unwrap_or_else(|| panic!("{id} not stored"));
        let outcome = match engine.evaluate_checked(&input) {
            Ok(o) => o,
            Err(e) => panic!("{id}: {e}"),
        };
        let got: BTreeSet<ActionCode> = outcome.actions().into_iter().collect();
        let want: BTreeSet<ActionCode> = expect.actions.iter().copied().collect();
        if got != want || outcome.requires_review != expect.requires_review {
            failures.push(format!(
                "{id} ({}): actions {got:?} review {} (reasons {:?}); expected {want:?} review {}",
                expect.scenario,
                outcome.requires_review,
                outcome.review_reasons,
                expect.requires_review
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "seed/demo.json expectations do not hold:\n{}",
        failures.join("\n")
    );
    // The headline scenarios of the demo.
    assert!(
        demo.expectations["TXN001"].actions.is_empty()
            && !demo.expectations["TXN001"].requires_review
    );
    assert_eq!(
        demo.expectations["TXN002"].actions,
        vec![ActionCode::CtrFiling]
    );
    assert!(demo.expectations["TXN003"].requires_review);
}

/// Stores customer W's history around a transaction at 2026-03-31T12:00Z.
async fn store_window_fixture(db: &Database) {
    ok(
        "customer",
        db.upsert_customer(&customer("W", "Window Tester")).await,
    );
    ok(
        "other customer",
        db.upsert_customer(&customer("OTHER", "Someone Else")).await,
    );
    for (id, at) in [
        ("T0", "2026-03-31T12:00:00Z"),
        ("H_first_instant", "2026-03-01T00:00:00Z"),
        ("H_before_window", "2026-02-28T23:59:59.999999Z"),
        ("H_last_instant", "2026-03-31T23:59:59.999999Z"),
        ("H_next_day", "2026-04-01T00:00:00Z"),
        ("H_same_instant", "2026-03-31T12:00:00Z"),
        ("H_offset", "2026-03-15T20:00:00-05:00"),
        ("H_evening_new_york", "2026-03-31T20:30:00-04:00"),
        ("H_earlier_today", "2026-03-31T00:00:00Z"),
    ] {
        ok(
            id,
            db.upsert_transaction(&transaction(id, "W", 100.0, at))
                .await,
        );
    }
    ok(
        "other",
        db.upsert_transaction(&transaction(
            "X_other_customer",
            "OTHER",
            100.0,
            "2026-03-20T12:00:00Z",
        ))
        .await,
    );
}

fn ids(input: &RuleInput) -> Vec<&str> {
    input
        .recent_transactions
        .iter()
        .map(|t| t.transaction_id.as_str())
        .collect()
}

pub async fn transaction_context_window_boundaries(t: &TestDb) {
    let db = t.open().await;
    store_window_fixture(&db).await;

    // 30 days back from business date 2026-03-31 is 2026-03-01 (UTC business days).
    let input = ok("context", db.transaction_context("T0", 30).await).expect("T0 stored");
    assert_eq!(input.transaction.transaction_id, "T0");
    assert_eq!(input.customer, customer("W", "Window Tester"));
    assert_eq!(
        ids(&input),
        vec![
            "H_first_instant",
            "H_offset",
            "H_earlier_today",
            "H_same_instant",
            "H_last_instant"
        ],
        "oldest first; excludes T0 itself, the day before the window, the next day, and other customers"
    );
    assert!(input.parse().is_ok());

    // 0 days: only the same business day, before and after the transaction.
    let input = ok("context 0", db.transaction_context("T0", 0).await).expect("T0 stored");
    assert_eq!(
        ids(&input),
        vec!["H_earlier_today", "H_same_instant", "H_last_instant"]
    );

    // 29 days: 2026-03-02 onwards, so the 03-01 transaction drops out.
    let input = ok("context 29", db.transaction_context("T0", 29).await).expect("T0 stored");
    assert_eq!(
        ids(&input),
        vec![
            "H_offset",
            "H_earlier_today",
            "H_same_instant",
            "H_last_instant"
        ]
    );

    // Huge look-backs do not overflow.
    let input = ok("context max", db.transaction_context("T0", i64::MAX).await).expect("T0 stored");
    assert_eq!(input.recent_transactions.len(), 6);

    let err = db
        .transaction_context("T0", -1)
        .await
        .expect_err("negative look-back");
    assert!(
        matches!(&err, DbError::Invalid { field, .. } if field == "lookback_days"),
        "{err}"
    );
    assert!(ok("unknown", db.transaction_context("NOPE", 30).await).is_none());
}

pub async fn transaction_context_in_another_time_zone(t: &TestDb) {
    let db = t.open().await;
    store_window_fixture(&db).await;
    // In New York, T0 (08:00 EDT) is on 2026-03-31; 2026-03-01T00:00Z is still
    // 02-28 there, and 2026-04-01T00:00Z / 20:30 EDT are still 03-31.
    let input = ok(
        "context",
        db.transaction_context_in("T0", 30, chrono_tz::America::New_York)
            .await,
    )
    .expect("T0 stored");
    assert_eq!(
        ids(&input),
        vec![
            "H_offset",
            "H_earlier_today",
            "H_same_instant",
            "H_last_instant",
            "H_next_day",
            "H_evening_new_york"
        ]
    );
    // Offsets come back as they were sent.
    let evening = input
        .recent_transactions
        .iter()
        .find(|t| t.transaction_id == "H_evening_new_york")
        .expect("present");
    assert_eq!(evening.timestamp.to_rfc3339(), "2026-03-31T20:30:00-04:00");
}

pub async fn amounts_and_timestamps_round_trip_exactly(t: &TestDb) {
    let db = t.open().await;
    ok(
        "customer",
        db.upsert_customer(&customer("C1", "Amount Tester")).await,
    );
    let amounts = [
        10000.01,
        9999.99,
        0.01,
        0.1 + 0.2,
        1234567.89,
        1e13,
        15000.0,
        2999.99,
        123.456,
        8000.005,
    ];
    for (i, amount) in amounts.iter().enumerate() {
        let mut tx = transaction(
            &format!("A{i}"),
            "C1",
            *amount,
            "2026-03-10T09:20:00.123456-05:00",
        );
        tx.counterparty_name = (i % 2 == 0).then(|| "Ünïcödé Counterparty — “quoted”".to_owned());
        tx.description = Some(format!("amount #{i}"));
        tx.risk_score = (i % 3 != 0).then_some(0.1 + 0.2);
        ok("upsert", db.upsert_transaction(&tx).await);
        let got = ok("get", db.get_transaction(&tx.transaction_id).await).expect("stored");
        assert_eq!(
            got.amount.to_bits(),
            amount.to_bits(),
            "amount {amount} came back as {}",
            got.amount
        );
        assert_eq!(got, tx);
        assert_eq!(got.timestamp.offset(), tx.timestamp.offset());
        assert_eq!(
            got.timestamp.to_rfc3339(),
            "2026-03-10T09:20:00.123456-05:00"
        );
        assert_eq!(
            got.risk_score.map(f64::to_bits),
            tx.risk_score.map(f64::to_bits)
        );
    }

    // Nanoseconds are truncated to microseconds, the resolution of both backends.
    let tx = transaction("NANOS", "C1", 1.0, "2026-03-10T14:20:00.123456789Z");
    ok("upsert", db.upsert_transaction(&tx).await);
    let got = ok("get", db.get_transaction("NANOS").await).expect("stored");
    assert_eq!(got.timestamp, ts("2026-03-10T14:20:00.123456Z"));

    // Upsert replaces.
    let mut tx = transaction("A0", "C1", 10000.01, "2026-03-10T09:20:00Z");
    tx.amount = 10000.02;
    ok("re-upsert", db.upsert_transaction(&tx).await);
    let got = ok("get", db.get_transaction("A0").await).expect("stored");
    assert_eq!(
        (got.amount, got.counterparty_name, got.timestamp),
        (10000.02, None, ts("2026-03-10T09:20:00Z"))
    );
    let mut c = customer("C1", "Renamed");
    c.is_pep = true;
    ok("re-upsert customer", db.upsert_customer(&c).await);
    assert_eq!(ok("get customer", db.get_customer("C1").await), Some(c));
}

pub async fn invalid_writes_name_the_field(t: &TestDb) {
    let db = t.open().await;
    ok(
        "customer",
        db.upsert_customer(&customer("C1", "Field Tester")).await,
    );
    let cases: Vec<(Transaction, &str)> = vec![
        (
            transaction("B1", "C1", -5.0, "2026-03-10T09:20:00Z"),
            "transaction.amount",
        ),
        (
            Transaction {
                amount: f64::NAN,
                ..transaction("B2", "C1", 1.0, "2026-03-10T09:20:00Z")
            },
            "transaction.amount",
        ),
        (
            transaction("B3", "C1", 1e-30, "2026-03-10T09:20:00Z"),
            "transaction.amount",
        ),
        (
            transaction(" ", "C1", 5.0, "2026-03-10T09:20:00Z"),
            "transaction.transaction_id",
        ),
    ];
    for (tx, field) in cases {
        let err = db.upsert_transaction(&tx).await.expect_err(field);
        assert!(
            matches!(&err, DbError::Invalid { field: f, .. } if f == field),
            "{field}: {err}"
        );
    }
    let err = db
        .upsert_transaction(&transaction("B5", "NOBODY", 5.0, "2026-03-10T09:20:00Z"))
        .await
        .expect_err("fk");
    assert!(
        matches!(&err, DbError::NotFound { entity: "customer", id } if id == "NOBODY"),
        "{err}"
    );
    let bad: Customer = serde_json::from_value(serde_json::json!({
        "customer_id": "C2", "name": "Bad Country", "customer_type": "BUSINESS", "risk_rating": "HIGH",
        "kyc_status": "PENDING", "is_pep": false, "country": "UK"
    }))
    .expect("customer JSON");
    let err = db.upsert_customer(&bad).await.expect_err("country");
    assert!(
        matches!(&err, DbError::Invalid { field, .. } if field == "customer.country"),
        "{err}"
    );
    let err = db
        .list_transactions(&TransactionFilter {
            limit: 0,
            ..Default::default()
        })
        .await
        .expect_err("limit");
    assert!(
        matches!(&err, DbError::Invalid { field, .. } if field == "limit"),
        "{err}"
    );
    assert_eq!(
        ok(
            "nothing stored",
            db.count_transactions(&TransactionFilter::default()).await
        ),
        0
    );
}

pub async fn analysis_round_trips_the_full_json(t: &TestDb) {
    let db = t.open().await;
    let first = analysis("TXN002", "2026-03-03T16:30:01.5Z", "MEDIUM", false);
    let mut second = analysis("TXN002", "2026-03-04T08:00:00Z", "HIGH", true);
    second.answer = Some("Yes — file a CTR.".into());
    second.generator.model = None;
    let request = serde_json::json!({"transaction": {"transaction_id": "TXN002", "amount": 15000.0, "nested": [1, 2.5, null, "ü"]}});

    ok("save first", db.save_analysis(&first, &request).await);
    ok(
        "save second",
        db.save_analysis(&second, &serde_json::json!({"question": "CTR?"}))
            .await,
    );

    let got = ok("get", db.get_analysis(first.analysis_id).await).expect("stored");
    assert_eq!(got, first);
    assert_eq!(
        serde_json::to_value(&got).ok(),
        serde_json::to_value(&first).ok()
    );
    assert_eq!(
        ok("request", db.analysis_request(first.analysis_id).await),
        Some(request.clone())
    );
    assert_eq!(
        ok("get second", db.get_analysis(second.analysis_id).await),
        Some(second.clone())
    );

    let history = ok("history", db.analyses_for_transaction("TXN002").await);
    assert_eq!(history, vec![second.clone(), first.clone()], "newest first");
    assert!(ok("none", db.analyses_for_transaction("TXN999").await).is_empty());

    // Saving the same analysis id again is a conflict and changes nothing.
    let mut clash = first.clone();
    clash.risk_level = RiskLevel::Low;
    let err = db
        .save_analysis(&clash, &serde_json::json!({}))
        .await
        .expect_err("duplicate id");
    assert!(matches!(err, DbError::Conflict(_)), "{err}");
    assert_eq!(
        ok("unchanged", db.get_analysis(first.analysis_id).await),
        Some(first)
    );
    assert_eq!(
        ok(
            "request unchanged",
            db.analysis_request(clash.analysis_id).await
        ),
        Some(request)
    );
}

pub async fn list_searches_and_pages(t: &TestDb) {
    let db = t.open().await;
    ok("seed", db.seed_demo().await);
    let demo = ok("demo", SeedData::demo());
    let page = |query: Option<&str>, limit: u32, offset: u32| TransactionFilter {
        query: query.map(str::to_owned),
        limit,
        offset,
    };
    let list_ids = |rows: Vec<reagent::db::TransactionRow>| {
        rows.into_iter()
            .map(|r| r.transaction.transaction_id)
            .collect::<Vec<_>>()
    };

    // Newest first, ties by id.
    let mut expected: Vec<&Transaction> = demo.transactions.iter().collect();
    expected.sort_by(|a, b| {
        b.timestamp
            .cmp(&a.timestamp)
            .then(a.transaction_id.cmp(&b.transaction_id))
    });
    let expected: Vec<String> = expected.iter().map(|t| t.transaction_id.clone()).collect();
    let all = list_ids(ok("all", db.list_transactions(&page(None, 1000, 0)).await));
    assert_eq!(all, expected);
    assert_eq!(all.first().map(String::as_str), Some("TXN023"));

    // Pages of 5 concatenate to the whole list; past the end is empty.
    let mut paged = Vec::new();
    for offset in (0..all.len() as u32).step_by(5) {
        let rows = ok("page", db.list_transactions(&page(None, 5, offset)).await);
        assert!(rows.len() <= 5);
        paged.extend(list_ids(rows));
    }
    assert_eq!(paged, all);
    assert!(
        ok(
            "past the end",
            db.list_transactions(&page(None, 5, 1000)).await
        )
        .is_empty()
    );

    // Search: customer name, counterparty, ids; case-insensitive; wildcards literal.
    let in_order = |wanted: &[&str]| {
        all.iter()
            .filter(|id| wanted.contains(&id.as_str()))
            .cloned()
            .collect::<Vec<_>>()
    };
    let txn01_ids: Vec<String> = (10..=19).map(|i| format!("TXN0{i}")).collect();
    let txn01: Vec<&str> = txn01_ids.iter().map(String::as_str).collect();
    for (query, want) in [
        ("HARBOR street", in_order(&["TXN002", "TXN020"])),
        ("mahan", in_order(&["TXN015"])),
        ("txn01", in_order(&txn01)),
        (
            "cust004",
            in_order(&["TXN004", "TXN005", "TXN006", "TXN007"]),
        ),
        ("%", vec![]),
        ("TXN_01", vec![]),
        ("no such thing", vec![]),
    ] {
        let got = list_ids(ok(
            query,
            db.list_transactions(&page(Some(query), 50, 0)).await,
        ));
        assert_eq!(got, want, "query {query:?}");
        let n = ok(
            "count",
            db.count_transactions(&page(Some(query), 50, 0)).await,
        );
        assert_eq!(n, want.len() as u64, "count {query:?}");
    }
    assert_eq!(in_order(&txn01).len(), 10);
    let rows = ok(
        "page of search",
        db.list_transactions(&page(Some("txn01"), 3, 3)).await,
    );
    assert_eq!(list_ids(rows), in_order(&txn01)[3..6].to_vec());

    // The latest analysis shows on its transaction's row, nowhere else.
    let older = analysis("TXN003", "2026-03-04T14:11:00Z", "MEDIUM", false);
    let newer = analysis("TXN003", "2026-03-05T09:00:00Z", "HIGH", true);
    ok(
        "save newer",
        db.save_analysis(&newer, &serde_json::json!({})).await,
    );
    ok(
        "save older",
        db.save_analysis(&older, &serde_json::json!({})).await,
    );
    let rows = ok("list", db.list_transactions(&page(None, 1000, 0)).await);
    for row in &rows {
        if row.transaction.transaction_id == "TXN003" {
            let latest = row.latest_analysis.as_ref().expect("analysed");
            assert_eq!(
                (
                    latest.analysis_id,
                    latest.risk_level,
                    latest.requires_review
                ),
                (newer.analysis_id, RiskLevel::High, true)
            );
            assert_eq!(latest.analyzed_at, newer.analyzed_at);
            assert_eq!(row.customer_name, "Golden Lotus Trading Co.");
        } else {
            assert!(
                row.latest_analysis.is_none(),
                "{}",
                row.transaction.transaction_id
            );
        }
    }
}

pub async fn unknown_ids_are_none(t: &TestDb) {
    let db = t.open().await;
    ok("seed", db.seed_demo().await);
    assert!(ok("tx", db.get_transaction("NOPE").await).is_none());
    assert!(ok("customer", db.get_customer("NOPE").await).is_none());
    assert!(ok("context", db.transaction_context("NOPE", 30).await).is_none());
    assert!(ok("analysis", db.get_analysis(Uuid::new_v4()).await).is_none());
    assert!(ok("request", db.analysis_request(Uuid::new_v4()).await).is_none());
    assert!(ok("analyses", db.analyses_for_transaction("NOPE").await).is_empty());
    // Ids are exact, not patterns.
    assert!(ok("pattern id", db.get_transaction("TXN00%").await).is_none());
}

/// Issue 14's request inputs survive storage, so a transaction analysed by id
/// sees what an inline request would (PEP kind, private banking, CTR
/// exemption, last SAR, the counterparty's customer id).
pub async fn rule_inputs_round_trip(t: &TestDb) {
    let db = t.open().await;
    let mut c = customer("C1", "Input Tester");
    c.is_pep = true;
    c.pep_type = Some(reagent::domain::PepType::Domestic);
    c.private_banking = true;
    c.ctr_exempt = true;
    c.last_sar_filed_on = chrono::NaiveDate::from_ymd_opt(2026, 1, 5);
    ok("customer", db.upsert_customer(&c).await);
    ok("plain customer", db.upsert_customer(&customer("C2", "Plain Tester")).await);
    let mut tx = transaction("T1", "C1", 5000.0, "2026-03-10T14:00:00Z");
    tx.counterparty_customer_id = Some("C2".into());
    ok("transaction", db.upsert_transaction(&tx).await);
    let back_c = db.get_customer("C1").await.expect("read customer");
    assert_eq!(back_c.as_ref(), Some(&c));
    let plain = db.get_customer("C2").await.expect("read customer").expect("C2");
    assert_eq!((plain.pep_type, plain.private_banking, plain.ctr_exempt, plain.last_sar_filed_on), (None, false, false, None));
    let back_t = db.get_transaction("T1").await.expect("read transaction").expect("T1");
    assert_eq!(back_t.counterparty_customer_id.as_deref(), Some("C2"));
}

pub async fn jobs_keep_their_owner_and_only_unfinished_ones_are_failed(t: &TestDb) {
    let db = t.open().await;
    let now = chrono::Utc::now();
    let job = |status: reagent::db::JobStatus, owner: Option<&str>| reagent::db::JobRecord {
        job_id: Uuid::new_v4(),
        kind: reagent::db::JobKind::Ingest,
        status,
        done: 0,
        total: 0,
        error: None,
        result: None,
        actor_id: "k1".into(),
        created_at: now,
        updated_at: now,
        owner: owner.map(str::to_string),
        attempts: 0,
        lease_until: None,
    };
    let running = job(reagent::db::JobStatus::Running, Some("host/boot/42/7"));
    let legacy = job(reagent::db::JobStatus::Queued, None);
    let finished = job(reagent::db::JobStatus::Succeeded, Some("host/boot/42/7"));
    for j in [&running, &legacy, &finished] {
        ok("store job", db.upsert_job(j).await);
    }
    let stored = ok("read job", db.get_job(running.job_id).await).expect("stored");
    assert_eq!(stored.owner.as_deref(), Some("host/boot/42/7"));
    let mut unfinished: Vec<Uuid> = ok("unfinished", db.unfinished_jobs().await).iter().map(|j| j.job_id).collect();
    unfinished.sort();
    let mut expected = vec![running.job_id, legacy.job_id];
    expected.sort();
    assert_eq!(unfinished, expected);
    assert!(ok("fail", db.fail_unfinished_job(running.job_id, "interrupted", now).await));
    assert!(!ok("fail a finished job", db.fail_unfinished_job(finished.job_id, "interrupted", now).await));
    let failed = ok("read job", db.get_job(running.job_id).await).expect("stored");
    assert_eq!((failed.status.as_str(), failed.error.as_deref()), ("failed", Some("interrupted")));
    assert_eq!(ok("read job", db.get_job(finished.job_id).await).expect("stored").status, reagent::db::JobStatus::Succeeded);
}

/// The review queue's query (same SQL on both backends): latest analysis of
/// each transaction requiring review, earliest due date first, undated last;
/// action and due-date filters.
pub async fn review_queue_orders_by_due_date_latest_analysis_only(t: &TestDb) {
    let db = t.open().await;
    let with_due = |tx: &str, at: &str, due: Option<&str>, review: bool| {
        let mut a = analysis(tx, at, "HIGH", review);
        a.required_actions[0].due_on = due.map(|d| d.parse().expect("date"));
        a
    };
    let request = serde_json::json!({"inline": true});
    for a in [
        with_due("RQ-A", "2026-03-01T10:00:00Z", Some("2026-03-05"), true), // superseded below
        with_due("RQ-A", "2026-03-02T10:00:00Z", Some("2026-03-18"), true),
        with_due("RQ-B", "2026-03-01T09:00:00Z", None, true),
        with_due("RQ-C", "2026-03-03T10:00:00Z", Some("2026-03-10"), true),
        with_due("RQ-D", "2026-03-01T10:00:00Z", Some("2026-03-01"), false), // needs no review
    ] {
        ok("save", db.save_analysis(&a, &request).await);
    }
    let ids = |rows: Vec<reagent::db::QueueRow>| rows.into_iter().map(|r| r.transaction_id).collect::<Vec<_>>();
    let all = ok("queue", db.review_queue(&reagent::db::QueueFilter::default()).await);
    assert_eq!(all[1].due_on, "2026-03-18".parse().ok());
    assert_eq!(all[0].action_codes, ["CTR_FILING"]);
    assert_eq!(ids(all), ["RQ-C", "RQ-A", "RQ-B"]);
    let filter = reagent::db::QueueFilter {
        action: Some("CTR_FILING".into()),
        due_from: "2026-03-11".parse().ok(),
        ..Default::default()
    };
    assert_eq!(ids(ok("queue", db.review_queue(&filter).await)), ["RQ-A"]);
    let filter = reagent::db::QueueFilter { action: Some("SAR_REVIEW".into()), ..Default::default() };
    assert!(ok("queue", db.review_queue(&filter).await).is_empty());
}

/// Web sessions (the store behind the pages' session cookie): an id is stored once,
/// an expired session is never returned, and each new session deletes the expired ones.
pub async fn web_sessions_expire_and_are_purged(t: &TestDb) {
    use reagent::db::WebSessionRow;
    let db = t.open().await;
    let now = reagent::db::now();
    let row = |id: &str, expires_in: i64| WebSessionRow {
        id: id.into(),
        data: format!(r#"{{"signed_in":{{"id":"{id}"}}}}"#),
        expires_at: now + chrono::Duration::seconds(expires_in),
    };
    assert!(ok("create", db.create_web_session(&row("live", 3600), now).await));
    assert!(!ok("create again", db.create_web_session(&row("live", 60), now).await), "an id is never reused");
    assert_eq!(ok("load", db.web_session("live", now).await), Some(row("live", 3600)), "the first one is kept");
    assert!(ok("create", db.create_web_session(&row("short", 60), now).await));
    assert_eq!(ok("load", db.web_session("short", now + chrono::Duration::seconds(59)).await), Some(row("short", 60)));
    let later = now + chrono::Duration::seconds(60);
    assert_eq!(ok("load", db.web_session("short", later).await), None, "expired at its instant");
    assert_eq!(ok("count", db.count_web_sessions().await), 2);
    // The next sign-in deletes what has expired.
    assert!(ok("create", db.create_web_session(&row("next", 3600), later).await));
    assert_eq!(ok("count", db.count_web_sessions().await), 2);
    assert_eq!(ok("load", db.web_session("short", now).await), None, "deleted, not only hidden");
    // Saving replaces the record; deleting signs out.
    let mut changed = row("live", 7200);
    changed.data = "{}".into();
    ok("save", db.save_web_session(&changed).await);
    assert_eq!(ok("load", db.web_session("live", later).await), Some(changed));
    ok("delete", db.delete_web_session("live").await);
    ok("delete unknown", db.delete_web_session("live").await);
    assert_eq!(ok("load", db.web_session("live", now).await), None);
    assert_eq!(ok("count", db.count_web_sessions().await), 1);
}
