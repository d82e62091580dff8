//! Persistence of the failed-authentication budgets (migration
//! `20261208200001_auth_failure_budgets.sql`): one row per client address holding the
//! instant its budget is whole again. The budget's rule (capacity, refill, when to
//! refuse) is `crate::api::limits`'; this file reads that instant and moves it in one
//! atomic statement, so servers sharing the database charge one budget.

use super::{Database, DbError, Pool};

/// One failed authentication to book, in microseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthFailureCharge {
    /// When it failed.
    pub now_us: i64,
    /// How much later each failure makes the budget whole (one token's refill time).
    pub interval_us: i64,
    /// The latest the budget may be whole again (`now` plus the most debt allowed);
    /// at least `now_us + interval_us`.
    pub latest_us: i64,
    /// Also delete the rows of budgets that are whole at `now_us` (bounds the table).
    pub prune: bool,
}

/// Moves the address's instant one interval past the later of itself and now, capped
/// at `latest`; a new address starts at now plus one interval. `$1` source, `$2` now,
/// `$3` interval, `$4` latest, `$5` latest − interval (compared against, so nothing
/// added can overflow).
const CHARGE: &str = "INSERT INTO auth_failure_budgets (source, full_at_us) VALUES ($1, $2 + $3) \
    ON CONFLICT (source) DO UPDATE SET full_at_us = CASE \
        WHEN auth_failure_budgets.full_at_us > $5 THEN $4 \
        WHEN auth_failure_budgets.full_at_us > $2 THEN auth_failure_budgets.full_at_us + $3 \
        ELSE $2 + $3 END";

impl Database {
    /// When `source`'s failed-authentication budget is whole again (microseconds since
    /// the Unix epoch), or `None` when it has never been charged (or was pruned, being
    /// whole). One primary-key read.
    pub async fn auth_budget_full_at(&self, source: &str) -> Result<Option<i64>, DbError> {
        on_pool!(self, |pool| sqlx::query_scalar::<_, i64>(
            "SELECT full_at_us FROM auth_failure_budgets WHERE source = $1"
        )
        .bind(source)
        .fetch_optional(pool)
        .await)
        .map_err(|e| DbError::from_sqlx("reading a failed-authentication budget", e))
    }

    /// Books one failed authentication of `source` in one atomic upsert (concurrent
    /// charges from any server each count), cancel-safe ([`Database::write`]).
    pub async fn charge_auth_failure(&self, source: &str, charge: AuthFailureCharge) -> Result<(), DbError> {
        if charge.interval_us <= 0 || charge.latest_us < charge.now_us.saturating_add(charge.interval_us) {
            return Err(DbError::invalid("interval_us", "must be positive, with latest_us at least now_us + interval_us"));
        }
        let source = source.to_string();
        let context = "charging a failed-authentication budget";
        self.write(context, move |db| async move {
            on_pool_unbounded!(db, |pool| async {
                sqlx::query(CHARGE)
                    .bind(&source)
                    .bind(charge.now_us)
                    .bind(charge.interval_us)
                    .bind(charge.latest_us)
                    .bind(charge.latest_us - charge.interval_us)
                    .execute(pool)
                    .await?;
                if charge.prune {
                    sqlx::query("DELETE FROM auth_failure_budgets WHERE full_at_us <= $1")
                        .bind(charge.now_us)
                        .execute(pool)
                        .await?;
                }
                Ok::<(), sqlx::Error>(())
            }
            .await)
            .map_err(|e| DbError::from_sqlx(context, e))
        })
        .await
    }

    /// How many budgets are stored, whole or not.
    pub async fn count_auth_budgets(&self) -> Result<i64, DbError> {
        on_pool!(self, |pool| sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM auth_failure_budgets")
            .fetch_one(pool)
            .await)
        .map_err(|e| DbError::from_sqlx("counting failed-authentication budgets", e))
    }
}
