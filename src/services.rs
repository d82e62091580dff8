//! Owns start-up wiring: turning a validated [`Config`] into the long-lived parts
//! (embedder, chunker, store) that the CLI, the service and the tests share, and the
//! use-cases' state ([`App`]) built from them.

use std::sync::Arc;

use reagent_ingest::chunk::ChunkError;
use reagent_ingest::embed::EmbedError;
use reagent_ingest::store::{StoreBackend, StoreError};
use reagent_ingest::embed::load_tokenizer;
use reagent_ingest::{ChunkStore, Chunker, EdgeStore, Embedder, OnnxEmbedder, RemoteStore};
use thiserror::Error;

use crate::analysis::Analyzer;
use crate::app::{App, AppParts};
use crate::app::documents::DocumentIngest;
use crate::app::jobs::Jobs;
use crate::audit::AuditLog;
use crate::auth::Authenticator;
use crate::config::Config;
use crate::db::Database;
use crate::generation::LlmGenerator;
use crate::rules::RulesEngine;
use reagent_retrieval::Retriever;

#[derive(Debug, Error)]
pub enum StartError {
    #[error("rules: {0}")]
    Rules(#[from] crate::rules::RulesError),
    #[error("LLM client: {0}")]
    Llm(String),
    #[error(transparent)]
    Embedder(#[from] EmbedError),
    #[error(transparent)]
    Chunker(#[from] ChunkError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("[auth]: {0}")]
    Auth(#[from] crate::auth::AuthError),
    #[error("[audit]: {0}")]
    Audit(#[from] crate::audit::AuditError),
}

/// Opens (and migrates) the configured database: where every command that reads or
/// writes records starts, and what [`Services::app_state`] is given.
pub async fn open_database(config: &Config) -> Result<Database, crate::db::DbError> {
    Database::open(&config.database).await
}

pub struct Services {
    pub config: Config,
    pub embedder: Arc<dyn Embedder>,
    pub chunker: Arc<Chunker>,
    pub store: Arc<dyn ChunkStore>,
}

impl Services {
    /// Load the model and open the configured store (the embedded one exclusively).
    pub fn start(config: Config) -> Result<Self, StartError> {
        let embedder = OnnxEmbedder::load(&config.embedding)?;
        let chunker = Chunker::new(embedder.tokenizer().clone(), &config.chunking)?;
        Self::assemble(config, Arc::new(embedder), chunker)
    }

    /// [`Services::start`] with `embedder` in place of the configured model, which is
    /// not loaded (only its tokenizer, so chunks are sized as with the model): how tests
    /// that do not measure retrieval run on a deterministic embedder. The store records
    /// `embedder`'s fingerprint, so it never mixes its vectors with the model's.
    pub fn with_embedder(config: Config, embedder: Arc<dyn Embedder>) -> Result<Self, StartError> {
        let chunker = Chunker::new(load_tokenizer(&config.embedding)?, &config.chunking)?;
        Self::assemble(config, embedder, chunker)
    }

    fn assemble(config: Config, embedder: Arc<dyn Embedder>, chunker: Chunker) -> Result<Self, StartError> {
        let (dimension, model) = (embedder.dimension(), embedder.fingerprint());
        let store: Arc<dyn ChunkStore> = match config.store.backend {
            StoreBackend::Embedded => Arc::new(EdgeStore::open(&config.store, dimension, &model)?),
            StoreBackend::Qdrant => Arc::new(RemoteStore::open(&config.store, dimension, &model)?),
        };
        Ok(Self { config, embedder, chunker: Arc::new(chunker), store })
    }

    pub fn retriever(&self) -> Retriever {
        Retriever::new(self.embedder.clone(), self.store.clone(), self.config.retrieval.clone())
    }

    /// The rules engine from `rules.file` (or the built-in rules).
    pub fn rules_engine(&self) -> Result<RulesEngine, StartError> {
        Self::rules_engine_for(&self.config)
    }

    pub fn rules_engine_for(config: &Config) -> Result<RulesEngine, StartError> {
        let engine = if config.rules.file.is_empty() {
            RulesEngine::builtin()?
        } else {
            RulesEngine::from_config_file(&config.rules.file)?
        };
        Ok(engine.with_institution_overrides(&config.rules.institution_overrides())?)
    }

    /// Rules, retrieval and (when `llm.enabled`) the LLM client, ready to analyze.
    pub fn analyzer(&self) -> Result<Analyzer, StartError> {
        let llm = LlmGenerator::from_settings(&self.config.llm).map_err(|e| StartError::Llm(e.to_string()))?;
        Ok(Analyzer::new(Arc::new(self.rules_engine()?), Arc::new(self.retriever()), llm.map(Arc::new)))
    }

    /// Analyses neither stored nor audited, over this process's pipeline (`reagent eval`).
    pub fn unrecorded_analyses(&self) -> Result<crate::app::evaluation::UnrecordedAnalyses, StartError> {
        Ok(crate::app::evaluation::UnrecordedAnalyses::new(self.analyzer()?))
    }

    /// The use-cases over `db`: what `reagent serve` hands its front doors.
    pub fn app_state(&self, db: Database) -> Result<App, StartError> {
        let audit = Arc::new(AuditLog::new(db.clone(), &self.config.audit)?);
        Ok(App::new(AppParts {
            analyzer: self.analyzer()?,
            store: self.store.clone(),
            model_id: self.embedder.model_id().to_string(),
            lookback_days: self.config.server.lookback_days,
            auth: Arc::new(Authenticator::new(db.clone(), &self.config.auth)?),
            jobs: Arc::new(Jobs::new(db.clone(), audit.clone(), self.config.jobs.clone())),
            audit,
            documents: Some(self.document_ingest()),
            db,
        }))
    }

    /// The ingest pipeline's parts for uploads.
    pub fn document_ingest(&self) -> Arc<DocumentIngest> {
        Arc::new(DocumentIngest {
            chunker: self.chunker.clone(),
            embedder: self.embedder.clone(),
            store: self.store.clone(),
            parse: self.config.ingest.parse_settings(),
            lock: tokio::sync::Mutex::new(()),
        })
    }
}
