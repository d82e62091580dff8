//! Owns where chunks live: the [`ChunkStore`] trait that the pipeline and the query
//! service talk to, its record types, and the embedded Qdrant backend ([`EdgeStore`]).
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

/// Where the embedded store keeps its files.
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
    /// Text the store indexes for BM25.
    pub lexical_text: String,
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

/// How candidates are scored.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum SearchMode {
    Dense,
    Bm25,
    /// Reciprocal rank fusion of dense and BM25 candidates, inside Qdrant's query API.
    Rrf { k: usize },
    /// Qdrant's distribution-based score fusion (each side's scores normalised by their
    /// mean ± 3 standard deviations, then summed), inside Qdrant's query API.
    Dbsf,
    /// Score-level fusion right beside Qdrant: the dense and BM25 candidate lists are
    /// united, and every candidate gets four scores: cosine, BM25 over terms, BM25 over
    /// adjacent term pairs, and the share of the query's terms it contains. A candidate
    /// missing from one list is scored on that side by a second query restricted to the
    /// missing ids. The three search scores are min-max normalised over the union; the
    /// result is the weighted sum of the four.
    Fusion { weights: FusionWeights },
}

/// Weights of [`SearchMode::Fusion`]'s four scores; only their ratios matter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FusionWeights {
    pub dense: f32,
    pub bm25: f32,
    pub pairs: f32,
    pub coverage: f32,
}


#[derive(Debug, Clone)]
pub struct SearchRequest<'a> {
    pub text: &'a str,
    /// The query's dense vector (required unless mode is BM25).
    pub dense: Option<&'a [f32]>,
    pub filter: SearchFilter,
    pub mode: SearchMode,
    pub limit: usize,
    /// Candidates each side contributes to fusion.
    pub candidates: usize,
}

/// The storage seam: everything the pipeline and the query service need from a vector
/// store. The embedded Qdrant shard implements it; a remote Qdrant cluster can too.
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
    fn search(&self, request: &SearchRequest<'_>) -> Result<Vec<ScoredChunk>, StoreError>;
    /// Chunks stored, active and pending.
    fn count(&self) -> Result<usize, StoreError>;
    /// Make everything written so far durable.
    fn flush(&self) -> Result<(), StoreError>;
}
