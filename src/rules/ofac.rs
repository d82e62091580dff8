//! `OFAC_BLOCK_OR_REJECT`: sanctions screening.
//!
//! Implements OFAC's reporting rules, 31 CFR Part 501 (501.603: report
//! blocked property within 10 business days; 501.604: report rejected
//! transactions within 10 business days), for:
//!
//! - comprehensively sanctioned jurisdictions *in force on the transaction's
//!   date* (rules.toml `[[ofac.jurisdictions]]`: Cuba, Part 515; Iran, Part
//!   560; North Korea, Part 510; Syria, Part 542, until 2025-07-01 when
//!   E.O. 14312 ended the program), matched on the origin, destination or
//!   customer country, or by a country name or major city of theirs
//!   (`[[ofac.place_names]]`) in the counterparty name or description, whatever
//!   the country codes; while a general licence covers the date (Syria GL 25
//!   from 2025-05-23) the advice is an issue, confirm the licence and
//!   screen for SDNs, not a block (`license_issues`);
//! - sanctioned regions without a country code (`[[ofac.regions]]`: Crimea,
//!   the so-called DNR and LNR, Part 589): a region or city name in the
//!   counterparty name or description, whole words, whatever the country codes;
//! - names on the sanctions lists (`crate::sanctions`): the customer's and the
//!   counterparty's names, and names inside the description, screened against
//!   the list version in force on the transaction's date (or the newest, when
//!   the request asks for a lookback); a match at or above
//!   `name_match_threshold` is a possible match to be confirmed or ruled out by
//!   the officer. The description is only ever data: no wording in it changes
//!   what is screened.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::calendar::add_business_days;
use super::data::{Effective, SanctionedJurisdiction, SanctionedRegion};
use super::{ActionCode, Ctx, Finding, Severity, fmt_amount};
use crate::sanctions::{ListUsed, NameMatch, ScreenedVersion, normalize_words};

/// Matches kept per screened name and list (the best first).
const MATCHES_PER_NAME: usize = 3;

/// What name screening did for one transaction; every analysis carries it, so the
/// list version screened against is always on record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[derive(utoipa::ToSchema)]
pub struct SanctionsScreening {
    /// The list versions screened against (empty: no list loaded).
    pub lists: Vec<ListUsed>,
    /// What was screened: `customer name`, `counterparty name`, `description`.
    pub screened: Vec<String>,
    pub matches: Vec<ScreeningMatch>,
    /// Why names were not screened, when they were not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One possible match: which screened field, which list version, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[derive(utoipa::ToSchema)]
pub struct ScreeningMatch {
    pub role: String,
    pub version_id: String,
    #[serde(flatten)]
    pub matched: NameMatch,
    pub explanation: String,
}

/// Result of screening one transaction.
#[derive(Debug, Default)]
pub(crate) struct OfacScreening<'c> {
    /// Sanctioned countries in force, with where they appear.
    pub jurisdictions: Vec<(&'c SanctionedJurisdiction, Vec<String>)>,
    /// Sanctioned regions in force, with the words that matched.
    pub regions: Vec<(&'c SanctionedRegion, Vec<String>)>,
    pub names: Vec<ScreeningMatch>,
    pub record: SanctionsScreening,
}

impl OfacScreening<'_> {
    /// A sanctioned country or region (in force) is involved.
    pub fn sanctioned_location(&self) -> bool {
        !self.jurisdictions.is_empty() || !self.regions.is_empty()
    }

    pub fn is_empty(&self) -> bool {
        !self.sanctioned_location() && self.names.is_empty()
    }
}

/// Where `phrase` (normalised words) occurs in `words` as whole words.
fn mentions(words: &[String], phrase: &str) -> bool {
    let phrase: Vec<&str> = phrase.split(' ').collect();
    !phrase.is_empty() && words.windows(phrase.len()).any(|w| w.iter().zip(&phrase).all(|(a, b)| a == b))
}

/// The counterparty name and the description, as whole normalised words.
fn text_words(ctx: &Ctx<'_>) -> Vec<String> {
    let text = [ctx.tx.counterparty_name.as_deref(), ctx.tx.description.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ; ");
    normalize_words(&text)
}

/// The place names of `country` (`[[ofac.place_names]]`) that `words` mention.
fn places_named<'a>(cfg: &'a super::data::OfacConfig, country: &str, words: &[String]) -> BTreeSet<&'a str> {
    cfg.place_names
        .iter()
        .filter(|p| p.country == country)
        .flat_map(|p| p.terms.iter())
        .filter(|t| mentions(words, t))
        .map(String::as_str)
        .collect()
}

fn quote_all<'a>(terms: impl IntoIterator<Item = &'a str>) -> String {
    terms.into_iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(", ")
}

