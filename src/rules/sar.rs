//! `SAR_REVIEW`: possible structuring and other suspicious patterns.
//!
//! Implements 31 CFR 1010.314 (structuring: breaking up or keeping currency
//! transactions at or below $10,000, on one or more days, at one or more
//! branches, to evade currency transaction reporting) and 31 CFR 1020.320
//! (a bank reports a suspicious transaction involving or aggregating at
//! least $5,000). The engine cannot know intent, so a finding means "review
//! for a SAR", raised for these patterns (all parameters in
//! `[[structuring]]` of rules.toml) when the current transaction is cash of
//! the pattern's class (cash in / cash out), whatever its own amount:
//!
//! 1. Near-threshold days: cash transactions in the near-threshold band
//!    (e.g. $8,000..=$10,000) on at least `min_near_threshold_days`
//!    distinct business days within the look-back window. ($9,600 on 04-01
//!    and $9,900 on 04-02 → review; one $9,900 deposit → no.)
//! 2. Repeated sub-threshold cash: pieces from `repeat_min_usd` up to the
//!    threshold on at least `repeat_min_days` business days, each day's
//!    total staying at or below the threshold (repeated $7,000 deposits).
//! 3. Same-day split: several same-class cash transactions on the current
//!    business day, each at or below the CTR threshold, totalling more than
//!    it, with at least `split_min_near_band_pieces` pieces in the band, or
//!    (for the customer types in `split_min_pieces_customer_types`, not an
//!    ordinary cash business) at least `split_min_pieces` pieces.
//! 4. Rapid movement (1020.320(a)(2)(i)/(iii)): an outbound wire roughly
//!    equal to several sub-threshold cash deposits made in the preceding few
//!    days.
//!
//! Timing (1020.320(b)(3)): the 30 days run from the initial detection of
//! the pattern, the business day on which it was first complete, not from
//! each later transaction; with no suspect identified, filing may wait to
//! identify one, but no later than 60 days after detection. After a SAR
//! (`customer.last_sar_filed_on`) the activity is continuing activity: it
//! is reviewed 90 days after that filing and a continuing SAR filed within
//! 120 days of it. Amounts are USD values (foreign currency converted).
//!
//! A single large cash transaction is a CTR, never by itself a SAR.

use std::collections::BTreeSet;

use chrono::NaiveDate;

use super::calendar::{add_days, sub_days};
use super::data::in_force;
use super::{
    ActionCode, CashClass, Ctx, Finding, Severity, calendar_deadline, cents, fmt_amount, fmt_usd,
};
use crate::domain::{Direction, TransactionType, ValidTransaction};

pub const STRUCTURING_QUERY: &str = "suspicious activity report SAR structuring cash deposits or withdrawals just below the $10,000 currency transaction report CTR threshold on several days or split on one day to evade reporting requirements, bank must report suspicious transactions of $5,000 or more within 30 calendar days of initial detection";

pub const RAPID_QUERY: &str = "suspicious activity report SAR funds deposited in cash and rapidly moved out by wire transfer, transaction with no business or apparent lawful purpose, money laundering, bank must report suspicious transactions of $5,000 or more within 30 calendar days of initial detection";

/// One pattern found: why, which transactions, and when it was first
/// complete.
struct Hit<'t> {
    reason: String,
    involved: Vec<&'t ValidTransaction>,
    detected: NaiveDate,
    structuring: bool,
}

