//! Persistence for batch screening (`crate::batch`): many customers and transactions
//! stored per database transaction, and the set reads a batch needs once instead of
//! once per transaction (which customers are stored, which transactions already have
//! an analysis, the customers' transactions over the batch's date range).

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::codec::DbTime;
use super::rows::{CustomerParams, TransactionDbRow, TransactionParams, transaction_columns};
use super::{Database, DbError, Pool, UPSERT_CUSTOMER, UPSERT_TRANSACTION};
use crate::domain::{Customer, Transaction};

/// Ids per `IN (…)` list: well below SQLite's and PostgreSQL's parameter limits.
const IDS_PER_QUERY: usize = 500;

/// `$1, $2, …, $n` after `first - 1` other parameters.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

impl Database {
    /// Upserts `customers`, then `transactions`, in one database transaction: all or
    /// nothing. Every transaction's customer must be among `customers` or stored.
    pub async fn store_batch(&self, customers: &[Customer], transactions: &[Transaction]) -> Result<(), DbError> {
        let customers =
            customers.iter().map(|c| CustomerParams::new("customer", c)).collect::<Result<Vec<_>, _>>()?;
        let transactions =
            transactions.iter().map(|t| TransactionParams::new("transaction", t)).collect::<Result<Vec<_>, _>>()?;
        let context = format!("storing {} customers and {} transactions", customers.len(), transactions.len());
        self.write(context.clone(), |db| async move {
            on_pool_unbounded!(db, |pool| async {
                let mut tx = pool.begin().await?;
                for p in &customers {
                    bind_customer!(sqlx::query(UPSERT_CUSTOMER), p).execute(&mut *tx).await?;
                }
                for p in &transactions {
                    bind_transaction!(sqlx::query(UPSERT_TRANSACTION), p).execute(&mut *tx).await?;
                }
                tx.commit().await
            }
            .await)
            .map_err(|e| DbError::from_sqlx(context, e))
        })
        .await
    }

    /// The values of `column` in `table` among `ids` (distinct).
    async fn present(&self, table: &str, column: &str, ids: &[String]) -> Result<HashSet<String>, DbError> {
        let mut found = HashSet::new();
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let sql = format!("SELECT DISTINCT {column} FROM {table} WHERE {column} IN ({})", placeholders(1, chunk.len()));
            let rows: Vec<String> = on_pool!(self, |pool| {
                let mut q = sqlx::query_scalar(&sql);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(pool).await
            })
            .map_err(|e| DbError::from_sqlx(format!("reading {table}.{column}"), e))?;
            found.extend(rows);
        }
        Ok(found)
    }

    /// Which of `customer_ids` are stored.
    pub async fn stored_customers(&self, customer_ids: &[String]) -> Result<HashSet<String>, DbError> {
        self.present("customers", "customer_id", customer_ids).await
    }

    /// Which of `transaction_ids` have at least one stored analysis.
    pub async fn analysed_transactions(&self, transaction_ids: &[String]) -> Result<HashSet<String>, DbError> {
        self.present("analyses", "transaction_id", transaction_ids).await
    }

    /// Every stored customer among `customer_ids`.
    pub async fn customers(&self, customer_ids: &[String]) -> Result<Vec<Customer>, DbError> {
        let mut out = Vec::with_capacity(customer_ids.len());
        for chunk in customer_ids.chunks(IDS_PER_QUERY) {
            let sql = format!(
                "SELECT {} FROM customers c WHERE c.customer_id IN ({})",
                super::rows::customer_columns!(),
                placeholders(1, chunk.len())
            );
            let rows = on_pool!(self, |pool| {
                let mut q = sqlx::query_as::<_, super::rows::CustomerRow>(&sql);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(pool).await
            })
            .map_err(|e| DbError::from_sqlx("reading customers", e))?;
            for row in rows {
                out.push(row.into_domain()?);
            }
        }
        Ok(out)
    }

    /// The stored transactions of `customer_ids` with `from <= timestamp < until`,
    /// oldest first per customer (ties by id).
    pub async fn transactions_of_customers(
        &self,
        customer_ids: &[String],
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<Transaction>, DbError> {
        let (from, until) = (DbTime::clamped(from), DbTime::clamped(until));
        let mut out = Vec::new();
        for chunk in customer_ids.chunks(IDS_PER_QUERY) {
            let sql = format!(
                "SELECT {} FROM transactions t WHERE t.timestamp >= $1 AND t.timestamp < $2 AND t.customer_id IN ({}) \
                 ORDER BY t.customer_id, t.timestamp, t.transaction_id",
                transaction_columns!(),
                placeholders(3, chunk.len())
            );
            let rows = on_pool!(self, |pool| {
                let mut q = sqlx::query_as::<_, TransactionDbRow>(&sql).bind(from).bind(until);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(pool).await
            })
            .map_err(|e| DbError::from_sqlx("reading the customers' transactions", e))?;
            for row in rows {
                out.push(row.into_domain()?);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_from_the_first() {
        assert_eq!(placeholders(1, 3), "$1, $2, $3");
        assert_eq!(placeholders(3, 2), "$3, $4");
    }
}
