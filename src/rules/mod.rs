//! The deterministic rules engine: given a transaction, its customer and the
//! customer's recent transactions, which Bank Secrecy Act / OFAC obligations
//! apply, with citations, deadlines and a retrieval query per finding.
//!
//! This module owns the engine ([`RulesEngine`]) and its output types
//! ([`RuleOutcome`], [`Finding`], [`ActionCode`], …). Each rule family lives
//! in its own file and states the regulation it implements:
//!
//! | file        | action                  | regulation                                   |
//! |-------------|-------------------------|----------------------------------------------|
//! | `ctr.rs`    | `CTR_FILING`            | 31 CFR 1010.311, 1010.313, 1010.306          |
//! | `sar.rs`    | `SAR_REVIEW`            | 31 CFR 1010.314, 1020.320                    |
//! | `travel.rs` | `TRAVEL_RULE_RECORDS`   | 31 CFR 1010.410, 1020.410                    |
//! | `ofac.rs`   | `OFAC_BLOCK_OR_REJECT`  | 31 CFR Part 501 (501.603, 501.604), 515, 560, 510, 542, 589 |
//! | `edd.rs`    | `ENHANCED_DUE_DILIGENCE`| 31 CFR 1010.620, 1010.610, 1010.230          |
//! | `kyc.rs`    | `KYC_REMEDIATION`       | 31 CFR 1020.220                              |
//!
//! `risk.rs` computes the risk score and `requires_review`; `data.rs` loads
//! `rules/rules.toml`; `calendar.rs` does date arithmetic. The sanctions lists
//! come from `crate::sanctions` (versions loaded from the database, each
//! version's name index built once and cached). Evaluation is pure: no I/O, no clock (the "as of" date is the
//! transaction's business date), and the same input always gives the same
//! output. All thresholds and lists come from [`RulesConfig`].
//!
//! Amounts in a currency other than USD are treated as the USD equivalent
//! (callers convert before sending); findings say so when it happens.

mod calendar;
mod ctr;
pub mod data;
mod edd;
mod kyc;
mod ofac;
pub mod risk;
mod sar;
mod travel;

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub use crate::domain::RuleInput;
use crate::domain::{Customer, Transaction, TransactionType, ValidationError};
pub use data::{RulesConfig, RulesError};
pub use ofac::{SanctionsScreening, ScreeningMatch};

use crate::sanctions::{ListSelection, SanctionsLists};
use std::sync::Arc;

/// What the compliance officer must do. Serialized as e.g. `CTR_FILING`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActionCode {
    CtrFiling,
    SarReview,
    TravelRuleRecords,
    OfacBlockOrReject,
    EnhancedDueDiligence,
    KycRemediation,
}

impl ActionCode {
    pub const ALL: [ActionCode; 6] = [
        Self::CtrFiling,
        Self::SarReview,
        Self::TravelRuleRecords,
        Self::OfacBlockOrReject,
        Self::EnhancedDueDiligence,
        Self::KycRemediation,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::CtrFiling => "CTR_FILING",
            Self::SarReview => "SAR_REVIEW",
            Self::TravelRuleRecords => "TRAVEL_RULE_RECORDS",
            Self::OfacBlockOrReject => "OFAC_BLOCK_OR_REJECT",
            Self::EnhancedDueDiligence => "ENHANCED_DUE_DILIGENCE",
            Self::KycRemediation => "KYC_REMEDIATION",
        }
    }
}

impl fmt::Display for ActionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActionCode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown action code {s:?}"))
    }
}

/// How urgent a finding is. Ordered `Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// Banded risk score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RiskLevel {
    Low,
    Medium,
    High,
}

/// One obligation found by a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub code: ActionCode,
    pub title: String,
    /// Concrete facts: amounts, dates, which transactions were aggregated.
    pub description: String,
    /// e.g. "within 15 calendar days of 2026-03-10 (by 2026-03-25)".
    pub deadline: Option<String>,
    /// Citations, e.g. "31 CFR 1010.311".
    pub regulations: Vec<String>,
    /// Natural-language query for retrieving evidence (acronyms expanded).
    pub retrieval_query: String,
    pub severity: Severity,
}

/// One term of the risk score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskFactor {
    pub factor: String,
    pub points: f64,
}

/// The engine's answer for one transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleOutcome {
    /// At most one finding per action code, most severe first.
    pub findings: Vec<Finding>,
    /// 0..=1 (see `risk.rs` for the formula).
    pub risk_score: f64,
    pub risk_level: RiskLevel,
    pub requires_review: bool,
    /// Why `requires_review` is true (empty when false).
    pub review_reasons: Vec<String>,
    /// The terms that make up `risk_score`.
    pub risk_factors: Vec<RiskFactor>,
    /// The transaction's business date, as of which the rules were applied.
    pub as_of: NaiveDate,
    /// Which sanctions list versions names were screened against, and the matches.
    #[serde(default)]
    pub sanctions_screening: SanctionsScreening,
}

