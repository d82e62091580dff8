//! `SAR_REVIEW`: possible structuring and other suspicious patterns.
//!
//! Implements 31 CFR 1010.314 (structuring: breaking up or keeping currency
//! transactions at or below $10,000, on one or more days, to evade currency
//! transaction reporting) and 31 CFR 1020.320 (a bank reports a suspicious
//! transaction involving or aggregating at least $5,000, within 30 calendar
//! days of initial detection). The engine cannot know intent, so a finding
//! means "review for a SAR", raised only for these patterns (all parameters
//! in `[[structuring]]` of rules.toml), each requiring the CURRENT
//! transaction to be part of the pattern:
//!
//! 1. Near-threshold days: the current cash transaction is in the
//!    near-threshold band (e.g. $8,000..=$10,000) and so are cash
//!    transactions of the same class (cash in / cash out) on at least
//!    `min_near_threshold_days` distinct business days within the look-back
//!    window. ($9,600 on 04-01 and $9,900 on 04-02 → review; one $9,900
//!    deposit with no history → no.)
//! 2. Same-day split: several same-class cash transactions on the current
//!    business day, each at or below the CTR threshold, totalling more than
//!    it, with at least `split_min_pieces` pieces or at least
//!    `split_min_near_band_pieces` pieces in the band. (Two ordinary $6,000
//!    deposits are a CTR by aggregation, not by themselves a SAR.)
//! 3. Rapid movement (1020.320(a)(2)(i)/(iii)): an outbound wire roughly
//!    equal to several sub-threshold cash deposits made in the preceding few
//!    days.
//!
//! A single large cash transaction is a CTR, never by itself a SAR.

use std::collections::BTreeSet;

use chrono::NaiveDate;

use super::calendar::sub_days;
use super::data::in_force;
use super::{
    ActionCode, CashClass, Ctx, Finding, Severity, calendar_deadline, cents, currency_note,
    fmt_amount, fmt_usd,
};
use crate::domain::{Direction, Transaction, TransactionType};

pub const STRUCTURING_QUERY: &str = "suspicious activity report SAR structuring cash deposits or withdrawals just below the $10,000 currency transaction report CTR threshold on several days or split on one day to evade reporting requirements, bank must report suspicious transactions of $5,000 or more within 30 calendar days of initial detection";

pub const RAPID_QUERY: &str = "suspicious activity report SAR funds deposited in cash and rapidly moved out by wire transfer, transaction with no business or apparent lawful purpose, money laundering, bank must report suspicious transactions of $5,000 or more within 30 calendar days of initial detection";

