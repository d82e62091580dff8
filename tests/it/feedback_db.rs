//! Storage of citation feedback on SQLite and, when `REAGENT_TEST_POSTGRES_URL`
//! names a server, PostgreSQL: a judgement is written with its audit entry, a
//! later one by the same officer replaces it (id and first time kept), pages and
//! the `since` filter of the export read it back in order.

use crate::db_common;
use crate::common::postgres;

use chrono::{Duration, Utc};
use reagent::audit::{Actor, AuditEvent, AuditKind, AuditLog, AuditSettings};
use reagent::db::{AuditedWrite, Database, DatabaseSettings, DbError, FeedbackRecord};
use reagent::guidance::ActionQuery;
use reagent::rules::ActionCode;
use reagent_ingest::store::StoreSettings;
use uuid::Uuid;

fn judgement(analysis_id: Uuid, chunk_id: Uuid, actor: &str, verdict: &str, at: chrono::DateTime<Utc>) -> FeedbackRecord {
    FeedbackRecord {
        feedback_id: Uuid::new_v4(),
        analysis_id,
        action: "CTR_FILING".into(),
        chunk_id,
        verdict: verdict.into(),
        better_chunk_id: None,
        note: None,
        actor_id: actor.into(),
        actor_name: format!("officer {actor}"),
        actor_role: "compliance_officer".into(),
        created_at: at,
        updated_at: at,
    }
}

async fn store(audit: &AuditLog, f: &FeedbackRecord) -> Result<(), DbError> {
    let event = AuditEvent::new(AuditKind::Decision, "feedback.record", Actor { id: f.actor_id.clone(), role: f.actor_role.clone() }, f.feedback_id.to_string())
        .related(f.analysis_id.to_string());
    match audit.record_with(event, AuditedWrite::feedback(f)?).await {
        Ok(_) => Ok(()),
        Err(reagent::audit::AuditError::Db(e)) => Err(e),
        Err(e) => panic!("{e}"),
    }
}

