//! Loading and validating the rules engine's data: `rules/rules.toml`
//! ([`RulesConfig`]). The sanctions lists themselves are dated versions in the
//! database (`crate::sanctions`).
//!
//! This is the only part of the rules engine that does I/O, and only when
//! asked to (`load`); [`RulesConfig::builtin`] parses a copy embedded at
//! compile time, so defaults and tests do not depend on the working directory.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{Datelike, NaiveDate, NaiveTime};
use chrono_tz::Tz;
use serde::Deserialize;

use crate::domain::{CustomerType, KycStatus, RiskRating, TransactionType, is_iso_country};

use super::ActionCode;

/// The embedded copy of `rules/rules.toml`.
pub const BUILTIN_RULES_TOML: &str = include_str!("../../rules/rules.toml");

/// Errors loading or validating rules data.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot parse rules file {path}: {source}")]
    Toml {
        path: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("invalid rules data at `{key}`: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> RulesError {
    RulesError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// An IANA time zone name, parsed when the config is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct TimeZone(pub Tz);

impl TryFrom<String> for TimeZone {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Tz::from_str(&s)
            .map(TimeZone)
            .map_err(|_| format!("unknown IANA time zone {s:?}"))
    }
}

/// How a transaction's business day is decided for CTR aggregation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusinessDayMode {
    /// 31 CFR 1010.313 / 1010.100: the day the bank posts the transaction.
    /// Cash received at or after `daily_cutoff` (local time in `time_zone`),
    /// on a weekend or on a holiday belongs to the next business day.
    PostingCutoff,
    /// The UTC calendar date of the timestamp, weekends and holidays
    /// included (for callers whose data already follows that convention).
    UtcMidnight,
}

/// A local wall-clock time written `"HH:MM"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct LocalTime(pub NaiveTime);

impl TryFrom<String> for LocalTime {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        NaiveTime::parse_from_str(&s, "%H:%M")
            .map(LocalTime)
            .map_err(|_| format!("{s:?} is not a time of day written HH:MM"))
    }
}

/// A day of the year written `"MM-DD"` (e.g. OFAC's annual report dates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct MonthDay {
    pub month: u32,
    pub day: u32,
}

impl TryFrom<String> for MonthDay {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        // 2024 is a leap year, so any real month-day parses.
        NaiveDate::parse_from_str(&format!("2024-{s}"), "%Y-%m-%d")
            .map(|d| MonthDay {
                month: d.month(),
                day: d.day(),
            })
            .map_err(|_| format!("{s:?} is not a day of the year written MM-DD"))
    }
}

impl MonthDay {
    /// This day in `year` (28 February for 29 February in other years).
    pub fn in_year(self, year: i32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, self.month, self.day)
            .or_else(|| NaiveDate::from_ymd_opt(year, self.month, self.day - 1))
            .unwrap_or(NaiveDate::MAX)
    }
}

/// A parameter set that is in force from `effective_from` (inclusive) to
/// `effective_to` (exclusive, open-ended if `None`).
pub trait Effective {
    fn effective_from(&self) -> NaiveDate;
    fn effective_to(&self) -> Option<NaiveDate>;
    fn in_force_on(&self, date: NaiveDate) -> bool {
        date >= self.effective_from() && self.effective_to().is_none_or(|to| date < to)
    }
}

macro_rules! effective {
    ($($t:ty),*) => {$(
        impl Effective for $t {
            fn effective_from(&self) -> NaiveDate { self.effective_from }
            fn effective_to(&self) -> Option<NaiveDate> { self.effective_to }
        }
    )*};
}

/// The version of a family in force on `date`, if any.
pub fn in_force<T: Effective>(versions: &[T], date: NaiveDate) -> Option<&T> {
    versions.iter().find(|v| v.in_force_on(date))
}

/// The whole of `rules/rules.toml`; see the comments in that file for the
/// meaning of every key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    pub schema_version: u32,
    pub institution: InstitutionConfig,
    pub ctr: Vec<CtrParams>,
    pub structuring: Vec<StructuringParams>,
    pub travel_rule: Vec<TravelRuleParams>,
    pub ofac: OfacConfig,
    pub edd: EddConfig,
    pub kyc: KycConfig,
    pub currency: CurrencyConfig,
    pub records: RecordsConfig,
    pub monetary_instruments: Vec<MonetaryInstrumentParams>,
    pub risk: RiskConfig,
    pub review: ReviewConfig,
    /// Directory relative paths in the file are resolved against (the
    /// directory of the loaded file; `None` for the builtin copy).
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstitutionConfig {
    pub time_zone: TimeZone,
    pub business_day: BusinessDayMode,
    /// Posting cut-off in `time_zone` for [`BusinessDayMode::PostingCutoff`].
    pub daily_cutoff: LocalTime,
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
}

