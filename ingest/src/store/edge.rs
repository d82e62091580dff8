//! Owns the embedded Qdrant backend: one qdrant-edge shard on disk with, per chunk, a
//! dense (cosine) vector and two BM25 sparse vectors, over terms and over adjacent
//! term pairs (IDF applied by Qdrant); and the score fusion beside Qdrant's query API.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::mem::ManuallyDrop;
use std::panic::AssertUnwindSafe;
use std::sync::{Mutex, MutexGuard};
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, Utc};
use qdrant_edge::external::ordered_float::OrderedFloat;
use qdrant_edge::{
    Condition, CountRequest, CreateIndex, Distance, EdgeConfig, EdgeShard, EdgeSparseVectorParams,
    EdgeVectorParamsBuilder, FieldCondition, FieldIndexOperations, Filter, Fusion, Match, Modifier,
    NamedQuery, Payload, PayloadFieldSchema, PayloadOps, PayloadSchemaType, PointId, PointInsertOperations,
    PointOperations, PointStruct, Prefetch, QueryEnum, QueryRequest, Range, ScoringQuery, ScrollRequest,
    SetPayloadOp, UpdateOperation, ValueVariants, VectorInternal, VectorStructInternal, Vectors, WithPayloadInterface,
    WithVector,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::migrate;
use super::payload::{ChunkPayload, INTEGER_FIELDS, KEYWORD_FIELDS, day_number};
use super::{
    ChunkRecord, ChunkStore, FusionWeights, ScoredChunk, SearchFilter, SearchMode, SearchRequest, StoreError,
    StoreSettings, StoredChunk, VersionInfo, VersionStatus,
};
use crate::document::version_key;
use crate::embed::ModelFingerprint;
use crate::lexical::{self, Bm25Params, Lexical, SparseTerms};

pub(super) const DENSE: &str = "dense";
pub(super) const BM25: &str = "bm25";
pub(super) const PAIRS: &str = "bm25_pairs";
/// Layout of the shard: 2 added the term-pair vector and reagent's own tokenizer.
pub(super) const LAYOUT: u32 = 2;
pub(super) const STORE_INFO_FILE: &str = "reagent-store.json";
const LOCK_FILE: &str = "reagent.lock";
pub(super) const SHARD_DIR: &str = "shard";
/// Present while a process has the store open; found at open, it means the last
/// process died without closing it.
const DIRTY_FILE: &str = "reagent.open";

/// What the store was built with; checked on every open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct StoreInfo {
    pub(super) schema: u32,
    pub(super) dimension: usize,
    /// Readable name of the model whose vectors the store holds (`name:hash`).
    pub(super) model_id: String,
    /// [`ModelFingerprint::sha256`] of that model; absent in stores written before
    /// fingerprints existed (adopted on their first open, see [`EdgeStore::open`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) model_fingerprint: Option<String>,
    /// Folder of the shard under the store's root. Re-embedding builds a new one and
    /// switches by rewriting this file, which is the single commit point.
    #[serde(default = "default_shard_dir")]
    pub(super) shard_dir: String,
}

fn default_shard_dir() -> String {
    SHARD_DIR.to_string()
}

