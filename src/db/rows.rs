//! Row types (one per query shape) and their conversion from and to the domain.
//! Each derives `FromRow` generically, so the same struct decodes SQLite and
//! PostgreSQL rows; the column codecs are in `codec.rs`.

use chrono::{FixedOffset, NaiveDate, Utc};
use sqlx::types::Json;

use super::codec::{DbAmount, DbTime, DbUuid, enum_parse, enum_text};
use super::{AnalysisSummary, DbError, TransactionRow};
use crate::domain::{CountryCode, CurrencyCode, Customer, Transaction};
use crate::guidance::Analysis;

/// Columns of `customers`, in [`CustomerRow`] order (table alias `c`).
macro_rules! customer_columns {
    () => {
        "c.customer_id, c.name, c.customer_type, c.risk_rating, c.kyc_status, c.is_pep, c.country, \
         c.pep_type, c.private_banking, c.ctr_exempt, c.last_sar_filed_on"
    };
}

/// Columns of `transactions`, in [`TransactionDbRow`] order (table alias `t`).
macro_rules! transaction_columns {
    () => {
        "t.transaction_id, t.customer_id, t.amount, t.currency, t.transaction_type, t.direction, \
         t.origin_country, t.destination_country, t.counterparty_name, t.description, \
         t.timestamp, t.utc_offset_seconds, t.risk_score, t.counterparty_customer_id"
    };
}

pub(crate) use {customer_columns, transaction_columns};

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct CustomerRow {
    customer_id: String,
    name: String,
    customer_type: String,
    risk_rating: String,
    kyc_status: String,
    is_pep: bool,
    country: String,
    pep_type: Option<String>,
    private_banking: bool,
    ctr_exempt: bool,
    last_sar_filed_on: Option<NaiveDate>,
}

