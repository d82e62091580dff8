//! The persistence suite (`db_common`) on PostgreSQL, when
//! `REAGENT_TEST_POSTGRES_URL` names a server (a role allowed to create
//! databases; `scripts/setup-postgres.sh` prints such a URL). Each test creates
//! its own database `reagent_test_<random>` and drops it when done, even if the
//! test fails. Without the variable every test prints why it skipped and passes.

use crate::db_common;
use crate::common::postgres;

use db_common::TestDb;
use postgres::with_database;

async fn fresh() -> Option<TestDb> {
    let database = postgres::fresh_database().await?;
    Some(TestDb {
        settings: reagent::db::DatabaseSettings::new(database.url.clone()),
        _cleanup: Box::new(database),
    })
}

db_suite!(fresh);

#[tokio::test]
async fn backend_is_postgres() {
    let Some(t) = fresh().await else { return };
    assert_eq!(t.open().await.backend_name(), "postgres");
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
