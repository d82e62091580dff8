//! Owns the figures on the system's own quality, for the team lead and examiners:
//! per local day of a date range (the institution's time zone, `rules.time_zone`),
//! and over the whole range,
//!
//! - analyses by risk level, and the **review rate** (share requiring review);
//! - the **review queue** and its **overdue** part at the close of each day;
//! - **decisions by outcome** and the **override rate**;
//! - the share of analyses answered by the **rules generator** (vs the LLM);
//! - **latency** percentiles (p50/p95/p99) of `processing_time_ms`, the analysis's
//!   own duration, stored with every analysis since the first migration.
//!
//! Definitions (each one is what the tests in `tests/monitoring.rs` check):
//!
//! - A day is `[local midnight, next local midnight)` in the time zone; an analysis
//!   counts on the day of its `analyzed_at`, a decision on the day of its `decided_at`.
//! - **Queue** at the close of day *d*: analyses with `requires_review` made before
//!   the end of *d* with no decision recorded before the end of *d*. Any decision
//!   (approve, escalate, file a SAR, reject) takes an analysis out of the queue; each
//!   analysis is its own item, also when a transaction was analysed twice.
//! - **Overdue** at the close of *d*: queue items whose earliest due date (the
//!   earliest deadline of their required actions, [`due_on`]) lies before *d*,
//!   i.e. their last allowed day has passed.
//! - **Recommended outcome** of an analysis ([`recommended_outcome`]): `reject` if it
//!   requires `OFAC_BLOCK_OR_REJECT`, else `file_sar` if it requires `SAR_REVIEW`,
//!   else `escalate` if it requires review, else `approve`. So approving an analysis
//!   that requires review for another reason (a CTR, EDD) counts as differing: the
//!   guidance asked for a second look, the officer closed it.
//! - **Override rate**: among the decisions recorded in the period (first decisions
//!   and decisions superseding an earlier one alike, each counted once on its day),
//!   the share whose outcome differs from the recommended outcome of the analysis it
//!   decides. (Not to be confused with a decision *override* in `crate::decision`,
//!   which supersedes an earlier decision; that one is counted like any other.)
//! - **Rules share**: analyses whose `generator.kind` is `rules`, over all analyses.
//! - **Latency**: nearest-rank percentiles (the smallest duration with at least p %
//!   of the period's analyses at or below it).
//! - A rate or percentile of a period with nothing to measure is absent (`None`),
//!   never 0 and never NaN.
//!
//! Retrieval citation feedback is not among the figures: its table does not exist
//! on this branch.
//!
//! Layout: `chart.rs` draws the figures as SVG, `prometheus.rs` renders them as
//! gauges for `/metrics` (computed at most once per refresh interval), `report.rs`
//! writes the monthly report for examiners. The web page (`crate::web`), the
//! service (`crate::api`) and the CLI (`reagent report monthly`) all call
//! [`Figures::compute`].

pub mod chart;
pub mod prometheus;
pub mod report;

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use thiserror::Error;

use crate::db::{Database, DbError, TimeBucket};
use crate::decision::DecisionKind;
use crate::guidance::Analysis;
use crate::rules::{ActionCode, RiskLevel};

/// Longest date range the figures are computed over, in days.
pub const MAX_RANGE_DAYS: u64 = 366;

/// Most open review items read for the queue and overdue figures; beyond it the
/// figures are refused rather than computed on part of the queue.
pub const MAX_OPEN_ITEMS: u32 = 50_000;

#[derive(Debug, Error)]
pub enum MonitoringError {
    /// Bad input; `field` names it.
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("the review queue holds more than {MAX_OPEN_ITEMS} items over this range; the queue figures would be partial")]
    TooManyOpenItems,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// An inclusive range of local dates, at most [`MAX_RANGE_DAYS`] long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DateRange {
    from: NaiveDate,
    to: NaiveDate,
}

impl DateRange {
    pub fn new(from: NaiveDate, to: NaiveDate) -> Result<Self, MonitoringError> {
        if to < from {
            return Err(MonitoringError::Invalid { field: "to", reason: format!("{to} is before from ({from})") });
        }
        let days = (to - from).num_days() + 1;
        if days as u64 > MAX_RANGE_DAYS {
            return Err(MonitoringError::Invalid {
                field: "to",
                reason: format!("the range has {days} days; at most {MAX_RANGE_DAYS}"),
            });
        }
        Ok(Self { from, to })
    }

