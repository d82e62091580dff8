//! Seed data: customers and transactions to load into an empty (or any) database,
//! in the layout of `seed/demo.json`. The demo file is embedded in the binary.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::DbError;
use crate::domain::{Customer, Transaction};
use crate::rules::ActionCode;

/// `seed/demo.json`, embedded at compile time.
pub const DEMO_SEED_JSON: &str = include_str!("../../seed/demo.json");

/// A seed file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedData {
    /// What the data set is for (free text, not loaded).
    #[serde(default)]
    pub description: String,
    pub customers: Vec<Customer>,
    pub transactions: Vec<Transaction>,
    /// What each transaction (by id) is meant to demonstrate; documentation and
    /// test oracle, not loaded into the database.
    #[serde(default)]
    pub expectations: BTreeMap<String, SeedExpectation>,
}

/// What analysing one seeded transaction (with its stored history) should find.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedExpectation {
    /// The scenario in one sentence.
    pub scenario: String,
    /// Exactly the actions the rules engine should require.
    pub actions: Vec<ActionCode>,
    pub requires_review: bool,
}

/// How many rows a seed upserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedReport {
    pub customers: usize,
    pub transactions: usize,
}

impl SeedData {
    /// Parses seed JSON (not yet validated: see [`SeedData::validate`]).
    pub fn parse(json: &str) -> Result<Self, DbError> {
        serde_json::from_str(json)
            .map_err(|e| DbError::invalid("seed", format!("not a seed file: {e}")))
    }

    /// Reads and parses a seed file.
    pub fn read(path: &Path) -> Result<Self, DbError> {
        let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => DbError::NotFound {
                entity: "seed file",
                id: path.display().to_string(),
            },
            _ => DbError::backend(format!("reading {}", path.display()), e),
        })?;
        Self::parse(&text).map_err(|e| match e {
            DbError::Invalid { reason, .. } => DbError::invalid(path.display().to_string(), reason),
            other => other,
        })
    }

    /// The embedded demo data.
    pub fn demo() -> Result<Self, DbError> {
        Self::parse(DEMO_SEED_JSON)
    }

    /// Checks every record (fields named like `transactions[3].amount`), that ids
    /// are unique, that each transaction's customer is in the file, and that each
    /// expectation names a transaction.
    pub fn validate(&self) -> Result<(), DbError> {
        for (i, c) in self.customers.iter().enumerate() {
            c.parse_at(&format!("customers[{i}]"))?;
        }
        for (i, t) in self.transactions.iter().enumerate() {
            t.parse_at(&format!("transactions[{i}]"))?;
        }
        let mut customers = BTreeSet::new();
        for (i, c) in self.customers.iter().enumerate() {
            if !customers.insert(c.customer_id.as_str()) {
                return Err(DbError::invalid(
                    format!("customers[{i}].customer_id"),
                    format!("{:?} appears twice", c.customer_id),
                ));
            }
        }
        let mut transactions = BTreeSet::new();
        for (i, t) in self.transactions.iter().enumerate() {
            if !transactions.insert(t.transaction_id.as_str()) {
                return Err(DbError::invalid(
                    format!("transactions[{i}].transaction_id"),
                    format!("{:?} appears twice", t.transaction_id),
                ));
            }
            if !customers.contains(t.customer_id.as_str()) {
                return Err(DbError::invalid(
                    format!("transactions[{i}].customer_id"),
                    format!("{:?} is not a customer of this file", t.customer_id),
                ));
            }
        }
        if let Some(id) = self
            .expectations
            .keys()
            .find(|id| !transactions.contains(id.as_str()))
        {
            return Err(DbError::invalid(
                format!("expectations.{id}"),
                "names no transaction of this file",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_seed_is_valid() {
        let demo = SeedData::demo().unwrap();
        demo.validate().unwrap();
        assert!(demo.transactions.len() >= 20, "{}", demo.transactions.len());
        for id in ["TXN001", "TXN002", "TXN003"] {
            assert!(
                demo.expectations.contains_key(id),
                "{id} has no expectation"
            );
        }
    }

    #[test]
    fn seed_errors_name_the_record() {
        let mut demo = SeedData::demo().unwrap();
        demo.transactions[3].amount = -1.0;
        let err = demo.validate().unwrap_err();
        assert!(
            matches!(&err, DbError::Invalid { field, .. } if field == "transactions[3].amount"),
            "{err}"
        );

        let mut demo = SeedData::demo().unwrap();
        let dup = demo.transactions[0].clone();
        demo.transactions.push(dup);
        let err = demo.validate().unwrap_err();
        assert!(
            matches!(&err, DbError::Invalid { field, .. } if field.ends_with("].transaction_id")),
            "{err}"
        );

        let mut demo = SeedData::demo().unwrap();
        demo.transactions[0].customer_id = "NOBODY".into();
        let err = demo.validate().unwrap_err();
        assert!(
            matches!(&err, DbError::Invalid { field, .. } if field == "transactions[0].customer_id"),
            "{err}"
        );

        assert!(matches!(
            SeedData::parse("{\"customers\": []}"),
            Err(DbError::Invalid { .. })
        ));
        assert!(matches!(
            SeedData::read(Path::new("/nonexistent/seed.json")),
            Err(DbError::NotFound { .. })
        ));
    }
}
