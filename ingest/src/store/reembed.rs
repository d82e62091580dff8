//! Owns moving a store to another embedding model (`reagent docs reembed`): every
//! stored chunk's dense vector is computed again by the new model from the chunk's
//! stored text; ids, payloads (version status included) and both BM25 vectors are kept.
//!
//! All or nothing: the new shard is built in a folder of its own beside the old one, and
//! the store switches to it by one atomic rewrite of `reagent-store.json`, which then
//! names the new folder and the new model's fingerprint. An interrupted run leaves the
//! store as it was, on the old model; the next run (or open) removes the half-built
//! folder and starts over.

use std::path::Path;
use std::time::Instant;

use qdrant_edge::{
    CountRequest, EdgeShard, PointInsertOperations, PointOperations, PointStruct, ScrollRequest, UpdateOperation,
    VectorInternal, VectorStructInternal, Vectors, WithPayloadInterface, WithVector,
};
use serde::Serialize;

use super::edge::{
    BM25, DENSE, LAYOUT, PAIRS, SHARD_DIR, StoreInfo, backend, create_payload_indexes, lock_folder, shard_config,
};
use super::payload::ChunkPayload;
use super::{StoreError, StoreSettings};
use crate::embed::Embedder;
use crate::progress::Progress;

/// Chunks read, embedded and written per step.
const BATCH: usize = 256;

/// What a re-embedding did.
#[derive(Debug, Clone, Serialize)]
pub struct ReembedReport {
    /// Model the store held before (`name:hash`).
    pub from_model: String,
    pub to_model: String,
    /// Chunks re-embedded (0 when the store was already on the configured model).
    pub chunks: usize,
    /// False when the store was already on the configured model and nothing was done.
    pub changed: bool,
    pub seconds: f64,
}