impl StoreInfo {
    pub(super) fn read(root: &Path) -> std::io::Result<Option<Self>> {
        match std::fs::read(root.join(STORE_INFO_FILE)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{STORE_INFO_FILE}: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replace the info file atomically (write beside, fsync, rename).
    pub(super) fn write(&self, root: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        write_atomically(&root.join(STORE_INFO_FILE), &bytes)
    }

    /// Whether the stored vectors come from `model`. A store from before fingerprints
    /// named its model `folder:<first 12 hex digits of the ONNX file's SHA-256>`.
    pub(super) fn written_by(&self, model: &ModelFingerprint) -> bool {
        match &self.model_fingerprint {
            Some(fp) => *fp == model.sha256,
            None => {
                self.model_id == model.name
                    || self.model_id.rsplit(':').next().is_some_and(|h| h.len() == 12 && model.onnx_sha256.starts_with(h))
            }
        }
    }

    pub(super) fn mismatch(&self, root: &Path, dimension: usize, model: &ModelFingerprint) -> StoreError {
        StoreError::ModelMismatch {
            path: root.display().to_string(),
            stored_model: self.model_id.clone(),
            stored_dimension: self.dimension,
            configured_model: model.short(),
            configured_dimension: dimension,
        }
    }
}

/// Take the store folder's exclusive lock (held while the returned file is open).
pub(super) fn lock_folder(root: &Path) -> Result<File, StoreError> {
    let open_err = |reason: String| StoreError::Open { path: root.display().to_string(), reason };
    std::fs::create_dir_all(root).map_err(|e| open_err(e.to_string()))?;
    let lock_path = root.join(LOCK_FILE);
    let lock = File::options().create(true).truncate(false).write(true).open(&lock_path).map_err(|e| open_err(e.to_string()))?;
    if lock.try_lock().is_err() {
        return Err(StoreError::Locked(lock_path.display().to_string()));
    }
    Ok(lock)
}

pub struct EdgeStore {
    /// Dropped by hand in `Drop`, so that a failing final flush cannot panic out of it.
    shard: ManuallyDrop<EdgeShard>,
    /// Serialises writes and flushes: qdrant-edge's flush panics if it meets a
    /// concurrent update, so every mutation goes through this lock.
    writer: Mutex<()>,
    lexical: Lexical,
    path: PathBuf,
    _lock: File,
}

pub(super) fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl EdgeStore {
    /// Open (or create) the store under `settings.data_dir` for vectors of `dimension`
    /// made by `model`. Holds an exclusive lock on the folder while open.
    ///
    /// A store written by another model is refused ([`StoreError::ModelMismatch`], which
    /// names `reagent docs reembed`): vectors of two models are never mixed. A store from
    /// before fingerprints existed takes `model`'s fingerprint if its recorded ONNX hash
    /// is `model`'s, with a log line.
    pub fn open(settings: &StoreSettings, dimension: usize, model: &ModelFingerprint) -> Result<Self, StoreError> {
        let root = &settings.data_dir;
        let open_err = |reason: String| StoreError::Open { path: root.display().to_string(), reason };
        let lock = lock_folder(root)?;
        let lexical = Lexical::new(Bm25Params { k1: settings.bm25_k1, b: settings.bm25_b, avg_len: settings.bm25_avg_len });
        let mut info = StoreInfo {
            schema: LAYOUT,
            dimension,
            model_id: model.short(),
            model_fingerprint: Some(model.sha256.clone()),
            shard_dir: SHARD_DIR.to_string(),
        };
        let mut migrated = false;
        match StoreInfo::read(root).map_err(|e| open_err(e.to_string()))? {
            Some(found) => {
                if found.dimension != dimension || !found.written_by(model) {
                    return Err(found.mismatch(root, dimension, model));
                }
                if found.model_fingerprint.is_none() {
                    tracing::info!(
                        "store {} predates model fingerprints; recording the configured model {} as the one that wrote it (same ONNX file)",
                        root.display(),
                        model.short()
                    );
                }
                info.shard_dir = found.shard_dir.clone();
                if found.schema == 1 {
                    tracing::warn!("store {} has layout 1; rebuilding its BM25 vectors for layout {LAYOUT}", root.display());
                    let moved = migrate::layout_1_to_2(root, dimension, &lexical)?;
                    info.shard_dir = SHARD_DIR.to_string();
                    info.write(root).map_err(|e| open_err(e.to_string()))?;
                    tracing::warn!(
                        "store {} upgraded: {moved} chunks carried over; the old shard is kept in {}",
                        root.display(),
                        root.join(migrate::LAYOUT_1_BACKUP).display()
                    );
                    migrated = true;
                } else if found.schema != LAYOUT {
                    return Err(StoreError::Layout { path: root.display().to_string(), stored: found.schema, expected: LAYOUT });
                } else if found != info {
                    info.write(root).map_err(|e| open_err(e.to_string()))?;
                }
            }
            None => info.write(root).map_err(|e| open_err(e.to_string()))?,
        }
        super::reembed::remove_leftovers(root, &info.shard_dir);
        let shard_path = root.join(&info.shard_dir);
        let fresh = !shard_path.join("edge_config.json").exists();
        std::fs::create_dir_all(&shard_path).map_err(|e| open_err(e.to_string()))?;
        let shard = if fresh {
            EdgeShard::new(&shard_path, shard_config(dimension)).map_err(|e| open_err(e.to_string()))?
        } else {
            EdgeShard::load(&shard_path, None).map_err(|e| open_err(e.to_string()))?
        };
        let store = Self { shard: ManuallyDrop::new(shard), lexical, writer: Mutex::new(()), path: root.clone(), _lock: lock };
        let dirty = root.join(DIRTY_FILE);
        if fresh || migrated {
            store.create_indexes(false)?;
        } else if dirty.exists() {
            // qdrant-edge does not replay its WAL on load, so after a crash the payload
            // indexes may disagree with the payloads they index: rebuild them.
            tracing::warn!("store {} was not closed cleanly; rebuilding payload indexes", root.display());
            store.create_indexes(true)?;
        }
        File::create(&dirty).map_err(|e| open_err(e.to_string()))?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn exclusive(&self) -> MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Flush while holding the writer lock.
    fn flush_locked(&self, _writer: &MutexGuard<'_, ()>) {
        self.shard.flush();
    }

    /// Create the payload indexes; `rebuild` drops existing ones first.
    fn create_indexes(&self, rebuild: bool) -> Result<(), StoreError> {
        let writer = self.exclusive();
        create_payload_indexes(&self.shard, rebuild)?;
        self.flush_locked(&writer);
        Ok(())
    }

    /// Merge segments and build vector indexes; worth calling after a large ingest.
    pub fn optimize(&self) -> Result<(), StoreError> {
        let writer = self.exclusive();
        self.shard.optimize().map_err(backend)?;
        self.flush_locked(&writer);
        Ok(())
    }

    /// Delete every point `filter` matches, durably; returns how many.
    fn delete_matching(&self, filter: Filter) -> Result<usize, StoreError> {
        let writer = self.exclusive();
        let n = self.shard.count(CountRequest { filter: Some(filter.clone()), exact: true }).map_err(backend)?;
        if n > 0 {
            self.shard
                .update(UpdateOperation::PointOperation(PointOperations::DeletePointsByFilter(filter)))
                .map_err(backend)?;
            self.flush_locked(&writer);
        }
        Ok(n)
    }

    fn set_payload(&self, filter: Filter, payload: serde_json::Value) -> Result<(), StoreError> {
        let serde_json::Value::Object(map) = payload else {
            return Err(StoreError::Payload("payload update must be an object".into()));
        };
        self.shard
            .update(UpdateOperation::PayloadOperation(PayloadOps::SetPayload(SetPayloadOp {
                payload: Payload(map),
                points: None,
                filter: Some(filter),
                key: None,
            })))
            .map_err(backend)
    }

    fn scroll_all(&self, filter: Option<Filter>) -> Result<Vec<ChunkPayload>, StoreError> {
        let mut out = Vec::new();
        let mut offset = None;
        loop {
            let (records, next) = self
                .shard
                .scroll(ScrollRequest {
                    offset,
                    limit: Some(1000),
                    filter: filter.clone(),
                    with_payload: Some(WithPayloadInterface::Bool(true)),
                    with_vector: WithVector::Bool(false),
                    order_by: None,
                })
                .map_err(backend)?;
            for r in records {
                if let Some(p) = r.payload {
                    out.push(ChunkPayload::from_map(p.0)?);
                }
            }
            match next {
                Some(n) => offset = Some(n),
                None => return Ok(out),
            }
        }
    }

    fn hits(&self, points: Vec<qdrant_edge::ScoredPoint>) -> Result<Vec<ScoredChunk>, StoreError> {
        points
            .into_iter()
            .filter_map(|p| Some((p.payload?, p.score)))
            .map(|(payload, score)| Ok(ScoredChunk { record: ChunkPayload::from_map(payload.0)?.into_record(), score }))
            .collect()
    }
}

/// Min-max normalisation over `scores`; a flat list maps to 1 (if positive) or 0.
fn min_max(scores: &[f32]) -> impl Fn(f32) -> f32 + use<> {
    let (lo, hi) = scores.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &s| (lo.min(s), hi.max(s)));
    move |s: f32| {
        if hi - lo > f32::EPSILON {
            (s - lo) / (hi - lo)
        } else if hi > 0.0 {
            1.0
        } else {
            0.0
        }
    }
}

/// One fusion candidate's scores. A candidate BM25 did not return shares no query
/// term (or pair) with the query: its score there is 0.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Signals {
    pub dense: f32,
    pub bm25: f32,
    pub pairs: f32,
    /// Share of the query's terms the chunk contains, already within 0..=1.
    pub coverage: f32,
}

/// Weighted sum per point of the min-max normalised dense, BM25 and pair-BM25 scores
/// and the coverage, best first.
pub(super) fn fuse(candidates: &[(PointId, Signals)], w: &FusionWeights) -> Vec<(PointId, f32)> {
    let normalised = |side: fn(&Signals) -> f32| min_max(&candidates.iter().map(|(_, s)| side(s)).collect::<Vec<_>>());
    let (dense, bm25, pairs) = (normalised(|s| s.dense), normalised(|s| s.bm25), normalised(|s| s.pairs));
    let mut fused: Vec<(PointId, f32)> = candidates
        .iter()
        .map(|(id, s)| {
            (*id, w.dense * dense(s.dense) + w.bm25 * bm25(s.bm25) + w.pairs * pairs(s.pairs) + w.coverage * s.coverage)
        })
        .collect();
    fused.sort_by(|a, b| b.1.total_cmp(&a.1));
    fused
}

/// A chunk's named vectors: its dense vector and the BM25 vectors of its lexical text.
pub(super) fn point_vectors(lexical: &Lexical, dense: Vec<f32>, lexical_text: &str) -> Result<Vectors, StoreError> {
    let sparse = |t: SparseTerms| qdrant_edge::Vector::new_sparse(t.indices, t.values).map_err(backend);
    let v = lexical.document(lexical_text);
    Ok(Vectors::new_named([
        (DENSE, qdrant_edge::Vector::new_dense(dense)),
        (BM25, sparse(v.terms)?),
        (PAIRS, sparse(v.pairs)?),
    ]))
}

/// The vector called `name` among a retrieved point's vectors.
pub(super) fn named_vector(vectors: Option<VectorStructInternal>, name: &str) -> Option<VectorInternal> {
    match vectors? {
        VectorStructInternal::Named(mut named) => named.remove(name),
        _ => None,
    }
}

fn sparse_query(using: &str, terms: &SparseTerms) -> ScoringQuery {
    ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery {
        query: VectorInternal::Sparse(qdrant_edge::SparseVector { indices: terms.indices.clone(), values: terms.values.clone() }),
        using: Some(using.to_string()),
    }))
}

