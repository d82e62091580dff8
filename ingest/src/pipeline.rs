//! Owns ingestion of a batch of paths: walk → parse → chunk → embed (dense vectors) and
//! lexical (BM25 term and pair vectors, weighted with the store's BM25 parameters) →
//! store, one document version at a time, with the versioning rules:
//! - an unchanged version (same id, version and content hash) writes nothing;
//! - a new version is written `pending`, then activated, then earlier versions are
//!   closed at its `effective_from` (old text stays retrievable for its dates);
//! - `replace` deletes every other version of the document instead of closing it;
//! - a bad file is reported with its reason and never stops the batch.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use serde::Serialize;

use crate::chunk::{Chunk, Chunker};
use crate::document::{Document, DocumentMeta};
use crate::embed::Embedder;
use crate::ids::chunk_id;
use crate::lexical::Lexical;
use crate::parse::{self, Manifest, MetadataDefaults, ParseSettings, Parsed};
use crate::progress::Progress;
use crate::store::{ChunkStore, StoreError, StoredChunk, VersionInfo, VersionStatus};

/// How one run behaves.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Delete other versions of each document instead of closing them.
    pub replace: bool,
    /// Metadata for files that carry none.
    pub defaults: MetadataDefaults,
    /// The day undated new versions take effect.
    pub today: NaiveDate,
    pub parse: ParseSettings,
}

/// What happened to one document (or to a file that yielded none).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Ingested { document_id: String, version: String, chunks: usize, closed: Vec<String>, deleted: usize },
    Unchanged { document_id: String, version: String },
    Failed { reason: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestReport {
    pub files: Vec<FileReport>,
    /// Pending chunks of interrupted earlier runs that were removed first.
    pub recovered: usize,
    pub chunks_written: usize,
    pub seconds_total: f64,
    pub seconds_embedding: f64,
}

impl IngestReport {
    pub fn failed(&self) -> usize {
        self.files.iter().filter(|f| matches!(f.outcome, Outcome::Failed { .. })).count()
    }
    pub fn ingested(&self) -> usize {
        self.files.iter().filter(|f| matches!(f.outcome, Outcome::Ingested { .. })).count()
    }
    pub fn unchanged(&self) -> usize {
        self.files.iter().filter(|f| matches!(f.outcome, Outcome::Unchanged { .. })).count()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {reason}")]
    Path { path: String, reason: String },
}

pub struct Pipeline<'a> {
    pub chunker: &'a Chunker,
    pub embedder: &'a dyn Embedder,
    pub store: &'a dyn ChunkStore,
    pub progress: &'a dyn Progress,
}

/// A document whose chunks are to be written.
struct Planned {
    path: String,
    document: Document,
    chunks: Vec<Chunk>,
}

/// Files below `paths`, sorted; folders are walked, skipping hidden entries, README files
/// and `manifest.toml`. A named file is always taken, whatever its extension, so that a
/// wrong one is reported rather than silently ignored.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, PipelineError> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p)
            .map_err(|e| PipelineError::Path { path: p.display().to_string(), reason: e.to_string() })?;
        if meta.is_dir() {
            walk(p, &mut out).map_err(|e| PipelineError::Path { path: p.display().to_string(), reason: e.to_string() })?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().to_string();
        let path = e.path();
        if name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            walk(&path, out)?;
            continue;
        }
        let ext = path.extension().and_then(|x| x.to_str()).unwrap_or("").to_ascii_lowercase();
        let readme = name.to_ascii_lowercase().starts_with("readme.");
        if parse::EXTENSIONS.contains(&ext.as_str()) && !readme && name != "manifest.toml" {
            out.push(path);
        }
    }
    Ok(())
}

/// What to do with one parsed document.
enum Plan {
    Write(Document),
    Report(Outcome),
}

