//! `TRAVEL_RULE_RECORDS`: funds-transfer recordkeeping and the travel rule.
//!
//! Implements 31 CFR 1020.410(a) (a bank keeps records of each funds
//! transfer of $3,000 or more, as originator's, intermediary or
//! beneficiary's bank) and 31 CFR 1010.410(f) (the transmittor's and
//! intermediary institutions include the transmittor, amount, execution
//! date and recipient information in the transmittal order). The threshold
//! is inclusive: $3,000.00 is covered, $2,999.99 is not. Only the
//! transaction types listed in rules.toml count as funds transfers (`WIRE`
//! by default; ACH, cash, card, check and internal book transfers do not).
//! Non-USD amounts are treated as USD-equivalent.

use super::data::in_force;
use super::{ActionCode, Ctx, Finding, Severity, cents, fmt_amount, fmt_usd};
use crate::domain::Direction;

pub const REGULATIONS: [&str; 2] = ["31 CFR 1020.410", "31 CFR 1010.410"];

pub const RETRIEVAL_QUERY: &str = "funds transfer wire recordkeeping travel rule transmittal order of $3,000 or more originator beneficiary name address account number amount execution date information must travel with the transfer records retained five years";

pub(super) fn evaluate(ctx: &Ctx<'_>) -> Option<Finding> {
    let p = in_force(&ctx.cfg.travel_rule, ctx.as_of)?;
    if !p.transaction_types.contains(&ctx.tx.transaction_type) {
        return None;
    }
    let threshold = cents(p.threshold_usd);
    if cents(ctx.tx.amount) < threshold {
        return None;
    }
    let counterparty = ctx
        .tx
        .counterparty()
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    let role = match ctx.tx.direction {
        Direction::Outbound => format!(
            "As the originator's (transmittor's) bank, record the originator's name, address and account number, the amount, the execution date, any payment instructions and the beneficiary's bank and beneficiary details{counterparty}, and include the originator and beneficiary information in the transfer order sent on (travel rule)."
        ),
        Direction::Inbound => format!(
            "As the beneficiary's (recipient's) bank, retain the transfer order received{counterparty} and verify and record the beneficiary's identity if it is not an established customer."
        ),
    };
    let description = format!(
        "{} {} {} of {} from {} to {} on {} is a funds transfer of {} or more. {role} Keep the records for five years.{}",
        match ctx.tx.direction {
            Direction::Outbound => "Outgoing",
            Direction::Inbound => "Incoming",
        },
        ctx.tx.transaction_type,
        ctx.tx.transaction_id,
        fmt_amount(ctx.tx),
        ctx.tx.origin_country,
        ctx.tx.destination_country,
        ctx.as_of,
        fmt_usd(threshold),
        ctx.currency_note(),
    );
    Some(Finding {
        code: ActionCode::TravelRuleRecords,
        title: "Keep funds-transfer records and pass travel-rule information".into(),
        description,
        deadline: None,
        regulations: REGULATIONS.iter().map(|s| (*s).to_owned()).collect(),
        retrieval_query: RETRIEVAL_QUERY.into(),
        severity: Severity::Low,
    })
}
