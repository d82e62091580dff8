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
//! | `kyc.rs`    | `KYC_REMEDIATION`       | 31 CFR 1020.220 (CIP), 1020.210(a)(2)(v) (ongoing CDD) |
//! | `instruments.rs` | `MONETARY_INSTRUMENT_RECORD` | 31 CFR 1010.415                  |
//!
//! `risk.rs` computes the risk score and `requires_review`; `data.rs` loads
//! `rules/rules.toml`; `calendar.rs` does date arithmetic and business days
//! (1010.313 posting cut-off, weekends, holidays); `records.rs` the retention
//! periods (1010.430, 501.601) and OFAC's annual report date. The sanctions
//! lists come from `crate::sanctions` (versions loaded from the database, each
//! version's name index built once and cached). Evaluation is pure: no I/O, no
//! clock (the "as of" date is the transaction's date in the institution's time
//! zone), and the same input always gives the same output. All thresholds,
//! lists and rates come from [`RulesConfig`].
//!
//! Amounts in a currency other than USD are converted to their USD value
//! with the dated rate table of rules.toml `[currency]` (31 CFR 1010.100:
//! currency includes foreign currency). An amount with no usable rate is
//! left out of every total and raised as a [`RuleIssue`] that requires
//! review; it is never taken as dollars.
//!
//! Besides findings (obligations), the engine returns [`RuleIssue`]s: facts
//! an officer must know or decide that are not an action of their own (no
//! rate, a CTR suppressed for an exempt person, a general licence to
//! confirm, a domestic PEP).

pub mod calendar;
mod ctr;
pub mod data;
mod edd;
mod instruments;
mod kyc;
mod ofac;
mod records;
pub mod risk;
mod sar;
mod settings;
mod travel;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

pub use crate::domain::{RuleInput, ValidRuleInput};
use crate::domain::{Money, TransactionType, ValidCustomer, ValidTransaction, ValidationError};
pub use data::{InstitutionOverrides, RulesConfig, RulesError};
pub use ofac::{SanctionsScreening, ScreeningMatch};
pub use settings::RulesSettings;

use crate::sanctions::{ListSelection, SanctionsLists};
use std::sync::Arc;

/// What the compliance officer must do. Serialized as e.g. `CTR_FILING`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[derive(utoipa::ToSchema)]
pub enum ActionCode {
    CtrFiling,
    SarReview,
    TravelRuleRecords,
    OfacBlockOrReject,
    EnhancedDueDiligence,
    KycRemediation,
    MonetaryInstrumentRecord,
}

impl ActionCode {
    pub const ALL: [ActionCode; 7] = [
        Self::CtrFiling,
        Self::SarReview,
        Self::TravelRuleRecords,
        Self::OfacBlockOrReject,
        Self::EnhancedDueDiligence,
        Self::KycRemediation,
        Self::MonetaryInstrumentRecord,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::CtrFiling => "CTR_FILING",
            Self::SarReview => "SAR_REVIEW",
            Self::TravelRuleRecords => "TRAVEL_RULE_RECORDS",
            Self::OfacBlockOrReject => "OFAC_BLOCK_OR_REJECT",
            Self::EnhancedDueDiligence => "ENHANCED_DUE_DILIGENCE",
            Self::KycRemediation => "KYC_REMEDIATION",
            Self::MonetaryInstrumentRecord => "MONETARY_INSTRUMENT_RECORD",
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
#[derive(utoipa::ToSchema)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// Banded risk score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[derive(utoipa::ToSchema)]
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
    /// The date `deadline` names, computed as of the transaction (business
    /// days skip weekends and the holidays of rules.toml); `None` when the
    /// obligation has no date of its own (travel-rule records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_on: Option<NaiveDate>,
    /// Citations, e.g. "31 CFR 1010.311".
    pub regulations: Vec<String>,
    /// Sections of the bank's own procedures the finding rests on, e.g.
    /// "EDD 5.1" (policy, not regulation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// Natural-language query for retrieving evidence (acronyms expanded).
    pub retrieval_query: String,
    pub severity: Severity,
}

/// Something the officer must know or decide that is not an action of its
/// own: an amount that could not be converted, a CTR not filed because the
/// customer is exempt, a general licence to confirm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleIssue {
    pub title: String,
    pub explanation: String,
    pub severity: Severity,
    pub regulations: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// The issue alone makes `requires_review` true.
    pub requires_review: bool,
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
    /// Facts to know or decide that are not actions (see [`RuleIssue`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<RuleIssue>,
    /// The transaction's date in the institution's time zone, as of which
    /// the rules were applied.
    pub as_of: NaiveDate,
    /// The business day the transaction belongs to for currency reporting
    /// (31 CFR 1010.313): after the cut-off, weekends and holidays roll to
    /// the next business day.
    pub business_day: NaiveDate,
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