/// Overrides of `[institution]` from the service configuration (reagent.toml
/// `[rules]`, env `REAGENT_RULES_TIME_ZONE`, `REAGENT_RULES_BUSINESS_DAY`,
/// `REAGENT_RULES_DAILY_CUTOFF`); an empty string keeps the rules data's value.
#[derive(Debug, Clone, Copy, Default)]
pub struct InstitutionOverrides<'a> {
    pub time_zone: &'a str,
    pub business_day: &'a str,
    pub daily_cutoff: &'a str,
}

impl InstitutionOverrides<'_> {
    /// Applies the non-empty overrides; errors name the `rules.*` setting.
    pub fn apply(&self, inst: &mut InstitutionConfig) -> Result<(), RulesError> {
        let tz = self.time_zone.trim();
        if !tz.is_empty() {
            inst.time_zone =
                TimeZone::try_from(tz.to_owned()).map_err(|m| invalid("rules.time_zone", m))?;
        }
        match self.business_day.trim() {
            "" => {}
            "posting_cutoff" => inst.business_day = BusinessDayMode::PostingCutoff,
            "utc_midnight" => inst.business_day = BusinessDayMode::UtcMidnight,
            other => {
                return Err(invalid(
                    "rules.business_day",
                    format!("{other:?} is not posting_cutoff or utc_midnight"),
                ));
            }
        }
        let cutoff = self.daily_cutoff.trim();
        if !cutoff.is_empty() {
            inst.daily_cutoff = LocalTime::try_from(cutoff.to_owned())
                .map_err(|m| invalid("rules.daily_cutoff", m))?;
        }
        Ok(())
    }

    /// Checks the overrides without rules data (for start-up validation).
    pub fn check(&self) -> Result<(), RulesError> {
        let mut probe = InstitutionConfig {
            time_zone: TimeZone(Tz::UTC),
            business_day: BusinessDayMode::PostingCutoff,
            daily_cutoff: LocalTime(NaiveTime::MIN),
            holidays: Vec::new(),
        };
        self.apply(&mut probe)
    }
}

/// Conversion of foreign currency to its USD value (31 CFR 1010.100:
/// currency includes foreign coin and currency).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurrencyConfig {
    /// A rate older than this many days (before the transaction date) is not
    /// used; the amount is then reported as unconverted.
    pub max_rate_age_days: u32,
    #[serde(default)]
    pub rates: Vec<FxRate>,
}

/// USD per unit of `currency`, from `date` until the next rate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FxRate {
    pub currency: String,
    pub date: NaiveDate,
    pub usd_per_unit: f64,
}

impl CurrencyConfig {
    /// The newest rate for `currency` dated on or before `on`, at most
    /// `max_rate_age_days` old.
    pub fn rate(&self, currency: &str, on: NaiveDate) -> Option<&FxRate> {
        self.rates
            .iter()
            .filter(|r| r.currency == currency && r.date <= on)
            .filter(|r| (on - r.date).num_days() <= i64::from(self.max_rate_age_days))
            .max_by_key(|r| r.date)
    }
}

/// Record retention (31 CFR 1010.430 for BSA records, 501.601 for OFAC).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordsConfig {
    pub bsa_years: u32,
    pub ofac: Vec<RetentionPeriod>,
}

/// Years a record made in the period must be kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionPeriod {
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
    pub years: u32,
    pub regulation: String,
}

/// MONETARY_INSTRUMENT_RECORD parameters (31 CFR 1010.415).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonetaryInstrumentParams {
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
    /// Cash purchases from this amount up to `max_usd`, both inclusive.
    pub min_usd: f64,
    pub max_usd: f64,
}

/// CTR_FILING parameters (31 CFR 1010.311, 1010.313, 1010.306).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CtrParams {
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
    pub threshold_usd: f64,
    pub filing_deadline_days: u32,
}

