//! An in-process reagent service on a loopback port, over a store holding the corpus
//! (and the US regulations when present), with a fresh SQLite database.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use reagent::auth::Role;
use reagent::db::{Database, DatabaseSettings};
use reagent::app::App;

pub struct TestServer {
    pub addr: SocketAddr,
    pub state: Arc<App>,
    /// The server's database, for tests to arrange and check records directly.
    pub db: Database,
    /// The parts the server was built from (store, embedder, a fresh analyzer).
    pub services: reagent::services::Services,
    /// One API key per role (`Role::ALL` order).
    pub keys: Vec<(Role, String)>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The SQLite database file the server uses.
    pub fn database_path(&self) -> std::path::PathBuf {
        self._dir.path().join("reagent.db")
    }

    /// The API key of `role`.
    pub fn key(&self, role: Role) -> &str {
        self.keys
            .iter()
            .find(|(r, _)| *r == role)
            .map(|(_, k)| k.as_str())
            .expect("a key per role")
    }

    /// A client that sends the admin key with every request.
    pub fn client(&self) -> reqwest::Client {
        self.client_as(Role::Admin)
    }

    /// A client that sends `role`'s key (`Authorization: Bearer`) with every request.
    pub fn client_as(&self, role: Role) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", self.key(role))).unwrap();
        headers.insert(reqwest::header::AUTHORIZATION, value);
        reqwest::Client::builder().default_headers(headers).build().unwrap()
    }
}

/// Ingest `sources` with the installed model and serve. `tweak` may adjust the
/// configuration first.
pub async fn start(sources: &[std::path::PathBuf], tweak: impl FnOnce(&mut reagent::config::Config)) -> TestServer {
    start_with(super::Embedding::Model, sources, tweak).await
}

/// [`start`] embedding with `embedding`.
pub async fn start_with(
    embedding: super::Embedding,
    sources: &[std::path::PathBuf],
    tweak: impl FnOnce(&mut reagent::config::Config),
) -> TestServer {
    // reqwest is built without a default TLS crypto provider; tests use plain HTTP but
    // building a client still needs one installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let mut config = super::config(dir.path());
    // In-process clients share one address; tests/limits.rs turns the rate limit and
    // the failed-authentication budget back on.
    config.limits.requests_per_second = 0.0;
    config.limits.auth_failure_burst = 0;
    tweak(&mut config);
    // A fresh SQLite file, with the configuration's other database settings.
    let db_settings = DatabaseSettings {
        url: format!("sqlite://{}?mode=rwc", dir.path().join("reagent.db").display()),
        ..config.database.clone()
    };
    let db = Database::open(&db_settings).await.unwrap();
    db.seed_demo().await.unwrap();
    let sources = sources.to_vec();
    let config_kept = config.clone();
    let services = tokio::task::spawn_blocking(move || {
        let services = super::services(config, embedding);
        let report = super::ingest(&services, &sources, &super::options());
        assert_eq!(report.failed(), 0, "{:#?}", report.files);
        services
    })
    .await
    .unwrap();
    let state = Arc::new(services.app_state(db.clone()).unwrap());
    reagent::app::watch_sanctions_lists(&state).await.unwrap();
    let auth = reagent::auth::Authenticator::new(db.clone(), &config_kept.auth).unwrap();
    let mut keys = Vec::new();
    for role in Role::ALL {
        keys.push((role, auth.create_key(&format!("test {role}"), role).await.unwrap().key));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(reagent::server::serve(state.clone(), config_kept, listener, std::future::pending()));
    TestServer {
        addr,
        state,
        db,
        services,
        keys,
        _dir: dir,
    }
}

/// Stores the newest `sdn-YYYY-MM-DD.csv` snapshot of the shared data (as
/// `scripts/run.sh` does) and loads it into the server's engine; its version id,
/// or `None` (with a message) when the snapshots are absent.
pub async fn load_newest_sanctions(server: &TestServer) -> Option<String> {
    let dir = super::shared("sanctions")?;
    let newest = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("sdn-") && n.ends_with(".csv")))
        .max()?;
    let date = newest.file_stem()?.to_str()?.strip_prefix("sdn-")?.parse().ok()?;
    let (info, entries) =
        reagent::sanctions::read_list(reagent::sanctions::ListKind::Sdn, date, &newest, None, None).unwrap();
    server.db.store_sanctions_version(&info, &entries).await.unwrap();
    server.state.refresh_sanctions().await.unwrap();
    Some(info.version_id)
}

/// `POST /api/v1/analyze` of stored transaction `transaction_id` as admin; asserts 200
/// and returns the analysis.
pub async fn analyze(server: &TestServer, transaction_id: &str) -> serde_json::Value {
    let request = serde_json::json!({"transaction_id": transaction_id});
    let (status, body) = super::send(server.client().post(server.url("/api/v1/analyze")).json(&request)).await;
    assert_eq!(status, 200, "{body}");
    body
}

pub fn sources(repo: &Path) -> Vec<std::path::PathBuf> {
    let mut s = vec![repo.join("corpus")];
    if let Some(regs) = super::shared("us-regulations") {
        s.push(regs);
    }
    s
}
