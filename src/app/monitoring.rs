//! Owns the monitoring use-cases: the quality figures of a date range (the dashboard)
//! and the quality gauges of `/metrics`, over `crate::monitoring`; and the types and
//! pure renderings (charts, summary rows) the front doors show them with.

use chrono::NaiveDate;

use super::{App, AppError};
use crate::monitoring::{DateRange, MonitoringError};

pub use crate::monitoring::chart::{Chart, Table, charts};
pub use crate::monitoring::prometheus::GaugeCache;
pub use crate::monitoring::report::summary_rows;
pub use crate::monitoring::Figures;

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
        Ok(Figures::compute(&self.db, range, self.time_zone()).await?)
    }

    /// The quality gauges' text for `/metrics`, from `cache` while it is fresh.
    pub async fn quality_gauges(&self, cache: &GaugeCache) -> Result<String, AppError> {
        Ok(cache.text(&self.db, self.time_zone()).await?)
    }

    /// The institution's time zone (`[rules]`), in which days are counted.
    pub fn time_zone(&self) -> chrono_tz::Tz {
        self.analyzer.engine().config().time_zone()
    }
}
