//! Owns one analysis end to end: validate → rules → queries → retrieval (as of the
//! transaction's business date) → generation → cited [`Analysis`]. Also answers free
//! questions, with or without a transaction.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{NaiveDate, Utc};
use reagent_ingest::store::{ScoredChunk, SearchFilter};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::domain::{RuleInput, ValidationError};
use crate::generation::{self, EvidenceChunk, GenerationInput, LlmGenerator};
use crate::guidance::{ActionQuery, Analysis, Citation, GeneratorInfo, RetrievalTrace, RetrievedChunkRef};
use crate::query::{RetrievalQuery, build_queries};
use reagent_retrieval::{RetrievalError, Retriever};
use crate::rules::RulesEngine;

#[derive(Debug, Error)]
pub enum AnalyzeError {
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error("retrieval failed: {0}")]
    Retrieval(#[from] RetrievalError),
    #[error("retrieval task failed: {0}")]
    Task(String),
}

/// The answer to `POST /api/v1/ask`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[derive(utoipa::ToSchema)]
pub struct Answer {
    pub answer_id: Uuid,
    pub question: String,
    pub transaction_id: Option<String>,
    pub answer: String,
    pub citations: Vec<Citation>,
    pub generator: GeneratorInfo,
    pub retrieval: RetrievalTrace,
    pub processing_time_ms: u64,
    pub answered_at: chrono::DateTime<Utc>,
    pub prompt_version: String,
}

/// Where the time of one analysis went.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    pub retrieval: std::time::Duration,
    pub generation: std::time::Duration,
}

/// Store search results by query text and as-of date, for the analyses of one batch
/// (`crate::batch`): analysis queries come from templates, so thousands of
/// transactions share a few dozen searches. The other search inputs (jurisdictions,
/// mode, limits) are the retriever's settings, fixed for its life. A cache lives as
/// long as one batch: documents ingested meanwhile are seen by the next batch.
#[derive(Default)]
pub struct SearchCache {
    hits: Mutex<HashMap<(String, NaiveDate), Arc<Vec<ScoredChunk>>>>,
}

impl SearchCache {
    fn get(&self, text: &str, as_of: NaiveDate) -> Option<Arc<Vec<ScoredChunk>>> {
        self.hits.lock().unwrap_or_else(|p| p.into_inner()).get(&(text.to_string(), as_of)).cloned()
    }

    fn put(&self, text: &str, as_of: NaiveDate, hits: Arc<Vec<ScoredChunk>>) {
        self.hits.lock().unwrap_or_else(|p| p.into_inner()).insert((text.to_string(), as_of), hits);
    }

