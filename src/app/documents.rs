//! Owns the document-upload use-case (the API's `POST /api/v1/documents` and the
//! Documents page): a multipart form with one or more `file` parts and the same
//! metadata fields as `reagent ingest`'s flags (`id`, `title`, `version`, `type`,
//! `jurisdiction`, `issuer`, `citation`, `effective_from`, `effective_to`,
//! `replace`), read by [`read_form`]. [`start_ingest`] stores the upload as a job (files
//! and options in the database, with its audit entry); a replica's job worker
//! ([`super::jobs`]) claims it, writes the files to a temporary folder and runs them
//! through the same ingest pipeline as the CLI, in a blocking task, one job at a time
//! ([`run_claimed`]); the caller polls the job from any replica. Also owns the
//! `[ingest]` settings ([`IngestSettings`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::multipart::{Multipart, MultipartError};
use axum::http::StatusCode;
use chrono::NaiveDate;
use reagent_ingest::parse::{ChildCommand, ExtractLimits, Extractor, MetadataDefaults, ParseSettings};
use reagent_ingest::pipeline::{IngestOptions, Outcome, Pipeline};
use reagent_ingest::{ChunkStore, Chunker, DocumentType, Embedder};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::jobs::{self, JobKind, JobProgress, JobStatus, JobView};
use super::{App, AppError};
use crate::audit::{Actor, AuditEvent, AuditKind};
use crate::auth::{Principal, RequestId};
use crate::db::{AuditedWrite, JobRecord};

/// Settings of ingestion that are not about chunk size.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSettings {
    /// Files larger than this are refused.
    pub max_file_bytes: u64,
    /// Most bytes a PDF's compressed streams may expand to (decompression bombs).
    pub max_expanded_bytes: u64,
    /// Most bytes of text one file may yield, any format.
    pub max_text_bytes: u64,
    /// Most pages per PDF.
    pub max_pages: u64,
    /// Wall-clock and CPU seconds PDF text extraction may take (child process).
    pub extract_timeout_secs: u64,
    /// Address space of the PDF text extraction process, in MiB.
    pub extract_memory_mb: u64,
    /// Extract PDF text in a child process, so a hostile file cannot take this one down.
    pub extract_in_child: bool,
    /// The program run as that child with `extract-pdf`; empty: the running `reagent`.
    pub extract_program: String,
    /// Document type of files that state none.
    pub default_document_type: DocumentType,
    pub default_jurisdiction: String,
    pub default_issuer: String,
}

impl Default for IngestSettings {
    fn default() -> Self {
        let p = ParseSettings::default();
        Self {
            max_file_bytes: p.max_file_bytes,
            max_expanded_bytes: p.limits.max_expanded_bytes,
            max_text_bytes: p.limits.max_text_bytes,
            max_pages: p.limits.max_pages,
            extract_timeout_secs: p.limits.timeout.as_secs(),
            extract_memory_mb: p.limits.max_memory_bytes / MIB,
            extract_in_child: true,
            extract_program: String::new(),
            default_document_type: p.default_document_type,
            default_jurisdiction: p.default_jurisdiction,
            default_issuer: p.default_issuer,
        }
    }
}

const MIB: u64 = 1024 * 1024;

/// The hidden `reagent` command that extracts a PDF read on stdin (see `src/main.rs`).
pub const EXTRACT_PDF_COMMAND: &str = "extract-pdf";

impl IngestSettings {
    pub fn parse_settings(&self) -> ParseSettings {
        ParseSettings {
            max_file_bytes: self.max_file_bytes,
            limits: ExtractLimits {
                max_expanded_bytes: self.max_expanded_bytes,
                max_text_bytes: self.max_text_bytes,
                max_pages: self.max_pages,
                timeout: std::time::Duration::from_secs(self.extract_timeout_secs),
                max_memory_bytes: self.extract_memory_mb.saturating_mul(MIB),
            },
            extractor: self.extractor(),
            default_document_type: self.default_document_type,
            default_jurisdiction: self.default_jurisdiction.clone(),
            default_issuer: self.default_issuer.clone(),
        }
    }

