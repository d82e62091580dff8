//! Persistence: customers, transactions and the analyses written about them, in
//! SQLite (default, a local file) or PostgreSQL (production), through sqlx.
//!
//! [`Database::open`] picks the backend from the URL's scheme and applies the
//! schema migrations of that dialect (`migrations/sqlite/`, `migrations/postgres/`,
//! embedded at compile time). Callers never see which backend they have: every
//! operation runs the same SQL text on either pool (`$1`-style parameters, which
//! both accept), and the few types whose storage differs (amounts, instants,
//! UUIDs) have column codecs in `codec.rs`.
//!
//! Layout: `settings.rs` ([`DatabaseSettings`]), `error.rs` ([`DbError`]),
//! `codec.rs` (column representations, including why amounts are exact decimal
//! strings and never binary floats), `rows.rs` (row types ↔ domain), `seed.rs`
//! (demo data, `seed/demo.json`).
//!
//! Invariants:
//! - Every write validates its input first (the domain's own validation), and
//!   reports the offending field in [`DbError::Invalid`].
//! - Multi-row writes (`seed`, `save_analysis`, an audit entry with the record it
//!   is about) are one database transaction.
//! - Writes are cancel-safe: each runs in a task of its own ([`Database::write`]),
//!   so a caller that goes away (an HTTP client hanging up drops its request's
//!   future) never abandons a transaction half-way or hands a connection back to
//!   the pool inside one. The write commits or rolls back whatever the caller does.
//! - Every operation is bounded for its caller by `database.operation_timeout_secs`
//!   ([`DbError::Timeout`]): reads are cancelled at the deadline (they hold no
//!   transaction), writes stop being waited for.
//! - Nothing here panics on stored or caller data.

mod codec;
mod error;
mod rows;
mod seed;
mod settings;

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::types::Json;
use uuid::Uuid;

use crate::domain::{Customer, RuleInput, Transaction};
use crate::guidance::Analysis;
use crate::rules::RiskLevel;
use codec::{DbTime, DbUuid};
use error::is_foreign_key_violation;
use rows::{
    AnalysisDbRow, AnalysisParams, CustomerParams, CustomerRow, ListDbRow, TransactionDbRow,
    TransactionParams, customer_columns, transaction_columns,
};
use settings::Backend;

pub use error::DbError;

/// The current instant at the precision both backends store (microseconds), so that a
/// value hashed or compared before writing is the one read back.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    DbTime::now().get()
}
pub use seed::{DEMO_SEED_JSON, SeedData, SeedExpectation, SeedReport};
pub use settings::{DEFAULT_DATABASE_URL, DatabaseSettings};

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// Largest page [`Database::list_transactions`] returns.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// A connection pool to the database. Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct Database {
    pool: Pool,
    /// How long a caller waits for one operation (`database.operation_timeout_secs`).
    timeout: Duration,
    /// How long `/ready` waits for its write probe.
    probe_timeout: Duration,
    /// Serializes this process's audit appends, so they queue here rather than in
    /// the database's lock (SQLite's busy handler polls with growing sleeps).
    audit_lock: Arc<tokio::sync::Mutex<()>>,
    /// Held by the write probe in flight: one probe at a time, however often
    /// `/ready` is asked, so a jammed database does not collect stuck probes.
    probe_gate: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("backend", &self.backend_name())
            .finish_non_exhaustive()
    }
}

/// Runs `$body` with `$pool` bound to whichever pool `$db` holds. The body is
/// compiled once per backend, so it may use any type both backends encode.
/// Only inside [`Database::write`]'s task, where nothing cancels it half-way; a
/// caller's queries go through [`on_pool!`].
macro_rules! on_pool_unbounded {
    ($db:expr, |$pool:ident| $body:expr) => {
        match &$db.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

/// [`on_pool_unbounded!`] cut off at the operation timeout (a timed-out query
/// fails as an I/O time-out, which [`DbError::from_sqlx`] makes a
/// [`DbError::Timeout`]). For statements outside a transaction only: a
/// transaction goes through [`Database::write`].
macro_rules! on_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        $crate::db::bounded($db.timeout, async { on_pool_unbounded!($db, |$pool| $body) }).await
    };
}

