//! `TRAVEL_RULE_RECORDS`: funds-transfer recordkeeping and the travel rule.
//!
//! Implements 31 CFR 1020.410(a) (a bank keeps records of each funds
//! transfer of $3,000 or more, as originator's, intermediary or
//! beneficiary's bank) and 31 CFR 1010.410(f) (the transmittor's and
//! intermediary institutions include the transmittor, amount, execution
//! date and recipient information in the transmittal order). The threshold
//! is inclusive: $3,000.00 is covered, $2,999.99 is not (USD value). Only
//! the transaction types listed in rules.toml count as funds transfers:
//! `WIRE`, and `INTERNAL` book transfers, which move funds between two
//! customers of the bank (the bank is then both the originator's and the
//! beneficiary's bank). A transfer whose originator and beneficiary are the
//! same customer of this bank (`counterparty_customer_id` equal to the
//! customer) is excepted (1020.410(a)(6)). ACH, cash, card and check are
//! not funds transfers here.

use super::data::in_force;
use super::{ActionCode, Ctx, Finding, Severity, fmt_amount, fmt_usd};
use crate::domain::{Direction, TransactionType};

pub const REGULATIONS: [&str; 3] = ["31 CFR 1020.410", "31 CFR 1010.410", "31 CFR 1010.430"];

pub const RETRIEVAL_QUERY: &str = "funds transfer wire recordkeeping travel rule transmittal order of $3,000 or more originator beneficiary name address account number amount execution date information must travel with the transfer records retained five years";

pub(super) fn evaluate(ctx: &Ctx<'_>) -> Option<Finding> {
    let p = in_force(&ctx.cfg.travel_rule, ctx.as_of)?;
    if !p.transaction_types.contains(&ctx.tx.transaction_type) {
        return None;
    }
    let same_customer = ctx
        .tx
        .counterparty_customer_id
        .as_deref()
        .map(str::trim)
        .is_some_and(|c| c == ctx.tx.customer_id);
    if same_customer {
        return None; // 1020.410(a)(6): same person, same bank
    }
    let threshold = super::cents(p.threshold_usd);
    // Without a conversion rate the USD value is unknown: an issue says so.
    if ctx.usd(ctx.tx)? < threshold {
        return None;
    }
    let book = ctx.tx.transaction_type == TransactionType::Internal;
    let counterparty = ctx
        .tx
        .counterparty()
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    let role = match ctx.tx.direction {
        _ if book => format!(
            "This book transfer moves funds between two customers of the bank{}, so the bank is both the originator's and the beneficiary's bank: record the originator's name, address and account number, the amount, the execution date, any payment instructions and the beneficiary's details{counterparty}, as for a wire. Only a transfer between accounts of the same customer is excepted.",
            ctx.tx
                .counterparty_customer_id
                .as_deref()
                .map(|c| format!(" ({} and {c})", ctx.tx.customer_id))
                .unwrap_or_default()
        ),
        Direction::Outbound => format!(
            "As the originator's (transmittor's) bank, record the originator's name, address and account number, the amount, the execution date, any payment instructions and the beneficiary's bank and beneficiary details{counterparty}, and include the originator and beneficiary information in the transfer order sent on (travel rule)."
        ),
        Direction::Inbound => format!(
            "As the beneficiary's (recipient's) bank, retain the transfer order received{counterparty} and verify and record the beneficiary's identity if it is not an established customer."
        ),
    };
    let description = format!(
        "{} {} {} of {} from {} to {} on {} is a funds transfer of {} or more. {role} Keep the records for {} years (31 CFR 1010.430).{}",
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
        ctx.cfg.records.bsa_years,
        ctx.currency_note(),
    );
    Some(Finding {
        code: ActionCode::TravelRuleRecords,
        title: "Keep funds-transfer records and pass travel-rule information".into(),
        description,
        deadline: None,
        due_on: None,
        regulations: REGULATIONS.iter().map(|s| (*s).to_owned()).collect(),
        policies: Vec::new(),
        retrieval_query: RETRIEVAL_QUERY.into(),
        severity: Severity::Low,
    })
}
