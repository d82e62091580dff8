//! Persistence of jobs (`ingest_jobs`, `ingest_job_files`): rows, the claim a
//! replica's worker takes on the oldest runnable ingestion job (one statement, `FOR
//! UPDATE SKIP LOCKED` on PostgreSQL), lease renewals with progress, and the
//! parameters [`super::AuditedWrite`] stores a job's creation (with its upload) and
//! its end with (each with its audit entry, in one transaction). The rules (who may
//! claim, when a lapsed claim is taken again or failed) live in `crate::app::jobs`.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use super::codec::{DbTime, DbUuid};
use super::{Database, DbError, Pool};

/// What a job does (`ingest_jobs.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(utoipa::ToSchema)]
pub enum JobKind {
    /// Documents uploaded for ingestion (`POST /api/v1/documents`).
    Ingest,
    /// A file of transactions screened by `crate::batch` (`POST /api/v1/batches`).
    Batch,
}

impl JobKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Batch => "batch",
        }
    }
}

/// Where a job stands (`ingest_jobs.status`): queued → running → succeeded | failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(utoipa::ToSchema)]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl JobStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    /// Whether the job has ended.
    pub const fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }

    /// The stored text; one this code does not write (a newer version's) reads as failed.
    fn from_stored(text: &str) -> Self {
        match text {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            _ => Self::Failed,
        }
    }
}

/// One row of `ingest_jobs`.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    pub job_id: Uuid,
    pub kind: JobKind,
    pub status: JobStatus,
    pub done: i64,
    pub total: i64,
    pub error: Option<String>,
    pub result: Option<serde_json::Value>,
    pub actor_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The worker holding the job (`crate::app::jobs::WorkerId`): its creator for a
    /// batch, the replica that claimed it last for an ingestion.
    pub owner: Option<String>,
    /// Claims so far (each run of an ingestion job is one).
    pub attempts: i64,
    /// When the owner's claim lapses unless renewed (running ingestion jobs).
    pub lease_until: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct JobRow {
    job_id: DbUuid,
    kind: String,
    status: String,
    done: i64,
    total: i64,
    error: Option<String>,
    result: Option<Json<serde_json::Value>>,
    actor_id: String,
    created_at: DbTime,
    updated_at: DbTime,
    owner: Option<String>,
    attempts: i64,
    lease_until: Option<DbTime>,
}

impl From<JobRow> for JobRecord {
    fn from(r: JobRow) -> Self {
        Self {
            job_id: r.job_id.0,
            // Only this code writes kinds; one it does not know is from a newer version.
            kind: if r.kind == JobKind::Batch.as_str() { JobKind::Batch } else { JobKind::Ingest },
            status: JobStatus::from_stored(&r.status),
            done: r.done,
            total: r.total,
            error: r.error,
            result: r.result.map(|Json(v)| v),
            actor_id: r.actor_id,
            created_at: r.created_at.get(),
            updated_at: r.updated_at.get(),
            owner: r.owner,
            attempts: r.attempts,
            lease_until: r.lease_until.map(DbTime::get),
        }
    }
}

/// The columns [`JobRow`] reads.
const JOB_COLUMNS: &str =
    "job_id, kind, status, done, total, error, result, actor_id, created_at, updated_at, owner, attempts, lease_until";


/// A job to store with its audit entry ([`super::AuditedWrite::new_job`]): the row,
/// queued, with what the upload asked for and its files.
pub(super) struct NewJobParams {
    pub(super) job: JobRecord,
    pub(super) created: DbTime,
    pub(super) options: Option<serde_json::Value>,
    pub(super) files: Vec<(String, bytes::Bytes)>,
}

impl NewJobParams {
    pub(super) fn new(job: &JobRecord, options: Option<serde_json::Value>, files: Vec<(String, bytes::Bytes)>) -> Result<Self, DbError> {
        Ok(Self { created: DbTime::new("created_at", job.created_at)?, job: job.clone(), options, files })
    }
}

/// Inserts a [`NewJobParams`] (row and files) in the open transaction `$tx`.
macro_rules! insert_job {
    ($tx:ident, $p:expr) => {
        async {
            sqlx::query(
                "INSERT INTO ingest_jobs (job_id, kind, status, done, total, error, result, actor_id, created_at, updated_at, owner, attempts, options) \
                 VALUES ($1, $2, $3, 0, 0, NULL, NULL, $4, $5, $5, $6, 0, $7)",
            )
            .bind($crate::db::codec::DbUuid($p.job.job_id))
            .bind($p.job.kind.as_str())
            .bind($p.job.status.as_str())
            .bind(&$p.job.actor_id)
            .bind($p.created)
            .bind(&$p.job.owner)
            .bind($p.options.as_ref().map(sqlx::types::Json))
            .execute(&mut *$tx)
            .await?;
            for (position, (name, bytes)) in $p.files.iter().enumerate() {
                sqlx::query("INSERT INTO ingest_job_files (job_id, position, name, bytes) VALUES ($1, $2, $3, $4)")
                    .bind($crate::db::codec::DbUuid($p.job.job_id))
                    .bind(i64::try_from(position).unwrap_or(i64::MAX))
                    .bind(name)
                    .bind(bytes.as_ref())
                    .execute(&mut *$tx)
                    .await?;
            }
            Ok::<(), sqlx::Error>(())
        }
        .await
    };
}