    /// The child process PDF extraction runs in: `extract_program`, or this very
    /// binary (which must then be `reagent`; tests name the built binary instead).
    fn extractor(&self) -> Extractor {
        if !self.extract_in_child {
            return Extractor::InProcess;
        }
        let program = if self.extract_program.is_empty() {
            std::env::current_exe().unwrap_or_else(|_| PathBuf::from("reagent"))
        } else {
            PathBuf::from(&self.extract_program)
        };
        Extractor::Child(ChildCommand { program, args: vec![EXTRACT_PDF_COMMAND.into()] })
    }

    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let positive = [
            ("ingest.max_file_bytes", self.max_file_bytes),
            ("ingest.max_expanded_bytes", self.max_expanded_bytes),
            ("ingest.max_text_bytes", self.max_text_bytes),
            ("ingest.max_pages", self.max_pages),
        ];
        for (key, v) in positive {
            if v == 0 {
                return Err((key, "must be positive".into()));
            }
        }
        if !(1..=3600).contains(&self.extract_timeout_secs) {
            return Err(("ingest.extract_timeout_secs", format!("must be within 1..=3600, got {}", self.extract_timeout_secs)));
        }
        // Below this the extractor process cannot even map its own binary and libraries.
        if !(MIN_EXTRACT_MEMORY_MB..=1024 * 1024).contains(&self.extract_memory_mb) {
            return Err((
                "ingest.extract_memory_mb",
                format!("must be within {MIN_EXTRACT_MEMORY_MB}..=1048576, got {}", self.extract_memory_mb),
            ));
        }
        if self.extract_in_child && !self.extract_program.is_empty() && !Path::new(&self.extract_program).is_file() {
            return Err(("ingest.extract_program", format!("{:?} is not a file", self.extract_program)));
        }
        Ok(())
    }
}

/// The smallest address space `ingest.extract_memory_mb` may give the extractor.
const MIN_EXTRACT_MEMORY_MB: u64 = 128;

/// What ingestion over HTTP needs (the CLI's pipeline parts).
pub struct DocumentIngest {
    pub chunker: Arc<Chunker>,
    pub embedder: Arc<dyn Embedder>,
    pub store: Arc<dyn ChunkStore>,
    pub parse: ParseSettings,
    /// One ingestion at a time (the pipeline plans against stored versions).
    pub lock: tokio::sync::Mutex<()>,
}

/// The form's metadata, as the CLI's flags.
#[derive(Debug, Clone, Default)]
pub struct UploadMeta {
    pub defaults: MetadataDefaults,
    pub replace: bool,
}

/// One uploaded file: a safe file name and its bytes.
#[derive(Debug, Clone)]
pub struct UploadFile {
    pub name: String,
    pub bytes: bytes::Bytes,
}

/// Most files in one upload.
pub const MAX_FILES: usize = 50;

fn bad(field: &str, message: impl Into<String>) -> AppError {
    AppError::invalid(field, message)
}

/// A multipart body that could not be read: too large, or malformed.
pub fn multipart_error(e: MultipartError) -> AppError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::TooLarge { code: "body_too_large", message: "upload exceeds the size limit".into(), field: None }
    } else {
        AppError::BadRequest { code: "invalid_multipart", message: e.body_text(), field: None }
    }
}

/// A file name safe to create in a fresh folder: the last path component, only
/// letters, digits, `.`, `-`, `_`, not hidden, at most 200 characters.
pub fn safe_file_name(raw: &str) -> Option<String> {
    let base = raw.rsplit(['/', '\\']).next()?.trim();
    let ok = !base.is_empty()
        && base.len() <= 200
        && !base.starts_with('.')
        && base.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    ok.then(|| base.to_string())
}

fn date(field: &str, text: &str) -> Result<NaiveDate, AppError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| bad(field, format!("{text:?} is not a date YYYY-MM-DD")))
}

