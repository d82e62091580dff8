//! `ENHANCED_DUE_DILIGENCE`: customers and jurisdictions that call for
//! enhanced scrutiny.
//!
//! Implements, as data-driven triggers from rules.toml `[edd]`:
//! - foreign politically exposed persons (`pep_type` FOREIGN, or `is_pep`
//!   with the type not yet known): EDD under the bank's procedure. The
//!   regulation 31 CFR 1010.620(c) (enhanced scrutiny of senior foreign
//!   political figures, defined in 1010.605(p)) is cited only for a private
//!   banking account (`private_banking`); otherwise the basis is risk-based
//!   customer due diligence (1010.230, 1020.210). Senior management
//!   approval is the bank's policy (EDD 5.1), cited as such, not as law;
//! - domestic PEPs get risk-based due diligence, not automatic EDD (EDD
//!   2.7): an issue notes it and their risk rating decides;
//! - customers rated HIGH by the institution: risk-based customer due
//!   diligence and ongoing monitoring (1010.230, 1020.210);
//! - a FATF "call for action" jurisdiction (North Korea, Iran, Myanmar, with
//!   dates) as origin, destination or customer country: 1010.610(c)(2)
//!   enhanced due diligence for jurisdictions designated non-cooperative by
//!   an intergovernmental group such as FATF.

use super::calendar::add_business_days;
use super::data::{Effective, FatfJurisdiction};
use super::{ActionCode, Ctx, Finding, RuleIssue, Severity};
use crate::domain::PepType;

/// The customer is a foreign PEP, or a PEP whose type is not yet known
/// (treated as foreign until established).
pub(crate) fn foreign_or_unknown_pep(ctx: &Ctx<'_>) -> bool {
    ctx.customer.is_pep && ctx.customer.pep_type != Some(PepType::Domestic)
}

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

pub(crate) fn evaluate(
    ctx: &Ctx<'_>,
    fatf: &FatfHits<'_>,
    issues: &mut Vec<RuleIssue>,
) -> Option<Finding> {
    let cfg = &ctx.cfg.edd;
    let c = ctx.customer;
    let mut reasons = Vec::new();
    let mut regulations: Vec<&str> = Vec::new();
    let mut policies: Vec<&str> = Vec::new();
    let mut query = Vec::new();

    if c.is_pep && c.pep_type == Some(PepType::Domestic) {
        issues.push(RuleIssue {
            title: "Domestic politically exposed person: risk-based due diligence".into(),
            explanation: format!(
                "Customer {} ({}) is a domestic PEP. Domestic officials are not senior foreign political figures (31 CFR 1010.605(p)) and are not automatically subject to enhanced due diligence: apply risk-based customer due diligence (31 CFR 1010.230, 1020.210) and let the customer's risk rating reflect the actual risk of the relationship (bank procedure {}).",
                c.customer_id,
                c.name,
                cfg.policy_domestic_pep.join(", ")
            ),
            severity: Severity::Low,
            regulations: vec!["31 CFR 1020.210".into(), "31 CFR 1010.230".into()],
            policies: cfg.policy_domestic_pep.clone(),
            requires_review: false,
        });
    }
    if cfg.pep && foreign_or_unknown_pep(ctx) {
        let unknown = if c.pep_type.is_none() {
            " (whether the office is foreign or domestic is not recorded: treated as foreign until established)"
        } else {
            ""
        };
        if c.private_banking {
            reasons.push(format!(
                "customer {} ({}) is a senior foreign political figure{unknown} with a private banking account: apply enhanced scrutiny reasonably designed to detect and report transactions that may involve the proceeds of foreign corruption (31 CFR 1010.620(c)), establish source of funds and wealth, and obtain the senior management approval the bank's procedure requires ({})",
                c.customer_id,
                c.name,
                cfg.policy_private_banking.join(", ")
            ));
            regulations.extend(["31 CFR 1010.620", "31 CFR 1010.605"]);
            policies.extend(cfg.policy_private_banking.iter().map(String::as_str));
            query.push("enhanced scrutiny private banking account senior foreign political figure proceeds of foreign corruption source of funds");
        } else {
            reasons.push(format!(
                "customer {} ({}) is a foreign politically exposed person{unknown}: apply the bank's enhanced due diligence (source of funds and wealth, purpose of the transaction) under risk-based customer due diligence, and obtain the senior management approval the bank's procedure requires ({}; bank policy, not a regulatory requirement outside private banking)",
                c.customer_id,
                c.name,
                cfg.policy_foreign_pep.join(", ")
            ));
            regulations.extend(["31 CFR 1010.230", "31 CFR 1020.210"]);
            policies.extend(cfg.policy_foreign_pep.iter().map(String::as_str));
            query.push("enhanced due diligence foreign politically exposed person PEP source of funds source of wealth senior management approval");
        }
    }
    if cfg.trigger_risk_ratings.contains(&c.risk_rating) {
        reasons.push(format!(
            "customer {} is rated {} risk by the institution: apply enhanced, risk-based customer due diligence and ongoing monitoring, including the source of funds and purpose of this transaction",
            c.customer_id, c.risk_rating.as_str()
        ));
        regulations.extend(["31 CFR 1010.230", "31 CFR 1020.210"]);
        policies.extend(cfg.policy_high_risk.iter().map(String::as_str));
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
    let dedup = |items: Vec<&str>| {
        let mut out: Vec<String> = Vec::new();
        for r in items {
            if !out.iter().any(|x| x == r) {
                out.push(r.to_owned());
            }
        }
        out
    };
    let mut policies = dedup(policies);
    if !policies.iter().any(|p| *p == cfg.policy_review_deadline) {
        policies.push(cfg.policy_review_deadline.clone());
    }
    query.dedup();
    let by = add_business_days(
        ctx.as_of,
        cfg.review_start_business_days,
        &ctx.cfg.institution.holidays,
    );
    Some(Finding {
        code: ActionCode::EnhancedDueDiligence,
        title: "Apply enhanced due diligence (EDD)".into(),
        description: format!(
            "Transaction {} on {}: {}.",
            ctx.tx.transaction_id,
            ctx.as_of,
            reasons.join("; ")
        ),
        deadline: Some(format!(
            "start the EDD review within {} business days ({}, bank procedure): by {by}",
            cfg.review_start_business_days, cfg.policy_review_deadline
        )),
        due_on: Some(by),
        regulations: dedup(regulations),
        policies,
        retrieval_query: format!("enhanced due diligence EDD {}", query.join("; ")),
        severity: if fatf.is_empty() {
            Severity::Medium
        } else {
            Severity::High
        },
    })
}