impl CustomerRow {
    pub fn into_domain(self) -> Result<Customer, DbError> {
        Ok(Customer {
            customer_id: self.customer_id,
            name: self.name,
            customer_type: enum_parse("customers.customer_type", self.customer_type)?,
            risk_rating: enum_parse("customers.risk_rating", self.risk_rating)?,
            kyc_status: enum_parse("customers.kyc_status", self.kyc_status)?,
            is_pep: self.is_pep,
            pep_type: self
                .pep_type
                .map(|p| enum_parse("customers.pep_type", p))
                .transpose()?,
            private_banking: self.private_banking,
            ctr_exempt: self.ctr_exempt,
            last_sar_filed_on: self.last_sar_filed_on,
            country: country(self.country)?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TransactionDbRow {
    transaction_id: String,
    customer_id: String,
    amount: DbAmount,
    currency: String,
    transaction_type: String,
    direction: String,
    origin_country: String,
    destination_country: String,
    counterparty_name: Option<String>,
    description: Option<String>,
    timestamp: DbTime,
    utc_offset_seconds: i32,
    risk_score: Option<f64>,
    counterparty_customer_id: Option<String>,
}

impl TransactionDbRow {
    pub fn into_domain(self) -> Result<Transaction, DbError> {
        let offset = FixedOffset::east_opt(self.utc_offset_seconds).ok_or_else(|| {
            DbError::backend(
                "decoding transactions.utc_offset_seconds",
                format!("{} is not a UTC offset", self.utc_offset_seconds),
            )
        })?;
        Ok(Transaction {
            amount: self.amount.to_money()?.to_f64(),
            currency: CurrencyCode::parse(&self.currency)
                .map_err(|e| DbError::backend("decoding transactions.currency", e.message))?,
            transaction_type: enum_parse("transactions.transaction_type", self.transaction_type)?,
            direction: enum_parse("transactions.direction", self.direction)?,
            origin_country: country(self.origin_country)?,
            destination_country: country(self.destination_country)?,
            counterparty_name: self.counterparty_name,
            counterparty_customer_id: self.counterparty_customer_id,
            description: self.description,
            timestamp: self.timestamp.get().with_timezone(&offset),
            risk_score: self.risk_score,
            transaction_id: self.transaction_id,
            customer_id: self.customer_id,
        })
    }
}

fn country(code: String) -> Result<CountryCode, DbError> {
    CountryCode::parse(&code).map_err(|e| DbError::backend("decoding a country column", e.message))
}

/// A page row of `list_transactions`: the transaction, its customer's name and
/// the latest analysis, if any.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ListDbRow {
    #[sqlx(flatten)]
    transaction: TransactionDbRow,
    customer_name: String,
    latest_analysis_id: Option<DbUuid>,
    latest_risk_level: Option<String>,
    latest_requires_review: Option<bool>,
    latest_analyzed_at: Option<DbTime>,
}

impl ListDbRow {
    pub fn into_domain(self) -> Result<TransactionRow, DbError> {
        let latest_analysis = match (
            self.latest_analysis_id,
            self.latest_risk_level,
            self.latest_requires_review,
            self.latest_analyzed_at,
        ) {
            (Some(id), Some(level), Some(review), Some(at)) => Some(AnalysisSummary {
                analysis_id: id.0,
                risk_level: enum_parse("analyses.risk_level", level)?,
                requires_review: review,
                analyzed_at: at.get(),
            }),
            _ => None,
        };
        Ok(TransactionRow {
            transaction: self.transaction.into_domain()?,
            customer_name: self.customer_name,
            latest_analysis,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AnalysisDbRow {
    analysis_id: DbUuid,
    analysis: Json<serde_json::Value>,
}

impl AnalysisDbRow {
    pub fn into_domain(self) -> Result<Analysis, DbError> {
        serde_json::from_value(self.analysis.0).map_err(|e| {
            DbError::backend(
                format!("decoding analysis {}", self.analysis_id.0),
                format!("stored JSON is not an Analysis: {e}"),
            )
        })
    }
}

/// Bind values of one customer row, converted and checked.
pub(crate) struct CustomerParams {
    pub customer_id: String,
    pub name: String,
    pub customer_type: String,
    pub risk_rating: String,
    pub kyc_status: String,
    pub is_pep: bool,
    pub country: String,
    pub created_at: DbTime,
    pub pep_type: Option<String>,
    pub private_banking: bool,
    pub ctr_exempt: bool,
    pub last_sar_filed_on: Option<NaiveDate>,
}

impl CustomerParams {
    /// Parses `c` (errors name fields under `prefix`, e.g. `customer`).
    pub fn new(prefix: &str, c: &Customer) -> Result<Self, DbError> {
        let c = c.parse_at(prefix)?;
        Ok(Self {
            customer_id: c.customer_id.clone(),
            name: c.name.clone(),
            customer_type: enum_text(&format!("{prefix}.customer_type"), &c.customer_type)?,
            risk_rating: enum_text(&format!("{prefix}.risk_rating"), &c.risk_rating)?,
            kyc_status: enum_text(&format!("{prefix}.kyc_status"), &c.kyc_status)?,
            is_pep: c.is_pep,
            country: c.country.as_str().to_owned(),
            created_at: DbTime::now(),
            pep_type: c
                .pep_type
                .map(|p| enum_text(&format!("{prefix}.pep_type"), &p))
                .transpose()?,
            private_banking: c.private_banking,
            ctr_exempt: c.ctr_exempt,
            last_sar_filed_on: c.last_sar_filed_on,
        })
    }
}

/// Bind values of one transaction row, converted and checked.
pub(crate) struct TransactionParams {
    pub transaction_id: String,
    pub customer_id: String,
    pub amount: DbAmount,
    pub currency: String,
    pub transaction_type: String,
    pub direction: String,
    pub origin_country: String,
    pub destination_country: String,
    pub counterparty_name: Option<String>,
    pub description: Option<String>,
    pub timestamp: DbTime,
    pub utc_offset_seconds: i32,
    pub risk_score: Option<f64>,
    pub counterparty_customer_id: Option<String>,
}

impl TransactionParams {
    /// Parses `t` (errors name fields under `prefix`, e.g. `transaction`).
    pub fn new(prefix: &str, t: &Transaction) -> Result<Self, DbError> {
        let t = t.parse_at(prefix)?;
        let field = |name: &str| format!("{prefix}.{name}");
        Ok(Self {
            transaction_id: t.transaction_id.clone(),
            customer_id: t.customer_id.clone(),
            amount: DbAmount::from(t.amount),
            currency: t.currency.as_str().to_owned(),
            transaction_type: enum_text(&field("transaction_type"), &t.transaction_type)?,
            direction: enum_text(&field("direction"), &t.direction)?,
            origin_country: t.origin_country.as_str().to_owned(),
            destination_country: t.destination_country.as_str().to_owned(),
            counterparty_name: t.counterparty_name.clone(),
            description: t.description.clone(),
            timestamp: DbTime::new(&field("timestamp"), t.timestamp.with_timezone(&Utc))?,
            utc_offset_seconds: t.timestamp.offset().local_minus_utc(),
            risk_score: t.risk_score,
            counterparty_customer_id: t.counterparty_customer_id.clone(),
        })
    }
}

/// Bind values of one analysis row, converted and checked.
pub(crate) struct AnalysisParams {
    pub analysis_id: DbUuid,
    pub transaction_id: String,
    pub request: serde_json::Value,
    pub analysis: serde_json::Value,
    pub risk_level: String,
    pub requires_review: bool,
    pub generator_kind: String,
    pub model: Option<String>,
    pub prompt_version: String,
    pub processing_time_ms: i64,
    pub analyzed_at: DbTime,
    /// For the review queue: the earliest due date (`YYYY-MM-DD`) and the
    /// action codes as `" CODE1 CODE2 "`.
    pub due_on: Option<String>,
    pub action_codes: String,
}

impl AnalysisParams {
    pub fn new(a: &Analysis, request: &serde_json::Value) -> Result<Self, DbError> {
        if a.transaction_id.trim().is_empty() {
            return Err(DbError::invalid(
                "analysis.transaction_id",
                "must not be empty",
            ));
        }
        let analysis =
            serde_json::to_value(a).map_err(|e| DbError::invalid("analysis", e.to_string()))?;
        Ok(Self {
            analysis_id: DbUuid(a.analysis_id),
            transaction_id: a.transaction_id.clone(),
            request: request.clone(),
            analysis,
            risk_level: enum_text("analysis.risk_level", &a.risk_level)?,
            requires_review: a.requires_review,
            generator_kind: enum_text("analysis.generator.kind", &a.generator.kind)?,
            model: a.generator.model.clone(),
            prompt_version: a.prompt_version.clone(),
            processing_time_ms: i64::try_from(a.processing_time_ms).map_err(|_| {
                DbError::invalid(
                    "analysis.processing_time_ms",
                    "does not fit a signed 64-bit integer",
                )
            })?,
            analyzed_at: DbTime::new("analysis.analyzed_at", a.analyzed_at)?,
            due_on: a.earliest_due().map(|d| d.to_string()),
            action_codes: action_codes_column(a),
        })
    }
}

/// The analysis's action codes as stored for the review queue's filter: `" A B "`.
fn action_codes_column(analysis: &Analysis) -> String {
    let mut out = String::from(" ");
    for a in &analysis.required_actions {
        out.push_str(a.code.as_str());
        out.push(' ');
    }
    out
}
