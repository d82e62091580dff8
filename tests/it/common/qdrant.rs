//! The remote store in tests: a configuration whose store is a fresh collection on the
//! Qdrant server named by `REAGENT_TEST_QDRANT_URL` (scripts/test.sh starts one node) or
//! `QDRANT_URL`, deleted again when the returned guard drops. Without a server the
//! callers skip, saying so.

use reagent::config::Config;
use reagent::services::Services;
use reagent_ingest::RemoteStore;
use reagent_ingest::store::{StoreBackend, test_server_url};

/// Deletes its collection when dropped (the store never drops one itself).
pub struct Collection(Config);

impl Drop for Collection {
    fn drop(&mut self) {
        if let Err(e) = RemoteStore::connect(&self.0.store).and_then(|s| s.drop_collection()) {
            eprintln!("test collection {} left behind: {e}", self.0.store.collection);
        }
    }
}

/// `config` moved onto a fresh collection of the test server, or `None` (with a message)
/// when no server is configured.
pub fn remote(config: &Config) -> Option<Config> {
    let url = test_server_url()?;
    let mut c = config.clone();
    c.store.backend = StoreBackend::Qdrant;
    c.store.url = url;
    c.store.collection = format!("reagent_it_{}", uuid::Uuid::new_v4().simple());
    Some(c)
}

/// `config` as it is (the embedded store) and, when a server is there, on a fresh
/// remote collection: the backends a store-level test runs on.
pub fn backends(config: Config) -> Vec<Config> {
    let remote = remote(&config);
    std::iter::once(config).chain(remote).collect()
}

/// The guard deleting the collection of a remote `config` (`None` for the embedded store).
pub fn guard(config: &Config) -> Option<Collection> {
    (config.store.backend == StoreBackend::Qdrant).then(|| Collection(config.clone()))
}

/// [`guard`] for `services`' store.
pub fn cleanup(services: &Services) -> Option<Collection> {
    guard(&services.config)
}

/// The environment that points a spawned `reagent` at the same store.
pub fn env(config: &Config) -> Vec<(&'static str, String)> {
    match config.store.backend {
        StoreBackend::Embedded => vec![("REAGENT_STORE_BACKEND", "embedded".into())],
        StoreBackend::Qdrant => vec![
            ("REAGENT_STORE_BACKEND", "qdrant".into()),
            ("REAGENT_STORE_URL", config.store.url.clone()),
            ("REAGENT_STORE_COLLECTION", config.store.collection.clone()),
        ],
    }
}
