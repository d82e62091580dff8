//! The reads behind the quality figures (`crate::monitoring`): analyses and
//! decisions aggregated per time bucket, and the review items open during a range.
//! The caller chooses the buckets (one per local day of the institution's time
//! zone, or one for a whole range) as half-open UTC intervals, so the SQL needs no
//! time-zone arithmetic and stays the same text on SQLite and PostgreSQL: the
//! buckets are a `VALUES` list joined on the time column (indexed by migration
//! `20261206400001_monitoring_indexes.sql`).
//!
//! Work is bounded by the caller: at most [`MAX_BUCKETS`] buckets per query, and the
//! open review items are read up to a limit the caller gives.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::codec::DbTime;
use super::{Database, DbError, Pool};
use crate::guidance::Analysis;

/// Most buckets one query takes (three bind parameters each).
pub const MAX_BUCKETS: usize = 400;

/// A half-open interval `[start, end)` of instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBucket {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Analyses of one bucket with one combination of verdict and generator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysisCount {
    /// Index into the buckets given.
    pub bucket: usize,
    /// Wire form: `LOW`, `MEDIUM`, `HIGH`.
    pub risk_level: String,
    pub requires_review: bool,
    /// Wire form: `llm`, `rules`.
    pub generator_kind: String,
    pub n: u64,
}

/// Nearest-rank percentiles of `processing_time_ms` over one bucket's analyses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencyRow {
    pub bucket: usize,
    pub n: u64,
    pub p50_ms: u64,
    pub p95_ms: u64,
    pub p99_ms: u64,
}

/// One recorded decision (first or superseding) with the verdict of its analysis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecidedRow {
    pub bucket: usize,
    /// Wire form: `approve`, `escalate`, `file_sar`, `reject`.
    pub decision: String,
    /// The analysis's `requires_review`.
    pub requires_review: bool,
    /// The analysis's required action codes (wire form, e.g. `SAR_REVIEW`).
    pub action_codes: Vec<String>,
}

/// An analysis requiring review that was still undecided at some instant of a range.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenReviewItem {
    pub analysis: Analysis,
    /// Its first decision, if any (any decision takes it out of the queue).
    pub first_decided_at: Option<DateTime<Utc>>,
}

/// The open review items read, and whether there were more than the limit.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenReviewItems {
    pub items: Vec<OpenReviewItem>,
    pub truncated: bool,
}

/// `WITH buckets(bucket, b_start, b_end) AS (VALUES ($1, $2, $3), …)`, parameters from 1.
fn buckets_cte(n: usize) -> String {
    let mut sql = String::from("WITH buckets (bucket, b_start, b_end) AS (VALUES ");
    for i in 0..n {
        if i > 0 {
            sql.push_str(", ");
        }
        let p = 3 * i;
        sql.push_str(&format!("(${}, ${}, ${})", p + 1, p + 2, p + 3));
    }
    sql.push_str(") ");
    sql
}

fn check_buckets(buckets: &[TimeBucket]) -> Result<Vec<(i64, DbTime, DbTime)>, DbError> {
    if buckets.is_empty() || buckets.len() > MAX_BUCKETS {
        return Err(DbError::invalid("buckets", format!("must be 1..={MAX_BUCKETS} (got {})", buckets.len())));
    }
    buckets
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if b.end < b.start {
                return Err(DbError::invalid("buckets", format!("bucket {i} ends before it starts")));
            }
            Ok((i as i64, DbTime::clamped(b.start), DbTime::clamped(b.end)))
        })
        .collect()
}

/// Binds the bucket triples, in order, to `$query`.
macro_rules! bind_buckets {
    ($query:expr, $binds:expr) => {{
        let mut q = $query;
        for (i, start, end) in $binds {
            q = q.bind(*i).bind(*start).bind(*end);
        }
        q
    }};
}