    /// A calendar month written `YYYY-MM`.
    pub fn month(text: &str) -> Result<Self, MonitoringError> {
        let invalid = || MonitoringError::Invalid {
            field: "month",
            reason: format!("{text:?} is not a month written YYYY-MM (e.g. 2026-11)"),
        };
        let (y, m) = text.trim().split_once('-').ok_or_else(invalid)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(invalid());
        }
        let year: i32 = y.parse().map_err(|_| invalid())?;
        let month: u32 = m.parse().map_err(|_| invalid())?;
        let from = NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(invalid)?;
        let to = from.checked_add_months(chrono::Months::new(1)).and_then(|d| d.pred_opt()).ok_or_else(invalid)?;
        Self::new(from, to)
    }

    /// The `days` days ending with `last`.
    pub fn ending(last: NaiveDate, days: u64) -> Result<Self, MonitoringError> {
        let from = last.checked_sub_days(Days::new(days.saturating_sub(1))).unwrap_or(NaiveDate::MIN);
        Self::new(from, last)
    }

    pub fn from(&self) -> NaiveDate {
        self.from
    }

    pub fn to(&self) -> NaiveDate {
        self.to
    }

    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        self.from.iter_days().take_while(move |d| *d <= self.to)
    }

    pub fn n_days(&self) -> usize {
        ((self.to - self.from).num_days() + 1) as usize
    }

    /// `YYYY-MM` when the range is exactly one calendar month.
    pub fn month_label(&self) -> Option<String> {
        let whole =
            self.from.day() == 1 && self.to.succ_opt().is_some_and(|d| d.day() == 1) && self.from.month() == self.to.month();
        whole.then(|| self.from.format("%Y-%m").to_string())
    }
}

/// The instant a local day starts in `tz`: its midnight, or the first local time
/// after it that exists (a DST gap at midnight).
pub fn day_start(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    for minutes in (0..=180).step_by(15) {
        let local = day.and_time(NaiveTime::MIN) + chrono::Duration::minutes(minutes);
        if let Some(t) = tz.from_local_datetime(&local).earliest() {
            return t.with_timezone(&Utc);
        }
    }
    day.and_time(NaiveTime::MIN).and_utc()
}

/// Counts per risk level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RiskCounts {
    pub low: u64,
    pub medium: u64,
    pub high: u64,
}

impl RiskCounts {
    pub fn get(&self, level: RiskLevel) -> u64 {
        match level {
            RiskLevel::Low => self.low,
            RiskLevel::Medium => self.medium,
            RiskLevel::High => self.high,
        }
    }

    fn add(&mut self, level: RiskLevel, n: u64) {
        match level {
            RiskLevel::Low => self.low += n,
            RiskLevel::Medium => self.medium += n,
            RiskLevel::High => self.high += n,
        }
    }
}

/// Counts per decision outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutcomeCounts {
    pub approve: u64,
    pub escalate: u64,
    pub file_sar: u64,
    pub reject: u64,
}

impl OutcomeCounts {
    pub fn get(&self, kind: DecisionKind) -> u64 {
        match kind {
            DecisionKind::Approve => self.approve,
            DecisionKind::Escalate => self.escalate,
            DecisionKind::FileSar => self.file_sar,
            DecisionKind::Reject => self.reject,
        }
    }

    pub fn total(&self) -> u64 {
        self.approve + self.escalate + self.file_sar + self.reject
    }

    fn add(&mut self, kind: DecisionKind) {
        match kind {
            DecisionKind::Approve => self.approve += 1,
            DecisionKind::Escalate => self.escalate += 1,
            DecisionKind::FileSar => self.file_sar += 1,
            DecisionKind::Reject => self.reject += 1,
        }
    }
}

/// Nearest-rank latency percentiles, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Latency {
    /// Analyses measured.
    pub n: u64,
    pub p50_ms: u64,
    pub p95_ms: u64,
    pub p99_ms: u64,
}

/// The figures of one period (a day or the whole range); see the module doc.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Period {
    pub analyses: u64,
    pub by_risk: RiskCounts,
    pub requiring_review: u64,
    pub review_rate: Option<f64>,
    /// Open review items at the close of the period.
    pub queue_size: u64,
    /// Of those, past their earliest due date.
    pub overdue: u64,
    pub decisions: OutcomeCounts,
    /// Decisions whose outcome differs from the recommended outcome.
    pub disagreements: u64,
    pub override_rate: Option<f64>,
    pub rules_answers: u64,
    pub llm_answers: u64,
    pub rules_share: Option<f64>,
    pub latency: Option<Latency>,
}

