//! Owns turning one file into [`Document`]s: format detection, input checks, metadata
//! resolution (front matter > manifest > CLI defaults > derived values).
//!
//! Every failure is a [`ParseError`] naming the reason; the pipeline reports it with the
//! path and goes on with the next file.

mod front_matter;
pub mod isolate;
pub mod limits;
mod manifest;
mod passages;
mod pdf;

use std::path::Path;

use chrono::NaiveDate;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::document::{Body, Document, DocumentMeta, DocumentType};
pub use front_matter::split_front_matter;
pub use isolate::{ChildCommand, Extractor};
pub use limits::{ExtractLimits, Limit};
pub use manifest::{Manifest, ManifestError};

/// Why a file could not be turned into documents.
#[derive(Debug, Error)]
pub enum ParseError {
    #[error("cannot read file: {0}")]
    Io(#[from] std::io::Error),
    #[error("file is empty")]
    Empty,
    #[error("file is {size} bytes, over the {limit}-byte limit (ingest.max_file_bytes)")]
    TooLarge { size: u64, limit: u64 },
    #[error("file is not valid UTF-8 (first bad byte at offset {offset})")]
    InvalidUtf8 { offset: usize },
    #[error("file holds binary data (NUL byte at offset {offset}), not text")]
    Binary { offset: usize },
    #[error("unsupported file extension {0:?} (expected .md, .markdown, .txt, .pdf or .json)")]
    UnsupportedExtension(String),
    #[error("not a PDF: {0}")]
    NotPdf(String),
    #[error("PDF has no extractable text (scanned image?)")]
    PdfNoText,
    #[error("front matter: {0}")]
    FrontMatter(String),
    #[error("passage file: {0}")]
    Passages(String),
    #[error("metadata: {0}")]
    Metadata(String),
    #[error("{detail} (limit {key})", key = .limit.key())]
    OverLimit { limit: Limit, detail: String },
    #[error("text extraction failed: {0}")]
    Extraction(String),
}

/// Metadata as found in one source (front matter, manifest entry, CLI), all optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawMeta {
    pub document_id: Option<String>,
    pub title: Option<String>,
    pub version: Option<String>,
    pub document_type: Option<DocumentType>,
    pub jurisdiction: Option<String>,
    pub issuer: Option<String>,
    pub citation: Option<String>,
    pub effective_from: Option<NaiveDate>,
    pub effective_to: Option<NaiveDate>,
}

impl RawMeta {
    /// Fill every field still missing from `other`.
    fn or(mut self, other: &RawMeta) -> Self {
        macro_rules! fill {
            ($($f:ident),*) => { $( if self.$f.is_none() { self.$f = other.$f.clone(); } )* };
        }
        fill!(document_id, title, version, document_type, jurisdiction, issuer, citation, effective_from, effective_to);
        self
    }
}

/// Metadata given on the command line; applies to files that say nothing themselves.
pub type MetadataDefaults = RawMeta;

/// Limits and fallbacks for parsing.
#[derive(Debug, Clone)]
pub struct ParseSettings {
    pub max_file_bytes: u64,
    /// Bounds on what a file may expand to (and, in a child process, its time and memory).
    pub limits: ExtractLimits,
    /// Where PDF text extraction runs.
    pub extractor: Extractor,
    /// Document type of files that do not say.
    pub default_document_type: DocumentType,
    pub default_jurisdiction: String,
    pub default_issuer: String,
}

impl Default for ParseSettings {
    fn default() -> Self {
        Self {
            max_file_bytes: 20 * 1024 * 1024,
            limits: ExtractLimits::default(),
            extractor: Extractor::InProcess,
            default_document_type: DocumentType::Policy,
            default_jurisdiction: "US".into(),
            default_issuer: "unknown".into(),
        }
    }
}

/// A parsed document plus whether its start date was stated (the pipeline dates undated
/// later versions at the day they are ingested).
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub document: Document,
    pub dated: bool,
}

/// The day assumed for documents that state no effective date and have no earlier version.
pub fn undated_epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid constant date")
}

