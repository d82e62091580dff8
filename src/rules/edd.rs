//! `ENHANCED_DUE_DILIGENCE`: customers and jurisdictions that call for
//! enhanced scrutiny.
//!
//! Implements, as data-driven triggers from rules.toml `[edd]`:
//! - politically exposed customers (`is_pep`): 31 CFR 1010.620(c) enhanced
//!   scrutiny of senior foreign political figures (defined in 1010.605(p));
//!   for accounts outside private banking, risk-based customer due diligence
//!   (1010.230, 1020.210);
//! - customers rated HIGH by the institution: risk-based customer due
//!   diligence and ongoing monitoring (1010.230, 1020.210);
//! - a FATF "call for action" jurisdiction (North Korea, Iran, Myanmar, with
//!   dates) as origin, destination or customer country: 1010.610(c)(2)
//!   enhanced due diligence for jurisdictions designated non-cooperative by
//!   an intergovernmental group such as FATF.

use super::data::{Effective, FatfJurisdiction};
use super::{ActionCode, Ctx, Finding, Severity};

pub(crate) type FatfHits<'c> = Vec<(&'c FatfJurisdiction, Vec<&'static str>)>;

/// FATF call-for-action jurisdictions in force and involved.
pub(crate) fn fatf_hits<'c>(ctx: &Ctx<'c>) -> FatfHits<'c> {
    let countries = ctx.countries();
    ctx.cfg
        .edd
        .fatf_call_for_action
        .iter()
        .filter(|f| f.in_force_on(ctx.as_of))
        .filter_map(|f| {
            let roles: Vec<&'static str> = countries
                .iter()
                .filter(|(c, _)| *c == f.country)
                .map(|(_, role)| *role)
                .collect();
            (!roles.is_empty()).then_some((f, roles))
        })
        .collect()
}

pub(crate) fn evaluate(ctx: &Ctx<'_>, fatf: &FatfHits<'_>) -> Option<Finding> {
    let cfg = &ctx.cfg.edd;
    let c = ctx.customer;
    let mut reasons = Vec::new();
    let mut regulations: Vec<&str> = Vec::new();
    let mut query = Vec::new();

    if cfg.pep && c.is_pep {
        reasons.push(format!(
            "customer {} ({}) is a politically exposed person (senior foreign political figure): apply enhanced scrutiny to detect proceeds of foreign corruption, establish source of funds and wealth, and obtain senior management approval for the relationship",
            c.customer_id, c.name
        ));
        regulations.extend(["31 CFR 1010.620", "31 CFR 1010.605"]);
        query.push("enhanced scrutiny senior foreign political figure politically exposed person PEP private banking account proceeds of foreign corruption source of funds");
    }
    if cfg.trigger_risk_ratings.contains(&c.risk_rating) {
        reasons.push(format!(
            "customer {} is rated {} risk by the institution: apply enhanced, risk-based customer due diligence and ongoing monitoring, including the source of funds and purpose of this transaction",
            c.customer_id, c.risk_rating.as_str()
        ));
        regulations.extend(["31 CFR 1010.230", "31 CFR 1020.210"]);
        query.push("risk-based customer due diligence high-risk customer ongoing monitoring beneficial ownership anti-money laundering program");
    }
    for (f, roles) in fatf {
        reasons.push(format!(
            "{} {} ({}) is a FATF high-risk jurisdiction subject to a call for action (listed since {}): apply enhanced due diligence to the transaction and any correspondent relationship",
            roles.join(" and "),
            f.country,
            f.name,
            f.effective_from
        ));
        regulations.extend(["31 CFR 1010.610"]);
        query.push("enhanced due diligence jurisdiction designated non-cooperative by the Financial Action Task Force FATF high-risk jurisdiction call for action correspondent account");
    }
    if reasons.is_empty() {
        return None;
    }
    let mut regs: Vec<String> = Vec::new();
    for r in regulations {
        if !regs.iter().any(|x| x == r) {
            regs.push(r.to_owned());
        }
    }
    query.dedup();
    Some(Finding {
        code: ActionCode::EnhancedDueDiligence,
        title: "Apply enhanced due diligence (EDD)".into(),
        description: format!(
            "Transaction {} on {}: {}.",
            ctx.tx.transaction_id,
            ctx.as_of,
            reasons.join("; ")
        ),
        deadline: None,
        regulations: regs,
        retrieval_query: format!("enhanced due diligence EDD {}", query.join("; ")),
        severity: if fatf.is_empty() {
            Severity::Medium
        } else {
            Severity::High
        },
    })
}
