//! Owns one search, in order: the query's vectors (computed once) → candidates from the
//! store → fusion ([`crate::fuse`]) → evidence (the ranked chunks' records).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use reagent_ingest::lexical::{Lexical, LexicalVectors};
use reagent_ingest::store::{Candidate, Fetch, ScoredChunk, SearchFilter, SparseVector, StoreError, VectorQuery};
use reagent_ingest::{ChunkStore, Embedder};
use thiserror::Error;
use uuid::Uuid;

use crate::fuse::{self, FusionWeights, Signals};
use crate::settings::{RetrievalMode, RetrievalSettings};

#[derive(Debug, Error)]
pub enum RetrievalError {
    #[error("embedding the query: {0}")]
    Embed(#[from] reagent_ingest::embed::EmbedError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A query's vectors: dense (when the mode needs it) and lexical (terms and pairs).
#[derive(Debug, Clone)]
pub struct QueryVectors {
    pub dense: Option<Arc<Vec<f32>>>,
    pub lexical: LexicalVectors,
}

pub struct Retriever {
    embedder: Arc<dyn Embedder>,
    store: Arc<dyn ChunkStore>,
    settings: RetrievalSettings,
    /// The store's tokenizer, for query terms and pairs.
    lexical: Lexical,
    /// Query vectors by text. Analysis queries come from templates, so most repeat.
    cache: Mutex<HashMap<String, Arc<Vec<f32>>>>,
}

/// Query vectors kept before the cache starts over.
const CACHE_ENTRIES: usize = 4096;

impl Retriever {
    pub fn new(embedder: Arc<dyn Embedder>, store: Arc<dyn ChunkStore>, settings: RetrievalSettings) -> Self {
        let lexical = Lexical::new(store.bm25());
        Self { embedder, store, settings, lexical, cache: Mutex::new(HashMap::new()) }
    }

    pub fn settings(&self) -> &RetrievalSettings {
        &self.settings
    }

    /// The best `limit` chunks (default: `top_k`) for `text` under `filter`, ranked by
    /// `mode` (default: `retrieval.mode`).
    pub fn search(
        &self,
        text: &str,
        filter: SearchFilter,
        mode: Option<RetrievalMode>,
        limit: Option<usize>,
    ) -> Result<Vec<ScoredChunk>, RetrievalError> {
        let mode = mode.unwrap_or(self.settings.mode);
        let limit = limit.unwrap_or(self.settings.top_k);
        let query = self.query_vectors(text, mode)?;
        let ranked = self.rank(&query, &filter, mode, limit)?;
        self.evidence(ranked)
    }

    /// The vectors of `text` that `mode` uses; the dense one from the cache when it can.
    pub fn query_vectors(&self, text: &str, mode: RetrievalMode) -> Result<QueryVectors, RetrievalError> {
        let dense = if mode.uses_dense() { Some(self.dense_vector(text)?) } else { None };
        Ok(QueryVectors { dense, lexical: self.lexical.query(text) })
    }

    fn dense_vector(&self, text: &str) -> Result<Arc<Vec<f32>>, RetrievalError> {
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

    /// The candidates `fusion` mode weighs for a search of `limit` chunks, with their
    /// signals, in first-seen order: for studying other combinations of the same signals
    /// (`reagent eval retrieval --signals-out`).
    pub fn fusion_signals(&self, text: &str, filter: &SearchFilter, limit: usize) -> Result<Vec<(Uuid, Signals)>, RetrievalError> {
        let query = self.query_vectors(text, RetrievalMode::Fusion)?;
        let dense = VectorQuery::Dense(query.dense.as_deref().map_or(&[], Vec::as_slice));
        self.signals(&query, dense, filter, self.settings.candidates.max(limit), &self.settings.fusion_weights())
    }

    /// The best `limit` chunk ids with their fused (or, for one list, raw) scores.
    fn rank(
        &self,
        query: &QueryVectors,
        filter: &SearchFilter,
        mode: RetrievalMode,
        limit: usize,
    ) -> Result<Vec<Candidate>, RetrievalError> {
        let dense = VectorQuery::Dense(query.dense.as_deref().map_or(&[], Vec::as_slice));
        let terms = VectorQuery::Sparse(SparseVector::Terms, &query.lexical.terms);
        // Candidates each side contributes to fusion.
        let n = self.settings.candidates.max(limit);
        let mut ranked = match mode {
            RetrievalMode::Dense => self.store.candidates(dense, filter, limit)?,
            RetrievalMode::Bm25 => self.store.candidates(terms, filter, limit)?,
            RetrievalMode::Hybrid | RetrievalMode::Dbsf => {
                let both = [dense, terms].map(|query| Fetch::Candidates { query, filter, limit: n });
                let [d, s]: [Vec<Candidate>; 2] = pair(self.store.fetch(&both)?)?;
                if mode == RetrievalMode::Hybrid { fuse::rrf(&[&d, &s], self.settings.rrf_k) } else { fuse::dbsf(&[&d, &s]) }
            }
            RetrievalMode::Fusion => {
                let weights = self.settings.fusion_weights();
                fuse::weighted(&self.signals(query, dense, filter, n, &weights)?, &weights)
            }
        };
        ranked.truncate(limit);
        Ok(ranked)
    }

    /// The union of the best `n` dense and `n` BM25 candidates, each completed with its
    /// score on the other side (a second query restricted to the missing ids), then the
    /// pair BM25 and term coverage of every candidate (skipped when weighted 0). Dense
    /// candidates first, in rank order, then those only BM25 found.
    ///
    /// Three store round trips: both candidate lists as one batch; the missing scores
    /// and the pair scores as a second; the chunks' term vectors.
    fn signals(
        &self,
        query: &QueryVectors,
        dense: VectorQuery<'_>,
        filter: &SearchFilter,
        n: usize,
        weights: &FusionWeights,
    ) -> Result<Vec<(Uuid, Signals)>, RetrievalError> {
        let lexical = &query.lexical;
        let terms = VectorQuery::Sparse(SparseVector::Terms, &lexical.terms);
        let sparse_limit = if lexical.terms.is_empty() { 0 } else { n };
        let [mut dense_hits, mut sparse_hits]: [Vec<Candidate>; 2] = pair(self.store.fetch(&[
            Fetch::Candidates { query: dense, filter, limit: n },
            Fetch::Candidates { query: terms, filter, limit: sparse_limit },
        ])?)?;
        let only = |hits: &[Candidate], other: &[Candidate]| -> Vec<Uuid> {
            let have: HashSet<Uuid> = other.iter().map(|c| c.chunk_id).collect();
            hits.iter().map(|c| c.chunk_id).filter(|id| !have.contains(id)).collect()
        };
        let missing_dense = only(&sparse_hits, &dense_hits);
        let missing_sparse = if lexical.terms.is_empty() { vec![] } else { only(&dense_hits, &sparse_hits) };
        // Every candidate: those the dense side found, then those only BM25 found.
        let union: Vec<Uuid> = dense_hits.iter().map(|c| c.chunk_id).chain(missing_dense.iter().copied()).collect();
        let pairs_of: &[Uuid] = if weights.pairs > 0.0 && !lexical.pairs.is_empty() { &union } else { &[] };
        let [dense_rest, sparse_rest, pair_scores]: [Vec<Candidate>; 3] = self
            .store
            .fetch(&[
                Fetch::Score { query: dense, filter, ids: &missing_dense },
                Fetch::Score { query: terms, filter, ids: &missing_sparse },
                Fetch::Score { query: VectorQuery::Sparse(SparseVector::Pairs, &lexical.pairs), filter, ids: pairs_of },
            ])?
            .try_into()
            .map_err(|_| batch_error())?;
        dense_hits.extend(dense_rest);
        sparse_hits.extend(sparse_rest);
        let mut signals: Vec<(Uuid, Signals)> =
            dense_hits.iter().map(|c| (c.chunk_id, Signals { dense: c.score, ..Default::default() })).collect();
        let at: HashMap<Uuid, usize> = signals.iter().enumerate().map(|(i, (id, _))| (*id, i)).collect();
        let ids: Vec<Uuid> = signals.iter().map(|(id, _)| *id).collect();
        for c in sparse_hits {
            if let Some(&i) = at.get(&c.chunk_id) {
                signals[i].1.bm25 = c.score;
            }
        }
        for c in pair_scores {
            if let Some(&i) = at.get(&c.chunk_id) {
                signals[i].1.pairs = c.score;
            }
        }
        if weights.coverage > 0.0 && !lexical.terms.is_empty() && !ids.is_empty() {
            for (id, vector) in self.store.sparse_vectors(&ids, SparseVector::Terms)? {
                if let Some(&i) = at.get(&id) {
                    let mut chunk_terms = vector.indices;
                    chunk_terms.sort_unstable();
                    signals[i].1.coverage = fuse::coverage(&lexical.terms.indices, &chunk_terms);
                }
            }
        }
        Ok(signals)
    }

    /// The records of the ranked ids, in order, with their scores.
    fn evidence(&self, ranked: Vec<Candidate>) -> Result<Vec<ScoredChunk>, RetrievalError> {
        let ids: Vec<Uuid> = ranked.iter().map(|c| c.chunk_id).collect();
        let records = self.store.records(&ids)?;
        let mut by_id: HashMap<Uuid, _> = records.into_iter().map(|r| (r.chunk_id, r)).collect();
        Ok(ranked.into_iter().filter_map(|c| Some(ScoredChunk { record: by_id.remove(&c.chunk_id)?, score: c.score })).collect())
    }
}

/// The two answers of a batch of two.
fn pair(answers: Vec<Vec<Candidate>>) -> Result<[Vec<Candidate>; 2], RetrievalError> {
    answers.try_into().map_err(|_| batch_error())
}

/// A store answered a batch with the wrong number of answers.
fn batch_error() -> RetrievalError {
    RetrievalError::Store(StoreError::Backend("the store answered a batch of queries with a different number of answers".into()))
}