pub(super) fn evaluate(ctx: &Ctx<'_>) -> Option<Finding> {
    let p = in_force(&ctx.cfg.structuring, ctx.as_of)?;
    let band = cents(p.band_min_usd)..=cents(p.band_max_usd);
    let sar_min = cents(p.sar_min_amount_usd);
    // The CTR threshold structuring is measured against.
    let ctr_threshold =
        in_force(&ctx.cfg.ctr, ctx.as_of).map_or(*band.end(), |c| cents(c.threshold_usd));

    let mut reasons: Vec<String> = Vec::new();
    let mut involved: Vec<&Transaction> = Vec::new();
    let mut structuring = false;
    let mut rapid = false;

    if let Some(class) = CashClass::of(ctx.tx.transaction_type) {
        let window_start = sub_days(ctx.as_of, p.look_back_days);
        let mut window: Vec<(&Transaction, NaiveDate)> = std::iter::once((ctx.tx, ctx.as_of))
            .chain(
                ctx.history
                    .iter()
                    .copied()
                    .filter(|t| CashClass::of(t.transaction_type) == Some(class))
                    .map(|t| (t, ctx.business_date(t)))
                    .filter(|(_, d)| *d >= window_start && *d <= ctx.as_of),
            )
            .collect();
        window.sort_by_key(|a| a.0.timestamp);

        // Pattern 1: near-threshold amounts on several business days.
        if band.contains(&cents(ctx.tx.amount)) {
            let near: Vec<_> = window
                .iter()
                .filter(|(t, _)| band.contains(&cents(t.amount)))
                .collect();
            let days: BTreeSet<NaiveDate> = near.iter().map(|(_, d)| *d).collect();
            let total: i64 = near.iter().map(|(t, _)| cents(t.amount)).sum();
            if days.len() >= p.min_near_threshold_days as usize && total >= sar_min {
                reasons.push(format!(
                    "{} transactions between {} and {} (just below the {} CTR threshold) on {} different business days within the {}-day look-back window ({} to {}): {}; total {}",
                    class.label(),
                    fmt_usd(*band.start()),
                    fmt_usd(*band.end()),
                    fmt_usd(ctr_threshold),
                    days.len(),
                    p.look_back_days,
                    window_start,
                    ctx.as_of,
                    list(near.iter().map(|(t, d)| (*t, *d))),
                    fmt_usd(total),
                ));
                involved.extend(near.iter().map(|(t, _)| *t));
                structuring = true;
            }
        }

        // Pattern 2: a same-day split into sub-threshold pieces.
        let today: Vec<_> = window.iter().filter(|(_, d)| *d == ctx.as_of).collect();
        let total: i64 = today.iter().map(|(t, _)| cents(t.amount)).sum();
        let all_below = today.iter().all(|(t, _)| cents(t.amount) <= ctr_threshold);
        let in_band = today
            .iter()
            .filter(|(t, _)| band.contains(&cents(t.amount)))
            .count();
        if today.len() >= 2
            && all_below
            && total > ctr_threshold
            && total >= sar_min
            && (today.len() >= p.split_min_pieces as usize
                || in_band >= p.split_min_near_band_pieces as usize)
        {
            reasons.push(format!(
                "{} {} split into {} transactions on business day {}, each at or below the {} CTR threshold ({} of them between {} and {}): {}",
                fmt_usd(total),
                class.label(),
                today.len(),
                ctx.as_of,
                fmt_usd(ctr_threshold),
                in_band,
                fmt_usd(*band.start()),
                fmt_usd(*band.end()),
                list(today.iter().map(|(t, d)| (*t, *d))),
            ));
            involved.extend(today.iter().map(|(t, _)| *t));
            structuring = true;
        }
    }

    // Pattern 3: cash in, then (nearly) the same amount wired out.
    let out = cents(ctx.tx.amount);
    if p.rapid_enabled
        && ctx.tx.direction == Direction::Outbound
        && p.rapid_out_types.contains(&ctx.tx.transaction_type)
        && out >= sar_min
    {
        let start = sub_days(ctx.as_of, p.rapid_window_days);
        let mut cash_in: Vec<(&Transaction, NaiveDate)> = ctx
            .history
            .iter()
            .copied()
            .filter(|t| t.transaction_type == TransactionType::CashDeposit)
            .filter(|t| t.timestamp <= ctx.tx.timestamp)
            .filter(|t| cents(t.amount) <= ctr_threshold)
            .map(|t| (t, ctx.business_date(t)))
            .filter(|(_, d)| *d >= start && *d <= ctx.as_of)
            .collect();
        cash_in.sort_by_key(|a| a.0.timestamp);
        let total_in: i64 = cash_in.iter().map(|(t, _)| cents(t.amount)).sum();
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
            reasons.push(format!(
                "{} {} {} {} on {} follows {} sub-threshold cash deposits totalling {} within {} days ({}), moving the cash out almost at once",
                ctx.tx.transaction_type,
                ctx.tx.transaction_id,
                fmt_amount(ctx.tx),
                destination(ctx.tx),
                ctx.as_of,
                cash_in.len(),
                fmt_usd(total_in),
                p.rapid_window_days,
                list(cash_in.iter().copied()),
            ));
            involved.extend(cash_in.iter().map(|(t, _)| *t));
            involved.push(ctx.tx);
            rapid = true;
        }
    }

    if reasons.is_empty() {
        return None;
    }

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
    let title = if structuring {
        "Review for a Suspicious Activity Report (SAR): possible structuring"
    } else {
        "Review for a Suspicious Activity Report (SAR): rapid movement of cash"
    };
    let description = format!(
        "Customer {} ({}): {}. Involved amount is at least the {} SAR threshold of 31 CFR 1020.320(a)(2). Investigate; if the bank knows, suspects or has reason to suspect evasion of reporting{}, file a SAR (a CTR, if one is due, does not replace it) and do not tell the customer (no tipping off).{}",
        ctx.customer.customer_id,
        ctx.customer.name,
        reasons.join("; and "),
        fmt_usd(sar_min),
        if rapid { " or money laundering" } else { "" },
        currency_note(involved.iter().copied()),
    );

    Some(Finding {
        code: ActionCode::SarReview,
        title: title.into(),
        description,
        deadline: Some(calendar_deadline(
            "initial detection on ",
            ctx.as_of,
            p.filing_deadline_days,
        )),
        regulations,
        retrieval_query,
        severity: Severity::High,
    })
}

fn list<'t>(items: impl Iterator<Item = (&'t Transaction, NaiveDate)>) -> String {
    items
        .map(|(t, d)| format!("{d} {} {}", t.transaction_id, fmt_amount(t)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn destination(t: &Transaction) -> String {
    match t.counterparty() {
        Some(c) => format!("to {c} ({})", t.destination_country),
        None => format!("to {}", t.destination_country),
    }
}
