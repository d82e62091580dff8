//! The deterministic generator: guidance built from the rule findings and quoted
//! evidence only. It writes no claim of its own beyond the findings (which come from the
//! rules engine) and fixed procedural recommendations, and it never fails.

use async_trait::async_trait;
use reagent_ingest::DocumentType;

use super::{GenerationError, GenerationInput, Generator, Ranked, best_for_action, rank_evidence};
use crate::guidance::{
    Citation, ComplianceIssue, GeneratorInfo, GeneratorKind, Guidance, Recommendation,
    RequiredAction,
};
use crate::rules::{ActionCode, Finding, Severity};

/// Most citations attached to one action.
pub const MAX_ACTION_CITATIONS: usize = 3;
/// Passages quoted in an extractive answer.
pub const ANSWER_PASSAGES: usize = 3;

#[derive(Debug, Clone, Copy, Default)]
pub struct RulesGenerator;

#[async_trait]
impl Generator for RulesGenerator {
    async fn generate(&self, input: &GenerationInput<'_>) -> Result<Guidance, GenerationError> {
        Ok(self.build(input))
    }
}

impl RulesGenerator {
    pub fn new() -> Self {
        Self
    }

    /// The guidance for `input` (synchronous; the [`Generator`] impl wraps this).
    pub fn build(&self, input: &GenerationInput<'_>) -> Guidance {
        let ranked = rank_evidence(input.evidence);
        let findings: &[Finding] = input.outcome.map_or(&[], |o| o.findings.as_slice());

        let mut required_actions = Vec::with_capacity(findings.len());
        let mut compliance_issues = Vec::new();
        let mut recommendations = Vec::new();
        for finding in findings {
            let citations = citations_for_finding(finding, &ranked);
            compliance_issues.push(ComplianceIssue {
                title: finding.title.clone(),
                severity: finding.severity,
                explanation: issue_explanation(finding),
                citations: citations.clone(),
            });
            recommendations.push(Recommendation {
                text: recommendation_for(finding.code).into(),
                citations: citations.clone(),
            });
            required_actions.push(RequiredAction {
                code: finding.code,
                title: finding.title.clone(),
                description: finding.description.clone(),
                deadline: finding.deadline.clone(),
                due_on: finding.due_on,
                citations,
            });
        }

        // Issues the rules raised that are not actions (no conversion rate,
        // a CTR suppressed for an exempt person, a licence to confirm).
        for issue in input.outcome.map_or(&[][..], |o| o.issues.as_slice()) {
            let mut explanation = issue.explanation.clone();
            if !issue.policies.is_empty() {
                explanation.push_str(&format!(" Bank procedures: {}.", issue.policies.join(", ")));
            }
            compliance_issues.push(ComplianceIssue {
                title: issue.title.clone(),
                severity: issue.severity,
                explanation,
                citations: citations_for_regulations(&issue.regulations, &ranked),
            });
        }

        if let Some(outcome) = input.outcome
            && outcome.requires_review
            && !outcome.review_reasons.is_empty()
        {
            let severity = findings
                .iter()
                .map(|f| f.severity)
                .max()
                .unwrap_or(Severity::Medium)
                .max(Severity::Medium);
            let mut citations: Vec<Citation> = Vec::new();
            for a in &required_actions {
                if let Some(c) = a.citations.first()
                    && !citations.iter().any(|x| x.chunk_id == c.chunk_id)
                    && citations.len() < MAX_ACTION_CITATIONS
                {
                    citations.push(c.clone());
                }
            }
            compliance_issues.push(ComplianceIssue {
                title: "Transaction requires compliance review".into(),
                severity,
                explanation: format!(
                    "The rules engine flagged this transaction for review: {}.",
                    outcome.review_reasons.join("; ")
                ),
                citations,
            });
        }

        if !findings.is_empty() {
            let best = ranked
                .iter()
                .find(|r| !r.for_actions.is_empty())
                .or(ranked.first());
            recommendations.push(Recommendation {
                text: "Document the review of this transaction in the case file: the facts considered, the sources \
                       consulted, each decision taken and who approved it."
                    .into(),
                citations: best.map(Ranked::citation).into_iter().collect(),
            });
        } else if input.question().is_none() {
            recommendations.push(Recommendation {
                text: "No obligations triggered: the rules engine found no required action for this transaction. \
                       Document the review and continue routine monitoring."
                    .into(),
                citations: Vec::new(),
            });
        }

        let (answer, answer_citations) = match input.question() {
            Some(_) => extractive_answer(&ranked),
            None => (None, Vec::new()),
        };

        Guidance {
            required_actions,
            compliance_issues,
            recommendations,
            answer,
            answer_citations,
            generator: GeneratorInfo {
                kind: GeneratorKind::Rules,
                model: None,
                degraded_reason: None,
                dropped_citations: 0,
            },
        }
    }
}