/// Reads the form: files and metadata; every bad part is a 4xx naming it.
pub async fn read_form(mut form: Multipart, max_file_bytes: u64) -> Result<(Vec<UploadFile>, UploadMeta), AppError> {
    let mut files: Vec<UploadFile> = Vec::new();
    let mut meta = UploadMeta::default();
    while let Some(field) = form.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            let raw = field.file_name().unwrap_or_default().to_string();
            let file_name = safe_file_name(&raw).ok_or_else(|| {
                bad("file", format!("file name {raw:?} must be a plain name of letters, digits, '.', '-', '_' (not hidden)"))
            })?;
            if files.iter().any(|f| f.name == file_name) {
                return Err(bad("file", format!("{file_name} is uploaded twice")));
            }
            if files.len() >= MAX_FILES {
                return Err(bad("file", format!("at most {MAX_FILES} files per upload")));
            }
            let bytes = field.bytes().await.map_err(multipart_error)?;
            if bytes.is_empty() {
                return Err(bad("file", format!("{file_name} is empty")));
            }
            if bytes.len() as u64 > max_file_bytes {
                return Err(AppError::TooLarge {
                    code: "file_too_large",
                    message: format!("{file_name} is larger than ingest.max_file_bytes ({max_file_bytes} bytes)"),
                    field: Some("file".into()),
                });
            }
            files.push(UploadFile { name: file_name, bytes });
            continue;
        }
        let text = field.text().await.map_err(multipart_error)?;
        let value = text.trim().to_string();
        let d = &mut meta.defaults;
        let set = |slot: &mut Option<String>| {
            *slot = (!value.is_empty()).then(|| value.clone());
        };
        match name.as_str() {
            "id" => set(&mut d.document_id),
            "title" => set(&mut d.title),
            "version" => set(&mut d.version),
            "jurisdiction" => set(&mut d.jurisdiction),
            "issuer" => set(&mut d.issuer),
            "citation" => set(&mut d.citation),
            "type" => {
                d.document_type = if value.is_empty() { None } else { Some(value.parse::<DocumentType>().map_err(|e| bad("type", e))?) }
            }
            "effective_from" => d.effective_from = if value.is_empty() { None } else { Some(date("effective_from", &value)?) },
            "effective_to" => d.effective_to = if value.is_empty() { None } else { Some(date("effective_to", &value)?) },
            "replace" => {
                meta.replace = match value.as_str() {
                    "" | "false" | "0" | "off" => false,
                    "true" | "1" | "on" => true,
                    other => return Err(bad("replace", format!("{other:?} is not true or false"))),
                }
            }
            other => {
                return Err(bad(
                    other,
                    format!("unknown form field {other:?}; use file, id, title, version, type, jurisdiction, issuer, citation, effective_from, effective_to, replace"),
                ))
            }
        }
    }
    if files.is_empty() {
        return Err(bad("file", "the form has no file part"));
    }
    if let (Some(from), Some(to)) = (meta.defaults.effective_from, meta.defaults.effective_to)
        && to < from
    {
        return Err(bad("effective_to", "must not be before effective_from"));
    }
    Ok((files, meta))
}

/// What an upload asked for, stored with its job (`ingest_jobs.options`) so that any
/// replica can run it: the form's metadata, the day of the upload (a revision without
/// a date takes effect on it, however late the job runs), and who asked, in which
/// request (for the closing audit entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoredUpload {
    replace: bool,
    document_id: Option<String>,
    title: Option<String>,
    version: Option<String>,
    document_type: Option<DocumentType>,
    jurisdiction: Option<String>,
    issuer: Option<String>,
    citation: Option<String>,
    effective_from: Option<NaiveDate>,
    effective_to: Option<NaiveDate>,
    today: NaiveDate,
    actor_id: String,
    actor_role: String,
    request_id: Option<String>,
}

impl StoredUpload {
    fn new(meta: UploadMeta, actor: &Actor, request_id: Option<&RequestId>) -> Self {
        let d = meta.defaults;
        Self {
            replace: meta.replace,
            document_id: d.document_id,
            title: d.title,
            version: d.version,
            document_type: d.document_type,
            jurisdiction: d.jurisdiction,
            issuer: d.issuer,
            citation: d.citation,
            effective_from: d.effective_from,
            effective_to: d.effective_to,
            today: chrono::Utc::now().date_naive(),
            actor_id: actor.id.clone(),
            actor_role: actor.role.clone(),
            request_id: request_id.map(|r| r.0.clone()),
        }
    }