/// `work`'s result, or an I/O time-out error after `limit` (dropping `work`).
pub(crate) async fn bounded<T>(
    limit: Duration,
    work: impl Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result,
        Err(_) => Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer within {} s (database.operation_timeout_secs)", limit.as_secs()),
        ))),
    }
}

/// Binds a [`CustomerParams`] to `UPSERT_CUSTOMER`'s parameters.
macro_rules! bind_customer {
    ($query:expr, $p:expr) => {
        $query
            .bind(&$p.customer_id)
            .bind(&$p.name)
            .bind(&$p.customer_type)
            .bind(&$p.risk_rating)
            .bind(&$p.kyc_status)
            .bind($p.is_pep)
            .bind(&$p.country)
            .bind($p.created_at)
            .bind(&$p.pep_type)
            .bind($p.private_banking)
            .bind($p.ctr_exempt)
            .bind($p.last_sar_filed_on)
    };
}

/// Binds a [`TransactionParams`] to `UPSERT_TRANSACTION`'s parameters.
macro_rules! bind_transaction {
    ($query:expr, $p:expr) => {
        $query
            .bind(&$p.transaction_id)
            .bind(&$p.customer_id)
            .bind(&$p.amount)
            .bind(&$p.currency)
            .bind(&$p.transaction_type)
            .bind(&$p.direction)
            .bind(&$p.origin_country)
            .bind(&$p.destination_country)
            .bind(&$p.counterparty_name)
            .bind(&$p.description)
            .bind($p.timestamp)
            .bind($p.utc_offset_seconds)
            .bind($p.risk_score)
            .bind(&$p.counterparty_customer_id)
    };
}

/// Inserts an [`AnalysisParams`] with `INSERT_ANALYSIS` on `$executor` (a pool or
/// an open transaction), alone or beside the audit entry about it.
macro_rules! insert_analysis {
    ($executor:expr, $p:expr) => {
        sqlx::query(INSERT_ANALYSIS)
            .bind($p.analysis_id)
            .bind(&$p.transaction_id)
            .bind(Json(&$p.request))
            .bind(Json(&$p.analysis))
            .bind(&$p.risk_level)
            .bind($p.requires_review)
            .bind(&$p.generator_kind)
            .bind(&$p.model)
            .bind(&$p.prompt_version)
            .bind($p.processing_time_ms)
            .bind($p.analyzed_at)
            .bind(&$p.due_on)
            .bind(&$p.action_codes)
            .execute($executor)
            .await
    };
}

// After the macros they use.
mod auth_budget;
mod batch;
mod checkpoints;
#[macro_use]
mod feedback;
#[macro_use]
mod jobs;
mod monitoring;
mod sanctions;
#[macro_use]
mod review;
mod security;
mod sessions;
pub use auth_budget::AuthFailureCharge;
pub use checkpoints::CheckpointRecord;
pub use feedback::FeedbackRecord;
pub use monitoring::{AnalysisCount, DecidedRow, LatencyRow, OpenReviewItem, OpenReviewItems, TimeBucket, MAX_BUCKETS};
pub use review::{AssigneeFilter, AssignmentRecord, MAX_QUEUE_PAGE, QueueFilter, QueueRow};
pub use sanctions::StoredVersion;
pub use sessions::WebSessionRow;
pub use jobs::{JobKind, JobRecord, JobStatus};
pub use security::{ApiKeyRecord, AuditAnchor, AuditRow, AuditedWrite, DecisionRecord};

/// `$1` is a lowercased `LIKE` pattern, or NULL for "everything".
macro_rules! search_clause {
    () => {
        r"($1 IS NULL
            OR LOWER(t.transaction_id) LIKE $1 ESCAPE '\'
            OR LOWER(t.customer_id) LIKE $1 ESCAPE '\'
            OR LOWER(c.name) LIKE $1 ESCAPE '\'
            OR LOWER(COALESCE(t.counterparty_name, '')) LIKE $1 ESCAPE '\')"
    };
}