    /// The same engine with the service configuration's overrides of the
    /// institution's time zone, business-day mode and posting cut-off.
    pub fn with_institution_overrides(
        mut self,
        overrides: &InstitutionOverrides<'_>,
    ) -> Result<Self, RulesError> {
        overrides.apply(&mut self.config.institution)?;
        Ok(self)
    }

    pub fn config(&self) -> &RulesConfig {
        &self.config
    }

    /// The loaded list versions (load more with `Database::refresh_sanctions`).
    pub fn sanctions(&self) -> &Arc<SanctionsLists> {
        &self.sanctions
    }

    /// Parses `input`, then evaluates it.
    pub fn evaluate_checked(&self, input: &RuleInput) -> Result<RuleOutcome, ValidationError> {
        Ok(self.evaluate(&input.parse()?))
    }

    /// Applies every rule to `input` as of the transaction's business date.
    ///
    /// Pure and deterministic; the input is validated by its type
    /// ([`RuleInput::parse`], or use [`Self::evaluate_checked`]).
    pub fn evaluate(&self, input: &ValidRuleInput) -> RuleOutcome {
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
        let mut issues = ctx.conversion_issues();
        issues.extend(ofac::license_issues(&ctx));

        let mut findings: Vec<Finding> = [
            ofac::evaluate(&ctx, &screening),
            sar::evaluate(&ctx),
            ctr::evaluate(&ctx, &mut issues),
            edd::evaluate(&ctx, &fatf, &mut issues),
            kyc::evaluate(&ctx),
            travel::evaluate(&ctx),
            instruments::evaluate(&ctx),
        ]
        .into_iter()
        .flatten()
        .collect();
        findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.code.cmp(&b.code)));

        let mut assessment = risk::assess(&ctx, &screening, &fatf, &findings);
        for issue in issues.iter().filter(|i| i.requires_review) {
            assessment.review_reasons.push(issue.title.clone());
        }
        RuleOutcome {
            findings,
            risk_score: assessment.score,
            risk_level: assessment.level,
            requires_review: !assessment.review_reasons.is_empty(),
            review_reasons: assessment.review_reasons,
            risk_factors: assessment.factors,
            issues,
            as_of: ctx.as_of,
            business_day: ctx.business_day,
            sanctions_screening: screening.record,
        }
    }
}

/// Per-evaluation facts shared by the rules.
pub(crate) struct Ctx<'a> {
    pub cfg: &'a RulesConfig,
    pub tx: &'a ValidTransaction,
    pub customer: &'a ValidCustomer,
    /// Date of the current transaction in the institution's time zone.
    pub as_of: NaiveDate,
    /// Business day of the current transaction for currency reporting.
    pub business_day: NaiveDate,
    /// The customer's other transactions: same `customer_id`, distinct
    /// `transaction_id`s other than the current one.
    pub history: Vec<&'a ValidTransaction>,
    /// USD value in cents by transaction id (`None`: no usable rate).
    usd: BTreeMap<&'a str, Option<Conversion>>,
}

/// A transaction's USD value and, for other currencies, the rate used.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Conversion {
    /// Exact USD value rounded to whole cents (half away from zero).
    pub cents: i64,
    pub rate: Option<(f64, NaiveDate)>,
}

impl<'a> Ctx<'a> {
    fn new(cfg: &'a RulesConfig, input: &'a ValidRuleInput) -> Self {
        let tx = &input.transaction;
        let mut seen = BTreeSet::new();
        seen.insert(tx.transaction_id.as_str());
        let history: Vec<&ValidTransaction> = input
            .recent_transactions
            .iter()
            .filter(|t| t.customer_id == tx.customer_id)
            .filter(|t| seen.insert(t.transaction_id.as_str()))
            .collect();
        let as_of = calendar::local_date(&tx.timestamp, &cfg.institution);
        let business_day = calendar::business_day(&tx.timestamp, &cfg.institution);
        let mut usd = BTreeMap::new();
        for t in std::iter::once(tx).chain(history.iter().copied()) {
            usd.insert(t.transaction_id.as_str(), convert(cfg, t));
        }
        Self {
            cfg,
            tx,
            customer: &input.customer,
            as_of,
            business_day,
            history,
            usd,
        }
    }

    /// The business day `t` belongs to for currency reporting.
    pub fn business_date(&self, t: &ValidTransaction) -> NaiveDate {
        calendar::business_day(&t.timestamp, &self.cfg.institution)
    }

    /// `t`'s USD value in cents, `None` when there is no usable rate.
    pub fn usd(&self, t: &ValidTransaction) -> Option<i64> {
        self.usd
            .get(t.transaction_id.as_str())
            .copied()
            .unwrap_or_else(|| convert(self.cfg, t))
            .map(|c| c.cents)
    }

