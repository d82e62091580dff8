//! Persistence of the security tables (migration `20261124000001_security.sql`):
//! API keys, decisions and the audit log with its prune anchor (ingestion jobs are
//! `jobs.rs`; their creation and end are stored with their audit entries here).
//! The rules (hashing, chaining, who may decide) live in `crate::auth`,
//! `crate::decision` and `crate::audit`; this file only stores and reads rows.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use super::codec::{DbTime, DbUuid};
use super::rows::AnalysisParams;
use super::{Database, DbError, INSERT_ANALYSIS, Pool};

/// One row of `api_keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub key_id: String,
    pub name: String,
    pub role: String,
    /// PHC string of the argon2id hash of the secret.
    pub secret_hash: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    key_id: String,
    name: String,
    role: String,
    secret_hash: String,
    created_at: DbTime,
    revoked_at: Option<DbTime>,
}

impl From<ApiKeyRow> for ApiKeyRecord {
    fn from(r: ApiKeyRow) -> Self {
        Self {
            key_id: r.key_id,
            name: r.name,
            role: r.role,
            secret_hash: r.secret_hash,
            created_at: r.created_at.get(),
            revoked_at: r.revoked_at.map(DbTime::get),
        }
    }
}

/// One row of `decisions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionRecord {
    pub decision_id: Uuid,
    pub analysis_id: Uuid,
    /// 1 for the first decision, +1 for each override.
    pub sequence: i64,
    pub decision: String,
    pub comment: String,
    pub actor_id: String,
    pub actor_name: String,
    pub actor_role: String,
    pub decided_at: DateTime<Utc>,
    /// The decision this one overrides.
    pub supersedes: Option<Uuid>,
    /// The SAR narrative kept with the decision (case view), if any.
    pub narrative: Option<String>,
}

#[derive(sqlx::FromRow)]
struct DecisionRow {
    decision_id: DbUuid,
    analysis_id: DbUuid,
    sequence: i64,
    decision: String,
    comment: String,
    actor_id: String,
    actor_name: String,
    actor_role: String,
    decided_at: DbTime,
    supersedes: Option<DbUuid>,
    narrative: Option<String>,
}

/// One row of `audit_log`, exactly as stored (and hashed).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditRow {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub action: String,
    pub actor_id: String,
    pub actor_role: String,
    pub request_id: String,
    pub object_id: String,
    pub related_id: String,
    pub outcome: String,
    /// A JSON object, as the exact text that was hashed.
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(sqlx::FromRow)]
struct AuditDbRow {
    seq: i64,
    at: DbTime,
    kind: String,
    action: String,
    actor_id: String,
    actor_role: String,
    request_id: String,
    object_id: String,
    related_id: String,
    outcome: String,
    details: String,
    prev_hash: String,
    hash: String,
}

