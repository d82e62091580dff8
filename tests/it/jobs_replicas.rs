//! Stateless ingestion jobs across replicas (issue 13): two `App`s on one database
//! (each its own pool and job worker, one shared chunk store, the hashing embedder)
//! behave as two `reagent serve` replicas. A job is claimed by exactly one replica and
//! run once; its progress shows through the other; a dead replica's job is taken over
//! and finishes with nothing duplicated in the store; a job out of attempts is failed
//! with the reason, its closing entry written once; a new replica sees finished jobs.
//! Every test runs on SQLite, and again on PostgreSQL when `REAGENT_TEST_POSTGRES_URL`
//! is set.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::postgres::{FreshDatabase, fresh_database};
use reagent::app::App;
use reagent::app::documents::{UploadFile, UploadMeta, start_ingest};
use reagent::app::jobs::{JobStatus, JobsSettings, ProcessId, Worker, WorkerId};
use reagent::auth::{Principal, Role};
use reagent::db::{Database, DatabaseSettings, JobKind, JobRecord};
use reagent::services::Services;
use reagent_ingest::embed::EmbedError;
use reagent_ingest::store::VersionStatus;
use reagent_ingest::Embedder;
use common::HashingEmbedder;
use uuid::Uuid;

/// The hashing embedder, slowed down by `delay_ms` per call when a test needs a job
/// to run long enough to watch it.
struct SlowEmbedder {
    inner: HashingEmbedder,
    delay_ms: AtomicU64,
}

impl Embedder for SlowEmbedder {
    fn dimension(&self) -> usize {
        self.inner.dimension()
    }
    fn model_id(&self) -> &str {
        self.inner.model_id()
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        std::thread::sleep(Duration::from_millis(self.delay_ms.load(Ordering::Relaxed)));
        self.inner.embed(texts)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
    /// PostgreSQL with REPEATABLE READ as the database's default isolation: claims pin
    /// their own, so they still see each other's commits.
    PostgresRepeatableRead,
}

/// One database and one chunk store that the replicas of a test share.
struct Replicas {
    url: String,
    services: Services,
    embedder: Arc<SlowEmbedder>,
    _pg: Option<FreshDatabase>,
    /// Last: the store flushes into it when dropped.
    _dir: tempfile::TempDir,
}

impl Replicas {
    /// `None` (with the reason printed) when `backend` is not available.
    async fn new(backend: Backend, jobs: JobsSettings) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let (url, pg) = match backend {
            Backend::Sqlite => (format!("sqlite://{}?mode=rwc", dir.path().join("reagent.db").display()), None),
            Backend::Postgres | Backend::PostgresRepeatableRead => {
                let pg = fresh_database().await?;
                if backend == Backend::PostgresRepeatableRead {
                    pg.default_to_repeatable_read().await;
                }
                (pg.url.clone(), Some(pg))
            }
        };
        let mut config = common::config(dir.path());
        config.jobs = jobs;
        let embedder = Arc::new(SlowEmbedder {
            inner: HashingEmbedder::new(config.embedding.dimension),
            delay_ms: AtomicU64::new(0),
        });
        let model: Arc<dyn Embedder> = embedder.clone();
        let services = tokio::task::spawn_blocking(move || Services::with_embedder(config, model).expect("services"))
            .await
            .unwrap();
        Some(Self { _dir: dir, url, services, embedder, _pg: pg })
    }

    /// A new pool on the shared database (what each replica opens).
    async fn db(&self) -> Database {
        let settings = DatabaseSettings { url: self.url.clone(), ..self.services.config.database.clone() };
        Database::open(&settings).await.expect("open the shared database")
    }

    /// A replica: its own pool and `App` (job worker not started).
    async fn app(&self) -> Arc<App> {
        Arc::new(self.services.app_state(self.db().await).expect("app"))
    }
}

/// Runs `scenario` on SQLite, then on PostgreSQL if configured (with the server's default
/// isolation, and with REPEATABLE READ as the default).
macro_rules! on_both_backends {
    ($jobs:expr, $scenario:ident) => {
        for backend in [Backend::Sqlite, Backend::Postgres, Backend::PostgresRepeatableRead] {
            let Some(replicas) = Replicas::new(backend, $jobs).await else { continue };
            eprintln!("{} on {backend:?}", stringify!($scenario));
            $scenario(&replicas).await;
        }
    };
}

fn editor() -> Principal {
    Principal { id: "k-editor".into(), name: "editor".into(), role: Role::PolicyEditor }
}

