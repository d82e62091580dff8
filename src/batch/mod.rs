//! Batch screening: a day's transactions from a file, each analysed on the same path
//! as `POST /api/v1/analyze` with a stored transaction id. The CLI (`reagent batch`,
//! `src/cli_batch.rs`) and the upload job (`POST /api/v1/batches`,
//! `src/service/batches.rs`) are front doors over [`run`] and [`load_customers`].
//!
//! The steps of [`run`], in order:
//! 1. parse (`rows.rs`): file → typed, validated rows; bad rows → [`Rejected`] with
//!    line and field, and the rest go on;
//! 2. store: the rows' customers and transactions (upserts, so a re-run stores the
//!    same rows again and changes nothing);
//! 3. skip the transactions that already have an analysis (a re-run analyses nothing twice);
//! 4. load the history once: the stored transactions of the batch's customers over the
//!    batch's dates plus the look-back, so every transaction is analysed with the same
//!    `recent_transactions` [`Database::transaction_context_in`] would give it (the
//!    whole batch and the stored history: CTR per customer-day, structuring across days);
//! 5. analyse in posting business-day order (`crate::rules::calendar`), store searches
//!    reused across transactions ([`SearchCache`]), and store each chunk of analyses with
//!    their audit entries in one database transaction: all of a chunk or none of it.
//!
//! A bad row never stores an analysis; a failure of the database or the store stops
//! the run, leaving the chunks already stored (the next run continues from there).

mod rows;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Days, NaiveDate, NaiveTime};
use chrono_tz::Tz;
use reagent_ingest::progress::Progress;
use serde::{Deserialize, Serialize};

use crate::analysis::{AnalyzeError, Analyzer, SearchCache};
use crate::audit::{Actor, AuditError, AuditLog};
use crate::db::{Database, DbError};
use crate::domain::{Customer, RuleInput, Transaction};
use crate::rules::calendar::business_day;
pub use rows::{FileError, Format, Parsed, Rejected, Row, parse_customers, parse_transactions};

/// Analyses stored per database transaction unless [`Options::chunk_size`] says otherwise.
pub const DEFAULT_CHUNK_SIZE: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The file cannot be read as a whole (its header).
    #[error("{0}")]
    File(#[from] FileError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("storing analyses: {0}")]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Analyze(#[from] AnalyzeError),
}

/// What a run needs: the analyzer, the database and the audit trail of the process.
pub struct Deps<'a> {
    pub analyzer: &'a Analyzer,
    pub db: &'a Database,
    pub audit: &'a AuditLog,
}

/// How to run a batch.
#[derive(Debug, Clone)]
pub struct Options {
    /// Days of a customer's history each analysis sees (`server.lookback_days`, as the
    /// analyses of stored transactions over HTTP).
    pub lookback_days: u32,
    /// Analyses per database transaction.
    pub chunk_size: usize,
    /// Who runs it, for the audit entries.
    pub actor: Actor,
    /// The file's name, kept with each analysis's request.
    pub source: String,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchReport {
    /// Rows read (accepted and rejected).
    pub rows: usize,
    /// Transactions stored (new or unchanged).
    pub stored: usize,
    pub analysed: usize,
    pub requires_review: usize,
    /// Transactions skipped because they were analysed before (a re-run).
    pub already_analysed: usize,
    /// Rows left out, by line.
    pub rejected: Vec<Rejected>,
    pub seconds: f64,
    /// Analysed transactions per second over the whole run (parse to last write).
    pub per_second: f64,
    /// Median time of one chunk (analyses and their write), in milliseconds.
    pub chunk_p50_ms: f64,
    /// Time of the analysis loop (analyses and their writes); the rest of `seconds` is
    /// parsing, storing the rows and loading the history.
    pub analysis_seconds: f64,
    /// Within the loop: time in rules and retrieval (queries, store searches), and in
    /// database writes of analyses with their audit entries (which overlap the next
    /// chunk's analyses).
    pub retrieval_seconds: f64,
    pub write_seconds: f64,
    /// Distinct store searches run (the rest came from the cache).
    pub searches: usize,
}

impl BatchReport {
    /// `N analysed, R require review, E rejected rows, X per second`.
    pub fn summary(&self) -> String {
        format!(
            "{} analysed, {} require review, {} rejected rows, {:.0} per second",
            self.analysed,
            self.requires_review,
            self.rejected.len(),
            self.per_second
        )
    }

