//! Owns citation verification (`cite`): the model's [`ModelOutput`] checked against the
//! evidence it was shown, into an [`LlmDraft`] in which every item cites retrieved chunks.
//!
//! - An id that is not one of the short ids the prompt showed (unknown, or a chunk
//!   retrieved but left out of the prompt) is dropped and counted.
//! - An item left with no valid citation gets the best chunk retrieved for its action;
//!   without one, the item is dropped and counted.
//! - An item naming a CFR reference that neither the findings nor the evidence contain
//!   (an invented regulation) is dropped, and the reference recorded.
//! - Text is trimmed and capped at [`MAX_FIELD_CHARS`], lists at [`MAX_ITEMS`].

use super::cfr::{CfrRef, cfr_references};
use super::merge::{DraftAction, LlmDraft};
use super::parse::ModelOutput;
use super::prompt::EvidenceIds;
use super::{Ranked, best_for_action, truncate};
use crate::guidance::{Citation, ComplianceIssue, Recommendation};
use crate::rules::ActionCode;

/// Most characters kept of one string the model writes.
pub(crate) const MAX_FIELD_CHARS: usize = 4000;
/// Most items kept of one list the model writes.
pub(crate) const MAX_ITEMS: usize = 20;

/// The verified draft and what verification removed or filled in.
#[derive(Debug, Clone)]
pub(crate) struct Verified {
    pub draft: LlmDraft,
    /// Items without any valid citation that no evidence for their action could
    /// support, plus items naming an invented regulation.
    pub dropped_items: usize,
    /// Items without a valid citation that received the best chunk for their action.
    pub filled_citations: usize,
    /// CFR references the model wrote that neither the findings nor the evidence contain.
    pub unsupported_references: Vec<String>,
}

