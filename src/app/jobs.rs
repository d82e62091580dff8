//! Owns the jobs the front doors start (document ingestion, batches): their state
//! ([`JobStatus`]: queued → running → succeeded | failed), progress (done/total chunks), error and result, held in
//! memory while the process runs and written to the database at each change of
//! state, so a job can be looked up after a restart too. Each job records
//! the process running it ([`ProcessId`]); at start-up [`Jobs::fail_orphans`] fails
//! the unfinished jobs of processes that are gone and removes their upload folders.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::Utc;
use serde::Serialize;
use uuid::Uuid;

use super::AppError;
use crate::audit::AuditLog;
pub use crate::db::{JobKind, JobStatus};
use crate::db::{Database, DbError, JobRecord};

/// A job as the front doors show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[derive(utoipa::ToSchema)]
pub struct JobView {
    pub job_id: Uuid,
    /// `ingest` or `batch`.
    pub kind: JobKind,
    pub status: JobStatus,
    pub progress: Progress,
    pub error: Option<String>,
    /// The ingestion report (per file: ingested with document id and version, unchanged, or failed).
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    pub created_by: String,
    pub created_at: chrono::DateTime<Utc>,
    pub updated_at: chrono::DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[derive(utoipa::ToSchema)]
pub struct Progress {
    pub done: i64,
    pub total: i64,
}

impl From<JobRecord> for JobView {
    fn from(r: JobRecord) -> Self {
        Self {
            job_id: r.job_id,
            kind: r.kind,
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

/// Which process runs a job: host name, boot id, pid and the process's start time in
/// clock ticks since boot, written `host/boot/pid/start`. The pid alone could be
/// reused after a crash; with the boot id and start time it names one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessId {
    pub host: String,
    pub boot: String,
    pub pid: u32,
    pub start: u64,
}

impl ProcessId {
    /// This process (on systems without `/proc`, the boot id and start time are empty
    /// and 0: such owners are never judged dead, see [`ProcessId::is_gone`]).
    pub fn current() -> Self {
        let pid = std::process::id();
        Self { host: host_name(), boot: boot_id(), pid, start: process_start(pid).unwrap_or(0) }
    }

    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.rsplitn(4, '/');
        let start = parts.next()?.parse().ok()?;
        let pid = parts.next()?.parse().ok()?;
        let boot = parts.next()?.to_string();
        let host = parts.next()?.to_string();
        Some(Self { host, boot, pid, start })
    }

    /// Whether `self` is known not to run any more, as seen from `here`: same host and
    /// either another boot, or no process with that pid and start time. A process on
    /// another host is left to that host's next start.
    pub fn is_gone(&self, here: &ProcessId) -> bool {
        if self.host != here.host || here.boot.is_empty() {
            return false;
        }
        if self.boot != here.boot {
            return true;
        }
        process_start(self.pid) != Some(self.start)
    }
}

impl std::fmt::Display for ProcessId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}/{}", self.host, self.boot, self.pid, self.start)
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().replace('/', "_"))
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|b| b.trim().replace('/', "_")).unwrap_or_default()
}

/// Field 22 of `/proc/PID/stat`: when the process started, in ticks since boot.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or ')'.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// The temporary folder of job `id`'s uploaded files is named with this prefix.
pub fn upload_dir_prefix(id: Uuid) -> String {
    format!("reagent-upload-{id}-")
}

/// Removes job `id`'s upload folders left in the temporary folder; how many.
fn remove_upload_dirs(id: Uuid) -> usize {
    let prefix = upload_dir_prefix(id);
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            match std::fs::remove_dir_all(entry.path()) {
                Ok(()) => removed += 1,
                Err(e) => tracing::warn!("removing {}: {e}", entry.path().display()),
            }
        }
    }
    removed
}

/// Live jobs of this process, backed by the `ingest_jobs` table.
pub struct Jobs {
    db: Database,
    live: Mutex<HashMap<Uuid, JobRecord>>,
    /// This process, recorded as the owner of the jobs it creates.
    owner: ProcessId,
}

impl Jobs {
    pub fn new(db: Database) -> Self {
        Self { db, live: Mutex::new(HashMap::new()), owner: ProcessId::current() }
    }