/// SAR_REVIEW parameters (31 CFR 1010.314, 1020.320).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StructuringParams {
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
    pub look_back_days: u32,
    pub band_min_usd: f64,
    pub band_max_usd: f64,
    pub min_near_threshold_days: u32,
    pub split_min_pieces: u32,
    /// Customer types for which `split_min_pieces` alone is a pattern (an
    /// ordinary cash business makes several deposits a day).
    pub split_min_pieces_customer_types: Vec<CustomerType>,
    pub split_min_near_band_pieces: u32,
    /// Repeated sub-threshold cash: pieces from this amount up to the CTR
    /// threshold, on days whose class total stays at or below it...
    pub repeat_min_usd: f64,
    /// ...on at least this many distinct business days in the window.
    pub repeat_min_days: u32,
    pub rapid_enabled: bool,
    pub rapid_out_types: Vec<TransactionType>,
    pub rapid_window_days: u32,
    pub rapid_min_cash_pieces: u32,
    pub rapid_min_ratio: f64,
    pub sar_min_amount_usd: f64,
    pub filing_deadline_days: u32,
    /// 1020.320(b)(3): with no suspect identified, filing may be delayed to
    /// this many days after initial detection.
    pub no_suspect_max_days: u32,
    /// Continuing activity: review this many days after the last SAR...
    pub continuing_review_days: u32,
    /// ...and file the continuing SAR within this many days of it.
    pub continuing_filing_days: u32,
}

/// TRAVEL_RULE_RECORDS parameters (31 CFR 1010.410, 1020.410).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TravelRuleParams {
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
    pub threshold_usd: f64,
    pub transaction_types: Vec<TransactionType>,
}

effective!(
    RetentionPeriod,
    MonetaryInstrumentParams,
    CtrParams,
    StructuringParams,
    TravelRuleParams,
    SanctionedJurisdiction,
    SanctionedRegion,
    FatfJurisdiction
);

/// OFAC_BLOCK_OR_REJECT data (31 CFR Part 501 and program parts).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfacConfig {
    pub report_deadline_business_days: u32,
    /// Annual report of blocked property: as of this day, due on
    /// `annual_report_due` (31 CFR 501.603(b)(2)).
    pub annual_report_as_of: MonthDay,
    pub annual_report_due: MonthDay,
    pub name_match_threshold: f64,
    pub min_name_chars: usize,
    #[serde(default)]
    pub ignored_name_tokens: Vec<String>,
    pub screen_customer_name: bool,
    pub screen_counterparty_name: bool,
    /// Names of listed parties inside the free-text description.
    pub screen_description: bool,
    #[serde(default)]
    pub jurisdictions: Vec<SanctionedJurisdiction>,
    /// Country names and major cities of the jurisdictions above, found in text.
    #[serde(default)]
    pub place_names: Vec<PlaceNames>,
    #[serde(default)]
    pub regions: Vec<SanctionedRegion>,
    #[serde(default)]
    pub sdn_programs: Vec<SdnProgram>,
}

impl OfacConfig {
    /// The regulation cited for an SDN program tag, if mapped.
    pub fn part_for(&self, tag: &str) -> Option<&str> {
        self.sdn_programs.iter().find(|p| p.tag == tag).map(|p| p.regulation.as_str())
    }
}

/// A comprehensively sanctioned country.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SanctionedJurisdiction {
    pub country: String,
    pub name: String,
    pub program: String,
    pub regulation: String,
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
    /// A general licence authorising most transactions from `licensed_from`:
    /// the advice is then to confirm it applies and screen for SDNs.
    #[serde(default)]
    pub general_license: Option<String>,
    #[serde(default)]
    pub licensed_from: Option<NaiveDate>,
}

impl SanctionedJurisdiction {
    /// The general licence covering `date`, if one does.
    pub fn license_on(&self, date: NaiveDate) -> Option<&str> {
        match (&self.general_license, self.licensed_from) {
            (Some(l), Some(from)) if date >= from => Some(l.as_str()),
            _ => None,
        }
    }
}

/// Words in the counterparty name or description that place a transaction in a
/// sanctioned jurisdiction (`country`), in force while that jurisdiction is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaceNames {
    pub country: String,
    /// Lowercase words or phrases, matched as whole words.
    pub terms: Vec<String>,
}

/// A sanctioned region without its own country code (e.g. Crimea).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SanctionedRegion {
    pub name: String,
    pub program: String,
    pub regulation: String,
    /// Lowercase words or phrases, matched as whole words whatever the country codes.
    pub terms: Vec<String>,
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
}

/// SDN program tag → cited regulation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SdnProgram {
    pub tag: String,
    pub regulation: String,
}

/// ENHANCED_DUE_DILIGENCE data.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EddConfig {
    pub pep: bool,
    pub trigger_risk_ratings: Vec<RiskRating>,
    /// Business days to start the EDD review (bank procedure).
    pub review_start_business_days: u32,
    /// Bank procedure sections cited (`EDD 5.1`), by subject.
    pub policy_foreign_pep: Vec<String>,
    pub policy_private_banking: Vec<String>,
    pub policy_domestic_pep: Vec<String>,
    pub policy_high_risk: Vec<String>,
    pub policy_review_deadline: String,
    #[serde(default)]
    pub fatf_call_for_action: Vec<FatfJurisdiction>,
}

