//! Date arithmetic for the rules: business dates in the institution's time
//! zone, calendar-day and business-day deadlines.

use chrono::{Datelike, Days, NaiveDate, Weekday};
use chrono_tz::Tz;

use crate::domain::Transaction;

/// The calendar date of the transaction in the institution's time zone.
pub fn business_date(t: &Transaction, tz: Tz) -> NaiveDate {
    t.timestamp.with_timezone(&tz).date_naive()
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
