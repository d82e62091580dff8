//! The persistence suite (`db_common`) on PostgreSQL, when
//! `REAGENT_TEST_POSTGRES_URL` names a server (a role allowed to create
//! databases; `scripts/setup-postgres.sh` prints such a URL). Each test creates
//! its own database `reagent_test_<random>` and drops it when done, even if the
//! test fails. Without the variable every test prints why it skipped and passes.

mod db_common;

use db_common::TestDb;
use sqlx::Connection;

const SKIP: &str = "skipped: REAGENT_TEST_POSTGRES_URL not set (scripts/test.sh sets it after starting PostgreSQL)";

async fn fresh() -> Option<TestDb> {
    let Ok(admin_url) = std::env::var("REAGENT_TEST_POSTGRES_URL") else {
        println!("{SKIP}");
        return None;
    };
    let name = format!("reagent_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connecting with REAGENT_TEST_POSTGRES_URL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("CREATE DATABASE");
    admin.close().await.ok();
    let settings = reagent::db::DatabaseSettings::new(with_database(&admin_url, &name));
    Some(TestDb {
        settings,
        _cleanup: Box::new(DropDatabase { admin_url, name }),
    })
}

db_suite!(fresh);

#[tokio::test]
async fn backend_is_postgres() {
    let Some(t) = fresh().await else { return };
    assert_eq!(t.open().await.backend_name(), "postgres");
}

/// `admin_url` with its database name replaced by `name` (query string kept).
fn with_database(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin_url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

/// Drops the test database when the test ends, on its own thread and runtime
/// (the test's runtime may be unwinding).
struct DropDatabase {
    admin_url: String,
    name: String,
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&url)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .map_err(|e| e.to_string())?;
                admin.close().await.map_err(|e| e.to_string())
            })
        })
        .join();
        if let Ok(Err(e)) | Err(e) = dropped.map_err(|_| "panicked".to_owned()) {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

#[test]
fn database_name_is_replaced() {
    assert_eq!(
        with_database("postgres://u:p@127.0.0.1:5432/reagent", "x"),
        "postgres://u:p@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/reagent?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://h:5432", "x"),
        "postgres://h:5432/x"
    );
}
