//! Owns where chunks live: the [`ChunkStore`] trait that the pipeline and the retriever
//! talk to, its record types and settings, its health report ([`StoreHealth`]), and its
//! two backends: the embedded Qdrant shard ([`EdgeStore`], the default) and a Qdrant
//! server or cluster ([`RemoteStore`]).
//!
//! A store stores, filters and fetches; it does not rank. It writes the vectors it is
//! given (dense, and the BM25 term and pair vectors the pipeline computed), and answers
//! candidate queries with raw scores under a [`SearchFilter`]; fusing them is the
//! retrieval crate's job, so every store ranks alike.
//!
//! Versions are the unit of visibility. A version's chunks are written `pending`, and
//! only once all of them are durable does the version turn `active`; searches and
//! listings see active versions only. `recover` removes what a crash left pending.
//!
//! A store holds the vectors of one embedding model, whose fingerprint it records;
//! `reembed` moves a whole store to another model at once.

mod edge;
mod migrate;
mod payload;
mod reembed;
mod remote;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::chunk::Chunk;
use crate::document::{DocumentMeta, DocumentType};
use crate::lexical::{Bm25Params, LexicalVectors, SparseTerms};
pub use edge::EdgeStore;
pub use remote::{RemoteStore, test_cluster_url, test_server_url};
pub use reembed::{ReembedReport, reembed};

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("store at {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("store is in use by another reagent process (lock file {0}); stop it or use another data_dir")]
    Locked(String),
    #[error(
        "store at {path} holds {stored_dimension}-dimensional vectors of the embedding model {stored_model}, but the configured model is {configured_model} ({configured_dimension} dimensions); one store never mixes two models' vectors. Run `reagent docs reembed` to re-embed every stored chunk with the configured model, or set store.data_dir to a fresh folder"
    )]
    ModelMismatch { path: String, stored_model: String, stored_dimension: usize, configured_model: String, configured_dimension: usize },
    #[error("re-embedding: {0}")]
    Embed(String),
    #[error("store at {path} has layout {stored}, newer than this reagent's layout {expected}: open it with the reagent that wrote it, or ingest into a fresh data_dir")]
    Layout { path: String, stored: u32, expected: u32 },
    #[error("Qdrant: {0}")]
    Backend(String),
    #[error("Qdrant collection {collection} at {url}: {reason}; reagent never drops a collection: point store.collection at another one, or remove this one yourself")]
    Schema { url: String, collection: String, reason: String },
    #[error("stored payload is malformed: {0}")]
    Payload(String),
}

/// Which store holds the chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreBackend {
    /// An embedded Qdrant shard in `data_dir` (one process, one machine).
    #[default]
    Embedded,
    /// A Qdrant server or cluster at `url`, shared by several processes.
    Qdrant,
}

/// Which store holds the chunks and how to reach it, and the BM25 weighting of its chunks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    pub backend: StoreBackend,
    /// Folder of the embedded Qdrant shard.
    pub data_dir: std::path::PathBuf,
    /// BM25 term-frequency saturation.
    pub bm25_k1: f64,
    /// BM25 length normalisation.
    pub bm25_b: f64,
    /// BM25 expected average chunk length in terms (words after stop words are dropped).
    pub bm25_avg_len: f64,
    /// gRPC URL of the Qdrant server (`backend = "qdrant"`).
    pub url: String,
    /// API key the Qdrant server asks for; empty for none.
    pub api_key: String,
    /// Talk TLS to the server (`url` must then be `https://`).
    pub tls: bool,
    /// Collection holding the chunks.
    pub collection: String,
    /// Shards of a new collection (an existing collection keeps its own).
    pub shard_number: u32,
    /// Copies of each shard in a new collection.
    pub replication_factor: u32,
    /// Copies that must acknowledge a write in a new collection.
    pub write_consistency_factor: u32,
    /// Deadline of one request to the server, seconds.
    pub timeout_secs: u64,
    /// Deadline of connecting to the server, seconds.
    pub connect_timeout_secs: u64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            backend: StoreBackend::Embedded,
            data_dir: "data/qdrant".into(),
            bm25_k1: 1.2,
            bm25_b: 0.75,
            bm25_avg_len: 80.0,
            url: "http://127.0.0.1:6334".into(),
            api_key: String::new(),
            tls: false,
            collection: "reagent_chunks".into(),
            shard_number: 1,
            replication_factor: 1,
            write_consistency_factor: 1,
            timeout_secs: 30,
            connect_timeout_secs: 5,
        }
    }
}

