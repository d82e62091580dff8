//! A fresh PostgreSQL database per test, on the server `REAGENT_TEST_POSTGRES_URL`
//! names (a role allowed to create databases; `scripts/setup-postgres.sh` prints
//! such a URL), dropped when the test ends even if it fails. Without the variable,
//! [`fresh_database`] says why the caller skips and returns `None`.
#![allow(dead_code)]

use sqlx::Connection;

pub const SKIP: &str = "skipped: REAGENT_TEST_POSTGRES_URL not set (scripts/test.sh sets it after starting PostgreSQL)";

/// A database `reagent_test_<random>` that lives as long as this value.
pub struct FreshDatabase {
    /// Its URL (the admin URL with the database name replaced).
    pub url: String,
    admin_url: String,
    name: String,
}

/// Creates a database on the test server, or prints [`SKIP`] and returns `None`.
pub async fn fresh_database() -> Option<FreshDatabase> {
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
    Some(FreshDatabase { url: with_database(&admin_url, &name), admin_url, name })
}

/// `admin_url` with its database name replaced by `name` (query string kept).
pub fn with_database(admin_url: &str, name: &str) -> String {
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
impl Drop for FreshDatabase {
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

impl FreshDatabase {
    /// Makes REPEATABLE READ the database's default isolation (new connections take it),
    /// as on a server configured so: code that needs READ COMMITTED must ask for it.
    pub async fn default_to_repeatable_read(&self) {
        let mut conn = sqlx::PgConnection::connect(&self.url).await.expect("connecting to the test database");
        sqlx::query(&format!("ALTER DATABASE {} SET default_transaction_isolation = 'repeatable read'", self.name))
            .execute(&mut conn)
            .await
            .expect("ALTER DATABASE");
        conn.close().await.ok();
    }
}