impl RuleOutcome {
    /// The action codes found, in finding order.
    pub fn actions(&self) -> Vec<ActionCode> {
        self.findings.iter().map(|f| f.code).collect()
    }

    pub fn has(&self, code: ActionCode) -> bool {
        self.findings.iter().any(|f| f.code == code)
    }

    pub fn finding(&self, code: ActionCode) -> Option<&Finding> {
        self.findings.iter().find(|f| f.code == code)
    }
}

/// The rules engine: configuration plus the sanctions list versions it screens
/// against (shared, so a refresh from the database is seen by every clone).
#[derive(Debug, Clone)]
pub struct RulesEngine {
    config: RulesConfig,
    sanctions: Arc<SanctionsLists>,
    match_settings: crate::sanctions::MatchSettings,
}

impl RulesEngine {
    /// An engine with no sanctions list loaded (names are not screened, and
    /// analyses say so); see [`Self::with_sanctions`].
    pub fn new(config: RulesConfig) -> Self {
        Self::with_sanctions(config, Arc::new(SanctionsLists::empty()))
    }

    pub fn with_sanctions(config: RulesConfig, sanctions: Arc<SanctionsLists>) -> Self {
        let match_settings = config.match_settings();
        Self { config, sanctions, match_settings }
    }

    /// Loads `rules.toml` from `path`.
    pub fn from_config_file(path: impl AsRef<Path>) -> Result<Self, RulesError> {
        Ok(Self::new(RulesConfig::load(path)?))
    }

    /// The embedded `rules.toml`, no sanctions list loaded.
    pub fn builtin() -> Result<Self, RulesError> {
        Ok(Self::new(RulesConfig::builtin()?))
    }

    pub fn config(&self) -> &RulesConfig {
        &self.config
    }

    /// The loaded list versions (load more with `Database::refresh_sanctions`).
    pub fn sanctions(&self) -> &Arc<SanctionsLists> {
        &self.sanctions
    }

    /// Validates `input`, then evaluates it.
    pub fn evaluate_checked(&self, input: &RuleInput) -> Result<RuleOutcome, ValidationError> {
        input.validate()?;
        Ok(self.evaluate(input))
    }

    /// Applies every rule to `input` as of the transaction's business date.
    ///
    /// Pure and deterministic. It does not panic on invalid input, but the
    /// results for invalid input (e.g. a negative amount) are meaningless:
    /// call [`RuleInput::validate`] first, or use [`Self::evaluate_checked`].
    pub fn evaluate(&self, input: &RuleInput) -> RuleOutcome {
        let ctx = Ctx::new(&self.config, input);
        let selection = if input.sanctions_lookback {
            ListSelection::Newest
        } else {
            ListSelection::InForceOn(ctx.as_of)
        };
        let mut lists = self.sanctions.select(selection, &self.match_settings);
        if input.sanctions_lookback {
            for l in &mut lists {
                l.basis = format!("newest version, not the one in force on {} (lookback requested)", ctx.as_of);
            }
        }
        let screening = ofac::screen(&ctx, &lists);
        let fatf = edd::fatf_hits(&ctx);

        let mut findings: Vec<Finding> = [
            ofac::evaluate(&ctx, &screening),
            sar::evaluate(&ctx),
            ctr::evaluate(&ctx),
            edd::evaluate(&ctx, &fatf),
            kyc::evaluate(&ctx),
            travel::evaluate(&ctx),
        ]
        .into_iter()
        .flatten()
        .collect();
        findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.code.cmp(&b.code)));

        let assessment = risk::assess(&ctx, &screening, &fatf, &findings);
        RuleOutcome {
            findings,
            risk_score: assessment.score,
            risk_level: assessment.level,
            requires_review: !assessment.review_reasons.is_empty(),
            review_reasons: assessment.review_reasons,
            risk_factors: assessment.factors,
            as_of: ctx.as_of,
            sanctions_screening: screening.record,
        }
    }
}

/// Per-evaluation facts shared by the rules.
pub(crate) struct Ctx<'a> {
    pub cfg: &'a RulesConfig,
    pub tx: &'a Transaction,
    pub customer: &'a Customer,
    /// Business date of the current transaction.
    pub as_of: NaiveDate,
    /// The customer's other transactions: same `customer_id`, distinct
    /// `transaction_id`s other than the current one, usable amounts.
    pub history: Vec<&'a Transaction>,
}

