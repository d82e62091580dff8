//! Persistence of officers' judgements of cited chunks (migration
//! `20261206100001_citation_feedback.sql`). The rules (what may be judged, by whom,
//! how it becomes training data) live in `crate::feedback`; this file stores and
//! reads rows. A judgement is written only beside its audit entry
//! ([`super::AuditedWrite::feedback`]).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::codec::{DbTime, DbUuid};
use super::{Database, DbError, Pool};

/// One row of `citation_feedback`: the current judgement of one officer on one
/// chunk cited for one action of one analysis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackRecord {
    /// Kept from the first judgement when a later one replaces it.
    pub feedback_id: Uuid,
    pub analysis_id: Uuid,
    /// The action code the chunk is cited for (`CTR_FILING`).
    pub action: String,
    pub chunk_id: Uuid,
    /// `supports` or `does_not_support`.
    pub verdict: String,
    pub better_chunk_id: Option<Uuid>,
    pub note: Option<String>,
    pub actor_id: String,
    pub actor_name: String,
    pub actor_role: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct FeedbackRow {
    feedback_id: DbUuid,
    analysis_id: DbUuid,
    action: String,
    chunk_id: DbUuid,
    verdict: String,
    better_chunk_id: Option<DbUuid>,
    note: Option<String>,
    actor_id: String,
    actor_name: String,
    actor_role: String,
    created_at: DbTime,
    updated_at: DbTime,
}

impl From<FeedbackRow> for FeedbackRecord {
    fn from(r: FeedbackRow) -> Self {
        Self {
            feedback_id: r.feedback_id.0,
            analysis_id: r.analysis_id.0,
            action: r.action,
            chunk_id: r.chunk_id.0,
            verdict: r.verdict,
            better_chunk_id: r.better_chunk_id.map(|u| u.0),
            note: r.note,
            actor_id: r.actor_id,
            actor_name: r.actor_name,
            actor_role: r.actor_role,
            created_at: r.created_at.get(),
            updated_at: r.updated_at.get(),
        }
    }
}

const FEEDBACK_COLUMNS: &str = "feedback_id, analysis_id, action, chunk_id, verdict, better_chunk_id, note, \
    actor_id, actor_name, actor_role, created_at, updated_at";

/// A [`FeedbackRecord`] as bound to `UPSERT_FEEDBACK`.
pub(crate) struct FeedbackParams {
    pub(crate) record: FeedbackRecord,
    pub(crate) created_at: DbTime,
    pub(crate) updated_at: DbTime,
}

impl FeedbackParams {
    pub(crate) fn new(record: &FeedbackRecord) -> Result<Self, DbError> {
        Ok(Self {
            created_at: DbTime::new("created_at", record.created_at)?,
            updated_at: DbTime::new("updated_at", record.updated_at)?,
            record: record.clone(),
        })
    }
}

/// A later judgement of the same citation by the same officer replaces the earlier
/// one; the first judgement's id and time are kept.
pub(crate) const UPSERT_FEEDBACK: &str = "INSERT INTO citation_feedback \
    (feedback_id, analysis_id, action, chunk_id, verdict, better_chunk_id, note, actor_id, actor_name, actor_role, created_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
    ON CONFLICT (analysis_id, action, chunk_id, actor_id) DO UPDATE SET verdict = excluded.verdict, \
    better_chunk_id = excluded.better_chunk_id, note = excluded.note, actor_name = excluded.actor_name, \
    actor_role = excluded.actor_role, updated_at = excluded.updated_at";

/// Upserts a [`FeedbackParams`] with `UPSERT_FEEDBACK` in the open transaction `$executor`.
macro_rules! upsert_feedback {
    ($executor:expr, $p:expr) => {
        sqlx::query($crate::db::feedback::UPSERT_FEEDBACK)
            .bind(DbUuid($p.record.feedback_id))
            .bind(DbUuid($p.record.analysis_id))
            .bind(&$p.record.action)
            .bind(DbUuid($p.record.chunk_id))
            .bind(&$p.record.verdict)
            .bind($p.record.better_chunk_id.map(DbUuid))
            .bind(&$p.record.note)
            .bind(&$p.record.actor_id)
            .bind(&$p.record.actor_name)
            .bind(&$p.record.actor_role)
            .bind($p.created_at)
            .bind($p.updated_at)
            .execute($executor)
            .await
    };
}

/// A failed feedback write: an analysis deleted meanwhile is [`DbError::NotFound`].
pub(crate) fn feedback_write_error(p: &FeedbackParams, e: sqlx::Error) -> DbError {
    if super::error::is_foreign_key_violation(&e) {
        DbError::NotFound { entity: "analysis", id: p.record.analysis_id.to_string() }
    } else {
        DbError::from_sqlx(format!("storing feedback on analysis {}", p.record.analysis_id), e)
    }
}

impl Database {
    /// The judgements on an analysis, by action, chunk and officer.
    pub async fn feedback_for(&self, analysis_id: Uuid) -> Result<Vec<FeedbackRecord>, DbError> {
        let sql = format!("SELECT {FEEDBACK_COLUMNS} FROM citation_feedback WHERE analysis_id = $1 ORDER BY action, chunk_id, actor_id");
        let rows = on_pool!(self, |pool| sqlx::query_as::<_, FeedbackRow>(&sql)
            .bind(DbUuid(analysis_id))
            .fetch_all(pool)
            .await)
        .map_err(|e| DbError::from_sqlx(format!("reading the feedback on analysis {analysis_id}"), e))?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Up to `limit` judgements last changed at or after `since` (all if `None`),
    /// after the cursor `after` (`updated_at`, `feedback_id` of the last row of the
    /// previous page), oldest first.
    pub async fn feedback_page(
        &self,
        since: Option<DateTime<Utc>>,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> Result<Vec<FeedbackRecord>, DbError> {
        let since = DbTime::clamped(since.unwrap_or(DateTime::<Utc>::MIN_UTC));
        let (after_at, after_id) = match after {
            Some((at, id)) => (Some(DbTime::clamped(at)), Some(DbUuid(id))),
            None => (None, None),
        };
        let sql = format!(
            "SELECT {FEEDBACK_COLUMNS} FROM citation_feedback WHERE updated_at >= $1 \
             AND ($2 IS NULL OR updated_at > $2 OR (updated_at = $2 AND feedback_id > $3)) \
             ORDER BY updated_at, feedback_id LIMIT $4"
        );
        let rows = on_pool!(self, |pool| sqlx::query_as::<_, FeedbackRow>(&sql)
            .bind(since)
            .bind(after_at)
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await)
        .map_err(|e| DbError::from_sqlx("reading citation feedback", e))?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
