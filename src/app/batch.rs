//! Owns the batch-screening use-case: a file of transactions (CSV or JSON lines, as
//! `reagent batch run` reads) run by `crate::batch` in the background as a job of kind
//! `batch` ([`super::jobs`]), whose result is the report with the rejected rows. One
//! batch runs at a time in a process, so two uploads of one file cannot both analyse a
//! transaction.

use std::sync::Arc;

use super::jobs::{self, JobKind, JobProgress, JobStatus, JobView};
use super::{App, AppError};
use crate::audit::{Actor, AuditEvent, AuditKind};
use crate::auth::{Principal, RequestId};
use crate::batch;
use crate::db::AuditedWrite;

pub use crate::batch::{BatchReport, DEFAULT_CHUNK_SIZE, Format, Options, load_customers};

/// Rejected rows listed in a job's result (all of them are counted).
pub const MAX_REJECTED_SHOWN: usize = 1000;

/// One batch at a time in this process.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Stores the job (held by this process, which runs it) with the audit entry of the
/// upload of the file `name`, and runs the batch in the background; its progress is
/// stored about every second, so every replica shows it.
pub async fn start(
    state: &Arc<App>,
    principal: &Principal,
    request_id: Option<&RequestId>,
    name: String,
    bytes: bytes::Bytes,
) -> Result<JobView, AppError> {
    let lookback_days = u32::try_from(state.lookback_days).unwrap_or(0);
    let job = state.jobs.draft(JobKind::Batch, &principal.id, true);
    let actor = Actor::from(principal);
    let event = AuditEvent::new(AuditKind::Analysis, "batch.upload", actor.clone(), job.job_id.to_string())
        .request(request_id)
        .details(serde_json::json!({ "file": name, "bytes": bytes.len() }));
    state.audit.record_with(event, AuditedWrite::new_job(&job, None, Vec::new())?).await?;
    let view = JobView::from(job.clone());
    let state = state.clone();
    let rid = request_id.cloned();
    tokio::spawn(async move {
        let id = job.job_id;
        let _one = ONE_AT_A_TIME.lock().await;
        let options = Options { lookback_days, chunk_size: batch::DEFAULT_CHUNK_SIZE, actor: actor.clone(), source: name.clone() };
        let progress = JobProgress::default();
        let format = Format::detect(&name, &bytes);
        let outcome = state.jobs.with_heartbeat(&job, &progress, state.screen_batch(&bytes, format, &options, &progress)).await;
        let (status, error, result) = match &outcome {
            Ok(report) => (JobStatus::Succeeded, None, Some(result_json(report))),
            Err(e) => (JobStatus::Failed, Some(e.to_string()), None),
        };
        let details = match &outcome {
            Ok(r) => serde_json::json!({ "file": name, "analysed": r.analysed, "requires_review": r.requires_review,
                "rejected": r.rejected.len(), "already_analysed": r.already_analysed }),
            Err(e) => serde_json::json!({ "file": name, "error": e.to_string() }),
        };
        let event = AuditEvent::new(AuditKind::Analysis, "batch.run", actor, id.to_string()).request(rid.as_ref()).details(details);
        jobs::finish(&state.audit, &job, status, error, result, &progress, event).await;
    });
    Ok(view)
}

impl App {
    /// Screens the transactions of a batch file now (what a batch job runs).
    pub async fn screen_batch(
        &self,
        bytes: &[u8],
        format: Format,
        options: &Options,
        progress: &dyn reagent_ingest::progress::Progress,
    ) -> Result<BatchReport, batch::BatchError> {
        let deps = batch::Deps { analyzer: &self.analyzer, db: &self.db, audit: &self.audit };
        batch::run(&deps, bytes, format, options, progress).await
    }
}

/// The job's result: the report, its summary line, and the first rejected rows.
fn result_json(report: &BatchReport) -> serde_json::Value {
    let mut shown = report.clone();
    shown.rejected.truncate(MAX_REJECTED_SHOWN);
    let mut value = serde_json::to_value(&shown).unwrap_or_default();
    value["summary"] = serde_json::json!(report.summary());
    value["rejected_total"] = serde_json::json!(report.rejected.len());
    value
}