impl StoreSettings {
    pub fn bm25(&self) -> Bm25Params {
        Bm25Params { k1: self.bm25_k1, b: self.bm25_b, avg_len: self.bm25_avg_len }
    }

    /// Check the remote store's settings (only when `backend = "qdrant"`); the error
    /// names the key (under `store.`).
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.backend != StoreBackend::Qdrant {
            return Ok(());
        }
        let scheme = self.url.split_once("://").map(|(s, _)| s);
        match (scheme, self.tls) {
            (Some("http"), false) | (Some("https"), true) => {}
            (Some("http" | "https"), _) => {
                return Err(("tls", format!("is {} but store.url {:?} is {}", self.tls, self.url, if self.tls { "http://" } else { "https://" })));
            }
            _ => return Err(("url", format!("{:?} is not a gRPC URL like http://127.0.0.1:6334", self.url))),
        }
        if self.collection.is_empty() || !self.collection.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(("collection", format!("{:?} must be non-empty letters, digits, '_' or '-'", self.collection)));
        }
        for (key, v) in [("shard_number", self.shard_number), ("replication_factor", self.replication_factor)] {
            if v == 0 {
                return Err((key, "must be at least 1".into()));
            }
        }
        if !(1..=self.replication_factor).contains(&self.write_consistency_factor) {
            return Err((
                "write_consistency_factor",
                format!("must be within 1..=store.replication_factor ({}), got {}", self.replication_factor, self.write_consistency_factor),
            ));
        }
        for (key, v) in [("timeout_secs", self.timeout_secs), ("connect_timeout_secs", self.connect_timeout_secs)] {
            if v == 0 {
                return Err((key, "must be at least 1".into()));
            }
        }
        Ok(())
    }
}

/// Whether a version is visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    /// Chunks are being written; invisible to queries.
    Pending,
    /// Complete and visible.
    Active,
}

/// How a store is doing, as the readiness probe reports it ([`ChunkStore::health`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreHealth {
    pub backend: StoreBackend,
    /// The store answered.
    pub reachable: bool,
    pub status: HealthStatus,
    /// Chunks stored (active and pending), when the store answered.
    pub chunks: Option<usize>,
    /// Where each shard's copies are and their states (a Qdrant cluster; empty for the
    /// embedded store).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardHealth>,
    /// What is wrong, when the status is not `ok`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Whether a store serves: `degraded` still serves every chunk (each shard has an
/// active copy) with fewer copies than configured; `unavailable` does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Ok,
    Degraded,
    Unavailable,
}

/// One shard of a distributed collection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShardHealth {
    pub shard_id: u32,
    pub replicas: Vec<ReplicaHealth>,
}

/// One copy of a shard: the cluster peer holding it and its state as the cluster's
/// consensus knows it (Qdrant's names: `Active`, `Dead`, `Partial`, ...).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplicaHealth {
    pub peer_id: u64,
    pub state: String,
}

impl ReplicaHealth {
    pub const ACTIVE: &str = "Active";

    pub fn active(&self) -> bool {
        self.state == Self::ACTIVE
    }
}

impl StoreHealth {
    /// The health of a store that only says whether it answers: `chunks` is the result
    /// of counting them.
    pub fn from_count(backend: StoreBackend, chunks: Result<usize, StoreError>) -> Self {
        match chunks {
            Ok(n) => Self { backend, reachable: true, status: HealthStatus::Ok, chunks: Some(n), shards: vec![], error: None },
            Err(e) => Self {
                backend,
                reachable: false,
                status: HealthStatus::Unavailable,
                chunks: None,
                shards: vec![],
                error: Some(e.to_string()),
            },
        }
    }