/// File extensions the parser accepts, lower case.
pub const EXTENSIONS: [&str; 5] = ["md", "markdown", "txt", "pdf", "json"];

/// Parse one file. `manifest` is the manifest that sits beside it, if any.
pub fn parse_file(
    path: &Path,
    manifest: Option<&Manifest>,
    cli: &MetadataDefaults,
    settings: &ParseSettings,
) -> Result<Vec<Parsed>, ParseError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if !EXTENSIONS.contains(&ext.as_str()) {
        return Err(ParseError::UnsupportedExtension(ext));
    }
    let size = std::fs::metadata(path)?.len();
    if size > settings.max_file_bytes {
        return Err(ParseError::TooLarge { size, limit: settings.max_file_bytes });
    }
    let bytes = std::fs::read(path)?;
    let source_path = path.display().to_string();
    let from_manifest = manifest
        .and_then(|m| m.entry_for(path))
        .cloned()
        .unwrap_or_default();
    let fallback = from_manifest.or(cli);
    parse_bytes(&bytes, &ext, &source_path, &fallback, settings)
}

/// Parse file content already in memory (also used for uploads). Every format's text
/// is held to the same page and byte caps ([`ExtractLimits::check_text`]).
pub fn parse_bytes(
    bytes: &[u8],
    ext: &str,
    source_path: &str,
    fallback: &RawMeta,
    settings: &ParseSettings,
) -> Result<Vec<Parsed>, ParseError> {
    let parsed = parse_unchecked(bytes, ext, source_path, fallback, settings)?;
    let (mut n_pages, mut n_bytes) = (0u64, 0u64);
    for p in &parsed {
        let (pages, bytes) = match &p.document.body {
            Body::Pages(pages) => (pages.len(), pages.iter().map(String::len).sum()),
            Body::Markdown(text) | Body::Text(text) => (0, text.len()),
            Body::Passages(passages) => (0, passages.iter().map(|p| p.text.len()).sum()),
        };
        n_pages += pages as u64;
        n_bytes = n_bytes.saturating_add(bytes as u64);
    }
    settings.limits.check_text(n_pages, n_bytes)?;
    Ok(parsed)
}

fn parse_unchecked(
    bytes: &[u8],
    ext: &str,
    source_path: &str,
    fallback: &RawMeta,
    settings: &ParseSettings,
) -> Result<Vec<Parsed>, ParseError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Empty);
    }
    let hash = sha256_hex(bytes);
    let stem = Path::new(source_path)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("document")
        .to_string();
    match ext {
        "pdf" => {
            let pages = match &settings.extractor {
                Extractor::InProcess => pdf::extract_pages(bytes, &settings.limits)?,
                Extractor::Child(command) => isolate::extract_pdf(command, bytes, &settings.limits)?,
            };
            let meta = resolve(fallback.clone(), &stem, None, source_path, &hash, settings)?;
            Ok(vec![meta.into_parsed(Body::Pages(pages))])
        }
        "json" => {
            let text = text_of(bytes)?;
            passages::parse(text, source_path, fallback, &hash, settings)
        }
        "md" | "markdown" => {
            let text = text_of(bytes)?;
            let (front, body) = split_front_matter(text)?;
            let raw = front.or(fallback);
            let heading = first_heading(body);
            let meta = resolve(raw, &stem, heading, source_path, &hash, settings)?;
            // `body` is a suffix of `text`: what precedes it is front matter.
            let skipped = text[..text.len() - body.len()].chars().count();
            Ok(vec![meta.into_parsed_at(Body::Markdown(body.to_string()), skipped)])
        }
        _ => {
            let text = text_of(bytes)?;
            let meta = resolve(fallback.clone(), &stem, None, source_path, &hash, settings)?;
            Ok(vec![meta.into_parsed(Body::Text(text.to_string()))])
        }
    }
}