const UPSERT_CUSTOMER: &str = "INSERT INTO customers \
    (customer_id, name, customer_type, risk_rating, kyc_status, is_pep, country, created_at, \
     pep_type, private_banking, ctr_exempt, last_sar_filed_on) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
    ON CONFLICT (customer_id) DO UPDATE SET name = excluded.name, customer_type = excluded.customer_type, \
    risk_rating = excluded.risk_rating, kyc_status = excluded.kyc_status, is_pep = excluded.is_pep, \
    country = excluded.country, pep_type = excluded.pep_type, private_banking = excluded.private_banking, \
    ctr_exempt = excluded.ctr_exempt, last_sar_filed_on = excluded.last_sar_filed_on";

const UPSERT_TRANSACTION: &str = "INSERT INTO transactions \
    (transaction_id, customer_id, amount, currency, transaction_type, direction, origin_country, \
     destination_country, counterparty_name, description, timestamp, utc_offset_seconds, risk_score, \
     counterparty_customer_id) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
    ON CONFLICT (transaction_id) DO UPDATE SET customer_id = excluded.customer_id, amount = excluded.amount, \
    currency = excluded.currency, transaction_type = excluded.transaction_type, direction = excluded.direction, \
    origin_country = excluded.origin_country, destination_country = excluded.destination_country, \
    counterparty_name = excluded.counterparty_name, description = excluded.description, \
    timestamp = excluded.timestamp, utc_offset_seconds = excluded.utc_offset_seconds, \
    risk_score = excluded.risk_score, counterparty_customer_id = excluded.counterparty_customer_id";

const GET_CUSTOMER: &str = concat!(
    "SELECT ",
    customer_columns!(),
    " FROM customers c WHERE c.customer_id = $1"
);

const GET_TRANSACTION: &str = concat!(
    "SELECT ",
    transaction_columns!(),
    " FROM transactions t WHERE t.transaction_id = $1"
);

/// The customer's other transactions in `[$3, $4)`, oldest first.
const CUSTOMER_HISTORY: &str = concat!(
    "SELECT ",
    transaction_columns!(),
    " FROM transactions t WHERE t.customer_id = $1 AND t.transaction_id <> $2 \
      AND t.timestamp >= $3 AND t.timestamp < $4 ORDER BY t.timestamp, t.transaction_id"
);

/// One page (newest first), then the latest analysis of each row on it.
const LIST_TRANSACTIONS: &str = concat!(
    "WITH page AS (SELECT ",
    transaction_columns!(),
    ", c.name AS customer_name FROM transactions t JOIN customers c ON c.customer_id = t.customer_id WHERE ",
    search_clause!(),
    " ORDER BY t.timestamp DESC, t.transaction_id LIMIT $2 OFFSET $3) \
     SELECT page.*, a.analysis_id AS latest_analysis_id, a.risk_level AS latest_risk_level, \
       a.requires_review AS latest_requires_review, a.analyzed_at AS latest_analyzed_at \
     FROM page LEFT JOIN analyses a ON a.analysis_id = ( \
       SELECT a2.analysis_id FROM analyses a2 WHERE a2.transaction_id = page.transaction_id \
       ORDER BY a2.analyzed_at DESC, a2.analysis_id DESC LIMIT 1) \
     ORDER BY page.timestamp DESC, page.transaction_id"
);

const COUNT_TRANSACTIONS: &str = concat!(
    "SELECT COUNT(*) FROM transactions t JOIN customers c ON c.customer_id = t.customer_id WHERE ",
    search_clause!()
);

const INSERT_ANALYSIS: &str = "INSERT INTO analyses \
    (analysis_id, transaction_id, request, analysis, risk_level, requires_review, generator_kind, model, \
     prompt_version, processing_time_ms, analyzed_at, due_on, action_codes) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

const GET_ANALYSIS: &str = "SELECT analysis_id, analysis FROM analyses WHERE analysis_id = $1";

const GET_ANALYSIS_REQUEST: &str = "SELECT request FROM analyses WHERE analysis_id = $1";

const ANALYSES_FOR_TRANSACTION: &str = "SELECT analysis_id, analysis FROM analyses WHERE transaction_id = $1 \
    ORDER BY analyzed_at DESC, analysis_id DESC";

