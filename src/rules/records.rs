//! Record retention and OFAC's annual report, as sentences for findings.
//!
//! - OFAC records (31 CFR 501.601): kept for the period in force when the
//!   record is made: five years before 2025-03-21, ten years from then
//!   (rules.toml `[[records.ofac]]`).
//! - BSA records (31 CFR 1010.430): five years (`records.bsa_years`).
//! - Annual report of blocked property (31 CFR 501.603(b)(2)): property
//!   blocked as of June 30 is reported by September 30 of that year
//!   (`ofac.annual_report_as_of`, `ofac.annual_report_due`).

use chrono::{Datelike, NaiveDate};

use super::RulesConfig;
use super::data::in_force;

/// "Keep the records for N years (31 CFR 501.601)" for a record made on
/// `made_on`.
pub(crate) fn ofac_retention(cfg: &RulesConfig, made_on: NaiveDate) -> String {
    match in_force(&cfg.records.ofac, made_on) {
        Some(p) => format!(
            "Keep the records of the blocking or rejection, and of the reports, for {} years ({} for records made from {})",
            p.years, p.regulation, p.effective_from
        ),
        None => "Keep the records (31 CFR 501.601)".to_owned(),
    }
}

/// The first annual report of blocked property that must list property
/// blocked on `blocked_on` (and still blocked on the report's as-of date).
pub(crate) fn annual_report(cfg: &RulesConfig, blocked_on: NaiveDate) -> (NaiveDate, NaiveDate) {
    let year = blocked_on.year();
    let as_of = cfg.ofac.annual_report_as_of.in_year(year);
    let as_of = if blocked_on <= as_of {
        as_of
    } else {
        cfg.ofac.annual_report_as_of.in_year(year + 1)
    };
    let due = cfg.ofac.annual_report_due.in_year(as_of.year());
    let due = if due < as_of {
        cfg.ofac.annual_report_due.in_year(as_of.year() + 1)
    } else {
        due
    };
    (as_of, due)
}

/// The sentence for an OFAC finding about a transaction on `on`.
pub(crate) fn ofac_sentence(cfg: &RulesConfig, on: NaiveDate) -> String {
    let (as_of, due) = annual_report(cfg, on);
    format!(
        "{}. If property is blocked, also include it in the annual report of blocked property held as of {as_of}, due by {due} (31 CFR 501.603(b)(2)).",
        ofac_retention(cfg, on)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or(NaiveDate::MIN)
    }

    fn cfg() -> RulesConfig {
        match RulesConfig::builtin() {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    /// 31 CFR 501.601: ten years for records made on or after 2025-03-21,
    /// five years before.
    #[test]
    fn ofac_retention_follows_the_record_date_501_601() {
        let c = cfg();
        assert!(ofac_retention(&c, d("2025-03-20")).contains("for 5 years"));
        assert!(ofac_retention(&c, d("2025-03-21")).contains("for 10 years"));
        assert!(ofac_retention(&c, d("2026-03-10")).contains("for 10 years"));
    }

    /// 31 CFR 501.603(b)(2): blocked property as of June 30, reported by
    /// September 30.
    #[test]
    fn annual_report_of_blocked_property_501_603_b_2() {
        let c = cfg();
        assert_eq!(
            annual_report(&c, d("2026-03-10")),
            (d("2026-06-30"), d("2026-09-30"))
        );
        assert_eq!(
            annual_report(&c, d("2026-06-30")),
            (d("2026-06-30"), d("2026-09-30"))
        );
        assert_eq!(
            annual_report(&c, d("2026-07-01")),
            (d("2027-06-30"), d("2027-09-30"))
        );
    }
}
