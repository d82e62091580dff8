//! Owns the monitoring use-cases: the quality figures of a date range (the dashboard,
//! and the monthly report of the command line, which opens the database but no
//! [`App`]) and the quality gauges of `/metrics`, over `crate::monitoring`; and the
//! types and pure renderings (charts, summary rows, report files) the front doors
//! show them with.

use chrono::NaiveDate;
use chrono_tz::Tz;

use super::{App, AppError};
use crate::db::Database;

pub use crate::monitoring::chart::{Chart, Table, charts};
pub use crate::monitoring::prometheus::GaugeCache;
pub use crate::monitoring::report::{html, markdown, summary_rows};
pub use crate::monitoring::{DateRange, Figures, MonitoringError};

/// The quality figures of `range`, its days counted in `tz`.
pub async fn figures(db: &Database, range: DateRange, tz: Tz) -> Result<Figures, MonitoringError> {
    Figures::compute(db, range, tz).await
}

impl From<MonitoringError> for AppError {
    fn from(e: MonitoringError) -> Self {
        match e {
            MonitoringError::Invalid { field, reason } => Self::invalid(field, reason),
            MonitoringError::Db(e) => e.into(),
            other @ MonitoringError::TooManyOpenItems => Self::Unavailable { message: other.to_string() },
        }
    }
}

impl App {
    /// The quality figures from `from` (else the `default_days` ending at `to`) to `to`
    /// (else today, in the institution's time zone).
    pub async fn quality_figures(
        &self,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        default_days: u64,
    ) -> Result<Figures, AppError> {
        let to = to.unwrap_or_else(|| self.today());
        let range = match from {
            Some(from) => DateRange::new(from, to)?,
            None => DateRange::ending(to, default_days)?,
        };
        Ok(figures(&self.db, range, self.time_zone()).await?)
    }

    /// The quality gauges' text for `/metrics`, from `cache` while it is fresh.
    pub async fn quality_gauges(&self, cache: &GaugeCache) -> Result<String, AppError> {
        Ok(cache.text(&self.db, self.time_zone()).await?)
    }

    /// The institution's time zone (`[rules]`), in which days are counted.
    pub fn time_zone(&self) -> Tz {
        self.analyzer.engine().config().time_zone()
    }
}