impl<'a> Ctx<'a> {
    fn new(cfg: &'a RulesConfig, input: &'a RuleInput) -> Self {
        let tx = &input.transaction;
        let mut seen = BTreeSet::new();
        seen.insert(tx.transaction_id.as_str());
        let history = input
            .recent_transactions
            .iter()
            .filter(|t| t.customer_id == tx.customer_id)
            .filter(|t| t.amount.is_finite() && t.amount > 0.0)
            .filter(|t| seen.insert(t.transaction_id.as_str()))
            .collect();
        let as_of = calendar::business_date(tx, cfg.time_zone());
        Self {
            cfg,
            tx,
            customer: &input.customer,
            as_of,
            history,
        }
    }

    pub fn business_date(&self, t: &Transaction) -> NaiveDate {
        calendar::business_date(t, self.cfg.time_zone())
    }

    /// Countries the transaction touches: origin, destination, customer.
    pub fn countries(&self) -> [(&'a str, &'static str); 3] {
        [
            (self.tx.origin_country.as_str(), "origin"),
            (self.tx.destination_country.as_str(), "destination"),
            (self.customer.country.as_str(), "customer country"),
        ]
    }

    /// A note on currency conversion, if the transaction is not in USD.
    pub fn currency_note(&self) -> String {
        currency_note(std::iter::once(self.tx))
    }
}

/// Cash classes for currency reporting (31 CFR 1010.313(b)): cash in and
/// cash out are totalled separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CashClass {
    In,
    Out,
}

impl CashClass {
    /// Only cash deposits and cash withdrawals are transactions in currency.
    pub fn of(t: TransactionType) -> Option<Self> {
        match t {
            TransactionType::CashDeposit => Some(Self::In),
            TransactionType::CashWithdrawal => Some(Self::Out),
            TransactionType::Wire
            | TransactionType::Ach
            | TransactionType::Card
            | TransactionType::Check
            | TransactionType::Internal => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::In => "cash in (deposits)",
            Self::Out => "cash out (withdrawals)",
        }
    }
}

/// Amount in whole cents (saturating; 0 for non-finite input).
pub(crate) fn cents(amount: f64) -> i64 {
    if amount.is_finite() {
        // `as` saturates at i64 bounds; amounts are validated far below.
        (amount * 100.0).round() as i64
    } else {
        0
    }
}

/// `$12,345.67` (negative shown with a leading minus).
pub(crate) fn fmt_usd(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    let dollars = (abs / 100).to_string();
    let mut grouped = String::with_capacity(dollars.len() + dollars.len() / 3);
    for (i, ch) in dollars.chars().enumerate() {
        if i > 0 && (dollars.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{sign}${grouped}.{:02}", abs % 100)
}

/// The transaction's amount for messages, e.g. `$9,600.00` or
/// `EUR 9,600.00`.
pub(crate) fn fmt_amount(t: &Transaction) -> String {
    let s = fmt_usd(cents(t.amount));
    if t.currency.is_usd() {
        s
    } else {
        format!("{} {}", t.currency, s.trim_start_matches('$'))
    }
}

/// A sentence saying non-USD amounts were treated as USD, or "".
pub(crate) fn currency_note<'t>(txs: impl IntoIterator<Item = &'t Transaction>) -> String {
    let others: BTreeSet<&str> = txs
        .into_iter()
        .filter(|t| !t.currency.is_usd())
        .map(|t| t.currency.as_str())
        .collect();
    if others.is_empty() {
        String::new()
    } else {
        format!(
            " Amounts in {} were treated as their USD equivalent; confirm with the conversion rate of the transaction date.",
            others.into_iter().collect::<Vec<_>>().join(", ")
        )
    }
}

/// "within N calendar days of [what ]D (by D+N)".
pub(crate) fn calendar_deadline(what: &str, from: NaiveDate, days: u32) -> String {
    let by = calendar::add_days(from, days);
    format!("within {days} calendar days of {what}{from} (by {by})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_formatting() {
        assert_eq!(fmt_usd(cents(10000.01)), "$10,000.01");
        assert_eq!(fmt_usd(cents(0.5)), "$0.50");
        assert_eq!(fmt_usd(cents(1234567.0)), "$1,234,567.00");
        assert_eq!(fmt_usd(cents(999.999)), "$1,000.00");
        assert_eq!(fmt_usd(-150), "-$1.50");
        assert_eq!(cents(f64::NAN), 0);
        assert_eq!(cents(0.1 + 0.2), 30);
    }

    #[test]
    fn action_codes_round_trip() {
        for c in ActionCode::ALL {
            let json = serde_json::to_string(&c).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(c.as_str().parse::<ActionCode>(), Ok(c));
        }
        assert!("CTR".parse::<ActionCode>().is_err());
    }
}