impl Period {
    fn finish(&mut self) {
        self.review_rate = ratio(self.requiring_review, self.analyses);
        self.override_rate = ratio(self.disagreements, self.decisions.total());
        self.rules_share = ratio(self.rules_answers, self.rules_answers + self.llm_answers);
    }
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// One day's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayFigures {
    pub day: NaiveDate,
    #[serde(flatten)]
    pub figures: Period,
}

/// The figures of a date range, per day and in total.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    pub range: DateRange,
    /// IANA name of the time zone the days are in.
    pub time_zone: String,
    pub days: Vec<DayFigures>,
    /// Over the whole range; queue and overdue are those at the close of its last day.
    pub total: Period,
}

/// The outcome an analysis's guidance points to (see the module doc).
pub fn recommended_outcome(requires_review: bool, actions: &[ActionCode]) -> DecisionKind {
    if actions.contains(&ActionCode::OfacBlockOrReject) {
        DecisionKind::Reject
    } else if actions.contains(&ActionCode::SarReview) {
        DecisionKind::FileSar
    } else if requires_review {
        DecisionKind::Escalate
    } else {
        DecisionKind::Approve
    }
}

/// An analysis's earliest due date: the typed one the rules engine sets
/// ([`Analysis::earliest_due`](crate::guidance::Analysis::earliest_due)), else, for analyses stored before due dates
/// were typed, the earliest `(by YYYY-MM-DD)` date in its required actions'
/// deadline texts (the rules engine writes each deadline that way).
pub fn due_on(analysis: &Analysis) -> Option<NaiveDate> {
    analysis.earliest_due().or_else(|| {
        analysis
            .required_actions
            .iter()
            .filter_map(|a| a.deadline.as_deref())
            .flat_map(|text| text.match_indices("by ").filter_map(|(i, _)| text.get(i + 3..i + 13)))
            .filter_map(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
            .min()
    })
}

impl Figures {
    /// The figures of `range` in `tz`, from `db`. `due` gives an analysis's earliest
    /// due date (`None`: no deadline, never overdue); the callers pass [`due_on`]. Bounded work: one query per
    /// figure over at most [`MAX_RANGE_DAYS`] buckets, and at most [`MAX_OPEN_ITEMS`]
    /// open review items read.
    pub async fn compute(
        db: &Database,
        range: DateRange,
        tz: Tz,
    ) -> Result<Self, MonitoringError> {
        let days: Vec<NaiveDate> = range.days().collect();
        let starts: Vec<DateTime<Utc>> = days.iter().map(|d| day_start(tz, *d)).collect();
        let range_end = day_start(tz, range.to.succ_opt().unwrap_or(range.to));
        let buckets: Vec<TimeBucket> = starts
            .iter()
            .enumerate()
            .map(|(i, start)| TimeBucket { start: *start, end: starts.get(i + 1).copied().unwrap_or(range_end) })
            .collect();
        let whole = [TimeBucket { start: starts[0], end: range_end }];

        let mut periods = vec![Period::default(); days.len()];
        let mut total = Period::default();

        for row in db.analysis_counts(&buckets).await? {
            let level: RiskLevel = wire(&row.risk_level).ok_or_else(|| undecodable("analyses.risk_level", &row.risk_level))?;
            for p in [&mut periods[row.bucket], &mut total] {
                p.analyses += row.n;
                p.by_risk.add(level, row.n);
                if row.requires_review {
                    p.requiring_review += row.n;
                }
                match row.generator_kind.as_str() {
                    "rules" => p.rules_answers += row.n,
                    "llm" => p.llm_answers += row.n,
                    other => return Err(undecodable("analyses.generator_kind", other)),
                }
            }
        }

        for row in db.decisions_in(&buckets).await? {
            let kind = DecisionKind::parse(&row.decision).ok_or_else(|| undecodable("decisions.decision", &row.decision))?;
            let actions: Vec<ActionCode> = row.action_codes.iter().filter_map(|c| c.parse().ok()).collect();
            let disagrees = kind != recommended_outcome(row.requires_review, &actions);
            for p in [&mut periods[row.bucket], &mut total] {
                p.decisions.add(kind);
                p.disagreements += u64::from(disagrees);
            }
        }

        for row in db.latency_percentiles(&buckets).await? {
            periods[row.bucket].latency = Some(latency(&row));
        }
        total.latency = db.latency_percentiles(&whole).await?.first().map(latency);

        let open = db.open_review_items(starts[0], range_end, MAX_OPEN_ITEMS).await?;
        if open.truncated {
            return Err(MonitoringError::TooManyOpenItems);
        }
        let open: Vec<(DateTime<Utc>, Option<DateTime<Utc>>, Option<NaiveDate>)> =
            open.items.iter().map(|i| (i.analysis.analyzed_at, i.first_decided_at, due_on(&i.analysis))).collect();
        for (i, day) in days.iter().enumerate() {
            let close = buckets[i].end;
            for (analyzed_at, decided_at, due_on) in &open {
                let in_queue = *analyzed_at < close && decided_at.is_none_or(|t| t >= close);
                if in_queue {
                    periods[i].queue_size += 1;
                    periods[i].overdue += u64::from(due_on.is_some_and(|d| d < *day));
                }
            }
        }
        if let Some(last) = periods.last() {
            total.queue_size = last.queue_size;
            total.overdue = last.overdue;
        }

        for p in periods.iter_mut().chain(std::iter::once(&mut total)) {
            p.finish();
        }
        Ok(Self {
            range,
            time_zone: tz.name().to_string(),
            days: days.into_iter().zip(periods).map(|(day, figures)| DayFigures { day, figures }).collect(),
            total,
        })
    }
}

fn latency(row: &crate::db::LatencyRow) -> Latency {
    Latency { n: row.n, p50_ms: row.p50_ms, p95_ms: row.p95_ms, p99_ms: row.p99_ms }
}

/// An enum from its serde wire form.
fn wire<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
}