/// A FATF call-for-action jurisdiction.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FatfJurisdiction {
    pub country: String,
    pub name: String,
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
}

/// KYC_REMEDIATION data.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KycConfig {
    pub trigger_statuses: Vec<KycStatus>,
    /// PENDING: identity verified within this many calendar days of opening.
    pub pending_verification_days: u32,
    pub policy_pending: Vec<String>,
    /// EXPIRED: the customer is contacted within this many business days.
    pub expired_contact_business_days: u32,
    pub policy_expired: Vec<String>,
}

/// Risk-score weights (see `risk.rs` and rules.toml for the formula).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskConfig {
    pub pep_points: f64,
    pub sanctioned_jurisdiction_points: f64,
    pub fatf_jurisdiction_points: f64,
    pub sanctions_name_match_points: f64,
    pub kyc_incomplete_points: f64,
    pub input_score_weight: f64,
    pub level_medium_from: f64,
    pub level_high_from: f64,
    pub rating_points: RatingPoints,
    pub amount_tiers: Vec<AmountTier>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatingPoints {
    pub low: f64,
    pub medium: f64,
    pub high: f64,
}

impl RatingPoints {
    pub fn for_rating(&self, r: RiskRating) -> f64 {
        match r {
            RiskRating::Low => self.low,
            RiskRating::Medium => self.medium,
            RiskRating::High => self.high,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmountTier {
    pub from_usd: f64,
    pub points: f64,
}

/// When `requires_review` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewConfig {
    pub amount_over_usd: f64,
    pub risk_score_over: f64,
    pub input_risk_score_over: f64,
    pub on_pep: bool,
    pub on_high_risk_jurisdiction: bool,
    pub on_kyc_incomplete: bool,
    pub on_actions: Vec<ActionCode>,
}

impl RulesConfig {
    /// Reads and validates a rules file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, RulesError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| RulesError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut cfg = Self::from_toml_str(&text, &path.display().to_string())?;
        cfg.base_dir = path.parent().map(Path::to_path_buf);
        Ok(cfg)
    }

    /// Parses the copy of `rules/rules.toml` embedded at compile time.
    pub fn builtin() -> Result<Self, RulesError> {
        Self::from_toml_str(BUILTIN_RULES_TOML, "<builtin rules/rules.toml>")
    }

    /// Parses and validates TOML text; `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, RulesError> {
        let cfg: RulesConfig = toml::from_str(text).map_err(|source| RulesError::Toml {
            path: origin.to_owned(),
            source,
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The name-matching parameters of `[ofac]`.
    pub fn match_settings(&self) -> crate::sanctions::MatchSettings {
        crate::sanctions::MatchSettings {
            threshold: self.ofac.name_match_threshold,
            min_name_chars: self.ofac.min_name_chars,
            ignored_tokens: self.ofac.ignored_name_tokens.iter().cloned().collect(),
        }
    }

    /// The institution's time zone.
    pub fn time_zone(&self) -> Tz {
        self.institution.time_zone.0
    }

    /// Checks ranges and consistency; called by every constructor.
    pub fn validate(&self) -> Result<(), RulesError> {
        if self.schema_version != 1 {
            return Err(invalid(
                "schema_version",
                format!("unsupported version {}, expected 1", self.schema_version),
            ));
        }
        for (i, p) in self.ctr.iter().enumerate() {
            let k = format!("ctr[{i}]");
            positive_money(&format!("{k}.threshold_usd"), p.threshold_usd)?;
            positive_days(&format!("{k}.filing_deadline_days"), p.filing_deadline_days)?;
        }
        check_versions("ctr", &self.ctr)?;

        for (i, p) in self.structuring.iter().enumerate() {
            let k = format!("structuring[{i}]");
            positive_days(&format!("{k}.look_back_days"), p.look_back_days)?;
            positive_money(&format!("{k}.band_min_usd"), p.band_min_usd)?;
            positive_money(&format!("{k}.band_max_usd"), p.band_max_usd)?;
            if p.band_min_usd > p.band_max_usd {
                return Err(invalid(
                    format!("{k}.band_min_usd"),
                    "must not exceed band_max_usd",
                ));
            }
            // The band must lie at or below the CTR threshold in force when
            // the structuring version starts.
            if let Some(ctr) = in_force(&self.ctr, p.effective_from)
                && p.band_max_usd > ctr.threshold_usd
            {
                return Err(invalid(
                    format!("{k}.band_max_usd"),
                    "must not exceed the CTR threshold",
                ));
            }
            positive_days(
                &format!("{k}.min_near_threshold_days"),
                p.min_near_threshold_days,
            )?;
            if p.split_min_pieces < 2 {
                return Err(invalid(
                    format!("{k}.split_min_pieces"),
                    "must be at least 2",
                ));
            }
            if p.split_min_near_band_pieces < 2 {
                return Err(invalid(
                    format!("{k}.split_min_near_band_pieces"),
                    "must be at least 2",
                ));
            }
            positive_days(&format!("{k}.rapid_window_days"), p.rapid_window_days)?;
            positive_days(
                &format!("{k}.rapid_min_cash_pieces"),
                p.rapid_min_cash_pieces,
            )?;
            if !(p.rapid_min_ratio > 0.0 && p.rapid_min_ratio <= 1.0) {
                return Err(invalid(format!("{k}.rapid_min_ratio"), "must be in (0, 1]"));
            }
            positive_money(&format!("{k}.sar_min_amount_usd"), p.sar_min_amount_usd)?;
            positive_days(&format!("{k}.filing_deadline_days"), p.filing_deadline_days)?;
            positive_money(&format!("{k}.repeat_min_usd"), p.repeat_min_usd)?;
            if p.repeat_min_days < 2 {
                return Err(invalid(
                    format!("{k}.repeat_min_days"),
                    "must be at least 2",
                ));
            }
            if p.no_suspect_max_days < p.filing_deadline_days {
                return Err(invalid(
                    format!("{k}.no_suspect_max_days"),
                    "must not be shorter than filing_deadline_days",
                ));
            }
            positive_days(
                &format!("{k}.continuing_review_days"),
                p.continuing_review_days,
            )?;
            if p.continuing_filing_days < p.continuing_review_days {
                return Err(invalid(
                    format!("{k}.continuing_filing_days"),
                    "must not be shorter than continuing_review_days",
                ));
            }
        }
        check_versions("structuring", &self.structuring)?;

        for (i, p) in self.travel_rule.iter().enumerate() {
            let k = format!("travel_rule[{i}]");
            positive_money(&format!("{k}.threshold_usd"), p.threshold_usd)?;
            if p.transaction_types.is_empty() {
                return Err(invalid(
                    format!("{k}.transaction_types"),
                    "must not be empty",
                ));
            }
        }
        check_versions("travel_rule", &self.travel_rule)?;

        let c = &self.currency;
        for (i, r) in c.rates.iter().enumerate() {
            let k = format!("currency.rates[{i}]");
            if !(r.currency.len() == 3 && r.currency.bytes().all(|b| b.is_ascii_uppercase())) {
                return Err(invalid(
                    format!("{k}.currency"),
                    "must be three uppercase letters",
                ));
            }
            if r.currency == "USD" {
                return Err(invalid(format!("{k}.currency"), "USD needs no rate"));
            }
            if !(r.usd_per_unit.is_finite() && r.usd_per_unit > 0.0) {
                return Err(invalid(
                    format!("{k}.usd_per_unit"),
                    "must be a positive number",
                ));
            }
            if c.rates[..i]
                .iter()
                .any(|o| o.currency == r.currency && o.date == r.date)
            {
                return Err(invalid(
                    format!("{k}.date"),
                    "two rates for one currency and date",
                ));
            }
        }

        positive_days("records.bsa_years", self.records.bsa_years)?;
        for (i, p) in self.records.ofac.iter().enumerate() {
            positive_days(&format!("records.ofac[{i}].years"), p.years)?;
            non_empty(&format!("records.ofac[{i}].regulation"), &p.regulation)?;
        }
        check_versions("records.ofac", &self.records.ofac)?;

        for (i, p) in self.monetary_instruments.iter().enumerate() {
            let k = format!("monetary_instruments[{i}]");
            positive_money(&format!("{k}.min_usd"), p.min_usd)?;
            positive_money(&format!("{k}.max_usd"), p.max_usd)?;
            if p.min_usd > p.max_usd {
                return Err(invalid(format!("{k}.min_usd"), "must not exceed max_usd"));
            }
        }
        check_versions("monetary_instruments", &self.monetary_instruments)?;

        let o = &self.ofac;
        positive_days(
            "ofac.report_deadline_business_days",
            o.report_deadline_business_days,
        )?;
        if !(o.name_match_threshold > 0.0 && o.name_match_threshold <= 1.0) {
            return Err(invalid("ofac.name_match_threshold", "must be in (0, 1]"));
        }
        for (i, t) in o.ignored_name_tokens.iter().enumerate() {
            lowercase_word(&format!("ofac.ignored_name_tokens[{i}]"), t)?;
        }
        for (i, j) in o.jurisdictions.iter().enumerate() {
            let k = format!("ofac.jurisdictions[{i}]");
            country(&format!("{k}.country"), &j.country)?;
            non_empty(&format!("{k}.regulation"), &j.regulation)?;
            period(&k, j)?;
            match (&j.general_license, j.licensed_from) {
                (None, None) => {}
                (Some(_), Some(from)) if j.in_force_on(from) => {}
                _ => {
                    return Err(invalid(
                        format!("{k}.licensed_from"),
                        "general_license and licensed_from go together, within the program's period",
                    ));
                }
            }
        }
        for (i, p) in o.place_names.iter().enumerate() {
            let k = format!("ofac.place_names[{i}]");
            country(&format!("{k}.country"), &p.country)?;
            if !o.jurisdictions.iter().any(|j| j.country == p.country) {
                return Err(invalid(format!("{k}.country"), "names no [[ofac.jurisdictions]] entry"));
            }
            for (n, t) in p.terms.iter().enumerate() {
                lowercase_phrase(&format!("{k}.terms[{n}]"), t)?;
            }
        }
        for (i, r) in o.regions.iter().enumerate() {
            let k = format!("ofac.regions[{i}]");
            if r.terms.is_empty() {
                return Err(invalid(format!("{k}.terms"), "must not be empty"));
            }
            for (n, t) in r.terms.iter().enumerate() {
                lowercase_phrase(&format!("{k}.terms[{n}]"), t)?;
            }
            non_empty(&format!("{k}.regulation"), &r.regulation)?;
            period(&k, r)?;
        }
        for (i, p) in o.sdn_programs.iter().enumerate() {
            non_empty(&format!("ofac.sdn_programs[{i}].tag"), &p.tag)?;
            non_empty(&format!("ofac.sdn_programs[{i}].regulation"), &p.regulation)?;
        }

        positive_days(
            "edd.review_start_business_days",
            self.edd.review_start_business_days,
        )?;
        positive_days(
            "kyc.pending_verification_days",
            self.kyc.pending_verification_days,
        )?;
        positive_days(
            "kyc.expired_contact_business_days",
            self.kyc.expired_contact_business_days,
        )?;
        let mut holidays = self.institution.holidays.clone();
        holidays.sort();
        if holidays.windows(2).any(|w| w[0] == w[1]) {
            return Err(invalid("institution.holidays", "a day is listed twice"));
        }

        for (i, f) in self.edd.fatf_call_for_action.iter().enumerate() {
            let k = format!("edd.fatf_call_for_action[{i}]");
            country(&format!("{k}.country"), &f.country)?;
            period(&k, f)?;
        }

        let r = &self.risk;
        for (key, v) in [
            ("risk.pep_points", r.pep_points),
            (
                "risk.sanctioned_jurisdiction_points",
                r.sanctioned_jurisdiction_points,
            ),
            ("risk.fatf_jurisdiction_points", r.fatf_jurisdiction_points),
            (
                "risk.sanctions_name_match_points",
                r.sanctions_name_match_points,
            ),
            ("risk.kyc_incomplete_points", r.kyc_incomplete_points),
            ("risk.input_score_weight", r.input_score_weight),
            ("risk.rating_points.low", r.rating_points.low),
            ("risk.rating_points.medium", r.rating_points.medium),
            ("risk.rating_points.high", r.rating_points.high),
        ] {
            unit(key, v)?;
        }
        if !(r.level_medium_from > 0.0
            && r.level_medium_from < r.level_high_from
            && r.level_high_from <= 1.0)
        {
            return Err(invalid(
                "risk.level_medium_from",
                "levels must satisfy 0 < level_medium_from < level_high_from <= 1",
            ));
        }
        match r.amount_tiers.first() {
            Some(t) if t.from_usd == 0.0 => {}
            _ => {
                return Err(invalid(
                    "risk.amount_tiers",
                    "the first tier must have from_usd = 0",
                ));
            }
        }
        for (i, t) in r.amount_tiers.iter().enumerate() {
            unit(&format!("risk.amount_tiers[{i}].points"), t.points)?;
            if !t.from_usd.is_finite() {
                return Err(invalid(
                    format!("risk.amount_tiers[{i}].from_usd"),
                    "must be finite",
                ));
            }
        }
        if r.amount_tiers
            .windows(2)
            .any(|w| w[0].from_usd >= w[1].from_usd)
        {
            return Err(invalid(
                "risk.amount_tiers",
                "from_usd must be strictly ascending",
            ));
        }

        let v = &self.review;
        positive_money("review.amount_over_usd", v.amount_over_usd)?;
        unit("review.risk_score_over", v.risk_score_over)?;
        unit("review.input_risk_score_over", v.input_risk_score_over)?;
        Ok(())
    }
}

fn positive_money(key: &str, v: f64) -> Result<(), RulesError> {
    if v.is_finite() && v > 0.0 && v <= crate::domain::MAX_AMOUNT {
        Ok(())
    } else {
        Err(invalid(key, format!("must be a positive amount (got {v})")))
    }
}

fn positive_days(key: &str, v: u32) -> Result<(), RulesError> {
    if v > 0 {
        Ok(())
    } else {
        Err(invalid(key, "must be at least 1"))
    }
}

fn unit(key: &str, v: f64) -> Result<(), RulesError> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(invalid(key, format!("must be between 0 and 1 (got {v})")))
    }
}

fn country(key: &str, code: &str) -> Result<(), RulesError> {
    if is_iso_country(code) {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("{code:?} is not an ISO 3166-1 alpha-2 code"),
        ))
    }
}

