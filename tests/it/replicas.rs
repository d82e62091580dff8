//! Several `reagent serve` replicas over one database and one chunk store (issue 13,
//! stateless replicas): two in-process servers (`server::serve` on their own listener,
//! each with its own connection pool, authenticator and audit log, as two processes
//! would have) answer the same clients. Proven here: audited writes through both keep
//! one contiguous, verifiable chain (and appends from four pools do on a server whose
//! default isolation is REPEATABLE READ); a web session signed in on one works on the other
//! and after a restart; the failed-authentication budget is one budget for both and
//! survives a restart; a key revoked through one stops working on the other within
//! `auth.key_cache_seconds`.
//!
//! The audit and session tests run on PostgreSQL (`REAGENT_TEST_POSTGRES_URL`; they say
//! they skipped without it); the budget and revocation tests on SQLite too.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reagent::auth::{AuthSettings, Authenticator, Role};
use reagent::config::Config;
use reagent::db::{Database, DatabaseSettings};
use reagent::services::Services;
use serde_json::{Value, json};

use crate::common::browser::{client, csrf_of, sign_in};
use crate::common::{self, postgres};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// What the replicas share: the database (its URL), the chunk store and configuration.
struct Shared {
    label: &'static str,
    url: String,
    config: Config,
    services: Services,
    _dir: tempfile::TempDir,
    _postgres: Option<postgres::FreshDatabase>,
}

/// One running replica.
struct Replica {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Replica {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Shuts it down as `reagent serve` does at SIGTERM (in-flight requests finish, the
    /// refusal counts are written) and waits until it has.
    async fn stop(self) {
        let _ = self.stop.send(());
        self.served.await.unwrap().unwrap();
    }
}

/// A demo-seeded database of `backend`, a store (holding `corpus/` when `ingest`) and
/// the configuration `tweak` leaves; `None` (having said why) when PostgreSQL is asked
/// for and not available.
async fn shared(backend: Backend, ingest: bool, tweak: impl FnOnce(&mut Config)) -> Option<Shared> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (label, url, pg) = match backend {
        Backend::Sqlite => ("sqlite", format!("sqlite://{}?mode=rwc", dir.path().join("reagent.db").display()), None),
        Backend::Postgres => {
            let database = postgres::fresh_database().await?;
            ("postgres", database.url.clone(), Some(database))
        }
    };
    let mut config = common::config(dir.path());
    // Every client of these tests is 127.0.0.1; the tests that need limits set them.
    config.limits.requests_per_second = 0.0;
    config.limits.auth_failure_burst = 0;
    // Replicas must agree on the pseudonym key (see ARCHITECTURE.md).
    config.audit.pii_key = "replicas share this pseudonym key!".into();
    tweak(&mut config);
    let db = Database::open(&DatabaseSettings { url: url.clone(), ..config.database.clone() }).await.unwrap();
    db.seed_demo().await.unwrap();
    db.close().await;
    let for_services = config.clone();
    let services = tokio::task::spawn_blocking(move || {
        let services = common::services(for_services, common::Embedding::Hashing);
        if ingest {
            let report = common::ingest(&services, &[common::repo().join("corpus")], &common::options());
            assert_eq!(report.failed(), 0, "{:#?}", report.files);
        }
        services
    })
    .await
    .unwrap();
    Some(Shared { label, url, config, services, _dir: dir, _postgres: pg })
}

impl Shared {
    /// A new connection pool to the shared database.
    async fn open(&self) -> Database {
        Database::open(&DatabaseSettings { url: self.url.clone(), ..self.config.database.clone() }).await.unwrap()
    }

    /// Starts a replica: its own pool, use-case state and listener, the shared store.
    async fn start(&self) -> Replica {
        let app = Arc::new(self.services.app_state(self.open().await).unwrap());
        reagent::app::watch_sanctions_lists(&app).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let served = tokio::spawn(reagent::server::serve(app, self.config.clone(), listener, shutdown));
        Replica { addr, stop, served }
    }

    /// A new API key of `role`: `(key id, key)`.
    async fn key(&self, role: Role) -> (String, String) {
        let auth = Authenticator::new(self.open().await, &AuthSettings::default()).unwrap();
        let created = auth.create_key(&format!("replicas {role}"), role).await.unwrap();
        (created.info.key_id, created.key)
    }
}

/// A client whose requests come from `127.0.0.2` (another address, another budget).
fn client_from_elsewhere() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        .build()
        .unwrap()
}

