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
//!   customer country; while a general licence covers the date (Syria GL 25
//!   from 2025-05-23) the advice is an issue, confirm the licence and
//!   screen for SDNs, not a block (`license_issues`);
//! - sanctioned regions without a country code (`[[ofac.regions]]`: Crimea,
//!   the so-called DNR and LNR, Part 589): the country code (UA, RU) alone
//!   is never enough; the counterparty name or description must also name
//!   the region or one of its cities;
//! - names on the sanctions list (SDN.CSV layout): the customer's and the
//!   counterparty's names are normalised (case, punctuation, legal-form
//!   tokens, token order) and compared with Jaro-Winkler similarity
//!   (`strsim`); a score at or above `name_match_threshold` is a possible
//!   match to be confirmed or ruled out by the officer.

use std::collections::{BTreeMap, BTreeSet};

use super::calendar::add_business_days;
use super::data::{Effective, OfacConfig, SanctionedJurisdiction, SanctionedRegion, SanctionsList};
use super::{ActionCode, Ctx, Finding, Severity, fmt_amount};

/// One normalised name: sorted tokens and their joined form.
#[derive(Debug, Clone)]
struct Prepared {
    tokens: Vec<String>,
    joined: String,
}

#[derive(Debug, Clone)]
struct PreparedEntry {
    ent_num: String,
    name: String,
    programs: Vec<String>,
    /// (original spelling, prepared) for the name and each alias.
    variants: Vec<(String, Prepared)>,
}

/// The sanctions list prepared for fuzzy name matching.
#[derive(Debug, Clone)]
pub(crate) struct NameIndex {
    entries: Vec<PreparedEntry>,
    threshold: f64,
    min_chars: usize,
    ignored: BTreeSet<String>,
    program_parts: BTreeMap<String, String>,
    source: String,
}

/// A possible match of a screened name against the list.
#[derive(Debug, Clone)]
pub(crate) struct NameMatch {
    pub role: &'static str,
    pub screened: String,
    pub ent_num: String,
    pub listed_name: String,
    pub matched_variant: String,
    pub programs: Vec<String>,
    pub score: f64,
}

impl NameIndex {
    pub fn new(cfg: &OfacConfig, list: &SanctionsList) -> Self {
        let ignored: BTreeSet<String> = cfg.ignored_name_tokens.iter().cloned().collect();
        let entries = list
            .entries
            .iter()
            .map(|e| PreparedEntry {
                ent_num: e.ent_num.clone(),
                name: e.name.clone(),
                programs: e.programs.clone(),
                variants: std::iter::once(&e.name)
                    .chain(e.aliases.iter())
                    .filter_map(|n| {
                        let p = prepare(n, &ignored);
                        (p.joined.chars().count() >= cfg.min_name_chars).then(|| (n.clone(), p))
                    })
                    .collect(),
            })
            .filter(|e| !e.variants.is_empty())
            .collect();
        Self {
            entries,
            threshold: cfg.name_match_threshold,
            min_chars: cfg.min_name_chars,
            ignored,
            program_parts: cfg
                .sdn_programs
                .iter()
                .map(|p| (p.tag.clone(), p.regulation.clone()))
                .collect(),
            source: list.source.clone(),
        }
    }

    /// The best list entry matching `name` at or above the threshold.
    pub fn best_match(&self, role: &'static str, name: &str) -> Option<NameMatch> {
        let query = prepare(name, &self.ignored);
        if query.joined.chars().count() < self.min_chars {
            return None;
        }
        let mut best: Option<NameMatch> = None;
        for e in &self.entries {
            for (variant, p) in &e.variants {
                let score = similarity(&query, p);
                if score >= self.threshold && best.as_ref().is_none_or(|b| score > b.score) {
                    best = Some(NameMatch {
                        role,
                        screened: name.trim().to_owned(),
                        ent_num: e.ent_num.clone(),
                        listed_name: e.name.clone(),
                        matched_variant: variant.clone(),
                        programs: e.programs.clone(),
                        score,
                    });
                }
            }
        }
        best
    }

    /// The regulation cited for an SDN program tag, if mapped.
    fn part_for(&self, tag: &str) -> Option<&str> {
        self.program_parts.get(tag).map(String::as_str)
    }
}

