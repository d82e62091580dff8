//! Owns where chunks live: the [`ChunkStore`] trait that the pipeline and the retriever
//! talk to, its record types, and the embedded Qdrant backend ([`EdgeStore`]).
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

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::chunk::Chunk;
use crate::document::{DocumentMeta, DocumentType};
use crate::lexical::{Bm25Params, LexicalVectors, SparseTerms};
pub use edge::EdgeStore;
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
    #[error("stored payload is malformed: {0}")]
    Payload(String),
}

/// Where the embedded store keeps its files, and the BM25 weighting of its chunks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// Folder of the embedded Qdrant shard.
    pub data_dir: std::path::PathBuf,
    /// BM25 term-frequency saturation.
    pub bm25_k1: f64,
    /// BM25 length normalisation.
    pub bm25_b: f64,
    /// BM25 expected average chunk length in terms (words after stop words are dropped).
    pub bm25_avg_len: f64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self { data_dir: "data/qdrant".into(), bm25_k1: 1.2, bm25_b: 0.75, bm25_avg_len: 80.0 }
    }
}

impl StoreSettings {
    pub fn bm25(&self) -> Bm25Params {
        Bm25Params { k1: self.bm25_k1, b: self.bm25_b, avg_len: self.bm25_avg_len }
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

/// A chunk and the raw score a query gave it (or, once fused, its fused score).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub chunk_id: Uuid,
    pub score: f32,
}

/// The storage seam: everything the pipeline and the retriever need from a vector store.
/// The embedded Qdrant shard implements it; a remote Qdrant cluster can too. Queries only
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
}