/// Re-embed the store under `settings.data_dir` with `embedder` (see the module doc).
/// Takes the store's lock, so no other process may have it open.
pub fn reembed(settings: &StoreSettings, embedder: &dyn Embedder, progress: &dyn Progress) -> Result<ReembedReport, StoreError> {
    let started = Instant::now();
    let root = &settings.data_dir;
    let open_err = |reason: String| StoreError::Open { path: root.display().to_string(), reason };
    if settings.backend != super::StoreBackend::Embedded {
        return Err(StoreError::Open {
            path: format!("{}/{}", settings.url, settings.collection),
            reason: "re-embedding works on the embedded store only; for a Qdrant collection, ingest the documents again into a new store.collection".into(),
        });
    }
    if !root.join(super::edge::STORE_INFO_FILE).is_file() {
        return Err(open_err("no store here, nothing to re-embed".into()));
    }
    let _lock = lock_folder(root)?;
    let Some(info) = StoreInfo::read(root).map_err(|e| open_err(e.to_string()))? else {
        return Err(open_err("no store here, nothing to re-embed".into()));
    };
    if info.schema != LAYOUT {
        return Err(open_err(format!(
            "store layout {} is not the current layout {LAYOUT}: open it once with the model that wrote it (or the reagent that wrote it) before re-embedding",
            info.schema
        )));
    }
    let model = embedder.fingerprint();
    let dimension = embedder.dimension();
    if info.dimension == dimension && info.written_by(&model) {
        return Ok(ReembedReport {
            from_model: info.model_id.clone(),
            to_model: model.short(),
            chunks: 0,
            changed: false,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    let io = |e: std::io::Error| open_err(e.to_string());
    let mut new_name = format!("{SHARD_DIR}-{}", &model.sha256[..12.min(model.sha256.len())]);
    if new_name == info.shard_dir {
        new_name.push_str("-b");
    }
    let new_dir = root.join(&new_name);
    if new_dir.exists() {
        std::fs::remove_dir_all(&new_dir).map_err(io)?;
    }
    std::fs::create_dir_all(&new_dir).map_err(io)?;
    let old = EdgeShard::load(&root.join(&info.shard_dir), None).map_err(backend)?;
    let new = EdgeShard::new(&new_dir, shard_config(dimension)).map_err(backend)?;
    let total = old.count(CountRequest { filter: None, exact: true }).map_err(backend)?;
    progress.start("re-embedding", total as u64);
    let mut offset = None;
    let mut chunks = 0;
    loop {
        let (records, next) = old
            .scroll(ScrollRequest {
                offset,
                limit: Some(BATCH),
                filter: None,
                with_payload: Some(WithPayloadInterface::Bool(true)),
                with_vector: WithVector::Bool(true),
                order_by: None,
            })
            .map_err(backend)?;
        let mut texts = Vec::with_capacity(records.len());
        for r in &records {
            let payload = r.payload.as_ref().ok_or_else(|| StoreError::Payload(format!("point {:?} has no payload", r.id)))?;
            texts.push(ChunkPayload::from_map(payload.0.clone())?.into_record().chunk.dense_text().to_string());
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let dense = embedder.embed(&refs).map_err(|e| StoreError::Embed(e.to_string()))?;
        let points = records
            .into_iter()
            .zip(dense)
            .map(|(r, dense)| {
                let Some(VectorStructInternal::Named(mut named)) = r.vector else {
                    return Err(StoreError::Payload(format!("point {:?} has no named vectors", r.id)));
                };
                let mut sparse = |name: &str| match named.remove(name) {
                    Some(VectorInternal::Sparse(v)) => qdrant_edge::Vector::new_sparse(v.indices, v.values).map_err(backend),
                    _ => Err(StoreError::Payload(format!("point {:?} has no {name} vector", r.id))),
                };
                let vectors = Vectors::new_named([
                    (DENSE, qdrant_edge::Vector::new_dense(dense)),
                    (BM25, sparse(BM25)?),
                    (PAIRS, sparse(PAIRS)?),
                ]);
                let payload = r.payload.map(|p| serde_json::Value::Object(p.0)).unwrap_or_default();
                Ok(PointStruct::new(r.id, vectors, payload).into())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        chunks += points.len();
        if !points.is_empty() {
            progress.advance(points.len() as u64);
            new.update(UpdateOperation::PointOperation(PointOperations::UpsertPoints(PointInsertOperations::PointsList(
                points,
            ))))
            .map_err(backend)?;
        }
        match next {
            Some(n) => offset = Some(n),
            None => break,
        }
    }
    create_payload_indexes(&new, false)?;
    new.optimize().map_err(backend)?;
    new.flush();
    drop(new);
    drop(old);
    let switched = StoreInfo {
        schema: LAYOUT,
        dimension,
        model_id: model.short(),
        model_fingerprint: Some(model.sha256.clone()),
        shard_dir: new_name.clone(),
    };
    // The commit point: from here on the store is on the new model.
    switched.write(root).map_err(io)?;
    remove_leftovers(root, &new_name);
    progress.finish();
    Ok(ReembedReport {
        from_model: info.model_id,
        to_model: model.short(),
        chunks,
        changed: true,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Remove shard folders other than `current` that a re-embedding left: the old model's
/// after a switch, or a half-built one after an interruption. Best effort (logged).
pub(super) fn remove_leftovers(root: &Path, current: &str) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let is_shard = name == SHARD_DIR || name.starts_with(&format!("{SHARD_DIR}-"));
        if is_shard && name != current && entry.path().is_dir() {
            match std::fs::remove_dir_all(entry.path()) {
                Ok(()) => tracing::info!("removed {}, left by a re-embedding", entry.path().display()),
                Err(e) => tracing::warn!("could not remove {}: {e}", entry.path().display()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::{EmbedError, ModelFingerprint};
    use crate::progress::Silent;
    use crate::lexical::Lexical;
    use crate::store::{ChunkStore, EdgeStore, SearchFilter, SparseVector, StoredChunk, VectorQuery};

    const TEXTS: [&str; 3] = [
        "Tellers count banknotes at the end of every shift.",
        "File a currency transaction report for cash over ten thousand dollars.",
        "Screen every wire transfer against the sanctions list.",
    ];

    /// A model that maps text `i` to a one-hot vector: at position `i` (model "a") or
    /// at position `2 - i` (model "b"), so the two rank differently.
    struct OneHot {
        name: &'static str,
        reversed: bool,
        dimension: usize,
    }

    impl Embedder for OneHot {
        fn dimension(&self) -> usize {
            self.dimension
        }
        fn model_id(&self) -> &str {
            self.name
        }
        fn fingerprint(&self) -> ModelFingerprint {
            ModelFingerprint::of_files(self.name, self.name.as_bytes(), &[("tokenizer.json", b"{}")])
        }
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
            Ok(texts
                .iter()
                .map(|t| {
                    let i = TEXTS.iter().position(|x| x == t).unwrap_or(0);
                    let mut v = vec![0.0; self.dimension];
                    v[if self.reversed { 2 - i } else { i }] = 1.0;
                    v
                })
                .collect())
        }
    }

    fn chunk(index: usize, model: &OneHot) -> StoredChunk {
        let dense = model.embed(&[TEXTS[index]]).unwrap().remove(0);
        super::super::migrate::tests::cash_chunk(index, TEXTS[index], dense, TEXTS.len())
    }

    fn top(store: &EdgeStore, query: VectorQuery<'_>) -> String {
        let best = store.candidates(query, &SearchFilter::default(), 1).unwrap()[0].chunk_id;
        store.records(&[best]).unwrap().remove(0).chunk.text
    }

    #[test]
    fn reembed_switches_the_whole_store_to_the_new_model() {
        let dir = tempfile::tempdir().unwrap();
        let settings = StoreSettings { data_dir: dir.path().to_path_buf(), ..Default::default() };
        let (a, b) = (OneHot { name: "a", reversed: false, dimension: 4 }, OneHot { name: "b", reversed: true, dimension: 5 });
        {
            let store = EdgeStore::open(&settings, a.dimension, &a.fingerprint()).unwrap();
            store.write_pending(&(0..3).map(|i| chunk(i, &a)).collect::<Vec<_>>()).unwrap();
            store.activate("cash", "v1").unwrap();
            assert_eq!(top(&store, VectorQuery::Dense(&[1.0, 0.0, 0.0, 0.0])), TEXTS[0]);
        }
        // Model b is refused, naming the command that re-embeds.
        let err = EdgeStore::open(&settings, b.dimension, &b.fingerprint()).err().expect("refused");
        assert!(matches!(err, StoreError::ModelMismatch { stored_dimension: 4, configured_dimension: 5, .. }), "{err}");
        assert!(err.to_string().contains("reagent docs reembed"), "{err}");

        let report = reembed(&settings, &b, &Silent).unwrap();
        assert!(report.changed);
        assert_eq!(report.chunks, 3);
        let again = reembed(&settings, &b, &Silent).unwrap();
        assert!(!again.changed, "a second run has nothing to do");

        // Only the new shard is left, and the store is now b's, with b's dimension.
        let shards: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with(SHARD_DIR))
            .collect();
        assert_eq!(shards.len(), 1, "{shards:?}");
        assert!(EdgeStore::open(&settings, a.dimension, &a.fingerprint()).is_err(), "a is refused now");
        let store = EdgeStore::open(&settings, b.dimension, &b.fingerprint()).unwrap();
        assert_eq!(store.count().unwrap(), 3);
        // Dense vectors are b's: text 0 sits at position 2 now.
        assert_eq!(top(&store, VectorQuery::Dense(&[0.0, 0.0, 1.0, 0.0, 0.0])), TEXTS[0]);
        // BM25 vectors, payloads and ids are kept; the version is still active.
        let query = Lexical::new(settings.bm25()).query("sanctions wire transfer");
        assert_eq!(top(&store, VectorQuery::Sparse(SparseVector::Terms, &query.terms)), TEXTS[2]);
        let versions = store.versions(None).unwrap();
        assert_eq!(versions.len(), 1);
        assert_eq!(versions[0].status, crate::store::VersionStatus::Active);
        assert_eq!(store.get(uuid::Uuid::from_u128(2)).unwrap().unwrap().chunk.citation.as_deref(), Some("CASH 2"));
        // New chunks go in beside the re-embedded ones.
        let mut extra = chunk(1, &b);
        extra.meta.document_id = "more".into();
        extra.id = uuid::Uuid::from_u128(99);
        store.write_pending(&[extra]).unwrap();
        assert_eq!(store.count().unwrap(), 4);
    }

    #[test]
    fn an_interrupted_reembed_leaves_the_old_store_and_its_leftovers_go() {
        let dir = tempfile::tempdir().unwrap();
        let settings = StoreSettings { data_dir: dir.path().to_path_buf(), ..Default::default() };
        let a = OneHot { name: "a", reversed: false, dimension: 4 };
        {
            let store = EdgeStore::open(&settings, 4, &a.fingerprint()).unwrap();
            store.write_pending(&[chunk(0, &a)]).unwrap();
            store.activate("cash", "v1").unwrap();
        }
        // A half-built shard of another model, as a killed run leaves it.
        std::fs::create_dir_all(dir.path().join("shard-0123456789ab/segments")).unwrap();
        let store = EdgeStore::open(&settings, 4, &a.fingerprint()).unwrap();
        assert_eq!(store.count().unwrap(), 1);
        assert!(!dir.path().join("shard-0123456789ab").exists());
    }

    #[test]
    fn stores_from_before_fingerprints_adopt_the_same_onnx_file_only() {
        let dir = tempfile::tempdir().unwrap();
        let settings = StoreSettings { data_dir: dir.path().to_path_buf(), ..Default::default() };
        let stock = ModelFingerprint::of_files("minilm", b"stock onnx", &[("tokenizer.json", b"{}")]);
        let tuned = ModelFingerprint::of_files("minilm", b"tuned onnx", &[("tokenizer.json", b"{}")]);
        drop(EdgeStore::open(&settings, 4, &stock).unwrap());
        // Rewrite the info file as the previous reagent wrote it: `folder:<onnx hash>`.
        let legacy = format!(r#"{{"schema":2,"dimension":4,"model_id":"minilm:{}"}}"#, &stock.onnx_sha256[..12]);
        let info_path = dir.path().join(super::super::edge::STORE_INFO_FILE);
        std::fs::write(&info_path, &legacy).unwrap();
        assert!(matches!(EdgeStore::open(&settings, 4, &tuned).err(), Some(StoreError::ModelMismatch { .. })));
        assert_eq!(std::fs::read_to_string(&info_path).unwrap(), legacy, "a refused open changes nothing");
        drop(EdgeStore::open(&settings, 4, &stock).unwrap());
        let info: serde_json::Value = serde_json::from_slice(&std::fs::read(&info_path).unwrap()).unwrap();
        assert_eq!(info["model_fingerprint"], stock.sha256.as_str(), "adopted on first open");
        // From now on the fingerprint decides: same ONNX file, other tokenizer bytes is another model.
        let retokenized = ModelFingerprint::of_files("minilm", b"stock onnx", &[("tokenizer.json", b"{ }")]);
        assert!(EdgeStore::open(&settings, 4, &retokenized).is_err());
    }
}
