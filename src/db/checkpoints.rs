//! Persistence of signed audit checkpoints and anchor signatures (migration
//! `20261206000002_audit_checkpoints.sql`). Signing and checking them is
//! `crate::audit::checkpoint`'s; this file only stores and reads rows.

use chrono::{DateTime, Utc};

use super::codec::DbTime;
use super::{Database, DbError, Pool};

/// One row of `audit_checkpoint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRecord {
    pub seq: i64,
    pub hash: String,
    pub at: DateTime<Utc>,
    /// The signer's public key (hex).
    pub public_key: String,
    /// Ed25519 signature (hex).
    pub signature: String,
}

#[derive(sqlx::FromRow)]
struct CheckpointRow {
    seq: i64,
    hash: String,
    at: DbTime,
    public_key: String,
    signature: String,
}

impl Database {
    /// Stores a checkpoint; `at` must already be whole microseconds (what both
    /// backends keep), or the stored copy would no longer match its signature.
    pub async fn insert_audit_checkpoint(&self, checkpoint: &CheckpointRecord) -> Result<(), DbError> {
        let at = DbTime::new("at", checkpoint.at)?;
        if at.get() != checkpoint.at {
            return Err(DbError::invalid("at", "must be whole microseconds"));
        }
        on_pool!(self, |pool| sqlx::query(
            "INSERT INTO audit_checkpoint (seq, hash, at, public_key, signature) VALUES ($1, $2, $3, $4, $5)"
        )
        .bind(checkpoint.seq)
        .bind(&checkpoint.hash)
        .bind(at)
        .bind(&checkpoint.public_key)
        .bind(&checkpoint.signature)
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(|e| DbError::from_sqlx("storing the audit checkpoint", e))?;
        Ok(())
    }

    /// Signs the unsigned anchor at `seq` (for anchors written before a key was
    /// configured); returns whether a row was changed. A signed anchor is never re-signed.
    pub async fn sign_audit_anchor(&self, seq: i64, signature: &str) -> Result<bool, DbError> {
        let n = on_pool!(self, |pool| sqlx::query("UPDATE audit_anchor SET signature = $1 WHERE seq = $2 AND signature = ''")
            .bind(signature)
            .bind(seq)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| DbError::from_sqlx("signing the audit anchor", e))?;
        Ok(n == 1)
    }

    /// Up to `limit` stored checkpoints, newest (highest seq, then latest) first,
    /// skipping the first `offset`.
    pub async fn audit_checkpoints(&self, offset: i64, limit: i64) -> Result<Vec<CheckpointRecord>, DbError> {
        let rows = on_pool!(self, |pool| sqlx::query_as::<_, CheckpointRow>(
            "SELECT seq, hash, at, public_key, signature FROM audit_checkpoint ORDER BY seq DESC, at DESC LIMIT $1 OFFSET $2"
        )
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await)
        .map_err(|e| DbError::from_sqlx("reading the audit checkpoints", e))?;
        Ok(rows
            .into_iter()
            .map(|r| CheckpointRecord { seq: r.seq, hash: r.hash, at: r.at.get(), public_key: r.public_key, signature: r.signature })
            .collect())
    }
}
