//! Owns one search, in order: the query's vectors (computed once) → candidates from the
//! store → fusion ([`crate::fuse`]) → evidence (the ranked chunks' records). Several
//! searches run together step by step, each step's store queries sent as one batch
//! ([`ChunkStore::fetch`]): a remote store's cost is its round trips, not its queries.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use reagent_ingest::lexical::{Lexical, LexicalVectors};
use reagent_ingest::store::{Candidate, ChunkRecord, Fetch, ScoredChunk, SearchFilter, SparseVector, StoreError, VectorQuery};
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
        Ok(self.search_many(&[text], filter, mode, limit)?.pop().unwrap_or_default())
    }

    /// [`Retriever::search`] for each of `texts`, ranked exactly as one by one, with the
    /// store queries of every search sent in the same batches: however many texts, the
    /// searches together cost a remote store 4 round trips in `fusion` mode, 2 in the others.
    pub fn search_many(
        &self,
        texts: &[&str],
        filter: SearchFilter,
        mode: Option<RetrievalMode>,
        limit: Option<usize>,
    ) -> Result<Vec<Vec<ScoredChunk>>, RetrievalError> {
        let mode = mode.unwrap_or(self.settings.mode);
        let limit = limit.unwrap_or(self.settings.top_k);
        let queries = texts.iter().map(|text| self.query_vectors(text, mode)).collect::<Result<Vec<_>, _>>()?;
        let ranked = self.rank(&queries, &filter, mode, limit)?;
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
        let n = self.settings.candidates.max(limit);
        Ok(self.signals(std::slice::from_ref(&query), filter, n, &self.settings.fusion_weights())?.pop().unwrap_or_default())
    }

    /// The store's answers to `fetches`, checked to be one each.
    fn fetch(&self, fetches: &[Fetch<'_>]) -> Result<Vec<Vec<Candidate>>, RetrievalError> {
        let answers = self.store.fetch(fetches)?;
        if answers.len() != fetches.len() {
            let reason = format!("the store answered {} of a batch of {} queries", answers.len(), fetches.len());
            return Err(StoreError::Backend(reason).into());
        }
        Ok(answers)
    }

    /// Each query's best `limit` chunk ids with their fused (or, for one list, raw) scores.
    fn rank(
        &self,
        queries: &[QueryVectors],
        filter: &SearchFilter,
        mode: RetrievalMode,
        limit: usize,
    ) -> Result<Vec<Vec<Candidate>>, RetrievalError> {
        // Candidates each side contributes to fusion.
        let n = self.settings.candidates.max(limit);
        let one_list = |side: fn(&QueryVectors) -> VectorQuery<'_>| {
            let fetches: Vec<Fetch<'_>> = queries.iter().map(|q| Fetch::Candidates { query: side(q), filter, limit }).collect();
            self.fetch(&fetches)
        };
        let mut ranked = match mode {
            RetrievalMode::Dense => one_list(dense)?,
            RetrievalMode::Bm25 => one_list(terms)?,
            RetrievalMode::Hybrid | RetrievalMode::Dbsf => {
                let fetches: Vec<Fetch<'_>> =
                    queries.iter().flat_map(|q| [dense(q), terms(q)]).map(|query| Fetch::Candidates { query, filter, limit: n }).collect();
                let mut lists = self.fetch(&fetches)?.into_iter();
                let mut next = || lists.next().unwrap_or_default();
                let mut fused = Vec::with_capacity(queries.len());
                for _ in queries {
                    let (d, s) = (next(), next());
                    fused.push(if mode == RetrievalMode::Hybrid { fuse::rrf(&[&d, &s], self.settings.rrf_k) } else { fuse::dbsf(&[&d, &s]) });
                }
                fused
            }
            RetrievalMode::Fusion => {
                let weights = self.settings.fusion_weights();
                self.signals(queries, filter, n, &weights)?.iter().map(|s| fuse::weighted(s, &weights)).collect()
            }
        };
        ranked.iter_mut().for_each(|r| r.truncate(limit));
        Ok(ranked)
    }

    /// For each query: the union of the best `n` dense and `n` BM25 candidates, each
    /// completed with its score on the other side (a second query restricted to the
    /// missing ids), then the pair BM25 and term coverage of every candidate (skipped
    /// when weighted 0). Dense candidates first, in rank order, then those only BM25
    /// found.
    ///
    /// Three store round trips for all the queries together: every candidate list as one
    /// batch; the missing scores and the pair scores as a second; the term vectors.
    fn signals(
        &self,
        queries: &[QueryVectors],
        filter: &SearchFilter,
        n: usize,
        weights: &FusionWeights,
    ) -> Result<Vec<Vec<(Uuid, Signals)>>, RetrievalError> {
        let first: Vec<Fetch<'_>> = queries
            .iter()
            .flat_map(|q| {
                let sparse_limit = if q.lexical.terms.is_empty() { 0 } else { n };
                [Fetch::Candidates { query: dense(q), filter, limit: n }, Fetch::Candidates { query: terms(q), filter, limit: sparse_limit }]
            })
            .collect();
        let mut lists = self.fetch(&first)?.into_iter();
        let only = |hits: &[Candidate], other: &[Candidate]| -> Vec<Uuid> {
            let have: HashSet<Uuid> = other.iter().map(|c| c.chunk_id).collect();
            hits.iter().map(|c| c.chunk_id).filter(|id| !have.contains(id)).collect()
        };
        // Per query: its two lists, the ids each misses, and the ids to score by pairs.
        let mut found = Vec::with_capacity(queries.len());
        for q in queries {
            let (dense_hits, sparse_hits) = (lists.next().unwrap_or_default(), lists.next().unwrap_or_default());
            let missing_dense = only(&sparse_hits, &dense_hits);
            let missing_sparse = if q.lexical.terms.is_empty() { vec![] } else { only(&dense_hits, &sparse_hits) };
            // Every candidate: those the dense side found, then those only BM25 found.
            let pairs_of: Vec<Uuid> = if weights.pairs > 0.0 && !q.lexical.pairs.is_empty() {
                dense_hits.iter().map(|c| c.chunk_id).chain(missing_dense.iter().copied()).collect()
            } else {
                vec![]
            };
            found.push((dense_hits, sparse_hits, missing_dense, missing_sparse, pairs_of));
        }
        let second: Vec<Fetch<'_>> = queries
            .iter()
            .zip(&found)
            .flat_map(|(q, (_, _, missing_dense, missing_sparse, pairs_of))| {
                [
                    Fetch::Score { query: dense(q), filter, ids: missing_dense },
                    Fetch::Score { query: terms(q), filter, ids: missing_sparse },
                    Fetch::Score { query: VectorQuery::Sparse(SparseVector::Pairs, &q.lexical.pairs), filter, ids: pairs_of },
                ]
            })
            .collect();
        let mut scores = self.fetch(&second)?.into_iter();
        let mut all = Vec::with_capacity(queries.len());
        for (mut dense_hits, mut sparse_hits, ..) in found {
            dense_hits.extend(scores.next().unwrap_or_default());
            sparse_hits.extend(scores.next().unwrap_or_default());
            let pair_scores = scores.next().unwrap_or_default();
            let mut signals: Vec<(Uuid, Signals)> =
                dense_hits.iter().map(|c| (c.chunk_id, Signals { dense: c.score, ..Default::default() })).collect();
            let at: HashMap<Uuid, usize> = signals.iter().enumerate().map(|(i, (id, _))| (*id, i)).collect();
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
            all.push(signals);
        }
        if weights.coverage > 0.0 {
            self.add_coverage(queries, &mut all)?;
        }
        Ok(all)
    }

    /// Each candidate's coverage of its query's terms, from the candidates' stored term
    /// vectors (one fetch for every query; a query without terms is left at 0).
    fn add_coverage(&self, queries: &[QueryVectors], all: &mut [Vec<(Uuid, Signals)>]) -> Result<(), RetrievalError> {
        let mut seen = HashSet::new();
        let ids: Vec<Uuid> = queries
            .iter()
            .zip(all.iter())
            .filter(|(q, _)| !q.lexical.terms.is_empty())
            .flat_map(|(_, signals)| signals.iter().map(|(id, _)| *id))
            .filter(|id| seen.insert(*id))
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let vectors: HashMap<Uuid, Vec<u32>> = self
            .store
            .sparse_vectors(&ids, SparseVector::Terms)?
            .into_iter()
            .map(|(id, vector)| {
                let mut chunk_terms = vector.indices;
                chunk_terms.sort_unstable();
                (id, chunk_terms)
            })
            .collect();
        for (q, signals) in queries.iter().zip(all.iter_mut()).filter(|(q, _)| !q.lexical.terms.is_empty()) {
            for (id, s) in signals.iter_mut() {
                if let Some(chunk_terms) = vectors.get(id) {
                    s.coverage = fuse::coverage(&q.lexical.terms.indices, chunk_terms);
                }
            }
        }
        Ok(())
    }

    /// Each ranking's records, in order, with their scores (one fetch for all).
    fn evidence(&self, ranked: Vec<Vec<Candidate>>) -> Result<Vec<Vec<ScoredChunk>>, RetrievalError> {
        let mut seen = HashSet::new();
        let ids: Vec<Uuid> = ranked.iter().flatten().map(|c| c.chunk_id).filter(|id| seen.insert(*id)).collect();
        let by_id: HashMap<Uuid, ChunkRecord> = self.store.records(&ids)?.into_iter().map(|r| (r.chunk_id, r)).collect();
        Ok(ranked
            .into_iter()
            .map(|r| r.into_iter().filter_map(|c| Some(ScoredChunk { record: by_id.get(&c.chunk_id)?.clone(), score: c.score })).collect())
            .collect())
    }
}

/// A query's dense side (empty when its mode has no dense vector).
fn dense(q: &QueryVectors) -> VectorQuery<'_> {
    VectorQuery::Dense(q.dense.as_deref().map_or(&[], Vec::as_slice))
}

/// A query's BM25 side.
fn terms(q: &QueryVectors) -> VectorQuery<'_> {
    VectorQuery::Sparse(SparseVector::Terms, &q.lexical.terms)
}