/// A markdown document `doc` with `sections` sections of prose.
fn document(doc: &str, sections: usize) -> UploadFile {
    const WORDS: [&str; 8] = ["deposit", "wire", "officer", "review", "ledger", "customer", "report", "cash"];
    let mut md = format!("---\nid: {doc}\ntitle: Policy {doc}\nversion: 2025-01-01\neffective_from: 2025-01-01\n---\n# Policy {doc}\n\n");
    for s in 1..=sections {
        md.push_str(&format!("## {s}. Section {s}\n\n"));
        for w in 0..120 {
            md.push_str(WORDS[(s * 7 + w * 3 + doc.len()) % WORDS.len()]);
            md.push(' ');
        }
        md.push_str(".\n\n");
    }
    UploadFile { name: format!("{doc}.md"), bytes: md.into_bytes().into() }
}

async fn upload(app: &Arc<App>, files: Vec<UploadFile>) -> Uuid {
    let job = start_ingest(app, &editor(), None, files, UploadMeta::default()).await.expect("upload stored");
    assert_eq!(job.status, JobStatus::Queued, "answered as stored: queued");
    job.job_id
}

async fn record(db: &Database, id: Uuid) -> JobRecord {
    db.get_job(id).await.unwrap().expect("job stored")
}

/// Waits until job `id` has ended, as `app` reads it; at most a minute.
async fn finished(app: &App, id: Uuid) -> reagent::app::jobs::JobView {
    let started = Instant::now();
    loop {
        let job = app.jobs().get_of(JobKind::Ingest, id).await.unwrap();
        if job.status.is_finished() {
            return job;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "job {id} unfinished after a minute: {job:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The audit entries of `action` about job `id`.
async fn entries(db: &Database, id: Uuid, action: &str) -> Vec<reagent::db::AuditRow> {
    db.audit_for_object(&id.to_string(), 100).await.unwrap().into_iter().filter(|e| e.action == action).collect()
}

/// Each document stored once: one active version whose chunks are all there.
fn stored_once(r: &Replicas, doc: &str) -> usize {
    let versions = r.services.store.versions(Some(doc)).unwrap();
    assert_eq!(versions.len(), 1, "{doc}: one version, nothing duplicated: {versions:?}");
    let v = &versions[0];
    assert_eq!(v.status, VersionStatus::Active, "{doc}");
    let chunks = r.services.store.chunks(doc, &v.meta.version).unwrap();
    assert_eq!(chunks.len(), v.chunk_count, "{doc}: every chunk once");
    chunks.len()
}

/// Claims job `id` as a replica that then died: `owner`, claimed at `at` with a lease
/// that ended 30 s later.
async fn claim_as_dead(db: &Database, id: Uuid, owner: &str, at: chrono::DateTime<Utc>, max_attempts: i64) -> JobRecord {
    let claimed = db.claim_job(JobKind::Ingest, owner, at, at + chrono::Duration::seconds(30), max_attempts).await.unwrap();
    let claimed = claimed.expect("the dead replica claimed the job");
    assert_eq!(claimed.job_id, id);
    claimed
}

fn settings(poll_secs: u64, max_attempts: u32) -> JobsSettings {
    JobsSettings { lease_secs: 30, poll_secs, max_attempts }
}

// ---------------------------------------------------------------------------------

async fn racing_workers_run_each_job_once(r: &Replicas) {
    let (a, b) = (r.app().await, r.app().await);
    let n = 8;
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(upload(&a, vec![document(&format!("race-{i}"), 3)]).await);
    }
    // Sixteen claims at once from both replicas: exactly one gets a job (and no second
    // one while it runs), whatever the interleaving.
    let claims: Vec<_> = (0..16)
        .map(|i| {
            let app = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { app.jobs().claim().await.unwrap() })
        })
        .collect();
    let mut claimed = Vec::new();
    for c in claims {
        claimed.extend(c.await.unwrap());
    }
    assert_eq!(claimed.len(), 1, "exactly one claim wins: {claimed:?}");
    assert_eq!(claimed[0].job_id, ids[0], "the oldest job first");
    assert_eq!((claimed[0].attempts, claimed[0].status), (1, JobStatus::Running));
    // Give it back as a dead replica would, lease lapsed: the workers take it over.
    r.db().await.lapse_job(ids[0], claimed[0].owner.as_deref().unwrap()).await.unwrap();

    let (wa, wb) = (Worker::spawn(a.clone()), Worker::spawn(b.clone()));
    let db = r.db().await;
    let mut total_attempts = 0;
    for (i, id) in ids.iter().enumerate() {
        let job = finished(&b, *id).await;
        assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
        assert_eq!((job.progress.done, job.progress.total), (job.progress.total, job.progress.total));
        assert!(job.progress.total > 0, "{job:?}");
        let stored = record(&db, *id).await;
        total_attempts += stored.attempts;
        assert_eq!(entries(&db, *id, "document.upload").await.len(), 1, "job {i}");
        let closing = entries(&db, *id, "document.ingest").await;
        assert_eq!(closing.len(), 1, "job {i}: one closing entry: {closing:?}");
        assert_eq!((closing[0].outcome.as_str(), closing[0].actor_id.as_str()), ("success", "k-editor"));
        assert!(db.job_files(*id).await.unwrap().is_empty(), "a finished job's files are dropped");
        stored_once(r, &format!("race-{i}"));
    }
    // The claim of the race plus one run per job.
    assert_eq!(total_attempts, n + 1, "each job run once (the raced one twice: claimed, then lapsed)");
    wa.stop().await;
    wb.stop().await;

    // A replica started afterwards (a restart) reads every job as it ended.
    let c = r.app().await;
    for id in &ids {
        let job = c.jobs().get_of(JobKind::Ingest, *id).await.unwrap();
        assert_eq!(job.status, JobStatus::Succeeded);
        assert_eq!(job.result.as_ref().map(|r| r["files"][0]["outcome"].clone()), Some("ingested".into()), "{job:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_workers_on_two_replicas_run_each_job_exactly_once() {
    on_both_backends!(settings(1, 3), racing_workers_run_each_job_once);
}

async fn progress_shows_through_the_other_replica(r: &Replicas) {
    let (a, b) = (r.app().await, r.app().await);
    // Long poll: only the wake-up of A's own upload can start the job in time.
    let wa = Worker::spawn(a.clone());
    tokio::time::sleep(Duration::from_millis(200)).await; // its first pass is done
    r.embedder.delay_ms.store(400, Ordering::Relaxed);
    let files: Vec<UploadFile> = (0..6).map(|i| document(&format!("slow-{i}"), 30)).collect();
    let id = upload(&a, files).await;
    let started = Instant::now();
    let mut seen = None;
    loop {
        let job = b.jobs().get_of(JobKind::Ingest, id).await.unwrap();
        if job.status == JobStatus::Running && 0 < job.progress.done && job.progress.done < job.progress.total {
            seen = Some(job);
            break;
        }
        if job.status.is_finished() || started.elapsed() > Duration::from_secs(60) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    r.embedder.delay_ms.store(0, Ordering::Relaxed);
    let seen = seen.expect("replica B saw the job running with part of its progress");
    assert_eq!(seen.error, None);
    let db = r.db().await;
    let running = record(&db, id).await;
    assert_eq!(running.owner, Some(a.jobs().owner()), "A's worker runs it");
    assert!(running.lease_until.is_some_and(|l| l > Utc::now()), "under a live lease");
    let done = finished(&b, id).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{done:?}");
    assert_eq!(done.progress.done, done.progress.total);
    wa.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn progress_of_a_running_job_shows_through_another_replica() {
    on_both_backends!(settings(600, 3), progress_shows_through_the_other_replica);
}

async fn dead_replicas_job_is_taken_over(r: &Replicas) {
    let (a, b) = (r.app().await, r.app().await);
    let db = r.db().await;
    // 1. On another host: B waits for the lease to lapse.
    let files = vec![document("takeover-1", 4), document("takeover-2", 4)];
    let id = upload(&a, files.clone()).await;
    let dead_claim = claim_as_dead(&db, id, "elsewhere/boot/1/1#dead", Utc::now() - chrono::Duration::seconds(60), 3).await;
    // It stored the first document completely, then died before recording the end.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(&files[0].name), &files[0].bytes).unwrap();
    let first = common::ingest(&r.services, &[dir.path().join(&files[0].name)], &common::options());
    assert_eq!(first.failed(), 0);
    let chunks_before = stored_once(r, "takeover-1");

    let wb = Worker::spawn(b.clone());
    let job = finished(&b, id).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    let report = job.result.clone().unwrap();
    let outcome = |name: &str| {
        let files = report["files"].as_array().unwrap();
        files.iter().find(|f| f["path"] == name).map(|f| f["outcome"].clone()).unwrap_or_default()
    };
    assert_eq!(report["files"].as_array().unwrap().len(), 2, "{report}");
    assert_eq!(outcome("takeover-1.md"), "unchanged", "the stored document is a no-op: {report}");
    assert_eq!(outcome("takeover-2.md"), "ingested", "{report}");
    let stored = record(&db, id).await;
    assert_eq!((stored.attempts, stored.owner.clone()), (2, Some(b.jobs().owner())), "claimed again by B");
    assert_eq!(stored_once(r, "takeover-1"), chunks_before, "nothing duplicated");
    stored_once(r, "takeover-2");
    assert_eq!(entries(&db, id, "document.ingest").await.len(), 1);
    wb.stop().await;
    // The dead replica comes back and tries to store its own end: refused, so the job
    // keeps B's end and one closing entry.
    let stale = reagent::audit::AuditEvent::new(reagent::audit::AuditKind::Document, "document.ingest", reagent::audit::Actor::cli(), id.to_string());
    let progress = reagent::app::jobs::JobProgress::default();
    let audit = reagent::audit::AuditLog::new(db.clone(), &r.services.config.audit).unwrap();
    reagent::app::jobs::finish(&audit, &dead_claim, JobStatus::Failed, Some("stale".into()), None, &progress, stale).await;
    assert_eq!(entries(&db, id, "document.ingest").await.len(), 1, "one closing entry");
    let kept = record(&db, id).await;
    assert_eq!((kept.status, kept.error, kept.owner), (JobStatus::Succeeded, None, Some(b.jobs().owner())));

    // 2. On this host, a process that is gone, its lease of ten minutes still
    // running: B's next pass releases the job at once rather than wait for the lease.
    let gone = WorkerId { process: ProcessId { pid: u32::MAX - 1, ..ProcessId::current() }, worker: "gone".into() };
    let id2 = upload(&a, vec![document("takeover-3", 2)]).await;
    let now = Utc::now();
    let claimed = db.claim_job(JobKind::Ingest, &gone.to_string(), now, now + chrono::Duration::minutes(10), 3).await.unwrap();
    assert_eq!(claimed.map(|j| j.job_id), Some(id2));
    let wb = Worker::spawn(b.clone());
    let job2 = finished(&b, id2).await;
    assert_eq!(job2.status, JobStatus::Succeeded, "{job2:?}");
    assert_eq!(record(&db, id2).await.attempts, 2);
    stored_once(r, "takeover-3");
    wb.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_replicas_job_is_taken_over_with_nothing_duplicated() {
    on_both_backends!(settings(1, 3), dead_replicas_job_is_taken_over);
}

async fn out_of_attempts_fails_once(r: &Replicas) {
    let (a, b) = (r.app().await, r.app().await);
    let db = r.db().await;
    let id = upload(&a, vec![document("doomed", 2)]).await;
    let t = Utc::now() - chrono::Duration::seconds(120);
    claim_as_dead(&db, id, "elsewhere/boot/1/1#first", t, 2).await;
    claim_as_dead(&db, id, "elsewhere/boot/2/2#second", t + chrono::Duration::seconds(40), 2).await;
    assert_eq!(record(&db, id).await.attempts, 2);
    // Both replicas notice at once; one of them fails it.
    let (fa, fb) = tokio::join!(a.jobs().recover(), b.jobs().recover());
    let failed: Vec<_> = fa.unwrap().into_iter().chain(fb.unwrap()).collect();
    assert_eq!(failed.len(), 1, "failed once: {failed:?}");
    let job = b.jobs().get_of(JobKind::Ingest, id).await.unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    let error = job.error.unwrap_or_default();
    assert!(error.contains("after 2 attempt(s)") && error.contains("jobs.max_attempts = 2"), "{error}");
    assert!(error.contains("upload the files again"), "{error}");
    let closing = entries(&db, id, "document.ingest").await;
    assert_eq!(closing.len(), 1, "{closing:?}");
    assert_eq!(closing[0].outcome, "failed");
    assert!(db.job_files(id).await.unwrap().is_empty());
    // No worker runs it again.
    let wb = Worker::spawn(b.clone());
    tokio::time::sleep(Duration::from_millis(300)).await;
    wb.stop().await;
    assert_eq!(record(&db, id).await.attempts, 2);
    assert!(r.services.store.versions(Some("doomed")).unwrap().is_empty(), "never ingested");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_out_of_attempts_is_failed_once_with_the_reason() {
    on_both_backends!(settings(1, 2), out_of_attempts_fails_once);
}
