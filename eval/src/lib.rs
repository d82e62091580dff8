//! reagent-eval: measuring reagent's retrieval the way the field measures it.
//!
//! `dataset` loads a corpus, questions and judgements (ObliQA or generic JSONL);
//! `index` ingests the corpus through the production pipeline into a cached embedded
//! Qdrant store; `run` times each mode's searches and scores them with `metrics`
//! (trec_eval definitions); `report` writes TREC run files, JSON, Markdown and a `plot`;
//! `thresholds` checks a report against the committed floors; `split` is the held-out
//! part of ObliQA dev shared with the tuning tool. `guidance` scores
//! labelled transaction scenarios against the analyses the service returned.
//!
//! The crate does not know the query service: the caller supplies a [`run::Searcher`]
//! per mode (the `reagent eval retrieval` command wires it to the real retriever).

pub mod dataset;
pub mod guidance;
pub mod index;
pub mod metrics;
pub mod plot;
pub mod report;
pub mod run;
pub mod split;
pub mod thresholds;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum EvalError {
    #[error("{path}: {reason}")]
    Input { path: String, reason: String },
    #[error("writing {path}: {reason}")]
    Io { path: String, reason: String },
    #[error(transparent)]
    Store(#[from] reagent_ingest::store::StoreError),
    #[error(transparent)]
    Pipeline(#[from] reagent_ingest::pipeline::PipelineError),
    #[error("mode {0}: {1}")]
    Search(String, String),
}
