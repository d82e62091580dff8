//! Owns the evaluation index: the corpus ingested through the production pipeline
//! (parse → chunk → embed → store) into the configured store — an [`EdgeStore`] in the
//! cache, or with `store.backend = "qdrant"` a collection of its own on that server —
//! cached in a folder keyed by
//! everything that shapes it (corpus hash, the model's fingerprint — a hash over the ONNX
//! file and the tokenizer files, not the folder's name —, chunking, embedding length,
//! BM25 settings), so repeated runs reuse it and another model builds its own.
//!
//! Passage vectors are also kept in an embedding cache keyed by model fingerprint and text, so a
//! rebuild that only changes BM25 settings does not embed the corpus again. Only index
//! building reads that cache; queries are always embedded by the model, live.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use reagent_ingest::embed::{EmbedError, ModelFingerprint};
use reagent_ingest::parse::MetadataDefaults;
use reagent_ingest::pipeline::{IngestOptions, Pipeline};
use reagent_ingest::progress::Progress;
use reagent_ingest::store::StoreBackend;
use reagent_ingest::{ChunkStore, Chunker, ChunkerSettings, DocumentType, EdgeStore, Embedder, RemoteStore, StoreSettings};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::EvalError;
use crate::dataset::{Dataset, hex};

/// Bumped when what the pipeline indexes changes (2: dense vectors of the chunk text alone;
/// 3: store layout 2, BM25 over term pairs; 4: keyed on the model fingerprint).
const INDEX_SCHEMA: u32 = 4;
const INFO_FILE: &str = "index.json";

/// What shapes the index besides the corpus.
#[derive(Debug, Clone, Serialize)]
pub struct IndexSettings {
    pub chunking: ChunkerSettings,
    /// `data_dir` is ignored: the index lives in the cache.
    pub store: StoreSettings,
    /// Tokens the embedding model reads per text.
    pub embedding_max_length: usize,
}

/// How an index was built; saved beside it and copied into reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexInfo {
    pub key: String,
    pub dir: String,
    pub corpus_hash: String,
    pub model_id: String,
    pub chunks: usize,
    pub passages: usize,
    pub files_failed: usize,
    /// Wall time of the build: pipeline (parse, chunk, embed, store) + optimize.
    pub build_seconds: f64,
    /// Part of `build_seconds` spent embedding (cache look-ups included).
    pub embedding_seconds: f64,
    pub optimize_seconds: f64,
    /// Passage vectors taken from the embedding cache / computed by the model.
    pub embeddings_cached: usize,
    pub embeddings_computed: usize,
    pub built_at: String,
    pub settings: serde_json::Value,
    /// False when this run built the index, true when it reused a cached one.
    #[serde(default)]
    pub reused: bool,
}

pub struct Index {
    pub store: Box<dyn ChunkStore>,
    pub info: IndexInfo,
}

/// The cache key: a hash over the corpus, the model's fingerprint and everything in
/// `settings` but the folder.
pub fn index_key(dataset: &Dataset, model: &ModelFingerprint, settings: &IndexSettings) -> String {
    let mut shape = serde_json::to_value(settings).unwrap_or_default();
    if let Some(store) = shape.get_mut("store").and_then(|s| s.as_object_mut()) {
        // Only the BM25 weights shape the index; the folder and the remote backend's
        // connection settings do not.
        store.retain(|k, _| k.starts_with("bm25_"));
    }
    let key = serde_json::json!({
        "schema": INDEX_SCHEMA,
        "corpus": dataset.corpus_hash,
        "layout": dataset.layout,
        "model": model.sha256,
        "settings": shape,
    });
    hex(&Sha256::digest(key.to_string().as_bytes()))[..16].to_string()
}

