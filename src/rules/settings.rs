//! Owns the rules engine's `[rules]` settings: where its data comes from and the
//! institution overrides applied over the data's `[institution]`.

use serde::{Deserialize, Serialize};

/// Where the rules engine's data comes from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesSettings {
    /// A rules.toml in the layout of rules/rules.toml; empty: the built-in copy.
    pub file: String,
    /// Overrides of the rules data's `[institution]` (empty: keep it). The
    /// built-in data: America/New_York, posting_cutoff, 18:00.
    #[serde(default)]
    pub time_zone: String,
    /// `posting_cutoff` (31 CFR 1010.313 business day) or `utc_midnight`.
    #[serde(default)]
    pub business_day: String,
    /// Posting cut-off, local `HH:MM`.
    #[serde(default)]
    pub daily_cutoff: String,
}

impl RulesSettings {
    pub fn institution_overrides(&self) -> super::InstitutionOverrides<'_> {
        super::InstitutionOverrides {
            time_zone: &self.time_zone,
            business_day: &self.business_day,
            daily_cutoff: &self.daily_cutoff,
        }
    }
}