pub(crate) fn screen<'c>(ctx: &Ctx<'c>, lists: &[ScreenedVersion]) -> OfacScreening<'c> {
    let cfg = &ctx.cfg.ofac;
    let countries = ctx.countries();
    let words = text_words(ctx);

    let jurisdictions = cfg
        .jurisdictions
        .iter()
        .filter(|j| j.in_force_on(ctx.as_of) && j.license_on(ctx.as_of).is_none())
        .filter_map(|j| {
            let mut found: Vec<String> = countries
                .iter()
                .filter(|(c, _)| *c == j.country)
                .map(|(_, role)| (*role).to_owned())
                .collect();
            let named = places_named(cfg, &j.country, &words);
            if !named.is_empty() {
                found.push(format!("the counterparty name or description (naming {})", quote_all(named)));
            }
            (!found.is_empty()).then_some((j, found))
        })
        .collect();

    let regions = cfg
        .regions
        .iter()
        .filter(|r| r.in_force_on(ctx.as_of))
        .filter_map(|r| {
            let hits: Vec<String> = r.terms.iter().filter(|t| mentions(&words, t)).cloned().collect();
            (!hits.is_empty()).then_some((r, hits))
        })
        .collect();

    let mut record = SanctionsScreening { lists: lists.iter().map(ScreenedVersion::used).collect(), ..Default::default() };
    let mut targets: Vec<(&str, &str, bool)> = Vec::new();
    if cfg.screen_customer_name {
        targets.push(("customer name", ctx.customer.name.as_str(), false));
    }
    if cfg.screen_counterparty_name
        && let Some(cp) = ctx.tx.counterparty()
    {
        targets.push(("counterparty name", cp, false));
    }
    if cfg.screen_description
        && let Some(d) = ctx.tx.description.as_deref().filter(|d| !d.trim().is_empty())
    {
        targets.push(("description", d, true));
    }
    record.screened = targets.iter().map(|(role, _, _)| (*role).to_owned()).collect();
    if lists.is_empty() {
        record.note = Some("no sanctions list is loaded (`reagent sanctions load`): names were not screened".into());
    }
    for version in lists {
        for (role, text, free_text) in &targets {
            let found = if *free_text { version.index.screen_text(text) } else { version.index.screen_name(text) };
            for m in found.into_iter().take(MATCHES_PER_NAME) {
                record.matches.push(ScreeningMatch {
                    role: (*role).to_owned(),
                    version_id: version.info.version_id.clone(),
                    explanation: m.explanation(),
                    matched: m,
                });
            }
        }
    }
    // The same entry found through several fields is reported once per field.
    OfacScreening { jurisdictions, regions, names: record.matches.clone(), record }
}

/// Program dates: a sanctioned country in force on the transaction's date
/// under a general licence (Syria, General License 25, 2025-05-23 until the
/// program ended 2025-07-01) is not blocked for the nexus alone; the advice
/// is to confirm the licence covers the transaction and screen every party
/// for SDNs (whose property stays blocked).
pub(crate) fn license_issues(ctx: &Ctx<'_>) -> Vec<super::RuleIssue> {
    let countries = ctx.countries();
    let words = text_words(ctx);
    ctx.cfg
        .ofac
        .jurisdictions
        .iter()
        .filter(|j| j.in_force_on(ctx.as_of))
        .filter_map(|j| j.license_on(ctx.as_of).map(|l| (j, l)))
        .filter_map(|(j, license)| {
            let roles: Vec<String> = countries
                .iter()
                .filter(|(c, _)| *c == j.country)
                .map(|(_, role)| role.to_string())
                .collect();
            let named = places_named(&ctx.cfg.ofac, &j.country, &words);
            let subject = match (roles.is_empty(), named.is_empty()) {
                (true, true) => return None,
                (false, _) => format!("{} {}", join_roles(&roles), j.country),
                (true, false) => format!("The counterparty name or description, naming {},", quote_all(named)),
            };
            Some(super::RuleIssue {
                title: format!("{}: confirm {license} and screen for SDNs", j.name),
                explanation: format!(
                    "{subject} points to {}, subject to the {} ({}), but on {} {license} (from {}) authorises most transactions the program prohibited. Do not block for the {} nexus alone: confirm the licence covers this transaction and its parties, and screen every party against the SDN list; property of an SDN stays blocked (31 CFR 501.603).",
                    j.name,
                    j.program,
                    j.regulation,
                    ctx.as_of,
                    j.licensed_from.map(|d| d.to_string()).unwrap_or_default(),
                    j.name,
                ),
                severity: Severity::High,
                regulations: vec![j.regulation.clone(), "31 CFR Part 501".into()],
                policies: Vec::new(),
                requires_review: true,
            })
        })
        .collect()
}

