//! Owns the remote Qdrant backend: one collection on a Qdrant server or cluster (1.18 or
//! newer), reached over gRPC with `qdrant-client`. It stores exactly what [`EdgeStore`]
//! stores — the same named vectors (`dense` cosine; `bm25` and `bm25_pairs` sparse with
//! Qdrant's IDF modifier), the same payload ([`ChunkPayload`]) and payload indexes, the
//! same UUID point ids — so the retrieval crate ranks candidates from either alike.
//!
//! **Schema.** Opening creates the collection if it is missing and records the layout
//! and the embedding model in the collection's metadata. An existing collection is
//! checked (vector names, size, distance, sparse modifiers, layout, model) and refused
//! on any mismatch with [`StoreError::Schema`], [`StoreError::Layout`] or
//! [`StoreError::ModelMismatch`]; nothing is ever dropped.
//!
//! **Versions.** As in the embedded store, chunks are written `pending` (every write
//! waits until the server has applied it), and `activate` turns the version `active`
//! with one filtered payload update once all its chunks are acknowledged, so a crash
//! mid-ingest leaves nothing visible and `recover` deletes the leftovers. State changes
//! use medium write ordering: each goes through one leader copy of the shard, so the
//! copies apply them in one order, and that leader is chosen among the live copies.
//! (Strong ordering pins the leader: with its node down, every activation, deletion and
//! recovery on that shard fails until the node is back.) A collection of several shards
//! applies a state change to each shard on its own: see ARCHITECTURE.md for the window
//! in which a search can see a version on some shards only. Qdrant's IDF modifier
//! counts documents per shard, so on several shards the BM25 scores differ slightly
//! from one shard's (the dense scores do not).
//!
//! **Sync over async.** [`ChunkStore`] is synchronous and `qdrant-client` is async. The
//! store owns a small tokio runtime of its own; each call spawns its request there and
//! waits on a channel. The caller's thread therefore never drives the request and never
//! enters `block_on`, which would panic inside `reagent serve`'s runtime; on a
//! multi-threaded runtime the wait runs in `block_in_place`, so the caller's other tasks
//! move to other workers meanwhile. The client (and its connections) is created and used
//! only on the store's runtime, and dropping the store shuts that runtime down without
//! blocking, which is allowed anywhere.
//!
//! **Round trips.** Each request is a round trip to the server, which is what a search
//! pays for: `fetch` sends a batch of candidate and score queries as one `query_batch`
//! request (`candidates` and `score` are batches of one), and [`RemoteStore::requests`]
//! counts them.
//!
//! **Failures.** Unavailable, deadline-exceeded and resource-exhausted answers, and
//! refused connections, are retried
//! with exponential backoff; every other error (invalid argument above all) fails at
//! once. What still fails becomes [`StoreError::Backend`], which the service answers
//! with 503.
//!
//! [`EdgeStore`]: super::EdgeStore

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use qdrant_client::qdrant::point_id::PointIdOptions;
use qdrant_client::qdrant::vector_output::Vector as OutputVector;
use qdrant_client::qdrant::vectors_config::Config as VectorsConfigKind;
use qdrant_client::qdrant::{
    Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder, DeletePointsBuilder,
    Distance, FieldType, Filter, GetPointsBuilder, Modifier, PointId, PointStruct, Query, QueryBatchPointsBuilder, QueryPoints, QueryPointsBuilder, Range, ReplicaState,
    ScrollPointsBuilder, SetPayloadPointsBuilder, SparseVectorParamsBuilder, SparseVectorsConfigBuilder,
    UpsertPointsBuilder, Value, VectorInput, VectorsSelector, VectorParamsBuilder, VectorsConfigBuilder, WriteOrdering,
    WriteOrderingType,
};
use qdrant_client::{Payload, Qdrant, QdrantError};
use uuid::Uuid;

use super::edge::{BM25, DENSE, LAYOUT, PAIRS};
use super::payload::{ChunkPayload, INTEGER_FIELDS, KEYWORD_FIELDS, day_number};
use super::{
    Candidate, ChunkRecord, ChunkStore, Fetch, HealthStatus, ReplicaHealth, SearchFilter, ShardHealth, SparseVector, StoreBackend, StoreError,
    StoreHealth, StoreSettings, StoredChunk, VectorQuery, VersionInfo, VersionStatus,
};
use crate::document::version_key;
use crate::embed::ModelFingerprint;
use crate::lexical::{Bm25Params, SparseTerms};

/// Points per upsert request.
const UPSERT_BATCH: usize = 64;
/// Upsert requests in flight at once; a writer waits for them (backpressure).
const UPSERTS_IN_FLIGHT: usize = 4;
/// Attempts of one request when the server is unavailable or too slow.
const ATTEMPTS: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Page size of scrolls.
const SCROLL_PAGE: u32 = 1000;
/// Collection metadata keys reagent writes.
const META_LAYOUT: &str = "reagent_layout";
const META_DIMENSION: &str = "reagent_dimension";
const META_MODEL: &str = "reagent_model";
const META_FINGERPRINT: &str = "reagent_model_fingerprint";

pub struct RemoteStore {
    /// Taken in `Drop` to shut it down without blocking.
    runtime: Option<tokio::runtime::Runtime>,
    client: Arc<Qdrant>,
    collection: String,
    url: String,
    bm25: Bm25Params,
    /// Requests sent through [`RemoteStore::call`]: everything but chunk writes.
    requests: AtomicU64,
}

impl std::fmt::Debug for RemoteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteStore").field("url", &self.url).field("collection", &self.collection).finish()
    }
}

