//! Date arithmetic for the rules: a transaction's date in the institution's
//! time zone, its business day for currency reporting (31 CFR 1010.313:
//! night, weekend and holiday deposits belong to the next business day),
//! calendar-day and business-day deadlines.

use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, Weekday};

use super::data::{BusinessDayMode, InstitutionConfig};

/// The calendar date of the transaction in the institution's time zone (the
/// UTC date in [`BusinessDayMode::UtcMidnight`]): the date rules and
/// sources are applied as of.
pub fn local_date(timestamp: &DateTime<FixedOffset>, inst: &InstitutionConfig) -> NaiveDate {
    match inst.business_day {
        BusinessDayMode::UtcMidnight => timestamp.naive_utc().date(),
        BusinessDayMode::PostingCutoff => timestamp.with_timezone(&inst.time_zone.0).date_naive(),
    }
}

/// The business day the transaction is posted on (31 CFR 1010.313,
/// 1010.100): in [`BusinessDayMode::PostingCutoff`], a transaction at or
/// after the daily cut-off (local time) moves to the next day, and a
/// Saturday, Sunday or holiday moves to the next business day. In
/// [`BusinessDayMode::UtcMidnight`] it is the UTC calendar date.
pub fn business_day(timestamp: &DateTime<FixedOffset>, inst: &InstitutionConfig) -> NaiveDate {
    match inst.business_day {
        BusinessDayMode::UtcMidnight => timestamp.naive_utc().date(),
        BusinessDayMode::PostingCutoff => {
            let local = timestamp.with_timezone(&inst.time_zone.0);
            let mut day = local.date_naive();
            if local.time() >= inst.daily_cutoff.0 {
                day = add_days(day, 1);
            }
            next_business_day(day, &inst.holidays)
        }
    }
}

/// `date` itself if it is a business day, else the next one.
pub fn next_business_day(date: NaiveDate, holidays: &[NaiveDate]) -> NaiveDate {
    let mut d = date;
    // A year of non-business days cannot happen; the bound keeps a broken
    // calendar from looping.
    for _ in 0..366 {
        if is_business_day(d, holidays) {
            return d;
        }
        d = add_days(d, 1);
    }
    d
}

/// `date + days`, saturating at the largest representable date.
pub fn add_days(date: NaiveDate, days: u32) -> NaiveDate {
    date.checked_add_days(Days::new(u64::from(days)))
        .unwrap_or(NaiveDate::MAX)
}

/// `date - days`, saturating at the smallest representable date.
pub fn sub_days(date: NaiveDate, days: u32) -> NaiveDate {
    date.checked_sub_days(Days::new(u64::from(days)))
        .unwrap_or(NaiveDate::MIN)
}

/// True for Monday to Friday that are not in `holidays`.
pub fn is_business_day(date: NaiveDate, holidays: &[NaiveDate]) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && !holidays.contains(&date)
}

/// The `n`th business day after `date` (`date` itself is day 0).
pub fn add_business_days(date: NaiveDate, n: u32, holidays: &[NaiveDate]) -> NaiveDate {
    let mut d = date;
    let mut left = n;
    while left > 0 {
        let next = add_days(d, 1);
        if next == d {
            break; // end of the calendar
        }
        d = next;
        if is_business_day(d, holidays) {
            left -= 1;
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::data::{LocalTime, TimeZone};
    use chrono::NaiveTime;

    fn inst(mode: BusinessDayMode) -> InstitutionConfig {
        InstitutionConfig {
            time_zone: TimeZone(chrono_tz::America::New_York),
            business_day: mode,
            daily_cutoff: LocalTime(NaiveTime::from_hms_opt(18, 0, 0).unwrap_or_default()),
            holidays: vec![d("2026-05-25"), d("2027-12-31")],
        }
    }

    fn at(ts: &str) -> DateTime<FixedOffset> {
        match DateTime::parse_from_rfc3339(ts) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    /// 31 CFR 1010.313: deposits after the cut-off, at night, on weekends
    /// and holidays are treated as received on the next business day.
    #[test]
    fn business_day_rolls_after_cutoff_weekends_and_holidays_1010_313() {
        let posting = inst(BusinessDayMode::PostingCutoff);
        let day = |ts: &str| business_day(&at(ts), &posting).to_string();
        // Tuesday 2026-03-10, 17:59 and 18:00 New York (EDT, UTC-4)
        assert_eq!(day("2026-03-10T21:59:00Z"), "2026-03-10");
        assert_eq!(day("2026-03-10T22:00:00Z"), "2026-03-11");
        // Friday evening and Saturday go to Monday
        assert_eq!(day("2026-03-13T23:30:00Z"), "2026-03-16");
        assert_eq!(day("2026-03-14T15:00:00Z"), "2026-03-16");
        // Memorial Day 2026-05-25 (Monday) goes to Tuesday
        assert_eq!(day("2026-05-23T15:00:00Z"), "2026-05-26");
        // 2027-12-31 is the observed New Year's Day 2028
        assert_eq!(day("2027-12-31T15:00:00Z"), "2028-01-03");
        // the local date, not the UTC one: 01:00 UTC is the evening before
        assert_eq!(
            local_date(&at("2026-03-11T01:00:00Z"), &posting).to_string(),
            "2026-03-10"
        );
        let utc = inst(BusinessDayMode::UtcMidnight);
        assert_eq!(
            business_day(&at("2026-03-14T15:00:00Z"), &utc).to_string(),
            "2026-03-14"
        );
        assert_eq!(
            business_day(&at("2026-03-10T23:59:59Z"), &utc).to_string(),
            "2026-03-10"
        );
        assert_eq!(
            local_date(&at("2026-03-11T01:00:00Z"), &utc).to_string(),
            "2026-03-11"
        );
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or(NaiveDate::MIN)
    }

    #[test]
    fn business_days_skip_weekends_and_holidays() {
        // 2026-03-10 is a Tuesday: 10 business days later is Tuesday 03-24.
        assert_eq!(add_business_days(d("2026-03-10"), 10, &[]), d("2026-03-24"));
        // Friday + 1 business day = Monday.
        assert_eq!(add_business_days(d("2026-03-13"), 1, &[]), d("2026-03-16"));
        // A holiday on the Monday pushes it to Tuesday.
        assert_eq!(
            add_business_days(d("2026-03-13"), 1, &[d("2026-03-16")]),
            d("2026-03-17")
        );
        assert_eq!(add_days(d("2026-03-10"), 15), d("2026-03-25"));
        assert_eq!(sub_days(d("2026-04-02"), 30), d("2026-03-03"));
    }
}
