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
//! threshold needs no report. Amounts are compared in whole cents at their
//! USD value (foreign currency converted, 1010.100). A cash purchase of a
//! monetary instrument is cash in. The day is the business day of
//! 1010.313 (posting cut-off, weekends and holidays roll forward).
//!
//! A customer designated an exempt person (`ctr_exempt`, 31 CFR 1020.315)
//! gets no CTR finding; an issue says why, and that SAR obligations are
//! unaffected (1020.315(h)).

use super::data::in_force;
use super::{
    ActionCode, CashClass, Ctx, Finding, RuleIssue, Severity, calendar_deadline, cents, fmt_amount,
    fmt_usd,
};

pub const REGULATIONS: [&str; 4] = [
    "31 CFR 1010.311",
    "31 CFR 1010.313",
    "31 CFR 1010.306",
    "31 CFR 1010.430",
];

pub const RETRIEVAL_QUERY: &str = "currency transaction report CTR filing obligation transaction in currency cash of more than $10,000 aggregation of multiple cash deposits or withdrawals same person same business day cash in and cash out totalled separately filed within 15 days";

pub(super) fn evaluate(ctx: &Ctx<'_>, issues: &mut Vec<RuleIssue>) -> Option<Finding> {
    let params = in_force(&ctx.cfg.ctr, ctx.as_of)?;
    let class = CashClass::of(ctx.tx.transaction_type)?;
    let threshold = cents(params.threshold_usd);
    let day = ctx.business_day;

    let mut pieces: Vec<_> = std::iter::once(ctx.tx)
        .chain(ctx.history.iter().copied().filter(|t| {
            CashClass::of(t.transaction_type) == Some(class) && ctx.business_date(t) == day
        }))
        .filter(|t| ctx.usd(t).is_some())
        .collect();
    pieces.sort_by(|a, b| {
        a.timestamp
            .cmp(&b.timestamp)
            .then(a.transaction_id.cmp(&b.transaction_id))
    });
    let total: i64 = pieces.iter().map(|t| ctx.usd_or_zero(t)).sum();
    if total <= threshold {
        return None;
    }
    if ctx.customer.ctr_exempt {
        issues.push(RuleIssue {
            title: "No CTR: the customer is a designated exempt person".into(),
            explanation: format!(
                "Customer {}'s {} on business day {day} totals {}, more than {}, but the customer is designated an exempt person, so no Currency Transaction Report is required (31 CFR 1020.315(a)). Confirm the designation (FinCEN DOEP report) is in place and its annual review is current (1020.315(c), (d)), and that the customer is not acting as agent for someone else (1020.315(f)). Suspicious activity reporting is unaffected (1020.315(h)).",
                ctx.customer.customer_id,
                class.label(),
                fmt_usd(total),
                fmt_usd(threshold),
            ),
            severity: Severity::Low,
            regulations: vec!["31 CFR 1020.315".into(), "31 CFR 1010.311".into()],
            policies: Vec::new(),
            requires_review: false,
        });
        return None;
    }

    let kind = match class {
        CashClass::In => "Cash deposit",
        CashClass::Out => "Cash withdrawal",
    };
    let description = if pieces.len() == 1 {
        format!(
            "{kind} {} of {} by customer {} on business day {day} is a transaction in currency of more than {} and must be reported on a Currency Transaction Report (FinCEN Form 112).{}{}",
            ctx.tx.transaction_id,
            fmt_amount(ctx.tx),
            ctx.customer.customer_id,
            fmt_usd(threshold),
            ctx.currency_note(),
            retention(ctx),
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
            "Customer {}'s {} on business day {day} totals {} across {} transactions ({list}), more than {}. Aggregated as a single transaction under 31 CFR 1010.313 (all branches; cash in and cash out are totalled separately, never netted; cash after the posting cut-off, on weekends and holidays belongs to the next business day); one Currency Transaction Report (FinCEN Form 112) covers the day.{}{}",
            ctx.customer.customer_id,
            class.label(),
            fmt_usd(total),
            pieces.len(),
            fmt_usd(threshold),
            ctx.currency_note_for(pieces.iter().copied()),
            retention(ctx),
        )
    };

    // 31 CFR 1010.306(a)(1): within 15 days following the business day.
    let (deadline, due_on) = calendar_deadline("", day, params.filing_deadline_days);
    Some(Finding {
        code: ActionCode::CtrFiling,
        title: "File a Currency Transaction Report (CTR)".into(),
        description,
        deadline: Some(deadline),
        due_on: Some(due_on),
        regulations: REGULATIONS.iter().map(|s| (*s).to_owned()).collect(),
        policies: Vec::new(),
        retrieval_query: RETRIEVAL_QUERY.into(),
        severity: Severity::Medium,
    })
}

fn retention(ctx: &Ctx<'_>) -> String {
    format!(
        " Keep a copy of the CTR for {} years (31 CFR 1010.430).",
        ctx.cfg.records.bsa_years
    )
}