/// Lowercases, drops apostrophes and periods, splits on anything else that
/// is not a letter or digit, removes ignored tokens, sorts the tokens.
fn prepare(name: &str, ignored: &BTreeSet<String>) -> Prepared {
    let mut cleaned = String::with_capacity(name.len());
    for ch in name.chars() {
        if ch.is_alphanumeric() {
            cleaned.extend(ch.to_lowercase());
        } else if matches!(ch, '\'' | '\u{2019}' | '.' | '`') {
            // "O'Brien" → "obrien", "J.P." → "jp"
        } else {
            cleaned.push(' ');
        }
    }
    let mut tokens: Vec<String> = cleaned
        .split_whitespace()
        .filter(|t| !ignored.contains(*t))
        .map(str::to_owned)
        .collect();
    tokens.sort();
    let joined = tokens.join(" ");
    Prepared { tokens, joined }
}

/// Name similarity in 0..=1: the better of Jaro-Winkler on the token-sorted
/// names and a token alignment score (each token's best Jaro-Winkler
/// partner, averaged, taking the weaker of both directions), which is robust
/// to a misspelling that changes the sort order.
fn similarity(a: &Prepared, b: &Prepared) -> f64 {
    if a.tokens.is_empty() || b.tokens.is_empty() {
        return 0.0;
    }
    let sorted = strsim::jaro_winkler(&a.joined, &b.joined);
    let directed = |x: &[String], y: &[String]| -> f64 {
        let sum: f64 = x
            .iter()
            .map(|s| {
                y.iter()
                    .map(|t| strsim::jaro_winkler(s, t))
                    .fold(0.0, f64::max)
            })
            .sum();
        sum / x.len() as f64
    };
    let aligned = directed(&a.tokens, &b.tokens).min(directed(&b.tokens, &a.tokens));
    sorted.max(aligned)
}

/// Result of screening one transaction.
#[derive(Debug, Default)]
pub(crate) struct OfacScreening<'c> {
    /// Sanctioned countries in force, with where they appear.
    pub jurisdictions: Vec<(&'c SanctionedJurisdiction, Vec<&'static str>)>,
    /// Sanctioned regions in force, with the words that matched.
    pub regions: Vec<(&'c SanctionedRegion, Vec<String>)>,
    pub names: Vec<NameMatch>,
    pub list_source: String,
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

pub(crate) fn screen<'c>(ctx: &Ctx<'c>, index: &NameIndex) -> OfacScreening<'c> {
    let cfg = &ctx.cfg.ofac;
    let countries = ctx.countries();

    let jurisdictions = cfg
        .jurisdictions
        .iter()
        .filter(|j| j.in_force_on(ctx.as_of) && j.license_on(ctx.as_of).is_none())
        .filter_map(|j| {
            let roles: Vec<&'static str> = countries
                .iter()
                .filter(|(c, _)| *c == j.country)
                .map(|(_, role)| *role)
                .collect();
            (!roles.is_empty()).then_some((j, roles))
        })
        .collect();

    let text = [
        ctx.tx.counterparty_name.as_deref(),
        ctx.tx.description.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ")
    .to_lowercase();
    let words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let regions = cfg
        .regions
        .iter()
        .filter(|r| r.in_force_on(ctx.as_of))
        .filter(|r| {
            countries
                .iter()
                .any(|(c, _)| r.countries.iter().any(|rc| rc == c))
        })
        .filter_map(|r| {
            let hits: BTreeSet<String> = words
                .iter()
                .filter(|w| r.terms.iter().any(|t| w.starts_with(t.as_str())))
                .map(|w| (*w).to_owned())
                .collect();
            (!hits.is_empty()).then(|| (r, hits.into_iter().collect()))
        })
        .collect();

    let mut names = Vec::new();
    if cfg.screen_customer_name {
        names.extend(index.best_match("customer name", &ctx.customer.name));
    }
    if cfg.screen_counterparty_name
        && let Some(cp) = ctx.tx.counterparty()
    {
        names.extend(index.best_match("counterparty name", cp));
    }

    OfacScreening {
        jurisdictions,
        regions,
        names,
        list_source: index.source.clone(),
    }
}