/// Which transactions [`Database::list_transactions`] returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TransactionFilter {
    /// Case-insensitive substring of the transaction id, customer id, customer
    /// name or counterparty name (ASCII case folding on SQLite). Blank: all.
    pub query: Option<String>,
    /// Page size, 1..=[`MAX_PAGE_SIZE`].
    pub limit: u32,
    /// Rows skipped before the page.
    pub offset: u32,
}

impl Default for TransactionFilter {
    fn default() -> Self {
        Self {
            query: None,
            limit: 50,
            offset: 0,
        }
    }
}

impl TransactionFilter {
    /// The lowercased `LIKE` pattern (`%…%`, wildcards in the query escaped), if any.
    fn like_pattern(&self) -> Option<String> {
        let query = self
            .query
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())?;
        let mut pattern = String::with_capacity(query.len() + 2);
        pattern.push('%');
        for ch in query.to_lowercase().chars() {
            if matches!(ch, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(ch);
        }
        pattern.push('%');
        Some(pattern)
    }

    fn validate(&self) -> Result<(), DbError> {
        if !(1..=MAX_PAGE_SIZE).contains(&self.limit) {
            return Err(DbError::invalid(
                "limit",
                format!("must be within 1..={MAX_PAGE_SIZE} (got {})", self.limit),
            ));
        }
        Ok(())
    }
}

/// One row of [`Database::list_transactions`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransactionRow {
    pub transaction: Transaction,
    pub customer_name: String,
    /// The most recent analysis of this transaction, if it was analysed.
    pub latest_analysis: Option<AnalysisSummary>,
}

/// The verdict of a stored analysis, without its text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisSummary {
    pub analysis_id: Uuid,
    pub risk_level: RiskLevel,
    pub requires_review: bool,
    pub analyzed_at: DateTime<Utc>,
}

impl Database {
    /// Connects to `settings.url` and applies pending migrations. For SQLite
    /// files, the parent folder is created; `mode=rwc` in the URL creates the file.
    pub async fn open(settings: &DatabaseSettings) -> Result<Self, DbError> {
        let backend = settings
            .backend()
            .map_err(|reason| DbError::invalid("database.url", reason))?;
        let redacted = settings.redacted_url();
        let pool = match backend {
            Backend::Sqlite => Pool::Sqlite(open_sqlite(&settings.url, &redacted).await?),
            Backend::Postgres => Pool::Postgres(open_postgres(&settings.url, &redacted).await?),
        };
        let db = Self {
            pool,
            timeout: settings.operation_timeout(),
            probe_timeout: settings.write_probe_timeout(),
            audit_lock: Arc::default(),
            probe_gate: Arc::default(),
        };
        db.migrate().await?;
        tracing::info!(backend = db.backend_name(), url = %redacted, "database ready");
        Ok(db)
    }

    /// Applies pending migrations (idempotent; [`Database::open`] already does).
    pub async fn migrate(&self) -> Result<(), DbError> {
        match &self.pool {
            Pool::Sqlite(pool) => SQLITE_MIGRATOR.run(pool).await,
            Pool::Postgres(pool) => POSTGRES_MIGRATOR.run(pool).await,
        }
        .map_err(|e| DbError::backend("applying migrations", e))
    }

    /// `sqlite` or `postgres`, for logs and health output.
    pub fn backend_name(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// Round-trips a trivial query.
    pub async fn ping(&self) -> Result<(), DbError> {
        on_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(|e| DbError::from_sqlx("pinging the database", e))
    }

    /// The readiness probe: rewrites the one row of `write_probe`, which needs the
    /// same write lock as every other write, within `database.write_probe_timeout_ms`.
    /// A database that answers reads but cannot take a write (a connection stuck
    /// inside a transaction, a full disk, a lost lock) fails here. One probe runs
    /// at a time: a probe queued behind a stuck one fails when its own time is up.
    pub async fn probe_write(&self) -> Result<(), DbError> {
        let limit = self.probe_timeout;
        let started = std::time::Instant::now();
        let Ok(gate) = tokio::time::timeout(limit, self.probe_gate.clone().lock_owned()).await else {
            return Err(DbError::Timeout {
                context: "probing a write (an earlier probe is still waiting; database.write_probe_timeout_ms)".into(),
            });
        };
        let db = self.clone();
        let task = tokio::spawn(async move {
            let _gate = gate;
            let now = DbTime::now();
            on_pool_unbounded!(db, |pool| sqlx::query(
                "INSERT INTO write_probe (id, probed_at, probes) VALUES (1, $1, 1) \
                 ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at, probes = write_probe.probes + 1"
            )
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ()))
            .map_err(|e| DbError::from_sqlx("probing a write", e))
        });
        match tokio::time::timeout(limit.saturating_sub(started.elapsed()), task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(DbError::backend("probing a write", join)),
            Err(_) => Err(DbError::Timeout { context: "probing a write (database.write_probe_timeout_ms)".into() }),
        }
    }

