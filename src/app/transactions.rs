//! Owns the reads of stored transactions and analyses the pages show beside the
//! use-cases: a page of the transaction list (searched), a customer, the analyses of
//! a transaction, and what an analysis was asked about.

use uuid::Uuid;

use super::{App, AppError};
use crate::db::{TransactionFilter, TransactionRow};
use crate::domain::{Customer, RuleInput};
use crate::guidance::Analysis;

/// One page of the stored transactions matching a search.
pub struct TransactionPage {
    /// With each transaction's latest analysis.
    pub rows: Vec<TransactionRow>,
    /// Every match, over all pages.
    pub total: u64,
}

/// What an analysis was asked about, as stored beside it.
pub struct AnalysedRequest {
    /// The transaction was given inline (not named by its stored id).
    pub inline: bool,
    /// The rule input analysed (`None` for a request stored in an older shape).
    pub input: Option<RuleInput>,
}

impl App {
    /// The stored transactions whose id, customer or counterparty contains `query`
    /// (blank: all), `limit` of them after `offset`, with the number of matches.
    pub async fn transactions(&self, query: Option<String>, limit: u32, offset: u32) -> Result<TransactionPage, AppError> {
        let filter = TransactionFilter { query, limit, offset };
        let rows = self.db.list_transactions(&filter).await?;
        let total = self.db.count_transactions(&filter).await?;
        Ok(TransactionPage { rows, total })
    }

    /// The stored customer `id`, if any.
    pub async fn customer(&self, id: &str) -> Result<Option<Customer>, AppError> {
        Ok(self.db.get_customer(id).await?)
    }

    /// Every stored analysis of transaction `id`, newest first.
    pub async fn analyses_of_transaction(&self, id: &str) -> Result<Vec<Analysis>, AppError> {
        Ok(self.db.analyses_for_transaction(id).await?)
    }

    /// What analysis `id` was asked about (nothing stored: not inline, no input).
    pub async fn analysed_request(&self, id: Uuid) -> Result<AnalysedRequest, AppError> {
        let request = self.db.analysis_request(id).await?;
        let inline = request.as_ref().and_then(|r| r.get("inline")).and_then(serde_json::Value::as_bool) == Some(true);
        let input = request.and_then(|r| r.get("request").cloned()).and_then(|v| serde_json::from_value(v).ok());
        Ok(AnalysedRequest { inline, input })
    }
}
