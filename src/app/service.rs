//! Owns how [`App`] is built ([`AppParts`], filled in by start-up wiring) and the few
//! things of it the wiring and the probes read that are no use-case: the readiness
//! figures, the upload size, the jobs of this process, the analyses' observer. None
//! of them hands out the database, the store, the audit trail or authentication.

use std::sync::Arc;

use reagent_ingest::ChunkStore;
use reagent_ingest::store::StoreError;

use super::documents::DocumentIngest;
use super::jobs::Jobs;
use super::{AnalysisObserver, App};
use crate::analysis::Analyzer;
use crate::audit::AuditLog;
use crate::auth::Authenticator;
use crate::db::{Database, DbError};

/// What [`App`] is made of, as the wiring (`services.rs`) assembles it.
pub struct AppParts {
    pub analyzer: Analyzer,
    pub db: Database,
    pub store: Arc<dyn ChunkStore>,
    /// The embedding model's id (shown by the readiness probe).
    pub model_id: String,
    /// Days of a customer's history loaded with a stored transaction (`server.lookback_days`).
    pub lookback_days: i64,
    /// API keys and JWTs → principals (`[auth]`).
    pub auth: Arc<Authenticator>,
    /// The hash-chained audit trail (`[audit]`).
    pub audit: Arc<AuditLog>,
    /// Jobs started by the front doors (ingestion, batches).
    pub jobs: Arc<Jobs>,
    /// The ingest pipeline for uploads (`None`: uploads are unavailable).
    pub documents: Option<Arc<DocumentIngest>>,
}

impl App {
    /// The use-cases over `parts`; no observer is told of analyses yet ([`App::observe`]).
    pub fn new(parts: AppParts) -> Self {
        let AppParts { analyzer, db, store, model_id, lookback_days, auth, audit, jobs, documents } = parts;
        Self { analyzer, db, store, model_id, lookback_days, auth, audit, jobs, documents, observer: Default::default() }
    }

    /// Tells `observer` each analysis' timings from now on; `Err` when one already is.
    pub fn observe(&self, observer: Arc<dyn AnalysisObserver>) -> Result<(), Arc<dyn AnalysisObserver>> {
        self.observer.set(observer)
    }

    /// The embedding model's id.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// Whether analyses may use the LLM (`llm.enabled` and a client built).
    pub fn llm_configured(&self) -> bool {
        self.analyzer.llm_configured()
    }

    /// The chunks in the store (the readiness probe: the store answers).
    pub fn chunk_count(&self) -> Result<usize, StoreError> {
        self.store.count()
    }

    /// Whether the database takes a write now (the readiness probe).
    pub async fn probe_database(&self) -> Result<(), DbError> {
        self.db.probe_write().await
    }

    /// The largest file an upload may carry (`ingest.max_file_bytes`); `None` when
    /// uploads are unavailable.
    pub fn max_upload_file_bytes(&self) -> Option<u64> {
        self.documents.as_ref().map(|d| d.parse.max_file_bytes)
    }

    /// The jobs started in this service (ingestion, batches).
    pub fn jobs(&self) -> &Arc<Jobs> {
        &self.jobs
    }
}
