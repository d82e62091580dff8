//! reagent-ingest: the document side of reagent.
//!
//! Data flows through one module per step:
//! `parse` (file → [`document::Document`]) → `chunk` (document → [`chunk::Chunk`]s with
//! section path, citation, pages and offsets) → `embed` (chunk text → dense vectors) and
//! `lexical` (chunk text → BM25 term and term-pair vectors) → `store` (chunks + vectors →
//! Qdrant, versioned; it stores, filters and fetches, and ranks nothing: that is
//! reagent-retrieval's). `pipeline` drives the
//! steps for a batch of paths and reports per-file outcomes; `progress` shows it.

pub mod chunk;
pub mod citation;
pub mod document;
pub mod embed;
pub mod ids;
pub mod lexical;
pub mod parse;
pub mod pipeline;
pub mod progress;
pub mod store;
pub mod testing;

pub use chunk::{Chunk, Chunker, ChunkerSettings};
pub use document::{DocumentMeta, DocumentType};
pub use embed::{Embedder, EmbedderSettings, OnnxEmbedder};
pub use pipeline::{IngestOptions, IngestReport, Pipeline};
pub use store::{ChunkStore, EdgeStore, RemoteStore, StoreSettings};