    /// Runs the write `work` makes, in a task of its own, and waits for it at most
    /// `database.operation_timeout_secs`. The task is never cancelled: if the caller
    /// goes away or stops waiting, the write still commits or rolls back as a whole
    /// and its connection returns to the pool clean (a transaction dropped half-way,
    /// e.g. inside SQLite's `BEGIN IMMEDIATE`, could return its connection still
    /// holding the write lock). After a [`DbError::Timeout`] the write's outcome is
    /// unknown to the caller.
    pub(crate) async fn write<T, Fut>(
        &self,
        context: impl Into<String>,
        work: impl FnOnce(Database) -> Fut,
    ) -> Result<T, DbError>
    where
        Fut: Future<Output = Result<T, DbError>> + Send + 'static,
        T: Send + 'static,
    {
        let task = tokio::spawn(work(self.clone()));
        match tokio::time::timeout(self.timeout, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(DbError::backend(context, join)),
            Err(_) => Err(DbError::Timeout { context: format!("{} (database.operation_timeout_secs)", context.into()) }),
        }
    }

    /// Closes every connection; later calls fail with [`DbError::Backend`].
    pub async fn close(&self) {
        on_pool_unbounded!(self, |pool| pool.close().await)
    }

    /// Inserts or replaces a customer (by `customer_id`); the first insertion time is kept.
    pub async fn upsert_customer(&self, customer: &Customer) -> Result<(), DbError> {
        let p = CustomerParams::new("customer", customer)?;
        let context = format!("storing customer {:?}", p.customer_id);
        self.write(context.clone(), |db| async move {
            on_pool_unbounded!(db, |pool| bind_customer!(sqlx::query(UPSERT_CUSTOMER), p)
                .execute(pool)
                .await
                .map(|_| ()))
            .map_err(|e| DbError::from_sqlx(context, e))
        })
        .await
    }

    pub async fn get_customer(&self, customer_id: &str) -> Result<Option<Customer>, DbError> {
        let row = on_pool!(self, |pool| sqlx::query_as::<_, CustomerRow>(GET_CUSTOMER)
            .bind(customer_id)
            .fetch_optional(pool)
            .await)
        .map_err(|e| DbError::from_sqlx(format!("reading customer {customer_id:?}"), e))?;
        row.map(CustomerRow::into_domain).transpose()
    }

    /// Inserts or replaces a transaction (by `transaction_id`). Its customer must
    /// be stored already ([`DbError::NotFound`] otherwise).
    pub async fn upsert_transaction(&self, transaction: &Transaction) -> Result<(), DbError> {
        let p = TransactionParams::new("transaction", transaction)?;
        let context = format!("storing transaction {:?}", p.transaction_id);
        self.write(context, |db| async move {
            on_pool_unbounded!(db, |pool| bind_transaction!(
                sqlx::query(UPSERT_TRANSACTION),
                p
            )
            .execute(pool)
            .await
            .map(|_| ()))
            .map_err(|e| transaction_write_error(&p, e))
        })
        .await
    }

    pub async fn get_transaction(
        &self,
        transaction_id: &str,
    ) -> Result<Option<Transaction>, DbError> {
        let row = on_pool!(self, |pool| sqlx::query_as::<_, TransactionDbRow>(
            GET_TRANSACTION
        )
        .bind(transaction_id)
        .fetch_optional(pool)
        .await)
        .map_err(|e| DbError::from_sqlx(format!("reading transaction {transaction_id:?}"), e))?;
        row.map(TransactionDbRow::into_domain).transpose()
    }