/// The end of a job, stored with its closing audit entry ([`super::AuditedWrite::job_end`])
/// only while the claim it ends still holds: the job is unfinished, `owner` (NULL-safe)
/// and `attempts` are as the ender saw them, and, when `lapsed_before` is set, its
/// lease lapsed before that instant (another replica failing a dead one's job). So a
/// job's end, and its entry, is written once.
pub(super) struct JobEndParams {
    pub(super) job_id: Uuid,
    pub(super) owner: Option<String>,
    pub(super) attempts: i64,
    pub(super) lapsed_before: Option<DbTime>,
    pub(super) status: JobStatus,
    pub(super) error: Option<String>,
    pub(super) result: Option<serde_json::Value>,
    /// The final progress (done, total), or `None` to keep the stored one.
    pub(super) progress: (Option<i64>, Option<i64>),
    pub(super) at: DbTime,
}

impl JobEndParams {
    pub(super) fn new(
        claim: &JobRecord,
        lapsed_before: Option<DateTime<Utc>>,
        status: JobStatus,
        error: Option<String>,
        result: Option<serde_json::Value>,
        progress: Option<(i64, i64)>,
    ) -> Result<Self, DbError> {
        // A succeeded job's progress is complete.
        let progress = progress.map(|(done, total)| if status == JobStatus::Succeeded { (total, total) } else { (done, total) });
        Ok(Self {
            job_id: claim.job_id,
            owner: claim.owner.clone(),
            attempts: claim.attempts,
            lapsed_before: lapsed_before.map(DbTime::clamped),
            status,
            error,
            result,
            progress: (progress.map(|p| p.0), progress.map(|p| p.1)),
            at: DbTime::now(),
        })
    }
}

/// Stores a [`JobEndParams`] in the open transaction `$tx` and drops the job's files;
/// the number of job rows changed (0: the claim no longer holds).
macro_rules! end_job {
    ($tx:ident, $p:expr) => {
        async {
            let changed = sqlx::query(
                "UPDATE ingest_jobs SET status = $4, error = $5, result = $6, updated_at = $7, lease_until = NULL, \
                 done = COALESCE($9, done), total = COALESCE($10, total) \
                 WHERE job_id = $1 AND status IN ('queued', 'running') AND owner IS NOT DISTINCT FROM $2 AND attempts = $3 \
                 AND ($8 IS NULL OR lease_until IS NULL OR lease_until < $8)",
            )
            .bind($crate::db::codec::DbUuid($p.job_id))
            .bind(&$p.owner)
            .bind($p.attempts)
            .bind($p.status.as_str())
            .bind(&$p.error)
            .bind($p.result.as_ref().map(sqlx::types::Json))
            .bind($p.at)
            .bind($p.lapsed_before)
            .bind($p.progress.0)
            .bind($p.progress.1)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
            if changed == 1 {
                sqlx::query("DELETE FROM ingest_job_files WHERE job_id = $1")
                    .bind($crate::db::codec::DbUuid($p.job_id))
                    .execute(&mut *$tx)
                    .await?;
            }
            Ok::<u64, sqlx::Error>(changed)
        }
        .await
    };
}

/// Arbitrary constant for `pg_advisory_xact_lock`: one claim of a kind at a time across
/// replicas, so "no other job of the kind runs" holds when a claim is taken.
const CLAIM_LOCK_ID: i64 = 0x7265_6167_6a6f_6273; // "reagjobs"

fn time(field: &str, t: DateTime<Utc>) -> Result<DbTime, DbError> {
    DbTime::new(field, t)
}

