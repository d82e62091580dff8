//! Owns the payload layout of a stored chunk: one typed struct, serialised to Qdrant's
//! JSON payload and back. Dates are also stored as day numbers so that in-force filters
//! are integer ranges.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ChunkRecord, StoreError, StoredChunk, VersionInfo, VersionStatus};
use crate::chunk::Chunk;
use crate::document::{DocumentMeta, DocumentType, version_key};

/// Day number used for "no end date".
pub const OPEN_END_DAY: i64 = 99_999_999;

pub fn day_number(date: NaiveDate) -> i64 {
    i64::from(date.num_days_from_ce())
}

/// Keyword fields with a payload index.
pub const KEYWORD_FIELDS: [&str; 5] = ["document_id", "version_key", "document_type", "jurisdiction", "status"];
/// Integer fields with a payload index.
pub const INTEGER_FIELDS: [&str; 3] = ["from_day", "to_day", "chunk_index"];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChunkPayload {
    pub chunk_id: Uuid,
    pub document_id: String,
    pub document_title: String,
    pub version: String,
    pub version_key: String,
    pub document_type: DocumentType,
    pub jurisdiction: String,
    pub issuer: String,
    pub document_citation: Option<String>,
    pub effective_from: NaiveDate,
    pub effective_to: Option<NaiveDate>,
    pub from_day: i64,
    pub to_day: i64,
    pub source_path: String,
    pub content_hash: String,
    pub status: VersionStatus,
    pub version_chunks: usize,
    pub ingested_at: DateTime<Utc>,
    pub chunk_index: usize,
    pub text: String,
    pub section_path: Vec<String>,
    pub citation: Option<String>,
    pub page_start: Option<u32>,
    pub page_end: Option<u32>,
    pub char_start: usize,
    pub char_end: usize,
    pub passage_id: Option<String>,
    pub token_count: usize,
}

impl ChunkPayload {
    pub fn pending(c: &StoredChunk, now: DateTime<Utc>) -> Self {
        let m = &c.meta;
        Self {
            chunk_id: c.id,
            document_id: m.document_id.clone(),
            document_title: m.title.clone(),
            version: m.version.clone(),
            version_key: version_key(&m.document_id, &m.version),
            document_type: m.document_type,
            jurisdiction: m.jurisdiction.clone(),
            issuer: m.issuer.clone(),
            document_citation: m.citation.clone(),
            effective_from: m.effective_from,
            effective_to: m.effective_to,
            from_day: day_number(m.effective_from),
            to_day: m.effective_to.map_or(OPEN_END_DAY, day_number),
            source_path: m.source_path.clone(),
            content_hash: m.content_hash.clone(),
            status: VersionStatus::Pending,
            version_chunks: c.version_chunks,
            ingested_at: now,
            chunk_index: c.chunk.index,
            text: c.chunk.text.clone(),
            section_path: c.chunk.section_path.clone(),
            citation: c.chunk.citation.clone(),
            page_start: c.chunk.pages.map(|p| p.0),
            page_end: c.chunk.pages.map(|p| p.1),
            char_start: c.chunk.char_start,
            char_end: c.chunk.char_end,
            passage_id: c.chunk.passage_id.clone(),
            token_count: c.chunk.token_count,
        }
    }

    pub fn to_json(&self) -> Result<serde_json::Value, StoreError> {
        serde_json::to_value(self).map_err(|e| StoreError::Payload(e.to_string()))
    }

    pub fn from_map(map: serde_json::Map<String, serde_json::Value>) -> Result<Self, StoreError> {
        serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| StoreError::Payload(e.to_string()))
    }

    pub fn meta(&self) -> DocumentMeta {
        DocumentMeta {
            document_id: self.document_id.clone(),
            title: self.document_title.clone(),
            version: self.version.clone(),
            document_type: self.document_type,
            jurisdiction: self.jurisdiction.clone(),
            issuer: self.issuer.clone(),
            citation: self.document_citation.clone(),
            effective_from: self.effective_from,
            effective_to: self.effective_to,
            source_path: self.source_path.clone(),
            content_hash: self.content_hash.clone(),
        }
    }

    pub fn into_record(self) -> ChunkRecord {
        let meta = self.meta();
        ChunkRecord {
            chunk_id: self.chunk_id,
            meta,
            chunk: Chunk {
                index: self.chunk_index,
                text: self.text,
                section_path: self.section_path,
                citation: self.citation,
                pages: self.page_start.zip(self.page_end),
                char_start: self.char_start,
                char_end: self.char_end,
                passage_id: self.passage_id,
                token_count: self.token_count,
            },
        }
    }

    pub fn version_info(&self) -> VersionInfo {
        VersionInfo {
            meta: self.meta(),
            status: self.status,
            chunk_count: self.version_chunks,
            ingested_at: self.ingested_at,
        }
    }
}