    /// The rejected rows as CSV (`line,field,message`).
    pub fn rejected_csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        let _ = w.write_record(["line", "field", "message"]);
        for r in &self.rejected {
            let _ = w.write_record([r.line.to_string().as_str(), &r.field, &r.message]);
        }
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }
}

/// What [`load_customers`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomersReport {
    pub stored: usize,
    pub rejected: Vec<Rejected>,
}

/// Stores the customers of a customer file (`reagent batch customers`).
pub async fn load_customers(db: &Database, bytes: &[u8], format: Format) -> Result<CustomersReport, BatchError> {
    let parsed = parse_customers(bytes, format)?;
    let customers: Vec<Customer> = parsed.rows.into_iter().map(|(_, c)| c).collect();
    for chunk in customers.chunks(DEFAULT_CHUNK_SIZE) {
        db.store_batch(chunk, &[]).await?;
    }
    Ok(CustomersReport { stored: customers.len(), rejected: parsed.rejected })
}

/// Screens the transactions of a file: see the module doc for the steps.
pub async fn run(
    deps: &Deps<'_>,
    bytes: &[u8],
    format: Format,
    options: &Options,
    progress: &dyn Progress,
) -> Result<BatchReport, BatchError> {
    let started = Instant::now();
    let chunk_size = options.chunk_size.max(1);
    let parsed = parse_transactions(bytes, format)?;
    let mut report = BatchReport { rows: parsed.rows.len() + parsed.rejected.len(), ..Default::default() };
    let mut rejected = parsed.rejected;
    let rows = accept_rows(deps.db, parsed.rows, &mut rejected).await?;

    // 2. Store: the file's customers, then its transactions.
    let mut file_customers: HashMap<&str, &Customer> = HashMap::new();
    for c in rows.iter().filter_map(|r| r.customer.as_ref()) {
        file_customers.insert(&c.customer_id, c); // a later row's customer data wins
    }
    let file_customers: Vec<Customer> = file_customers.into_values().cloned().collect();
    for chunk in file_customers.chunks(chunk_size) {
        deps.db.store_batch(chunk, &[]).await?;
    }
    let transactions: Vec<Transaction> = rows.iter().map(|r| r.transaction.clone()).collect();
    for chunk in transactions.chunks(chunk_size) {
        deps.db.store_batch(&[], chunk).await?;
    }
    report.stored = transactions.len();

    // 3. Skip what was analysed before.
    let ids: Vec<String> = rows.iter().map(|r| r.transaction.transaction_id.clone()).collect();
    let analysed = deps.db.analysed_transactions(&ids).await?;
    let pending: Vec<&Row> = rows.iter().filter(|r| !analysed.contains(&r.transaction.transaction_id)).collect();
    report.already_analysed = rows.len() - pending.len();

    // 4. The history, as stored (the transactions themselves included).
    let engine = deps.analyzer.engine();
    let time_zone = engine.config().time_zone();
    let history = History::load(deps.db, &pending, options.lookback_days, time_zone).await?;

    // 5. Analyse in business-day order, one database transaction per chunk.
    let mut order: Vec<(NaiveDate, &Transaction, u64)> = Vec::with_capacity(pending.len());
    for row in &pending {
        let stored = history.transaction(&row.transaction)?;
        order.push((business_day(&stored.timestamp, &engine.config().institution), stored, row.line));
    }
    order.sort_by(|a, b| (a.0, a.1.timestamp, a.2).cmp(&(b.0, b.1.timestamp, b.2)));
    progress.start("screening transactions", order.len() as u64);
    let loop_started = Instant::now();
    let cache = Arc::new(SearchCache::default());
    let mut chunk_times = Vec::new();
    let (mut retrieval, mut writing) = (Duration::ZERO, Duration::ZERO);
    // Each chunk's write runs (in the database's own task) while the next chunk is
    // analysed: an analysis reads only transactions, never earlier analyses.
    let mut unwritten: Option<Vec<Analysed>> = None;
    let mut chunks = order.chunks(chunk_size).peekable();
    while unwritten.is_some() || chunks.peek().is_some() {
        let chunk_started = Instant::now();
        let chunk = chunks.next().unwrap_or_default();
        let analyse = analyse_chunk(deps, &history, chunk, options, time_zone, &cache);
        let (written, analysed) = match unwritten.take() {
            Some(items) => {
                let write = async {
                    let write_started = Instant::now();
                    if !items.is_empty() {
                        deps.audit.record_analyses(&options.actor, None, &items).await?;
                    }
                    Ok::<_, BatchError>((items, write_started.elapsed()))
                };
                let (written, analysed) = tokio::join!(write, analyse);
                (Some(written?), analysed?)
            }
            None => (None, analyse.await?),
        };
        if let Some((items, took)) = written {
            writing += took;
            report.analysed += items.len();
            report.requires_review += items.iter().filter(|(a, _, _)| a.requires_review).count();
        }
        retrieval += analysed.retrieval;
        rejected.extend(analysed.rejected);
        progress.advance(chunk.len() as u64);
        if !chunk.is_empty() {
            unwritten = Some(analysed.items);
            chunk_times.push(chunk_started.elapsed());
        }
    }
    progress.finish();
    report.analysis_seconds = loop_started.elapsed().as_secs_f64();

    rejected.sort_by_key(|r| r.line);
    report.rejected = rejected;
    report.seconds = started.elapsed().as_secs_f64();
    report.per_second = report.analysed as f64 / report.seconds.max(1e-9);
    chunk_times.sort_unstable();
    report.chunk_p50_ms = chunk_times.get(chunk_times.len() / 2).map_or(0.0, |d| d.as_secs_f64() * 1e3);
    report.retrieval_seconds = retrieval.as_secs_f64();
    report.write_seconds = writing.as_secs_f64();
    report.searches = cache.len();
    Ok(report)
}