    fn defaults(&self) -> MetadataDefaults {
        MetadataDefaults {
            document_id: self.document_id.clone(),
            title: self.title.clone(),
            version: self.version.clone(),
            document_type: self.document_type,
            jurisdiction: self.jurisdiction.clone(),
            issuer: self.issuer.clone(),
            citation: self.citation.clone(),
            effective_from: self.effective_from,
            effective_to: self.effective_to,
        }
    }
}

/// Stores an ingestion job for `files` — the job, what the upload asked for and the
/// files, with its `document.upload` audit entry, in one transaction — and wakes this
/// replica's worker (any replica's worker may run it). The job is answered as stored.
pub async fn start_ingest(
    state: &Arc<App>,
    principal: &Principal,
    request_id: Option<&RequestId>,
    files: Vec<UploadFile>,
    meta: UploadMeta,
) -> Result<JobView, AppError> {
    if state.documents.is_none() {
        return Err(AppError::Unavailable { message: "document upload is not available in this process".into() });
    }
    let job = state.jobs.draft(JobKind::Ingest, &principal.id, false);
    let actor = Actor::from(principal);
    let names: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
    let event = AuditEvent::new(AuditKind::Document, "document.upload", actor.clone(), job.job_id.to_string())
        .request(request_id)
        .details(serde_json::json!({
            "files": names,
            "document_id": meta.defaults.document_id,
            "version": meta.defaults.version,
            "replace": meta.replace,
        }));
    let upload = StoredUpload::new(meta, &actor, request_id);
    let options = serde_json::to_value(&upload).map_err(|e| AppError::internal("storing the upload's options", e))?;
    let files = files.into_iter().map(|f| (f.name, f.bytes)).collect();
    state.audit.record_with(event, AuditedWrite::new_job(&job, Some(options), files)?).await?;
    state.jobs.wake();
    Ok(JobView::from(job))
}

/// The closing audit entry of ingestion job `job` (`document.ingest`, as the uploader
/// with the upload's request id when its `options` are stored): the documents it
/// ingested (`documents`, from the report) and its error.
pub(super) fn ingest_event(
    job: &JobRecord,
    options: Option<&serde_json::Value>,
    documents: &[serde_json::Value],
    error: Option<&str>,
) -> AuditEvent {
    let upload = options.and_then(|o| serde_json::from_value::<StoredUpload>(o.clone()).ok());
    let (actor, request_id) = match upload {
        Some(u) => (Actor { id: u.actor_id, role: u.actor_role }, u.request_id.map(RequestId)),
        None => (Actor { id: job.actor_id.clone(), role: "unknown".into() }, None),
    };
    AuditEvent::new(AuditKind::Document, "document.ingest", actor, job.job_id.to_string())
        .request(request_id.as_ref())
        .details(serde_json::json!({ "documents": documents, "error": error }))
}

/// Runs claimed ingestion job `job` to its end (by this replica's worker): its upload
/// read back from the database, the pipeline run under the job's renewed claim, the
/// end stored with the closing audit entry if the claim still holds.
pub(super) async fn run_claimed(state: &Arc<App>, job: JobRecord) {
    let id = job.job_id;
    let Some(ingest) = state.documents.clone() else { return };
    let (options, files) = match tokio::try_join!(state.db.job_options(id), state.db.job_files(id)) {
        Ok(read) => read,
        // The claim lapses and the job is taken again.
        Err(e) => return tracing::warn!(job = %id, "reading the job's upload: {e}"),
    };
    let upload = options.as_ref().and_then(|o| serde_json::from_value::<StoredUpload>(o.clone()).ok());
    let progress = Arc::new(JobProgress::default());
    let outcome = match upload {
        Some(upload) if !files.is_empty() => {
            state.jobs.with_heartbeat(&job, &progress, run_job(&ingest, id, files, upload, progress.clone())).await
        }
        _ => Err("interrupted: the job was stored without its files by an earlier version; upload the files again".to_string()),
    };
    let (status, error, result) = match outcome {
        Ok((report, failed)) => {
            let error = (failed > 0).then(|| failure_summary(&report, failed));
            (if failed > 0 { JobStatus::Failed } else { JobStatus::Succeeded }, error, Some(report))
        }
        Err(message) => (JobStatus::Failed, Some(message), None),
    };
    let documents: Vec<serde_json::Value> = result
        .as_ref()
        .and_then(|r| r["files"].as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f.get("document_id").is_some())
        .map(|f| serde_json::json!({"document_id": f["document_id"], "version": f["version"], "outcome": f["outcome"]}))
        .collect();
    let event = ingest_event(&job, options.as_ref(), &documents, error.as_deref());
    jobs::finish(&state.audit, &job, status, error, result, &progress, event).await;
}

