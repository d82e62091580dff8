//! Owns the document model: what a parsed file is and the metadata every chunk inherits.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The kind of text a document is; filters use it to prefer regulations over guidance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentType {
    Regulation,
    Guidance,
    Policy,
    Procedure,
    ExaminationManual,
}

impl DocumentType {
    pub const ALL: [DocumentType; 5] = [
        Self::Regulation,
        Self::Guidance,
        Self::Policy,
        Self::Procedure,
        Self::ExaminationManual,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Regulation => "regulation",
            Self::Guidance => "guidance",
            Self::Policy => "policy",
            Self::Procedure => "procedure",
            Self::ExaminationManual => "examination_manual",
        }
    }
}

impl fmt::Display for DocumentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DocumentType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown document type {s:?} (expected one of: {})",
                    Self::ALL.map(|t| t.as_str()).join(", ")
                )
            })
    }
}

/// Metadata of one version of a document. Every chunk of the version carries a copy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentMeta {
    /// Stable id shared by all versions (e.g. `31-cfr-1010-311`).
    pub document_id: String,
    pub title: String,
    /// Version label; unique per document.
    pub version: String,
    pub document_type: DocumentType,
    pub jurisdiction: String,
    pub issuer: String,
    /// Citation of the document as a whole (`31 CFR 1010.311`) or the prefix of its
    /// numbered sections (`AML` → `AML 4.2`).
    pub citation: Option<String>,
    /// First day in force.
    pub effective_from: NaiveDate,
    /// First day no longer in force (exclusive); `None` while in force.
    pub effective_to: Option<NaiveDate>,
    pub source_path: String,
    /// SHA-256 of the source bytes, hex.
    pub content_hash: String,
}

impl DocumentMeta {
    /// Whether this version is in force on `date` (effective_from ≤ date < effective_to).
    pub fn in_force_on(&self, date: NaiveDate) -> bool {
        self.effective_from <= date && self.effective_to.is_none_or(|to| date < to)
    }

    /// `document_id@version`, the key of one version in the store.
    pub fn version_key(&self) -> String {
        version_key(&self.document_id, &self.version)
    }
}

pub fn version_key(document_id: &str, version: &str) -> String {
    format!("{document_id}@{version}")
}

/// One passage of a pre-split corpus (ObliQA layout): it becomes exactly one chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    /// The passage's own id inside its document (e.g. `1.1.2`).
    pub passage_id: String,
    pub text: String,
}

/// The text of a parsed document, in the shape its format gives.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Markdown, front matter removed.
    Markdown(String),
    /// Plain text.
    Text(String),
    /// Text page by page (PDF); pages are numbered from 1.
    Pages(Vec<String>),
    /// Pre-split passages; one chunk each.
    Passages(Vec<Passage>),
}

/// A parsed document ready for chunking.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub meta: DocumentMeta,
    pub body: Body,
    /// Characters of the source that precede `body` (front matter), so chunk offsets
    /// point into the source file.
    pub source_offset: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(from: &str, to: Option<&str>) -> DocumentMeta {
        DocumentMeta {
            document_id: "d".into(),
            title: "t".into(),
            version: "v1".into(),
            document_type: DocumentType::Policy,
            jurisdiction: "US".into(),
            issuer: "x".into(),
            citation: None,
            effective_from: from.parse().unwrap(),
            effective_to: to.map(|t| t.parse().unwrap()),
            source_path: "p".into(),
            content_hash: "h".into(),
        }
    }

    #[test]
    fn in_force_is_half_open() {
        let m = meta("2025-01-01", Some("2025-07-01"));
        assert!(!m.in_force_on("2024-12-31".parse().unwrap()));
        assert!(m.in_force_on("2025-01-01".parse().unwrap()));
        assert!(m.in_force_on("2025-06-30".parse().unwrap()));
        assert!(!m.in_force_on("2025-07-01".parse().unwrap()));
        assert!(meta("2025-01-01", None).in_force_on("2999-01-01".parse().unwrap()));
    }

    #[test]
    fn document_type_round_trips_and_rejects_unknown() {
        for t in DocumentType::ALL {
            assert_eq!(t.as_str().parse::<DocumentType>().unwrap(), t);
        }
        let err = "memo".parse::<DocumentType>().unwrap_err();
        assert!(err.contains("examination_manual"), "{err}");
    }
}
