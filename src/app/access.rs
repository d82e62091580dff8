//! Owns what the front doors that take a credential need of authentication and the
//! audit trail's refusal counts: a credential (API key or JWT) to its principal, whether
//! a key is still in force, the refused requests counted, then written aggregated, and
//! the failed-authentication budgets ([`FailureBudgets`]: a token bucket per client
//! address kept in the database, so every replica charges one budget).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::{App, AppError};
use crate::audit::refusals::Refusal;
use crate::auth::{AuthError, Principal};
use crate::db::{AuthFailureCharge, Database};

impl App {
    /// The principal of an API key or JWT.
    pub async fn authenticate(&self, credential: &str) -> Result<Principal, AuthError> {
        self.auth.authenticate(credential).await
    }

    /// The principal of an API key (the sign-in form takes no JWT).
    pub async fn authenticate_api_key(&self, key: &str) -> Result<Principal, AuthError> {
        self.auth.authenticate_api_key(key).await
    }

    /// Whether JWTs are accepted (configured in `[auth]`).
    pub fn jwt_enabled(&self) -> bool {
        self.auth.jwt_enabled()
    }

    /// Whether `credential` was verified recently (it then costs no check, nor any of
    /// the failed-authentication budget).
    pub fn is_verified(&self, credential: &str) -> bool {
        self.auth.is_verified(credential)
    }

    /// Whether the key `key_id` exists and is not revoked.
    pub async fn key_in_force(&self, key_id: &str) -> Result<bool, AppError> {
        Ok(self.db.get_api_key(key_id).await?.is_some_and(|k| k.revoked_at.is_none()))
    }

    /// Counts a refused request; the counts are written aggregated ([`App::flush_refusals`]).
    pub fn count_refusal(&self, refusal: Refusal) {
        self.audit.count_refusal(refusal);
    }

    /// Refused requests counted and not yet written.
    pub fn pending_refusals(&self) -> u64 {
        self.audit.pending_refusals()
    }

    /// How often the refusal counts are written (`audit.refusal_interval_seconds`).
    pub fn refusal_interval(&self) -> Duration {
        self.audit.refusal_interval()
    }

    /// Writes the refusal counts to the audit trail; how many entries were written.
    pub async fn flush_refusals(&self) -> usize {
        self.audit.flush_refusals().await
    }
}

/// How often one process deletes the rows of budgets that are whole again.
pub const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// The failed-authentication budgets in the database: token buckets of `capacity`
/// tokens refilled one per `interval_us`, each stored as the instant it is whole again.
pub struct FailureBudgets {
    db: Database,
    capacity: i64,
    /// One token's refill time in microseconds (at least 1).
    interval_us: i64,
    /// When this process next deletes whole budgets' rows.
    next_prune: Mutex<Instant>,
}

impl FailureBudgets {
    /// Budgets of `burst` failures refilled at `per_minute` (validated above 0 when
    /// `burst` is), kept in `db`; `None` when `burst` is 0 (off).
    pub(crate) fn new(db: Database, burst: u32, per_minute: f64) -> Option<Self> {
        if burst == 0 {
            return None;
        }
        // Validated: above 0 per minute when on. `as` saturates a rate too slow to count.
        let interval_us = (60_000_000.0 / per_minute).round() as i64;
        Some(Self {
            db,
            capacity: i64::from(burst),
            interval_us: interval_us.max(1),
            next_prune: Mutex::new(Instant::now()),
        })
    }

    /// `Err(wait)` when `source` has fewer than one token at `now`. A budget is whole
    /// at `full_at`, so it holds `capacity − (full_at − now) / interval` tokens.
    pub async fn check(&self, source: &str, now: DateTime<Utc>) -> Result<(), Duration> {
        let full_at = match self.db.auth_budget_full_at(source).await {
            Ok(full_at) => full_at,
            Err(e) => {
                tracing::error!("the failed-authentication budget of {source} could not be read; letting the attempt through: {e}");
                None
            }
        };
        let Some(full_at) = full_at else { return Ok(()) };
        let ahead = full_at.saturating_sub(now.timestamp_micros());
        let allowed = (self.capacity - 1).saturating_mul(self.interval_us);
        if ahead <= allowed {
            Ok(())
        } else {
            Err(Duration::from_micros(u64::try_from(ahead - allowed).unwrap_or(u64::MAX)))
        }
    }

    /// Spends one token of `source`'s budget at `at`, down to at most one whole budget
    /// of debt.
    pub async fn charge(&self, source: &str, at: DateTime<Utc>) {
        let now_us = at.timestamp_micros();
        let prune = {
            let mut next = self.next_prune.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let due = Instant::now() >= *next;
            if due {
                *next = Instant::now() + PRUNE_EVERY;
            }
            due
        };
        let debt = self.capacity.saturating_mul(2).saturating_mul(self.interval_us);
        let charge = AuthFailureCharge {
            now_us,
            interval_us: self.interval_us,
            latest_us: now_us.saturating_add(debt.max(self.interval_us)),
            prune,
        };
        if let Err(e) = self.db.charge_auth_failure(source, charge).await {
            tracing::error!("a failed authentication of {source} could not be charged to its budget: {e}");
        }
    }
}

