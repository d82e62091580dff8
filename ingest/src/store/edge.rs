//! Owns the embedded Qdrant backend: one qdrant-edge shard on disk with, per chunk, a
//! dense (cosine) vector and two BM25 sparse vectors, over terms and over adjacent
//! term pairs (written as given; IDF applied by Qdrant at query time). Candidate
//! queries return raw scores; ranking is the retrieval crate's.

use std::collections::BTreeMap;
use std::fs::File;
use std::mem::ManuallyDrop;
use std::panic::AssertUnwindSafe;
use std::sync::{Mutex, MutexGuard};
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, Utc};
use qdrant_edge::external::ordered_float::OrderedFloat;
use qdrant_edge::{
    Condition, CountRequest, CreateIndex, Distance, EdgeConfig, EdgeShard, EdgeSparseVectorParams,
    EdgeVectorParamsBuilder, FieldCondition, FieldIndexOperations, Filter, Match, Modifier, NamedQuery, Payload,
    PayloadFieldSchema, PayloadOps, PayloadSchemaType, PointId, PointInsertOperations, PointOperations,
    PointStruct, QueryEnum, QueryRequest, Range, ScoringQuery, ScrollRequest,
    SetPayloadOp, UpdateOperation, ValueVariants, VectorInternal, VectorStructInternal, Vectors, WithPayloadInterface,
    WithVector,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::migrate;
use super::payload::{ChunkPayload, INTEGER_FIELDS, KEYWORD_FIELDS, day_number};
use super::{
    Candidate, ChunkRecord, ChunkStore, SearchFilter, SparseVector, StoreError, StoreSettings, StoredChunk,
    VectorQuery, VersionInfo, VersionStatus,
};
use crate::document::version_key;
use crate::embed::ModelFingerprint;
use crate::lexical::{Bm25Params, Lexical, LexicalVectors, SparseTerms};

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
    /// The `[store]` BM25 parameters, reported to writers (see [`ChunkStore::bm25`]).
    bm25: Bm25Params,
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
                    let moved = migrate::layout_1_to_2(root, dimension, &Lexical::new(settings.bm25()))?;
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
        let store =
            Self { shard: ManuallyDrop::new(shard), bm25: settings.bm25(), writer: Mutex::new(()), path: root.clone(), _lock: lock };
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
}

/// A chunk's named vectors: its dense vector and its BM25 term and pair vectors.
pub(super) fn point_vectors(dense: Vec<f32>, lexical: &LexicalVectors) -> Result<Vectors, StoreError> {
    let sparse = |t: &SparseTerms| qdrant_edge::Vector::new_sparse(t.indices.clone(), t.values.clone()).map_err(backend);
    Ok(Vectors::new_named([
        (DENSE, qdrant_edge::Vector::new_dense(dense)),
        (BM25, sparse(&lexical.terms)?),
        (PAIRS, sparse(&lexical.pairs)?),
    ]))
}

/// The vector called `name` among a retrieved point's vectors.
pub(super) fn named_vector(vectors: Option<VectorStructInternal>, name: &str) -> Option<VectorInternal> {
    match vectors? {
        VectorStructInternal::Named(mut named) => named.remove(name),
        _ => None,
    }
}

fn sparse_name(vector: SparseVector) -> &'static str {
    match vector {
        SparseVector::Terms => BM25,
        SparseVector::Pairs => PAIRS,
    }
}

fn scoring_query(query: VectorQuery<'_>) -> ScoringQuery {
    let (query, using) = match query {
        VectorQuery::Dense(v) => (VectorInternal::from(v.to_vec()), DENSE),
        VectorQuery::Sparse(vector, terms) => (
            VectorInternal::Sparse(qdrant_edge::SparseVector { indices: terms.indices.clone(), values: terms.values.clone() }),
            sparse_name(vector),
        ),
    };
    ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery { query, using: Some(using.to_string()) }))
}

