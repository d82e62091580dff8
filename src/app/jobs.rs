//! Owns the jobs the front doors start (document ingestion, batches) and the worker
//! that runs ingestion jobs on every replica. A job's state ([`JobStatus`]: queued →
//! running → succeeded | failed), progress (done/total), error and result live in the
//! database only, so any replica answers for any job and a restart loses none.
//!
//! Ingestion jobs are stateless: the upload (job row, options, files) is stored with
//! its audit entry before the caller is answered; each replica's [`Worker`] claims the
//! oldest queued job (exactly one replica gets it: `Database::claim_job`), runs it
//! under a lease it renews with the progress about every second, and stores the end
//! with the closing audit entry only while its claim still holds, so that entry is
//! written once. A job whose lease lapsed (its replica died) is claimed again, up to
//! `jobs.max_attempts` claims, then failed with the reason; one owned by a process of
//! this host that is gone is released at once rather than at the lease's end. The
//! pipeline's runs never overlap across replicas (each begins by removing the store's
//! pending leftovers), so a claim waits while another job of its kind runs.
//!
//! Batch jobs run in the process that took the upload (`super::batch`); they share
//! the rows, progress and closing write, and a batch of a gone process of this host
//! is failed. Also owns the `[jobs]` settings ([`JobsSettings`]).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use chrono::Utc;
use reagent_ingest::progress::Progress as PipelineProgress;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{App, AppError};
use crate::audit::{AuditEvent, AuditLog};
pub use crate::db::{JobKind, JobStatus};
use crate::db::{AuditedWrite, Database, DbError, JobRecord};

/// The `[jobs]` settings: how replicas share ingestion jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsSettings {
    /// Seconds a claim on a running job lasts without renewal; a replica renews its
    /// claim about every second, so a job whose replica died is taken again (or
    /// failed) this long after its last renewal.
    pub lease_secs: u64,
    /// Seconds between a worker's looks for queued jobs (a job created by this
    /// process wakes it at once).
    pub poll_secs: u64,
    /// Claims of one job before it is failed: a job whose replica died mid-run is
    /// run again from the start (unchanged files are no-ops) until it has had this many.
    pub max_attempts: u32,
}

impl Default for JobsSettings {
    fn default() -> Self {
        Self { lease_secs: 30, poll_secs: 5, max_attempts: 3 }
    }
}

impl JobsSettings {
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        // The claim is renewed every HEARTBEAT; a lease of a few of those survives a slow write.
        if !(5..=3600).contains(&self.lease_secs) {
            return Err(("jobs.lease_secs", format!("must be within 5..=3600, got {}", self.lease_secs)));
        }
        if !(1..=600).contains(&self.poll_secs) {
            return Err(("jobs.poll_secs", format!("must be within 1..=600, got {}", self.poll_secs)));
        }
        if !(1..=100).contains(&self.max_attempts) {
            return Err(("jobs.max_attempts", format!("must be within 1..=100, got {}", self.max_attempts)));
        }
        Ok(())
    }

    fn lease(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.lease_secs).unwrap_or(i64::MAX))
    }
}

/// How often a running job's claim is renewed and its progress stored.
const HEARTBEAT: Duration = Duration::from_secs(1);

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

/// Who holds a job: a worker of one process, written `host/boot/pid/start#worker`.
/// Several `App`s in one process (tests) have workers of their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerId {
    pub process: ProcessId,
    pub worker: String,
}

impl WorkerId {
    /// A new worker of this process.
    pub fn new() -> Self {
        Self { process: ProcessId::current(), worker: Uuid::new_v4().simple().to_string()[..12].to_string() }
    }

    /// An owner as stored; one written before workers were named is its process's.
    pub fn parse(text: &str) -> Option<Self> {
        let (process, worker) = text.split_once('#').unwrap_or((text, ""));
        Some(Self { process: ProcessId::parse(process)?, worker: worker.to_string() })
    }
}

impl Default for WorkerId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for WorkerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}", self.process, self.worker)
    }
}

/// The temporary folder of job `id`'s uploaded files is named with this prefix.
pub fn upload_dir_prefix(id: Uuid) -> String {
    format!("reagent-upload-{id}-")
}

