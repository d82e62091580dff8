//! The remote store in tests: a configuration whose store is a fresh collection on the
//! Qdrant server named by `REAGENT_TEST_QDRANT_URL` (scripts/test.sh starts one node) or
//! `QDRANT_URL`, or on the 3-node cluster named by `REAGENT_TEST_QDRANT_CLUSTER_URL`
//! (3 shards, 2 copies each), deleted again when the returned guard drops. Without a
//! server the callers skip, saying so.

use reagent::config::Config;
use reagent::services::Services;
use reagent_ingest::RemoteStore;
use reagent_ingest::store::{StoreBackend, test_cluster_url, test_server_url};

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
    Some(on(config, test_server_url()?))
}

/// `config` moved onto a fresh collection of 3 shards with 2 copies each on the test
/// cluster, or `None` (with a message) when no cluster is configured.
pub fn cluster(config: &Config) -> Option<Config> {
    let mut c = on(config, test_cluster_url()?);
    c.store.shard_number = 3;
    c.store.replication_factor = 2;
    Some(c)
}

fn on(config: &Config, url: String) -> Config {
    let mut c = config.clone();
    c.store.backend = StoreBackend::Qdrant;
    c.store.url = url;
    c.store.collection = format!("reagent_it_{}", uuid::Uuid::new_v4().simple());
    c
}

/// `config` on the single test server and on the test cluster, those that are there.
pub fn remotes(config: &Config) -> Vec<Config> {
    remote(config).into_iter().chain(cluster(config)).collect()
}

/// `config` as it is (the embedded store) and on fresh remote collections (one node,
/// the cluster) when there: the backends a store-level test runs on.
pub fn backends(config: Config) -> Vec<Config> {
    let remotes = remotes(&config);
    std::iter::once(config).chain(remotes).collect()
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
            ("REAGENT_STORE_SHARD_NUMBER", config.store.shard_number.to_string()),
            ("REAGENT_STORE_REPLICATION_FACTOR", config.store.replication_factor.to_string()),
        ],
    }
}
