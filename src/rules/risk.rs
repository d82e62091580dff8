//! Risk score, risk level and `requires_review`.
//!
//! The score is a capped sum of points, all weights from rules.toml
//! `[risk]`:
//!
//! ```text
//! score = min(1, amount_tier_points(amount)
//!              + rating_points[customer.risk_rating]
//!              + pep_points                       if a foreign PEP (or type unknown)
//!              + sanctioned_jurisdiction_points   if a sanctioned country/region (in force) is involved
//!                else fatf_jurisdiction_points    if a FATF call-for-action country is involved
//!              + sanctions_name_match_points      if a name matched the sanctions list
//!              + kyc_incomplete_points            if kyc_status != COMPLETE
//!              + input_score_weight * transaction.risk_score   (if given))
//! ```
//!
//! rounded to 3 decimals. `amount_tier_points` is the points of the highest
//! tier whose `from_usd` is at or below the amount. The level is LOW below
//! `level_medium_from`, MEDIUM below `level_high_from`, HIGH from there.
//!
//! `requires_review` is true when any `[review]` trigger holds: amount over
//! `amount_over_usd`, score over `risk_score_over`, the caller's risk score
//! over `input_risk_score_over`, PEP, a sanctioned or FATF jurisdiction, KYC
//! not complete, or one of the `on_actions` findings. A CTR or travel-rule
//! finding alone does not require review: those are routine filings.

use super::data::RiskConfig;
use super::edd::FatfHits;
use super::ofac::OfacScreening;
use super::{Ctx, Finding, RiskFactor, RiskLevel, cents, fmt_usd};
use crate::domain::KycStatus;

/// The scored result (the engine appends issue-driven review reasons).
pub(crate) struct Assessment {
    pub score: f64,
    pub level: RiskLevel,
    pub factors: Vec<RiskFactor>,
    pub review_reasons: Vec<String>,
}

/// The level for a score under `cfg`'s cut-offs.
pub fn level_for(score: f64, cfg: &RiskConfig) -> RiskLevel {
    if score >= cfg.level_high_from {
        RiskLevel::High
    } else if score >= cfg.level_medium_from {
        RiskLevel::Medium
    } else {
        RiskLevel::Low
    }
}

/// Points of the amount tier a USD amount of `usd_cents` falls in.
pub fn amount_tier_points(usd_cents: i64, cfg: &RiskConfig) -> f64 {
    let amount = usd_cents;
    cfg.amount_tiers
        .iter()
        .rev()
        .find(|t| cents(t.from_usd) <= amount)
        .map_or(0.0, |t| t.points)
}

pub(crate) fn assess(
    ctx: &Ctx<'_>,
    screening: &OfacScreening<'_>,
    fatf: &FatfHits<'_>,
    findings: &[Finding],
) -> Assessment {
    let r = &ctx.cfg.risk;
    let c = ctx.customer;
    let mut factors = Vec::new();
    let mut add = |factor: String, points: f64| {
        if points > 0.0 {
            let points = (points * 10_000.0).round() / 10_000.0;
            factors.push(RiskFactor { factor, points });
        }
    };

    let usd = ctx.usd_or_zero(ctx.tx);
    add(
        format!("amount {}", fmt_usd(usd)),
        amount_tier_points(usd, r),
    );
    add(
        format!("customer risk rating {}", c.risk_rating.as_str()),
        r.rating_points.for_rating(c.risk_rating),
    );
    // A domestic PEP's rating reflects the actual risk, not the status
    // alone (bank procedure EDD 2.7): no points for the status.
    let foreign_pep = super::edd::foreign_or_unknown_pep(ctx);
    if foreign_pep {
        add("foreign politically exposed person".into(), r.pep_points);
    }
    if screening.sanctioned_location() {
        add(
            "sanctioned jurisdiction or region involved".into(),
            r.sanctioned_jurisdiction_points,
        );
    } else if !fatf.is_empty() {
        add(
            "FATF call-for-action jurisdiction involved".into(),
            r.fatf_jurisdiction_points,
        );
    }
    if !screening.names.is_empty() {
        add(
            "possible sanctions list name match".into(),
            r.sanctions_name_match_points,
        );
    }
    if c.kyc_status != KycStatus::Complete {
        add(
            format!("KYC status {}", c.kyc_status.as_str()),
            r.kyc_incomplete_points,
        );
    }
    let input_score = ctx
        .tx
        .risk_score
        .filter(|s| s.is_finite())
        .map(|s| s.clamp(0.0, 1.0));
    if let Some(s) = input_score {
        add(format!("input risk score {s}"), r.input_score_weight * s);
    }

    let sum: f64 = factors.iter().map(|f| f.points).sum();
    let score = (sum.clamp(0.0, 1.0) * 1000.0).round() / 1000.0;
    let level = level_for(score, r);

    let v = &ctx.cfg.review;
    let mut reasons = Vec::new();
    if usd > cents(v.amount_over_usd) {
        reasons.push(format!(
            "amount {} is more than {}",
            fmt_usd(usd),
            fmt_usd(cents(v.amount_over_usd))
        ));
    }
    if score > v.risk_score_over {
        reasons.push(format!("risk score {score} is above {}", v.risk_score_over));
    }
    if let Some(s) = input_score.filter(|s| *s > v.input_risk_score_over) {
        reasons.push(format!(
            "input risk score {s} is above {}",
            v.input_risk_score_over
        ));
    }
    if v.on_pep && foreign_pep {
        reasons.push("customer is a foreign politically exposed person".into());
    }
    if v.on_high_risk_jurisdiction && (screening.sanctioned_location() || !fatf.is_empty()) {
        reasons.push("a sanctioned or FATF high-risk jurisdiction is involved".into());
    }
    if v.on_kyc_incomplete && c.kyc_status != KycStatus::Complete {
        reasons.push(format!("KYC status is {}", c.kyc_status.as_str()));
    }
    for f in findings {
        if v.on_actions.contains(&f.code) {
            reasons.push(format!("{} applies", f.code));
        }
    }

    Assessment {
        score,
        level,
        factors,
        review_reasons: reasons,
    }
}