    /// How many searches are kept.
    pub fn len(&self) -> usize {
        self.hits.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub struct Analyzer {
    engine: Arc<RulesEngine>,
    retriever: Arc<Retriever>,
    llm: Option<Arc<LlmGenerator>>,
}

/// Evidence and the trace of how it was found.
struct Evidence {
    chunks: Vec<EvidenceChunk>,
    trace: RetrievalTrace,
}

impl Analyzer {
    pub fn new(engine: Arc<RulesEngine>, retriever: Arc<Retriever>, llm: Option<Arc<LlmGenerator>>) -> Self {
        Self { engine, retriever, llm }
    }

    pub fn engine(&self) -> &RulesEngine {
        &self.engine
    }

    pub fn llm_configured(&self) -> bool {
        self.llm.is_some()
    }

    pub async fn analyze(&self, input: RuleInput, question: Option<String>) -> Result<(Analysis, Timings), AnalyzeError> {
        self.analyze_cached(input, question, None).await
    }

    /// [`Analyzer::analyze`], reusing (and filling) `cache`'s store searches.
    pub async fn analyze_cached(
        &self,
        input: RuleInput,
        question: Option<String>,
        cache: Option<&Arc<SearchCache>>,
    ) -> Result<(Analysis, Timings), AnalyzeError> {
        let started = Instant::now();
        let input = input.parse()?;
        let outcome = self.engine.evaluate(&input);
        let question = question.filter(|q| !q.trim().is_empty());
        let queries = build_queries(Some(&input), Some(&outcome), question.as_deref());
        let evidence = self.retrieve(queries, outcome.as_of, cache).await?;
        let retrieved = Instant::now();
        let generation_input = GenerationInput {
            request: Some(&input),
            outcome: Some(&outcome),
            evidence: &evidence.chunks,
            question: question.as_deref(),
        };
        let prompt_version = generation::prompt_version(&generation_input);
        let guidance = generation::generate_guidance(self.llm.as_deref(), &generation_input).await;
        let timings = Timings { retrieval: retrieved - started, generation: retrieved.elapsed() };
        let analysis = Analysis {
            analysis_id: Uuid::new_v4(),
            transaction_id: input.transaction.transaction_id.clone(),
            risk_level: outcome.risk_level,
            risk_score: outcome.risk_score,
            requires_review: outcome.requires_review,
            required_actions: guidance.required_actions,
            compliance_issues: guidance.compliance_issues,
            recommendations: guidance.recommendations,
            answer: guidance.answer,
            answer_citations: guidance.answer_citations,
            generator: guidance.generator,
            retrieval: evidence.trace,
            processing_time_ms: started.elapsed().as_millis() as u64,
            analyzed_at: Utc::now(),
            prompt_version: prompt_version.to_string(),
            sanctions_screening: outcome.sanctions_screening,
        };
        Ok((analysis, timings))
    }

    pub async fn ask(&self, input: Option<RuleInput>, question: String, as_of: Option<NaiveDate>) -> Result<Answer, AnalyzeError> {
        let started = Instant::now();
        if question.trim().is_empty() {
            return Err(ValidationError::new("question", "must not be empty").into());
        }
        let input = input.as_ref().map(RuleInput::parse).transpose()?;
        let outcome = input.as_ref().map(|i| self.engine.evaluate(i));
        let as_of = as_of.or(outcome.as_ref().map(|o| o.as_of)).unwrap_or_else(|| Utc::now().date_naive());
        let queries = build_queries(input.as_ref(), outcome.as_ref(), Some(&question));
        let evidence = self.retrieve(queries, as_of, None).await?;
        let generation_input = GenerationInput {
            request: input.as_ref(),
            outcome: outcome.as_ref(),
            evidence: &evidence.chunks,
            question: Some(&question),
        };
        let prompt_version = generation::prompt_version(&generation_input);
        let guidance = generation::generate_guidance(self.llm.as_deref(), &generation_input).await;
        Ok(Answer {
            answer_id: Uuid::new_v4(),
            question,
            transaction_id: input.map(|i| i.transaction.transaction_id.clone()),
            answer: guidance.answer.unwrap_or_else(|| "No answer could be drawn from the retrieved sources.".into()),
            citations: guidance.answer_citations,
            generator: guidance.generator,
            retrieval: evidence.trace,
            processing_time_ms: started.elapsed().as_millis() as u64,
            answered_at: Utc::now(),
            prompt_version: prompt_version.to_string(),
        })
    }

    /// Run every query (off the async runtime: embedding and search are CPU work) and
    /// merge the hits: one entry per chunk, its best score, every action it serves.
    /// With a `cache` holding every query's results, no search runs and nothing
    /// leaves the caller's thread.
    async fn retrieve(
        &self,
        queries: Vec<RetrievalQuery>,
        as_of: NaiveDate,
        cache: Option<&Arc<SearchCache>>,
    ) -> Result<Evidence, AnalyzeError> {
        let retriever = self.retriever.clone();
        // Each query's cached hits, looked up once; all present: nothing to search.
        let found: Vec<Option<Arc<Vec<ScoredChunk>>>> =
            queries.iter().map(|q| cache.and_then(|c| c.get(&q.text, as_of))).collect();
        let cached = cache.is_some() && found.iter().all(Option::is_some);
        let cache = cache.cloned();
        let work = move || {
            let settings = retriever.settings();
            let filter = SearchFilter { as_of: Some(as_of), jurisdictions: settings.jurisdictions.clone(), ..Default::default() };
            let limit = settings.evidence_limit;
            // A miss may have been filled since (by another analysis); the rest are searched
            // together, each text once.
            let mut found: Vec<Option<Arc<Vec<ScoredChunk>>>> = queries
                .iter()
                .zip(found)
                .map(|(q, found)| found.or_else(|| cache.as_ref().and_then(|c| c.get(&q.text, as_of))))
                .collect();
            let mut missing: Vec<&str> = Vec::new();
            for (q, _) in queries.iter().zip(&found).filter(|(_, f)| f.is_none()) {
                if !missing.contains(&q.text.as_str()) {
                    missing.push(&q.text);
                }
            }
            let searched: HashMap<&str, Arc<Vec<ScoredChunk>>> = if missing.is_empty() {
                HashMap::new()
            } else {
                let hits = retriever.search_many(&missing, filter.clone(), None, None)?;
                missing.iter().copied().zip(hits.into_iter().map(Arc::new)).collect()
            };
            for (text, hits) in &searched {
                if let Some(c) = &cache {
                    c.put(text, as_of, hits.clone());
                }
            }
            let mut merged: Vec<EvidenceChunk> = Vec::new();
            let mut index: HashMap<Uuid, usize> = HashMap::new();
            for (q, found) in queries.iter().zip(found.iter_mut()) {
                let Some(hits) = found.take().or_else(|| searched.get(q.text.as_str()).cloned()) else { continue };
                for hit in hits.iter() {
                    let id = hit.record.chunk_id;
                    let slot = *index.entry(id).or_insert_with(|| {
                        merged.push(EvidenceChunk { hit: hit.clone(), for_actions: vec![] });
                        merged.len() - 1
                    });
                    let entry = &mut merged[slot];
                    if hit.score > entry.hit.score {
                        entry.hit.score = hit.score;
                    }
                    if let Some(code) = q.for_action
                        && !entry.for_actions.contains(&code)
                    {
                        entry.for_actions.push(code);
                    }
                }
            }
            // Keep chunks that serve a finding first, then the best of the rest.
            merged.sort_by(|a, b| {
                a.for_actions.is_empty().cmp(&b.for_actions.is_empty()).then(b.hit.score.total_cmp(&a.hit.score))
            });
            merged.truncate(limit.max(queries.len()));
            let trace = RetrievalTrace {
                queries: queries.iter().map(|q| q.text.clone()).collect(),
                filters: filter,
                chunks: merged.iter().map(|e| RetrievedChunkRef { chunk_id: e.hit.record.chunk_id, score: e.hit.score }).collect(),
                action_queries: queries
                    .iter()
                    .enumerate()
                    .filter_map(|(query, q)| q.for_action.map(|action| ActionQuery { action, query }))
                    .collect(),
            };
            Ok(Evidence { chunks: merged, trace })
        };
        if cached {
            return work();
        }
        tokio::task::spawn_blocking(work).await.map_err(|e| AnalyzeError::Task(e.to_string()))?
    }
}