/// Removes job `id`'s upload folders left in the temporary folder; how many.
pub(super) fn remove_upload_dirs(id: Uuid) -> usize {
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

/// Progress of a running job (of the ingest pipeline, of a batch), counted in memory
/// by the thread doing the work and stored by [`Jobs::with_heartbeat`].
#[derive(Debug, Default)]
pub struct JobProgress {
    done: AtomicI64,
    total: AtomicI64,
}

impl JobProgress {
    fn get(&self) -> (i64, i64) {
        (self.done.load(Ordering::Relaxed), self.total.load(Ordering::Relaxed))
    }
}

impl PipelineProgress for JobProgress {
    fn start(&self, _what: &str, total: u64) {
        self.total.store(i64::try_from(total).unwrap_or(i64::MAX), Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
    }
    fn advance(&self, n: u64) {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let _ = self.done.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| Some(d.saturating_add(n)));
    }
    fn finish(&self) {
        let total = self.total.load(Ordering::Relaxed);
        self.done.fetch_max(total, Ordering::Relaxed);
    }
}

/// The jobs of one replica, over the `ingest_jobs` table.
pub struct Jobs {
    db: Database,
    audit: Arc<AuditLog>,
    settings: JobsSettings,
    /// This replica's worker: the owner of the jobs it claims or runs.
    owner: WorkerId,
    /// Wakes the worker when this process stores a job.
    wake: tokio::sync::Notify,
}

impl Jobs {
    pub fn new(db: Database, audit: Arc<AuditLog>, settings: JobsSettings) -> Self {
        Self { db, audit, settings, owner: WorkerId::new(), wake: tokio::sync::Notify::new() }
    }

    /// This replica's worker, as stored in the jobs it holds.
    pub fn owner(&self) -> String {
        self.owner.to_string()
    }

    /// A new job of `kind` started by `actor_id`, queued, not stored yet (see
    /// [`AuditedWrite::new_job`]). `held`: this worker runs it (a batch), rather than
    /// whichever replica claims it.
    pub fn draft(&self, kind: JobKind, actor_id: &str, held: bool) -> JobRecord {
        let now = crate::db::now();
        JobRecord {
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
            owner: held.then(|| self.owner()),
            attempts: 0,
            lease_until: None,
        }
    }

    /// Tells this replica's worker a job was stored.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Job `id` as stored (every replica reads the same row).
    pub async fn get(&self, id: Uuid) -> Result<Option<JobView>, DbError> {
        Ok(self.db.get_job(id).await?.map(Into::into))
    }

    /// Job `id` if it is of `kind` (each kind is looked up under its own permission,
    /// so another kind's job is not found).
    pub async fn get_of(&self, kind: JobKind, id: Uuid) -> Result<JobView, AppError> {
        let job = self.get(id).await?;
        job.filter(|j| j.kind == kind).ok_or_else(|| AppError::not_found(format!("no job {id}")))
    }

    /// Claims the next runnable ingestion job for this replica, if any.
    pub async fn claim(&self) -> Result<Option<JobRecord>, DbError> {
        let now = Utc::now();
        let max = i64::from(self.settings.max_attempts);
        self.db.claim_job(JobKind::Ingest, &self.owner(), now, now + self.settings.lease(), max).await
    }

    /// Runs `work` (reporting into `progress`) as held job `job`: its claim is renewed
    /// and its progress stored now and every [`HEARTBEAT`] until `work` ends (a lost
    /// claim is logged; the work runs on, and its end will not be stored).
    pub async fn with_heartbeat<T>(&self, job: &JobRecord, progress: &JobProgress, work: impl Future<Output = T>) -> T {
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let lost = AtomicBool::new(false);
        let owner = self.owner();
        tokio::pin!(work);
        loop {
            tokio::select! {
                out = &mut work => return out,
                _ = tick.tick() => {
                    let (done, total) = progress.get();
                    match self.db.renew_job(job.job_id, &owner, done, total, Utc::now() + self.settings.lease()).await {
                        Ok(true) => {}
                        Ok(false) if !lost.swap(true, Ordering::Relaxed) => tracing::warn!(
                            job = %job.job_id,
                            "this replica's claim on the job lapsed and another took it; this run's outcome will not be stored"
                        ),
                        Ok(false) => {}
                        Err(e) => tracing::warn!(job = %job.job_id, "renewing the job's claim: {e}"),
                    }
                }
            }
        }
    }

    /// Start-up and every worker pass: releases the ingestion jobs held by processes
    /// of this host that are gone (and removes their upload folders), fails the batch
    /// jobs of such processes, and fails the ingestion jobs out of attempts. Returns
    /// the jobs failed, with the reason stored.
    pub async fn recover(&self) -> Result<Vec<(Uuid, String)>, DbError> {
        let mut failed = Vec::new();
        for job in self.db.unfinished_jobs().await? {
            let owner = job.owner.as_deref().map(|o| (o, WorkerId::parse(o)));
            let gone = match &owner {
                Some((_, Some(w))) => w.process.is_gone(&self.owner.process),
                // An ingestion job nobody claimed yet is simply queued.
                None if job.kind == JobKind::Ingest => false,
                // Jobs from before owners were recorded, or with an owner this code
                // does not read: their process is gone.
                _ => true,
            };
            if !gone {
                continue;
            }
            // Its upload folder goes only once this replica changed the job, so a folder
            // of a run that claimed it meanwhile is never touched.
            match (job.kind, owner) {
                (JobKind::Ingest, Some((text, _))) => {
                    if self.db.lapse_job(job.job_id, text).await? {
                        let removed = remove_upload_dirs(job.job_id);
                        tracing::warn!(job = %job.job_id, removed, "released: the process holding it ({text}) is gone");
                    }
                }
                (JobKind::Ingest, None) => {}
                (JobKind::Batch, _) => {
                    let reason =
                        format!("interrupted: {} stopped before it finished; upload the file again", holder(job.owner.as_deref()));
                    if self.db.fail_unfinished_job(job.job_id, &reason, Utc::now()).await? {
                        remove_upload_dirs(job.job_id);
                        tracing::warn!(job = %job.job_id, "marked failed: {reason}");
                        failed.push((job.job_id, reason));
                    }
                }
            }
        }
        failed.extend(self.fail_exhausted().await?);
        Ok(failed)
    }

    /// Fails the ingestion jobs whose lease lapsed after `jobs.max_attempts` claims,
    /// each with its closing audit entry (written by whichever replica gets there first).
    async fn fail_exhausted(&self) -> Result<Vec<(Uuid, String)>, DbError> {
        let now = Utc::now();
        let max = self.settings.max_attempts;
        let mut failed = Vec::new();
        for job in self.db.exhausted_jobs(JobKind::Ingest, now, i64::from(max)).await? {
            let reason = format!(
                "interrupted: {} stopped before it finished, after {} attempt(s) (jobs.max_attempts = {max}); upload the files again",
                holder(job.owner.as_deref()),
                job.attempts
            );
            let options = self.db.job_options(job.job_id).await?;
            let event = super::documents::ingest_event(&job, options.as_ref(), &[], Some(&reason));
            let end = AuditedWrite::job_end(&job, Some(now), JobStatus::Failed, Some(reason.clone()), None, None)?;
            match self.audit.record_with(event.outcome("failed"), end).await {
                Ok(_) => {
                    remove_upload_dirs(job.job_id);
                    tracing::warn!(job = %job.job_id, "marked failed: {reason}");
                    failed.push((job.job_id, reason));
                }
                Err(crate::audit::AuditError::Db(DbError::Conflict(_))) => {} // another replica ended it
                Err(e) => tracing::error!(job = %job.job_id, "failing the job: {e}"),
            }
        }
        Ok(failed)
    }
}

/// Who held a job, as a failure reason names it.
fn holder(owner: Option<&str>) -> String {
    match owner.map(|o| (o, WorkerId::parse(o))) {
        Some((_, Some(w))) => format!("the server process running it (pid {} on {})", w.process.pid, w.process.host),
        Some((text, None)) => format!("its process {text:?}"),
        None => "the server process running it".into(),
    }
}

/// Stores the end of held job `claim` (`status`, with its error, result and final
/// `progress`; a succeeded job's progress is complete) with `event`, its closing audit
/// entry, in one transaction, if the claim still holds. Never fails the caller (the job has
/// run): a claim another replica took is logged, so is a write that failed (the job's
/// lease then lapses and it is run again).
pub async fn finish(
    audit: &AuditLog,
    claim: &JobRecord,
    status: JobStatus,
    error: Option<String>,
    result: Option<serde_json::Value>,
    progress: &JobProgress,
    event: AuditEvent,
) {
    let id = claim.job_id;
    let outcome = if status == JobStatus::Succeeded { "success" } else { "failed" };
    let end = match AuditedWrite::job_end(claim, None, status, error, result, Some(progress.get())) {
        Ok(end) => end,
        Err(e) => return tracing::error!(job = %id, "storing the end of the job: {e}"),
    };
    match audit.record_with(event.outcome(outcome), end).await {
        Ok(_) => {}
        Err(crate::audit::AuditError::Db(DbError::Conflict(_))) => {
            tracing::warn!(job = %id, "the job was taken over by another replica; its end is that replica's to store")
        }
        Err(e) => tracing::error!(job = %id, "storing the end of the job: {e}"),
    }
}

/// A running worker ([`Worker::spawn`]); stops when told or dropped.
pub struct Worker {
    stop: tokio::sync::watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Worker {
    /// Starts `app`'s worker: at once, when this process stores a job, and every
    /// `jobs.poll_secs`, it recovers (see [`Jobs::recover`]) and then claims and runs
    /// ingestion jobs one after another until none is runnable. `reagent serve` and the
    /// in-process test server start one per `App`; one-shot commands do not.
    pub fn spawn(app: Arc<App>) -> Self {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let poll = Duration::from_secs(app.jobs.settings.poll_secs);
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    _ = pass(&app) => {}
                }
                tokio::select! {
                    _ = stopped.changed() => break,
                    _ = app.jobs.wake.notified() => {}
                    _ = tokio::time::sleep(poll) => {}
                }
            }
        });
        Self { stop, task: Some(task) }
    }

    /// Stops claiming and waits for the loop to end. A job running in this worker is
    /// left to its lease: another replica (or this host's next start) takes it again.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// One pass of the worker: recover, then run claimed jobs until none is left.