fn issue_explanation(finding: &Finding) -> String {
    let mut s = finding.description.trim().to_string();
    if !finding.regulations.is_empty() {
        if !s.is_empty() && !s.ends_with('.') {
            s.push('.');
        }
        s.push_str(&format!(
            " Applicable rules: {}.",
            finding.regulations.join(", ")
        ));
    }
    if !finding.policies.is_empty() {
        s.push_str(&format!(
            " Bank procedures: {}.",
            finding.policies.join(", ")
        ));
    }
    s.trim().to_string()
}

/// Fixed procedural advice per action; it states no rule of its own.
fn recommendation_for(code: ActionCode) -> &'static str {
    match code {
        ActionCode::CtrFiling => {
            "Verify and record the identity of each person who conducted the cash transactions, then file the CTR \
             by the deadline and keep the filing with the transaction record."
        }
        ActionCode::SarReview => {
            "Complete the SAR review and document the decision to file or not to file with its reasons; do not tell \
             the customer or any party to the transaction that a SAR is being considered."
        }
        ActionCode::TravelRuleRecords => {
            "Check that the transfer order carries the originator and beneficiary information the cited rules \
             require, and retain the transfer records as they require."
        }
        ActionCode::OfacBlockOrReject => {
            "Hold the transaction and escalate the potential sanctions match to the OFAC officer; do not release \
             funds until the match is resolved and the resolution is documented."
        }
        ActionCode::EnhancedDueDiligence => {
            "Complete and document enhanced due diligence (purpose of the transaction, source of funds, approvals \
             the cited procedure requires) before proceeding."
        }
        ActionCode::KycRemediation => {
            "Verify the customer's identity and bring the KYC record up to date before processing further \
             transactions."
        }
        ActionCode::MonetaryInstrumentRecord => {
            "Verify the purchaser's identity and complete the monetary instrument record before the instruments \
             are issued, and keep it with the transaction record."
        }
    }
}