/// Open the cached index for `dataset`, or build it (always, with `rebuild`).
pub fn open_or_build(
    dataset: &Dataset,
    cache_root: &Path,
    embedder: &dyn Embedder,
    chunker: &Chunker,
    settings: &IndexSettings,
    rebuild: bool,
    progress: &dyn Progress,
) -> Result<Index, EvalError> {
    let key = index_key(dataset, &embedder.fingerprint(), settings);
    // A remote index keeps its info file in a folder of its own; its chunks live in a
    // collection named after the key.
    let remote = settings.store.backend == StoreBackend::Qdrant;
    let dir = cache_root.join(format!("{}-{key}{}", dataset.layout, if remote { "-qdrant" } else { "" }));
    let store_settings = StoreSettings {
        data_dir: dir.join("store"),
        collection: format!("reagent_eval_{}_{key}", dataset.layout),
        ..settings.store.clone()
    };
    let open = || -> Result<Box<dyn ChunkStore>, EvalError> {
        let (dimension, model) = (embedder.dimension(), embedder.fingerprint());
        Ok(if remote {
            Box::new(RemoteStore::open(&store_settings, dimension, &model)?)
        } else {
            Box::new(EdgeStore::open(&store_settings, dimension, &model)?)
        })
    };
    let info_path = dir.join(INFO_FILE);
    if !rebuild && let Ok(bytes) = std::fs::read(&info_path) {
        if let Ok(mut info) = serde_json::from_slice::<IndexInfo>(&bytes) {
            let store = open()?;
            if store.count()? == info.chunks {
                info.reused = true;
                tracing::info!("reusing the evaluation index in {}", dir.display());
                return Ok(Index { store, info });
            }
            tracing::warn!("cached index in {} is incomplete; rebuilding", dir.display());
        }
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| EvalError::Io { path: dir.display().to_string(), reason: e.to_string() })?;
    }
    if remote {
        // The evaluation's own collection is a cache: rebuilding starts it afresh.
        RemoteStore::connect(&store_settings)?.drop_collection()?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| EvalError::Io { path: dir.display().to_string(), reason: e.to_string() })?;
    let started = Instant::now();
    let store = open()?;
    let files = dataset.passage_files(&dir.join("corpus"))?;
    let cache = EmbeddingCache::open(cache_root, embedder, settings.embedding_max_length)?;
    let options = IngestOptions {
        replace: false,
        defaults: MetadataDefaults {
            document_type: Some(DocumentType::Regulation),
            jurisdiction: Some(if dataset.layout == "obliqa" { "AE-ADGM" } else { "EVAL" }.into()),
            issuer: Some(if dataset.layout == "obliqa" { "FSRA" } else { "eval" }.into()),
            ..Default::default()
        },
        today: chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default(),
        parse: reagent_ingest::parse::ParseSettings {
            max_file_bytes: 1 << 30,
            ..Default::default()
        },
    };
    let pipeline = Pipeline { chunker, embedder: &cache, store: store.as_ref(), progress };
    let report = pipeline.run(&files, &options)?;
    let optimize = Instant::now();
    store.optimize()?;
    let optimize_seconds = optimize.elapsed().as_secs_f64();
    cache.save()?;
    let chunks = store.count()?;
    let info = IndexInfo {
        key,
        dir: dir.display().to_string(),
        corpus_hash: dataset.corpus_hash.clone(),
        model_id: embedder.model_id().to_string(),
        chunks,
        passages: dataset.corpus_passages,
        files_failed: report.failed(),
        build_seconds: started.elapsed().as_secs_f64(),
        embedding_seconds: report.seconds_embedding,
        optimize_seconds,
        embeddings_cached: cache.hits.load(Ordering::Relaxed),
        embeddings_computed: cache.misses.load(Ordering::Relaxed),
        built_at: chrono::Utc::now().to_rfc3339(),
        settings: serde_json::to_value(settings).unwrap_or_default(),
        reused: false,
    };
    if report.failed() > 0 {
        for f in &report.files {
            if let reagent_ingest::pipeline::Outcome::Failed { reason } = &f.outcome {
                tracing::warn!("{}: {reason}", f.path);
            }
        }
    }
    let bytes = serde_json::to_vec_pretty(&info).map_err(|e| EvalError::Io { path: info_path.display().to_string(), reason: e.to_string() })?;
    std::fs::write(&info_path, bytes).map_err(|e| EvalError::Io { path: info_path.display().to_string(), reason: e.to_string() })?;
    Ok(Index { store, info })
}

/// Passage vectors by (model, max length, text), on disk in `cache_root/embeddings/`.
pub struct EmbeddingCache<'a> {
    inner: &'a dyn Embedder,
    path: PathBuf,
    vectors: Mutex<HashMap<[u8; 32], Vec<f32>>>,
    /// Vectors computed in this process, to append on save.
    fresh: Mutex<Vec<[u8; 32]>>,
    pub hits: AtomicUsize,
    pub misses: AtomicUsize,
}