impl Pipeline<'_> {
    pub fn run(&self, paths: &[PathBuf], options: &IngestOptions) -> Result<IngestReport, PipelineError> {
        let started = Instant::now();
        let mut report = IngestReport { recovered: self.store.recover()?, ..Default::default() };
        if report.recovered > 0 {
            tracing::warn!("removed {} chunks of versions an interrupted run left incomplete", report.recovered);
        }
        let mut planned = Vec::new();
        let mut manifests: BTreeMap<PathBuf, Option<Manifest>> = BTreeMap::new();
        for file in collect_files(paths)? {
            let path = file.display().to_string();
            let dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
            let manifest = match manifests.get(&dir) {
                Some(m) => m.as_ref(),
                None => match Manifest::load_dir(&dir) {
                    Ok(m) => manifests.entry(dir).or_insert(m).as_ref(),
                    Err(e) => {
                        report.files.push(FileReport { path, outcome: Outcome::Failed { reason: e.to_string() } });
                        continue;
                    }
                },
            };
            let docs = match parse::parse_file(&file, manifest, &options.defaults, &options.parse) {
                Ok(docs) => docs,
                Err(e) => {
                    report.files.push(FileReport { path, outcome: Outcome::Failed { reason: e.to_string() } });
                    continue;
                }
            };
            for parsed in docs {
                match self.plan(parsed, options)? {
                    Plan::Report(outcome) => report.files.push(FileReport { path: path.clone(), outcome }),
                    Plan::Write(document) => {
                        let chunks = self.chunker.chunk(&document);
                        if chunks.is_empty() {
                            let outcome = Outcome::Failed { reason: "no text to index".into() };
                            report.files.push(FileReport { path: path.clone(), outcome });
                        } else {
                            planned.push(Planned { path: path.clone(), document, chunks });
                        }
                    }
                }
            }
        }
        let total: usize = planned.iter().map(|p| p.chunks.len()).sum();
        if total > 0 {
            self.progress.start("embedding chunks", total as u64);
        }
        let mut embedding = Duration::ZERO;
        for p in planned {
            let outcome = self
                .write_version(&p, options, &mut embedding)
                .unwrap_or_else(|e| Outcome::Failed { reason: e.to_string() });
            if let Outcome::Ingested { chunks, .. } = &outcome {
                report.chunks_written += chunks;
            }
            report.files.push(FileReport { path: p.path, outcome });
        }
        if total > 0 {
            self.progress.finish();
        }
        report.seconds_embedding = embedding.as_secs_f64();
        report.seconds_total = started.elapsed().as_secs_f64();
        Ok(report)
    }

    /// Decide, against what is stored, whether a parsed document needs writing.
    fn plan(&self, parsed: Parsed, options: &IngestOptions) -> Result<Plan, StoreError> {
        let Parsed { mut document, dated } = parsed;
        let existing = self.store.versions(Some(&document.meta.document_id))?;
        let meta = &mut document.meta;
        if !dated && !existing.is_empty() {
            // A later revision that states no date takes effect the day it is ingested.
            meta.effective_from = options.today;
        }
        let Some(same) = existing.iter().find(|v| v.meta.version == meta.version) else {
            return Ok(Plan::Write(document));
        };
        if same.meta.content_hash == meta.content_hash && same.status == VersionStatus::Active {
            if options.replace {
                let others = existing.iter().filter(|v| v.meta.version != meta.version);
                for v in others {
                    self.store.delete(&v.meta.document_id, Some(&v.meta.version))?;
                }
            }
            return Ok(Plan::Report(Outcome::Unchanged {
                document_id: meta.document_id.clone(),
                version: meta.version.clone(),
            }));
        }
        if options.replace {
            return Ok(Plan::Write(document));
        }
        Ok(Plan::Report(Outcome::Failed {
            reason: format!(
                "version {:?} of {} is already stored with different content; give the new text a new \
                 version (front matter `version` or `effective_from`) or pass --replace",
                meta.version, meta.document_id
            ),
        }))
    }

    fn write_version(&self, p: &Planned, options: &IngestOptions, embedding: &mut Duration) -> Result<Outcome, PipelineError> {
        let meta = &p.document.meta;
        // A stale copy of this very version (replaced content) goes first.
        let mut deleted = self.store.delete(&meta.document_id, Some(&meta.version))?;
        let lexical = Lexical::new(self.store.bm25());
        // Embed shortest first: neighbours in a batch have similar lengths, so the model
        // pads little. Storage order does not matter; ids are positional.
        let mut order: Vec<usize> = (0..p.chunks.len()).collect();
        order.sort_by_key(|&i| p.chunks[i].dense_text().len());
        for group in order.chunks(64) {
            let refs: Vec<&str> = group.iter().map(|&i| p.chunks[i].dense_text()).collect();
            let t = Instant::now();
            let vectors = self.embedder.embed(&refs).map_err(|e| PipelineError::Path { path: p.path.clone(), reason: e.to_string() })?;
            *embedding += t.elapsed();
            let stored: Vec<StoredChunk> = group
                .iter()
                .zip(vectors)
                .map(|(&i, dense)| {
                    let chunk = &p.chunks[i];
                    StoredChunk {
                        id: chunk_id(&meta.document_id, &meta.version, chunk.index, &meta.content_hash),
                        meta: meta.clone(),
                        chunk: chunk.clone(),
                        dense,
                        lexical: lexical.document(&chunk.lexical_text(meta)),
                        version_chunks: p.chunks.len(),
                    }
                })
                .collect();
            self.store.write_pending(&stored)?;
            self.progress.advance(group.len() as u64);
        }
        self.store.activate(&meta.document_id, &meta.version)?;
        let mut closed = Vec::new();
        if options.replace {
            for v in self.store.versions(Some(&meta.document_id))? {
                if v.meta.version != meta.version {
                    deleted += self.store.delete(&meta.document_id, Some(&v.meta.version))?;
                }
            }
        } else {
            closed = close_superseded(self.store, &meta.document_id)?;
        }
        Ok(Outcome::Ingested {
            document_id: meta.document_id.clone(),
            version: meta.version.clone(),
            chunks: p.chunks.len(),
            closed,
            deleted,
        })
    }
}

/// Make the active versions of a document follow each other in time: each one stops
/// being in force when the next one starts. End dates are only ever moved earlier, so
/// an end stated by the document itself (a repealed rule) stays. Idempotent.
pub fn close_superseded(store: &dyn ChunkStore, document_id: &str) -> Result<Vec<String>, StoreError> {
    let mut active: Vec<VersionInfo> =
        store.versions(Some(document_id))?.into_iter().filter(|v| v.status == VersionStatus::Active).collect();
    active.sort_by(|a, b| a.meta.effective_from.cmp(&b.meta.effective_from).then(a.ingested_at.cmp(&b.ingested_at)));
    let mut closed = Vec::new();
    for pair in active.windows(2) {
        let (earlier, later): (&DocumentMeta, &DocumentMeta) = (&pair[0].meta, &pair[1].meta);
        let next_start = later.effective_from;
        if earlier.effective_to.is_none_or(|to| to > next_start) && next_start > earlier.effective_from {
            store.set_effective_to(&earlier.document_id, &earlier.version, next_start)?;
            closed.push(earlier.version.clone());
        }
    }
    Ok(closed)
}
