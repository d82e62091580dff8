//! Persistence of the web pages' sessions (migration `20261207100001_web_sessions.sql`).
//! What a session holds and how its cookie works is `crate::web::session`'s; this file
//! stores rows, never returns one that has expired, and deletes the expired ones.

use chrono::{DateTime, Utc};

use super::codec::DbTime;
use super::{Database, DbError, Pool};

/// One stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSessionRow {
    /// The session id (the cookie's value).
    pub id: String,
    /// The session record, JSON.
    pub data: String,
    /// When the session stops being valid (stored to the microsecond).
    pub expires_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct SessionDbRow {
    id: String,
    data: String,
    expires_at: DbTime,
}

const DELETE_EXPIRED: &str = "DELETE FROM web_sessions WHERE expires_at <= $1";

impl Database {
    /// Stores a new session, unless its id is taken (`Ok(false)`, nothing written);
    /// the sessions expired at `now` are deleted in the same transaction, so the
    /// table holds no more than the sessions alive at the latest sign-in.
    pub async fn create_web_session(&self, row: &WebSessionRow, now: DateTime<Utc>) -> Result<bool, DbError> {
        let expires_at = DbTime::new("expires_at", row.expires_at)?;
        let now = DbTime::clamped(now);
        let (id, data) = (row.id.clone(), row.data.clone());
        let context = "storing a web session";
        self.write(context, |db| async move {
            on_pool_unbounded!(db, |pool| async {
                let mut tx = pool.begin().await?;
                sqlx::query(DELETE_EXPIRED).bind(now).execute(&mut *tx).await?;
                let inserted = sqlx::query(
                    "INSERT INTO web_sessions (id, data, expires_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
                )
                .bind(&id)
                .bind(&data)
                .bind(expires_at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                Ok(inserted == 1)
            }
            .await)
            .map_err(|e| DbError::from_sqlx(context, e))
        })
        .await
    }

    /// Replaces a session's record and expiry (storing it again if it was deleted
    /// meanwhile).
    pub async fn save_web_session(&self, row: &WebSessionRow) -> Result<(), DbError> {
        let expires_at = DbTime::new("expires_at", row.expires_at)?;
        let (id, data) = (row.id.clone(), row.data.clone());
        let context = "updating a web session";
        self.write(context, |db| async move {
            on_pool_unbounded!(db, |pool| sqlx::query(
                "INSERT INTO web_sessions (id, data, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at"
            )
            .bind(&id)
            .bind(&data)
            .bind(expires_at)
            .execute(pool)
            .await
            .map(|_| ()))
            .map_err(|e| DbError::from_sqlx(context, e))
        })
        .await
    }

    /// The session `id`, unless it is unknown or expired at `now`.
    pub async fn web_session(&self, id: &str, now: DateTime<Utc>) -> Result<Option<WebSessionRow>, DbError> {
        let now = DbTime::clamped(now);
        let row = on_pool!(self, |pool| sqlx::query_as::<_, SessionDbRow>(
            "SELECT id, data, expires_at FROM web_sessions WHERE id = $1 AND expires_at > $2"
        )
        .bind(id)
        .bind(now)
        .fetch_optional(pool)
        .await)
        .map_err(|e| DbError::from_sqlx("reading a web session", e))?;
        Ok(row.map(|r| WebSessionRow { id: r.id, data: r.data, expires_at: r.expires_at.get() }))
    }

    /// Deletes the session `id` (signing out); an unknown id is not an error.
    pub async fn delete_web_session(&self, id: &str) -> Result<(), DbError> {
        let id = id.to_string();
        let context = "deleting a web session";
        self.write(context, |db| async move {
            on_pool_unbounded!(db, |pool| sqlx::query("DELETE FROM web_sessions WHERE id = $1")
                .bind(&id)
                .execute(pool)
                .await
                .map(|_| ()))
            .map_err(|e| DbError::from_sqlx(context, e))
        })
        .await
    }

    /// How many sessions are stored, expired or not.
    pub async fn count_web_sessions(&self) -> Result<i64, DbError> {
        on_pool!(self, |pool| sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM web_sessions")
            .fetch_one(pool)
            .await)
        .map_err(|e| DbError::from_sqlx("counting web sessions", e))
    }
}
