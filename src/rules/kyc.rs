//! `KYC_REMEDIATION`: incomplete customer identification.
//!
//! Implements 31 CFR 1020.220 (customer identification program: verify each
//! customer's identity within a reasonable time, with procedures for when
//! identity cannot be verified — restricting, not opening or closing the
//! account, and considering a SAR) and, for BUSINESS customers, 31 CFR
//! 1010.230 (beneficial owners of legal entity customers). Triggered by the
//! KYC statuses listed in rules.toml `[kyc]` (PENDING, EXPIRED).

use super::{ActionCode, Ctx, Finding, Severity};
use crate::domain::{CustomerType, KycStatus};

pub const RETRIEVAL_QUERY: &str = "customer identification program CIP verify customer identity documentary and non-documentary verification lack of verification procedures restrict or close account";

pub(crate) fn evaluate(ctx: &Ctx<'_>) -> Option<Finding> {
    let c = ctx.customer;
    if !ctx.cfg.kyc.trigger_statuses.contains(&c.kyc_status) {
        return None;
    }
    let state = match c.kyc_status {
        KycStatus::Pending => "has not completed identity verification (KYC status PENDING)",
        KycStatus::Expired => "has expired identity verification (KYC status EXPIRED)",
        KycStatus::Complete => "is flagged for KYC remediation",
    };
    let business = c.customer_type == CustomerType::Business;
    let mut regulations = vec!["31 CFR 1020.220".to_owned()];
    if business {
        regulations.push("31 CFR 1010.230".to_owned());
    }
    Some(Finding {
        code: ActionCode::KycRemediation,
        title: "Complete customer identification (KYC/CIP) remediation".into(),
        description: format!(
            "Customer {} ({}) {}. Verify the customer's identity under the customer identification program{} before relying on the relationship; apply the lack-of-verification procedures (limits on account use while verifying, whether to close the account, whether to file a SAR) to transaction {} of {}.",
            c.customer_id,
            c.name,
            state,
            if business {
                " and identify and verify the beneficial owners of this legal entity customer"
            } else {
                ""
            },
            ctx.tx.transaction_id,
            ctx.as_of,
        ),
        deadline: None,
        regulations,
        retrieval_query: if business {
            format!("{RETRIEVAL_QUERY} beneficial ownership of legal entity customers")
        } else {
            RETRIEVAL_QUERY.to_owned()
        },
        severity: Severity::Medium,
    })
}
