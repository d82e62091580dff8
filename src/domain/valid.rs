//! The validated request: [`ValidTransaction`], [`ValidCustomer`] and
//! [`ValidRuleInput`], what the rules engine, the retrieval queries, the
//! generation prompt and the case view take.
//!
//! Each wraps the wire type's fields (the transaction's amount as exact
//! [`Money`]) and can be built only by the wire types' `parse` (and
//! [`ValidRuleInput::new`] from validated parts): the wrapped value is private,
//! read through `Deref`, and there is no `DerefMut`, so a validated value cannot
//! be changed into an invalid one. Serialization is the wire format's.

use std::ops::Deref;

use serde::Serialize;

use super::{Customer, Money, RuleInput, Transaction, ValidationError};

/// A transaction that passed [`Transaction::parse`]: ids not blank, amount exact,
/// greater than zero and at most [`super::MAX_AMOUNT`], ISO currency and
/// countries, time in the accepted range, risk score in 0..=1.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ValidTransaction(Transaction<Money>);

impl ValidTransaction {
    pub(super) fn new(transaction: Transaction<Money>) -> Self {
        Self(transaction)
    }

    /// The wire form (the amount as the nearest `f64`, which is the one it was
    /// read from).
    pub fn to_wire(&self) -> Transaction {
        let t = &self.0;
        Transaction {
            transaction_id: t.transaction_id.clone(),
            customer_id: t.customer_id.clone(),
            amount: t.amount.to_f64(),
            currency: t.currency.clone(),
            transaction_type: t.transaction_type,
            direction: t.direction,
            origin_country: t.origin_country.clone(),
            destination_country: t.destination_country.clone(),
            counterparty_name: t.counterparty_name.clone(),
            counterparty_customer_id: t.counterparty_customer_id.clone(),
            description: t.description.clone(),
            timestamp: t.timestamp,
            risk_score: t.risk_score,
        }
    }
}

impl Deref for ValidTransaction {
    type Target = Transaction<Money>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// A customer that passed [`Customer::parse`]: id and name not blank, ISO
/// country, `pep_type` only for a PEP.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ValidCustomer(Customer);

impl ValidCustomer {
    pub(super) fn new(customer: Customer) -> Self {
        Self(customer)
    }
}

impl Deref for ValidCustomer {
    type Target = Customer;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// A rules-engine input that passed [`RuleInput::parse`]: every transaction and
/// the customer valid, and the transaction the customer's.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ValidRuleInput(RuleInput<ValidTransaction, ValidCustomer>);

impl ValidRuleInput {
    /// The input of validated parts; `Err` names `transaction.customer_id` when
    /// the transaction is not the customer's.
    pub fn new(
        transaction: ValidTransaction,
        customer: ValidCustomer,
        recent_transactions: Vec<ValidTransaction>,
        sanctions_lookback: bool,
    ) -> Result<Self, ValidationError> {
        if transaction.customer_id != customer.customer_id {
            return Err(ValidationError::new(
                "transaction.customer_id",
                format!(
                    "{:?} does not match customer.customer_id {:?}",
                    transaction.customer_id, customer.customer_id
                ),
            ));
        }
        Ok(Self(RuleInput { transaction, customer, recent_transactions, sanctions_lookback }))
    }
}

impl Deref for ValidRuleInput {
    type Target = RuleInput<ValidTransaction, ValidCustomer>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire() -> RuleInput {
        serde_json::from_value(serde_json::json!({
            "transaction": {
                "transaction_id": "T1", "customer_id": "C1", "amount": 10000.01,
                "currency": "USD", "transaction_type": "CASH_DEPOSIT", "direction": "INBOUND",
                "origin_country": "US", "destination_country": "US",
                "timestamp": "2026-03-10T14:20:00Z"
            },
            "customer": {
                "customer_id": "C1", "name": "Jane Doe", "customer_type": "INDIVIDUAL",
                "risk_rating": "LOW", "kyc_status": "COMPLETE", "is_pep": false, "country": "US"
            },
            "recent_transactions": [{
                "transaction_id": "T0", "customer_id": "C1", "amount": 0.1,
                "currency": "EUR", "transaction_type": "WIRE", "direction": "OUTBOUND",
                "origin_country": "US", "destination_country": "DE",
                "timestamp": "2026-03-09T14:20:00-05:00", "risk_score": 0.5
            }]
        }))
        .unwrap()
    }

    #[test]
    fn parsed_amounts_are_exact_and_serialize_as_they_came() {
        let raw = wire();
        let valid = raw.parse().unwrap();
        assert_eq!(valid.transaction.amount, "10000.01".parse::<Money>().unwrap());
        assert_eq!(valid.recent_transactions[0].amount.to_string(), "0.1");
        assert_eq!(serde_json::to_value(&valid).unwrap(), serde_json::to_value(&raw).unwrap());
        assert_eq!(valid.transaction.to_wire(), raw.transaction);
    }

    #[test]
    fn parts_must_belong_to_the_same_customer() {
        let raw = wire();
        let transaction = raw.transaction.parse().unwrap();
        let mut other = raw.customer.clone();
        other.customer_id = "C2".into();
        let err = ValidRuleInput::new(transaction, other.parse().unwrap(), Vec::new(), false).unwrap_err();
        assert_eq!(err.field, "transaction.customer_id");
    }

    #[test]
    fn bad_amounts_are_refused_with_the_field_named() {
        for (amount, message) in [
            (f64::NAN, "must be a finite number"),
            (f64::INFINITY, "must be a finite number"),
            (-5.0, "must be greater than zero (got -5)"),
            (0.0, "must be greater than zero (got 0)"),
            (1e13 + 0.01, "must not exceed 1e13"),
            (1e-30, "cannot be represented as an exact decimal"),
        ] {
            let mut raw = wire();
            raw.recent_transactions[0].amount = amount;
            let err = raw.parse().unwrap_err();
            assert_eq!(err.field, "recent_transactions[0].amount", "{amount}");
            assert!(err.message.contains(message), "{amount}: {}", err.message);
        }
        assert!(Money::from_f64(1e13).is_ok());
    }
}