fn undecodable(column: &str, value: &str) -> MonitoringError {
    MonitoringError::Db(DbError::backend(format!("decoding {column}"), format!("unknown value {value:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_and_bad_ones_name_the_field() {
        let r = DateRange::month("2026-02").unwrap();
        assert_eq!(
            (r.from(), r.to()),
            (NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(), NaiveDate::from_ymd_opt(2026, 2, 28).unwrap())
        );
        assert_eq!(r.n_days(), 28);
        assert_eq!(r.month_label().as_deref(), Some("2026-02"));
        for bad in ["2026-13", "2026-2", "26-02", "2026/02", "", "2026-00", "abcd-ef"] {
            assert!(matches!(DateRange::month(bad), Err(MonitoringError::Invalid { field: "month", .. })), "{bad}");
        }
    }

    #[test]
    fn ranges_are_bounded_and_ordered() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert!(DateRange::new(d("2026-01-02"), d("2026-01-01")).is_err());
        assert!(DateRange::new(d("2025-01-01"), d("2026-01-01")).is_ok()); // 366 days
        assert!(DateRange::new(d("2025-01-01"), d("2026-01-02")).is_err());
        assert_eq!(DateRange::ending(d("2026-01-30"), 30).unwrap().from(), d("2026-01-01"));
        assert_eq!(DateRange::new(d("2026-01-01"), d("2026-01-15")).unwrap().month_label(), None);
    }

    #[test]
    fn days_start_at_local_midnight_across_dst() {
        let ny = chrono_tz::America::New_York;
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(day_start(ny, d("2026-03-08")).to_rfc3339(), "2026-03-08T05:00:00+00:00");
        assert_eq!(day_start(ny, d("2026-03-09")).to_rfc3339(), "2026-03-09T04:00:00+00:00");
        // Santiago skips from 00:00 to 01:00 on its spring-forward day.
        let scl = chrono_tz::America::Santiago;
        assert_eq!(day_start(scl, d("2026-09-06")).to_rfc3339(), "2026-09-06T04:00:00+00:00");
    }

    #[test]
    fn recommendation_follows_the_strongest_action() {
        use ActionCode as A;
        assert_eq!(recommended_outcome(true, &[A::CtrFiling, A::OfacBlockOrReject, A::SarReview]), DecisionKind::Reject);
        assert_eq!(recommended_outcome(true, &[A::CtrFiling, A::SarReview]), DecisionKind::FileSar);
        assert_eq!(recommended_outcome(true, &[A::CtrFiling]), DecisionKind::Escalate);
        assert_eq!(recommended_outcome(false, &[A::TravelRuleRecords]), DecisionKind::Approve);
    }
}