/// The chunk id of a point; every point reagent writes has a UUID id.
fn chunk_id(id: PointId) -> Option<Uuid> {
    match id {
        PointId::Uuid(u) => Some(u),
        PointId::NumId(_) => None,
    }
}

impl EdgeStore {
    /// Ids and scores of the best `limit` points for `query` under `filter`.
    fn scored_ids(&self, query: VectorQuery<'_>, filter: Filter, limit: usize) -> Result<Vec<Candidate>, StoreError> {
        if limit == 0 {
            return Ok(vec![]);
        }
        let points = self
            .shard
            .query(QueryRequest {
                prefetches: vec![],
                query: Some(scoring_query(query)),
                filter: Some(filter),
                score_threshold: None,
                limit,
                offset: 0,
                params: None,
                with_vector: WithVector::Bool(false),
                with_payload: WithPayloadInterface::Bool(false),
            })
            .map_err(backend)?;
        Ok(points.into_iter().filter_map(|p| Some(Candidate { chunk_id: chunk_id(p.id)?, score: p.score })).collect())
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

fn point_ids(ids: &[Uuid]) -> impl Iterator<Item = PointId> + '_ {
    ids.iter().map(|&id| PointId::Uuid(id))
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
                let vectors = point_vectors(c.dense.clone(), &c.lexical)?;
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

    fn candidates(&self, query: VectorQuery<'_>, filter: &SearchFilter, limit: usize) -> Result<Vec<Candidate>, StoreError> {
        self.scored_ids(query, search_filter(filter), limit)
    }

    fn score(&self, query: VectorQuery<'_>, filter: &SearchFilter, ids: &[Uuid]) -> Result<Vec<Candidate>, StoreError> {
        let mut restricted = search_filter(filter);
        restricted.must.get_or_insert_with(Vec::new).push(Condition::HasId(point_ids(ids).collect()));
        self.scored_ids(query, restricted, ids.len())
    }

    fn sparse_vectors(&self, ids: &[Uuid], vector: SparseVector) -> Result<Vec<(Uuid, SparseTerms)>, StoreError> {
        let name = sparse_name(vector);
        let points: Vec<PointId> = point_ids(ids).collect();
        let records = self
            .shard
            .retrieve(&points, Some(WithPayloadInterface::Bool(false)), Some(WithVector::Selector(vec![name.to_string()])))
            .map_err(backend)?;
        Ok(records
            .into_iter()
            .filter_map(|r| {
                let VectorInternal::Sparse(v) = named_vector(r.vector, name)? else { return None };
                Some((chunk_id(r.id)?, SparseTerms { indices: v.indices, values: v.values }))
            })
            .collect())
    }

    fn records(&self, ids: &[Uuid]) -> Result<Vec<ChunkRecord>, StoreError> {
        let points: Vec<PointId> = point_ids(ids).collect();
        let records = self
            .shard
            .retrieve(&points, Some(WithPayloadInterface::Bool(true)), Some(WithVector::Bool(false)))
            .map_err(backend)?;
        records.into_iter().filter_map(|r| r.payload).map(|p| Ok(ChunkPayload::from_map(p.0)?.into_record())).collect()
    }

    fn bm25(&self) -> Bm25Params {
        self.bm25
    }

    fn count(&self) -> Result<usize, StoreError> {
        self.shard.count(CountRequest { filter: None, exact: true }).map_err(backend)
    }

    fn flush(&self) -> Result<(), StoreError> {
        let writer = self.exclusive();
        self.flush_locked(&writer);
        Ok(())
    }

    fn optimize(&self) -> Result<(), StoreError> {
        let writer = self.exclusive();
        self.shard.optimize().map_err(backend)?;
        self.flush_locked(&writer);
        Ok(())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::store::migrate::tests::cash_chunk;

    pub(in crate::store) const TEXTS: [&str; 3] = [
        "Tellers count banknotes at the end of every shift.",
        "File a currency transaction report for cash over ten thousand dollars.",
        "Screen every wire transfer against the sanctions list.",
    ];

    /// Version v1 of document "cash": chunk `i` is `TEXTS[i]`, its dense vector leaning to axis `i`.
    pub(in crate::store) fn three_chunks() -> Vec<StoredChunk> {
        (0..3)
            .map(|i| {
                let mut dense = vec![0.1; 3];
                dense[i] = 1.0;
                cash_chunk(i, TEXTS[i], dense, 3)
            })
            .collect()
    }

    fn store_of_three(dir: &Path) -> (EdgeStore, Vec<StoredChunk>) {
        let settings = StoreSettings { data_dir: dir.to_path_buf(), ..Default::default() };
        let store = EdgeStore::open(&settings, 3, &ModelFingerprint::of_id("m")).unwrap();
        let chunks = three_chunks();
        store.write_pending(&chunks).unwrap();
        (store, chunks)
    }

    #[test]
    fn queries_see_active_versions_only_and_return_raw_scores() {
        let dir = tempfile::tempdir().unwrap();
        let (store, chunks) = store_of_three(dir.path());
        let query = VectorQuery::Dense(&[1.0, 0.5, 0.0]);
        assert!(store.candidates(query, &SearchFilter::default(), 3).unwrap().is_empty(), "pending is invisible");
        store.activate("cash", "v1").unwrap();
        let hits = store.candidates(query, &SearchFilter::default(), 3).unwrap();
        assert_eq!(hits.iter().map(|c| c.chunk_id).collect::<Vec<_>>(), [chunks[0].id, chunks[1].id, chunks[2].id]);
        // Cosine, as is: (1, .1, .1)·(1, .5, 0) / (|(1, .1, .1)| |(1, .5, 0)|).
        assert!((hits[0].score - 1.05 / (1.02f32 * 1.25).sqrt()).abs() < 1e-5, "{hits:?}");
        // Not yet in force on that date: nothing.
        let before = SearchFilter { as_of: "2023-12-31".parse().ok(), ..Default::default() };
        assert!(store.candidates(query, &before, 3).unwrap().is_empty());
    }

    #[test]
    fn scores_of_given_ids_sparse_vectors_and_records_come_back_as_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (store, chunks) = store_of_three(dir.path());
        store.activate("cash", "v1").unwrap();
        let ids = [chunks[2].id, chunks[0].id];
        let scored = store.score(VectorQuery::Dense(&[0.0, 0.0, 1.0]), &SearchFilter::default(), &ids).unwrap();
        assert_eq!(scored.iter().map(|c| c.chunk_id).collect::<Vec<_>>(), ids, "only the given ids, best first");
        // A sparse query leaves out the chunks that share no term with it.
        let query = Lexical::new(StoreSettings::default().bm25()).query("sanctions list");
        let terms = VectorQuery::Sparse(SparseVector::Terms, &query.terms);
        let all: Vec<Uuid> = chunks.iter().map(|c| c.id).collect();
        let scored = store.score(terms, &SearchFilter::default(), &all).unwrap();
        assert_eq!(scored.len(), 1);
        assert_eq!(scored[0].chunk_id, chunks[2].id);
        assert!(scored[0].score > 0.0);
        for (vector, expected) in [(SparseVector::Terms, &chunks[1].lexical.terms), (SparseVector::Pairs, &chunks[1].lexical.pairs)] {
            let stored = store.sparse_vectors(&[chunks[1].id], vector).unwrap();
            let mut indices = stored[0].1.indices.clone();
            indices.sort_unstable();
            assert_eq!((stored[0].0, indices), (chunks[1].id, expected.indices.clone()));
        }
        let records = store.records(&[chunks[1].id, Uuid::from_u128(404)]).unwrap();
        assert_eq!(records.len(), 1, "an id not stored is left out");
        assert_eq!(records[0].chunk.text, TEXTS[1]);
        assert_eq!(store.bm25(), StoreSettings::default().bm25());
    }
}