/// Status, `Retry-After` and JSON body of `req`.
async fn send(req: reqwest::RequestBuilder) -> (u16, Option<String>, Value) {
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let retry = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
    let text = res.text().await.unwrap();
    (status, retry, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// A write sent to one replica, and the status that counts as done.
enum Write {
    Analyze(&'static str),
    Ask,
    CreateKey(usize),
    SignIn { good: bool },
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audited_writes_through_two_replicas_keep_one_contiguous_chain() {
    let Some(shared) = shared(Backend::Postgres, true, |_| {}).await else { return };
    let (a, b) = (shared.start().await, shared.start().await);
    let (_, admin) = shared.key(Role::Admin).await;
    let (_, officer) = shared.key(Role::ComplianceOfficer).await;
    let db = shared.open().await;
    let before = db.audit_page(0, 1_000_000).await.unwrap().len();
    let bases = [a.url(""), b.url("")];

    // Analyses, questions, key creations and web sign-ins (good and bad), all at once,
    // alternating between the replicas.
    let txns = ["TXN001", "TXN002", "TXN003", "TXN004", "TXN005", "TXN006", "TXN007", "TXN008"];
    let mut writes: Vec<Write> = txns.iter().chain(txns.iter()).map(|t| Write::Analyze(*t)).collect();
    writes.extend((0..6).map(|_| Write::Ask));
    writes.extend((0..6).map(Write::CreateKey));
    writes.extend((0..12).map(|i| Write::SignIn { good: i % 2 == 0 }));
    let answers = join_all(writes.into_iter().enumerate().map(|(i, write)| {
        let base = bases[i % 2].clone();
        let (admin, officer) = (admin.clone(), officer.clone());
        async move {
            let c = client();
            let (kind, status, body) = match write {
                Write::Analyze(txn) => {
                    let req = c.post(format!("{base}/api/v1/analyze")).bearer_auth(&admin).json(&json!({"transaction_id": txn}));
                    let (status, _, body) = send(req).await;
                    ("analysis.create", status == 200, body)
                }
                Write::Ask => {
                    let question = json!({"question": "When must a CTR be filed?", "as_of": "2026-03-10"});
                    let (status, _, body) = send(c.post(format!("{base}/api/v1/ask")).bearer_auth(&admin).json(&question)).await;
                    ("question.ask", status == 200, body)
                }
                Write::CreateKey(n) => {
                    let req = c.post(format!("{base}/api/v1/keys")).bearer_auth(&admin).json(&json!({"name": format!("k{n}"), "role": "viewer"}));
                    let (status, _, body) = send(req).await;
                    ("key.create", status == 201, body)
                }
                Write::SignIn { good } => {
                    let key = if good { officer.clone() } else { format!("rk_000000000000_{}", "0".repeat(64)) };
                    let answer = sign_in(&c, &base, &key).await;
                    let expected = if good { answer.status == 303 && answer.session.is_some() } else { answer.status == 401 };
                    (if good { "sign-in" } else { "auth.web_sign_in" }, expected, json!(answer.status))
                }
            };
            assert!(status, "{kind} through {base}: {body}");
            (kind, body)
        }
    }))
    .await;
    let mut answered: HashMap<&str, usize> = HashMap::new();
    for (kind, _) in &answers {
        *answered.entry(*kind).or_default() += 1;
    }

    // Decisions on every analysis, each through the replica that did not make it, while
    // more analyses are written.
    let analyses: Vec<String> = answers
        .iter()
        .filter(|(kind, _)| *kind == "analysis.create")
        .map(|(_, body)| body["analysis_id"].as_str().expect("an analysis id").to_string())
        .collect();
    let decisions = analyses.iter().enumerate().map(|(i, id)| {
        let url = format!("{}/api/v1/analyses/{id}/decision", bases[(i + 1) % 2]);
        let req = client().post(url).bearer_auth(&officer).json(&json!({"decision": "approve", "comment": "reviewed"}));
        async move { ("decision.create", send(req).await.0 == 201) }
    });
    let more = txns.iter().enumerate().map(|(i, txn)| {
        let req = client().post(format!("{}/api/v1/analyze", bases[i % 2])).bearer_auth(&admin).json(&json!({"transaction_id": txn}));
        async move { ("analysis.create", send(req).await.0 == 200) }
    });
    let (decided, analysed) = tokio::join!(join_all(decisions), join_all(more));
    for (kind, ok) in decided.into_iter().chain(analysed) {
        assert!(ok, "{kind}");
        *answered.entry(kind).or_default() += 1;
    }

    // Stopping writes each replica's counts of refused sign-ins.
    a.stop().await;
    b.stop().await;

    let entries = db.audit_page(0, 1_000_000).await.unwrap();
    let seqs: Vec<i64> = entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=entries.len() as i64).collect::<Vec<_>>(), "{}: contiguous seqs", shared.label);
    let report = reagent::audit::verify(&db).await.unwrap();
    assert!(report.ok(), "{}: {report:?}", shared.label);
    assert_eq!(report.entries as usize, entries.len());
    let new = &entries[before..];
    let mut logged: HashMap<&str, usize> = HashMap::new();
    let mut refused = 0;
    for e in new {
        *logged.entry(e.action.as_str()).or_default() += 1;
        if e.action == "auth.web_sign_in" {
            refused += serde_json::from_str::<Value>(&e.details).unwrap()["count"].as_u64().unwrap() as usize;
        }
    }
    for kind in ["analysis.create", "question.ask", "key.create", "decision.create"] {
        assert_eq!(logged.get(kind), answered.get(kind), "{kind}: one entry per write answered");
    }
    assert_eq!(refused, answered["auth.web_sign_in"], "every refused sign-in is counted once");
    let writes: usize = ["analysis.create", "question.ask", "key.create", "decision.create"].iter().map(|k| answered[k]).sum();
    assert_eq!(new.len(), writes + logged.get("auth.web_sign_in").copied().unwrap_or(0), "{logged:?}");
    assert!(logged["auth.web_sign_in"] <= 2, "one aggregated entry per replica at most: {logged:?}");
    assert_eq!(db.count_web_sessions().await.unwrap(), answered["sign-in"] as i64, "a session row per sign-in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_session_works_on_every_replica_and_across_a_restart() {
    let Some(shared) = shared(Backend::Postgres, false, |_| {}).await else { return };
    let (a, b) = (shared.start().await, shared.start().await);
    let (_, officer) = shared.key(Role::ComplianceOfficer).await;
    let c = client();
    let answer = sign_in(&c, &a.url(""), &officer).await;
    assert_eq!(answer.status, 303);
    let session = answer.session.expect("a session cookie");
    let page = |base: String| {
        let (c, session) = (c.clone(), session.clone());
        async move {
            let res = c.get(format!("{base}/transactions")).header("cookie", session).send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.text().await.unwrap())
        }
    };
    assert_eq!(page(b.url("")).await.0, 200, "signed in on A, served by B");

    // A goes away and comes back: the session is still there.
    a.stop().await;
    let a = shared.start().await;
    let (status, html) = page(a.url("")).await;
    assert_eq!(status, 200, "after a restart");

    // Signing out on B (a CSRF-checked form, with the token A's page gave) ends it on A.
    let res = c
        .post(b.url("/sign-out"))
        .header("cookie", &session)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={}", csrf_of(&html)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    let res = c.get(a.url("/transactions")).header("cookie", &session).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 303, "signed out on B, refused on A");
    assert!(res.headers()["location"].to_str().unwrap().starts_with("/sign-in"));
    a.stop().await;
    b.stop().await;
}

async fn failed_authentications_through_one_replica_refuse_the_other(backend: Backend) {
    let burst = 3;
    let tweak = |c: &mut Config| {
        c.limits.auth_failure_burst = burst;
        c.limits.auth_failures_per_minute = 1.0;
    };
    let Some(shared) = shared(backend, false, tweak).await else { return };
    let label = shared.label;
    let (a, b) = (shared.start().await, shared.start().await);
    let (_, viewer) = shared.key(Role::Viewer).await;
    let bad = format!("rk_000000000000_{}", "1".repeat(64));
    let missing = format!("/api/v1/analyses/{}", uuid::Uuid::new_v4());
    for _ in 0..burst {
        let (status, _, body) = send(client().get(a.url(&missing)).bearer_auth(&bad)).await;
        assert_eq!(status, 401, "{label}: {body}");
    }
    // B refuses the address before looking at any credential, even a valid one it has
    // never verified, on the API and on the sign-in form.
    for key in [&bad, &viewer] {
        let (status, retry, body) = send(client().get(b.url(&missing)).bearer_auth(key)).await;
        assert_eq!(status, 429, "{label}: {body}");
        assert_eq!(body["error"]["code"], "too_many_failed_authentications", "{label}: {body}");
        let retry: u64 = retry.expect("Retry-After").parse().unwrap();
        assert!((1..=60).contains(&retry), "{label}: one failure a minute comes back: {retry}");
    }
    let answer = sign_in(&client(), &b.url(""), &viewer).await;
    assert_eq!((answer.status, answer.retry_after.is_some()), (429, true), "{label}: the sign-in form shares the budget");
    // Another address has its own budget.
    let (status, _, body) = send(client_from_elsewhere().get(b.url(&missing)).bearer_auth(&viewer)).await;
    assert_eq!(status, 404, "{label}: {body}");

    // Both replicas restart: the budget is still spent.
    a.stop().await;
    b.stop().await;
    let c = shared.start().await;
    let (status, _, body) = send(client().get(c.url(&missing)).bearer_auth(&viewer)).await;
    assert_eq!(status, 429, "{label}: a restart refills nothing: {body}");
    c.stop().await;
    let db = shared.open().await;
    assert_eq!(db.count_auth_budgets().await.unwrap(), 1, "{label}: one budget charged, 127.0.0.1's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentications_through_one_replica_refuse_the_other_on_sqlite() {
    failed_authentications_through_one_replica_refuse_the_other(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentications_through_one_replica_refuse_the_other_on_postgres() {
    failed_authentications_through_one_replica_refuse_the_other(Backend::Postgres).await;
}

async fn a_key_revoked_through_one_replica_stops_working_on_the_other(backend: Backend) {
    let cache_seconds = 2;
    let Some(shared) = shared(backend, false, |c| c.auth.key_cache_seconds = cache_seconds).await else { return };
    let label = shared.label;
    let (a, b) = (shared.start().await, shared.start().await);
    let (_, admin) = shared.key(Role::Admin).await;
    let (viewer_id, viewer) = shared.key(Role::Viewer).await;
    let missing = format!("/api/v1/analyses/{}", uuid::Uuid::new_v4());
    // B verifies the key and caches it.
    assert_eq!(send(client().get(b.url(&missing)).bearer_auth(&viewer)).await.0, 404, "{label}");
    let (status, _, body) = send(client().delete(a.url(&format!("/api/v1/keys/{viewer_id}"))).bearer_auth(&admin)).await;
    assert_eq!(status, 200, "{label}: {body}");
    let revoked = Instant::now();
    assert_eq!(send(client().get(a.url(&missing)).bearer_auth(&viewer)).await.0, 401, "{label}: at once on A");
    // B trusts its cache at most `key_cache_seconds`, then reads the revocation.
    let bound = Duration::from_secs(cache_seconds) + Duration::from_millis(1500);
    loop {
        let status = send(client().get(b.url(&missing)).bearer_auth(&viewer)).await.0;
        if status == 401 {
            break;
        }
        assert_eq!(status, 404, "{label}");
        assert!(revoked.elapsed() < bound, "{label}: the revoked key still works on B after {:?}", revoked.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_through_one_replica_stops_working_on_the_other_on_sqlite() {
    a_key_revoked_through_one_replica_stops_working_on_the_other(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_through_one_replica_stops_working_on_the_other_on_postgres() {
    a_key_revoked_through_one_replica_stops_working_on_the_other(Backend::Postgres).await;
}

/// The audit append reads the chain's head after taking its lock. Under READ COMMITTED
/// (PostgreSQL's default) each statement sees what committed before it; a server whose
/// default is REPEATABLE READ would take the snapshot at the lock statement, before the
/// wait, and read a stale head. Appends pin their own isolation level, so writers in
/// several processes never lose entries to that (nor fork the chain: the primary key on `seq` forbids it).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_keep_one_chain_whatever_the_default_isolation() {
    let Some(database) = postgres::fresh_database().await else { return };
    database.default_to_repeatable_read().await;
    let settings = reagent::audit::AuditSettings { pii_key: "k".repeat(32), ..Default::default() };
    let open = || async { Database::open(&DatabaseSettings::new(database.url.clone())).await.unwrap() };
    // Four writers: with two, a stale read's retry nearly always wins the next round.
    let mut logs = Vec::new();
    for _ in 0..4 {
        logs.push(Arc::new(reagent::audit::AuditLog::new(open().await, &settings).unwrap()));
    }
    let appends = (0..160).map(|n| {
        let log = logs[n % 4].clone();
        let actor = reagent::audit::Actor { id: format!("replica{}", n % 4), role: "analyst".into() };
        let event = reagent::audit::AuditEvent::new(reagent::audit::AuditKind::Question, "test.append", actor, format!("object-{n}"));
        tokio::spawn(async move { log.record(event).await.map(|row| row.seq) })
    });
    let mut seqs: Vec<i64> = join_all(appends).await.into_iter().map(|r| r.unwrap().expect("every append succeeds")).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=160).collect::<Vec<_>>());
    let report = reagent::audit::verify(logs[0].db()).await.unwrap();
    assert!(report.ok() && report.entries == 160, "{report:?}");
}
