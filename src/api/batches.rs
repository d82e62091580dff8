//! Owns batch screening over HTTP (`POST /api/v1/batches`, the roles that may
//! analyse): a multipart form with one `file` part (CSV or JSON lines, as
//! `reagent batch run` reads), run by `crate::batch` in the background as a job of
//! kind `batch` ([`super::jobs`]); `GET /api/v1/batches/{id}` shows its progress
//! (transactions analysed of the total) and, when done, the report with the rejected
//! rows. One batch runs at a time in a process, so two uploads of one file cannot
//! both analyse a transaction.

use std::sync::Arc;

use axum::extract::multipart::Multipart;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

use super::documents::{JobProgress, multipart_error, multipart_form, safe_file_name};
use super::jobs::{JobView, job_response};
use super::{ApiError, AppState};
use crate::audit::{Actor, AuditEvent, AuditKind};
use crate::auth::{Principal, RequestId};
use crate::batch::{self, BatchReport, Format, Options};
use crate::db::JobKind;

/// Rejected rows listed in a job's result (all of them are counted).
pub const MAX_REJECTED_SHOWN: usize = 1000;

/// One batch at a time in this process.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message).field("file")
}

/// `POST /api/v1/batches`.
#[utoipa::path(post, path = "/api/v1/batches", operation_id = "upload_batch",
    summary = "Screen a file of transactions (multipart: one `file` part, CSV with a header row or JSON lines, as `reagent batch run` reads). Answers 202 with the batch job.",
    request_body(content = super::openapi::BatchUpload, content_type = "multipart/form-data"),
    responses((status = 202, description = "the job", body = super::jobs::JobView)))]
pub async fn upload(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    rid: Option<Extension<RequestId>>,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, ApiError> {
    let mut form = multipart_form(form)?;
    let mut file = None;
    while let Some(field) = form.next_field().await.map_err(multipart_error)? {
        match field.name().unwrap_or_default() {
            "file" if file.is_none() => {
                let raw = field.file_name().unwrap_or_default().to_string();
                let name = safe_file_name(&raw).unwrap_or_else(|| "upload".into());
                let bytes = field.bytes().await.map_err(multipart_error)?;
                file = Some((name, bytes));
            }
            "file" => return Err(bad("send one file per batch")),
            other => {
                return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", format!("unknown form field {other:?}; send one `file`"))
                    .field(other))
            }
        }
    }
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return Err(bad("the form has no file part, or it is empty"));
    };
    let job = start(&state, &principal, rid.as_ref().map(|r| &r.0), name, bytes).await?;
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

/// Creates the job, audits the upload, and runs the batch in the background.
async fn start(
    state: &Arc<AppState>,
    principal: &Principal,
    request_id: Option<&RequestId>,
    name: String,
    bytes: bytes::Bytes,
) -> Result<JobView, ApiError> {
    let lookback_days = u32::try_from(state.settings.lookback_days).unwrap_or(0);
    let job = state.jobs.create_kind(JobKind::Batch, &principal.id).await?;
    let actor = Actor::from(principal);
    let event = AuditEvent::new(AuditKind::Analysis, "batch.upload", actor.clone(), job.job_id.to_string())
        .request(request_id)
        .details(serde_json::json!({ "file": name, "bytes": bytes.len() }));
    state.audit.record(event).await?;
    let view = JobView::from(job.clone());
    let state = state.clone();
    let rid = request_id.cloned();
    tokio::spawn(async move {
        let id = job.job_id;
        let _one = ONE_AT_A_TIME.lock().await;
        if let Err(e) = state.jobs.update(id, |j| j.status = "running".into()).await {
            tracing::warn!("storing the state of batch job {id}: {e}");
        }
        let options = Options { lookback_days, chunk_size: batch::DEFAULT_CHUNK_SIZE, actor: actor.clone(), source: name.clone() };
        let deps = batch::Deps { analyzer: &state.analyzer, db: &state.db, audit: &state.audit };
        let progress = JobProgress { jobs: state.jobs.clone(), id };
        let format = Format::detect(&name, &bytes);
        let outcome = batch::run(&deps, &bytes, format, &options, &progress).await;
        let (status, error, result) = match &outcome {
            Ok(report) => ("succeeded", None, Some(result_json(report))),
            Err(e) => ("failed", Some(e.to_string()), None),
        };
        let details = match &outcome {
            Ok(r) => serde_json::json!({ "file": name, "analysed": r.analysed, "requires_review": r.requires_review,
                "rejected": r.rejected.len(), "already_analysed": r.already_analysed }),
            Err(e) => serde_json::json!({ "file": name, "error": e.to_string() }),
        };
        let event = AuditEvent::new(AuditKind::Analysis, "batch.run", actor, id.to_string()).request(rid.as_ref()).details(details);
        super::jobs::finish(&state, id, status, error, result, event).await;
    });
    Ok(view)
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

/// `GET /api/v1/batches/{id}`.
#[utoipa::path(get, path = "/api/v1/batches/{id}",
    summary = "A batch job: status, progress (transactions analysed of the total), error, and the report (analysed, require review, rejected rows with line and field, per second)",
    params(("id" = uuid::Uuid, Path, description = "job id")),
    responses((status = 200, description = "the job", body = super::jobs::JobView), (status = 404, description = "no such job", body = super::error::Body<'static>)))]
pub async fn get_batch(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    job_response(&state, JobKind::Batch, &id).await
}