/// Resolves ids to chunks, drops what cannot be supported, counts it. `regulations` are
/// the findings' regulations; `ranked` is all the evidence (an item's text may name what
/// any retrieved chunk cites).
pub(crate) fn verify(
    output: ModelOutput,
    ids: &EvidenceIds<'_>,
    ranked: &[Ranked<'_>],
    regulations: &[String],
    model: String,
) -> Verified {
    let mut dropped_citations = 0usize;
    let mut dropped_items = 0usize;
    let mut unsupported: Vec<String> = Vec::new();
    let mut invented = 0usize;
    // An item naming a CFR section that neither the rules nor the evidence contain is an
    // invented regulation: the whole item goes.
    let mut invents = |texts: &[&str]| -> bool {
        match texts
            .iter()
            .find_map(|t| unsupported_reference(t, ranked, regulations))
        {
            Some(r) => {
                unsupported.push(r);
                true
            }
            None => false,
        }
    };
    let mut filled = 0usize;
    let mut resolve = |list: &[String]| -> Vec<Citation> {
        let mut out: Vec<Citation> = Vec::new();
        for id in list {
            match ids.resolve(id) {
                Some(r) => {
                    if !out.iter().any(|c| c.chunk_id == r.chunk_id()) {
                        out.push(r.citation());
                    }
                }
                None => dropped_citations += 1,
            }
        }
        out
    };
    let mut fill =
        |mut citations: Vec<Citation>, code: Option<ActionCode>| -> Option<Vec<Citation>> {
            if citations.is_empty() {
                match code.and_then(|c| best_for_action(ranked, c)) {
                    Some(best) => {
                        filled += 1;
                        citations.push(best.citation());
                    }
                    None => {
                        dropped_items += 1;
                        return None;
                    }
                }
            }
            Some(citations)
        };

    let mut draft = LlmDraft {
        model: Some(model),
        ..LlmDraft::default()
    };
    for a in output.required_actions.into_iter().take(MAX_ITEMS) {
        let cites = resolve(&a.citations);
        if invents(&[&a.title, &a.description]) {
            invented += 1;
            continue;
        }
        if let Some(citations) = fill(cites, Some(a.code)) {
            draft.required_actions.push(DraftAction {
                code: a.code,
                title: truncate(a.title.trim(), MAX_FIELD_CHARS),
                description: truncate(a.description.trim(), MAX_FIELD_CHARS),
                citations,
            });
        }
    }
    for i in output.compliance_issues.into_iter().take(MAX_ITEMS) {
        let cites = resolve(&i.citations);
        if invents(&[&i.title, &i.explanation]) {
            invented += 1;
            continue;
        }
        if let Some(citations) = fill(cites, None) {
            draft.compliance_issues.push(ComplianceIssue {
                title: truncate(i.title.trim(), MAX_FIELD_CHARS),
                severity: i.severity,
                explanation: truncate(i.explanation.trim(), MAX_FIELD_CHARS),
                citations,
            });
        }
    }
    for r in output.recommendations.into_iter().take(MAX_ITEMS) {
        let cites = resolve(&r.citations);
        if r.text.trim().is_empty() {
            continue;
        }
        if invents(&[&r.text]) {
            invented += 1;
            continue;
        }
        if let Some(citations) = fill(cites, None) {
            draft.recommendations.push(Recommendation {
                text: truncate(r.text.trim(), MAX_FIELD_CHARS),
                citations,
            });
        }
    }
    let answer_citations = resolve(&output.answer_citations);
    match output.answer.filter(|a| !a.trim().is_empty()) {
        Some(answer) if invents(&[&answer]) => invented += 1,
        Some(answer) if !answer_citations.is_empty() => {
            draft.answer = Some(truncate(answer.trim(), MAX_FIELD_CHARS));
            draft.answer_citations = answer_citations;
        }
        Some(_) => dropped_items += 1,
        None => {}
    }
    draft.dropped_citations = dropped_citations;
    let dropped_items = dropped_items + invented;
    Verified {
        draft,
        dropped_items,
        filled_citations: filled,
        unsupported_references: unsupported,
    }
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

#[cfg(test)]
mod tests {
    use reagent_ingest::DocumentType::{Policy, Regulation};
    use uuid::Uuid;

    use super::*;
    use crate::generation::evidence::test_support::chunk;
    use crate::generation::parse::parse_output;
    use crate::generation::rank_evidence;

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
    fn unknown_ids_are_dropped_and_uncited_items_filled_or_dropped() {
        let ev = vec![
            chunk(
                1,
                Regulation,
                Some("31 CFR 1010.311"),
                "ctr",
                0.9,
                &[ActionCode::CtrFiling],
            ),
            chunk(
                2,
                Regulation,
                Some("31 CFR 1020.320"),
                "sar",
                0.8,
                &[ActionCode::SarReview],
            ),
        ];
        let ranked = rank_evidence(&ev);
        let ids = EvidenceIds::assign(&ranked, 10_000, 1000);
        assert_eq!(ids.ids(), vec!["C1", "C2"]);
        let raw = parse_output(
            r#"{"required_actions":[
                  {"code":"CTR_FILING","title":"t","description":"d","citations":["C9","[c1]"]},
                  {"code":"SAR_REVIEW","title":"t","description":"d","citations":["X1"]},
                  {"code":"KYC_REMEDIATION","title":"t","description":"d","citations":[]}],
                "compliance_issues":[{"title":"i","severity":"HIGH","explanation":"e","citations":["C77"]}],
                "recommendations":[{"text":"r","citations":["C2","C2"]}],
                "answer":"a","answer_citations":["nope"]}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let run = verify(raw, &ids, &ranked, &[], "m".into());
        let d = &run.draft;
        assert_eq!(d.dropped_citations, 4, "C9, X1, C77, nope");
        assert_eq!(
            d.required_actions.len(),
            2,
            "KYC had no citation and no evidence: dropped"
        );
        assert_eq!(
            d.required_actions[0].citations[0].chunk_id,
            Uuid::from_u128(1)
        );
        assert_eq!(
            d.required_actions[1].citations[0].chunk_id,
            Uuid::from_u128(2),
            "filled with SAR's best chunk"
        );
        assert!(d.compliance_issues.is_empty());
        assert_eq!(d.recommendations[0].citations.len(), 1);
        assert_eq!(d.answer, None);
        assert_eq!(run.dropped_items, 3, "KYC action, the issue, the answer");
        assert_eq!(run.filled_citations, 1);
    }

    #[test]
    fn items_naming_invented_regulations_are_dropped() {
        let ev = vec![chunk(
            1,
            Regulation,
            Some("31 CFR 1010.311"),
            "ctr",
            0.9,
            &[ActionCode::CtrFiling],
        )];
        let ranked = rank_evidence(&ev);
        let ids = EvidenceIds::assign(&ranked, 10_000, 1000);
        let raw = parse_output(
            r#"{"required_actions":[{"code":"CTR_FILING","title":"t","description":"Required by 102.5 CFR 2025.","citations":["C1"]}],
                "compliance_issues":[{"title":"i","severity":"LOW","explanation":"Per 31 CFR 1010.311 and 31 CFR 1010.313.","citations":["C1"]}],
                "recommendations":[{"text":"File per 31 CFR 1010.311(a).","citations":["C1"]}],
                "answer":"Under 4 CFR 1.1, yes.","answer_citations":["C1"]}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let regs = vec!["31 CFR 1010.313".to_string()];
        let run = verify(raw, &ids, &ranked, &regs, "m".into());
        assert!(run.draft.required_actions.is_empty());
        assert_eq!(
            run.draft.compliance_issues.len(),
            1,
            "1010.313 is a finding's regulation"
        );
        assert_eq!(run.draft.recommendations.len(), 1);
        assert_eq!(run.draft.answer, None);
        assert_eq!(
            run.unsupported_references,
            vec!["102.5 CFR Part 2025", "4 CFR 1.1"]
        );
        assert_eq!(run.dropped_items, 2);
    }

    #[test]
    fn an_id_of_a_chunk_left_out_of_the_prompt_is_dropped() {
        // Two chunks retrieved, but the evidence budget shows the model only C1.
        let ev = vec![
            chunk(
                1,
                Regulation,
                Some("31 CFR 1010.311"),
                &"a".repeat(500),
                0.9,
                &[],
            ),
            chunk(
                2,
                Regulation,
                Some("31 CFR 1010.313"),
                &"b".repeat(500),
                0.8,
                &[ActionCode::CtrFiling],
            ),
        ];
        let ranked = rank_evidence(&ev);
        let ids = EvidenceIds::assign(&ranked, 600, 1000);
        assert_eq!(ids.ids(), vec!["C1"]);
        let output = parse_output(
            r#"{"required_actions":[{"code":"CTR_FILING","title":"t","description":"d","citations":["C2"]}],
                "compliance_issues":[{"title":"i","severity":"LOW","explanation":"e","citations":["C2","C1"]}],
                "recommendations":[{"text":"r","citations":["C2"]}]}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let v = verify(output, &ids, &ranked, &[], "m".into());
        assert_eq!(v.draft.dropped_citations, 3, "every C2");
        assert_eq!(
            v.draft.required_actions[0]
                .citations
                .iter()
                .map(|c| c.chunk_id)
                .collect::<Vec<_>>(),
            vec![Uuid::from_u128(2)],
            "no valid id: the best chunk retrieved for CTR_FILING, not the model's pick"
        );
        assert_eq!(v.filled_citations, 1);
        assert_eq!(
            v.draft.compliance_issues[0]
                .citations
                .iter()
                .map(|c| c.chunk_id)
                .collect::<Vec<_>>(),
            vec![Uuid::from_u128(1)]
        );
        assert!(
            v.draft.recommendations.is_empty(),
            "uncited and no action to fill from"
        );
        assert_eq!(v.dropped_items, 1);
    }
}