/// Quotes the best passages; interprets nothing.
fn extractive_answer(ranked: &[Ranked<'_>]) -> (Option<String>, Vec<Citation>) {
    let top: Vec<Citation> = ranked
        .iter()
        .take(ANSWER_PASSAGES)
        .map(Ranked::citation)
        .collect();
    if top.is_empty() {
        return (
            Some("No retrieved source addresses this question, so no answer can be given from the corpus.".into()),
            Vec::new(),
        );
    }
    let mut answer = String::from("The retrieved sources say:");
    for c in &top {
        let source = match &c.citation {
            Some(cit) => format!("{cit} ({})", c.document_title),
            None => c.document_title.clone(),
        };
        answer.push_str(&format!("\n- {source}: \"{}\"", c.excerpt));
    }
    answer.push_str("\n(Quoted from the best-matching retrieved passages without interpretation.)");
    (Some(answer), top)
}

/// True when the chunk's own citation falls under one of `regs`.
fn cites_one_of(r: &Ranked<'_>, regs: &[CfrRef]) -> bool {
    r.hit
        .record
        .chunk
        .citation
        .as_deref()
        .and_then(CfrRef::parse)
        .is_some_and(|c| regs.iter().any(|f| f.covers(&c)))
}

/// Citations for a rule issue: retrieved chunks whose own citation is one of
/// `regulations` (best score first, at most [`MAX_ACTION_CITATIONS`]).
fn citations_for_regulations(regulations: &[String], ranked: &[Ranked<'_>]) -> Vec<Citation> {
    let regs: Vec<CfrRef> = regulations.iter().filter_map(|r| CfrRef::parse(r)).collect();
    ranked
        .iter()
        .filter(|r| cites_one_of(r, &regs))
        .take(MAX_ACTION_CITATIONS)
        .map(Ranked::citation)
        .collect()
}

/// Citations for one finding, from the evidence only (at most [`MAX_ACTION_CITATIONS`]):
/// 1. chunks retrieved for the finding's action whose own citation is one of the
///    finding's regulations (same section, or same part for `31 CFR Part N`);
/// 2. institution policy/procedure chunks retrieved for the action that cite one of those
///    regulations in their text;
/// 3. if neither found anything: the best-scored chunk retrieved for the action, else a
///    chunk retrieved for another query whose citation is one of the regulations.
pub(crate) fn citations_for_finding(finding: &Finding, ranked: &[Ranked<'_>]) -> Vec<Citation> {
    let regs: Vec<CfrRef> = finding
        .regulations
        .iter()
        .filter_map(|r| CfrRef::parse(r))
        .collect();
    let cites_reg = |r: &Ranked<'_>| cites_one_of(r, &regs);
    let is_policy = |r: &Ranked<'_>| {
        matches!(
            r.hit.record.meta.document_type,
            DocumentType::Policy | DocumentType::Procedure
        )
    };
    let mentions_reg = |r: &Ranked<'_>| {
        regs.iter()
            .any(|f| f.mentioned_in(&r.hit.record.chunk.text))
    };

    let for_action: Vec<&Ranked<'_>> = ranked
        .iter()
        .filter(|r| r.retrieved_for(finding.code))
        .collect();
    // The bank procedure sections the finding rests on (`EDD 5.1` covers
    // `EDD 5.1` and `EDD 5.1.2`).
    let cites_policy = |r: &Ranked<'_>| {
        r.hit.record.chunk.citation.as_deref().is_some_and(|c| {
            finding.policies.iter().any(|p| {
                c == p
                    || c.strip_prefix(p.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
            })
        })
    };
    let mut tier1 = for_action.iter().copied().filter(|r| cites_reg(r));
    let policy = for_action
        .iter()
        .copied()
        .filter(|r| is_policy(r) && cites_policy(r));
    let tier2 = for_action
        .iter()
        .copied()
        .filter(|r| is_policy(r) && !cites_reg(r) && mentions_reg(r));
    let mut chosen: Vec<&Ranked<'_>> = Vec::new();
    // The best regulation chunk, then the cited procedure, then the rest.
    let first = tier1.next();
    for r in first.into_iter().chain(policy).chain(tier1).chain(tier2) {
        add(&mut chosen, r);
    }
    if chosen.is_empty() {
        match best_for_action(ranked, finding.code) {
            Some(best) => add(&mut chosen, best),
            None => {
                for r in ranked.iter().filter(|r| cites_reg(r)) {
                    add(&mut chosen, r);
                }
            }
        }
    }
    chosen.into_iter().map(Ranked::citation).collect()
}

fn add<'r, 'a>(chosen: &mut Vec<&'r Ranked<'a>>, r: &'r Ranked<'a>) {
    if chosen.len() < MAX_ACTION_CITATIONS && !chosen.iter().any(|c| c.chunk_id() == r.chunk_id()) {
        chosen.push(r);
    }
}

/// A reference into the Code of Federal Regulations: `31 CFR 1010.311(a)` →
/// title 31, part 1010, section 1010.311; `31 CFR Part 515` → title 31, part 515.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CfrRef {
    pub title: Option<String>,
    pub part: String,
    pub section: Option<String>,
}

