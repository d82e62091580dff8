//! Clients that hang up mid-request, against the real `reagent serve` on SQLite and
//! on PostgreSQL (when `REAGENT_TEST_POSTGRES_URL` names a server). Thirty clients
//! send `POST /api/v1/analyze` over raw TCP and close the connection after a random
//! 1–80 ms, while one client waits for its answers. Afterwards, and again after a
//! restart: every analysis answered 200 is stored as returned with its
//! `analysis.create` audit entry, `reagent audit verify` passes, `/ready` reports a
//! writable database, and writes (an analysis, `reagent keys create`) still work.

use crate::common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::spawned;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

const HANG_UP_CLIENTS: u64 = 30;

/// How long the storm lasts: 12 s, or `STORM_SECONDS` (for a measurement run,
/// with `REAGENT_TEST_BINARY` naming a release build).
fn storm_length() -> Duration {
    Duration::from_secs(std::env::var("STORM_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(12))
}

fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// One client: connect, send a whole analyze request, wait 1–80 ms, close.
async fn hang_up_loop(addr: std::net::SocketAddr, key: String, client: u64, mut seed: u64, until: Instant) -> u64 {
    let mut sent = 0;
    while Instant::now() < until {
        let body = spawned::analyze_request("STORM", 40, client * 1_000_000 + sent).to_string();
        let request = format!(
            "POST /api/v1/analyze HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {key}\r\n\
             content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else { continue };
        if stream.write_all(request.as_bytes()).await.is_err() {
            continue;
        }
        sent += 1;
        tokio::time::sleep(Duration::from_millis(1 + next(&mut seed) % 80)).await;
        drop(stream);
    }
    sent
}

/// The patient client: posts analyses one after another and keeps what was answered 200.
/// Returns how many were answered 200 and the other answers by status and error code.
async fn waiting_loop(
    server_url: String,
    client: reqwest::Client,
    answered: Arc<Mutex<Vec<Value>>>,
    until: Instant,
) -> (u64, std::collections::BTreeMap<String, u64>) {
    let mut ok = 0;
    let mut statuses = std::collections::BTreeMap::<String, u64>::new();
    let mut i = 0;
    while Instant::now() < until {
        i += 1;
        let body = spawned::analyze_request("PATIENT", 7, i).to_string();
        let Ok(res) = client.post(&server_url).header("content-type", "application/json").body(body).send().await else {
            *statuses.entry("no answer".into()).or_default() += 1;
            continue;
        };
        if res.status() == 200 {
            let v: Value = res.json().await.expect("a 200 has a JSON analysis");
            answered.lock().unwrap().push(v);
            ok += 1;
        } else {
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap_or_default();
            *statuses.entry(format!("{status} {}", body["error"]["code"].as_str().unwrap_or(""))).or_default() += 1;
        }
    }
    (ok, statuses)
}

/// Everything the storm must not have broken, checked against a running server.
async fn check_server(server: &spawned::Server, client: &reqwest::Client, answered: &[Value]) {
    // Writes work: a fresh analysis is answered 200 promptly.
    let started = Instant::now();
    let res = client
        .post(server.url("/api/v1/analyze"))
        .header("content-type", "application/json")
        .body(spawned::analyze_request("AFTER", 3, 1).to_string())
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .expect("an analysis after the storm is answered");
    assert_eq!(res.status(), 200, "an analysis after the storm: {}", res.text().await.unwrap_or_default());
    eprintln!("first analysis after the storm: {:?}", started.elapsed());

    let ready = client.get(server.url("/ready")).send().await.unwrap();
    let status = ready.status();
    let body: Value = ready.json().await.unwrap();
    assert_eq!(status, 200, "/ready after the storm: {body}");
    assert_eq!(body["database"]["writable"], true, "{body}");

    for a in answered {
        let id = a["analysis_id"].as_str().expect("analysis id");
        let res = client.get(server.url(&format!("/api/v1/analyses/{id}"))).send().await.unwrap();
        assert_eq!(res.status(), 200, "analysis {id} was answered 200 but is not stored");
        let stored: Value = res.json().await.unwrap();
        assert_eq!(&stored, a, "analysis {id} is stored differently from what was answered");
        let trail: Value = client
            .get(server.url(&format!("/api/v1/audit?object_id={id}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let entries = trail["events"].as_array().cloned().unwrap_or_default();
        assert!(
            entries.iter().any(|e| e["action"] == "analysis.create" && e["object_id"] == id),
            "analysis {id} has no analysis.create audit entry: {trail}"
        );
    }
}

fn cli_ok(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = spawned::run(dir, args, env);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "reagent {args:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

async fn storm(dir: &Path, env: &[(&str, &str)]) {
    let out = spawned::run(dir, &["ingest", common::repo().join("corpus").to_str().unwrap()], env);
    assert!(out.status.success(), "ingest: {}", String::from_utf8_lossy(&out.stderr));
    cli_ok(dir, &["db", "seed"], env);
    let key = spawned::api_key_with(dir, "admin", env);
    let client = spawned::client_with(Some(&key));
    let mut server_env = env.to_vec();
    server_env.push(("REAGENT_LIMITS_REQUESTS_PER_SECOND", "0"));
    let mut server = spawned::serve(dir, &server_env);

    let until = Instant::now() + storm_length();
    let answered = Arc::new(Mutex::new(Vec::new()));
    let mut seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    eprintln!("hang-up seed: {seed}");
    let hang_ups: Vec<_> = (0..HANG_UP_CLIENTS)
        .map(|c| tokio::spawn(hang_up_loop(server.addr, key.clone(), c, next(&mut seed) | 1, until)))
        .collect();
    let patient = tokio::spawn(waiting_loop(server.url("/api/v1/analyze"), client.clone(), answered.clone(), until));
    let mut sent = 0;
    for h in hang_ups {
        sent += h.await.unwrap();
    }
    let (ok, other) = patient.await.unwrap();
    let answered = answered.lock().unwrap().clone();
    eprintln!("storm: {sent} requests hung up on, {ok} answered 200 to the waiting client, other answers {other:?}");
    assert!(sent > 100, "the storm sent only {sent} requests");
    assert!(ok > 0, "the waiting client got no 200 during the storm");
    // Hang-ups of requests with a valid key are nobody's failed authentication: they
    // must not spend the address's budget and lock the waiting client out.
    assert!(!other.keys().any(|k| k.starts_with("429")), "the waiting client was throttled: {other:?}");

    check_server(&server, &client, &answered).await;
    // The database takes a write from another process too (the old failure: `database is locked`).
    cli_ok(dir, &["keys", "create", "--name", "after-storm", "--role", "viewer"], env);
    let verify = cli_ok(dir, &["audit", "verify"], env);
    eprintln!("audit verify: {}", verify.trim());

    // And it all survives a restart.
    server.signal("TERM");
    assert!(server.wait_exit(Duration::from_secs(60)).is_some(), "the server did not stop on SIGTERM");
    let server = spawned::serve(dir, &server_env);
    check_server(&server, &client, &answered).await;
    cli_ok(dir, &["audit", "verify"], env);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hang_ups_lose_no_answered_analysis_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    storm(dir.path(), &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hang_ups_lose_no_answered_analysis_on_postgres() {
    let Some(database) = common::postgres::fresh_database().await else { return };
    let dir = tempfile::tempdir().unwrap();
    storm(dir.path(), &[("REAGENT_DATABASE_URL", database.url.as_str())]).await;
}

/// The mechanism under the storm, in process: audit appends dropped at random
/// points (as a request's future is when its client hangs up) while another
/// connection keeps taking SQLite's write lock for a few milliseconds, so many
/// drops land inside `BEGIN IMMEDIATE`'s wait. Afterwards an append must still
/// finish promptly and the chain must verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_dropped_half_way_leave_sqlite_writable() {
    use reagent::audit::{Actor, AuditEvent, AuditKind, AuditLog, AuditSettings};
    use sqlx::Connection;

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("drops.db").display());
    let db = reagent::db::Database::open(&reagent::db::DatabaseSettings::new(url.clone())).await.unwrap();
    let settings = AuditSettings { pii_key: "k".repeat(32), ..Default::default() };
    let log = Arc::new(AuditLog::new(db.clone(), &settings).unwrap());
    let event = |n: u64| AuditEvent::new(AuditKind::Analysis, "test.drop", Actor { id: "t".into(), role: "analyst".into() }, format!("o{n}"));

    let until = Instant::now() + Duration::from_secs(6);
    let holder = tokio::spawn(async move {
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let mut held = 0;
        while Instant::now() < until {
            if sqlx::query("BEGIN IMMEDIATE").execute(&mut c).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(3)).await;
                sqlx::query("COMMIT").execute(&mut c).await.unwrap();
                held += 1;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        held
    });
    let droppers: Vec<_> = (0..8u64)
        .map(|t| {
            let log = log.clone();
            tokio::spawn(async move {
                let (mut seed, mut dropped, mut n) = ((t + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15), 0u64, 0u64);
                while Instant::now() < until {
                    n += 1;
                    let after = Duration::from_micros(next(&mut seed) % 6000);
                    if tokio::time::timeout(after, log.record(event(t * 1_000_000 + n))).await.is_err() {
                        dropped += 1;
                    }
                }
                dropped
            })
        })
        .collect();
    let mut dropped = 0;
    for d in droppers {
        dropped += d.await.unwrap();
    }
    let held = holder.await.unwrap();
    eprintln!("{dropped} appends dropped half-way; the lock was taken {held} times by another connection");
    assert!(dropped > 100, "only {dropped} appends were dropped: the test did not exercise cancellation");

    let row = tokio::time::timeout(Duration::from_secs(20), log.record(event(0)))
        .await
        .expect("an append after the dropped ones finishes (a connection left inside a transaction would block it)")
        .expect("and succeeds");
    let report = reagent::audit::verify(&db).await.unwrap();
    assert!(report.ok(), "{report:?}");
    assert!(report.last_seq >= Some(row.seq), "{report:?}");
}

/// A database that answers reads but cannot take a write (another connection holds
/// SQLite's write lock): `/ready` says so with 503 and `"writable": false` within
/// its probe timeout, an analysis answers 503 `database_busy` at the operation
/// timeout instead of hanging, and both recover once the lock is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_cannot_write_is_not_ready_and_answers_503() {
    use sqlx::Connection;

    let server = common::server::start_with(common::Embedding::Hashing, &[common::repo().join("corpus")], |c| {
        c.database.operation_timeout_secs = 2;
        c.database.write_probe_timeout_ms = 500;
    })
    .await;
    let client = server.client();
    let ready = client.get(server.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    let url = format!("sqlite://{}", server.database_path().display());
    let mut holder = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut holder).await.unwrap();

    let started = Instant::now();
    let ready = client.get(server.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["database"]["writable"], false, "{body}");
    assert!(started.elapsed() < Duration::from_secs(10), "/ready took {:?}", started.elapsed());

    let started = Instant::now();
    let res = client
        .post(server.url("/api/v1/analyze"))
        .header("content-type", "application/json")
        .body(spawned::analyze_request("LOCKED", 2, 1).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "database_busy", "{body}");
    assert!(!body.to_string().contains("sqlite"), "internal detail sent to the client: {body}");
    assert!(started.elapsed() < Duration::from_secs(20), "analyze took {:?}", started.elapsed());

    sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    let ready = client.get(server.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let res = client
        .post(server.url("/api/v1/analyze"))
        .header("content-type", "application/json")
        .body(spawned::analyze_request("LOCKED", 2, 2).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
