//! The persistence suite (`db_common`) on SQLite: a fresh database file in a
//! temporary folder per test (in a sub-folder that does not exist yet, so
//! `Database::open` must create it).

use crate::db_common;

use db_common::TestDb;
use reagent::db::{Database, DatabaseSettings, DbError};

async fn fresh() -> Option<TestDb> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("not-yet/reagent.db");
    let settings = DatabaseSettings::new(format!("sqlite://{}?mode=rwc", path.display()));
    Some(TestDb {
        settings,
        _cleanup: Box::new(dir),
    })
}

db_suite!(fresh);

#[tokio::test]
async fn bad_urls_are_invalid_settings() {
    for url in ["mysql://localhost/db", "", "sqlite://x.db?mode=sideways"] {
        let err = Database::open(&DatabaseSettings::new(url))
            .await
            .expect_err(url);
        assert!(
            matches!(&err, DbError::Invalid { field, .. } if field == "database.url"),
            "{url}: {err}"
        );
    }
}

#[tokio::test]
async fn in_memory_database_keeps_its_data() {
    let db = Database::open(&DatabaseSettings::new("sqlite::memory:"))
        .await
        .expect("open");
    assert_eq!(db.backend_name(), "sqlite");
    db.seed_demo().await.expect("seed");
    assert!(db.get_transaction("TXN001").await.expect("get").is_some());
}