/// Program dates: a sanctioned country in force on the transaction's date
/// under a general licence (Syria, General License 25, 2025-05-23 until the
/// program ended 2025-07-01) is not blocked for the nexus alone; the advice
/// is to confirm the licence covers the transaction and screen every party
/// for SDNs (whose property stays blocked).
pub(crate) fn license_issues(ctx: &Ctx<'_>) -> Vec<super::RuleIssue> {
    let countries = ctx.countries();
    ctx.cfg
        .ofac
        .jurisdictions
        .iter()
        .filter(|j| j.in_force_on(ctx.as_of))
        .filter_map(|j| j.license_on(ctx.as_of).map(|l| (j, l)))
        .filter_map(|(j, license)| {
            let roles: Vec<&'static str> = countries
                .iter()
                .filter(|(c, _)| *c == j.country)
                .map(|(_, role)| *role)
                .collect();
            (!roles.is_empty()).then(|| super::RuleIssue {
                title: format!("{}: confirm {license} and screen for SDNs", j.name),
                explanation: format!(
                    "{} {} ({}) is subject to the {} ({}), but on {} {license} (from {}) authorises most transactions the program prohibited. Do not block for the {} nexus alone: confirm the licence covers this transaction and its parties, and screen every party against the SDN list; property of an SDN stays blocked (31 CFR 501.603).",
                    join_roles(&roles),
                    j.country,
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

pub(crate) fn evaluate(ctx: &Ctx<'_>, s: &OfacScreening<'_>, index: &NameIndex) -> Option<Finding> {
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
        facts.push(format!(
            "{} {} ({}) is subject to the {} ({}), in force on {}",
            join_roles(roles),
            j.country,
            j.name,
            j.program,
            j.regulation,
            ctx.as_of
        ));
        query_terms.push(format!("{} {} {}", j.name, j.program, j.regulation));
    }
    for (r, hits) in &s.regions {
        push(&r.regulation);
        facts.push(format!(
            "the counterparty name or description mentions {} ({}), and the transaction involves {}: {} prohibitions ({}) in force since {}; the country code alone would not be enough, so confirm the location",
            hits.iter().map(|h| format!("\"{h}\"")).collect::<Vec<_>>().join(", "),
            r.name,
            r.countries.join("/"),
            r.program,
            r.regulation,
            r.effective_from,
        ));
        query_terms.push(format!("{} {} {}", r.name, r.program, r.regulation));
    }
    for m in &s.names {
        let parts: Vec<&str> = m
            .programs
            .iter()
            .filter_map(|p| index.part_for(p))
            .collect();
        for p in &parts {
            push(p);
        }
        facts.push(format!(
            "{} \"{}\" resembles sanctions list entry {} \"{}\"{} (program {}; similarity {:.3}, list {}): a possible match to confirm or rule out before processing",
            m.role,
            m.screened,
            m.ent_num,
            m.listed_name,
            if m.matched_variant == m.listed_name {
                String::new()
            } else {
                format!(" via alias \"{}\"", m.matched_variant)
            },
            if m.programs.is_empty() {
                "unknown".to_owned()
            } else {
                m.programs.join(", ")
            },
            m.score,
            s.list_source,
        ));
        query_terms.push(format!(
            "Specially Designated Nationals SDN list match blocked person {}",
            parts.join(" ")
        ));
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
        regulations,
        policies: Vec::new(),
        retrieval_query,
        severity: Severity::Critical,
    })
}

fn join_roles(roles: &[&str]) -> String {
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

    fn p(s: &str) -> Prepared {
        let ignored: BTreeSet<String> = ["llc", "the"].iter().map(|s| (*s).to_owned()).collect();
        prepare(s, &ignored)
    }

    #[test]
    fn normalisation_ignores_case_punctuation_order_and_legal_forms() {
        assert_eq!(p("QUORLANDT, Mirelda").joined, "mirelda quorlandt");
        assert_eq!(p("mirelda   quorlandt.").joined, "mirelda quorlandt");
        assert_eq!(p("O'Brien-Smith LLC").joined, "obrien smith");
        assert_eq!(p("The ...").joined, "");
    }

    #[test]
    fn similarity_behaves() {
        let a = p("QUORLANDT, Mirelda Vaskova");
        assert!(similarity(&a, &p("Mirelda Vaskova Quorlandt")) > 0.999);
        assert!(similarity(&a, &p("Mirelda Vaskova Quorlant")) >= 0.95);
        // a misspelt first letter changes the sort order; alignment copes
        assert!(similarity(&p("Oskarine Grimsholt"), &p("Oskarine Grymsholt")) >= 0.92);
        assert!(similarity(&a, &p("Jane Doe")) < 0.7);
        assert_eq!(similarity(&a, &p("")), 0.0);
    }
}