/// An analysis to store: with its stored request and its customer's id.
type Analysed = (crate::guidance::Analysis, serde_json::Value, String);

/// What analysing one chunk gave.
struct ChunkAnalyses {
    items: Vec<Analysed>,
    rejected: Vec<Rejected>,
    retrieval: Duration,
}

/// Analyses `chunk` (business date, stored transaction, line), each with its history
/// window, as `POST /api/v1/analyze` would with the transaction's id.
async fn analyse_chunk(
    deps: &Deps<'_>,
    history: &History,
    chunk: &[(NaiveDate, &Transaction, u64)],
    options: &Options,
    time_zone: Tz,
    cache: &Arc<SearchCache>,
) -> Result<ChunkAnalyses, BatchError> {
    let mut out = ChunkAnalyses { items: Vec::with_capacity(chunk.len()), rejected: Vec::new(), retrieval: Duration::ZERO };
    for (_, transaction, line) in chunk {
        let customer = history.customer(&transaction.customer_id)?;
        let recent = history.window(transaction, options.lookback_days, time_zone);
        let recent_ids: Vec<&str> = recent.iter().map(|t| t.transaction_id.as_str()).collect();
        let input = RuleInput {
            transaction: (*transaction).clone(),
            customer: customer.clone(),
            recent_transactions: Vec::new(),
            sanctions_lookback: false,
        };
        // The stored request names the history by id: it is stored beside it.
        let request = serde_json::json!({
            "transaction_id": transaction.transaction_id,
            "inline": false,
            "question": null,
            "batch": { "source": options.source, "line": line },
            "request": input,
            "recent_transaction_ids": recent_ids,
        });
        let input = RuleInput { recent_transactions: recent.into_iter().cloned().collect(), ..input };
        match deps.analyzer.analyze_cached(input, None, Some(cache)).await {
            Ok((analysis, timings)) => {
                out.retrieval += timings.retrieval;
                out.items.push((analysis, request, customer.customer_id.clone()));
            }
            Err(AnalyzeError::Invalid(e)) => out.rejected.push(Rejected::new(*line, e.field, e.message)),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// The rows that can be stored: a transaction id seen on an earlier line, or a customer
/// neither in the row nor stored, is rejected.
async fn accept_rows(db: &Database, rows: Vec<Row>, rejected: &mut Vec<Rejected>) -> Result<Vec<Row>, BatchError> {
    let mut first_line: HashMap<String, u64> = HashMap::new();
    let mut unique = Vec::with_capacity(rows.len());
    for row in rows {
        match first_line.get(&row.transaction.transaction_id) {
            Some(first) => rejected.push(Rejected::new(
                row.line,
                "transaction.transaction_id",
                format!("{:?} repeats the transaction of line {first}", row.transaction.transaction_id),
            )),
            None => {
                first_line.insert(row.transaction.transaction_id.clone(), row.line);
                unique.push(row);
            }
        }
    }
    let in_file: HashSet<String> = unique.iter().filter_map(|r| r.customer.as_ref()).map(|c| c.customer_id.clone()).collect();
    let mut wanted: Vec<String> = unique
        .iter()
        .map(|r| r.transaction.customer_id.as_str())
        .filter(|id| !in_file.contains(*id))
        .map(str::to_string)
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let stored = db.stored_customers(&wanted).await?;
    let known = |id: &str| in_file.contains(id) || stored.contains(id);
    let (ok, missing): (Vec<Row>, Vec<Row>) = unique.into_iter().partition(|r| known(&r.transaction.customer_id));
    for row in missing {
        rejected.push(Rejected::new(
            row.line,
            "transaction.customer_id",
            format!(
                "customer {:?} is neither in this row nor stored: add the customer columns, or load the customer first (`reagent batch customers FILE`)",
                row.transaction.customer_id
            ),
        ));
    }
    Ok(ok)
}

/// `t`'s calendar date in the institution's time zone (the date a stored
/// transaction's history window is cut on).
fn local_date(t: &Transaction, time_zone: Tz) -> NaiveDate {
    t.timestamp.with_timezone(&time_zone).date_naive()
}

/// The stored transactions and customers a batch's analyses read, loaded once.
struct History {
    /// Per customer, oldest first (ties by id), as [`Database::transaction_context_in`] orders them.
    by_customer: HashMap<String, Vec<Transaction>>,
    /// Index of each transaction in its customer's list.
    index: HashMap<String, usize>,
    customers: HashMap<String, Customer>,
}

impl History {
    async fn load(
        db: &Database,
        pending: &[&Row],
        lookback_days: u32,
        time_zone: Tz,
    ) -> Result<Self, DbError> {
        let mut customer_ids: Vec<String> = pending.iter().map(|r| r.transaction.customer_id.clone()).collect();
        customer_ids.sort_unstable();
        customer_ids.dedup();
        let dates = pending.iter().map(|r| local_date(&r.transaction, time_zone));
        let (Some(first), Some(last)) = (dates.clone().min(), dates.max()) else {
            return Ok(Self { by_customer: HashMap::new(), index: HashMap::new(), customers: HashMap::new() });
        };
        // A UTC range surely holding those local dates (offsets stay within a day);
        // the exact cut is made on the local date in `window`.
        let midnight = |d: Option<NaiveDate>, fallback: NaiveDate| d.unwrap_or(fallback).and_time(NaiveTime::MIN).and_utc();
        let from = midnight(first.checked_sub_days(Days::new(u64::from(lookback_days) + 2)), NaiveDate::MIN);
        let until = midnight(last.checked_add_days(Days::new(3)), NaiveDate::MAX);
        let mut by_customer: HashMap<String, Vec<Transaction>> = HashMap::new();
        for t in db.transactions_of_customers(&customer_ids, from, until).await? {
            by_customer.entry(t.customer_id.clone()).or_default().push(t);
        }
        let mut index = HashMap::new();
        for list in by_customer.values() {
            for (i, t) in list.iter().enumerate() {
                index.insert(t.transaction_id.clone(), i);
            }
        }
        let customers = db.customers(&customer_ids).await?.into_iter().map(|c| (c.customer_id.clone(), c)).collect();
        Ok(Self { by_customer, index, customers })
    }

    /// The stored copy of `t` (as the analysis of a stored transaction reads it).
    fn transaction(&self, t: &Transaction) -> Result<&Transaction, DbError> {
        self.index
            .get(&t.transaction_id)
            .and_then(|i| self.by_customer.get(&t.customer_id)?.get(*i))
            .filter(|stored| stored.transaction_id == t.transaction_id)
            .ok_or_else(|| DbError::NotFound { entity: "transaction", id: t.transaction_id.clone() })
    }

    fn customer(&self, id: &str) -> Result<&Customer, DbError> {
        self.customers.get(id).ok_or_else(|| DbError::NotFound { entity: "customer", id: id.to_string() })
    }

    /// The customer's other transactions whose local date lies from `lookback_days`
    /// before `t`'s through `t`'s own: the window of [`Database::transaction_context_in`].
    fn window(&self, t: &Transaction, lookback_days: u32, time_zone: Tz) -> Vec<&Transaction> {
        let as_of = local_date(t, time_zone);
        let first_day = as_of.checked_sub_days(Days::new(u64::from(lookback_days))).unwrap_or(NaiveDate::MIN);
        self.by_customer
            .get(&t.customer_id)
            .into_iter()
            .flatten()
            .filter(|other| other.transaction_id != t.transaction_id)
            .filter(|other| (first_day..=as_of).contains(&local_date(other, time_zone)))
            .collect()
    }
}
