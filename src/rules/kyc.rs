//! `KYC_REMEDIATION`: identity verification and customer due diligence that
//! are not complete.
//!
//! Two different obligations, by KYC status (rules.toml `[kyc]`):
//! - PENDING: identity not yet verified at account opening, the customer
//!   identification program, 31 CFR 1020.220 (verify within a reasonable
//!   time; procedures for when identity cannot be verified: restrict, do
//!   not open or close the account, consider a SAR), and for BUSINESS
//!   customers 31 CFR 1010.230 (beneficial owners of legal entities);
//! - EXPIRED: a lapsed periodic review, which is ongoing customer due
//!   diligence, 31 CFR 1020.210(a)(2)(v) (understand the nature and purpose
//!   of the relationship, monitor, and update customer information on a
//!   risk basis), not the account-opening CIP rule.
//!
//! Deadlines and restrictions are the bank's own procedure
//! (corpus/kyc-cip-procedure.md, sections named in rules.toml), cited as
//! policy.

use super::calendar::{add_business_days, add_days};
use super::{ActionCode, Ctx, Finding, Severity};
use crate::domain::{CustomerType, KycStatus};

pub const CIP_QUERY: &str = "customer identification program CIP verify customer identity documentary and non-documentary verification lack of verification procedures restrict or close account";

pub const CDD_QUERY: &str = "ongoing customer due diligence periodic review expired KYC refresh update customer information nature and purpose of the relationship customer risk profile ongoing monitoring restrictions by stage";

pub(crate) fn evaluate(ctx: &Ctx<'_>) -> Option<Finding> {
    let c = ctx.customer;
    let cfg = &ctx.cfg.kyc;
    if !cfg.trigger_statuses.contains(&c.kyc_status) {
        return None;
    }
    let business = c.customer_type == CustomerType::Business;
    let owners = if business {
        " and identify and verify the beneficial owners of this legal entity customer (31 CFR 1010.230)"
    } else {
        ""
    };
    let (title, description, deadline, due_on, mut regulations, policies, query) = match c.kyc_status {
        KycStatus::Expired => {
            let by = add_business_days(
                ctx.as_of,
                cfg.expired_contact_business_days,
                &ctx.cfg.institution.holidays,
            );
            (
                "Refresh the lapsed customer due diligence review (ongoing CDD)",
                format!(
                    "Customer {} ({}) has an expired KYC review (status EXPIRED): the periodic review is overdue. This is ongoing customer due diligence (31 CFR 1020.210(a)(2)(v)): update the customer information and risk profile, confirm the nature and purpose of the relationship{owners}, and apply the bank's restrictions for expired KYC ({}) to transaction {} of {}.",
                    c.customer_id,
                    c.name,
                    cfg.policy_expired.join(", "),
                    ctx.tx.transaction_id,
                    ctx.as_of,
                ),
                format!(
                    "contact the customer within {} business days ({}, bank procedure): by {by}",
                    cfg.expired_contact_business_days,
                    cfg.policy_expired
                        .first()
                        .map_or("KYC procedure", String::as_str),
                ),
                by,
                vec!["31 CFR 1020.210".to_owned()],
                cfg.policy_expired.clone(),
                CDD_QUERY,
            )
        }
        KycStatus::Pending | KycStatus::Complete => (
            "Complete customer identification (KYC/CIP) remediation",
            format!(
                "Customer {} ({}) has not completed identity verification (KYC status PENDING). Verify the customer's identity under the customer identification program (31 CFR 1020.220){owners} before relying on the relationship; apply the lack-of-verification procedures and the bank's restrictions while pending ({}) to transaction {} of {}.",
                c.customer_id,
                c.name,
                cfg.policy_pending.join(", "),
                ctx.tx.transaction_id,
                ctx.as_of,
            ),
            format!(
                "verify within {} calendar days after the account was opened ({}, bank procedure)",
                cfg.pending_verification_days,
                cfg.policy_pending
                    .first()
                    .map_or("KYC procedure", String::as_str),
            ),
            // The account-opening date is not known to reagent; the account
            // was open by the transaction's date, so this is the latest the
            // verification can be due.
            add_days(ctx.as_of, cfg.pending_verification_days),
            vec!["31 CFR 1020.220".to_owned()],
            cfg.policy_pending.clone(),
            CIP_QUERY,
        ),
    };
    if business {
        regulations.push("31 CFR 1010.230".to_owned());
    }
    Some(Finding {
        code: ActionCode::KycRemediation,
        title: title.into(),
        description,
        deadline: Some(deadline),
        due_on: Some(due_on),
        regulations,
        policies,
        retrieval_query: if business {
            format!("{query} beneficial ownership of legal entity customers")
        } else {
            query.to_owned()
        },
        severity: Severity::Medium,
    })
}
