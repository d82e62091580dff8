//! Owns the evidence a generator may cite: the retrieved chunks ([`EvidenceChunk`]),
//! deduplicated and ranked once ([`rank_evidence`]) so both generators, the prompt's short
//! ids and citation verification see them in the same order.

use std::collections::HashMap;

use reagent_ingest::store::ScoredChunk;
use uuid::Uuid;

use crate::guidance::Citation;
use crate::rules::ActionCode;

/// A retrieved chunk and the findings whose retrieval queries found it.
#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceChunk {
    pub hit: ScoredChunk,
    /// Which findings' queries retrieved it (empty for a question's own query).
    pub for_actions: Vec<ActionCode>,
}

/// Evidence deduplicated by chunk id (the `for_actions` of duplicates merged, the best
/// score kept), best score first; ties keep the input order. Both generators see the
/// evidence in this order, and the LLM's short ids `C1`, `C2`, … follow it.
#[derive(Debug, Clone)]
pub(crate) struct Ranked<'a> {
    pub hit: &'a ScoredChunk,
    pub score: f32,
    pub for_actions: Vec<ActionCode>,
}

impl Ranked<'_> {
    pub fn chunk_id(&self) -> Uuid {
        self.hit.record.chunk_id
    }

    pub fn citation(&self) -> Citation {
        Citation::from_chunk(self.hit)
    }

    pub fn retrieved_for(&self, code: ActionCode) -> bool {
        self.for_actions.contains(&code)
    }
}

pub(crate) fn rank_evidence(evidence: &[EvidenceChunk]) -> Vec<Ranked<'_>> {
    let mut out: Vec<Ranked<'_>> = Vec::with_capacity(evidence.len());
    let mut index: HashMap<Uuid, usize> = HashMap::new();
    for e in evidence {
        let score = if e.hit.score.is_nan() {
            f32::NEG_INFINITY
        } else {
            e.hit.score
        };
        match index.get(&e.hit.record.chunk_id) {
            Some(&i) => {
                let r = &mut out[i];
                if score > r.score {
                    r.score = score;
                    r.hit = &e.hit;
                }
                for a in &e.for_actions {
                    if !r.for_actions.contains(a) {
                        r.for_actions.push(*a);
                    }
                }
            }
            None => {
                index.insert(e.hit.record.chunk_id, out.len());
                out.push(Ranked {
                    hit: &e.hit,
                    score,
                    for_actions: e.for_actions.clone(),
                });
            }
        }
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out
}

/// The best-scored chunk retrieved for `code`, if any.
pub(crate) fn best_for_action<'a>(
    ranked: &'a [Ranked<'a>],
    code: ActionCode,
) -> Option<&'a Ranked<'a>> {
    ranked.iter().find(|r| r.retrieved_for(code))
}

#[cfg(test)]
pub(crate) mod test_support {
    use chrono::NaiveDate;
    use reagent_ingest::store::{ChunkRecord, ScoredChunk};
    use reagent_ingest::{Chunk, DocumentMeta, DocumentType};
    use uuid::Uuid;

    use super::EvidenceChunk;
    use crate::rules::ActionCode;

    pub fn chunk(
        n: u128,
        doc_type: DocumentType,
        citation: Option<&str>,
        text: &str,
        score: f32,
        for_actions: &[ActionCode],
    ) -> EvidenceChunk {
        let meta = DocumentMeta {
            document_id: format!("doc-{n}"),
            title: format!("Document {n}"),
            version: "2025-01-01".into(),
            document_type: doc_type,
            jurisdiction: "US".into(),
            issuer: "test".into(),
            citation: citation.map(str::to_string),
            effective_from: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap_or_default(),
            effective_to: None,
            source_path: format!("doc-{n}.md"),
            content_hash: "0".repeat(64),
        };
        let chunk = Chunk {
            index: 0,
            text: text.to_string(),
            section_path: vec![format!("Section {n}")],
            citation: citation.map(str::to_string),
            pages: None,
            char_start: 0,
            char_end: text.len(),
            passage_id: None,
            token_count: text.split_whitespace().count(),
        };
        EvidenceChunk {
            hit: ScoredChunk {
                record: ChunkRecord {
                    chunk_id: Uuid::from_u128(n),
                    meta,
                    chunk,
                },
                score,
            },
            for_actions: for_actions.to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use reagent_ingest::DocumentType;

    use super::test_support::chunk;
    use super::*;

    #[test]
    fn evidence_is_deduplicated_and_ranked() {
        let ev = vec![
            chunk(
                1,
                DocumentType::Regulation,
                None,
                "a",
                0.2,
                &[ActionCode::CtrFiling],
            ),
            chunk(
                2,
                DocumentType::Regulation,
                None,
                "b",
                0.9,
                &[ActionCode::SarReview],
            ),
            chunk(
                1,
                DocumentType::Regulation,
                None,
                "a",
                0.5,
                &[ActionCode::SarReview],
            ),
            chunk(3, DocumentType::Regulation, None, "c", f32::NAN, &[]),
        ];
        let r = rank_evidence(&ev);
        let ids: Vec<_> = r.iter().map(|x| x.chunk_id()).collect();
        assert_eq!(
            ids,
            vec![Uuid::from_u128(2), Uuid::from_u128(1), Uuid::from_u128(3)]
        );
        assert_eq!(r[1].score, 0.5);
        assert_eq!(
            r[1].for_actions,
            vec![ActionCode::CtrFiling, ActionCode::SarReview]
        );
        assert_eq!(
            best_for_action(&r, ActionCode::SarReview).map(|x| x.chunk_id()),
            Some(Uuid::from_u128(2))
        );
    }
}