/// Whether a failed request may succeed if sent again, and after how long at least.
fn transient(e: &QdrantError) -> Option<Duration> {
    match e {
        QdrantError::ResponseError { status } => {
            // qdrant-client reports a refused connection (a node restarting) as Internal,
            // and so does a node whose peer holding a shard's copy is unreachable.
            let message = status.message();
            let unreachable = status.code() == tonic::Code::Internal
                && ["Failed to connect", "currently unavailable", "transport error"].iter().any(|m| message.contains(m));
            (matches!(status.code(), tonic::Code::Unavailable | tonic::Code::DeadlineExceeded) || unreachable)
                .then_some(Duration::ZERO)
        }
        QdrantError::ResourceExhaustedError { retry_after_seconds, .. } => {
            Some(Duration::from_secs((*retry_after_seconds).min(5)))
        }
        _ => None,
    }
}

fn point_id(id: Uuid) -> PointId {
    PointId::from(id)
}

fn chunk_id(id: Option<PointId>) -> Option<Uuid> {
    match id?.point_id_options? {
        PointIdOptions::Uuid(s) => s.parse().ok(),
        PointIdOptions::Num(_) => None,
    }
}

fn ordered() -> WriteOrdering {
    WriteOrdering { r#type: WriteOrderingType::Medium.into() }
}

fn keyword(field: &str, value: &str) -> Condition {
    Condition::matches(field, value.to_string())
}

fn any_of(field: &str, values: &[String]) -> Option<Condition> {
    (!values.is_empty()).then(|| Filter::should(values.iter().map(|v| keyword(field, v))).into())
}

fn version_filter(document_id: &str, version: Option<&str>) -> Filter {
    match version {
        Some(v) => Filter::must([keyword("version_key", &version_key(document_id, v))]),
        None => Filter::must([keyword("document_id", document_id)]),
    }
}

/// The Qdrant filter for a [`SearchFilter`]; always restricted to active versions (the
/// same conditions as the embedded store's).
fn search_filter(f: &SearchFilter) -> Filter {
    let mut must = vec![keyword("status", "active")];
    if let Some(date) = f.as_of {
        let day = day_number(date) as f64;
        must.push(Condition::range("from_day", Range { lte: Some(day), ..Default::default() }));
        must.push(Condition::range("to_day", Range { gt: Some(day), ..Default::default() }));
    }
    let types: Vec<String> = f.document_types.iter().map(|t| t.as_str().to_string()).collect();
    must.extend(any_of("jurisdiction", &f.jurisdictions));
    must.extend(any_of("document_type", &types));
    must.extend(any_of("document_id", &f.document_ids));
    Filter::must(must)
}

fn sparse_name(vector: SparseVector) -> &'static str {
    match vector {
        SparseVector::Terms => BM25,
        SparseVector::Pairs => PAIRS,
    }
}

fn payload_of(map: HashMap<String, Value>) -> Result<ChunkPayload, StoreError> {
    ChunkPayload::from_map(serde_json::Map::from(Payload::from(map)))
}

fn json_payload(value: serde_json::Value) -> Result<Payload, StoreError> {
    Payload::try_from(value).map_err(|e| StoreError::Payload(e.to_string()))
}

fn point_struct(c: &StoredChunk, now: chrono::DateTime<Utc>) -> Result<PointStruct, StoreError> {
    let payload = json_payload(ChunkPayload::pending(c, now).to_json()?)?;
    let sparse = |t: &SparseTerms| qdrant_client::qdrant::Vector::new_sparse(t.indices.clone(), t.values.clone());
    let vectors: HashMap<String, qdrant_client::qdrant::Vector> = [
        (DENSE.to_string(), qdrant_client::qdrant::Vector::new_dense(c.dense.clone())),
        (BM25.to_string(), sparse(&c.lexical.terms)),
        (PAIRS.to_string(), sparse(&c.lexical.pairs)),
    ]
    .into();
    Ok(PointStruct::new(point_id(c.id), vectors, payload))
}

impl RemoteStore {
    /// Connect to `settings.url` and open (or create) `settings.collection` for vectors of
    /// `dimension` made by `model`; see the module doc for what is checked.
    pub fn open(settings: &StoreSettings, dimension: usize, model: &ModelFingerprint) -> Result<Self, StoreError> {
        let store = Self::connect(settings)?;
        store.ensure_collection(settings, dimension, model)?;
        Ok(store)
    }