    /// The rules-engine input for a stored transaction, business days in UTC. See [`Database::transaction_context_in`].
    pub async fn transaction_context(
        &self,
        transaction_id: &str,
        lookback_days: i64,
    ) -> Result<Option<RuleInput>, DbError> {
        self.transaction_context_in(transaction_id, lookback_days, chrono_tz::UTC)
            .await
    }

    /// The rules-engine input for a stored transaction: the transaction, its
    /// customer, and as `recent_transactions` the customer's *other* transactions
    /// whose business date (calendar date in `time_zone`) lies from `lookback_days`
    /// before the transaction's business date through that date itself, oldest
    /// first. So the window covers the look-back days before it and the whole of
    /// its own business day, including transactions later that day; this is the
    /// window the rules use (`business date ≥ as_of − N and ≤ as_of`).
    /// `None` if the transaction is not stored.
    pub async fn transaction_context_in(
        &self,
        transaction_id: &str,
        lookback_days: i64,
        time_zone: chrono_tz::Tz,
    ) -> Result<Option<RuleInput>, DbError> {
        let days = u64::try_from(lookback_days).map_err(|_| {
            DbError::invalid(
                "lookback_days",
                format!("must not be negative (got {lookback_days})"),
            )
        })?;
        let Some(transaction) = self.get_transaction(transaction_id).await? else {
            return Ok(None);
        };
        let customer = self
            .get_customer(&transaction.customer_id)
            .await?
            .ok_or_else(|| DbError::NotFound {
                entity: "customer",
                id: transaction.customer_id.clone(),
            })?;

        let business_date = |t: &Transaction| t.timestamp.with_timezone(&time_zone).date_naive();
        let as_of = business_date(&transaction);
        let first_day = as_of
            .checked_sub_days(Days::new(days))
            .unwrap_or(NaiveDate::MIN);
        // A UTC range surely containing those local dates (offsets stay within ±1 day);
        // the exact cut is made below on the business date itself.
        let utc_midnight = |d: Option<NaiveDate>, fallback: NaiveDate| {
            d.unwrap_or(fallback).and_time(NaiveTime::MIN).and_utc()
        };
        let from = DbTime::clamped(utc_midnight(
            first_day.checked_sub_days(Days::new(2)),
            NaiveDate::MIN,
        ));
        let until = DbTime::clamped(utc_midnight(
            as_of.checked_add_days(Days::new(3)),
            NaiveDate::MAX,
        ));

        let rows = on_pool!(self, |pool| sqlx::query_as::<_, TransactionDbRow>(
            CUSTOMER_HISTORY
        )
        .bind(&transaction.customer_id)
        .bind(&transaction.transaction_id)
        .bind(from)
        .bind(until)
        .fetch_all(pool)
        .await)
        .map_err(|e| {
            DbError::from_sqlx(
                format!(
                    "reading the history of customer {:?}",
                    transaction.customer_id
                ),
                e,
            )
        })?;
        let mut recent_transactions = Vec::with_capacity(rows.len());
        for row in rows {
            let t = row.into_domain()?;
            let date = business_date(&t);
            if first_day <= date && date <= as_of {
                recent_transactions.push(t);
            }
        }
        Ok(Some(RuleInput {
            transaction,
            customer,
            recent_transactions,
            sanctions_lookback: false,
        }))
    }

    /// One page of transactions, newest first (ties by id), with the customer's
    /// name and the latest analysis of each.
    pub async fn list_transactions(
        &self,
        filter: &TransactionFilter,
    ) -> Result<Vec<TransactionRow>, DbError> {
        filter.validate()?;
        let pattern = filter.like_pattern();
        let rows = on_pool!(self, |pool| sqlx::query_as::<_, ListDbRow>(
            LIST_TRANSACTIONS
        )
        .bind(&pattern)
        .bind(i64::from(filter.limit))
        .bind(i64::from(filter.offset))
        .fetch_all(pool)
        .await)
        .map_err(|e| DbError::from_sqlx("listing transactions", e))?;
        rows.into_iter().map(ListDbRow::into_domain).collect()
    }

