//! Owns turning text into dense vectors: the [`Embedder`] seam and its ONNX
//! implementation (fastembed over a local model directory, ONNX Runtime loaded
//! dynamically from a configured shared library).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use fastembed::{InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel};
use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum EmbedError {
    #[error("embedding model file {path}: {source} (run scripts/setup-models.sh, or set embedding.model_dir)")]
    ModelFile { path: PathBuf, source: std::io::Error },
    #[error("ONNX Runtime library {path}: {reason} (run scripts/setup-models.sh, or set embedding.ort_dylib_path)")]
    Runtime { path: PathBuf, reason: String },
    #[error("embedding model: {0}")]
    Model(String),
    #[error("embedding model gives {actual}-dimensional vectors, config says {expected}")]
    Dimension { expected: usize, actual: usize },
}

/// Where the model lives and how to run it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedderSettings {
    /// Folder holding the ONNX file and the tokenizer files
    /// (tokenizer.json, config.json, special_tokens_map.json, tokenizer_config.json).
    pub model_dir: PathBuf,
    /// The ONNX file's name inside `model_dir`.
    pub onnx_file: String,
    /// Path of libonnxruntime.so.
    pub ort_dylib_path: PathBuf,
    /// Expected vector size; checked against the model at start-up.
    pub dimension: usize,
    /// Texts per model call.
    pub batch_size: usize,
    /// Tokens the model reads per text; longer texts are truncated.
    pub max_length: usize,
    /// Threads ONNX Runtime uses for one call (0: one per core).
    pub threads: usize,
}

impl Default for EmbedderSettings {
    fn default() -> Self {
        Self {
            model_dir: PathBuf::from(".cache/models/minilm-l6-obliqa-int8"),
            onnx_file: "model.onnx".into(),
            ort_dylib_path: PathBuf::from(".cache/onnxruntime/libonnxruntime.so"),
            dimension: 384,
            batch_size: 32,
            max_length: 256,
            threads: 0,
        }
    }
}

/// Turns texts into unit-length vectors.
pub trait Embedder: Send + Sync {
    fn dimension(&self) -> usize;
    /// Identifies the model; stored with every chunk so vectors from different models
    /// are never mixed.
    fn model_id(&self) -> &str;
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// fastembed over a local ONNX model.
pub struct OnnxEmbedder {
    model: Mutex<TextEmbedding>,
    tokenizer: tokenizers::Tokenizer,
    dimension: usize,
    batch_size: usize,
    model_id: String,
}

const TOKENIZER_FILES: [&str; 4] =
    ["tokenizer.json", "config.json", "special_tokens_map.json", "tokenizer_config.json"];

impl OnnxEmbedder {
    pub fn load(settings: &EmbedderSettings) -> Result<Self, EmbedError> {
        init_runtime(&settings.ort_dylib_path)?;
        let read = |name: &str| {
            let path = settings.model_dir.join(name);
            std::fs::read(&path).map_err(|source| EmbedError::ModelFile { path, source })
        };
        let onnx = read(&settings.onnx_file)?;
        let [tokenizer_file, config_file, special_tokens_map_file, tokenizer_config_file] =
            TOKENIZER_FILES.map(read);
        let files = TokenizerFiles {
            tokenizer_file: tokenizer_file?,
            config_file: config_file?,
            special_tokens_map_file: special_tokens_map_file?,
            tokenizer_config_file: tokenizer_config_file?,
        };
        let tokenizer = tokenizers::Tokenizer::from_bytes(&files.tokenizer_file)
            .map_err(|e| EmbedError::Model(format!("tokenizer.json: {e}")))?;
        let model_id = format!(
            "{}:{}",
            settings.model_dir.file_name().and_then(|n| n.to_str()).unwrap_or("model"),
            &crate::parse::sha256_hex(&onnx)[..12]
        );
        let mut options = InitOptionsUserDefined::new().with_max_length(settings.max_length);
        if settings.threads > 0 {
            options = options.with_intra_threads(settings.threads);
        }
        let definition = UserDefinedEmbeddingModel::new(onnx, files).with_pooling(Pooling::Mean);
        let model = TextEmbedding::try_new_from_user_defined(definition, options)
            .map_err(|e| EmbedError::Model(e.to_string()))?;
        let embedder = Self {
            model: Mutex::new(model),
            tokenizer,
            dimension: settings.dimension,
            batch_size: settings.batch_size.max(1),
            model_id,
        };
        let probe = embedder.embed(&["probe"])?;
        let actual = probe.first().map_or(0, Vec::len);
        if actual != settings.dimension {
            return Err(EmbedError::Dimension { expected: settings.dimension, actual });
        }
        Ok(embedder)
    }

    /// The model's tokenizer, for sizing chunks in the model's own tokens.
    pub fn tokenizer(&self) -> &tokenizers::Tokenizer {
        &self.tokenizer
    }
}

impl Embedder for OnnxEmbedder {
    fn dimension(&self) -> usize {
        self.dimension
    }

    fn model_id(&self) -> &str {
        &self.model_id
    }

    /// Texts are run shortest first in batches of similar length, so padding costs
    /// little; results come back in input order.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out = vec![Vec::new(); texts.len()];
        let mut model = self.model.lock().map_err(|_| EmbedError::Model("model lock poisoned".into()))?;
        for batch in order.chunks(self.batch_size) {
            let inputs: Vec<&str> = batch.iter().map(|&i| texts[i]).collect();
            let vectors = model
                .embed(&inputs, Some(inputs.len()))
                .map_err(|e| EmbedError::Model(e.to_string()))?;
            for (&i, mut v) in batch.iter().zip(vectors) {
                normalize(&mut v);
                out[i] = v;
            }
        }
        Ok(out)
    }
}

fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// ONNX Runtime is loaded once per process; later calls must name the same library.
fn init_runtime(path: &Path) -> Result<(), EmbedError> {
    static LOADED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let loaded = LOADED.get_or_init(|| {
        let canonical = path.canonicalize().map_err(|e| e.to_string())?;
        // Loading the library is what matters; sessions create the environment on demand.
        drop(ort::init_from(&canonical).map_err(|e| e.to_string())?);
        Ok(canonical)
    });
    match loaded {
        Ok(_) => Ok(()),
        Err(reason) => Err(EmbedError::Runtime { path: path.to_path_buf(), reason: reason.clone() }),
    }
}