impl EdgeStore {
    /// Ids and scores of the best `limit` points for `query` under `filter`.
    fn scored_ids(&self, query: ScoringQuery, filter: Filter, limit: usize) -> Result<Vec<(PointId, f32)>, StoreError> {
        if limit == 0 {
            return Ok(vec![]);
        }
        let points = self
            .shard
            .query(QueryRequest {
                prefetches: vec![],
                query: Some(query),
                filter: Some(filter),
                score_threshold: None,
                limit,
                offset: 0,
                params: None,
                with_vector: WithVector::Bool(false),
                with_payload: WithPayloadInterface::Bool(false),
            })
            .map_err(backend)?;
        Ok(points.into_iter().map(|p| (p.id, p.score)).collect())
    }

    /// [`SearchMode::Fusion`]: both candidate lists, each completed with the other's
    /// points, then the term-pair BM25 and the term coverage of every candidate, fused.
    fn score_fusion(
        &self,
        dense: ScoringQuery,
        query: &lexical::LexicalVectors,
        filter: &Filter,
        request: &SearchRequest<'_>,
        weights: &FusionWeights,
    ) -> Result<Vec<(PointId, f32)>, StoreError> {
        let n = request.candidates.max(request.limit);
        let sparse = sparse_query(BM25, &query.terms);
        let mut dense_hits = self.scored_ids(dense.clone(), filter.clone(), n)?;
        let mut sparse_hits =
            if query.terms.is_empty() { vec![] } else { self.scored_ids(sparse.clone(), filter.clone(), n)? };
        let only = |ids: &[(PointId, f32)], other: &[(PointId, f32)]| -> Vec<PointId> {
            let have: std::collections::HashSet<PointId> = other.iter().map(|(id, _)| *id).collect();
            ids.iter().map(|(id, _)| *id).filter(|id| !have.contains(id)).collect()
        };
        let restricted = |ids: Vec<PointId>| {
            let mut f = filter.clone();
            f.must.get_or_insert_with(Vec::new).push(Condition::HasId(ids.into_iter().collect()));
            f
        };
        let missing_dense = only(&sparse_hits, &dense_hits);
        let missing_sparse = if query.terms.is_empty() { vec![] } else { only(&dense_hits, &sparse_hits) };
        let (nd, ns) = (missing_dense.len(), missing_sparse.len());
        if nd > 0 {
            dense_hits.extend(self.scored_ids(dense, restricted(missing_dense), nd)?);
        }
        if ns > 0 {
            sparse_hits.extend(self.scored_ids(sparse, restricted(missing_sparse), ns)?);
        }
        let mut signals: Vec<(PointId, Signals)> =
            dense_hits.iter().map(|&(id, dense)| (id, Signals { dense, ..Default::default() })).collect();
        let at: HashMap<PointId, usize> = signals.iter().enumerate().map(|(i, (id, _))| (*id, i)).collect();
        let ids: Vec<PointId> = signals.iter().map(|(id, _)| *id).collect();
        for (id, score) in sparse_hits {
            if let Some(&i) = at.get(&id) {
                signals[i].1.bm25 = score;
            }
        }
        if weights.pairs > 0.0 && !query.pairs.is_empty() && !ids.is_empty() {
            for (id, score) in self.scored_ids(sparse_query(PAIRS, &query.pairs), restricted(ids.clone()), ids.len())? {
                if let Some(&i) = at.get(&id) {
                    signals[i].1.pairs = score;
                }
            }
        }
        if weights.coverage > 0.0 && !query.terms.is_empty() && !ids.is_empty() {
            for (id, terms) in self.term_ids(&ids)? {
                if let Some(&i) = at.get(&id) {
                    signals[i].1.coverage = lexical::coverage(&query.terms.indices, &terms);
                }
            }
        }
        Ok(fuse(&signals, weights))
    }

