//! reagent-retrieval: ranking, for every store alike.
//!
//! One search reads top to bottom in [`Retriever::search`]:
//! query vectors (dense from the embedding model, cached; BM25 terms and pairs from
//! `reagent_ingest::lexical`), computed once → candidates fetched from the
//! [`ChunkStore`](reagent_ingest::ChunkStore) (raw cosine and BM25 scores under the
//! in-force and jurisdiction filters) → [`fuse`]: pure functions over those candidates
//! (the weighted score fusion, reciprocal rank fusion, distribution-based score fusion)
//! → evidence (the ranked chunks' records).
//!
//! The store only stores, filters and fetches, so two stores given the same candidates
//! rank the same. `settings` owns `[retrieval]`, with `mode` parsed into a
//! [`RetrievalMode`] when the configuration loads.

pub mod fuse;
mod retriever;
mod settings;

pub use fuse::FusionWeights;
pub use retriever::{QueryVectors, RetrievalError, Retriever};
pub use settings::{MODE_NAMES, RetrievalMode, RetrievalSettings, UnknownMode};
