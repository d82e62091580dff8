//! Owns the embedded Qdrant backend: one qdrant-edge shard on disk with a dense
//! (cosine) vector and a BM25 sparse vector (IDF applied by Qdrant) per chunk.

use std::collections::BTreeMap;
use std::fs::File;
use std::mem::ManuallyDrop;
use std::panic::AssertUnwindSafe;
use std::sync::{Mutex, MutexGuard};
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, Utc};
use qdrant_edge::bm25_embed::{EdgeBm25, EdgeBm25Config};
use qdrant_edge::external::ordered_float::{NotNan, OrderedFloat};
use qdrant_edge::{
    Condition, CountRequest, CreateIndex, Distance, EdgeConfig, EdgeShard, EdgeSparseVectorParams,
    EdgeVectorParamsBuilder, FieldCondition, FieldIndexOperations, Filter, Fusion, Match, Modifier,
    NamedQuery, Payload, PayloadFieldSchema, PayloadOps, PayloadSchemaType, PointId, PointInsertOperations,
    PointOperations, PointStruct, Prefetch, QueryEnum, QueryRequest, Range, ScoringQuery, ScrollRequest,
    SetPayloadOp, UpdateOperation, ValueVariants, VectorInternal, Vectors, WithPayloadInterface, WithVector,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::payload::{ChunkPayload, INTEGER_FIELDS, KEYWORD_FIELDS, day_number};
use super::{
    ChunkRecord, ChunkStore, ScoredChunk, SearchFilter, SearchMode, SearchRequest, StoreError, StoreSettings,
    StoredChunk, VersionInfo, VersionStatus,
};
use crate::document::version_key;

const DENSE: &str = "dense";
const BM25: &str = "bm25";
const STORE_INFO_FILE: &str = "reagent-store.json";
const LOCK_FILE: &str = "reagent.lock";
const SHARD_DIR: &str = "shard";
/// Present while a process has the store open; found at open, it means the last
/// process died without closing it.
const DIRTY_FILE: &str = "reagent.open";

/// What the store was built with; checked on every open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoreInfo {
    schema: u32,
    dimension: usize,
    model_id: String,
}