    /// The term ids (ascending) of each point's BM25 vector.
    fn term_ids(&self, ids: &[PointId]) -> Result<Vec<(PointId, Vec<u32>)>, StoreError> {
        let records = self
            .shard
            .retrieve(ids, Some(WithPayloadInterface::Bool(false)), Some(WithVector::Selector(vec![BM25.to_string()])))
            .map_err(backend)?;
        Ok(records
            .into_iter()
            .filter_map(|r| {
                let VectorInternal::Sparse(v) = named_vector(r.vector, BM25)? else { return None };
                let mut terms = v.indices;
                terms.sort_unstable();
                Some((r.id, terms))
            })
            .collect())
    }

    /// Payloads of `scored` points, in the given order, with the given scores.
    fn records_in_order(&self, scored: Vec<(PointId, f32)>) -> Result<Vec<ScoredChunk>, StoreError> {
        let ids: Vec<PointId> = scored.iter().map(|(id, _)| *id).collect();
        let records = self
            .shard
            .retrieve(&ids, Some(WithPayloadInterface::Bool(true)), Some(WithVector::Bool(false)))
            .map_err(backend)?;
        let mut by_id: std::collections::HashMap<PointId, ChunkRecord> = records
            .into_iter()
            .filter_map(|r| Some((r.id, r.payload?)))
            .map(|(id, p)| Ok((id, ChunkPayload::from_map(p.0)?.into_record())))
            .collect::<Result<_, StoreError>>()?;
        Ok(scored.into_iter().filter_map(|(id, score)| Some(ScoredChunk { record: by_id.remove(&id)?, score })).collect())
    }
}

