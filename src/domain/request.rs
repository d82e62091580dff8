//! The wire types of a request (`transaction`, `customer`,
//! `recent_transactions`) and their parsing into the validated types of
//! [`super::valid`].
//!
//! Deserialization is deliberately lenient about *values* (any string is
//! accepted as a country or currency code, any number as an amount) so that
//! `parse` can report which field is wrong. Unknown fields inside
//! `transaction`, `customer` and each `recent_transactions` entry are refused
//! (`deny_unknown_fields`), so a misspelt `counterparty_name` is an error naming
//! the field rather than a transaction silently left unscreened.

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};

use super::valid::{ValidCustomer, ValidRuleInput, ValidTransaction};
use super::{CountryCode, CurrencyCode, CustomerType, Direction, KycStatus, Money, MoneyError, PepType, RiskRating, TransactionType, ValidationError};

/// One transaction, as sent by the caller: `A` is the amount as read from the
/// wire (`f64`, the default). A [`ValidTransaction`] holds a `Transaction<Money>`,
/// the same fields with the amount exact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
#[schema(bound = "")]
pub struct Transaction<A = f64> {
    pub transaction_id: String,
    pub customer_id: String,
    /// Amount in `currency` units. The rules convert other currencies to
    /// USD with the dated rate table of rules.toml (31 CFR 1010.100
    /// currency includes foreign currency); without a rate they say so.
    #[schema(value_type = f64, exclusive_minimum = 0)]
    pub amount: A,
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
    /// The validated transaction, or the first problem (fields named `transaction.…`).
    pub fn parse(&self) -> Result<ValidTransaction, ValidationError> {
        self.parse_at("transaction")
    }

    /// [`Transaction::parse`] with field names under `prefix`, e.g. `recent_transactions[2]`.
    pub fn parse_at(&self, prefix: &str) -> Result<ValidTransaction, ValidationError> {
        let mut errors = Vec::new();
        self.check(prefix, &mut errors).ok_or_else(|| first(errors))
    }

    /// Appends every problem found; the validated transaction when there is none.
    fn check(&self, prefix: &str, out: &mut Vec<ValidationError>) -> Option<ValidTransaction> {
        let n_before = out.len();
        let f = |name: &str| format!("{prefix}.{name}");
        if self.transaction_id.trim().is_empty() {
            out.push(ValidationError::new(f("transaction_id"), "must not be empty"));
        }
        if self.customer_id.trim().is_empty() {
            out.push(ValidationError::new(f("customer_id"), "must not be empty"));
        }
        let amount = parse_amount(self.amount).map_err(|m| out.push(ValidationError::new(f("amount"), m))).ok();
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
        let amount = amount.filter(|_| out.len() == n_before)?;
        Some(ValidTransaction::new(Transaction {
            transaction_id: self.transaction_id.clone(),
            customer_id: self.customer_id.clone(),
            amount,
            currency: self.currency.clone(),
            transaction_type: self.transaction_type,
            direction: self.direction,
            origin_country: self.origin_country.clone(),
            destination_country: self.destination_country.clone(),
            counterparty_name: self.counterparty_name.clone(),
            counterparty_customer_id: self.counterparty_customer_id.clone(),
            description: self.description.clone(),
            timestamp: self.timestamp,
            risk_score: self.risk_score,
        }))
    }
}