async fn pass(app: &Arc<App>) {
    if let Err(e) = app.jobs.recover().await {
        tracing::warn!("recovering unfinished jobs: {e}");
    }
    if app.documents.is_none() {
        return; // this process cannot ingest; another replica will
    }
    loop {
        match app.jobs.claim().await {
            Ok(Some(job)) => super::documents::run_claimed(app, job).await,
            Ok(None) => return,
            Err(e) => return tracing::warn!("claiming an ingestion job: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        assert_eq!(JobsSettings::default().validate(), Ok(()));
        for (s, key) in [
            (JobsSettings { lease_secs: 1, ..Default::default() }, "jobs.lease_secs"),
            (JobsSettings { poll_secs: 0, ..Default::default() }, "jobs.poll_secs"),
            (JobsSettings { max_attempts: 0, ..Default::default() }, "jobs.max_attempts"),
        ] {
            assert_eq!(s.validate().map_err(|(k, _)| k), Err(key));
        }
    }

    #[test]
    fn progress_counts_up_to_the_total() {
        let p = JobProgress::default();
        p.start("x", 10);
        p.advance(3);
        p.advance(4);
        assert_eq!(p.get(), (7, 10));
        p.finish();
        assert_eq!(p.get(), (10, 10));
    }

    #[test]
    fn process_ids_round_trip_and_tell_the_living_from_the_dead() {
        let worker = WorkerId::new();
        assert_eq!(WorkerId::parse(&worker.to_string()), Some(worker.clone()));
        assert_ne!(WorkerId::new(), worker, "each App's worker has a name of its own");
        let legacy = WorkerId::parse(&worker.process.to_string()).expect("an owner written before workers");
        assert_eq!((legacy.process, legacy.worker.as_str()), (worker.process.clone(), ""));
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