    /// A client for `settings.collection` that neither creates nor checks it: only for
    /// [`RemoteStore::drop_collection`]; every other use goes through [`RemoteStore::open`].
    pub fn connect(settings: &StoreSettings) -> Result<Self, StoreError> {
        let open_err = |reason: String| StoreError::Open { path: settings.url.clone(), reason };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("reagent-qdrant")
            .enable_all()
            .build()
            .map_err(|e| open_err(format!("starting the client runtime: {e}")))?;
        let mut config = Qdrant::from_url(&settings.url)
            .timeout(Duration::from_secs(settings.timeout_secs))
            .connect_timeout(Duration::from_secs(settings.connect_timeout_secs))
            .skip_compatibility_check();
        if !settings.api_key.is_empty() {
            config = config.api_key(settings.api_key.clone());
        }
        // The client's channel must live on the store's runtime: build it there.
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let _ = tx.send(config.build());
        });
        let client = wait(rx).map_err(|e| open_err(e.to_string()))?.map_err(|e| open_err(e.to_string()))?;
        Ok(Self {
            runtime: Some(runtime),
            client: Arc::new(client),
            collection: settings.collection.clone(),
            url: settings.url.clone(),
            bm25: settings.bm25(),
            requests: AtomicU64::new(0),
        })
    }

    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// Requests (round trips) this store has sent, chunk writes and retries left out:
    /// what a search costs in round trips (tests, `benches/remote_search.rs`).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Delete the whole collection (if it exists). Only for tests and caches that mean
    /// it; the store itself never calls it.
    pub fn drop_collection(&self) -> Result<(), StoreError> {
        let name = self.collection.clone();
        self.call("deleting the collection", move |c| {
            let name = name.clone();
            async move { c.delete_collection(name).await }
        })
        .map(drop)
    }

    /// Run `request` on the store's runtime, retrying transient failures, and wait for it.
    fn call<T, F, Fut>(&self, what: &'static str, request: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(Arc<Qdrant>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, QdrantError>> + Send,
    {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let client = self.client.clone();
        self.run(async move { retrying(what, || request(client.clone())).await })?
    }

    /// Run `future` on the store's runtime and wait for its output (see the module doc).
    fn run<T: Send + 'static>(&self, future: impl Future<Output = T> + Send + 'static) -> Result<T, StoreError> {
        let runtime = self.runtime.as_ref().ok_or_else(|| StoreError::Backend("the store is closed".into()))?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let _ = tx.send(future.await);
        });
        wait(rx)
    }

    fn ensure_collection(&self, settings: &StoreSettings, dimension: usize, model: &ModelFingerprint) -> Result<(), StoreError> {
        let name = self.collection.clone();
        let exists = self.call("checking the collection", move |c| {
            let name = name.clone();
            async move { c.collection_exists(name).await }
        })?;
        if !exists {
            let create = self.create_request(settings, dimension, model);
            let created = self.call("creating the collection", move |c| {
                let create = create.clone();
                async move { c.create_collection(create).await }
            });
            if let Err(e) = created {
                // Another reagent may have created it meanwhile: the check below decides.
                tracing::warn!("creating Qdrant collection {}: {e}", self.collection);
            }
        }
        self.check_schema(dimension, model)?;
        self.create_indexes()
    }

    fn create_request(&self, s: &StoreSettings, dimension: usize, model: &ModelFingerprint) -> qdrant_client::qdrant::CreateCollection {
        let mut dense = VectorsConfigBuilder::default();
        dense.add_named_vector_params(DENSE, VectorParamsBuilder::new(dimension as u64, Distance::Cosine));
        let mut sparse = SparseVectorsConfigBuilder::default();
        for name in [BM25, PAIRS] {
            sparse.add_named_vector_params(name, SparseVectorParamsBuilder::default().modifier(Modifier::Idf));
        }
        let metadata: HashMap<String, serde_json::Value> = [
            (META_LAYOUT.to_string(), serde_json::json!(LAYOUT)),
            (META_DIMENSION.to_string(), serde_json::json!(dimension)),
            (META_MODEL.to_string(), serde_json::json!(model.short())),
            (META_FINGERPRINT.to_string(), serde_json::json!(model.sha256)),
        ]
        .into();
        CreateCollectionBuilder::new(self.collection.clone())
            .vectors_config(dense)
            .sparse_vectors_config(sparse)
            .shard_number(s.shard_number)
            .replication_factor(s.replication_factor)
            .write_consistency_factor(s.write_consistency_factor)
            .metadata(metadata)
            .build()
    }

    fn schema_error(&self, reason: String) -> StoreError {
        StoreError::Schema { url: self.url.clone(), collection: self.collection.clone(), reason }
    }

    /// Refuse a collection that is not laid out as this reagent writes it.
    fn check_schema(&self, dimension: usize, model: &ModelFingerprint) -> Result<(), StoreError> {
        let name = self.collection.clone();
        let info = self.call("reading the collection", move |c| {
            let name = name.clone();
            async move { c.collection_info(name).await }
        })?;
        let config = info.result.and_then(|r| r.config).ok_or_else(|| self.schema_error("the server sent no configuration".into()))?;
        let meta: BTreeMap<String, serde_json::Value> = config.metadata.into_iter().map(|(k, v)| (k, v.into())).collect();
        let layout = meta
            .get(META_LAYOUT)
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| self.schema_error(format!("it has no {META_LAYOUT} metadata, so reagent did not create it")))?;
        if layout != u64::from(LAYOUT) {
            if layout > u64::from(LAYOUT) {
                return Err(StoreError::Layout {
                    path: format!("{}/{}", self.url, self.collection),
                    stored: layout as u32,
                    expected: LAYOUT,
                });
            }
            return Err(self.schema_error(format!("it has layout {layout}; this reagent writes layout {LAYOUT}")));
        }
        let params = config.params.unwrap_or_default();
        let dense = match params.vectors_config.and_then(|v| v.config) {
            Some(VectorsConfigKind::ParamsMap(map)) => map.map,
            _ => HashMap::new(),
        };
        match dense.get(DENSE) {
            Some(p) if p.distance == Distance::Cosine as i32 && dense.len() == 1 => {
                let stored_model = meta.get(META_MODEL).and_then(|v| v.as_str()).unwrap_or("unknown").to_string();
                let same_model = meta.get(META_FINGERPRINT).and_then(|v| v.as_str()) == Some(model.sha256.as_str());
                if p.size != dimension as u64 || !same_model {
                    return Err(StoreError::ModelMismatch {
                        path: format!("{}/{}", self.url, self.collection),
                        stored_model,
                        stored_dimension: p.size as usize,
                        configured_model: model.short(),
                        configured_dimension: dimension,
                    });
                }
            }
            _ => {
                let names: Vec<&String> = dense.keys().collect();
                return Err(self.schema_error(format!("its dense vectors are {names:?}, not one cosine vector named {DENSE:?}")));
            }
        }
        let sparse = params.sparse_vectors_config.map(|s| s.map).unwrap_or_default();
        let idf = |name: &str| sparse.get(name).is_some_and(|p| p.modifier == Some(Modifier::Idf as i32));
        if sparse.len() != 2 || !idf(BM25) || !idf(PAIRS) {
            let names: Vec<&String> = sparse.keys().collect();
            return Err(self.schema_error(format!(
                "its sparse vectors are {names:?}, not {BM25:?} and {PAIRS:?} with the IDF modifier"
            )));
        }
        Ok(())
    }

    /// Create the payload indexes the filters use (idempotent on the server).
    fn create_indexes(&self) -> Result<(), StoreError> {
        let fields = KEYWORD_FIELDS
            .iter()
            .map(|f| (*f, FieldType::Keyword))
            .chain(INTEGER_FIELDS.iter().map(|f| (*f, FieldType::Integer)));
        for (field, kind) in fields {
            let request = CreateFieldIndexCollectionBuilder::new(self.collection.clone(), field, kind).wait(true).build();
            self.call("creating a payload index", move |c| {
                let request = request.clone();
                async move { c.create_field_index(request).await }
            })?;
        }
        Ok(())
    }

    fn count_matching(&self, filter: Option<Filter>) -> Result<usize, StoreError> {
        let mut request = CountPointsBuilder::new(self.collection.clone()).exact(true);
        if let Some(f) = filter {
            request = request.filter(f);
        }
        let request = request.build();
        let n = self.call("counting points", move |c| {
            let request = request.clone();
            async move { c.count(request).await }
        })?;
        Ok(n.result.map_or(0, |r| r.count as usize))
    }

    /// Delete every point `filter` matches, waiting until applied; returns how many.
    fn delete_matching(&self, filter: Filter) -> Result<usize, StoreError> {
        let n = self.count_matching(Some(filter.clone()))?;
        if n > 0 {
            let request = DeletePointsBuilder::new(self.collection.clone()).points(filter).wait(true).ordering(ordered()).build();
            self.call("deleting points", move |c| {
                let request = request.clone();
                async move { c.delete_points(request).await }
            })?;
        }
        Ok(n)
    }

    fn set_payload(&self, filter: Filter, payload: serde_json::Value) -> Result<(), StoreError> {
        let request = SetPayloadPointsBuilder::new(self.collection.clone(), json_payload(payload)?)
            .points_selector(filter)
            .wait(true)
            .ordering(ordered())
            .build();
        self.call("updating payloads", move |c| {
            let request = request.clone();
            async move { c.set_payload(request).await }
        })
        .map(drop)
    }

    fn scroll_all(&self, filter: Filter) -> Result<Vec<ChunkPayload>, StoreError> {
        let mut out = Vec::new();
        let mut offset: Option<PointId> = None;
        loop {
            let mut request =
                ScrollPointsBuilder::new(self.collection.clone()).filter(filter.clone()).limit(SCROLL_PAGE).with_payload(true).with_vectors(false);
            if let Some(o) = offset.take() {
                request = request.offset(o);
            }
            let request = request.build();
            let page = self.call("scrolling points", move |c| {
                let request = request.clone();
                async move { c.scroll(request).await }
            })?;
            for p in page.result {
                out.push(payload_of(p.payload)?);
            }
            match page.next_page_offset {
                Some(next) => offset = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// `fetch` as a Qdrant query, or `None` when it asks for nothing (no ids, limit 0).
    fn query_points(&self, fetch: Fetch<'_>) -> Option<QueryPoints> {
        let (query, filter, limit) = match fetch {
            Fetch::Candidates { query, filter, limit } => (query, search_filter(filter), limit),
            Fetch::Score { query, filter, ids } => {
                let mut restricted = search_filter(filter);
                restricted.must.push(Condition::has_id(ids.iter().map(|&id| point_id(id))));
                (query, restricted, ids.len())
            }
        };
        if limit == 0 {
            return None;
        }
        let (input, using) = match query {
            VectorQuery::Dense(v) => (VectorInput::new_dense(v.to_vec()), DENSE),
            VectorQuery::Sparse(vector, terms) => {
                (VectorInput::new_sparse(terms.indices.clone(), terms.values.clone()), sparse_name(vector))
            }
        };
        Some(
            QueryPointsBuilder::new(self.collection.clone())
                .query(Query::new_nearest(input))
                .using(using)
                .filter(filter)
                .limit(limit as u64)
                .with_payload(false)
                .build(),
        )
    }

    /// The one answer of `fetch`.
    fn fetch_one(&self, fetch: Fetch<'_>) -> Result<Vec<Candidate>, StoreError> {
        Ok(self.fetch(&[fetch])?.pop().unwrap_or_default())
    }

    fn retrieve(&self, ids: &[Uuid], payload: bool, vector: Option<&'static str>) -> Result<Vec<qdrant_client::qdrant::RetrievedPoint>, StoreError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let points: Vec<PointId> = ids.iter().map(|&id| point_id(id)).collect();
        let mut request = GetPointsBuilder::new(self.collection.clone(), points).with_payload(payload);
        request = match vector {
            Some(name) => request.with_vectors(VectorsSelector { names: vec![name.to_string()] }),
            None => request.with_vectors(false),
        };
        let request = request.build();
        let got = self.call("fetching points", move |c| {
            let request = request.clone();
            async move { c.get_points(request).await }
        })?;
        Ok(got.result)
    }
}

impl RemoteStore {
    /// Every shard of the collection and its copies' states, as the cluster's consensus
    /// knows them through the node this store talks to (a single node: its one shard).
    fn shards(&self) -> Result<Vec<ShardHealth>, StoreError> {
        let name = self.collection.clone();
        let info = self.call("reading the collection's shards", move |c| {
            let name = name.clone();
            async move { c.collection_cluster_info(name).await }
        })?;
        let state = |s: i32| ReplicaState::try_from(s).map_or_else(|_| format!("unknown state {s}"), |s| s.as_str_name().to_string());
        let mut shards: BTreeMap<u32, Vec<ReplicaHealth>> = BTreeMap::new();
        for local in &info.local_shards {
            shards.entry(local.shard_id).or_default().push(ReplicaHealth { peer_id: info.peer_id, state: state(local.state) });
        }
        for remote in &info.remote_shards {
            shards.entry(remote.shard_id).or_default().push(ReplicaHealth { peer_id: remote.peer_id, state: state(remote.state) });
        }
        Ok(shards
            .into_iter()
            .map(|(shard_id, mut replicas)| {
                replicas.sort_by_key(|r| r.peer_id);
                ShardHealth { shard_id, replicas }
            })
            .collect())
    }
}

/// Wait for the store runtime's answer, letting a multi-threaded caller runtime move its
/// other tasks away meanwhile.
fn wait<T>(rx: std::sync::mpsc::Receiver<T>) -> Result<T, StoreError> {
    let recv = move || rx.recv();
    let got = match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(recv),
        _ => recv(),
    };
    got.map_err(|_| StoreError::Backend("the request was dropped: the store's runtime stopped".into()))
}

/// `request()` until it succeeds, fails for good, or `ATTEMPTS` transient failures.
async fn retrying<T, Fut>(what: &'static str, request: impl Fn() -> Fut) -> Result<T, StoreError>
where
    Fut: Future<Output = Result<T, QdrantError>>,
{
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1.. {
        match request().await {
            Ok(v) => return Ok(v),
            Err(e) => match transient(&e) {
                Some(at_least) if attempt < ATTEMPTS => {
                    tracing::warn!("Qdrant {what} failed (attempt {attempt} of {ATTEMPTS}), retrying: {e}");
                    tokio::time::sleep(backoff.max(at_least)).await;
                    backoff *= 2;
                }
                _ => return Err(StoreError::Backend(format!("{what}: {e}"))),
            },
        }
    }
    unreachable!("the loop returns")
}

impl Drop for RemoteStore {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl ChunkStore for RemoteStore {
    fn write_pending(&self, chunks: &[StoredChunk]) -> Result<(), StoreError> {
        if chunks.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        let points = chunks.iter().map(|c| point_struct(c, now)).collect::<Result<Vec<_>, _>>()?;
        let batches: Vec<Vec<PointStruct>> = points.chunks(UPSERT_BATCH).map(<[PointStruct]>::to_vec).collect();
        let client = self.client.clone();
        let collection = self.collection.clone();
        self.run(async move {
            let mut in_flight = tokio::task::JoinSet::new();
            let mut result = Ok(());
            for batch in batches {
                if result.is_err() {
                    break; // the version stays pending; `recover` removes what was written
                }
                if in_flight.len() >= UPSERTS_IN_FLIGHT
                    && let Some(done) = in_flight.join_next().await
                {
                    result = result.and(done.unwrap_or_else(|e| Err(StoreError::Backend(e.to_string()))));
                }
                let request = UpsertPointsBuilder::new(collection.clone(), batch).wait(true).build();
                let client = client.clone();
                in_flight.spawn(async move {
                    retrying("writing chunks", || {
                        let client = client.clone();
                        let request = request.clone();
                        async move { client.upsert_points(request).await }
                    })
                    .await
                    .map(drop)
                });
            }
            while let Some(done) = in_flight.join_next().await {
                result = result.and(done.unwrap_or_else(|e| Err(StoreError::Backend(e.to_string()))));
            }
            result
        })?
    }

    fn activate(&self, document_id: &str, version: &str) -> Result<(), StoreError> {
        // Every pending chunk was acknowledged as applied before `write_pending` returned.
        self.set_payload(version_filter(document_id, Some(version)), serde_json::json!({ "status": "active" }))
    }

    fn set_effective_to(&self, document_id: &str, version: &str, effective_to: NaiveDate) -> Result<(), StoreError> {
        self.set_payload(
            version_filter(document_id, Some(version)),
            serde_json::json!({ "effective_to": effective_to, "to_day": day_number(effective_to) }),
        )
    }

    fn delete(&self, document_id: &str, version: Option<&str>) -> Result<usize, StoreError> {
        self.delete_matching(version_filter(document_id, version))
    }

    fn recover(&self) -> Result<usize, StoreError> {
        self.delete_matching(Filter::must([keyword("status", "pending")]))
    }

    fn versions(&self, document_id: Option<&str>) -> Result<Vec<VersionInfo>, StoreError> {
        let mut must = vec![Condition::range("chunk_index", Range { gte: Some(0.0), lte: Some(0.0), ..Default::default() })];
        if let Some(id) = document_id {
            must.push(keyword("document_id", id));
        }
        let mut by_key: BTreeMap<(String, NaiveDate, String), VersionInfo> = BTreeMap::new();
        for p in self.scroll_all(Filter::must(must))? {
            by_key.insert((p.document_id.clone(), p.effective_from, p.version.clone()), p.version_info());
        }
        Ok(by_key.into_values().collect())
    }

    fn chunks(&self, document_id: &str, version: &str) -> Result<Vec<ChunkRecord>, StoreError> {
        let filter = Filter::must([keyword("version_key", &version_key(document_id, version)), keyword("status", "active")]);
        let mut records: Vec<ChunkRecord> = self.scroll_all(filter)?.into_iter().map(ChunkPayload::into_record).collect();
        records.sort_by_key(|r| r.chunk.index);
        Ok(records)
    }

    fn get(&self, chunk_id: Uuid) -> Result<Option<ChunkRecord>, StoreError> {
        let Some(point) = self.retrieve(&[chunk_id], true, None)?.into_iter().next() else { return Ok(None) };
        let payload = payload_of(point.payload)?;
        Ok((payload.status == VersionStatus::Active).then(|| payload.into_record()))
    }

    fn candidates(&self, query: VectorQuery<'_>, filter: &SearchFilter, limit: usize) -> Result<Vec<Candidate>, StoreError> {
        self.fetch_one(Fetch::Candidates { query, filter, limit })
    }

    fn score(&self, query: VectorQuery<'_>, filter: &SearchFilter, ids: &[Uuid]) -> Result<Vec<Candidate>, StoreError> {
        self.fetch_one(Fetch::Score { query, filter, ids })
    }

    /// One `query_batch` request for all of `fetches` (none when they ask for nothing).
    fn fetch(&self, fetches: &[Fetch<'_>]) -> Result<Vec<Vec<Candidate>>, StoreError> {
        let queries: Vec<Option<QueryPoints>> = fetches.iter().map(|f| self.query_points(*f)).collect();
        let sent: Vec<QueryPoints> = queries.iter().flatten().cloned().collect();
        let mut answers = Vec::new().into_iter();
        if !sent.is_empty() {
            let n = sent.len();
            let request = QueryBatchPointsBuilder::new(self.collection.clone(), sent).build();
            let found = self.call("querying points", move |c| {
                let request = request.clone();
                async move { c.query_batch(request).await }
            })?;
            if found.result.len() != n {
                return Err(StoreError::Backend(format!("querying points: {n} queries sent, {} answered", found.result.len())));
            }
            answers = found.result.into_iter();
        }
        Ok(queries
            .iter()
            .map(|q| match (q, q.as_ref().and_then(|_| answers.next())) {
                (Some(_), Some(batch)) => {
                    batch.result.into_iter().filter_map(|p| Some(Candidate { chunk_id: chunk_id(p.id)?, score: p.score })).collect()
                }
                _ => vec![],
            })
            .collect())
    }

    fn sparse_vectors(&self, ids: &[Uuid], vector: SparseVector) -> Result<Vec<(Uuid, SparseTerms)>, StoreError> {
        let name = sparse_name(vector);
        Ok(self
            .retrieve(ids, false, Some(name))?
            .into_iter()
            .filter_map(|p| {
                let OutputVector::Sparse(v) = p.vectors.as_ref()?.get_vector_by_name(name)? else { return None };
                Some((chunk_id(p.id)?, SparseTerms { indices: v.indices, values: v.values }))
            })
            .collect())
    }

    fn records(&self, ids: &[Uuid]) -> Result<Vec<ChunkRecord>, StoreError> {
        self.retrieve(ids, true, None)?.into_iter().map(|p| Ok(payload_of(p.payload)?.into_record())).collect()
    }

    fn bm25(&self) -> Bm25Params {
        self.bm25
    }

    fn count(&self) -> Result<usize, StoreError> {
        self.count_matching(None)
    }

    fn flush(&self) -> Result<(), StoreError> {
        // Every write waited until the server applied it (and wrote its WAL).
        Ok(())
    }

    fn health(&self) -> StoreHealth {
        let health = StoreHealth::from_count(StoreBackend::Qdrant, self.count());
        if !health.reachable {
            return health;
        }
        match self.shards() {
            Ok(shards) => health.with_shards(shards),
            // It counts, but cannot say where its shards are: not to be relied on.
            Err(e) => StoreHealth { status: HealthStatus::Unavailable, error: Some(e.to_string()), ..health },
        }
    }
}

/// The 3-node Qdrant cluster the remote-store tests also run on:
/// `REAGENT_TEST_QDRANT_CLUSTER_URL` (node 1's gRPC URL; scripts/test.sh starts the
/// cluster with `scripts/qdrant.sh cluster start`); `None`, after saying that the caller
/// skips, when it is not set.
pub fn test_cluster_url() -> Option<String> {
    let url = std::env::var("REAGENT_TEST_QDRANT_CLUSTER_URL").ok().filter(|v| !v.is_empty());
    if url.is_none() {
        eprintln!("skipped on a cluster: no Qdrant cluster (set REAGENT_TEST_QDRANT_CLUSTER_URL, or run scripts/qdrant.sh cluster start)");
    }
    url
}

/// The Qdrant server the remote-store tests use: `REAGENT_TEST_QDRANT_URL` (set by
/// scripts/test.sh, which starts one node) or `QDRANT_URL`; `None`, after saying that the
/// caller skips, when neither is set.
pub fn test_server_url() -> Option<String> {
    let url = ["REAGENT_TEST_QDRANT_URL", "QDRANT_URL"].iter().find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
    if url.is_none() {
        eprintln!("skipped: no Qdrant server (set REAGENT_TEST_QDRANT_URL or QDRANT_URL, or run scripts/qdrant.sh start)");
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lexical::Lexical;
    use crate::store::edge::tests::{TEXTS, three_chunks};
    use crate::store::EdgeStore;

    /// A fresh collection on the test server, deleted when dropped.
    struct Fresh(RemoteStore);

    impl Drop for Fresh {
        fn drop(&mut self) {
            if let Err(e) = self.0.drop_collection() {
                eprintln!("leaving test collection {}: {e}", self.0.collection);
            }
        }
    }

    fn settings(url: &str) -> StoreSettings {
        StoreSettings {
            backend: super::super::StoreBackend::Qdrant,
            url: url.to_string(),
            collection: format!("reagent_test_{}", Uuid::new_v4().simple()),
            ..Default::default()
        }
    }

    /// What a query returns, scores rounded so that float noise does not differ.
    fn answers(store: &dyn ChunkStore, filter: &SearchFilter) -> Vec<Vec<(Uuid, i64)>> {
        let query = Lexical::new(StoreSettings::default().bm25()).query("cash transaction report sanctions list");
        let all = [Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3)];
        let queries = [
            VectorQuery::Dense(&[1.0, 0.5, 0.0]),
            VectorQuery::Sparse(SparseVector::Terms, &query.terms),
            VectorQuery::Sparse(SparseVector::Pairs, &query.pairs),
        ];
        let round = |c: Vec<Candidate>| c.into_iter().map(|c| (c.chunk_id, (c.score * 1e4).round() as i64)).collect();
        queries
            .iter()
            .flat_map(|q| [round(store.candidates(*q, filter, 3).unwrap()), round(store.score(*q, filter, &all).unwrap())])
            .collect()
    }

    fn listing(store: &dyn ChunkStore) -> Vec<(String, String, VersionStatus, usize, Option<NaiveDate>)> {
        store
            .versions(None)
            .unwrap()
            .into_iter()
            .map(|v| (v.meta.document_id, v.meta.version, v.status, v.chunk_count, v.meta.effective_to))
            .collect()
    }

    #[test]
    fn the_remote_store_answers_as_the_embedded_one_does() {
        let Some(url) = test_server_url() else { return };
        let remote = Fresh(RemoteStore::open(&settings(&url), 3, &ModelFingerprint::of_id("m")).unwrap());
        let health = remote.0.health();
        assert_eq!((health.status, health.chunks, health.backend), (HealthStatus::Ok, Some(0), StoreBackend::Qdrant), "{health:?}");
        answers_as_the_embedded_store(&remote.0, true);
    }

    #[test]
    fn a_collection_on_three_shards_with_two_replicas_answers_as_the_embedded_store() {
        let Some(url) = test_cluster_url() else { return };
        let s = StoreSettings { shard_number: 3, replication_factor: 2, ..settings(&url) };
        let remote = Fresh(RemoteStore::open(&s, 3, &ModelFingerprint::of_id("m")).unwrap());
        let health = remote.0.health();
        assert_eq!(health.status, HealthStatus::Ok, "{health:?}");
        assert_eq!(health.shards.iter().map(|s| s.shard_id).collect::<Vec<_>>(), [0, 1, 2], "{health:?}");
        for shard in &health.shards {
            assert_eq!(shard.replicas.len(), 2, "{shard:?}");
            assert!(shard.replicas.iter().all(ReplicaHealth::active), "{shard:?}");
            assert_ne!(shard.replicas[0].peer_id, shard.replicas[1].peer_id, "two copies on one peer: {shard:?}");
        }
        // Each shard weighs BM25 with its own IDF: the sparse queries find the same chunks,
        // scored differently.
        answers_as_the_embedded_store(&remote.0, false);
    }

    /// The store suite: `remote` (empty) and a fresh embedded store given the same
    /// writes answer every query, filter and listing alike (the sparse queries' scores
    /// and order only if `same_idf`).
    fn answers_as_the_embedded_store(remote: &RemoteStore, same_idf: bool) {
        let dir = tempfile::tempdir().unwrap();
        let model = ModelFingerprint::of_id("m");
        let edge = EdgeStore::open(&StoreSettings { data_dir: dir.path().into(), ..Default::default() }, 3, &model).unwrap();
        let stores: [&dyn ChunkStore; 2] = [&edge, remote];
        let chunks = three_chunks();
        let any = SearchFilter::default();
        for store in stores {
            store.write_pending(&chunks).unwrap();
            assert_eq!(store.count().unwrap(), 3);
            assert!(answers(store, &any).iter().all(Vec::is_empty), "a pending version is invisible");
            assert_eq!(store.get(chunks[0].id).unwrap(), None, "a pending chunk is not served");
            assert!(store.chunks("cash", "v1").unwrap().is_empty());
            assert_eq!(listing(store), [("cash".into(), "v1".into(), VersionStatus::Pending, 3, None)]);
            store.activate("cash", "v1").unwrap();
        }
        let comparable = |mut answers: Vec<Vec<(Uuid, i64)>>| {
            if !same_idf {
                // `answers` lists the dense query's results first, then the sparse ones'.
                for sparse in &mut answers[2..] {
                    sparse.iter_mut().for_each(|c| c.1 = 0);
                    sparse.sort();
                }
            }
            answers
        };
        let both = |f: &dyn Fn(&dyn ChunkStore) -> Vec<Vec<(Uuid, i64)>>| {
            let (e, r) = (f(&edge), f(remote));
            assert_eq!(comparable(e.clone()), comparable(r), "the embedded and the remote store differ");
            e
        };
        let all = both(&|s| answers(s, &any));
        assert_eq!(all[0].iter().map(|c| c.0).collect::<Vec<_>>(), [chunks[0].id, chunks[1].id, chunks[2].id]);
        assert!(!all[2].is_empty(), "a sparse query finds the chunks sharing its terms");
        let in_force = SearchFilter { as_of: "2024-06-01".parse().ok(), jurisdictions: vec!["US".into()], ..Default::default() };
        assert_eq!(both(&|s| answers(s, &in_force)), all);
        // A batch answers each of its queries exactly as the query alone, in one request.
        let query = Lexical::new(StoreSettings::default().bm25()).query("cash transaction report sanctions list");
        let (dense, terms) = (VectorQuery::Dense(&[0.2, 1.0, 0.1]), VectorQuery::Sparse(SparseVector::Terms, &query.terms));
        let some = [chunks[2].id, Uuid::from_u128(404), chunks[0].id];
        let fetches = [
            Fetch::Candidates { query: dense, filter: &any, limit: 3 },
            Fetch::Candidates { query: terms, filter: &in_force, limit: 2 },
            Fetch::Score { query: dense, filter: &any, ids: &some },
            Fetch::Score { query: terms, filter: &any, ids: &[] },
            Fetch::Candidates { query: dense, filter: &any, limit: 0 },
            Fetch::Score { query: VectorQuery::Sparse(SparseVector::Pairs, &query.pairs), filter: &in_force, ids: &some },
        ];
        let before = remote.requests();
        let batched = remote.fetch(&fetches).unwrap();
        assert_eq!(remote.requests() - before, 1, "one round trip for the whole batch");
        let alone = super::super::OneAtATime(remote).fetch(&fetches).unwrap();
        assert_eq!(batched, alone);
        let lengths: Vec<usize> = batched.iter().map(Vec::len).collect();
        assert_eq!([lengths[0], lengths[2], lengths[3], lengths[4]], [3, 2, 0, 0], "{batched:?}");
        for filter in [
            SearchFilter { as_of: "2023-12-31".parse().ok(), ..Default::default() },
            SearchFilter { jurisdictions: vec!["EU".into()], ..Default::default() },
            SearchFilter { document_ids: vec!["other".into()], ..Default::default() },
        ] {
            assert!(both(&|s| answers(s, &filter)).iter().all(Vec::is_empty), "{filter:?} matches nothing");
        }
        for vector in [SparseVector::Terms, SparseVector::Pairs] {
            let sorted = |s: &dyn ChunkStore| {
                let mut v = s.sparse_vectors(&[chunks[1].id, Uuid::from_u128(404)], vector).unwrap();
                v.iter_mut().for_each(|(_, t)| {
                    let mut pairs: Vec<_> = t.indices.iter().copied().zip(t.values.iter().copied()).collect();
                    pairs.sort_by_key(|p| p.0);
                    (t.indices, t.values) = pairs.into_iter().unzip();
                });
                v
            };
            assert_eq!(sorted(&edge), sorted(remote));
            assert_eq!(sorted(remote).len(), 1, "an id not stored is left out");
        }
        let ids = [chunks[2].id, Uuid::from_u128(404)];
        assert_eq!(edge.records(&ids).unwrap(), remote.records(&ids).unwrap());
        assert_eq!(remote.get(chunks[2].id).unwrap().unwrap().chunk.text, TEXTS[2]);
        assert_eq!(edge.chunks("cash", "v1").unwrap(), remote.chunks("cash", "v1").unwrap());
        assert_eq!(remote.bm25(), StoreSettings::default().bm25());

        // Closing a version: out of force from that day on.
        let close: NaiveDate = "2025-01-01".parse().unwrap();
        let later = SearchFilter { as_of: "2025-06-01".parse().ok(), ..Default::default() };
        for store in [&edge as &dyn ChunkStore, remote] {
            store.set_effective_to("cash", "v1", close).unwrap();
            assert_eq!(listing(store), [("cash".into(), "v1".into(), VersionStatus::Active, 3, Some(close))]);
        }
        assert!(both(&|s| answers(s, &later)).iter().all(Vec::is_empty));

        // A second, pending version: recover removes it and leaves the active one.
        let mut v2 = three_chunks();
        for c in &mut v2 {
            c.meta.version = "v2".into();
            c.id = Uuid::from_u128(c.id.as_u128() + 100);
        }
        for store in [&edge as &dyn ChunkStore, remote] {
            store.write_pending(&v2).unwrap();
            assert_eq!(store.recover().unwrap(), 3);
            assert_eq!(store.count().unwrap(), 3);
            assert_eq!(store.delete("cash", Some("v9")).unwrap(), 0);
            assert_eq!(store.delete("cash", None).unwrap(), 3);
            assert_eq!(store.count().unwrap(), 0);
            assert!(listing(store).is_empty());
        }
    }

    #[test]
    fn an_existing_collection_is_checked_and_never_replaced() {
        let Some(url) = test_server_url() else { return };
        let s = settings(&url);
        let model = ModelFingerprint::of_id("m");
        let first = Fresh(RemoteStore::open(&s, 3, &model).unwrap());
        first.0.write_pending(&three_chunks()).unwrap();
        let again = RemoteStore::open(&s, 3, &model).expect("reopening is idempotent");
        assert_eq!(again.count().unwrap(), 3, "reopening keeps the data");
        let other = RemoteStore::open(&s, 3, &ModelFingerprint::of_id("other")).unwrap_err();
        assert!(matches!(other, StoreError::ModelMismatch { .. }), "{other}");
        let wider = RemoteStore::open(&s, 4, &model).unwrap_err();
        assert!(matches!(wider, StoreError::ModelMismatch { stored_dimension: 3, configured_dimension: 4, .. }), "{wider}");
        // A collection reagent did not create is refused, and left alone.
        let foreign = format!("{}_foreign", s.collection);
        let name = foreign.clone();
        again
            .call("creating a foreign collection", move |c| {
                let request = CreateCollectionBuilder::new(name.clone()).vectors_config(VectorParamsBuilder::new(3, Distance::Dot)).build();
                async move { c.create_collection(request).await }
            })
            .unwrap();
        let refused = RemoteStore::open(&StoreSettings { collection: foreign.clone(), ..s.clone() }, 3, &model).unwrap_err();
        let name = foreign.clone();
        let kept = again.call("checking the foreign collection", move |c| {
            let name = name.clone();
            async move { c.collection_exists(name).await }
        });
        let name = foreign.clone();
        again
            .call("deleting the foreign collection", move |c| {
                let name = name.clone();
                async move { c.delete_collection(name).await }
            })
            .unwrap();
        assert!(matches!(&refused, StoreError::Schema { reason, .. } if reason.contains("did not create")), "{refused}");
        assert!(kept.unwrap(), "the refused collection is still there");
        assert_eq!(first.0.count().unwrap(), 3);
    }

    #[test]
    fn an_unreachable_server_is_an_error_not_a_hang_or_a_panic() {
        // Port 9 (discard) is closed on the test machines: connecting is refused at once.
        let s = StoreSettings { connect_timeout_secs: 1, timeout_secs: 1, ..settings("http://127.0.0.1:9") };
        let started = std::time::Instant::now();
        let err = RemoteStore::open(&s, 3, &ModelFingerprint::of_id("m")).unwrap_err();
        assert!(matches!(err, StoreError::Backend(ref m) if m.contains("checking the collection")), "{err}");
        // Retried with backoff (0.1 + 0.2 + 0.4 + 0.8 s), then given up.
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(1500) && took < Duration::from_secs(30), "{took:?}");
    }

    #[test]
    fn only_transient_failures_are_retried() {
        let status = |code| QdrantError::ResponseError { status: tonic::Status::new(code, "x") };
        assert!(transient(&status(tonic::Code::Unavailable)).is_some());
        assert!(transient(&status(tonic::Code::DeadlineExceeded)).is_some());
        assert!(transient(&status(tonic::Code::InvalidArgument)).is_none());
        assert!(transient(&status(tonic::Code::NotFound)).is_none());
        assert!(transient(&status(tonic::Code::Internal)).is_none(), "a server fault is not retried");
        let refused = QdrantError::ResponseError { status: tonic::Status::internal("Failed to connect to http://127.0.0.1:9/: refused") };
        assert!(transient(&refused).is_some(), "a refused connection is");
        let peer_down = "Service internal error: 1 out of 3 shards failed to apply operation. First error captured: Tonic status error: code: 'The service is currently unavailable'";
        let peer_down = QdrantError::ResponseError { status: tonic::Status::internal(peer_down) };
        assert!(transient(&peer_down).is_some(), "an unreachable peer is");
    }
}