    /// Take the shards' replica states into account: a shard without an active copy
    /// makes the store unavailable, any copy not active makes it degraded.
    pub fn with_shards(mut self, shards: Vec<ShardHealth>) -> Self {
        let orphan: Vec<u32> = shards.iter().filter(|s| !s.replicas.iter().any(ReplicaHealth::active)).map(|s| s.shard_id).collect();
        let inactive: Vec<String> = shards
            .iter()
            .flat_map(|s| s.replicas.iter().filter(|r| !r.active()).map(move |r| format!("shard {} on peer {}: {}", s.shard_id, r.peer_id, r.state)))
            .collect();
        if !orphan.is_empty() {
            self.status = HealthStatus::Unavailable;
            self.error = Some(format!("no active copy of shard(s) {orphan:?}"));
        } else if !inactive.is_empty() && self.status == HealthStatus::Ok {
            self.status = HealthStatus::Degraded;
            self.error = Some(format!("copies not active: {}", inactive.join("; ")));
        }
        self.shards = shards;
        self
    }

    /// Whether the store serves every chunk (ok or degraded).
    pub fn serves(&self) -> bool {
        self.status != HealthStatus::Unavailable
    }
}

/// A chunk ready to store: its vectors and everything needed to cite it.
#[derive(Debug, Clone)]
pub struct StoredChunk {
    pub id: Uuid,
    pub meta: DocumentMeta,
    pub chunk: Chunk,
    pub dense: Vec<f32>,
    /// BM25 vectors over the chunk's terms and term pairs (of [`Chunk::lexical_text`]),
    /// weighted with the store's [`ChunkStore::bm25`] parameters.
    pub lexical: LexicalVectors,
    /// Chunks in the whole version.
    pub version_chunks: usize,
}

/// One stored version of a document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    pub meta: DocumentMeta,
    pub status: VersionStatus,
    pub chunk_count: usize,
    pub ingested_at: chrono::DateTime<chrono::Utc>,
}

/// A chunk as it comes back from the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkRecord {
    pub chunk_id: Uuid,
    pub meta: DocumentMeta,
    pub chunk: Chunk,
}

/// A search hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredChunk {
    pub record: ChunkRecord,
    pub score: f32,
}

/// Which documents a search may return. Empty lists mean "any".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchFilter {
    /// Only versions in force on this date (effective_from ≤ date < effective_to).
    pub as_of: Option<NaiveDate>,
    pub jurisdictions: Vec<String>,
    pub document_types: Vec<DocumentType>,
    pub document_ids: Vec<String>,
}

/// A stored sparse vector of a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SparseVector {
    /// BM25 over single terms.
    Terms,
    /// BM25 over adjacent term pairs.
    Pairs,
}

/// What a candidate query scores chunks by.
#[derive(Debug, Clone, Copy)]
pub enum VectorQuery<'a> {
    /// Cosine similarity to this dense vector.
    Dense(&'a [f32]),
    /// Dot product of the chunk's sparse vector with this one, IDF applied: BM25 when
    /// the query weighs each of its terms 1.
    Sparse(SparseVector, &'a SparseTerms),
}

/// One query of a batch ([`ChunkStore::fetch`]).
#[derive(Debug, Clone, Copy)]
pub enum Fetch<'a> {
    /// The best `limit` chunks, as [`ChunkStore::candidates`] answers.
    Candidates { query: VectorQuery<'a>, filter: &'a SearchFilter, limit: usize },
    /// The scores of those of `ids` that pass `filter`, as [`ChunkStore::score`] answers.
    Score { query: VectorQuery<'a>, filter: &'a SearchFilter, ids: &'a [Uuid] },
}

/// A chunk and the raw score a query gave it (or, once fused, its fused score).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub chunk_id: Uuid,
    pub score: f32,
}