const MAGIC: &[u8; 8] = b"REAGEMB1";

impl<'a> EmbeddingCache<'a> {
    pub fn open(cache_root: &Path, inner: &'a dyn Embedder, max_length: usize) -> Result<Self, EvalError> {
        let name = hex(&Sha256::digest(format!("{}|{max_length}", inner.fingerprint().sha256).as_bytes()))[..16].to_string();
        let path = cache_root.join("embeddings").join(format!("{name}.bin"));
        let mut vectors = HashMap::new();
        if let Ok(mut f) = std::fs::File::open(&path) {
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes).map_err(|e| EvalError::Io { path: path.display().to_string(), reason: e.to_string() })?;
            let dim = inner.dimension();
            let record = 32 + 4 * dim;
            if bytes.len() >= 12 && &bytes[..8] == MAGIC && u32::from_le_bytes(bytes[8..12].try_into().unwrap_or_default()) as usize == dim {
                // A torn last record (interrupted save) is ignored.
                for r in bytes[12..].chunks_exact(record) {
                    let key: [u8; 32] = r[..32].try_into().unwrap_or_default();
                    let v = r[32..].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap_or_default())).collect();
                    vectors.insert(key, v);
                }
            }
        }
        Ok(Self { inner, path, vectors: Mutex::new(vectors), fresh: Mutex::new(Vec::new()), hits: AtomicUsize::new(0), misses: AtomicUsize::new(0) })
    }

    fn key(text: &str) -> [u8; 32] {
        Sha256::digest(text.as_bytes()).into()
    }

    /// Append the vectors computed since opening.
    pub fn save(&self) -> Result<(), EvalError> {
        let fresh = std::mem::take(&mut *self.fresh.lock().unwrap_or_else(|p| p.into_inner()));
        if fresh.is_empty() {
            return Ok(());
        }
        let io = |e: std::io::Error| EvalError::Io { path: self.path.display().to_string(), reason: e.to_string() };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let new_file = !self.path.exists();
        let mut f = std::io::BufWriter::new(std::fs::File::options().create(true).append(true).open(&self.path).map_err(io)?);
        if new_file {
            f.write_all(MAGIC).map_err(io)?;
            f.write_all(&(self.inner.dimension() as u32).to_le_bytes()).map_err(io)?;
        }
        let vectors = self.vectors.lock().unwrap_or_else(|p| p.into_inner());
        for key in fresh {
            if let Some(v) = vectors.get(&key) {
                f.write_all(&key).map_err(io)?;
                for x in v {
                    f.write_all(&x.to_le_bytes()).map_err(io)?;
                }
            }
        }
        f.flush().map_err(io)
    }
}

