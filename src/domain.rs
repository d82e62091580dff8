//! The typed request domain: transactions, customers and the rules-engine
//! input, exactly as they appear on the wire.
//!
//! This module owns:
//! - the serde wire format of a request (`transaction`, `customer`,
//!   `recent_transactions`), with enums in `SCREAMING_SNAKE_CASE`;
//! - the [`CountryCode`] (ISO 3166-1 alpha-2, checked against the complete
//!   list of 249 officially assigned codes) and [`CurrencyCode`] (ISO 4217, checked
//!   against the active codes in [`ISO_4217_ACTIVE`]) newtypes;
//! - the accepted range of transaction times ([`check_timestamp`]): from
//!   1970-01-01 to [`MAX_FUTURE_DAYS`] days after now;
//! - input validation ([`ValidationError`] names the offending field, e.g.
//!   `transaction.amount`).
//!
//! Deserialization is deliberately lenient about *values* (any string is
//! accepted as a country or currency code, any number as an amount) so that
//! [`RuleInput::validate`] can report which field is wrong; callers must run
//! `validate` before trusting a request. Unknown fields inside `transaction`,
//! `customer` and each `recent_transactions` entry are refused
//! (`deny_unknown_fields`), so a misspelt `counterparty_name` is an error
//! naming the field rather than a transaction silently left unscreened.

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};

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

/// All 249 officially assigned ISO 3166-1 alpha-2 codes (sorted, so lookups
/// use binary search). User-assigned codes such as `XK` are not included.
pub const ISO_3166_1_ALPHA2: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// True if `code` is an officially assigned ISO 3166-1 alpha-2 code
/// (uppercase, exactly as listed).
pub fn is_iso_country(code: &str) -> bool {
    ISO_3166_1_ALPHA2.binary_search(&code).is_ok()
}

/// An ISO 3166-1 alpha-2 country code.
///
/// [`CountryCode::parse`] validates; deserialization keeps the raw string so
/// that [`Transaction::validate`] / [`Customer::validate`] can report the
/// field. Use [`CountryCode::is_valid`] before relying on a deserialized one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CountryCode(String);