pub(crate) fn evaluate(ctx: &Ctx<'_>, s: &OfacScreening<'_>) -> Option<Finding> {
    if s.is_empty() {
        return None;
    }
    let mut regulations = vec![
        "31 CFR Part 501".to_owned(),
        "31 CFR 501.603".to_owned(),
        "31 CFR 501.604".to_owned(),
    ];
    let mut push = |r: &str| {
        if !regulations.iter().any(|x| x == r) {
            regulations.push(r.to_owned());
        }
    };
    let mut facts = Vec::new();
    let mut query_terms: Vec<String> = Vec::new();

    for (j, roles) in &s.jurisdictions {
        push(&j.regulation);
        let (named, codes): (Vec<String>, Vec<String>) =
            roles.iter().cloned().partition(|r| r.starts_with("the counterparty"));
        let mut subject = Vec::new();
        if !codes.is_empty() {
            subject.push(format!("{} {}", join_roles(&codes), j.country));
        }
        subject.extend(named);
        facts.push(format!(
            "{} points to {} ({}), subject to the {} ({}), in force on {}",
            capitalize(&subject.join(" and ")),
            j.name,
            j.country,
            j.program,
            j.regulation,
            ctx.as_of
        ));
        query_terms.push(format!("{} {} {}", j.name, j.program, j.regulation));
    }
    for (r, hits) in &s.regions {
        push(&r.regulation);
        facts.push(format!(
            "the counterparty name or description mentions {} ({}), whatever the country codes: {} prohibitions ({}) in force since {}; confirm the location",
            hits.iter().map(|h| format!("\"{h}\"")).collect::<Vec<_>>().join(", "),
            r.name,
            r.program,
            r.regulation,
            r.effective_from,
        ));
        query_terms.push(format!("{} {} {}", r.name, r.program, r.regulation));
    }
    for hit in &s.names {
        let m = &hit.matched;
        let parts: Vec<&str> = m.programs.iter().filter_map(|p| ctx.cfg.ofac.part_for(p)).collect();
        for p in &parts {
            push(p);
        }
        let list = s.record.lists.iter().find(|l| l.version_id == hit.version_id);
        facts.push(format!(
            "{} \"{}\" resembles {} entry {} \"{}\"{}{} (programs {}; score {:.3}; {}; list {}{}): a possible match to confirm or rule out before processing",
            hit.role,
            m.screened,
            list.map_or("sanctions list", |l| match l.list {
                crate::sanctions::ListKind::Sdn => "SDN list",
                crate::sanctions::ListKind::Consolidated => "Consolidated list",
            }),
            m.ent_num,
            m.listed_name,
            match (m.alias, m.weak_alias) {
                (None, _) => String::new(),
                (Some(kind), weak) => format!(" via {}{} \"{}\"", if weak { "weak " } else { "" }, kind.as_str(), m.matched_name),
            },
            if m.linked_to.is_empty() { String::new() } else { format!(", linked to {}", m.linked_to.join(", ")) },
            if m.programs.is_empty() { "unknown".to_owned() } else { m.programs.join(", ") },
            m.score,
            hit.explanation,
            hit.version_id,
            list.map(|l| format!(", {}", l.basis)).unwrap_or_default(),
        ));
        query_terms.push(format!("Specially Designated Nationals SDN list match blocked person {}", parts.join(" ")));
    }

    let cfg = &ctx.cfg.ofac;
    let by = add_business_days(
        ctx.as_of,
        cfg.report_deadline_business_days,
        &ctx.cfg.institution.holidays,
    );
    let description = format!(
        "{} {} {} on {}: {}. Do not process it as instructed. Block the funds if a blocked person (an SDN, the government of a sanctioned country, or for Cuba any Cuban national) has an interest in them and report to OFAC under 31 CFR 501.603; otherwise reject the transaction and report it under 31 CFR 501.604. {}",
        ctx.tx.transaction_type,
        ctx.tx.transaction_id,
        fmt_amount(ctx.tx),
        ctx.as_of,
        capitalize(&facts.join("; ")),
        super::records::ofac_sentence(ctx.cfg, ctx.as_of),
    );
    let retrieval_query = format!(
        "Office of Foreign Assets Control OFAC sanctions {} prohibited transaction must be blocked or rejected, report blocked property and rejected transactions within 10 business days 31 CFR Part 501",
        query_terms.join("; ")
    );

    Some(Finding {
        code: ActionCode::OfacBlockOrReject,
        title: "OFAC sanctions: block or reject, and report to OFAC".into(),
        description,
        deadline: Some(format!(
            "within {} business days of blocking or rejection (31 CFR 501.603 / 501.604): by {by} if blocked or rejected on {}",
            cfg.report_deadline_business_days, ctx.as_of
        )),
        due_on: Some(by),
        regulations,
        policies: Vec::new(),
        retrieval_query,
        severity: Severity::Critical,
    })
}

fn join_roles(roles: &[String]) -> String {
    match roles {
        [] => "country".to_owned(),
        [one] => capitalize(one),
        [init @ .., last] => capitalize(&format!("{} and {}", init.join(", "), last)),
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn place_names_match_whole_words_and_phrases_only() {
        let words = normalize_words("Silk kerchiefs from Kerch-Port; ship to Bandar  Abbas");
        assert!(mentions(&words, "kerch"));
        assert!(mentions(&words, "bandar abbas"));
        assert!(!mentions(&normalize_words("silk kerchiefs"), "kerch"));
        assert!(!mentions(&normalize_words("Abbas Bandari"), "bandar abbas"));
    }
}