impl App {
    /// The failed-authentication budgets of every replica over this database (`None`
    /// when `burst` is 0); the front doors' limits check and charge them.
    pub fn failure_budgets(&self, burst: u32, per_minute: f64) -> Option<FailureBudgets> {
        FailureBudgets::new(self.db.clone(), burst, per_minute)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::{AuthAttempt, AuthBudget};

    /// A database in a temporary folder (kept while the folder lives).
    async fn database() -> (Database, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("limits.db").display());
        (Database::open(&crate::db::DatabaseSettings::new(url)).await.unwrap(), dir)
    }

    /// The budgets as a front door holds them (off when `None`).
    struct Budget(Option<FailureBudgets>);

    #[async_trait::async_trait]
    impl AuthBudget for Budget {
        fn source(&self, ip: std::net::IpAddr) -> String {
            format!("ip:{ip}")
        }

        async fn check(&self, source: &str, now: DateTime<Utc>) -> Result<(), Duration> {
            match &self.0 {
                Some(budgets) => budgets.check(source, now).await,
                None => Ok(()),
            }
        }

        async fn charge(&self, source: &str, at: DateTime<Utc>) {
            if let Some(budgets) = &self.0 {
                budgets.charge(source, at).await;
            }
        }
    }

    impl Budget {
        async fn reserve_auth_attempt<'a>(&'a self, source: &'a str, now: DateTime<Utc>) -> Result<AuthAttempt<'a>, Duration> {
            (self as &dyn AuthBudget).reserve(source, now).await
        }
    }

    fn budget(db: &Database, burst: u32, per_minute: f64) -> Budget {
        Budget(FailureBudgets::new(db.clone(), burst, per_minute))
    }

    #[tokio::test]
    async fn only_failed_authentications_spend_the_address_budget() {
        let (db, _dir) = database().await;
        let l = budget(&db, 3, 6.0);
        let t0 = Utc::now();
        // Attempts that did not fail cost nothing, however they ended: a valid key, or
        // a request dropped before its check finished (a client that hung up).
        for _ in 0..50 {
            let attempt = l.reserve_auth_attempt("ip:10.0.0.1", t0).await.unwrap();
            drop(attempt);
        }
        // Attempts in flight at once do not count against the budget either.
        let mut in_flight = Vec::new();
        for _ in 0..10 {
            in_flight.push(l.reserve_auth_attempt("ip:10.0.0.1", t0).await.unwrap());
        }
        drop(in_flight);
        assert_eq!(db.count_auth_budgets().await.unwrap(), 0, "nothing was charged");
        for _ in 0..3 {
            l.reserve_auth_attempt("ip:10.0.0.1", t0).await.unwrap().failed().await;
        }
        let wait = l.reserve_auth_attempt("ip:10.0.0.1", t0).await.err().unwrap();
        assert!((wait.as_secs_f64() - 10.0).abs() < 1e-6, "6 a minute: one every 10 s, {wait:?}");
        assert!(l.reserve_auth_attempt("ip:10.0.0.2", t0).await.is_ok(), "another address has its own budget");
        // Ten seconds later one attempt is back.
        let t1 = t0 + chrono::Duration::seconds(10);
        l.reserve_auth_attempt("ip:10.0.0.1", t1).await.unwrap().failed().await;
        assert!(l.reserve_auth_attempt("ip:10.0.0.1", t1).await.is_err());
        // Failures checked concurrently push the budget into debt: a longer wait.
        let l = budget(&db, 2, 6.0);
        let mut attempts = Vec::new();
        for _ in 0..4 {
            attempts.push(l.reserve_auth_attempt("ip:10.0.0.3", t0).await.unwrap());
        }
        futures_util::future::join_all(attempts.into_iter().map(AuthAttempt::failed)).await;
        let wait = l.reserve_auth_attempt("ip:10.0.0.3", t0).await.err().unwrap();
        assert!((wait.as_secs_f64() - 30.0).abs() < 1e-6, "two tokens of debt plus one: {wait:?}");
        // At most one whole budget of debt: two more failures wait no longer.
        for _ in 0..2 {
            l.charge("ip:10.0.0.3", t0).await;
        }
        let wait = l.reserve_auth_attempt("ip:10.0.0.3", t0).await.err().unwrap();
        assert!((wait.as_secs_f64() - 30.0).abs() < 1e-6, "debt stops at one budget: {wait:?}");
        // A burst of 0 turns the budget off, and never touches the database.
        let off = budget(&db, 0, 0.0);
        let before = db.count_auth_budgets().await.unwrap();
        for _ in 0..1000 {
            off.reserve_auth_attempt("ip:10.0.0.9", t0).await.unwrap().failed().await;
        }
        assert_eq!(db.count_auth_budgets().await.unwrap(), before);
    }

    #[tokio::test]
    async fn whole_budgets_are_pruned() {
        let (db, _dir) = database().await;
        let l = budget(&db, 2, 60.0);
        let t0 = Utc::now();
        for i in 0..100 {
            l.charge(&format!("ip:10.0.1.{i}"), t0).await;
        }
        // The first charge pruned (nothing); the next prune is a minute away.
        assert_eq!(db.count_auth_budgets().await.unwrap(), 100);
        *l.0.as_ref().unwrap().next_prune.lock().unwrap() = Instant::now();
        // Five seconds on, one failure a second has made every budget whole again.
        l.charge("ip:10.0.2.1", t0 + chrono::Duration::seconds(5)).await;
        assert_eq!(db.count_auth_budgets().await.unwrap(), 1, "only the budget just charged is kept");
        assert!(l.reserve_auth_attempt("ip:10.0.1.7", t0 + chrono::Duration::seconds(5)).await.is_ok());
    }
}