    /// `t`'s USD value in cents, 0 without a rate (it is then raised as an
    /// issue by [`Self::conversion_issues`] instead of being counted).
    pub fn usd_or_zero(&self, t: &ValidTransaction) -> i64 {
        self.usd(t).unwrap_or(0)
    }

    /// One issue listing the transactions whose currency has no usable rate.
    fn conversion_issues(&self) -> Vec<RuleIssue> {
        let missing: Vec<&ValidTransaction> = std::iter::once(self.tx)
            .chain(self.history.iter().copied())
            .filter(|t| self.usd(t).is_none())
            .collect();
        if missing.is_empty() {
            return Vec::new();
        }
        let list = missing
            .iter()
            .map(|t| {
                format!(
                    "{} {} on {}",
                    t.transaction_id,
                    fmt_amount(t),
                    calendar::local_date(&t.timestamp, &self.cfg.institution)
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        vec![RuleIssue {
            title: "No conversion rate: USD value unknown".into(),
            explanation: format!(
                "No rate in the rules data converts {list} to US dollars (a rate dated on or before the transaction and at most {} days old). These amounts were left out of every threshold and total, not taken as dollars. Foreign currency is currency (31 CFR 1010.100): establish the USD value and re-run the analysis, or decide CTR, structuring and travel-rule obligations by hand.",
                self.cfg.currency.max_rate_age_days
            ),
            severity: Severity::High,
            regulations: vec!["31 CFR 1010.100".into(), "31 CFR 1010.311".into()],
            policies: Vec::new(),
            requires_review: true,
        }]
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
        self.currency_note_for(std::iter::once(self.tx))
    }

    /// A sentence naming the rates used for non-USD amounts, or "".
    pub fn currency_note_for<'t>(&self, txs: impl IntoIterator<Item = &'t ValidTransaction>) -> String {
        let mut used: BTreeSet<String> = BTreeSet::new();
        for t in txs {
            if let Some(Some(Conversion {
                rate: Some((rate, date)),
                ..
            })) = self.usd.get(t.transaction_id.as_str())
            {
                used.insert(format!("{} at {rate} USD (rate of {date})", t.currency));
            }
        }
        if used.is_empty() {
            String::new()
        } else {
            format!(
                " Foreign currency counted at its USD value (31 CFR 1010.100): {}.",
                used.into_iter().collect::<Vec<_>>().join(", ")
            )
        }
    }
}

/// `t`'s USD value with the rate table in force on its date: the exact product of
/// the amount and the rate as written in rules.toml, rounded to cents once.
fn convert(cfg: &RulesConfig, t: &ValidTransaction) -> Option<Conversion> {
    if t.currency.is_usd() {
        return Some(Conversion {
            cents: t.amount.cents(),
            rate: None,
        });
    }
    let date = calendar::local_date(&t.timestamp, &cfg.institution);
    let r = cfg.currency.rate(t.currency.as_str(), date)?;
    let usd = t.amount.times(Money::from_f64(r.usd_per_unit).ok()?.decimal())?;
    Some(Conversion {
        cents: usd.cents(),
        rate: Some((r.usd_per_unit, r.date)),
    })
}

/// Cash classes for currency reporting (31 CFR 1010.313(b)): cash in and
/// cash out are totalled separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CashClass {
    In,
    Out,
}

impl CashClass {
    /// Cash deposits, cash purchases of monetary instruments (cash in) and
    /// cash withdrawals (cash out) are transactions in currency.
    pub fn of(t: TransactionType) -> Option<Self> {
        match t {
            TransactionType::CashDeposit | TransactionType::MonetaryInstrumentPurchase => {
                Some(Self::In)
            }
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
            Self::In => "cash in (deposits and instrument purchases)",
            Self::Out => "cash out (withdrawals)",
        }
    }
}

/// A dollar figure of the rules data (a threshold, a band) in whole cents, read
/// exactly as written (0 for a non-finite one, which the data's validation refuses).
pub(crate) fn cents(usd: f64) -> i64 {
    Money::from_f64(usd).map_or(0, Money::cents)
}

/// `$12,345.67` (negative shown with a leading minus).
pub(crate) fn fmt_usd(cents: i64) -> String {
    Money::from_cents(cents).usd()
}

/// The transaction's amount for messages, e.g. `$9,600.00` or
/// `EUR 9,600.00`.
pub(crate) fn fmt_amount(t: &ValidTransaction) -> String {
    t.amount.in_currency(&t.currency)
}

/// "within N calendar days of [what ]D (by D+N)", and D+N.
pub(crate) fn calendar_deadline(what: &str, from: NaiveDate, days: u32) -> (String, NaiveDate) {
    let by = calendar::add_days(from, days);
    (format!("within {days} calendar days of {what}{from} (by {by})"), by)
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
        assert_eq!(cents(10000.0), 1_000_000);
        assert_eq!(cents(10000.005), 1_000_001, "half a cent up, read as written");
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
