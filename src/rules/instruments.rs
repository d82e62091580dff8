//! `MONETARY_INSTRUMENT_RECORD`: cash purchases of monetary instruments.
//!
//! Implements 31 CFR 1010.415: a bank may not issue or sell a bank check or
//! draft, cashier's check, money order or traveler's check for currency in
//! amounts from $3,000 to $10,000 inclusive unless it verifies the
//! purchaser's identity and records the purchase (name, address, date of
//! birth or account number, date, type, serial numbers and amounts of the
//! instruments). Contemporaneous purchases on one business day that
//! together reach $3,000 are treated as one purchase (1010.415(b)). The
//! record is kept five years (1010.430). A cash purchase above $10,000 is a
//! transaction in currency reported on a CTR instead (`ctr.rs`); the
//! band is rules.toml `[[monetary_instruments]]`, compared at USD value.

use super::data::in_force;
use super::{ActionCode, Ctx, Finding, Severity, cents, fmt_amount, fmt_usd};
use crate::domain::TransactionType;

pub const REGULATIONS: [&str; 2] = ["31 CFR 1010.415", "31 CFR 1010.430"];

pub const RETRIEVAL_QUERY: &str = "purchase of bank checks drafts cashier's checks money orders traveler's checks with currency $3,000 to $10,000 inclusive verify purchaser identity record name address date of birth serial number monetary instrument log";

pub(super) fn evaluate(ctx: &Ctx<'_>) -> Option<Finding> {
    let p = in_force(&ctx.cfg.monetary_instruments, ctx.as_of)?;
    if ctx.tx.transaction_type != TransactionType::MonetaryInstrumentPurchase {
        return None;
    }
    let (min, max) = (cents(p.min_usd), cents(p.max_usd));
    let day = ctx.business_day;
    let mut purchases: Vec<_> = std::iter::once(ctx.tx)
        .chain(ctx.history.iter().copied().filter(|t| {
            t.transaction_type == TransactionType::MonetaryInstrumentPurchase
                && ctx.business_date(t) == day
        }))
        .collect();
    purchases.sort_by(|a, b| a.timestamp.cmp(&b.timestamp));
    // Without a conversion rate the USD value is unknown: an issue says so.
    let total: i64 = purchases.iter().map(|t| ctx.usd(t)).sum::<Option<i64>>()?;
    if total < min || total > max {
        return None;
    }
    let what = if purchases.len() == 1 {
        format!(
            "Cash purchase {} of monetary instruments for {}",
            ctx.tx.transaction_id,
            fmt_amount(ctx.tx)
        )
    } else {
        format!(
            "Contemporaneous cash purchases of monetary instruments on business day {day} total {} ({}), treated as one purchase",
            fmt_usd(total),
            purchases
                .iter()
                .map(|t| format!("{} {}", t.transaction_id, fmt_amount(t)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Some(Finding {
        code: ActionCode::MonetaryInstrumentRecord,
        title: "Record the cash purchase of monetary instruments".into(),
        description: format!(
            "{what} by customer {} is between {} and {} inclusive. Before issuing the bank checks, cashier's checks, money orders or traveler's checks, verify the purchaser's identity and record the purchaser's name and address (and, for a purchaser without a deposit account, date of birth and identification), the date of purchase, the type of instrument, the serial numbers and the amount of each. Keep the record for {} years (31 CFR 1010.430) and produce it on request.{}",
            ctx.customer.customer_id,
            fmt_usd(min),
            fmt_usd(max),
            ctx.cfg.records.bsa_years,
            ctx.currency_note_for(purchases.iter().copied()),
        ),
        deadline: Some("at the time of purchase, before the instruments are issued".into()),
        // The record is made at the purchase: due on the transaction's date.
        due_on: Some(ctx.as_of),
        regulations: REGULATIONS.iter().map(|s| (*s).to_owned()).collect(),
        policies: Vec::new(),
        retrieval_query: RETRIEVAL_QUERY.into(),
        severity: Severity::Low,
    })
}
