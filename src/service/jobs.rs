//! Owns ingestion jobs started over HTTP: their state (queued → running →
//! succeeded | failed), progress (done/total chunks), error and result, held in
//! memory while the process runs and written to the database at each change of
//! state, so `GET /api/v1/jobs/{id}` answers after a restart too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Serialize;
use uuid::Uuid;

use super::{ApiError, AppState};
use crate::db::{Database, DbError, JobRecord};

/// A job as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobView {
    pub job_id: Uuid,
    /// `queued`, `running`, `succeeded` or `failed`.
    pub status: String,
    pub progress: Progress,
    pub error: Option<String>,
    /// The ingestion report (per file: ingested with document id and version, unchanged, or failed).
    pub result: Option<serde_json::Value>,
    pub created_by: String,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub done: i64,
    pub total: i64,
}

impl From<JobRecord> for JobView {
    fn from(r: JobRecord) -> Self {
        Self {
            job_id: r.job_id,
            status: r.status,
            progress: Progress { done: r.done, total: r.total },
            error: r.error,
            result: r.result,
            created_by: r.actor_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Live jobs of this process, backed by the `ingest_jobs` table.
pub struct Jobs {
    db: Database,
    live: Mutex<HashMap<Uuid, JobRecord>>,
}

impl Jobs {
    pub fn new(db: Database) -> Self {
        Self { db, live: Mutex::new(HashMap::new()) }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, JobRecord>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new queued job, stored.
    pub async fn create(&self, actor_id: &str) -> Result<JobRecord, DbError> {
        let now = Utc::now();
        let job = JobRecord {
            job_id: Uuid::new_v4(),
            status: "queued".into(),
            done: 0,
            total: 0,
            error: None,
            result: None,
            actor_id: actor_id.to_string(),
            created_at: now,
            updated_at: now,
        };
        self.db.upsert_job(&job).await?;
        self.live().insert(job.job_id, job.clone());
        Ok(job)
    }

    /// Changes a job in memory (progress: cheap, called from the ingest thread).
    pub fn touch(&self, id: Uuid, change: impl FnOnce(&mut JobRecord)) {
        if let Some(job) = self.live().get_mut(&id) {
            change(job);
            job.updated_at = Utc::now();
        }
    }

    /// Changes a job and stores it (state changes).
    pub async fn update(&self, id: Uuid, change: impl FnOnce(&mut JobRecord)) -> Result<(), DbError> {
        let job = {
            let mut live = self.live();
            let Some(job) = live.get_mut(&id) else { return Ok(()) };
            change(job);
            job.updated_at = Utc::now();
            job.clone()
        };
        self.db.upsert_job(&job).await
    }

    pub async fn get(&self, id: Uuid) -> Result<Option<JobView>, DbError> {
        if let Some(job) = self.live().get(&id).cloned() {
            return Ok(Some(job.into()));
        }
        Ok(self.db.get_job(id).await?.map(Into::into))
    }
}

/// `GET /api/v1/jobs/{id}`.
pub async fn get_job(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = ApiError::path_uuid("job", &id)?;
    let job = state.jobs.get(id).await.map_err(|e| ApiError::internal(format!("database: {e}")))?;
    job.map(|j| Json(j).into_response()).ok_or_else(|| ApiError::not_found(format!("no job {id}")))
}