impl Drop for EdgeStore {
    fn drop(&mut self) {
        // SAFETY: `shard` is taken exactly once, here, and not used afterwards.
        let shard = unsafe { ManuallyDrop::take(&mut self.shard) };
        // qdrant-edge flushes on drop and panics if that fails (say, the folder is gone).
        if std::panic::catch_unwind(AssertUnwindSafe(move || drop(shard))).is_err() {
            tracing::error!("closing the store at {} failed; the next open rebuilds its indexes", self.path.display());
            return;
        }
        let _ = std::fs::remove_file(self.path.join(DIRTY_FILE));
    }
}

/// Create the payload indexes on `shard`; `rebuild` drops existing ones first.
pub(super) fn create_payload_indexes(shard: &EdgeShard, rebuild: bool) -> Result<(), StoreError> {
    let fields = KEYWORD_FIELDS
        .iter()
        .map(|f| (*f, PayloadSchemaType::Keyword))
        .chain(INTEGER_FIELDS.iter().map(|f| (*f, PayloadSchemaType::Integer)));
    for (field, kind) in fields {
        if rebuild {
            shard
                .update(UpdateOperation::FieldIndexOperation(FieldIndexOperations::DeleteIndex(
                    field.try_into().map_err(|_| StoreError::Backend(format!("bad field name {field}")))?,
                )))
                .map_err(backend)?;
        }
        shard
            .update(UpdateOperation::FieldIndexOperation(FieldIndexOperations::CreateIndex(CreateIndex {
                field_name: field.try_into().map_err(|_| StoreError::Backend(format!("bad field name {field}")))?,
                field_schema: Some(PayloadFieldSchema::FieldType(kind)),
            })))
            .map_err(backend)?;
    }
    Ok(())
}