impl From<AuditDbRow> for AuditRow {
    fn from(r: AuditDbRow) -> Self {
        Self {
            seq: r.seq,
            at: r.at.get(),
            kind: r.kind,
            action: r.action,
            actor_id: r.actor_id,
            actor_role: r.actor_role,
            request_id: r.request_id,
            object_id: r.object_id,
            related_id: r.related_id,
            outcome: r.outcome,
            details: r.details,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

/// Where a pruned chain continues (`audit_anchor`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditAnchor {
    /// The last pruned entry.
    pub seq: i64,
    pub hash: String,
    pub pruned_at: DateTime<Utc>,
    pub pruned: i64,
    /// Ed25519 signature (hex) by the audit checkpoint key; empty if none was configured.
    pub signature: String,
}

#[derive(sqlx::FromRow)]
struct AnchorRow {
    seq: i64,
    hash: String,
    pruned_at: DbTime,
    pruned: i64,
    signature: String,
}

const AUDIT_COLUMNS: &str =
    "seq, at, kind, action, actor_id, actor_role, request_id, object_id, related_id, outcome, details, prev_hash, hash";

/// A record stored in the same database transaction as the audit entry about it
/// ([`Database::audit_append`]), so that an answered request never has one
/// without the other.
pub struct AuditedWrite(Record);

enum Record {
    /// The entry alone.
    Nothing,
    /// A new analysis and the request that produced it (`analysis.create`).
    Analysis(AnalysisParams),
    /// A decision on an analysis (`decision.create`, `decision.override`).
    Decision(DecisionParams),
    /// An officer's judgement of a cited chunk (`feedback.record`, `feedback.replace`).
    Feedback(super::feedback::FeedbackParams),
    /// Who reviews an analysis (`review.assign`, `review.unassign`).
    Assignment(super::review::AssignmentParams),
    /// A new job with its upload (`document.upload`, `batch.upload`).
    Job(super::jobs::NewJobParams),
    /// A job's end, if the claim it ends still holds (`document.ingest`, `batch.run`).
    JobEnd(super::jobs::JobEndParams),
}

impl AuditedWrite {
    /// The entry alone.
    pub const NOTHING: Self = Self(Record::Nothing);

    /// An analysis to store with its entry; its fields are checked here.
    pub fn analysis(analysis: &crate::guidance::Analysis, request: &serde_json::Value) -> Result<Self, DbError> {
        AnalysisParams::new(analysis, request).map(|p| Self(Record::Analysis(p)))
    }

    /// A decision to store with its entry; its fields are checked here.
    pub fn decision(decision: &DecisionRecord) -> Result<Self, DbError> {
        DecisionParams::new(decision).map(|p| Self(Record::Decision(p)))
    }

    /// A judgement of a cited chunk to store (replacing the officer's earlier one) with its entry.
    pub fn feedback(feedback: &super::FeedbackRecord) -> Result<Self, DbError> {
        super::feedback::FeedbackParams::new(feedback).map(|p| Self(Record::Feedback(p)))
    }

    /// An analysis's assignment to store (`Some`) or remove (`None`) with its entry.
    pub fn assignment(analysis_id: Uuid, assignment: Option<&super::AssignmentRecord>) -> Result<Self, DbError> {
        super::review::AssignmentParams::new(analysis_id, assignment).map(|p| Self(Record::Assignment(p)))
    }

    /// A new queued job with what its upload asked for
    /// and its files, to store with its entry: the upload is durable once answered.
    pub fn new_job(job: &super::JobRecord, options: Option<serde_json::Value>, files: Vec<(String, bytes::Bytes)>) -> Result<Self, DbError> {
        super::jobs::NewJobParams::new(job, options, files).map(|p| Self(Record::Job(p)))
    }

    /// The end of the claim `claim` (the job as its ender last saw it: owner and
    /// attempts), with its final `progress` (done, total; complete if it succeeded) if
    /// known, to store with the job's closing entry; with `lapsed_before`, only if the
    /// claim's lease lapsed before then. When the claim no longer holds, neither is
    /// stored ([`DbError::Conflict`]), so a job's end is recorded once.
    pub fn job_end(
        claim: &super::JobRecord,
        lapsed_before: Option<DateTime<Utc>>,
        status: super::JobStatus,
        error: Option<String>,
        result: Option<serde_json::Value>,
        progress: Option<(i64, i64)>,
    ) -> Result<Self, DbError> {
        super::jobs::JobEndParams::new(claim, lapsed_before, status, error, result, progress).map(|p| Self(Record::JobEnd(p)))
    }
}

/// A [`DecisionRecord`] as bound to `INSERT INTO decisions`.
struct DecisionParams {
    record: DecisionRecord,
    decided_at: DbTime,
}

impl DecisionParams {
    fn new(record: &DecisionRecord) -> Result<Self, DbError> {
        Ok(Self { decided_at: time("decided_at", record.decided_at)?, record: record.clone() })
    }
}

/// Inserts a [`DecisionParams`] in the open transaction `$executor`.
macro_rules! insert_decision {
    ($executor:expr, $p:expr) => {
        sqlx::query(
            "INSERT INTO decisions (decision_id, analysis_id, sequence, decision, comment, actor_id, actor_name, actor_role, decided_at, supersedes, narrative) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(DbUuid($p.record.decision_id))
        .bind(DbUuid($p.record.analysis_id))
        .bind($p.record.sequence)
        .bind(&$p.record.decision)
        .bind(&$p.record.comment)
        .bind(&$p.record.actor_id)
        .bind(&$p.record.actor_name)
        .bind(&$p.record.actor_role)
        .bind($p.decided_at)
        .bind($p.record.supersedes.map(DbUuid))
        .bind(&$p.record.narrative)
        .execute($executor)
        .await
    };
}

/// A failed decision insert: an unknown analysis is [`DbError::NotFound`], a
/// concurrent decision with the same sequence [`DbError::Conflict`].
fn decision_write_error(p: &DecisionParams, e: sqlx::Error) -> DbError {
    if super::error::is_foreign_key_violation(&e) {
        DbError::NotFound { entity: "analysis", id: p.record.analysis_id.to_string() }
    } else {
        DbError::from_sqlx(format!("storing a decision on analysis {}", p.record.analysis_id), e)
    }
}

/// Why one attempt of an audit append failed: the chain (retried when another
/// process took the number) or the record stored with it (never retried).
enum Append {
    Chain(sqlx::Error),
    With(DbError),
}

impl From<sqlx::Error> for Append {
    fn from(e: sqlx::Error) -> Self {
        Self::Chain(e)
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Attempts of one append when another process wins the race for the next number.
const APPEND_RETRIES: u64 = 5;

/// Arbitrary constant for `pg_advisory_xact_lock`: serializes audit appends across processes.
const AUDIT_LOCK_ID: i64 = 0x7265_6167_6175_6469; // "reagaudi"

fn time(field: &str, t: DateTime<Utc>) -> Result<DbTime, DbError> {
    DbTime::new(field, t)
}

impl Database {
    pub async fn insert_api_key(&self, key: &ApiKeyRecord) -> Result<(), DbError> {
        let created = time("created_at", key.created_at)?;
        let revoked = key.revoked_at.map(|t| time("revoked_at", t)).transpose()?;
        on_pool!(self, |pool| sqlx::query(
            "INSERT INTO api_keys (key_id, name, role, secret_hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)"
        )
        .bind(&key.key_id)
        .bind(&key.name)
        .bind(&key.role)
        .bind(&key.secret_hash)
        .bind(created)
        .bind(revoked)
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(|e| DbError::from_sqlx(format!("storing API key {:?}", key.key_id), e))
    }

    pub async fn get_api_key(&self, key_id: &str) -> Result<Option<ApiKeyRecord>, DbError> {
        let row = on_pool!(self, |pool| sqlx::query_as::<_, ApiKeyRow>(
            "SELECT key_id, name, role, secret_hash, created_at, revoked_at FROM api_keys WHERE key_id = $1"
        )
        .bind(key_id)
        .fetch_optional(pool)
        .await)
        .map_err(|e| DbError::from_sqlx(format!("reading API key {key_id:?}"), e))?;
        Ok(row.map(Into::into))
    }

    /// Every key, oldest first.
    pub async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, DbError> {
        let rows = on_pool!(self, |pool| sqlx::query_as::<_, ApiKeyRow>(
            "SELECT key_id, name, role, secret_hash, created_at, revoked_at FROM api_keys ORDER BY created_at, key_id"
        )
        .fetch_all(pool)
        .await)
        .map_err(|e| DbError::from_sqlx("listing API keys", e))?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Marks a key revoked (the first revocation time is kept). [`DbError::NotFound`] for an unknown id.
    pub async fn revoke_api_key(&self, key_id: &str, at: DateTime<Utc>) -> Result<(), DbError> {
        let at = time("revoked_at", at)?;
        let n = on_pool!(self, |pool| sqlx::query(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE key_id = $1"
        )
        .bind(key_id)
        .bind(at)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(|e| DbError::from_sqlx(format!("revoking API key {key_id:?}"), e))?;
        if n == 0 {
            return Err(DbError::NotFound { entity: "API key", id: key_id.to_string() });
        }
        Ok(())
    }

    /// The decisions on an analysis, first to latest.
    pub async fn decisions_for(&self, analysis_id: Uuid) -> Result<Vec<DecisionRecord>, DbError> {
        let rows = on_pool!(self, |pool| sqlx::query_as::<_, DecisionRow>(
            "SELECT decision_id, analysis_id, sequence, decision, comment, actor_id, actor_name, actor_role, decided_at, supersedes, narrative \
             FROM decisions WHERE analysis_id = $1 ORDER BY sequence"
        )
        .bind(DbUuid(analysis_id))
        .fetch_all(pool)
        .await)
        .map_err(|e| DbError::from_sqlx(format!("reading the decisions on analysis {analysis_id}"), e))?;
        Ok(rows
            .into_iter()
            .map(|r| DecisionRecord {
                decision_id: r.decision_id.0,
                analysis_id: r.analysis_id.0,
                sequence: r.sequence,
                decision: r.decision,
                comment: r.comment,
                actor_id: r.actor_id,
                actor_name: r.actor_name,
                actor_role: r.actor_role,
                decided_at: r.decided_at.get(),
                supersedes: r.supersedes.map(|u| u.0),
                narrative: r.narrative,
            })
            .collect())
    }

    /// Appends one audit entry as the next link of the chain, together with the
    /// record it is about (`with`) in one database transaction: both are stored,
    /// or neither. `draft` is the entry without its place in the chain: `seq`,
    /// `at`, `prev_hash` and `hash` are set here (`hash` by `hasher`, from the last
    /// entry's or the prune anchor's seq + 1 and hash, or `genesis`).
    ///
    /// Cancel-safe ([`Database::write`]): it runs in its own task, so an entry
    /// whose caller was answered is stored, and one whose caller went away is
    /// either stored whole or not at all. On PostgreSQL an advisory lock
    /// serializes appenders across processes, and the chain's head is read after it
    /// (READ COMMITTED, so the previous holder's entry is seen); on SQLite
    /// `BEGIN IMMEDIATE` takes the write lock before the head is read; on either the
    /// primary key on `seq` refuses a second entry with the same number, so the chain
    /// cannot fork (a lost race is retried a few times; an error of `with`'s write is
    /// not).
    pub async fn audit_append(
        &self,
        genesis: &'static str,
        draft: AuditRow,
        hasher: fn(&AuditRow) -> String,
        with: AuditedWrite,
    ) -> Result<AuditRow, DbError> {
        let mut rows = self.audit_append_all(genesis, vec![(draft, with)], hasher).await?;
        rows.pop().ok_or_else(|| DbError::backend("appending to the audit log", "no entry was appended"))
    }

    /// [`Database::audit_append`] for several entries, each with its record, as
    /// consecutive links of the chain in one database transaction: every record and
    /// entry is stored, or none (a batch of analyses, `crate::batch`).
    pub async fn audit_append_all(
        &self,
        genesis: &'static str,
        entries: Vec<(AuditRow, AuditedWrite)>,
        hasher: fn(&AuditRow) -> String,
    ) -> Result<Vec<AuditRow>, DbError> {
        let context = "appending to the audit log";
        self.write(context, move |db| async move {
            // Nothing is written yet, so giving up here is safe: behind a database
            // that stays jammed, appends fail in turn instead of queueing forever.
            let Ok(_serial) = tokio::time::timeout(db.timeout, db.audit_lock.clone().lock_owned()).await else {
                return Err(DbError::Timeout { context: format!("{context} (waiting for the appends queued before it)") });
            };
            let mut attempt = 0;
            loop {
                match db.audit_append_once(genesis, &entries, hasher).await {
                    Ok(rows) => return Ok(rows),
                    // Another process took the next number between our read and write.
                    Err(Append::Chain(e)) if is_unique_violation(&e) && attempt < APPEND_RETRIES => {
                        attempt += 1;
                        tracing::debug!("audit append retry {attempt}: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(5 * attempt)).await;
                    }
                    Err(Append::Chain(e)) => return Err(DbError::from_sqlx(context, e)),
                    Err(Append::With(e)) => return Err(e),
                }
            }
        })
        .await
    }

    async fn audit_append_once(
        &self,
        genesis: &str,
        entries: &[(AuditRow, AuditedWrite)],
        hasher: fn(&AuditRow) -> String,
    ) -> Result<Vec<AuditRow>, Append> {
        let lock_pg = matches!(self.pool, Pool::Postgres(_));
        on_pool_unbounded!(self, |pool| async {
            // SQLite: take the write lock before reading the chain's head. A deferred
            // transaction that reads and then writes fails at once (busy snapshot) when
            // any other write (an analysis) commits in between.
            // PostgreSQL: READ COMMITTED whatever the server's default, so the head read
            // after the advisory lock sees the previous holder's commit. Under REPEATABLE
            // READ the snapshot would date from the lock statement, before its wait: a
            // stale head, refused by the primary key, and appends failing under load.
            let begin = if lock_pg { "BEGIN ISOLATION LEVEL READ COMMITTED" } else { "BEGIN IMMEDIATE" };
            let mut tx = pool.begin_with(begin).await?;
            if lock_pg {
                sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(AUDIT_LOCK_ID).execute(&mut *tx).await?;
            }
            let last: Option<(i64, String)> =
                sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetch_optional(&mut *tx).await?;
            let last = match last {
                Some(l) => Some(l),
                None => sqlx::query_as("SELECT seq, hash FROM audit_anchor ORDER BY seq DESC LIMIT 1")
                    .fetch_optional(&mut *tx)
                    .await?,
            };
            let (mut seq, mut prev) = last.unwrap_or_else(|| (0, genesis.to_string()));
            let mut appended = Vec::with_capacity(entries.len());
            for (draft, with) in entries {
                match &with.0 {
                    Record::Nothing => {}
                    Record::Analysis(p) => {
                        insert_analysis!(&mut *tx, p).map_err(|e| {
                            Append::With(DbError::from_sqlx(format!("saving analysis {}", p.analysis_id.0), e))
                        })?;
                    }
                    Record::Decision(d) => {
                        insert_decision!(&mut *tx, d).map_err(|e| Append::With(decision_write_error(d, e)))?;
                    }
                    Record::Feedback(f) => {
                        upsert_feedback!(&mut *tx, f).map_err(|e| Append::With(super::feedback::feedback_write_error(f, e)))?;
                    }
                    Record::Assignment(a) => {
                        write_assignment!(&mut *tx, a).map_err(|e| Append::With(super::review::assignment_write_error(a, e)))?;
                    }
                    Record::Job(j) => {
                        insert_job!(tx, j)
                            .map_err(|e| Append::With(DbError::from_sqlx(format!("storing job {}", j.job.job_id), e)))?;
                    }
                    Record::JobEnd(end) => {
                        let changed = end_job!(tx, end)
                            .map_err(|e| Append::With(DbError::from_sqlx(format!("ending job {}", end.job_id), e)))?;
                        if changed != 1 {
                            return Err(Append::With(DbError::Conflict(format!(
                                "job {} is no longer held by the claim that ended it",
                                end.job_id
                            ))));
                        }
                    }
                }
                let at = DbTime::now();
                let mut row = AuditRow { seq: seq + 1, at: at.get(), prev_hash: prev, hash: String::new(), ..draft.clone() };
                row.hash = hasher(&row);
                sqlx::query(
                    "INSERT INTO audit_log (seq, at, kind, action, actor_id, actor_role, request_id, object_id, related_id, outcome, details, prev_hash, hash) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(row.seq)
                .bind(at)
                .bind(&row.kind)
                .bind(&row.action)
                .bind(&row.actor_id)
                .bind(&row.actor_role)
                .bind(&row.request_id)
                .bind(&row.object_id)
                .bind(&row.related_id)
                .bind(&row.outcome)
                .bind(&row.details)
                .bind(&row.prev_hash)
                .bind(&row.hash)
                .execute(&mut *tx)
                .await?;
                seq = row.seq;
                prev = row.hash.clone();
                appended.push(row);
            }
            tx.commit().await?;
            Ok::<Vec<AuditRow>, Append>(appended)
        }
        .await)
    }

    /// Up to `limit` entries with `seq > after`, in chain order.
    pub async fn audit_page(&self, after: i64, limit: i64) -> Result<Vec<AuditRow>, DbError> {
        let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2");
        let rows = on_pool!(self, |pool| sqlx::query_as::<_, AuditDbRow>(&sql)
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await)
        .map_err(|e| DbError::from_sqlx("reading the audit log", e))?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The entries about one object (its `object_id` or `related_id`), in chain order.
    pub async fn audit_for_object(&self, object_id: &str, limit: i64) -> Result<Vec<AuditRow>, DbError> {
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE object_id = $1 OR related_id = $1 ORDER BY seq LIMIT $2"
        );
        let rows = on_pool!(self, |pool| sqlx::query_as::<_, AuditDbRow>(&sql)
            .bind(object_id)
            .bind(limit)
            .fetch_all(pool)
            .await)
        .map_err(|e| DbError::from_sqlx(format!("reading the audit trail of {object_id:?}"), e))?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The latest prune anchor, if the log was ever pruned.
    pub async fn audit_anchor(&self) -> Result<Option<AuditAnchor>, DbError> {
        let row = on_pool!(self, |pool| sqlx::query_as::<_, AnchorRow>(
            "SELECT seq, hash, pruned_at, pruned, signature FROM audit_anchor ORDER BY seq DESC LIMIT 1"
        )
        .fetch_optional(pool)
        .await)
        .map_err(|e| DbError::from_sqlx("reading the audit anchor", e))?;
        Ok(row.map(|r| AuditAnchor {
            seq: r.seq,
            hash: r.hash,
            pruned_at: r.pruned_at.get(),
            pruned: r.pruned,
            signature: r.signature,
        }))
    }

    /// Deletes the entries with `seq <= through.seq` and records `through` as the
    /// anchor the chain continues from (pruned at `pruned_at`, with the anchor's
    /// `signature`, empty if unsigned), in one transaction. Returns how many went.
    /// `pruned_at` must be whole microseconds, or the signature would not survive
    /// the round trip.
    pub async fn audit_prune_through(&self, through: &AuditRow, pruned_at: DateTime<Utc>, signature: &str) -> Result<u64, DbError> {
        let now = time("pruned_at", pruned_at)?;
        if now.get() != pruned_at {
            return Err(DbError::invalid("pruned_at", "must be whole microseconds"));
        }
        let (seq, hash, signature) = (through.seq, through.hash.clone(), signature.to_string());
        self.write("pruning the audit log", move |db| async move {
            on_pool_unbounded!(db, |pool| async {
                let mut tx = pool.begin().await?;
                let n = sqlx::query("DELETE FROM audit_log WHERE seq <= $1").bind(seq).execute(&mut *tx).await?.rows_affected();
                sqlx::query("INSERT INTO audit_anchor (seq, hash, pruned_at, pruned, signature) VALUES ($1, $2, $3, $4, $5)")
                    .bind(seq)
                    .bind(&hash)
                    .bind(now)
                    .bind(i64::try_from(n).unwrap_or(i64::MAX))
                    .bind(&signature)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok::<u64, sqlx::Error>(n)
            }
            .await)
            .map_err(|e| DbError::from_sqlx("pruning the audit log", e))
        })
        .await
    }
}