    /// How many transactions match `filter.query` (ignoring `limit`/`offset`).
    pub async fn count_transactions(&self, filter: &TransactionFilter) -> Result<u64, DbError> {
        let pattern = filter.like_pattern();
        let n: i64 = on_pool!(self, |pool| sqlx::query_scalar(COUNT_TRANSACTIONS)
            .bind(&pattern)
            .fetch_one(pool)
            .await)
        .map_err(|e| DbError::from_sqlx("counting transactions", e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Stores an analysis together with the request that produced it, in one
    /// database transaction. An `analysis_id` already stored is a [`DbError::Conflict`].
    pub async fn save_analysis(
        &self,
        analysis: &Analysis,
        request: &serde_json::Value,
    ) -> Result<(), DbError> {
        let p = AnalysisParams::new(analysis, request)?;
        let context = format!("saving analysis {}", analysis.analysis_id);
        self.write(context.clone(), |db| async move {
            on_pool_unbounded!(db, |pool| insert_analysis!(pool, p).map(|_| ()))
                .map_err(|e| DbError::from_sqlx(context, e))
        })
        .await
    }

    pub async fn get_analysis(&self, analysis_id: Uuid) -> Result<Option<Analysis>, DbError> {
        let row = on_pool!(self, |pool| sqlx::query_as::<_, AnalysisDbRow>(
            GET_ANALYSIS
        )
        .bind(DbUuid(analysis_id))
        .fetch_optional(pool)
        .await)
        .map_err(|e| DbError::from_sqlx(format!("reading analysis {analysis_id}"), e))?;
        row.map(AnalysisDbRow::into_domain).transpose()
    }

    /// The request body stored with an analysis.
    pub async fn analysis_request(
        &self,
        analysis_id: Uuid,
    ) -> Result<Option<serde_json::Value>, DbError> {
        let request: Option<Json<serde_json::Value>> =
            on_pool!(self, |pool| sqlx::query_scalar(GET_ANALYSIS_REQUEST)
                .bind(DbUuid(analysis_id))
                .fetch_optional(pool)
                .await)
            .map_err(|e| {
                DbError::from_sqlx(format!("reading the request of analysis {analysis_id}"), e)
            })?;
        Ok(request.map(|Json(v)| v))
    }

    /// Every stored analysis of a transaction, newest first.
    pub async fn analyses_for_transaction(
        &self,
        transaction_id: &str,
    ) -> Result<Vec<Analysis>, DbError> {
        let rows = on_pool!(self, |pool| sqlx::query_as::<_, AnalysisDbRow>(
            ANALYSES_FOR_TRANSACTION
        )
        .bind(transaction_id)
        .fetch_all(pool)
        .await)
        .map_err(|e| {
            DbError::from_sqlx(
                format!("reading the analyses of transaction {transaction_id:?}"),
                e,
            )
        })?;
        rows.into_iter().map(AnalysisDbRow::into_domain).collect()
    }

    /// Upserts every customer and transaction of `data` in one database
    /// transaction (all or nothing); loading the same data twice changes nothing.
    pub async fn seed(&self, data: &SeedData) -> Result<SeedReport, DbError> {
        data.validate()?;
        let customers = data
            .customers
            .iter()
            .enumerate()
            .map(|(i, c)| CustomerParams::new(&format!("customers[{i}]"), c))
            .collect::<Result<Vec<_>, _>>()?;
        let transactions = data
            .transactions
            .iter()
            .enumerate()
            .map(|(i, t)| TransactionParams::new(&format!("transactions[{i}]"), t))
            .collect::<Result<Vec<_>, _>>()?;
        let context = "loading seed data";
        let report = SeedReport { customers: customers.len(), transactions: transactions.len() };
        self.write(context, |db| async move {
            on_pool_unbounded!(db, |pool| async {
            let mut tx = pool.begin().await?;
            for p in &customers {
                bind_customer!(sqlx::query(UPSERT_CUSTOMER), p)
                    .execute(&mut *tx)
                    .await?;
            }
            for p in &transactions {
                bind_transaction!(sqlx::query(UPSERT_TRANSACTION), p)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        }
        .await)
            .map_err(|e| DbError::from_sqlx(context, e))
        })
        .await?;
        Ok(report)
    }

    /// Loads a seed file in the layout of `seed/demo.json`.
    pub async fn seed_from(&self, path: &std::path::Path) -> Result<SeedReport, DbError> {
        let data = SeedData::read(path)?;
        self.seed(&data).await
    }

    /// Loads the demo data embedded from `seed/demo.json`.
    pub async fn seed_demo(&self) -> Result<SeedReport, DbError> {
        self.seed(&SeedData::demo()?).await
    }
}

fn transaction_write_error(p: &TransactionParams, e: sqlx::Error) -> DbError {
    if is_foreign_key_violation(&e) {
        DbError::NotFound {
            entity: "customer",
            id: p.customer_id.clone(),
        }
    } else {
        DbError::from_sqlx(format!("storing transaction {:?}", p.transaction_id), e)
    }
}

const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

async fn open_sqlite(url: &str, redacted: &str) -> Result<SqlitePool, DbError> {
    let mut options = SqliteConnectOptions::from_str(url)
        .map_err(|e| DbError::invalid("database.url", e.to_string()))?
        .foreign_keys(true)
        // A writer waits this long for SQLite's write lock. Well above a write's usual
        // few milliseconds: when the disk stalls (a checkpoint's fsync behind a large
        // flush), waiting it out beats failing every request queued behind it.
        .busy_timeout(SQLITE_BUSY_TIMEOUT);
    let in_memory = url.contains(":memory:") || url_param(url, "mode") == Some("memory");
    let read_only = url_param(url, "mode") == Some("ro");
    let pool_options = if in_memory {
        // Every connection to an in-memory database must stay open, or the data goes.
        SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        if !read_only {
            if let Some(parent) = options
                .get_filename()
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
            {
                std::fs::create_dir_all(parent).map_err(|e| {
                    DbError::backend(format!("creating the folder {}", parent.display()), e)
                })?;
            }
            // WAL: readers do not block the writer; NORMAL is durable in WAL mode.
            options = options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal);
        }
        SqlitePoolOptions::new().max_connections(4)
    };
    pool_options
        // A connection can be busy for up to the busy timeout; waiting for one less
        // long would fail requests the busy timeout was meant to save.
        .acquire_timeout(SQLITE_BUSY_TIMEOUT + Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(|e| DbError::backend(format!("opening {redacted}"), e))
}

async fn open_postgres(url: &str, redacted: &str) -> Result<PgPool, DbError> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| DbError::invalid("database.url", e.to_string()))?
        .application_name("reagent");
    PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(|e| DbError::backend(format!("connecting to {redacted}"), e))
}

/// The value of query parameter `key` in `url`, if present.
fn url_param<'a>(url: &'a str, key: &str) -> Option<&'a str> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        pair.split_once('=')
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        let f = |q: &str| {
            TransactionFilter {
                query: Some(q.into()),
                ..Default::default()
            }
            .like_pattern()
        };
        assert_eq!(f("  "), None);
        assert_eq!(TransactionFilter::default().like_pattern(), None);
        assert_eq!(f(" Acme "), Some("%acme%".into()));
        assert_eq!(f("50%_a\\b"), Some(r"%50\%\_a\\b%".into()));
    }

    #[test]
    fn page_size_is_bounded() {
        assert!(TransactionFilter::default().validate().is_ok());
        for limit in [0, MAX_PAGE_SIZE + 1] {
            let err = TransactionFilter {
                limit,
                ..Default::default()
            }
            .validate()
            .unwrap_err();
            assert!(
                matches!(&err, DbError::Invalid { field, .. } if field == "limit"),
                "{err}"
            );
        }
    }

    #[test]
    fn url_params_are_found() {
        assert_eq!(
            url_param("sqlite://data/x.db?mode=rwc", "mode"),
            Some("rwc")
        );
        assert_eq!(
            url_param("sqlite://x.db?cache=shared&mode=ro", "mode"),
            Some("ro")
        );
        assert_eq!(url_param("sqlite://x.db", "mode"), None);
    }
}