/// The job's error when files failed: how many, and the first one's reason (a refused
/// file names the limit it hit).
fn failure_summary(report: &serde_json::Value, failed: usize) -> String {
    let first = report["files"].as_array().into_iter().flatten().find_map(|f| {
        let reason = f["reason"].as_str()?;
        Some(format!("{}: {reason}", f["path"].as_str().unwrap_or("?")))
    });
    match first {
        Some(first) => format!("{failed} of the uploaded files failed ({first}); see result.files"),
        None => format!("{failed} of the uploaded files failed; see result.files"),
    }
}

/// Runs the pipeline over `files` as `upload` asked; `Ok((report JSON, failed
/// files))`, `Err(message)` if it could not run.
async fn run_job(
    ingest: &Arc<DocumentIngest>,
    id: Uuid,
    files: Vec<(String, Vec<u8>)>,
    upload: StoredUpload,
    progress: Arc<JobProgress>,
) -> Result<(serde_json::Value, usize), String> {
    let _one_at_a_time = ingest.lock.lock().await;
    // Named after the job, so the next start can remove it if this process dies
    // (`Jobs::recover`); a folder an earlier run of this job left here goes first.
    jobs::remove_upload_dirs(id);
    let dir = tempfile::Builder::new()
        .prefix(&jobs::upload_dir_prefix(id))
        .tempdir()
        .map_err(|e| format!("creating a temporary folder: {e}"))?;
    let mut paths = Vec::with_capacity(files.len());
    for (name, bytes) in &files {
        // Stored by `start_ingest` as a safe name; checked again before it names a file.
        let name = safe_file_name(name).filter(|safe| safe == name).ok_or_else(|| format!("stored file name {name:?} is not safe"))?;
        let path = dir.path().join(&name);
        std::fs::write(&path, bytes).map_err(|e| format!("writing {name}: {e}"))?;
        paths.push(path);
    }
    drop(files);
    let ingest = ingest.clone();
    let options = IngestOptions {
        replace: upload.replace,
        defaults: upload.defaults(),
        today: upload.today,
        parse: ingest.parse.clone(),
    };
    let report = tokio::task::spawn_blocking(move || {
        let pipeline = Pipeline {
            chunker: &ingest.chunker,
            embedder: ingest.embedder.as_ref(),
            store: ingest.store.as_ref(),
            progress: progress.as_ref(),
        };
        let report = pipeline.run(&paths, &options);
        drop(dir);
        report
    })
    .await
    .map_err(|e| format!("the ingestion task failed: {e}"))?
    .map_err(|e| format!("ingestion failed: {e}"))?;
    let failed = report.files.iter().filter(|f| matches!(f.outcome, Outcome::Failed { .. })).count();
    // Report paths are the temporary copies: show the uploaded names instead.
    let mut value = serde_json::to_value(&report).map_err(|e| e.to_string())?;
    if let Some(list) = value["files"].as_array_mut() {
        for f in list {
            if let Some(p) = f["path"].as_str() {
                let name = std::path::Path::new(p).file_name().map(|n| n.to_string_lossy().into_owned());
                f["path"] = serde_json::json!(name.unwrap_or_default());
            }
        }
    }
    Ok((value, failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_sanitized() {
        assert_eq!(safe_file_name("policy.md").as_deref(), Some("policy.md"));
        assert_eq!(safe_file_name("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(safe_file_name("C:\\x\\a-b_c.txt").as_deref(), Some("a-b_c.txt"));
        assert_eq!(safe_file_name(".hidden"), None);
        assert_eq!(safe_file_name("a b.md"), None);
        assert_eq!(safe_file_name(""), None);
        assert_eq!(safe_file_name("dir/"), None);
    }
}