fn text_of(bytes: &[u8]) -> Result<&str, ParseError> {
    if let Some(offset) = bytes.iter().position(|&b| b == 0) {
        return Err(ParseError::Binary { offset });
    }
    std::str::from_utf8(bytes).map_err(|e| ParseError::InvalidUtf8 { offset: e.valid_up_to() })
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn first_heading(markdown: &str) -> Option<&str> {
    markdown
        .lines()
        .find_map(|l| l.strip_prefix("# "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Metadata with every field decided.
struct Resolved {
    meta: DocumentMeta,
    dated: bool,
}

impl Resolved {
    fn into_parsed(self, body: Body) -> Parsed {
        self.into_parsed_at(body, 0)
    }

    fn into_parsed_at(self, body: Body, source_offset: usize) -> Parsed {
        Parsed { document: Document { meta: self.meta, body, source_offset }, dated: self.dated }
    }
}

fn resolve(
    raw: RawMeta,
    stem: &str,
    heading: Option<&str>,
    source_path: &str,
    hash: &str,
    settings: &ParseSettings,
) -> Result<Resolved, ParseError> {
    let document_id = raw.document_id.unwrap_or_else(|| slug(stem));
    if document_id.is_empty() || document_id.contains('@') {
        return Err(ParseError::Metadata(format!(
            "document id {document_id:?} must be non-empty and must not contain '@'"
        )));
    }
    let dated = raw.effective_from.is_some();
    let effective_from = raw.effective_from.unwrap_or_else(undated_epoch);
    if let Some(to) = raw.effective_to
        && to <= effective_from
    {
        return Err(ParseError::Metadata(format!(
            "effective_to {to} must be after effective_from {effective_from}"
        )));
    }
    let version = match raw.version {
        Some(v) if !v.trim().is_empty() => v.trim().to_string(),
        _ if dated => effective_from.to_string(),
        _ => format!("sha-{}", &hash[..12]),
    };
    Ok(Resolved {
        meta: DocumentMeta {
            document_id,
            title: raw
                .title
                .or_else(|| heading.map(str::to_string))
                .unwrap_or_else(|| stem.to_string()),
            version,
            document_type: raw.document_type.unwrap_or(settings.default_document_type),
            jurisdiction: raw.jurisdiction.unwrap_or_else(|| settings.default_jurisdiction.clone()),
            issuer: raw.issuer.unwrap_or_else(|| settings.default_issuer.clone()),
            citation: raw.citation,
            effective_from,
            effective_to: raw.effective_to,
            source_path: source_path.to_string(),
            content_hash: hash.to_string(),
        },
        dated,
    })
}

/// Lower-case, `[a-z0-9-]` only: a file stem made into a document id.
pub fn slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// Parse a date field, naming the field on failure.
pub(crate) fn parse_date(field: &str, value: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d")
        .map_err(|e| format!("{field}: {value:?} is not a date in YYYY-MM-DD form ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8], ext: &str) -> Result<Vec<Parsed>, ParseError> {
        parse_bytes(bytes, ext, "dir/My Policy.md", &RawMeta::default(), &ParseSettings::default())
    }

    #[test]
    fn markdown_front_matter_sets_metadata() {
        let md = b"---\nid: aml\ntitle: \"AML Policy\"\ndocument_type: policy\njurisdiction: US\nissuer: Bank\ncitation: AML\neffective_from: 2025-01-01\n---\n# Heading\n\nBody text.\n";
        let parsed = parse(md, "md").unwrap();
        let meta = &parsed[0].document.meta;
        assert_eq!(meta.document_id, "aml");
        assert_eq!(meta.title, "AML Policy");
        assert_eq!(meta.version, "2025-01-01");
        assert_eq!(meta.citation.as_deref(), Some("AML"));
        assert!(parsed[0].dated);
        assert!(matches!(&parsed[0].document.body, Body::Markdown(b) if b.starts_with("# Heading")));
    }

    #[test]
    fn missing_metadata_is_derived() {
        let parsed = parse(b"# Cash Handling\n\nText.", "md").unwrap();
        let meta = &parsed[0].document.meta;
        assert_eq!(meta.document_id, "my-policy");
        assert_eq!(meta.title, "Cash Handling");
        assert!(meta.version.starts_with("sha-"));
        assert_eq!(meta.effective_from, undated_epoch());
        assert!(!parsed[0].dated);
    }

    #[test]
    fn bad_inputs_have_reasons() {
        assert!(matches!(parse(b"", "md"), Err(ParseError::Empty)));
        assert!(matches!(parse(b"  \n\t", "txt"), Err(ParseError::Empty)));
        assert!(matches!(parse(b"ab\0cd", "txt"), Err(ParseError::Binary { offset: 2 })));
        assert!(matches!(parse(b"ok \xff\xfe", "txt"), Err(ParseError::InvalidUtf8 { offset: 3 })));
        assert!(matches!(parse(b"\x89PNG\r\n", "pdf"), Err(ParseError::NotPdf(_))));
        let bad_date = b"---\neffective_from: 2025-13-45\n---\ntext";
        let err = parse(bad_date, "md").unwrap_err();
        assert!(err.to_string().contains("effective_from"), "{err}");
        let backwards = b"---\neffective_from: 2025-02-01\neffective_to: 2025-01-01\n---\ntext";
        assert!(matches!(parse(backwards, "md"), Err(ParseError::Metadata(_))));
    }

    #[test]
    fn size_limit_and_extension_checked_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.txt");
        std::fs::write(&big, vec![b'a'; 2048]).unwrap();
        let settings = ParseSettings { max_file_bytes: 1024, ..Default::default() };
        let err = parse_file(&big, None, &MetadataDefaults::default(), &settings).unwrap_err();
        assert!(matches!(err, ParseError::TooLarge { size: 2048, limit: 1024 }));
        let odd = dir.path().join("x.docx");
        std::fs::write(&odd, b"hi").unwrap();
        let err = parse_file(&odd, None, &MetadataDefaults::default(), &settings).unwrap_err();
        assert!(matches!(err, ParseError::UnsupportedExtension(e) if e == "docx"));
    }

    #[test]
    fn text_cap_applies_to_every_format() {
        let limits = ExtractLimits { max_text_bytes: 8, ..ExtractLimits::default() };
        let settings = ParseSettings { limits, ..Default::default() };
        for (bytes, ext) in [(&b"a longer text"[..], "txt"), (b"# a longer heading", "md")] {
            let err = parse_bytes(bytes, ext, "x", &RawMeta::default(), &settings).unwrap_err();
            assert!(matches!(err, ParseError::OverLimit { limit: Limit::MaxTextBytes, .. }), "{ext}: {err}");
        }
        assert!(parse_bytes(b"short", "txt", "x", &RawMeta::default(), &settings).is_ok());
    }

    #[test]
    fn a_pdf_bomb_is_refused_by_its_expansion_before_extraction() {
        let pdf = limits::tests::pdf_with_stream("Cash reports are due in 15 days.", 3_000_000);
        let ok = parse_bytes(&pdf, "pdf", "bomb.pdf", &RawMeta::default(), &ParseSettings::default()).unwrap();
        assert!(matches!(&ok[0].document.body, Body::Pages(p) if p[0].contains("Cash reports")));
        let limits = ExtractLimits { max_expanded_bytes: 1_000_000, ..ExtractLimits::default() };
        let settings = ParseSettings { limits, ..Default::default() };
        let err = parse_bytes(&pdf, "pdf", "bomb.pdf", &RawMeta::default(), &settings).unwrap_err();
        assert!(err.to_string().contains("ingest.max_expanded_bytes"), "{err}");
    }

    #[test]
    fn content_hash_changes_with_content() {
        let a = parse(b"alpha", "txt").unwrap();
        let b = parse(b"alpha.", "txt").unwrap();
        assert_ne!(a[0].document.meta.content_hash, b[0].document.meta.content_hash);
        assert_eq!(a[0].document.meta.content_hash.len(), 64);
    }

    #[test]
    fn slug_is_stable() {
        assert_eq!(slug("AML Policy (2025)"), "aml-policy-2025");
        assert_eq!(slug("__x__"), "x");
    }
}
