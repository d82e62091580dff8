//! Owns retrieval: embedding a query and asking the store for the best chunks under a
//! filter, in the configured mode (by default, dense and BM25 fused by normalised score).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use reagent_ingest::store::{FusionWeights, ScoredChunk, SearchFilter, SearchMode, SearchRequest, StoreError};
use reagent_ingest::{ChunkStore, Embedder};
use thiserror::Error;

use crate::config::RetrievalSettings;

#[derive(Debug, Error)]
pub enum RetrievalError {
    #[error("embedding the query: {0}")]
    Embed(#[from] reagent_ingest::embed::EmbedError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("unknown retrieval mode {0:?} (expected one of: hybrid, fusion, dbsf, dense, bm25)")]
    Mode(String),
}

/// Mode names `retrieval.mode` and `--mode` accept (`rrf` is another name of `hybrid`).
pub const MODES: [&str; 6] = ["hybrid", "rrf", "fusion", "dbsf", "dense", "bm25"];

pub struct Retriever {
    embedder: Arc<dyn Embedder>,
    store: Arc<dyn ChunkStore>,
    settings: RetrievalSettings,
    /// Query vectors by text. Analysis queries come from templates, so most repeat.
    cache: Mutex<HashMap<String, Arc<Vec<f32>>>>,
}

/// Query vectors kept before the cache starts over.
const CACHE_ENTRIES: usize = 4096;

impl Retriever {
    pub fn new(embedder: Arc<dyn Embedder>, store: Arc<dyn ChunkStore>, settings: RetrievalSettings) -> Self {
        Self { embedder, store, settings, cache: Mutex::new(HashMap::new()) }
    }

    pub fn mode(&self, name: &str) -> Result<SearchMode, RetrievalError> {
        match name {
            "hybrid" | "rrf" => Ok(SearchMode::Rrf { k: self.settings.rrf_k }),
            "fusion" => Ok(SearchMode::Fusion { weights: self.fusion_weights() }),
            "dbsf" => Ok(SearchMode::Dbsf),
            "dense" => Ok(SearchMode::Dense),
            "bm25" => Ok(SearchMode::Bm25),
            other => Err(RetrievalError::Mode(other.to_string())),
        }
    }

    fn fusion_weights(&self) -> FusionWeights {
        let s = &self.settings;
        FusionWeights {
            dense: s.fusion_dense_weight as f32,
            bm25: s.fusion_bm25_weight as f32,
            pairs: s.fusion_pairs_weight as f32,
            coverage: s.fusion_coverage_weight as f32,
        }
    }

    pub fn settings(&self) -> &RetrievalSettings {
        &self.settings
    }

    fn query_vector(&self, text: &str) -> Result<Arc<Vec<f32>>, RetrievalError> {
        if let Some(v) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(text) {
            return Ok(v.clone());
        }
        let v = Arc::new(self.embedder.embed(&[text])?.pop().unwrap_or_default());
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(text.to_string(), v.clone());
        Ok(v)
    }

    /// The best `limit` chunks (default: `top_k`) for `text` under `filter`.
    pub fn search(
        &self,
        text: &str,
        filter: SearchFilter,
        mode: Option<&str>,
        limit: Option<usize>,
    ) -> Result<Vec<ScoredChunk>, RetrievalError> {
        let mode = self.mode(mode.unwrap_or(&self.settings.mode))?;
        let dense = match mode {
            SearchMode::Bm25 => None,
            _ => Some(self.query_vector(text)?),
        };
        let limit = limit.unwrap_or(self.settings.top_k);
        Ok(self.store.search(&SearchRequest {
            text,
            dense: dense.as_deref().map(Vec::as_slice),
            filter,
            mode,
            limit,
            candidates: self.settings.candidates.max(limit),
        })?)
    }
}