fn bucket_index(i: i64, n: usize) -> Result<usize, DbError> {
    usize::try_from(i)
        .ok()
        .filter(|i| *i < n)
        .ok_or_else(|| DbError::backend("reading monitoring figures", format!("bucket {i} out of range")))
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[derive(sqlx::FromRow)]
struct AnalysisCountDbRow {
    bucket: i64,
    risk_level: String,
    requires_review: bool,
    generator_kind: String,
    n: i64,
}

#[derive(sqlx::FromRow)]
struct LatencyDbRow {
    bucket: i64,
    n: i64,
    p50: Option<i64>,
    p95: Option<i64>,
    p99: Option<i64>,
}

/// Only what the override rate needs of a stored analysis.
#[derive(serde::Deserialize)]
struct Verdict {
    requires_review: bool,
    #[serde(default)]
    required_actions: Vec<VerdictAction>,
}

#[derive(serde::Deserialize)]
struct VerdictAction {
    code: String,
}

// The JSON columns decode straight into the types read (no `serde_json::Value` in
// between): with thousands of rows per range, that is most of the cost.
#[derive(sqlx::FromRow)]
struct DecidedDbRow {
    bucket: i64,
    decision: String,
    analysis: Json<Verdict>,
}

#[derive(sqlx::FromRow)]
struct OpenDbRow {
    analysis: Json<Analysis>,
    first_decided_at: Option<DbTime>,
}

impl Database {
    /// Analyses per bucket (by `analyzed_at`), grouped by risk level, review flag and generator.
    pub async fn analysis_counts(&self, buckets: &[TimeBucket]) -> Result<Vec<AnalysisCount>, DbError> {
        let binds = check_buckets(buckets)?;
        let sql = buckets_cte(binds.len())
            + "SELECT b.bucket AS bucket, a.risk_level AS risk_level, a.requires_review AS requires_review, \
               a.generator_kind AS generator_kind, COUNT(*) AS n \
               FROM buckets b JOIN analyses a ON a.analyzed_at >= b.b_start AND a.analyzed_at < b.b_end \
               GROUP BY b.bucket, a.risk_level, a.requires_review, a.generator_kind \
               ORDER BY b.bucket, a.risk_level, a.requires_review, a.generator_kind";
        let rows =
            on_pool!(self, |pool| bind_buckets!(sqlx::query_as::<_, AnalysisCountDbRow>(&sql), &binds).fetch_all(pool).await)
                .map_err(|e| DbError::from_sqlx("counting analyses per day", e))?;
        rows.into_iter()
            .map(|r| {
                Ok(AnalysisCount {
                    bucket: bucket_index(r.bucket, binds.len())?,
                    risk_level: r.risk_level,
                    requires_review: r.requires_review,
                    generator_kind: r.generator_kind,
                    n: count(r.n),
                })
            })
            .collect()
    }

    /// Nearest-rank p50/p95/p99 of `processing_time_ms` per bucket with analyses
    /// (the smallest value with at least p % of the bucket's values at or below it).
    pub async fn latency_percentiles(&self, buckets: &[TimeBucket]) -> Result<Vec<LatencyRow>, DbError> {
        let binds = check_buckets(buckets)?;
        // Rank k of percentile p among n values is ceil(p·n/100) = (p·n + 99) / 100 in integers.
        let sql = buckets_cte(binds.len())
            + ", ranked AS (SELECT b.bucket AS bucket, a.processing_time_ms AS ms, \
                 ROW_NUMBER() OVER (PARTITION BY b.bucket ORDER BY a.processing_time_ms) AS rn, \
                 COUNT(*) OVER (PARTITION BY b.bucket) AS n \
               FROM buckets b JOIN analyses a ON a.analyzed_at >= b.b_start AND a.analyzed_at < b.b_end) \
             SELECT bucket, n, \
               MAX(CASE WHEN rn = (50 * n + 99) / 100 THEN ms END) AS p50, \
               MAX(CASE WHEN rn = (95 * n + 99) / 100 THEN ms END) AS p95, \
               MAX(CASE WHEN rn = (99 * n + 99) / 100 THEN ms END) AS p99 \
             FROM ranked GROUP BY bucket, n ORDER BY bucket";
        let rows = on_pool!(self, |pool| bind_buckets!(sqlx::query_as::<_, LatencyDbRow>(&sql), &binds).fetch_all(pool).await)
            .map_err(|e| DbError::from_sqlx("reading analysis latency percentiles", e))?;
        rows.into_iter()
            .map(|r| {
                let ms = |v: Option<i64>| u64::try_from(v.unwrap_or(0)).unwrap_or(0);
                Ok(LatencyRow {
                    bucket: bucket_index(r.bucket, binds.len())?,
                    n: count(r.n),
                    p50_ms: ms(r.p50),
                    p95_ms: ms(r.p95),
                    p99_ms: ms(r.p99),
                })
            })
            .collect()
    }

    /// Every decision recorded in the buckets (by `decided_at`), first decisions and
    /// superseding ones alike, with the verdict of the analysis decided on. Decisions
    /// are made by people, so a range holds few enough to read one by one.
    pub async fn decisions_in(&self, buckets: &[TimeBucket]) -> Result<Vec<DecidedRow>, DbError> {
        let binds = check_buckets(buckets)?;
        let sql = buckets_cte(binds.len())
            + "SELECT b.bucket AS bucket, x.decision AS decision, a.analysis AS analysis \
               FROM buckets b JOIN decisions x ON x.decided_at >= b.b_start AND x.decided_at < b.b_end \
               JOIN analyses a ON a.analysis_id = x.analysis_id \
               ORDER BY b.bucket, x.decided_at, x.decision_id";
        let rows = on_pool!(self, |pool| bind_buckets!(sqlx::query_as::<_, DecidedDbRow>(&sql), &binds).fetch_all(pool).await)
            .map_err(|e| DbError::from_sqlx("reading decisions per day", e))?;
        rows.into_iter()
            .map(|r| {
                let Json(verdict) = r.analysis;
                Ok(DecidedRow {
                    bucket: bucket_index(r.bucket, binds.len())?,
                    decision: r.decision,
                    requires_review: verdict.requires_review,
                    action_codes: verdict.required_actions.into_iter().map(|a| a.code).collect(),
                })
            })
            .collect()
    }

    /// The analyses requiring review made before `until` whose first decision (if
    /// any) came at or after `from`: everything that was in the review queue at some
    /// instant of `[from, until)`. Oldest first, at most `limit` (then `truncated`).
    pub async fn open_review_items(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> Result<OpenReviewItems, DbError> {
        // "First decision at or after `from`" is "no decision before `from`"; both
        // subqueries look decisions up by analysis (the UNIQUE (analysis_id, sequence) index).
        let sql = "SELECT a.analysis AS analysis, \
               (SELECT MIN(x.decided_at) FROM decisions x WHERE x.analysis_id = a.analysis_id) AS first_decided_at \
             FROM analyses a \
             WHERE a.requires_review = $1 AND a.analyzed_at < $2 \
               AND NOT EXISTS (SELECT 1 FROM decisions x WHERE x.analysis_id = a.analysis_id AND x.decided_at < $3) \
             ORDER BY a.analyzed_at, a.analysis_id LIMIT $4";
        let rows = on_pool!(self, |pool| sqlx::query_as::<_, OpenDbRow>(sql)
            .bind(true)
            .bind(DbTime::clamped(until))
            .bind(DbTime::clamped(from))
            .bind(i64::from(limit) + 1)
            .fetch_all(pool)
            .await)
        .map_err(|e| DbError::from_sqlx("reading the review queue", e))?;
        let truncated = rows.len() > limit as usize;
        let items = rows
            .into_iter()
            .take(limit as usize)
            .map(|r| OpenReviewItem { analysis: r.analysis.0, first_decided_at: r.first_decided_at.map(DbTime::get) })
            .collect();
        Ok(OpenReviewItems { items, truncated })
    }
}