pub(super) fn evaluate(ctx: &Ctx<'_>) -> Option<Finding> {
    let p = in_force(&ctx.cfg.structuring, ctx.as_of)?;
    let band = cents(p.band_min_usd)..=cents(p.band_max_usd);
    let sar_min = cents(p.sar_min_amount_usd);
    // The CTR threshold structuring is measured against.
    let ctr_threshold =
        in_force(&ctx.cfg.ctr, ctx.as_of).map_or(*band.end(), |c| cents(c.threshold_usd));
    let today = ctx.business_day;

    let mut hits: Vec<Hit<'_>> = Vec::new();

    if let Some(class) = CashClass::of(ctx.tx.transaction_type) {
        let window_start = sub_days(today, p.look_back_days);
        let mut window: Vec<(&ValidTransaction, NaiveDate, i64)> = std::iter::once(ctx.tx)
            .chain(
                ctx.history
                    .iter()
                    .copied()
                    .filter(|t| CashClass::of(t.transaction_type) == Some(class)),
            )
            .filter_map(|t| ctx.usd(t).map(|usd| (t, ctx.business_date(t), usd)))
            .filter(|(_, d, _)| *d >= window_start && *d <= today)
            .collect();
        window.sort_by(|a, b| {
            (a.1, a.0.timestamp, &a.0.transaction_id).cmp(&(
                b.1,
                b.0.timestamp,
                &b.0.transaction_id,
            ))
        });

        // Pattern 1: near-threshold amounts on several business days.
        let near: Vec<_> = window
            .iter()
            .filter(|(_, _, usd)| band.contains(usd))
            .collect();
        if let Some(detected) = first_complete(
            near.iter().map(|(_, d, usd)| (*d, *usd)),
            p.min_near_threshold_days as usize,
            sar_min,
        ) {
            let days: BTreeSet<NaiveDate> = near.iter().map(|(_, d, _)| *d).collect();
            let total: i64 = near.iter().map(|(_, _, usd)| usd).sum();
            hits.push(Hit {
                reason: format!(
                    "{} transactions between {} and {} (just below the {} CTR threshold) on {} different business days within the {}-day look-back window ({} to {}): {}; total {}",
                    class.label(),
                    fmt_usd(*band.start()),
                    fmt_usd(*band.end()),
                    fmt_usd(ctr_threshold),
                    days.len(),
                    p.look_back_days,
                    window_start,
                    today,
                    list(near.iter().map(|(t, d, _)| (*t, *d))),
                    fmt_usd(total),
                ),
                involved: near.iter().map(|(t, _, _)| *t).collect(),
                detected,
                structuring: true,
            });
        }

        // Pattern 2: repeated sub-threshold cash on several business days.
        let repeat_min = cents(p.repeat_min_usd);
        let mut day_totals: Vec<(NaiveDate, i64)> = Vec::new();
        for (_, d, usd) in &window {
            match day_totals.last_mut() {
                Some((day, total)) if day == d => *total += usd,
                _ => day_totals.push((*d, *usd)),
            }
        }
        let quiet_day = |d: &NaiveDate| {
            day_totals
                .iter()
                .any(|(day, total)| day == d && *total <= ctr_threshold)
        };
        let repeated: Vec<_> = window
            .iter()
            .filter(|(_, d, usd)| *usd >= repeat_min && *usd <= ctr_threshold && quiet_day(d))
            .collect();
        if hits.is_empty()
            && let Some(detected) = first_complete(
                repeated.iter().map(|(_, d, usd)| (*d, *usd)),
                p.repeat_min_days as usize,
                sar_min.max(ctr_threshold + 1),
            )
        {
            let days: BTreeSet<NaiveDate> = repeated.iter().map(|(_, d, _)| *d).collect();
            let total: i64 = repeated.iter().map(|(_, _, usd)| usd).sum();
            hits.push(Hit {
                reason: format!(
                    "{} of {} to {} repeated on {} business days within the {}-day look-back window ({} to {}), each day staying at or below the {} CTR threshold while together they total {} (all branches count as one institution, 31 CFR 1010.313(a)): {}",
                    class.label(),
                    fmt_usd(repeat_min),
                    fmt_usd(ctr_threshold),
                    days.len(),
                    p.look_back_days,
                    window_start,
                    today,
                    fmt_usd(ctr_threshold),
                    fmt_usd(total),
                    list(repeated.iter().map(|(t, d, _)| (*t, *d))),
                ),
                involved: repeated.iter().map(|(t, _, _)| *t).collect(),
                detected,
                structuring: true,
            });
        }

        // Pattern 3: a same-day split into sub-threshold pieces.
        let same_day: Vec<_> = window.iter().filter(|(_, d, _)| *d == today).collect();
        let total: i64 = same_day.iter().map(|(_, _, usd)| usd).sum();
        let all_below = same_day.iter().all(|(_, _, usd)| *usd <= ctr_threshold);
        let in_band = same_day
            .iter()
            .filter(|(_, _, usd)| band.contains(usd))
            .count();
        let count_counts = p
            .split_min_pieces_customer_types
            .contains(&ctx.customer.customer_type);
        if same_day.len() >= 2
            && all_below
            && total > ctr_threshold
            && total >= sar_min
            && ((count_counts && same_day.len() >= p.split_min_pieces as usize)
                || in_band >= p.split_min_near_band_pieces as usize)
        {
            hits.push(Hit {
                reason: format!(
                    "{} {} split into {} transactions on business day {}, each at or below the {} CTR threshold ({} of them between {} and {}): {}",
                    fmt_usd(total),
                    class.label(),
                    same_day.len(),
                    today,
                    fmt_usd(ctr_threshold),
                    in_band,
                    fmt_usd(*band.start()),
                    fmt_usd(*band.end()),
                    list(same_day.iter().map(|(t, d, _)| (*t, *d))),
                ),
                involved: same_day.iter().map(|(t, _, _)| *t).collect(),
                detected: today,
                structuring: true,
            });
        }
    }

    // Pattern 4: cash in, then (nearly) the same amount wired out.
    let out = ctx.usd_or_zero(ctx.tx);
    if p.rapid_enabled
        && ctx.tx.direction == Direction::Outbound
        && p.rapid_out_types.contains(&ctx.tx.transaction_type)
        && out >= sar_min
    {
        let start = sub_days(today, p.rapid_window_days);
        let mut cash_in: Vec<(&ValidTransaction, NaiveDate)> = ctx
            .history
            .iter()
            .copied()
            .filter(|t| t.transaction_type == TransactionType::CashDeposit)
            .filter(|t| t.timestamp <= ctx.tx.timestamp)
            .filter(|t| ctx.usd(t).is_some_and(|usd| usd <= ctr_threshold))
            .map(|t| (t, ctx.business_date(t)))
            .filter(|(_, d)| *d >= start && *d <= today)
            .collect();
        cash_in.sort_by_key(|a| a.0.timestamp);
        let total_in: i64 = cash_in.iter().map(|(t, _)| ctx.usd_or_zero(t)).sum();
        let ratio = if total_in > 0 {
            out as f64 / total_in as f64
        } else {
            0.0
        };
        if cash_in.len() >= p.rapid_min_cash_pieces as usize
            && total_in >= sar_min
            && ratio >= p.rapid_min_ratio
            && ratio <= 1.0 / p.rapid_min_ratio
        {
            let mut involved: Vec<&ValidTransaction> = cash_in.iter().map(|(t, _)| *t).collect();
            involved.push(ctx.tx);
            hits.push(Hit {
                reason: format!(
                    "{} {} {} {} on {} follows {} sub-threshold cash deposits totalling {} within {} days ({}), moving the cash out almost at once",
                    ctx.tx.transaction_type,
                    ctx.tx.transaction_id,
                    fmt_amount(ctx.tx),
                    destination(ctx.tx),
                    today,
                    cash_in.len(),
                    fmt_usd(total_in),
                    p.rapid_window_days,
                    list(cash_in.iter().copied()),
                ),
                involved,
                detected: today,
                structuring: false,
            });
        }
    }

    let detected = hits.iter().map(|h| h.detected).min()?;
    let structuring = hits.iter().any(|h| h.structuring);
    let rapid = hits.iter().any(|h| !h.structuring);

    let mut regulations = Vec::new();
    if structuring {
        regulations.push("31 CFR 1010.314".to_owned());
    }
    regulations.push("31 CFR 1020.320".to_owned());
    let retrieval_query = match (structuring, rapid) {
        (true, false) => STRUCTURING_QUERY.to_owned(),
        (false, _) => RAPID_QUERY.to_owned(),
        (true, true) => format!("{STRUCTURING_QUERY}; {RAPID_QUERY}"),
    };
    let continuing = ctx.customer.last_sar_filed_on.filter(|f| *f <= today);
    let title = match (continuing.is_some(), structuring) {
        (true, _) => "Continuing activity review for a Suspicious Activity Report (SAR)",
        (false, true) => "Review for a Suspicious Activity Report (SAR): possible structuring",
        (false, false) => "Review for a Suspicious Activity Report (SAR): rapid movement of cash",
    };
    let involved: Vec<&ValidTransaction> = hits
        .iter()
        .flat_map(|h| h.involved.iter().copied())
        .collect();
    let reasons: Vec<&str> = hits.iter().map(|h| h.reason.as_str()).collect();
    let timing = match continuing {
        Some(filed) => format!(
            " A SAR on this customer was filed on {filed}: this is continuing activity. Review it {} days after that filing (by {}) and file a continuing SAR within {} days of it (by {}), covering the activity since.",
            p.continuing_review_days,
            add_days(filed, p.continuing_review_days),
            p.continuing_filing_days,
            add_days(filed, p.continuing_filing_days),
        ),
        None => format!(
            " The pattern was first complete on business day {detected}: that is the initial detection the {}-day filing period runs from, whichever later transaction is being analysed. If no suspect can be identified on that day, filing may be delayed to identify one, but no later than {} days after detection (by {}).",
            p.filing_deadline_days,
            p.no_suspect_max_days,
            add_days(detected, p.no_suspect_max_days),
        ),
    };
    let description = format!(
        "Customer {} ({}): {}. Involved amount is at least the {} SAR threshold of 31 CFR 1020.320(a)(2). Investigate; if the bank knows, suspects or has reason to suspect evasion of reporting{}, file a SAR (a CTR, if one is due, does not replace it) and do not tell the customer (no tipping off).{timing} Keep the SAR and its supporting documentation for {} years (31 CFR 1020.320(d)).{}",
        ctx.customer.customer_id,
        ctx.customer.name,
        reasons.join("; and "),
        fmt_usd(sar_min),
        if rapid { " or money laundering" } else { "" },
        ctx.cfg.records.bsa_years,
        ctx.currency_note_for(involved.iter().copied()),
    );
    // 1020.320(b)(3): 30 days from initial detection. The no-suspect
    // extension (up to `no_suspect_max_days`) is stated in the description
    // but not assumed: the due date is the shorter one.
    let (deadline, due_on) = match continuing {
        Some(filed) => (format!(
            "continuing activity: review by {} ({} days after the SAR of {filed}); file within {} days of it (by {})",
            add_days(filed, p.continuing_review_days),
            p.continuing_review_days,
            p.continuing_filing_days,
            add_days(filed, p.continuing_filing_days),
        ), add_days(filed, p.continuing_filing_days)),
        None => calendar_deadline("initial detection on ", detected, p.filing_deadline_days),
    };

    Some(Finding {
        code: ActionCode::SarReview,
        title: title.into(),
        description,
        deadline: Some(deadline),
        due_on: Some(due_on),
        regulations,
        policies: Vec::new(),
        retrieval_query,
        severity: Severity::High,
    })
}

/// The day on which entries `(day, usd)`, taken in day order, first cover
/// at least `min_days` distinct days with a total of at least `min_total`.
fn first_complete(
    entries: impl Iterator<Item = (NaiveDate, i64)>,
    min_days: usize,
    min_total: i64,
) -> Option<NaiveDate> {
    let mut days = BTreeSet::new();
    let mut total = 0;
    for (day, usd) in entries {
        days.insert(day);
        total += usd;
        if days.len() >= min_days && total >= min_total {
            return Some(day);
        }
    }
    None
}

fn list<'t>(items: impl Iterator<Item = (&'t ValidTransaction, NaiveDate)>) -> String {
    items
        .map(|(t, d)| format!("{d} {} {}", t.transaction_id, fmt_amount(t)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn destination(t: &ValidTransaction) -> String {
    match t.counterparty() {
        Some(c) => format!("to {c} ({})", t.destination_country),
        None => format!("to {}", t.destination_country),
    }
}