impl Database {
    /// Inserts or updates a job (by `job_id`; not its claim: attempts and lease).
    pub async fn upsert_job(&self, job: &JobRecord) -> Result<(), DbError> {
        let created = time("created_at", job.created_at)?;
        let updated = time("updated_at", job.updated_at)?;
        on_pool!(self, |pool| sqlx::query(
            "INSERT INTO ingest_jobs (job_id, status, done, total, error, result, actor_id, created_at, updated_at, owner, kind) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (job_id) DO UPDATE SET status = excluded.status, done = excluded.done, total = excluded.total, \
             error = excluded.error, result = excluded.result, updated_at = excluded.updated_at"
        )
        .bind(DbUuid(job.job_id))
        .bind(job.status.as_str())
        .bind(job.done)
        .bind(job.total)
        .bind(&job.error)
        .bind(job.result.as_ref().map(Json))
        .bind(&job.actor_id)
        .bind(created)
        .bind(updated)
        .bind(&job.owner)
        .bind(job.kind.as_str())
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(|e| DbError::from_sqlx(format!("storing ingestion job {}", job.job_id), e))
    }

    pub async fn get_job(&self, job_id: Uuid) -> Result<Option<JobRecord>, DbError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM ingest_jobs WHERE job_id = $1");
        let row = on_pool!(self, |pool| sqlx::query_as::<_, JobRow>(&sql)
        .bind(DbUuid(job_id))
        .fetch_optional(pool)
        .await)
        .map_err(|e| DbError::from_sqlx(format!("reading ingestion job {job_id}"), e))?;
        Ok(row.map(JobRecord::from))
    }