impl CountryCode {
    /// A validated country code (uppercase alpha-2 from the ISO list).
    pub fn parse(code: &str) -> Result<Self, ValidationError> {
        let c = Self(code.to_owned());
        match c.check() {
            Ok(()) => Ok(c),
            Err(message) => Err(ValidationError::new("country", message)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_valid(&self) -> bool {
        self.check().is_ok()
    }

    fn check(&self) -> Result<(), String> {
        if is_iso_country(&self.0) {
            Ok(())
        } else {
            Err(format!(
                "{:?} is not an ISO 3166-1 alpha-2 country code (two uppercase letters, e.g. \"US\")",
                self.0
            ))
        }
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The active ISO 4217 alphabetic codes (list one, amendments to 2025), sorted:
/// national currencies, the fund codes (`BOV`, `CHE`, `CHW`, `CLF`, `COU`, `MXV`,
/// `USN`, `UYI`, `UYW`), precious metals, `XDR`, `XSU`, `XUA` and the bond-market
/// units. Left out: `XTS` (testing) and `XXX` (no currency), which no transaction is
/// in, and withdrawn codes such as `HRK`, `ANG` (now `XCG`), `SLL` (now `SLE`) and
/// `ZWL` (now `ZWG`).
pub const ISO_4217_ACTIVE: [&str; 175] = [
    "AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BHD",
    "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF",
    "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUP", "CVE", "CZK", "DJF",
    "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP",
    "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR",
    "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT",
    "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP",
    "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR",
    "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB",
    "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN",
    "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH",
    "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST", "XAF",
    "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG", "XDR", "XOF", "XPD", "XPF", "XPT",
    "XSU", "XUA", "YER", "ZAR", "ZMW", "ZWG",
];

/// True if `code` is an active ISO 4217 code (uppercase, exactly as listed).
pub fn is_iso_currency(code: &str) -> bool {
    ISO_4217_ACTIVE.binary_search(&code).is_ok()
}

/// A currency code from the ISO 4217 list ([`ISO_4217_ACTIVE`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CurrencyCode(String);

impl CurrencyCode {
    pub fn parse(code: &str) -> Result<Self, ValidationError> {
        let c = Self(code.to_owned());
        match c.check() {
            Ok(()) => Ok(c),
            Err(message) => Err(ValidationError::new("currency", message)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_valid(&self) -> bool {
        self.check().is_ok()
    }

    pub fn is_usd(&self) -> bool {
        self.0 == "USD"
    }

    fn check(&self) -> Result<(), String> {
        if is_iso_currency(&self.0) {
            Ok(())
        } else {
            Err(format!(
                "{:?} is not an active ISO 4217 currency code (three uppercase letters, e.g. \"USD\")",
                self.0
            ))
        }
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One transaction, as sent by the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct Transaction {
    pub transaction_id: String,
    pub customer_id: String,
    /// Amount in `currency` units. The rules convert other currencies to
    /// USD with the dated rate table of rules.toml (31 CFR 1010.100
    /// currency includes foreign currency); without a rate they say so.
    #[schema(value_type = f64, exclusive_minimum = 0)]
    pub amount: f64,
    #[schema(value_type = String, pattern = "^[A-Z]{3}$")]
    pub currency: CurrencyCode,
    pub transaction_type: TransactionType,
    pub direction: Direction,
    #[schema(value_type = String, example = "US")]
    pub origin_country: CountryCode,
    #[schema(value_type = String, example = "US")]
    pub destination_country: CountryCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterparty_name: Option<String>,
    /// The counterparty's customer id when it is a customer of this bank
    /// (book transfers); equal to `customer_id` for a transfer between the
    /// customer's own accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterparty_customer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// RFC 3339; the offset is kept.
    pub timestamp: DateTime<FixedOffset>,
    /// Upstream risk score in 0..=1, if the caller has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1)]
    pub risk_score: Option<f64>,
}

impl Transaction {
    /// Validates this transaction with field names prefixed by `transaction.`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut errors = Vec::new();
        self.collect_errors("transaction", &mut errors);
        first(errors)
    }

    /// Appends every problem found, with field names under `prefix`.
    pub fn collect_errors(&self, prefix: &str, out: &mut Vec<ValidationError>) {
        let f = |name: &str| format!("{prefix}.{name}");
        if self.transaction_id.trim().is_empty() {
            out.push(ValidationError::new(
                f("transaction_id"),
                "must not be empty",
            ));
        }
        if self.customer_id.trim().is_empty() {
            out.push(ValidationError::new(f("customer_id"), "must not be empty"));
        }
        if !self.amount.is_finite() {
            out.push(ValidationError::new(f("amount"), "must be a finite number"));
        } else if self.amount <= 0.0 {
            out.push(ValidationError::new(
                f("amount"),
                format!("must be greater than zero (got {})", self.amount),
            ));
        } else if self.amount > MAX_AMOUNT {
            out.push(ValidationError::new(
                f("amount"),
                format!("must not exceed {MAX_AMOUNT:e}"),
            ));
        }
        if let Err(m) = self.currency.check() {
            out.push(ValidationError::new(f("currency"), m));
        }
        if let Err(m) = check_timestamp(&self.timestamp, chrono::Utc::now()) {
            out.push(ValidationError::new(f("timestamp"), m));
        }
        if let Err(m) = self.origin_country.check() {
            out.push(ValidationError::new(f("origin_country"), m));
        }
        if let Err(m) = self.destination_country.check() {
            out.push(ValidationError::new(f("destination_country"), m));
        }
        if let Some(score) = self.risk_score
            && !(score.is_finite() && (0.0..=1.0).contains(&score))
        {
            out.push(ValidationError::new(
                f("risk_score"),
                format!("must be between 0 and 1 inclusive (got {score})"),
            ));
        }
    }

    /// `counterparty_name` if present and not blank.
    pub fn counterparty(&self) -> Option<&str> {
        self.counterparty_name
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
}

/// How many days after now a transaction may be dated (scheduled payments); later
/// dates are typing errors such as year 9999.
pub const MAX_FUTURE_DAYS: i64 = 5 * 365;

/// Whether a transaction time is in the accepted range at `now`: from
/// 1970-01-01T00:00:00Z (nothing in a bank's systems is older) to [`MAX_FUTURE_DAYS`]
/// days after `now`. `Err` says why not.
pub fn check_timestamp(
    timestamp: &DateTime<FixedOffset>,
    now: DateTime<chrono::Utc>,
) -> Result<(), String> {
    let earliest = DateTime::<chrono::Utc>::UNIX_EPOCH;
    let latest = now + chrono::Duration::days(MAX_FUTURE_DAYS);
    if *timestamp < earliest {
        return Err(format!(
            "{} is before 1970-01-01T00:00:00Z",
            timestamp.to_rfc3339()
        ));
    }
    if *timestamp > latest {
        return Err(format!(
            "{} is more than {MAX_FUTURE_DAYS} days in the future (latest accepted: {})",
            timestamp.to_rfc3339(),
            latest.format("%Y-%m-%d")
        ));
    }
    Ok(())
}

/// Largest accepted amount (keeps cent arithmetic exact in `i64`).
pub const MAX_AMOUNT: f64 = 1e13;

/// The institution's customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct Customer {
    pub customer_id: String,
    pub name: String,
    pub customer_type: CustomerType,
    pub risk_rating: RiskRating,
    pub kyc_status: KycStatus,
    pub is_pep: bool,
    /// Foreign or domestic PEP; `None` with `is_pep` means not yet known
    /// (treated as foreign until established).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pep_type: Option<PepType>,
    /// The customer holds a private banking account (31 CFR 1010.605(m)).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub private_banking: bool,
    /// Designated exempt person for currency transaction reporting
    /// (31 CFR 1020.315).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ctr_exempt: bool,
    /// Filing date of the last SAR on this customer's activity, for
    /// continuing-activity reviews (31 CFR 1020.320).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sar_filed_on: Option<NaiveDate>,
    #[schema(value_type = String, example = "US")]
    pub country: CountryCode,
}

impl Customer {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut errors = Vec::new();
        self.collect_errors("customer", &mut errors);
        first(errors)
    }

    pub fn collect_errors(&self, prefix: &str, out: &mut Vec<ValidationError>) {
        if self.customer_id.trim().is_empty() {
            out.push(ValidationError::new(
                format!("{prefix}.customer_id"),
                "must not be empty",
            ));
        }
        if self.name.trim().is_empty() {
            out.push(ValidationError::new(
                format!("{prefix}.name"),
                "must not be empty",
            ));
        }
        if let Err(m) = self.country.check() {
            out.push(ValidationError::new(format!("{prefix}.country"), m));
        }
        if self.pep_type.is_some() && !self.is_pep {
            out.push(ValidationError::new(
                format!("{prefix}.pep_type"),
                "is only meaningful when is_pep is true",
            ));
        }
    }
}

/// Input of the rules engine; also the body of the analyze request.
///
/// `recent_transactions` are the same customer's earlier transactions, used
/// for same-business-day aggregation (CTR) and pattern rules (structuring).
/// Entries for another customer, or repeating the current
/// `transaction_id`, are ignored by the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleInput {
    pub transaction: Transaction,
    pub customer: Customer,
    #[serde(default)]
    pub recent_transactions: Vec<Transaction>,
    /// Screen names against the newest sanctions list version instead of the one in
    /// force on the transaction's date (a lookback review of past activity).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sanctions_lookback: bool,
}

impl RuleInput {
    /// The first problem found, if any.
    pub fn validate(&self) -> Result<(), ValidationError> {
        first(self.validation_errors())
    }

    /// Every problem found (empty when the input is valid).
    pub fn validation_errors(&self) -> Vec<ValidationError> {
        let mut out = Vec::new();
        self.transaction.collect_errors("transaction", &mut out);
        self.customer.collect_errors("customer", &mut out);
        if !self.transaction.customer_id.trim().is_empty()
            && !self.customer.customer_id.trim().is_empty()
            && self.transaction.customer_id != self.customer.customer_id
        {
            out.push(ValidationError::new(
                "transaction.customer_id",
                format!(
                    "{:?} does not match customer.customer_id {:?}",
                    self.transaction.customer_id, self.customer.customer_id
                ),
            ));
        }
        for (i, t) in self.recent_transactions.iter().enumerate() {
            t.collect_errors(&format!("recent_transactions[{i}]"), &mut out);
        }
        out
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

fn first(errors: Vec<ValidationError>) -> Result<(), ValidationError> {
    match errors.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_json() -> serde_json::Value {
        serde_json::json!({
            "transaction": {
                "transaction_id": "T1", "customer_id": "C1", "amount": 15000,
                "currency": "USD", "transaction_type": "CASH_DEPOSIT", "direction": "INBOUND",
                "origin_country": "US", "destination_country": "US", "description": "",
                "timestamp": "2026-03-10T14:20:00Z", "risk_score": 0.1
            },
            "customer": {
                "customer_id": "C1", "name": "Jane Doe", "customer_type": "INDIVIDUAL",
                "risk_rating": "LOW", "kyc_status": "COMPLETE", "is_pep": false, "country": "US"
            }
        })
    }

    fn sample() -> RuleInput {
        match serde_json::from_value(sample_json()) {
            Ok(v) => v,
            Err(e) => panic!("sample must deserialize: {e}"),
        }
    }

    #[test]
    fn iso_list_is_sorted_unique_and_complete() {
        assert!(ISO_3166_1_ALPHA2.windows(2).all(|w| w[0] < w[1]));
        for c in [
            "US", "UA", "CU", "IR", "KP", "SY", "MM", "AX", "SS", "ZW", "BQ",
        ] {
            assert!(is_iso_country(c), "{c}");
        }
        for c in ["XK", "UK", "us", "USA", "", "ZZ"] {
            assert!(!is_iso_country(c), "{c}");
        }
    }

    #[test]
    fn wire_format_round_trips() {
        let input = sample();
        assert_eq!(
            input.transaction.transaction_type,
            TransactionType::CashDeposit
        );
        assert!(input.recent_transactions.is_empty());
        assert_eq!(input.transaction.counterparty_name, None);
        let back =
            serde_json::to_value(&input).map(|v| v["transaction"]["transaction_type"].clone());
        assert_eq!(back.ok(), Some(serde_json::json!("CASH_DEPOSIT")));
        assert!(input.validate().is_ok());
    }

    #[test]
    fn validation_names_the_field() {
        let cases: Vec<(&str, serde_json::Value, &str)> = vec![
            (
                "/transaction/amount",
                serde_json::json!(-5),
                "transaction.amount",
            ),
            (
                "/transaction/amount",
                serde_json::json!(0),
                "transaction.amount",
            ),
            (
                "/transaction/currency",
                serde_json::json!("usd"),
                "transaction.currency",
            ),
            (
                "/transaction/currency",
                serde_json::json!("US"),
                "transaction.currency",
            ),
            (
                "/transaction/origin_country",
                serde_json::json!("XX"),
                "transaction.origin_country",
            ),
            (
                "/transaction/destination_country",
                serde_json::json!("UK"),
                "transaction.destination_country",
            ),
            (
                "/transaction/risk_score",
                serde_json::json!(1.5),
                "transaction.risk_score",
            ),
            (
                "/transaction/risk_score",
                serde_json::json!(-0.1),
                "transaction.risk_score",
            ),
            (
                "/transaction/transaction_id",
                serde_json::json!("  "),
                "transaction.transaction_id",
            ),
            (
                "/customer/customer_id",
                serde_json::json!(""),
                "customer.customer_id",
            ),
            (
                "/customer/country",
                serde_json::json!("ABC"),
                "customer.country",
            ),
        ];
        for (ptr, value, field) in cases {
            let mut v = sample_json();
            if let Some(slot) = v.pointer_mut(ptr) {
                *slot = value.clone();
            }
            let input: RuleInput = match serde_json::from_value(v) {
                Ok(i) => i,
                Err(e) => panic!("{ptr}={value}: {e}"),
            };
            let err = input.validate().err();
            assert_eq!(
                err.map(|e| e.field),
                Some(field.to_owned()),
                "{ptr}={value}"
            );
        }
    }

    #[test]
    fn non_finite_amount_and_mismatched_customer_are_rejected() {
        let mut input = sample();
        input.transaction.amount = f64::NAN;
        assert_eq!(
            input.validate().err().map(|e| e.field).as_deref(),
            Some("transaction.amount")
        );
        input.transaction.amount = f64::INFINITY;
        assert!(input.validate().is_err());
        let mut input = sample();
        input.customer.customer_id = "C2".into();
        assert_eq!(
            input.validate().err().map(|e| e.field).as_deref(),
            Some("transaction.customer_id")
        );
        let mut input = sample();
        let mut bad = input.transaction.clone();
        bad.amount = -1.0;
        input.recent_transactions.push(bad);
        assert_eq!(
            input.validate().err().map(|e| e.field).as_deref(),
            Some("recent_transactions[0].amount")
        );
    }

    #[test]
    fn bad_enum_or_timestamp_fails_to_deserialize() {
        let mut v = sample_json();
        if let Some(slot) = v.pointer_mut("/transaction/transaction_type") {
            *slot = serde_json::json!("BITCOIN");
        }
        assert!(serde_json::from_value::<RuleInput>(v).is_err());
        let mut v = sample_json();
        if let Some(slot) = v.pointer_mut("/transaction/timestamp") {
            *slot = serde_json::json!("10/03/2026");
        }
        assert!(serde_json::from_value::<RuleInput>(v).is_err());
    }

    /// A misspelt `counterparty_name` used to be dropped silently, leaving
    /// the counterparty unscreened (issue 14): unknown fields are refused.
    #[test]
    fn unknown_fields_in_transaction_and_customer_are_refused() {
        for (object, key) in [
            ("transaction", "counterparty_nmae"),
            ("customer", "is_politically_exposed"),
        ] {
            let mut v = sample_json();
            v[object][key] = serde_json::json!("x");
            let err = serde_json::from_value::<RuleInput>(v)
                .err()
                .map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains(key)),
                "{object}.{key}: {err:?}"
            );
        }
        let mut v = sample_json();
        let earlier = v["transaction"].clone();
        v["recent_transactions"] = serde_json::json!([earlier]);
        v["recent_transactions"][0]["amout"] = serde_json::json!(1);
        assert!(serde_json::from_value::<RuleInput>(v).is_err());
    }

    #[test]
    fn new_optional_fields_round_trip_and_pep_type_needs_is_pep() {
        let mut v = sample_json();
        v["customer"]["pep_type"] = serde_json::json!("DOMESTIC");
        v["customer"]["ctr_exempt"] = serde_json::json!(true);
        v["customer"]["last_sar_filed_on"] = serde_json::json!("2026-01-05");
        v["transaction"]["counterparty_customer_id"] = serde_json::json!("C2");
        let input: RuleInput = match serde_json::from_value(v) {
            Ok(i) => i,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(input.customer.pep_type, Some(PepType::Domestic));
        assert_eq!(
            input.validate().err().map(|e| e.field).as_deref(),
            Some("customer.pep_type")
        );
        let back = serde_json::to_value(&input).unwrap_or_default();
        assert_eq!(back["customer"]["ctr_exempt"], serde_json::json!(true));
        assert_eq!(
            back["transaction"]["counterparty_customer_id"],
            serde_json::json!("C2")
        );
        // defaults are left out of the wire format
        let plain = serde_json::to_value(sample()).unwrap_or_default();
        assert!(plain["customer"].get("private_banking").is_none());
    }

    #[test]
    fn parse_constructors_validate() {
        assert!(CountryCode::parse("IT").is_ok());
        assert!(CountryCode::parse("it").is_err());
        assert!(CurrencyCode::parse("EUR").is_ok());
        assert!(CurrencyCode::parse("EURO").is_err());
    }

    #[test]
    fn currencies_are_active_iso_4217_codes() {
        assert!(
            ISO_4217_ACTIVE.windows(2).all(|w| w[0] < w[1]),
            "sorted and unique, for binary search"
        );
        assert!(
            ISO_4217_ACTIVE
                .iter()
                .all(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))
        );
        for ok in [
            "USD", "EUR", "JPY", "GBP", "CHF", "XAU", "XCG", "ZWG", "SLE", "AED", "ZMW",
        ] {
            assert!(CurrencyCode::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["ZZZ", "XXX", "XTS", "HRK", "ABC", "usd", "US", "USDT", ""] {
            assert_eq!(
                CurrencyCode::parse(bad).err().map(|e| e.field).as_deref(),
                Some("currency"),
                "{bad}"
            );
        }
        let mut input = sample();
        input.transaction.currency = CurrencyCode("ZZZ".into());
        assert_eq!(
            input.validate().err().map(|e| e.field).as_deref(),
            Some("transaction.currency")
        );
    }

    #[test]
    fn timestamps_are_within_1970_and_a_few_years_ahead() {
        let now = DateTime::parse_from_rfc3339("2026-12-06T00:00:00Z")
            .unwrap()
            .to_utc();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap();
        for ok in [
            "1970-01-01T00:00:00Z",
            "1970-01-01T01:00:00+01:00",
            "2026-03-10T14:20:00-05:00",
            "2031-12-01T00:00:00Z",
        ] {
            assert_eq!(check_timestamp(&at(ok), now), Ok(()), "{ok}");
        }
        for bad in [
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:00:00+01:00",
            "0001-01-01T00:00:00Z",
            "2032-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
        ] {
            assert!(check_timestamp(&at(bad), now).is_err(), "{bad}");
        }
        let mut input = sample();
        input.transaction.timestamp = at("9999-01-01T00:00:00Z");
        assert_eq!(
            input.validate().err().map(|e| e.field).as_deref(),
            Some("transaction.timestamp")
        );
        let mut input = sample();
        let mut old = input.transaction.clone();
        old.timestamp = at("1900-01-01T00:00:00Z");
        input.recent_transactions.push(old);
        assert_eq!(
            input.validate().err().map(|e| e.field).as_deref(),
            Some("recent_transactions[0].timestamp")
        );
    }
}