/// The storage seam: everything the pipeline and the retriever need from a vector store.
/// The embedded Qdrant shard and a remote Qdrant server or cluster implement it. Queries only
/// see active versions, filtered by [`SearchFilter`].
pub trait ChunkStore: Send + Sync {
    /// Write chunks of one version as `pending` (idempotent: ids are deterministic).
    fn write_pending(&self, chunks: &[StoredChunk]) -> Result<(), StoreError>;
    /// Make a fully written version visible, durably.
    fn activate(&self, document_id: &str, version: &str) -> Result<(), StoreError>;
    /// Close a version: it stops being in force on `effective_to`.
    fn set_effective_to(&self, document_id: &str, version: &str, effective_to: NaiveDate) -> Result<(), StoreError>;
    /// Remove one version, or every version of a document; returns chunks removed.
    fn delete(&self, document_id: &str, version: Option<&str>) -> Result<usize, StoreError>;
    /// Remove every pending chunk left by an interrupted run; returns chunks removed.
    fn recover(&self) -> Result<usize, StoreError>;
    /// Versions, optionally of one document, oldest first, including pending ones.
    fn versions(&self, document_id: Option<&str>) -> Result<Vec<VersionInfo>, StoreError>;
    /// The active chunks of one version, in order.
    fn chunks(&self, document_id: &str, version: &str) -> Result<Vec<ChunkRecord>, StoreError>;
    fn get(&self, chunk_id: Uuid) -> Result<Option<ChunkRecord>, StoreError>;
    /// The best `limit` chunks for `query` under `filter`, best first, with raw scores.
    fn candidates(&self, query: VectorQuery<'_>, filter: &SearchFilter, limit: usize) -> Result<Vec<Candidate>, StoreError>;
    /// `query`'s raw scores of those of `ids` that pass `filter`, best first; a sparse
    /// query leaves out chunks that share nothing with it.
    fn score(&self, query: VectorQuery<'_>, filter: &SearchFilter, ids: &[Uuid]) -> Result<Vec<Candidate>, StoreError>;
    /// The answers of several queries, in order, each exactly what `candidates` or `score`
    /// answers alone. By default one after the other; a remote store sends them as one
    /// request, so a search pays one round trip per batch instead of one per query.
    fn fetch(&self, fetches: &[Fetch<'_>]) -> Result<Vec<Vec<Candidate>>, StoreError> {
        fetches
            .iter()
            .map(|f| match *f {
                Fetch::Candidates { query, filter, limit } => self.candidates(query, filter, limit),
                Fetch::Score { query, filter, ids } => self.score(query, filter, ids),
            })
            .collect()
    }
    /// The chunks' stored sparse vectors (ids not stored are left out).
    fn sparse_vectors(&self, ids: &[Uuid], vector: SparseVector) -> Result<Vec<(Uuid, SparseTerms)>, StoreError>;
    /// The records of `ids`, as stored (ids not stored are left out).
    fn records(&self, ids: &[Uuid]) -> Result<Vec<ChunkRecord>, StoreError>;
    /// The BM25 parameters the stored term weights were computed with (`[store]`): what
    /// a writer weighs new chunks' [`StoredChunk::lexical`] vectors with.
    fn bm25(&self) -> Bm25Params;
    /// Chunks stored, active and pending.
    fn count(&self) -> Result<usize, StoreError>;
    /// Make everything written so far durable.
    fn flush(&self) -> Result<(), StoreError>;
    /// Merge segments and build vector indexes, worth doing after a large ingest; a
    /// store that optimizes on its own does nothing.
    fn optimize(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// How the store is doing (the readiness probe): by default, whether it counts its
    /// chunks; a distributed store adds its shards' replica states.
    fn health(&self) -> StoreHealth {
        StoreHealth::from_count(StoreBackend::Embedded, self.count())
    }
}

/// A store that answers every [`ChunkStore::fetch`] one query at a time (the trait's
/// default), whatever `S` does: the reference a batching store is compared with (tests,
/// `benches/remote_search.rs`). Everything else goes to `S` unchanged.
pub struct OneAtATime<S>(pub S);

impl<S: std::ops::Deref<Target = T> + Send + Sync, T: ChunkStore + ?Sized> ChunkStore for OneAtATime<S> {
    fn write_pending(&self, chunks: &[StoredChunk]) -> Result<(), StoreError> {
        self.0.write_pending(chunks)
    }
    fn activate(&self, document_id: &str, version: &str) -> Result<(), StoreError> {
        self.0.activate(document_id, version)
    }
    fn set_effective_to(&self, document_id: &str, version: &str, effective_to: NaiveDate) -> Result<(), StoreError> {
        self.0.set_effective_to(document_id, version, effective_to)
    }
    fn delete(&self, document_id: &str, version: Option<&str>) -> Result<usize, StoreError> {
        self.0.delete(document_id, version)
    }
    fn recover(&self) -> Result<usize, StoreError> {
        self.0.recover()
    }
    fn versions(&self, document_id: Option<&str>) -> Result<Vec<VersionInfo>, StoreError> {
        self.0.versions(document_id)
    }
    fn chunks(&self, document_id: &str, version: &str) -> Result<Vec<ChunkRecord>, StoreError> {
        self.0.chunks(document_id, version)
    }
    fn get(&self, chunk_id: Uuid) -> Result<Option<ChunkRecord>, StoreError> {
        self.0.get(chunk_id)
    }
    fn candidates(&self, query: VectorQuery<'_>, filter: &SearchFilter, limit: usize) -> Result<Vec<Candidate>, StoreError> {
        self.0.candidates(query, filter, limit)
    }
    fn score(&self, query: VectorQuery<'_>, filter: &SearchFilter, ids: &[Uuid]) -> Result<Vec<Candidate>, StoreError> {
        self.0.score(query, filter, ids)
    }
    fn sparse_vectors(&self, ids: &[Uuid], vector: SparseVector) -> Result<Vec<(Uuid, SparseTerms)>, StoreError> {
        self.0.sparse_vectors(ids, vector)
    }
    fn records(&self, ids: &[Uuid]) -> Result<Vec<ChunkRecord>, StoreError> {
        self.0.records(ids)
    }
    fn bm25(&self) -> Bm25Params {
        self.0.bm25()
    }
    fn count(&self) -> Result<usize, StoreError> {
        self.0.count()
    }
    fn flush(&self) -> Result<(), StoreError> {
        self.0.flush()
    }
    fn optimize(&self) -> Result<(), StoreError> {
        self.0.optimize()
    }
    fn health(&self) -> StoreHealth {
        self.0.health()
    }
}

#[cfg(test)]
mod health_tests {
    use super::*;

    fn shard(id: u32, states: &[&str]) -> ShardHealth {
        ShardHealth {
            shard_id: id,
            replicas: states.iter().enumerate().map(|(i, s)| ReplicaHealth { peer_id: i as u64 + 1, state: s.to_string() }).collect(),
        }
    }

    #[test]
    fn replica_states_decide_between_ok_degraded_and_unavailable() {
        let up = || StoreHealth::from_count(StoreBackend::Qdrant, Ok(7));
        assert_eq!(up().with_shards(vec![shard(0, &["Active", "Active"]), shard(1, &["Active", "Active"])]).status, HealthStatus::Ok);
        let one_dead = up().with_shards(vec![shard(0, &["Active", "Dead"]), shard(1, &["Partial", "Active"])]);
        assert_eq!(one_dead.status, HealthStatus::Degraded);
        assert!(one_dead.serves());
        let error = one_dead.error.unwrap();
        assert!(error.contains("shard 0 on peer 2: Dead") && error.contains("shard 1 on peer 1: Partial"), "{error}");
        let lost = up().with_shards(vec![shard(0, &["Active", "Dead"]), shard(1, &["Dead", "Partial"])]);
        assert_eq!((lost.status, lost.error.as_deref()), (HealthStatus::Unavailable, Some("no active copy of shard(s) [1]")));
        assert!(!lost.serves());
        let down = StoreHealth::from_count(StoreBackend::Qdrant, Err(StoreError::Backend("refused".into())));
        assert_eq!((down.reachable, down.status, down.chunks), (false, HealthStatus::Unavailable, None));
        let json = serde_json::to_value(up()).unwrap();
        assert_eq!(json, serde_json::json!({"backend": "qdrant", "reachable": true, "status": "ok", "chunks": 7}));
    }
}
