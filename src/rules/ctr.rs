//! `CTR_FILING`: currency transaction reports.
//!
//! Implements 31 CFR 1010.311 (report each transaction in currency of more
//! than $10,000), 1010.313 (multiple currency transactions by or on behalf of
//! the same person during one business day are aggregated, cash in and cash
//! out separately) and the deadline of 1010.306(a)(1) (15 days following the
//! day of the transaction). Only `CASH_DEPOSIT` (cash in) and
//! `CASH_WITHDRAWAL` (cash out) are transactions in currency: wires, ACH,
//! card, check and internal transfers never are (1010.311, "currency only").
//!
//! The threshold is strict ("more than"): a day totalling exactly the
//! threshold needs no report. Amounts are compared in whole cents. Non-USD
//! amounts are treated as USD-equivalent. Not modelled: exempt persons
//! (1020.315) and night/weekend deposits posted on the next business day.

use super::data::in_force;
use super::{
    ActionCode, CashClass, Ctx, Finding, Severity, calendar_deadline, cents, currency_note,
    fmt_amount, fmt_usd,
};

pub const REGULATIONS: [&str; 3] = ["31 CFR 1010.311", "31 CFR 1010.313", "31 CFR 1010.306"];

pub const RETRIEVAL_QUERY: &str = "currency transaction report CTR filing obligation transaction in currency cash of more than $10,000 aggregation of multiple cash deposits or withdrawals same person same business day cash in and cash out totalled separately filed within 15 days";

pub(super) fn evaluate(ctx: &Ctx<'_>) -> Option<Finding> {
    let params = in_force(&ctx.cfg.ctr, ctx.as_of)?;
    let class = CashClass::of(ctx.tx.transaction_type)?;
    let threshold = cents(params.threshold_usd);

    let mut pieces: Vec<_> = std::iter::once(ctx.tx)
        .chain(ctx.history.iter().copied().filter(|t| {
            CashClass::of(t.transaction_type) == Some(class) && ctx.business_date(t) == ctx.as_of
        }))
        .collect();
    pieces.sort_by(|a, b| {
        a.timestamp
            .cmp(&b.timestamp)
            .then(a.transaction_id.cmp(&b.transaction_id))
    });
    let total: i64 = pieces.iter().map(|t| cents(t.amount)).sum();
    if total <= threshold {
        return None;
    }

    let kind = match class {
        CashClass::In => "Cash deposit",
        CashClass::Out => "Cash withdrawal",
    };
    let description = if pieces.len() == 1 {
        format!(
            "{kind} {} of {} by customer {} on business day {} is a transaction in currency of more than {} and must be reported on a Currency Transaction Report (FinCEN Form 112).{}",
            ctx.tx.transaction_id,
            fmt_amount(ctx.tx),
            ctx.customer.customer_id,
            ctx.as_of,
            fmt_usd(threshold),
            ctx.currency_note(),
        )
    } else {
        let list = pieces
            .iter()
            .map(|t| {
                format!(
                    "{} {} at {}",
                    t.transaction_id,
                    fmt_amount(t),
                    t.timestamp.to_rfc3339()
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        format!(
            "Customer {}'s {} on business day {} totals {} across {} transactions ({list}), more than {}. Aggregated as a single transaction under 31 CFR 1010.313 (cash in and cash out are totalled separately, never netted); one Currency Transaction Report (FinCEN Form 112) covers the day.{}",
            ctx.customer.customer_id,
            class.label(),
            ctx.as_of,
            fmt_usd(total),
            pieces.len(),
            fmt_usd(threshold),
            currency_note(pieces.iter().copied()),
        )
    };

    Some(Finding {
        code: ActionCode::CtrFiling,
        title: "File a Currency Transaction Report (CTR)".into(),
        description,
        deadline: Some(calendar_deadline(
            "",
            ctx.as_of,
            params.filing_deadline_days,
        )),
        regulations: REGULATIONS.iter().map(|s| (*s).to_owned()).collect(),
        retrieval_query: RETRIEVAL_QUERY.into(),
        severity: Severity::Medium,
    })
}