pub(super) fn shard_config(dimension: usize) -> EdgeConfig {
    EdgeConfig {
        vectors: [(DENSE.to_string(), EdgeVectorParamsBuilder::new(dimension, Distance::Cosine).build())].into(),
        sparse_vectors: [BM25, PAIRS]
            .map(|name| (name.to_string(), EdgeSparseVectorParams { modifier: Some(Modifier::Idf), ..Default::default() }))
            .into(),
        ..Default::default()
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn keyword(field: &str, value: &str) -> Condition {
    Condition::Field(FieldCondition::new_match(
        field.try_into().expect("static field names are valid JSON paths"),
        Match::new_value(ValueVariants::String(value.to_string())),
    ))
}

fn int_range(field: &str, range: Range<OrderedFloat<f64>>) -> Condition {
    Condition::Field(FieldCondition::new_range(
        field.try_into().expect("static field names are valid JSON paths"),
        range,
    ))
}

fn any_of(field: &str, values: &[String]) -> Option<Condition> {
    (!values.is_empty()).then(|| {
        Condition::Filter(Filter {
            should: Some(values.iter().map(|v| keyword(field, v)).collect()),
            min_should: None,
            must: None,
            must_not: None,
        })
    })
}

fn all_of(conditions: Vec<Condition>) -> Filter {
    Filter { should: None, min_should: None, must: Some(conditions), must_not: None }
}

fn version_filter(document_id: &str, version: Option<&str>) -> Filter {
    match version {
        Some(v) => all_of(vec![keyword("version_key", &version_key(document_id, v))]),
        None => all_of(vec![keyword("document_id", document_id)]),
    }
}

/// The Qdrant filter for a [`SearchFilter`]; always restricted to active versions.
fn search_filter(f: &SearchFilter) -> Filter {
    let mut must = vec![keyword("status", "active")];
    if let Some(date) = f.as_of {
        let day = day_number(date) as f64;
        must.push(int_range("from_day", Range { lte: Some(OrderedFloat(day)), ..Default::default() }));
        must.push(int_range("to_day", Range { gt: Some(OrderedFloat(day)), ..Default::default() }));
    }
    let types: Vec<String> = f.document_types.iter().map(|t| t.as_str().to_string()).collect();
    must.extend(any_of("jurisdiction", &f.jurisdictions));
    must.extend(any_of("document_type", &types));
    must.extend(any_of("document_id", &f.document_ids));
    all_of(must)
}

impl ChunkStore for EdgeStore {
    fn write_pending(&self, chunks: &[StoredChunk]) -> Result<(), StoreError> {
        if chunks.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        let points = chunks
            .iter()
            .map(|c| {
                let payload = ChunkPayload::pending(c, now).to_json()?;
                let vectors = point_vectors(&self.lexical, c.dense.clone(), &c.lexical_text)?;
                Ok(PointStruct::new(PointId::Uuid(c.id), vectors, payload).into())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let _writer = self.exclusive();
        self.shard
            .update(UpdateOperation::PointOperation(PointOperations::UpsertPoints(
                PointInsertOperations::PointsList(points),
            )))
            .map_err(backend)
    }

    fn activate(&self, document_id: &str, version: &str) -> Result<(), StoreError> {
        let writer = self.exclusive();
        // Pending chunks must be durable before the version claims to be complete.
        self.flush_locked(&writer);
        self.set_payload(version_filter(document_id, Some(version)), serde_json::json!({ "status": "active" }))?;
        self.flush_locked(&writer);
        Ok(())
    }

    fn set_effective_to(&self, document_id: &str, version: &str, effective_to: NaiveDate) -> Result<(), StoreError> {
        let writer = self.exclusive();
        self.set_payload(
            version_filter(document_id, Some(version)),
            serde_json::json!({ "effective_to": effective_to, "to_day": day_number(effective_to) }),
        )?;
        self.flush_locked(&writer);
        Ok(())
    }

    fn delete(&self, document_id: &str, version: Option<&str>) -> Result<usize, StoreError> {
        self.delete_matching(version_filter(document_id, version))
    }

    fn recover(&self) -> Result<usize, StoreError> {
        self.delete_matching(all_of(vec![keyword("status", "pending")]))
    }

    fn versions(&self, document_id: Option<&str>) -> Result<Vec<VersionInfo>, StoreError> {
        let mut must = vec![int_range(
            "chunk_index",
            Range { lte: Some(OrderedFloat(0.0)), gte: Some(OrderedFloat(0.0)), ..Default::default() },
        )];
        if let Some(id) = document_id {
            must.push(keyword("document_id", id));
        }
        let mut by_key: BTreeMap<(String, chrono::NaiveDate, String), VersionInfo> = BTreeMap::new();
        for p in self.scroll_all(Some(all_of(must)))? {
            by_key.insert((p.document_id.clone(), p.effective_from, p.version.clone()), p.version_info());
        }
        Ok(by_key.into_values().collect())
    }

    fn chunks(&self, document_id: &str, version: &str) -> Result<Vec<ChunkRecord>, StoreError> {
        let filter = all_of(vec![keyword("version_key", &version_key(document_id, version)), keyword("status", "active")]);
        let mut records: Vec<ChunkRecord> = self.scroll_all(Some(filter))?.into_iter().map(ChunkPayload::into_record).collect();
        records.sort_by_key(|r| r.chunk.index);
        Ok(records)
    }

    fn get(&self, chunk_id: Uuid) -> Result<Option<ChunkRecord>, StoreError> {
        let records = self
            .shard
            .retrieve(&[PointId::Uuid(chunk_id)], Some(WithPayloadInterface::Bool(true)), Some(WithVector::Bool(false)))
            .map_err(backend)?;
        records
            .into_iter()
            .find_map(|r| r.payload)
            .map(|p| ChunkPayload::from_map(p.0))
            .transpose()
            .map(|p| p.filter(|p| p.status == VersionStatus::Active).map(ChunkPayload::into_record))
    }

    fn search(&self, request: &SearchRequest<'_>) -> Result<Vec<ScoredChunk>, StoreError> {
        let filter = search_filter(&request.filter);
        let dense = || -> Result<ScoringQuery, StoreError> {
            let v = request.dense.ok_or_else(|| StoreError::Backend("dense search needs a query vector".into()))?;
            Ok(ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery {
                query: VectorInternal::from(v.to_vec()),
                using: Some(DENSE.to_string()),
            })))
        };
        let lexical = self.lexical.query(request.text);
        let sparse = || sparse_query(BM25, &lexical.terms);
        let prefetch = |query: ScoringQuery| Prefetch {
            prefetches: vec![],
            query: Some(query),
            limit: request.candidates.max(request.limit),
            params: None,
            filter: Some(filter.clone()),
            score_threshold: None,
        };
        let (prefetches, query) = match request.mode {
            SearchMode::Dense => (vec![], dense()?),
            SearchMode::Bm25 => (vec![], sparse()),
            SearchMode::Rrf { k } => {
                (vec![prefetch(dense()?), prefetch(sparse())], ScoringQuery::Fusion(Fusion::Rrf { k, weights: None }))
            }
            SearchMode::Dbsf => (vec![prefetch(dense()?), prefetch(sparse())], ScoringQuery::Fusion(Fusion::Dbsf)),
            SearchMode::Fusion { weights } => {
                let mut fused = self.score_fusion(dense()?, &lexical, &filter, request, &weights)?;
                fused.truncate(request.limit);
                return self.records_in_order(fused);
            }
        };
        let points = self
            .shard
            .query(QueryRequest {
                prefetches,
                query: Some(query),
                filter: Some(filter.clone()),
                score_threshold: None,
                limit: request.limit,
                offset: 0,
                params: None,
                with_vector: WithVector::Bool(false),
                with_payload: WithPayloadInterface::Bool(true),
            })
            .map_err(backend)?;
        self.hits(points)
    }

    fn count(&self) -> Result<usize, StoreError> {
        self.shard.count(CountRequest { filter: None, exact: true }).map_err(backend)
    }

    fn flush(&self) -> Result<(), StoreError> {
        let writer = self.exclusive();
        self.flush_locked(&writer);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cosine and term BM25 only: `dense · cosine + (1 − dense) · bm25`.
    fn two_way(dense: f32) -> FusionWeights {
        FusionWeights { dense, bm25: 1.0 - dense, pairs: 0.0, coverage: 0.0 }
    }

    #[test]
    fn fusion_normalises_each_search_score_over_the_candidates() {
        let id = PointId::NumId;
        let sig = |dense, bm25| Signals { dense, bm25, ..Default::default() };
        // Point 2 shares no term with the query: BM25 0.
        let candidates = [(id(1), sig(0.9, 5.0)), (id(2), sig(0.5, 0.0)), (id(3), sig(0.1, 10.0))];
        // dense → 1, 0.5, 0; BM25 → 0.5, 0, 1.
        let fused = fuse(&candidates, &two_way(0.4));
        let order: Vec<PointId> = fused.iter().map(|(p, _)| *p).collect();
        assert_eq!(order, vec![id(1), id(3), id(2)]);
        let expected = [0.4 * 1.0 + 0.6 * 0.5, 0.6 * 1.0, 0.4 * 0.5];
        for ((_, got), want) in fused.iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
        // All weight on one side reproduces that side's order.
        let bm25_only: Vec<PointId> = fuse(&candidates, &two_way(0.0)).iter().map(|(p, _)| *p).collect();
        assert_eq!(bm25_only, vec![id(3), id(1), id(2)]);
        assert!(fuse(&[], &two_way(0.5)).is_empty());
    }

    #[test]
    fn fusion_adds_pairs_and_raw_coverage() {
        let id = PointId::NumId;
        let candidates = [
            (id(1), Signals { dense: 0.8, bm25: 4.0, pairs: 0.0, coverage: 0.5 }),
            (id(2), Signals { dense: 0.6, bm25: 2.0, pairs: 3.0, coverage: 1.0 }),
        ];
        let w = FusionWeights { dense: 0.3, bm25: 0.2, pairs: 0.1, coverage: 0.4 };
        let fused = fuse(&candidates, &w);
        // 1: 0.3 + 0.2 + 0 + 0.2 = 0.7; 2: 0 + 0 + 0.1 + 0.4 = 0.5. Coverage is not rescaled.
        assert_eq!(fused[0].0, id(1));
        assert!((fused[0].1 - 0.7).abs() < 1e-6 && (fused[1].1 - 0.5).abs() < 1e-6, "{fused:?}");
        // Coverage alone decides when it carries all the weight.
        let by_coverage = fuse(&candidates, &FusionWeights { dense: 0.0, bm25: 0.0, pairs: 0.0, coverage: 1.0 });
        assert_eq!(by_coverage[0].0, id(2));
    }
}