pub struct EdgeStore {
    /// Dropped by hand in `Drop`, so that a failing final flush cannot panic out of it.
    shard: ManuallyDrop<EdgeShard>,
    /// Serialises writes and flushes: qdrant-edge's flush panics if it meets a
    /// concurrent update, so every mutation goes through this lock.
    writer: Mutex<()>,
    bm25: EdgeBm25,
    path: PathBuf,
    _lock: File,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl EdgeStore {
    /// Open (or create) the store under `settings.data_dir` for vectors of `dimension`
    /// made by `model_id`. Holds an exclusive lock on the folder while open.
    pub fn open(settings: &StoreSettings, dimension: usize, model_id: &str) -> Result<Self, StoreError> {
        let root = &settings.data_dir;
        let open_err = |reason: String| StoreError::Open { path: root.display().to_string(), reason };
        std::fs::create_dir_all(root).map_err(|e| open_err(e.to_string()))?;
        let lock_path = root.join(LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| open_err(e.to_string()))?;
        if lock.try_lock().is_err() {
            return Err(StoreError::Locked(lock_path.display().to_string()));
        }
        let wanted = StoreInfo { schema: 1, dimension, model_id: model_id.to_string() };
        let info_path = root.join(STORE_INFO_FILE);
        match std::fs::read(&info_path) {
            Ok(bytes) => {
                let found: StoreInfo = serde_json::from_slice(&bytes).map_err(|e| open_err(format!("{STORE_INFO_FILE}: {e}")))?;
                if found.dimension != wanted.dimension || found.model_id != wanted.model_id {
                    return Err(StoreError::ModelMismatch {
                        stored: found.dimension,
                        stored_model: found.model_id,
                        configured: dimension,
                        configured_model: model_id.to_string(),
                    });
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                write_atomically(&info_path, &serde_json::to_vec_pretty(&wanted).map_err(backend)?)
                    .map_err(|e| open_err(e.to_string()))?;
            }
            Err(e) => return Err(open_err(e.to_string())),
        }
        let shard_path = root.join(SHARD_DIR);
        let fresh = !shard_path.join("edge_config.json").exists();
        std::fs::create_dir_all(&shard_path).map_err(|e| open_err(e.to_string()))?;
        let shard = if fresh {
            EdgeShard::new(&shard_path, shard_config(dimension)).map_err(|e| open_err(e.to_string()))?
        } else {
            EdgeShard::load(&shard_path, None).map_err(|e| open_err(e.to_string()))?
        };
        let bm25 = EdgeBm25::new(EdgeBm25Config {
            k: NotNan::new(settings.bm25_k1).map_err(|e| open_err(format!("bm25_k1: {e}")))?,
            b: NotNan::new(settings.bm25_b).map_err(|e| open_err(format!("bm25_b: {e}")))?,
            avg_len: NotNan::new(settings.bm25_avg_len).map_err(|e| open_err(format!("bm25_avg_len: {e}")))?,
            language: Some("english".into()),
            ..Default::default()
        })
        .map_err(|e| open_err(format!("BM25: {e}")))?;
        let store = Self { shard: ManuallyDrop::new(shard), bm25, writer: Mutex::new(()), path: root.clone(), _lock: lock };
        let dirty = root.join(DIRTY_FILE);
        if fresh {
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
        let fields = KEYWORD_FIELDS
            .iter()
            .map(|f| (*f, PayloadSchemaType::Keyword))
            .chain(INTEGER_FIELDS.iter().map(|f| (*f, PayloadSchemaType::Integer)));
        for (field, kind) in fields {
            if rebuild {
                self.shard
                    .update(UpdateOperation::FieldIndexOperation(FieldIndexOperations::DeleteIndex(
                        field.try_into().map_err(|_| StoreError::Backend(format!("bad field name {field}")))?,
                    )))
                    .map_err(backend)?;
            }
            self.shard
                .update(UpdateOperation::FieldIndexOperation(FieldIndexOperations::CreateIndex(CreateIndex {
                    field_name: field.try_into().map_err(|_| StoreError::Backend(format!("bad field name {field}")))?,
                    field_schema: Some(PayloadFieldSchema::FieldType(kind)),
                })))
                .map_err(backend)?;
        }
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

/// Weighted sum of min-max normalised dense and BM25 scores per point, best first.
/// A point absent from `sparse` has no query term in common: its BM25 score is 0.
pub(super) fn fuse_scores(
    dense: &[(PointId, f32)],
    sparse: &[(PointId, f32)],
    dense_weight: f32,
) -> Vec<(PointId, f32)> {
    let sparse_by_id: std::collections::HashMap<PointId, f32> = sparse.iter().copied().collect();
    let mut ids: Vec<PointId> = dense.iter().map(|(id, _)| *id).collect();
    let dense_by_id: std::collections::HashMap<PointId, f32> = dense.iter().copied().collect();
    ids.extend(sparse.iter().map(|(id, _)| *id).filter(|id| !dense_by_id.contains_key(id)));
    let d: Vec<f32> = ids.iter().map(|id| dense_by_id.get(id).copied().unwrap_or(0.0)).collect();
    let s: Vec<f32> = ids.iter().map(|id| sparse_by_id.get(id).copied().unwrap_or(0.0)).collect();
    let (nd, ns) = (min_max(&d), min_max(&s));
    let mut fused: Vec<(PointId, f32)> = ids
        .iter()
        .zip(d.iter().zip(&s))
        .map(|(id, (&d, &s))| (*id, dense_weight * nd(d) + (1.0 - dense_weight) * ns(s)))
        .collect();
    fused.sort_by(|a, b| b.1.total_cmp(&a.1));
    fused
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
    /// points, fused by normalised score.
    fn score_fusion(
        &self,
        dense: ScoringQuery,
        sparse: ScoringQuery,
        filter: &Filter,
        request: &SearchRequest<'_>,
        dense_weight: f32,
    ) -> Result<Vec<(PointId, f32)>, StoreError> {
        let n = request.candidates.max(request.limit);
        let mut dense_hits = self.scored_ids(dense.clone(), filter.clone(), n)?;
        let mut sparse_hits = self.scored_ids(sparse.clone(), filter.clone(), n)?;
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
        let missing_sparse = only(&dense_hits, &sparse_hits);
        let (nd, ns) = (missing_dense.len(), missing_sparse.len());
        if nd > 0 {
            dense_hits.extend(self.scored_ids(dense, restricted(missing_dense), nd)?);
        }
        if ns > 0 {
            sparse_hits.extend(self.scored_ids(sparse, restricted(missing_sparse), ns)?);
        }
        Ok(fuse_scores(&dense_hits, &sparse_hits, dense_weight))
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

fn shard_config(dimension: usize) -> EdgeConfig {
    EdgeConfig {
        vectors: [(DENSE.to_string(), EdgeVectorParamsBuilder::new(dimension, Distance::Cosine).build())].into(),
        sparse_vectors: [(
            BM25.to_string(),
            EdgeSparseVectorParams { modifier: Some(Modifier::Idf), ..Default::default() },
        )]
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
                let vectors = Vectors::new_named([
                    (DENSE, qdrant_edge::Vector::new_dense(c.dense.clone())),
                    (BM25, self.bm25.embed_document(&c.lexical_text).into()),
                ]);
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
        let sparse = || {
            ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery {
                query: VectorInternal::from(self.bm25.embed_query(request.text)),
                using: Some(BM25.to_string()),
            }))
        };
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
            SearchMode::Fusion { dense_weight } => {
                let mut fused = self.score_fusion(dense()?, sparse(), &filter, request, dense_weight)?;
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

    #[test]
    fn score_fusion_normalises_each_side_over_the_union() {
        let id = PointId::NumId;
        let dense = [(id(1), 0.9), (id(2), 0.5), (id(3), 0.1)];
        // Point 2 shares no term with the query: BM25 0.
        let sparse = [(id(3), 10.0), (id(1), 5.0)];
        // dense → 1, 0.5, 0; BM25 over the union (5, 0, 10) → 0.5, 0, 1.
        let fused = fuse_scores(&dense, &sparse, 0.4);
        let order: Vec<PointId> = fused.iter().map(|(p, _)| *p).collect();
        assert_eq!(order, vec![id(1), id(3), id(2)]);
        let expected = [0.4 * 1.0 + 0.6 * 0.5, 0.6 * 1.0, 0.4 * 0.5];
        for ((_, got), want) in fused.iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
        // All weight on one side reproduces that side's order.
        let bm25_only: Vec<PointId> = fuse_scores(&dense, &sparse, 0.0).iter().map(|(p, _)| *p).collect();
        assert_eq!(bm25_only, vec![id(3), id(1), id(2)]);
        assert!(fuse_scores(&[], &[], 0.5).is_empty());
    }


}
