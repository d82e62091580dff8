//! Shared set-up for integration tests: the real model (installed by
//! scripts/setup-models.sh), a store in a temporary folder, and the shared data folder.
#![allow(dead_code)]

pub mod browser;
pub mod evidence;
pub mod fake_llm;
pub mod multipart;
pub mod postgres;
pub mod qdrant;
pub mod server;
pub mod spawned;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use reagent::config::Config;
use reagent::services::Services;
use reagent_ingest::parse::MetadataDefaults;
use reagent_ingest::pipeline::{IngestOptions, IngestReport, Pipeline};
use reagent_ingest::progress::Silent;
pub use reagent_ingest::testing::{HashingEmbedder, pdf_from_objects};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/data/<rel>` (or `$REAGENT_SHARED_DATA/<rel>`) if present; otherwise
/// prints why the caller skips.
pub fn shared(rel: &str) -> Option<PathBuf> {
    let base = std::env::var_os("REAGENT_SHARED_DATA").map_or_else(|| repo().join("../shared/data"), PathBuf::from);
    let p = base.join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "skipped: {} not found (the shared data folder is not beside this checkout)",
            p.display()
        );
        None
    }
}

/// Where the setup scripts put models and caches (`REAGENT_CACHE`, else `.cache`).
pub fn cache_dir() -> PathBuf {
    std::env::var("REAGENT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join(".cache"))
}

/// Configuration pointing at the installed model and a store under `dir`.
pub fn config(dir: &Path) -> Config {
    let cache = cache_dir();
    let mut c = Config::default();
    c.embedding.model_dir = std::env::var("REAGENT_EMBEDDING_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| cache.join("models/minilm-l6-obliqa-int8"));
    c.embedding.ort_dylib_path = std::env::var("REAGENT_EMBEDDING_ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|_| cache.join("onnxruntime/libonnxruntime.so"));
    assert!(
        c.embedding.model_dir.join("model.onnx").is_file(),
        "embedding model missing at {}: run scripts/setup-models.sh (scripts/test.sh does)",
        c.embedding.model_dir.display()
    );
    c.store.data_dir = dir.join("store");
    // PDF extraction runs in a child: this test binary is not `reagent`, the built one is.
    c.ingest.extract_program = env!("CARGO_BIN_EXE_reagent").into();
    c
}

/// Which embedder a test's services use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embedding {
    /// The installed ONNX model: for tests of retrieval and citations on the real corpus,
    /// and of the model itself.
    Model,
    /// [`HashingEmbedder`]: deterministic and quick, no model loaded; for tests that do
    /// not measure what retrieval finds.
    Hashing,
}

/// Services over `config`, embedding with `embedding`.
pub fn services(config: Config, embedding: Embedding) -> Services {
    match embedding {
        Embedding::Model => Services::start(config),
        Embedding::Hashing => {
            let embedder = Arc::new(HashingEmbedder::new(config.embedding.dimension));
            Services::with_embedder(config, embedder)
        }
    }
    .expect("services start")
}

/// Services on the installed model over a store under `dir`.
pub fn start(dir: &Path) -> Services {
    services(config(dir), Embedding::Model)
}

pub fn options() -> IngestOptions {
    IngestOptions {
        replace: false,
        defaults: MetadataDefaults::default(),
        today: chrono::Utc::now().date_naive(),
        parse: reagent_ingest::parse::ParseSettings::default(),
    }
}

pub fn ingest(services: &Services, paths: &[PathBuf], options: &IngestOptions) -> IngestReport {
    let pipeline = Pipeline {
        chunker: &services.chunker,
        embedder: services.embedder.as_ref(),
        store: services.store.as_ref(),
        progress: &Silent,
    };
    pipeline.run(paths, options).expect("ingest run")
}

/// Sends `req`; its status and JSON body (a JSON string holding the text if the body is not JSON).
pub async fn send(req: reqwest::RequestBuilder) -> (u16, serde_json::Value) {
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

/// Copy a folder tree (files only).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A structurally valid one-page PDF with no text on its page.
pub fn pdf_without_text() -> Vec<u8> {
    pdf_from_objects(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << >> /Contents 4 0 R >>".to_vec(),
        b"<< /Length 0 >>\nstream\n\nendstream".to_vec(),
    ])
}