impl Embedder for EmbeddingCache<'_> {
    fn dimension(&self) -> usize {
        self.inner.dimension()
    }

    fn model_id(&self) -> &str {
        self.inner.model_id()
    }

    fn fingerprint(&self) -> ModelFingerprint {
        self.inner.fingerprint()
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let keys: Vec<[u8; 32]> = texts.iter().map(|t| Self::key(t)).collect();
        let mut out: Vec<Option<Vec<f32>>> = {
            let vectors = self.vectors.lock().unwrap_or_else(|p| p.into_inner());
            keys.iter().map(|k| vectors.get(k).cloned()).collect()
        };
        let missing: Vec<usize> = (0..texts.len()).filter(|&i| out[i].is_none()).collect();
        self.hits.fetch_add(texts.len() - missing.len(), Ordering::Relaxed);
        self.misses.fetch_add(missing.len(), Ordering::Relaxed);
        if !missing.is_empty() {
            let computed = self.inner.embed(&missing.iter().map(|&i| texts[i]).collect::<Vec<_>>())?;
            let mut vectors = self.vectors.lock().unwrap_or_else(|p| p.into_inner());
            let mut fresh = self.fresh.lock().unwrap_or_else(|p| p.into_inner());
            for (&i, v) in missing.iter().zip(computed) {
                if vectors.insert(keys[i], v.clone()).is_none() {
                    fresh.push(keys[i]);
                }
                out[i] = Some(v);
            }
        }
        Ok(out.into_iter().map(Option::unwrap_or_default).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counting(AtomicUsize);
    impl Embedder for Counting {
        fn dimension(&self) -> usize {
            2
        }
        fn model_id(&self) -> &str {
            "counting"
        }
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
            self.0.fetch_add(texts.len(), Ordering::Relaxed);
            Ok(texts.iter().map(|t| vec![t.len() as f32, 1.0]).collect())
        }
    }

    #[test]
    fn embedding_cache_survives_a_reopen_and_skips_the_model() {
        let dir = tempfile::tempdir().unwrap();
        let model = Counting(AtomicUsize::new(0));
        let cache = EmbeddingCache::open(dir.path(), &model, 256).unwrap();
        assert_eq!(cache.embed(&["a", "bbb", "a"]).unwrap(), vec![vec![1.0, 1.0], vec![3.0, 1.0], vec![1.0, 1.0]]);
        cache.save().unwrap();
        let again = EmbeddingCache::open(dir.path(), &model, 256).unwrap();
        let before = model.0.load(Ordering::Relaxed);
        assert_eq!(again.embed(&["bbb", "cc"]).unwrap(), vec![vec![3.0, 1.0], vec![2.0, 1.0]]);
        assert_eq!(model.0.load(Ordering::Relaxed) - before, 1, "only the new text is embedded");
        assert_eq!(again.hits.load(Ordering::Relaxed), 1);
        // Another max length is another cache.
        let other = EmbeddingCache::open(dir.path(), &model, 128).unwrap();
        other.embed(&["bbb"]).unwrap();
        assert_eq!(other.misses.load(Ordering::Relaxed), 1);
    }

    /// A model whose fingerprint is made of given file bytes, as `OnnxEmbedder` makes it.
    struct Files(ModelFingerprint);
    impl Embedder for Files {
        fn dimension(&self) -> usize {
            2
        }
        fn model_id(&self) -> &str {
            &self.0.name
        }
        fn fingerprint(&self) -> ModelFingerprint {
            self.0.clone()
        }
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
            Ok(texts.iter().map(|_| vec![1.0, 0.0]).collect())
        }
    }

    fn dataset() -> Dataset {
        Dataset {
            layout: "obliqa".into(),
            sources: Default::default(),
            corpus: crate::dataset::CorpusSource::PassageFiles(Vec::new()),
            corpus_hash: "c0ffee".into(),
            corpus_passages: 0,
            queries: Vec::new(),
            qrels: Default::default(),
        }
    }

    #[test]
    fn index_and_vectors_key_on_model_and_tokenizer_bytes() {
        let settings = IndexSettings { chunking: Default::default(), store: Default::default(), embedding_max_length: 256 };
        let stock = ModelFingerprint::of_files("minilm", b"onnx", &[("tokenizer.json", b"{}")]);
        let key = |m: &ModelFingerprint| index_key(&dataset(), m, &settings);
        // Same bytes in another folder: the same index.
        assert_eq!(key(&stock), key(&ModelFingerprint::of_files("copy-of-minilm", b"onnx", &[("tokenizer.json", b"{}")])));
        // Another ONNX file, or the same ONNX file with another tokenizer: another index.
        assert_ne!(key(&stock), key(&ModelFingerprint::of_files("minilm", b"tuned", &[("tokenizer.json", b"{}")])));
        assert_ne!(key(&stock), key(&ModelFingerprint::of_files("minilm", b"onnx", &[("tokenizer.json", b"{\"x\":1}")])));

        // Passage vectors of one model are not served to another.
        let dir = tempfile::tempdir().unwrap();
        let a = Files(stock.clone());
        let cache = EmbeddingCache::open(dir.path(), &a, 256).unwrap();
        cache.embed(&["text"]).unwrap();
        cache.save().unwrap();
        let b = Files(ModelFingerprint::of_files("minilm", b"onnx", &[("tokenizer.json", b"{\"x\":1}")]));
        let other = EmbeddingCache::open(dir.path(), &b, 256).unwrap();
        other.embed(&["text"]).unwrap();
        assert_eq!((other.hits.load(Ordering::Relaxed), other.misses.load(Ordering::Relaxed)), (0, 1));
        let a_again = Files(stock);
        let same = EmbeddingCache::open(dir.path(), &a_again, 256).unwrap();
        same.embed(&["text"]).unwrap();
        assert_eq!(same.hits.load(Ordering::Relaxed), 1);
    }
}