    /// Jobs still `queued` or `running`, oldest first.
    pub async fn unfinished_jobs(&self) -> Result<Vec<JobRecord>, DbError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM ingest_jobs WHERE status IN ('queued', 'running') ORDER BY created_at");
        let rows = on_pool!(self, |pool| sqlx::query_as::<_, JobRow>(&sql).fetch_all(pool).await)
            .map_err(|e| DbError::from_sqlx("reading unfinished ingestion jobs", e))?;
        Ok(rows.into_iter().map(JobRecord::from).collect())
    }

    /// Marks a job failed with `error` unless it has finished meanwhile; whether it was.
    pub async fn fail_unfinished_job(&self, job_id: Uuid, error: &str, at: DateTime<Utc>) -> Result<bool, DbError> {
        let at = time("updated_at", at)?;
        let done = on_pool!(self, |pool| sqlx::query(
            "UPDATE ingest_jobs SET status = 'failed', error = $2, updated_at = $3 \
             WHERE job_id = $1 AND status IN ('queued', 'running')"
        )
        .bind(DbUuid(job_id))
        .bind(error)
        .bind(at)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| DbError::from_sqlx(format!("failing ingestion job {job_id}"), e))?;
        Ok(done == 1)
    }


    /// Claims the oldest runnable job of `kind` for `owner` at `now` — queued, or
    /// running with a lease lapsed before `now` (its replica stopped renewing), with
    /// fewer than `max_attempts` claims — provided no job of `kind` runs under a live
    /// lease (a pipeline run begins by removing every pending leftover in the store, so
    /// two runs must never overlap). The claim sets the owner, `running`, one more
    /// attempt and the lease; the job as claimed, or `None`.
    ///
    /// One `UPDATE` whose subquery picks the row: on PostgreSQL `FOR UPDATE SKIP
    /// LOCKED` (a row another claim holds is passed over, never claimed twice) under an
    /// advisory lock that orders claims, so each sees the others' committed claims; on
    /// SQLite the statement runs alone under the database's single writer.
    pub async fn claim_job(
        &self,
        kind: JobKind,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        max_attempts: i64,
    ) -> Result<Option<JobRecord>, DbError> {
        let (now, lease_until) = (time("now", now)?, time("lease_until", lease_until)?);
        let owner = owner.to_string();
        let context = format!("claiming a {} job", kind.as_str());
        self.write(context.clone(), move |db| async move {
            let postgres = matches!(db.pool, Pool::Postgres(_));
            let lock = if postgres { "FOR UPDATE OF j SKIP LOCKED" } else { "" };
            let sql = format!(
                "UPDATE ingest_jobs SET status = 'running', owner = $1, attempts = attempts + 1, lease_until = $2, updated_at = $3 \
                 WHERE job_id = (SELECT j.job_id FROM ingest_jobs j \
                     WHERE j.kind = $4 AND j.attempts < $5 \
                     AND (j.status = 'queued' OR (j.status = 'running' AND (j.lease_until IS NULL OR j.lease_until < $3))) \
                     AND NOT EXISTS (SELECT 1 FROM ingest_jobs r WHERE r.kind = $4 AND r.status = 'running' AND r.lease_until >= $3) \
                     ORDER BY j.created_at, j.job_id LIMIT 1 {lock}) \
                 RETURNING {JOB_COLUMNS}"
            );
            on_pool_unbounded!(db, |pool| async {
                // READ COMMITTED whatever the server's default: the claim must see the claims
                // committed while it waited for the lock (as the audit append does).
                let begin = if postgres { "BEGIN ISOLATION LEVEL READ COMMITTED" } else { "BEGIN IMMEDIATE" };
                let mut tx = pool.begin_with(begin).await?;
                if postgres {
                    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(CLAIM_LOCK_ID).execute(&mut *tx).await?;
                }
                let row = sqlx::query_as::<_, JobRow>(&sql)
                    .bind(&owner)
                    .bind(lease_until)
                    .bind(now)
                    .bind(kind.as_str())
                    .bind(max_attempts)
                    .fetch_optional(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok::<_, sqlx::Error>(row)
            }
            .await)
            .map(|row| row.map(JobRecord::from))
            .map_err(|e| DbError::from_sqlx(context, e))
        })
        .await
    }

    /// Running jobs of `kind` whose lease lapsed before `now` after `max_attempts`
    /// claims or more: to be failed, none being claimable again.
    pub async fn exhausted_jobs(&self, kind: JobKind, now: DateTime<Utc>, max_attempts: i64) -> Result<Vec<JobRecord>, DbError> {
        let now = time("now", now)?;
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM ingest_jobs WHERE kind = $1 AND attempts >= $2 \
             AND status IN ('queued', 'running') AND (lease_until IS NULL OR lease_until < $3) ORDER BY created_at"
        );
        let rows = on_pool!(self, |pool| sqlx::query_as::<_, JobRow>(&sql)
            .bind(kind.as_str())
            .bind(max_attempts)
            .bind(now)
            .fetch_all(pool)
            .await)
        .map_err(|e| DbError::from_sqlx("reading jobs out of attempts", e))?;
        Ok(rows.into_iter().map(JobRecord::from).collect())
    }

    /// Renews `owner`'s claim on job `job_id` until `lease_until` and stores its
    /// progress (a queued job of its own, a batch, turns running); whether the claim
    /// still held (`false`: another replica took the job, or it ended).
    pub async fn renew_job(
        &self,
        job_id: Uuid,
        owner: &str,
        done: i64,
        total: i64,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        let (lease_until, now) = (time("lease_until", lease_until)?, DbTime::now());
        let owner = owner.to_string();
        let context = format!("renewing job {job_id}");
        self.write(context.clone(), move |db| async move {
            on_pool_unbounded!(db, |pool| sqlx::query(
                "UPDATE ingest_jobs SET status = 'running', done = $3, total = $4, lease_until = $5, updated_at = $6 \
                 WHERE job_id = $1 AND owner = $2 AND status IN ('queued', 'running')"
            )
            .bind(DbUuid(job_id))
            .bind(&owner)
            .bind(done)
            .bind(total)
            .bind(lease_until)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected() == 1))
            .map_err(|e| DbError::from_sqlx(context, e))
        })
        .await
    }

    /// Ends `owner`'s live lease on running job `job_id` now (its process is known to
    /// be gone), so the next claim takes it without waiting; whether it did (`false`
    /// too when the lease had already ended).
    pub async fn lapse_job(&self, job_id: Uuid, owner: &str) -> Result<bool, DbError> {
        let owner = owner.to_string();
        let context = format!("releasing job {job_id}");
        self.write(context.clone(), move |db| async move {
            on_pool_unbounded!(db, |pool| sqlx::query(
                "UPDATE ingest_jobs SET lease_until = NULL \
                 WHERE job_id = $1 AND owner = $2 AND status = 'running' AND lease_until IS NOT NULL"
            )
            .bind(DbUuid(job_id))
            .bind(&owner)
            .execute(pool)
            .await
            .map(|r| r.rows_affected() == 1))
            .map_err(|e| DbError::from_sqlx(context, e))
        })
        .await
    }

    /// What job `job_id`'s upload asked for (`None` for a job stored before options were).
    pub async fn job_options(&self, job_id: Uuid) -> Result<Option<serde_json::Value>, DbError> {
        let options: Option<Option<Json<serde_json::Value>>> = on_pool!(self, |pool| sqlx::query_scalar(
            "SELECT options FROM ingest_jobs WHERE job_id = $1"
        )
        .bind(DbUuid(job_id))
        .fetch_optional(pool)
        .await)
        .map_err(|e| DbError::from_sqlx(format!("reading the options of job {job_id}"), e))?;
        Ok(options.flatten().map(|Json(v)| v))
    }

    /// Job `job_id`'s uploaded files (name, bytes) in upload order; none once it ended.
    pub async fn job_files(&self, job_id: Uuid) -> Result<Vec<(String, Vec<u8>)>, DbError> {
        on_pool!(self, |pool| sqlx::query_as("SELECT name, bytes FROM ingest_job_files WHERE job_id = $1 ORDER BY position")
            .bind(DbUuid(job_id))
            .fetch_all(pool)
            .await)
        .map_err(|e| DbError::from_sqlx(format!("reading the files of job {job_id}"), e))
    }
}
