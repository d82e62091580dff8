//! Evidence chunks as retrieval would hand them to the generator, built by hand for
//! the generation tests.

use chrono::NaiveDate;
use reagent::generation::EvidenceChunk;
use reagent::rules::ActionCode;
use reagent_ingest::store::{ChunkRecord, ScoredChunk};
use reagent_ingest::{Chunk, DocumentMeta, DocumentType};
use uuid::Uuid;

/// Chunk `n` (its id `Uuid::from_u128(n)`) of `document` (title; the id is its
/// lowercase with dashes), holding `text` under `citation`, retrieved with `score` for
/// `for_actions`. The document is US, issued by "test", in force from 2025-01-01.
pub fn chunk(
    n: u128,
    doc_type: DocumentType,
    document: &str,
    citation: &str,
    text: &str,
    score: f32,
    for_actions: &[ActionCode],
) -> EvidenceChunk {
    let document_id = document.to_lowercase().replace(' ', "-");
    let meta = DocumentMeta {
        source_path: format!("{document_id}.md"),
        document_id,
        title: document.into(),
        version: "2025-01-01".into(),
        document_type: doc_type,
        jurisdiction: "US".into(),
        issuer: "test".into(),
        citation: Some(citation.into()),
        effective_from: NaiveDate::from_ymd_opt(2025, 1, 1).expect("date"),
        effective_to: None,
        content_hash: "0".repeat(64),
    };
    let chunk = Chunk {
        index: 0,
        text: text.into(),
        section_path: vec![citation.into()],
        citation: Some(citation.into()),
        pages: None,
        char_start: 0,
        char_end: text.len(),
        passage_id: None,
        token_count: text.split_whitespace().count(),
    };
    EvidenceChunk {
        hit: ScoredChunk { record: ChunkRecord { chunk_id: Uuid::from_u128(n), meta, chunk }, score },
        for_actions: for_actions.to_vec(),
    }
}