async fn judgements_replace_and_page(db: Database) {
    db.seed_demo().await.unwrap();
    let analysis = db_common::analysis("TXN002", "2026-03-03T16:30:01.5Z", "MEDIUM", false);
    db.save_analysis(&analysis, &serde_json::json!({})).await.unwrap();
    let audit = AuditLog::new(db.clone(), &AuditSettings { pii_key: "k".repeat(32), ..Default::default() }).unwrap();
    let chunk = analysis.required_actions[0].citations[0].chunk_id;
    let t0 = reagent::db::now() - Duration::hours(2);

    let first = judgement(analysis.analysis_id, chunk, "k1", "supports", t0);
    store(&audit, &first).await.unwrap();
    // The same officer again, with a fresh id: the row is replaced, its id and first time kept.
    let mut again = judgement(analysis.analysis_id, chunk, "k1", "does_not_support", t0 + Duration::hours(1));
    again.better_chunk_id = Some(Uuid::new_v4());
    again.note = Some("wrong paragraph".into());
    store(&audit, &again).await.unwrap();
    let other = judgement(analysis.analysis_id, chunk, "k2", "supports", t0 + Duration::minutes(30));
    store(&audit, &other).await.unwrap();

    let rows = db.feedback_for(analysis.analysis_id).await.unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let k1 = rows.iter().find(|r| r.actor_id == "k1").unwrap();
    assert_eq!(
        k1,
        &FeedbackRecord { feedback_id: first.feedback_id, created_at: first.created_at, ..again.clone() },
        "replaced in place"
    );
    assert_eq!(rows.iter().find(|r| r.actor_id == "k2").unwrap(), &other);

    // Pages in order of the judgement in force (k2 at +30 min, then k1 at +1 h).
    let page = db.feedback_page(None, None, 1).await.unwrap();
    assert_eq!(page.iter().map(|r| r.actor_id.as_str()).collect::<Vec<_>>(), ["k2"]);
    let next = db.feedback_page(None, Some((page[0].updated_at, page[0].feedback_id)), 1).await.unwrap();
    assert_eq!(next.iter().map(|r| r.actor_id.as_str()).collect::<Vec<_>>(), ["k1"]);
    assert!(db.feedback_page(None, Some((next[0].updated_at, next[0].feedback_id)), 1).await.unwrap().is_empty());
    let since = db.feedback_page(Some(t0 + Duration::minutes(45)), None, 10).await.unwrap();
    assert_eq!(since.iter().map(|r| r.actor_id.as_str()).collect::<Vec<_>>(), ["k1"]);

    // An unknown analysis: nothing stored, no audit entry.
    let entries = db.audit_page(0, 1000).await.unwrap().len();
    let err = store(&audit, &judgement(Uuid::new_v4(), chunk, "k1", "supports", t0)).await.unwrap_err();
    assert!(matches!(err, DbError::NotFound { entity: "analysis", .. }), "{err}");
    assert_eq!(db.audit_page(0, 1000).await.unwrap().len(), entries);
    // The verdict column only takes the two verdicts.
    let err = store(&audit, &judgement(analysis.analysis_id, Uuid::new_v4(), "k3", "maybe", t0)).await.unwrap_err();
    assert!(matches!(err, DbError::Backend { .. }), "{err}");
    assert!(reagent::audit::verify(&db).await.unwrap().ok());

    // The export skips what it cannot turn into a pair, and says why: this analysis
    // predates per-action queries; the next one records them but its chunk is not in
    // the (empty) store.
    let dir = tempfile::tempdir().unwrap();
    let settings = StoreSettings { data_dir: dir.path().join("store"), ..Default::default() };
    let chunks = reagent_ingest::EdgeStore::open(&settings, 4, &reagent_ingest::embed::ModelFingerprint::of_id("test-model")).unwrap();
    let mut recorded = db_common::analysis("TXN002", "2026-03-04T08:00:00Z", "MEDIUM", false);
    recorded.retrieval.action_queries = vec![ActionQuery { action: ActionCode::CtrFiling, query: 0 }];
    assert_eq!(recorded.retrieval.query_for(ActionCode::CtrFiling), Some("currency transaction report"));
    db.save_analysis(&recorded, &serde_json::json!({})).await.unwrap();
    let chunk = recorded.required_actions[0].citations[0].chunk_id;
    store(&audit, &judgement(recorded.analysis_id, chunk, "k1", "supports", t0 + Duration::minutes(90))).await.unwrap();
    let mut out = Vec::new();
    let report = reagent::feedback::export(&db, &chunks, None, &mut out).await.unwrap();
    assert_eq!((report.pairs, out.len()), (0, 0));
    let reasons: Vec<(Uuid, &str)> = report.skipped.iter().map(|s| (s.analysis_id, s.reason.as_str())).collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    for (id, reason) in &reasons[..2] {
        assert_eq!(*id, analysis.analysis_id);
        assert!(reason.contains("does not record the retrieval query of CTR_FILING"), "{reason}");
    }
    assert_eq!(reasons[2], (recorded.analysis_id, format!("chunk {chunk} is no longer in the store").as_str()));
}

#[tokio::test]
async fn sqlite_stores_and_replaces_judgements() {
    let dir = tempfile::tempdir().unwrap();
    let settings = DatabaseSettings::new(format!("sqlite://{}?mode=rwc", dir.path().join("reagent.db").display()));
    judgements_replace_and_page(Database::open(&settings).await.unwrap()).await;
}

#[tokio::test]
async fn postgres_stores_and_replaces_judgements() {
    let Some(database) = postgres::fresh_database().await else { return };
    let db = Database::open(&DatabaseSettings::new(database.url.clone())).await.unwrap();
    judgements_replace_and_page(db.clone()).await;
    db.close().await;
}