    /// Fails the unfinished jobs whose process is gone (or unknown: jobs from before
    /// owners were recorded) and removes their upload folders. Run at start-up, before
    /// this process takes jobs. Returns the jobs failed, with the reason stored.
    pub async fn fail_orphans(&self) -> Result<Vec<(Uuid, String)>, DbError> {
        let mut failed = Vec::new();
        for job in self.db.unfinished_jobs().await? {
            let owner = job.owner.as_deref().map(|o| (o, ProcessId::parse(o)));
            let reason = match owner {
                Some((_, Some(p))) if !p.is_gone(&self.owner) => continue,
                Some((_, Some(p))) => format!(
                    "interrupted: the server process running it (pid {} on {}) stopped before it finished; upload the files again",
                    p.pid, p.host
                ),
                Some((text, None)) => format!("interrupted: its process {text:?} is unknown; upload the files again"),
                None => "interrupted: the server process running it stopped before it finished; upload the files again".into(),
            };
            if self.db.fail_unfinished_job(job.job_id, &reason, Utc::now()).await? {
                let removed = remove_upload_dirs(job.job_id);
                tracing::warn!(job = %job.job_id, removed, "{reason}");
                failed.push((job.job_id, reason));
            }
        }
        Ok(failed)
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, JobRecord>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new queued ingestion job, stored.
    pub async fn create(&self, actor_id: &str) -> Result<JobRecord, DbError> {
        self.create_kind(JobKind::Ingest, actor_id).await
    }

    /// A new queued job of `kind`, stored.
    pub async fn create_kind(&self, kind: JobKind, actor_id: &str) -> Result<JobRecord, DbError> {
        let now = Utc::now();
        let job = JobRecord {
            job_id: Uuid::new_v4(),
            kind,
            status: JobStatus::Queued,
            done: 0,
            total: 0,
            error: None,
            result: None,
            actor_id: actor_id.to_string(),
            created_at: now,
            updated_at: now,
            owner: Some(self.owner.to_string()),
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

/// Stores the end of job `id` (`status`, with its error and result; a succeeded
/// job's progress is complete) and records `event`, its closing audit entry, with the
/// outcome (logged, never failing: the job has run).
pub async fn finish(
    jobs: &Jobs,
    audit: &AuditLog,
    id: Uuid,
    status: JobStatus,
    error: Option<String>,
    result: Option<serde_json::Value>,
    event: crate::audit::AuditEvent,
) {
    let stored = jobs
        .update(id, |j| {
            j.status = status;
            j.error = error;
            j.result = result;
            if status == JobStatus::Succeeded {
                j.done = j.total;
            }
        })
        .await;
    if let Err(e) = stored {
        tracing::error!("storing the state of job {id}: {e}");
    }
    audit.record_or_log(event.outcome(if status == JobStatus::Succeeded { "success" } else { "failed" })).await;
}

impl Jobs {
    /// Job `id` if it is of `kind` (each kind is looked up under its own permission,
    /// so another kind's job is not found).
    pub async fn get_of(&self, kind: JobKind, id: Uuid) -> Result<JobView, AppError> {
        let job = self.get(id).await?;
        job.filter(|j| j.kind == kind).ok_or_else(|| AppError::not_found(format!("no job {id}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_ids_round_trip_and_tell_the_living_from_the_dead() {
        let here = ProcessId::current();
        assert_eq!(ProcessId::parse(&here.to_string()), Some(here.clone()));
        assert!(!here.is_gone(&here), "this process runs");
        assert_eq!(ProcessId::parse("a/b/c"), None);
        assert_eq!(ProcessId::parse("h/b/x/1"), None);
        if here.boot.is_empty() {
            return; // no /proc: owners are never judged gone
        }
        let reused_pid = ProcessId { start: here.start + 1, ..here.clone() };
        assert!(reused_pid.is_gone(&here), "same pid, another start time");
        let other_boot = ProcessId { boot: "another-boot".into(), ..here.clone() };
        assert!(other_boot.is_gone(&here));
        let no_such_pid = ProcessId { pid: u32::MAX - 1, ..here.clone() };
        assert!(no_such_pid.is_gone(&here));
        let other_host = ProcessId { host: format!("{}-elsewhere", here.host), ..no_such_pid };
        assert!(!other_host.is_gone(&here), "another host's processes are not judged");
    }
}
