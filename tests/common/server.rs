//! An in-process reagent service on a loopback port, over a store holding the corpus
//! (and the US regulations when present), with a fresh SQLite database.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use reagent::db::{Database, DatabaseSettings};
use reagent::service::{AppState, router};

pub struct TestServer {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// Ingest `sources` and serve. `tweak` may adjust the configuration first.
pub async fn start(sources: &[std::path::PathBuf], tweak: impl FnOnce(&mut reagent::config::Config)) -> TestServer {
    // reqwest is built without a default TLS crypto provider; tests use plain HTTP but
    // building a client still needs one installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let mut config = super::config(dir.path());
    tweak(&mut config);
    let db_url = format!("sqlite://{}?mode=rwc", dir.path().join("reagent.db").display());
    let db = Database::open(&DatabaseSettings { url: db_url }).await.unwrap();
    db.seed_demo().await.unwrap();
    let sources = sources.to_vec();
    let services = tokio::task::spawn_blocking(move || {
        let services = reagent::services::Services::start(config).unwrap();
        let report = super::ingest(&services, &sources, &super::options());
        assert_eq!(report.failed(), 0, "{:#?}", report.files);
        services
    })
    .await
    .unwrap();
    let state = Arc::new(AppState {
        analyzer: services.analyzer().unwrap(),
        db,
        store: services.store.clone(),
        metrics: Default::default(),
        settings: services.config.server.clone(),
        model_id: "test".into(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    TestServer { addr, state, _dir: dir }
}

pub fn sources(repo: &Path) -> Vec<std::path::PathBuf> {
    let mut s = vec![repo.join("corpus")];
    if let Some(regs) = super::shared("us-regulations") {
        s.push(regs);
    }
    s
}