impl<A> Transaction<A> {
    /// `counterparty_name` if present and not blank.
    pub fn counterparty(&self) -> Option<&str> {
        self.counterparty_name
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
}

/// A wire amount as exact [`Money`]: finite, greater than zero, at most
/// [`MAX_AMOUNT`] (both bounds are exact `f64`s, so comparing the `f64` is
/// exact), read through its shortest text. `Err` is the message.
fn parse_amount(amount: f64) -> Result<Money, String> {
    if !amount.is_finite() {
        return Err(MoneyError::NotFinite.to_string());
    }
    if amount <= 0.0 {
        return Err(format!("must be greater than zero (got {amount})"));
    }
    if amount > MAX_AMOUNT {
        return Err(format!("must not exceed {MAX_AMOUNT:e}"));
    }
    Money::from_f64(amount).map_err(|e| e.to_string())
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

/// Largest accepted amount (keeps cent arithmetic exact in `i64`), as written
/// in the error message (`1e13`).
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
    /// The validated customer, or the first problem (fields named `customer.…`).
    pub fn parse(&self) -> Result<ValidCustomer, ValidationError> {
        self.parse_at("customer")
    }

    /// [`Customer::parse`] with field names under `prefix`, e.g. `customers[3]`.
    pub fn parse_at(&self, prefix: &str) -> Result<ValidCustomer, ValidationError> {
        let mut errors = Vec::new();
        self.check(prefix, &mut errors).ok_or_else(|| first(errors))
    }

    /// Appends every problem found; the validated customer when there is none.
    fn check(&self, prefix: &str, out: &mut Vec<ValidationError>) -> Option<ValidCustomer> {
        let n_before = out.len();
        if self.customer_id.trim().is_empty() {
            out.push(ValidationError::new(format!("{prefix}.customer_id"), "must not be empty"));
        }
        if self.name.trim().is_empty() {
            out.push(ValidationError::new(format!("{prefix}.name"), "must not be empty"));
        }
        if let Err(m) = self.country.check() {
            out.push(ValidationError::new(format!("{prefix}.country"), m));
        }
        if self.pep_type.is_some() && !self.is_pep {
            out.push(ValidationError::new(format!("{prefix}.pep_type"), "is only meaningful when is_pep is true"));
        }
        (out.len() == n_before).then(|| ValidCustomer::new(self.clone()))
    }
}

/// Input of the rules engine; also the body of the analyze request.
///
/// `recent_transactions` are the same customer's earlier transactions, used
/// for same-business-day aggregation (CTR) and pattern rules (structuring).
/// Entries for another customer, or repeating the current
/// `transaction_id`, are ignored by the engine.
///
/// `T` and `C` are the wire types by default; a [`ValidRuleInput`] holds a
/// `RuleInput<ValidTransaction, ValidCustomer>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleInput<T = Transaction, C = Customer> {
    pub transaction: T,
    pub customer: C,
    #[serde(default = "Vec::new")]
    pub recent_transactions: Vec<T>,
    /// Screen names against the newest sanctions list version instead of the one in
    /// force on the transaction's date (a lookback review of past activity).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sanctions_lookback: bool,
}

impl RuleInput {
    /// The validated input, or the first problem found.
    pub fn parse(&self) -> Result<ValidRuleInput, ValidationError> {
        let mut errors = Vec::new();
        self.check(&mut errors).ok_or_else(|| first(errors))
    }

    fn check(&self, out: &mut Vec<ValidationError>) -> Option<ValidRuleInput> {
        let transaction = self.transaction.check("transaction", out);
        let customer = self.customer.check("customer", out);
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
        let recent: Vec<Option<ValidTransaction>> = self
            .recent_transactions
            .iter()
            .enumerate()
            .map(|(i, t)| t.check(&format!("recent_transactions[{i}]"), out))
            .collect();
        let recent: Option<Vec<ValidTransaction>> = recent.into_iter().collect();
        ValidRuleInput::new(transaction?, customer?, recent?, self.sanctions_lookback).ok()
    }
}

fn first(errors: Vec<ValidationError>) -> ValidationError {
    errors
        .into_iter()
        .next()
        .unwrap_or_else(|| ValidationError::new("request", "is not valid"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ISO_3166_1_ALPHA2, ISO_4217_ACTIVE, is_iso_country};

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
        assert!(input.parse().is_ok());
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
            let err = input.parse().err();
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
            input.parse().err().map(|e| e.field).as_deref(),
            Some("transaction.amount")
        );
        input.transaction.amount = f64::INFINITY;
        assert!(input.parse().is_err());
        let mut input = sample();
        input.customer.customer_id = "C2".into();
        assert_eq!(
            input.parse().err().map(|e| e.field).as_deref(),
            Some("transaction.customer_id")
        );
        let mut input = sample();
        let mut bad = input.transaction.clone();
        bad.amount = -1.0;
        input.recent_transactions.push(bad);
        assert_eq!(
            input.parse().err().map(|e| e.field).as_deref(),
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
            input.parse().err().map(|e| e.field).as_deref(),
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
        input.transaction.currency = serde_json::from_value(serde_json::json!("ZZZ")).unwrap();
        assert_eq!(
            input.parse().err().map(|e| e.field).as_deref(),
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
            input.parse().err().map(|e| e.field).as_deref(),
            Some("transaction.timestamp")
        );
        let mut input = sample();
        let mut old = input.transaction.clone();
        old.timestamp = at("1900-01-01T00:00:00Z");
        input.recent_transactions.push(old);
        assert_eq!(
            input.parse().err().map(|e| e.field).as_deref(),
            Some("recent_transactions[0].timestamp")
        );
    }
}