impl CfrRef {
    pub fn parse(s: &str) -> Option<Self> {
        let tokens: Vec<&str> = s.split_whitespace().collect();
        let at = tokens.iter().position(|t| {
            let t = t.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '.');
            t.eq_ignore_ascii_case("CFR")
                || t.eq_ignore_ascii_case("C.F.R.")
                || t.eq_ignore_ascii_case("C.F.R")
        })?;
        let title = at
            .checked_sub(1)
            .map(|i| tokens[i].trim_matches(|c: char| !c.is_ascii_digit()))
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        let mut rest = tokens[at + 1..].iter().copied();
        let mut number = rest.next()?;
        while number.eq_ignore_ascii_case("part")
            || number.starts_with('§') && number.trim_start_matches('§').is_empty()
        {
            number = rest.next()?;
        }
        let number = number.trim_start_matches('§');
        let digits: String = number
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let digits = digits.trim_end_matches('.');
        if digits.is_empty() || !digits.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        match digits.split_once('.') {
            Some((part, sec)) if !sec.is_empty() => Some(Self {
                title,
                part: part.to_string(),
                section: Some(format!("{part}.{sec}")),
            }),
            _ => Some(Self {
                title,
                part: digits.to_string(),
                section: None,
            }),
        }
    }

    /// Whether `chunk` (a chunk's citation) falls under this (a finding's) reference.
    pub fn covers(&self, chunk: &CfrRef) -> bool {
        if let (Some(a), Some(b)) = (&self.title, &chunk.title)
            && a != b
        {
            return false;
        }
        match &self.section {
            Some(s) => chunk.section.as_deref() == Some(s.as_str()),
            None => chunk.part == self.part,
        }
    }

    /// Whether `text` cites this reference: the section number (`1010.311`, also as
    /// `1010.311(a)`) or, for a part, `Part 515` / `CFR 515.x`.
    pub fn mentioned_in(&self, text: &str) -> bool {
        match &self.section {
            Some(s) => contains_number(text, s),
            None => {
                let part = &self.part;
                contains_number(text, &format!("Part {part}"))
                    || contains_number(text, &format!("part {part}"))
                    || text
                        .match_indices(&format!("CFR {part}."))
                        .any(|(i, m)| text[i + m.len()..].starts_with(|c: char| c.is_ascii_digit()))
            }
        }
    }
}

impl std::fmt::Display for CfrRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(t) = &self.title {
            write!(f, "{t} ")?;
        }
        match &self.section {
            Some(s) => write!(f, "CFR {s}"),
            None => write!(f, "CFR Part {}", self.part),
        }
    }
}

/// The CFR references written in `text` (`31 CFR 1010.311(a)`, `12 C.F.R. Part 21`, …).
pub(crate) fn cfr_references(text: &str) -> Vec<CfrRef> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let mut out = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let core = t.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '.');
        if core.eq_ignore_ascii_case("CFR")
            || core.eq_ignore_ascii_case("C.F.R.")
            || core.eq_ignore_ascii_case("C.F.R")
        {
            let window = tokens[i.saturating_sub(1)..(i + 4).min(tokens.len())].join(" ");
            if let Some(r) = CfrRef::parse(&window) {
                out.push(r);
            }
        }
    }
    out
}

