//! The transaction domain: what a request says about a transaction and its
//! customer, and the validated form everything past the front doors works on.
//!
//! Parse, don't validate: the wire types of [`request`] ([`Transaction`],
//! [`Customer`], [`RuleInput`]) are what serde decodes (unknown fields refused,
//! values taken leniently so that a bad one can be reported by field name), and
//! [`RuleInput::parse`] turns one into a [`ValidRuleInput`] of [`valid`], the
//! only way to obtain one. The rules engine, retrieval queries, the generation
//! prompt and the case view take the validated types, so none of them checks
//! again. A refused request gets a [`ValidationError`] naming the field, e.g.
//! `transaction.amount` or `recent_transactions[2].origin_country`.
//!
//! | module      | owns |
//! |-------------|------|
//! | `money.rs`  | [`Money`], exact decimal amounts: read from JSON numbers through their shortest text, printed as `$10,000.01` |
//! | `codes.rs`  | [`CountryCode`] (ISO 3166-1 alpha-2, all 249 assigned codes) and [`CurrencyCode`] (active ISO 4217 codes) |
//! | `request.rs`| the wire types, their checks and the accepted time range ([`check_timestamp`]) |
//! | `valid.rs`  | the validated types, built only by the wire types' `parse` |
//!
//! Enums travel in `SCREAMING_SNAKE_CASE`. Nothing here does I/O; `parse` reads the
//! clock only for the accepted time range.

mod codes;
mod decode;
mod money;
pub mod request;
pub mod valid;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use codes::{CountryCode, CurrencyCode, ISO_3166_1_ALPHA2, ISO_4217_ACTIVE, is_iso_country, is_iso_currency};
pub use decode::{DecodeError, decode};
pub use money::{Money, MoneyError};
pub use request::{Customer, MAX_AMOUNT, MAX_FUTURE_DAYS, RuleInput, Transaction, check_timestamp};
pub use valid::{ValidCustomer, ValidRuleInput, ValidTransaction};

/// A request field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// Dotted path of the field, e.g. `transaction.amount` or
    /// `recent_transactions[2].origin_country`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Kind of transaction. `CASH_DEPOSIT`, `CASH_WITHDRAWAL` and
/// `MONETARY_INSTRUMENT_PURCHASE` (a bank check or draft, cashier's check,
/// money order or traveler's check bought with currency) are transactions
/// in currency (31 CFR 1010.100(m), 1010.311, 1010.313(b)); `WIRE` and
/// `INTERNAL` (a book transfer between accounts at this bank) are funds
/// transfers for the travel rule (1020.410), unless both ends are the same
/// customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[derive(utoipa::ToSchema)]
pub enum TransactionType {
    Wire,
    Ach,
    CashDeposit,
    CashWithdrawal,
    Card,
    Check,
    Internal,
    MonetaryInstrumentPurchase,
}

impl TransactionType {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Wire => "WIRE",
            Self::Ach => "ACH",
            Self::CashDeposit => "CASH_DEPOSIT",
            Self::CashWithdrawal => "CASH_WITHDRAWAL",
            Self::Card => "CARD",
            Self::Check => "CHECK",
            Self::Internal => "INTERNAL",
            Self::MonetaryInstrumentPurchase => "MONETARY_INSTRUMENT_PURCHASE",
        }
    }
}

impl fmt::Display for TransactionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Direction of the funds relative to the institution's customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[derive(utoipa::ToSchema)]
pub enum Direction {
    Inbound,
    Outbound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[derive(utoipa::ToSchema)]
pub enum CustomerType {
    Individual,
    Business,
}

/// The institution's own customer risk rating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[derive(utoipa::ToSchema)]
pub enum RiskRating {
    Low,
    Medium,
    High,
}

impl RiskRating {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Low => "LOW",
            Self::Medium => "MEDIUM",
            Self::High => "HIGH",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[derive(utoipa::ToSchema)]
pub enum KycStatus {
    Complete,
    Pending,
    Expired,
}

/// Whether a politically exposed person holds (or held) office abroad or at
/// home. Only senior foreign political figures are covered by 31 CFR
/// 1010.605(p) / 1010.620; domestic PEPs get risk-based due diligence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[derive(utoipa::ToSchema)]
pub enum PepType {
    Foreign,
    Domestic,
}

impl PepType {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Foreign => "FOREIGN",
            Self::Domestic => "DOMESTIC",
        }
    }
}

impl KycStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "COMPLETE",
            Self::Pending => "PENDING",
            Self::Expired => "EXPIRED",
        }
    }
}

/// The field a serde data error is about, from its path (`transaction.amount`,
/// `.` or empty for the root) and message: serde reports a missing field, and an
/// unknown one (`deny_unknown_fields`), at the parent's path with the name in the
/// message. `None` when the root itself is wrong.
pub fn serde_field(path: &str, message: &str) -> Option<String> {
    let root = path == "." || path.is_empty();
    let quoted = |prefix: &str| {
        let rest = message.strip_prefix(prefix)?;
        Some(rest[..rest.find('`')?].to_string())
    };
    let unknown = quoted("unknown field `").filter(|name| !(path == name || path.ends_with(&format!(".{name}"))));
    match (quoted("missing field `").or(unknown), root) {
        (Some(name), true) => Some(name),
        (Some(name), false) => Some(format!("{path}.{name}")),
        (None, true) => None,
        (None, false) => Some(path.to_string()),
    }
}