fn non_empty(key: &str, v: &str) -> Result<(), RulesError> {
    if v.trim().is_empty() {
        Err(invalid(key, "must not be empty"))
    } else {
        Ok(())
    }
}

fn lowercase_word(key: &str, v: &str) -> Result<(), RulesError> {
    if !v.is_empty() && v.chars().all(|c| c.is_alphanumeric() && !c.is_uppercase()) {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("{v:?} must be a single lowercase word"),
        ))
    }
}

/// Lowercase words separated by single spaces, as text normalisation produces them.
fn lowercase_phrase(key: &str, v: &str) -> Result<(), RulesError> {
    if crate::sanctions::normalize_words(v).join(" ") == v {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("{v:?} must be lowercase words separated by single spaces"),
        ))
    }
}

fn period<T: Effective>(key: &str, v: &T) -> Result<(), RulesError> {
    match v.effective_to() {
        Some(to) if to <= v.effective_from() => Err(invalid(
            format!("{key}.effective_to"),
            "must be after effective_from",
        )),
        _ => Ok(()),
    }
}

fn check_versions<T: Effective>(family: &str, versions: &[T]) -> Result<(), RulesError> {
    for (i, v) in versions.iter().enumerate() {
        period(&format!("{family}[{i}]"), v)?;
    }
    let mut sorted: Vec<&T> = versions.iter().collect();
    sorted.sort_by_key(|v| v.effective_from());
    for w in sorted.windows(2) {
        match w[0].effective_to() {
            Some(to) if to <= w[1].effective_from() => {}
            _ => {
                return Err(invalid(
                    family,
                    format!(
                        "versions overlap: the one from {} has no effective_to before {}",
                        w[0].effective_from(),
                        w[1].effective_from()
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_config_parses_and_validates() {
        let cfg = RulesConfig::builtin();
        assert!(cfg.is_ok(), "{:?}", cfg.err());
    }

    fn modified(from: &str, to: &str) -> Result<RulesConfig, RulesError> {
        assert!(BUILTIN_RULES_TOML.contains(from), "{from}");
        RulesConfig::from_toml_str(&BUILTIN_RULES_TOML.replacen(from, to, 1), "t")
    }

    #[test]
    fn invalid_values_are_rejected_with_key() {
        let key = |r: Result<RulesConfig, RulesError>| match r {
            Err(RulesError::Invalid { key, .. }) => key,
            Err(e) => format!("other error: {e}"),
            Ok(_) => "accepted".into(),
        };
        assert_eq!(
            key(modified("threshold_usd = 10000.0", "threshold_usd = -1.0")),
            "ctr[0].threshold_usd"
        );
        assert_eq!(
            key(modified("band_max_usd = 10000.0", "band_max_usd = 10500.0")),
            "structuring[0].band_max_usd"
        );
        assert_eq!(
            key(modified(
                "name_match_threshold = 0.88",
                "name_match_threshold = 1.5"
            )),
            "ofac.name_match_threshold"
        );
        assert_eq!(
            key(modified("country = \"CU\"", "country = \"XX\"")),
            "ofac.jurisdictions[0].country"
        );
        assert_eq!(
            key(modified(
                "effective_to = \"2025-07-01\"",
                "effective_to = \"2010-01-01\""
            )),
            "ofac.jurisdictions[3].effective_to"
        );
        assert_eq!(
            key(modified("level_high_from = 0.7", "level_high_from = 0.3")),
            "risk.level_medium_from"
        );
    }

    #[test]
    fn unknown_keys_bad_zone_and_overlaps_are_rejected() {
        assert!(matches!(
            modified(
                "threshold_usd = 10000.0",
                "threshold_usd = 10000.0\nthreshhold = 1"
            ),
            Err(RulesError::Toml { .. })
        ));
        assert!(matches!(
            modified(
                "time_zone = \"America/New_York\"",
                "time_zone = \"Mars/Olympus\""
            ),
            Err(RulesError::Toml { .. })
        ));
        let overlapping = "\n[[ctr]]\neffective_from = \"2020-01-01\"\nthreshold_usd = 5000.0\nfiling_deadline_days = 15\n\n[[ctr]]\n";
        assert!(matches!(
            modified("\n[[ctr]]\n", overlapping),
            Err(RulesError::Invalid { .. })
        ));
    }

    #[test]
    fn business_day_settings_and_rates_are_validated() {
        assert!(matches!(
            modified("daily_cutoff = \"18:00\"", "daily_cutoff = \"6pm\""),
            Err(RulesError::Toml { .. })
        ));
        assert!(matches!(
            modified(
                "business_day = \"posting_cutoff\"",
                "business_day = \"midnight\""
            ),
            Err(RulesError::Toml { .. })
        ));
        let key = |r: Result<RulesConfig, RulesError>| match r {
            Err(RulesError::Invalid { key, .. }) => key,
            Err(e) => format!("other error: {e}"),
            Ok(_) => "accepted".into(),
        };
        assert_eq!(
            key(modified("usd_per_unit = 1.04", "usd_per_unit = -1.04")),
            "currency.rates[0].usd_per_unit"
        );
        assert_eq!(
            key(modified(
                "currency = \"EUR\", date",
                "currency = \"USD\", date"
            )),
            "currency.rates[0].currency"
        );
        assert_eq!(
            key(modified("\"2024-01-15\"", "\"2024-01-01\"")),
            "institution.holidays"
        );
    }

    /// Federal holidays 2024-2030 with observed days (a Saturday holiday
    /// on the Friday before, a Sunday one on the Monday after).
    #[test]
    fn institution_overrides_replace_only_what_they_name() {
        let cfg = match RulesConfig::builtin() {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let mut inst = cfg.institution.clone();
        let none = InstitutionOverrides::default();
        assert!(none.apply(&mut inst).is_ok());
        assert_eq!(inst.business_day, BusinessDayMode::PostingCutoff);
        let some = InstitutionOverrides {
            time_zone: "America/Chicago",
            business_day: "utc_midnight",
            daily_cutoff: "14:30",
        };
        assert!(some.apply(&mut inst).is_ok());
        assert_eq!(inst.time_zone.0, chrono_tz::America::Chicago);
        assert_eq!(inst.business_day, BusinessDayMode::UtcMidnight);
        assert_eq!(inst.daily_cutoff.0.to_string(), "14:30:00");
        let key = |o: InstitutionOverrides<'_>| match o.check() {
            Err(RulesError::Invalid { key, .. }) => key,
            other => format!("{other:?}"),
        };
        let bad = InstitutionOverrides::default();
        assert_eq!(
            key(InstitutionOverrides {
                daily_cutoff: "25:00",
                ..bad
            }),
            "rules.daily_cutoff"
        );
        assert_eq!(
            key(InstitutionOverrides {
                business_day: "local",
                ..bad
            }),
            "rules.business_day"
        );
        assert_eq!(
            key(InstitutionOverrides {
                time_zone: "Mars/Base",
                ..bad
            }),
            "rules.time_zone"
        );
    }

    #[test]
    fn holiday_calendar_runs_through_2030_with_observed_days() {
        let cfg = match RulesConfig::builtin() {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let h = &cfg.institution.holidays;
        for year in 2024..=2030 {
            let n = h.iter().filter(|d| d.year() == year).count();
            // 11 a year; 2027 also holds 2027-12-31 (New Year's Day 2028,
            // a Saturday), which 2028 then lacks.
            let want = match year {
                2027 => 12,
                2028 => 10,
                _ => 11,
            };
            assert_eq!(n, want, "{year}");
        }
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or(NaiveDate::MIN);
        for observed in [
            "2026-07-03",
            "2027-06-18",
            "2027-12-24",
            "2027-12-31",
            "2028-11-10",
            "2029-11-12",
        ] {
            assert!(h.contains(&d(observed)), "{observed}");
        }
    }

    #[test]
    fn versions_select_by_date() {
        let two = "\n[[ctr]]\neffective_from = \"2030-01-01\"\nthreshold_usd = 20000.0\nfiling_deadline_days = 15\n\n[[ctr]]\neffective_to = \"2030-01-01\"\n";
        let cfg = match modified("\n[[ctr]]\n", two) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        let at = |s: &str| {
            d(s).and_then(|d| in_force(&cfg.ctr, d))
                .map(|p| p.threshold_usd)
        };
        assert_eq!(at("2029-12-31"), Some(10000.0));
        assert_eq!(at("2030-01-01"), Some(20000.0));
        assert_eq!(at("1960-01-01"), None);
    }
}