/// The first CFR reference in `text` that neither the findings' `regulations` nor any
/// retrieved chunk (its citation or its text) supports: a regulation the model made up.
pub(crate) fn unsupported_reference(
    text: &str,
    ranked: &[Ranked<'_>],
    regulations: &[String],
) -> Option<String> {
    let known: Vec<CfrRef> = regulations
        .iter()
        .filter_map(|r| CfrRef::parse(r))
        .collect();
    cfr_references(text)
        .into_iter()
        .find(|r| {
            let by_rules = known.iter().any(|k| k.covers(r) || r.covers(k));
            let by_evidence = ranked.iter().any(|c| {
                let chunk = &c.hit.record.chunk;
                chunk
                    .citation
                    .as_deref()
                    .and_then(CfrRef::parse)
                    .is_some_and(|cc| r.covers(&cc) || cc.covers(r))
                    || r.mentioned_in(&chunk.text)
            });
            !(by_rules || by_evidence)
        })
        .map(|r| r.to_string())
}

/// `needle` occurs in `text` not glued to other digits (so `1010.31` is not found in
/// `1010.311`, nor `1010.311` in `21010.311`).
fn contains_number(text: &str, needle: &str) -> bool {
    text.match_indices(needle).any(|(i, m)| {
        let before = text[..i].chars().next_back();
        let after = &text[i + m.len()..];
        let glued_before = before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '.');
        let mut it = after.chars();
        let glued_after = match it.next() {
            Some(c) if c.is_ascii_digit() => true,
            Some('.') => it.next().is_some_and(|c| c.is_ascii_digit()),
            _ => false,
        };
        !glued_before && !glued_after
    })
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use reagent_ingest::DocumentType::{Guidance as Gd, Policy, Procedure, Regulation};
    use uuid::Uuid;

    use super::*;
    use crate::generation::test_support::chunk;
    use crate::generation::{EvidenceChunk, rank_evidence};
    use crate::rules::{RiskLevel, RuleOutcome};

    fn finding(code: ActionCode, regs: &[&str]) -> Finding {
        Finding {
            code,
            title: format!("title {code}"),
            description: format!("desc {code}"),
            deadline: Some("within 15 days".into()),
            due_on: None,
            regulations: regs.iter().map(|s| s.to_string()).collect(),
            policies: vec![],
            retrieval_query: "q".into(),
            severity: Severity::High,
        }
    }

    fn outcome(findings: Vec<Finding>) -> RuleOutcome {
        RuleOutcome {
            findings,
            risk_score: 0.5,
            risk_level: RiskLevel::Medium,
            requires_review: false,
            review_reasons: vec![],
            risk_factors: vec![],
            issues: vec![],
            as_of: NaiveDate::from_ymd_opt(2026, 3, 10).unwrap_or_default(),
            business_day: NaiveDate::from_ymd_opt(2026, 3, 10).unwrap_or_default(),
            sanctions_screening: Default::default(),
        }
    }

    fn ids(cs: &[Citation]) -> Vec<u128> {
        cs.iter().map(|c| c.chunk_id.as_u128()).collect()
    }

    #[test]
    fn parses_cfr_references() {
        let r = CfrRef::parse("31 CFR 1010.311(a)").unwrap();
        assert_eq!(
            (r.title.as_deref(), r.part.as_str(), r.section.as_deref()),
            (Some("31"), "1010", Some("1010.311"))
        );
        let p = CfrRef::parse("31 CFR Part 515").unwrap();
        assert_eq!((p.part.as_str(), p.section), ("515", None));
        assert_eq!(
            CfrRef::parse("31 C.F.R. § 1020.320")
                .unwrap()
                .section
                .as_deref(),
            Some("1020.320")
        );
        assert_eq!(CfrRef::parse("AML 4.2"), None);
        assert_eq!(CfrRef::parse("CFR"), None);
        assert_eq!(CfrRef::parse("31 CFR Part"), None);
    }

    #[test]
    fn section_and_part_matching() {
        let sec = CfrRef::parse("31 CFR 1010.311").unwrap();
        assert!(sec.covers(&CfrRef::parse("31 CFR 1010.311(a)").unwrap()));
        assert!(sec.covers(&CfrRef::parse("31 CFR 1010.311").unwrap()));
        assert!(!sec.covers(&CfrRef::parse("31 CFR 1010.313").unwrap()));
        assert!(!sec.covers(&CfrRef::parse("31 CFR 1010.3110").unwrap()));
        assert!(!sec.covers(&CfrRef::parse("12 CFR 1010.311").unwrap()));
        let part = CfrRef::parse("31 CFR Part 515").unwrap();
        assert!(part.covers(&CfrRef::parse("31 CFR 515.201").unwrap()));
        assert!(part.covers(&CfrRef::parse("31 CFR Part 515").unwrap()));
        assert!(!part.covers(&CfrRef::parse("31 CFR 560.201").unwrap()));
        assert!(!part.covers(&CfrRef::parse("31 CFR 5150.1").unwrap()));

        assert!(sec.mentioned_in("as required (31 CFR 1010.311)."));
        assert!(sec.mentioned_in("see 1010.100 and 1010.311(a)(1); then"));
        assert!(!sec.mentioned_in("see 31 CFR 1010.3110"));
        assert!(!sec.mentioned_in("see 31 CFR 1010.31"));
        assert!(part.mentioned_in("the Cuban regulations (31 CFR Part 515) prohibit"));
        assert!(part.mentioned_in("blocked under 31 CFR 515.201(b)"));
        assert!(!part.mentioned_in("31 CFR Part 5150"));
    }

    #[test]
    fn invented_cfr_references_are_detected() {
        let ev = vec![
            chunk(
                1,
                Regulation,
                Some("31 CFR 1010.311"),
                "file a report ... (see 31 CFR 1010.306(a)(1))",
                0.9,
                &[],
            ),
            chunk(
                2,
                Policy,
                Some("AML 4.3"),
                "the teller verifies identity (31 CFR 1010.312).",
                0.5,
                &[],
            ),
        ];
        let ranked = rank_evidence(&ev);
        let regs = vec!["31 CFR 1010.313".to_string()];
        let ok = |t: &str| unsupported_reference(t, &ranked, &regs);
        assert_eq!(
            ok("File under 31 CFR 1010.311(a) within 15 days (31 CFR 1010.306)."),
            None
        );
        assert_eq!(
            ok("Aggregate per 31 CFR 1010.313; verify identity per 31 C.F.R. § 1010.312."),
            None
        );
        assert_eq!(ok("No regulation named here."), None);
        assert_eq!(
            ok("A report required by 102.5 CFR 2025 is due.").as_deref(),
            Some("102.5 CFR Part 2025")
        );
        assert_eq!(
            ok("See 31 CFR 1010.314 too.").as_deref(),
            Some("31 CFR 1010.314")
        );
        assert_eq!(
            ok("Under 12 CFR 21.11 banks file SARs.").as_deref(),
            Some("12 CFR 21.11")
        );
    }

    #[test]
    fn prefers_matching_regulation_then_policy_citing_it_then_best_chunk() {
        let ctr = ActionCode::CtrFiling;
        let f = finding(ctr, &["31 CFR 1010.311", "31 CFR 1010.313"]);
        let ev = vec![
            // Best score, retrieved for the action, but another regulation.
            chunk(
                1,
                Regulation,
                Some("31 CFR 1010.100(m)"),
                "definitions",
                0.95,
                &[ctr],
            ),
            // Policy that cites the regulation in its text.
            chunk(
                2,
                Policy,
                Some("AML 4.1"),
                "File a CTR for cash over $10,000 (31 CFR 1010.311).",
                0.9,
                &[ctr],
            ),
            // The regulation itself, paragraph-level citation.
            chunk(
                3,
                Regulation,
                Some("31 CFR 1010.311(a)"),
                "Each financial institution shall file",
                0.5,
                &[ctr],
            ),
            // Matching regulation, but not retrieved for this action.
            chunk(
                4,
                Regulation,
                Some("31 CFR 1010.313"),
                "aggregation",
                0.99,
                &[ActionCode::SarReview],
            ),
            // Aggregation rule, retrieved for the action.
            chunk(
                5,
                Regulation,
                Some("31 CFR 1010.313(b)"),
                "multiple transactions",
                0.4,
                &[ctr],
            ),
            // Procedure citing it in text, but a fourth choice: capped out.
            chunk(
                6,
                Procedure,
                Some("CASH 2"),
                "per 31 CFR 1010.313",
                0.3,
                &[ctr],
            ),
        ];
        let ranked = rank_evidence(&ev);
        let got = citations_for_finding(&f, &ranked);
        assert_eq!(
            ids(&got),
            vec![3, 5, 2],
            "regulation chunks by score, then the policy; at most 3"
        );
    }

    /// Senior management approval for a foreign PEP is bank policy (EDD
    /// 5.1), so the finding cites the procedure section it names even when
    /// three regulation chunks were retrieved.
    #[test]
    fn cites_the_named_bank_procedure_section() {
        let edd = ActionCode::EnhancedDueDiligence;
        let mut f = finding(edd, &["31 CFR 1010.230", "31 CFR 1020.210"]);
        f.policies = vec!["EDD 5.1".into()];
        let ev = vec![
            chunk(
                1,
                Regulation,
                Some("31 CFR 1010.230(a)"),
                "CDD",
                0.9,
                &[edd],
            ),
            chunk(
                2,
                Regulation,
                Some("31 CFR 1020.210"),
                "program",
                0.8,
                &[edd],
            ),
            chunk(
                3,
                Regulation,
                Some("31 CFR 1010.230(b)"),
                "owners",
                0.7,
                &[edd],
            ),
            chunk(4, Procedure, Some("EDD 5.10"), "other table", 0.65, &[edd]),
            chunk(
                5,
                Procedure,
                Some("EDD 5.1"),
                "Approval authority",
                0.6,
                &[edd],
            ),
        ];
        let got = citations_for_finding(&f, &rank_evidence(&ev));
        assert_eq!(ids(&got), vec![1, 5, 2]);
        f.policies.clear();
        assert_eq!(
            ids(&citations_for_finding(&f, &rank_evidence(&ev))),
            vec![1, 2, 3]
        );
    }

    #[test]
    fn part_level_finding_matches_sections_of_the_part() {
        let ofac = ActionCode::OfacBlockOrReject;
        let f = finding(ofac, &["31 CFR Part 501", "31 CFR Part 515"]);
        let ev = vec![
            chunk(1, Regulation, Some("31 CFR 560.201"), "Iran", 0.9, &[ofac]),
            chunk(2, Regulation, Some("31 CFR 515.201"), "Cuba", 0.6, &[ofac]),
            chunk(
                3,
                Regulation,
                Some("31 CFR Part 515"),
                "Cuban Assets Control Regulations",
                0.5,
                &[ofac],
            ),
        ];
        let got = citations_for_finding(&f, &rank_evidence(&ev));
        assert_eq!(ids(&got), vec![2, 3]);
    }

    #[test]
    fn falls_back_to_best_chunk_for_the_action_and_never_cites_unretrieved_chunks() {
        let kyc = ActionCode::KycRemediation;
        let f = finding(kyc, &["31 CFR 1020.220"]);
        let ev = vec![
            chunk(
                1,
                Gd,
                Some("FFIEC CIP"),
                "customer identification",
                0.3,
                &[kyc],
            ),
            chunk(2, Gd, Some("FFIEC CIP 2"), "verification", 0.7, &[kyc]),
            chunk(
                3,
                Regulation,
                Some("31 CFR 1010.311"),
                "ctr",
                0.99,
                &[ActionCode::CtrFiling],
            ),
        ];
        assert_eq!(
            ids(&citations_for_finding(&f, &rank_evidence(&ev))),
            vec![2]
        );

        // Nothing retrieved for the action: a chunk citing the regulation found by another query.
        let ev = vec![
            chunk(
                1,
                Regulation,
                Some("31 CFR 1020.220(a)(2)"),
                "CIP",
                0.2,
                &[ActionCode::EnhancedDueDiligence],
            ),
            chunk(
                2,
                Regulation,
                Some("31 CFR 1010.311"),
                "ctr",
                0.99,
                &[ActionCode::CtrFiling],
            ),
        ];
        assert_eq!(
            ids(&citations_for_finding(&f, &rank_evidence(&ev))),
            vec![1]
        );
        // Nothing at all: no citation rather than an invented one.
        assert!(citations_for_finding(&f, &rank_evidence(&[])).is_empty());
    }

    #[test]
    fn builds_actions_issues_and_recommendations_from_findings() {
        let f1 = finding(ActionCode::CtrFiling, &["31 CFR 1010.311"]);
        let f2 = finding(ActionCode::SarReview, &["31 CFR 1020.320"]);
        let ev = vec![
            chunk(
                1,
                Regulation,
                Some("31 CFR 1010.311"),
                "ctr",
                0.8,
                &[ActionCode::CtrFiling],
            ),
            chunk(
                2,
                Regulation,
                Some("31 CFR 1020.320(a)"),
                "sar",
                0.7,
                &[ActionCode::SarReview],
            ),
        ];
        let mut o = outcome(vec![f1, f2]);
        o.requires_review = true;
        o.review_reasons = vec!["structuring pattern".into()];
        let input = GenerationInput {
            request: None,
            outcome: Some(&o),
            evidence: &ev,
            question: None,
        };
        let g = RulesGenerator::new().build(&input);
        assert_eq!(g.generator.kind, GeneratorKind::Rules);
        assert_eq!(g.generator.degraded_reason, None);
        assert_eq!(g.required_actions.len(), 2);
        assert_eq!(
            g.required_actions[0].deadline.as_deref(),
            Some("within 15 days")
        );
        assert_eq!(ids(&g.required_actions[0].citations), vec![1]);
        assert_eq!(ids(&g.required_actions[1].citations), vec![2]);
        assert_eq!(
            g.compliance_issues.len(),
            3,
            "one per finding plus the review flag"
        );
        assert!(
            g.compliance_issues[2]
                .explanation
                .contains("structuring pattern")
        );
        assert!(
            g.recommendations
                .iter()
                .any(|r| r.text.starts_with("Document the review"))
        );
        assert!(g.recommendations.iter().all(|r| !r.citations.is_empty()));
        assert_eq!(g.answer, None);
        let known: Vec<Uuid> = ev
            .iter()
            .map(|e: &EvidenceChunk| e.hit.record.chunk_id)
            .collect();
        for c in g.required_actions.iter().flat_map(|a| &a.citations) {
            assert!(known.contains(&c.chunk_id));
        }
    }

    #[test]
    fn no_findings_and_no_question_says_no_obligations() {
        let o = outcome(vec![]);
        let input = GenerationInput {
            request: None,
            outcome: Some(&o),
            evidence: &[],
            question: None,
        };
        let g = RulesGenerator::new().build(&input);
        assert!(g.required_actions.is_empty());
        assert_eq!(g.recommendations.len(), 1);
        assert!(
            g.recommendations[0]
                .text
                .starts_with("No obligations triggered")
        );
    }

    #[test]
    fn question_gets_an_extractive_answer() {
        let ev = vec![
            chunk(
                1,
                Regulation,
                Some("31 CFR 1010.311"),
                "Each financial institution shall file a report.",
                0.4,
                &[],
            ),
            chunk(
                2,
                Policy,
                Some("AML 4.4"),
                "File within 15 calendar days.",
                0.9,
                &[],
            ),
        ];
        let input = GenerationInput {
            request: None,
            outcome: None,
            evidence: &ev,
            question: Some("When is a CTR due?"),
        };
        let g = RulesGenerator::new().build(&input);
        let a = g.answer.unwrap_or_default();
        assert!(a.starts_with("The retrieved sources say:"), "{a}");
        assert!(a.contains("\"File within 15 calendar days.\""), "{a}");
        assert_eq!(ids(&g.answer_citations), vec![2, 1]);
        assert!(g.recommendations.is_empty());

        let none = GenerationInput {
            evidence: &[],
            ..input
        };
        let g = RulesGenerator::new().build(&none);
        assert!(
            g.answer
                .unwrap_or_default()
                .starts_with("No retrieved source")
        );
        assert!(g.answer_citations.is_empty());
    }
}
