//! Owns turning text into dense vectors: the [`Embedder`] seam and its ONNX
//! implementation (fastembed over a local model directory, ONNX Runtime loaded
//! dynamically from a configured shared library), the model's [`ModelFingerprint`]
//! (which vectors may share a store or a cache), and how texts are batched so that
//! ONNX Runtime's memory stays bounded.

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
    /// Texts per model call. Default 1: on 2 CPU cores one text per call embedded 2-3x
    /// more passages/s than batches of 32 with a third of the memory (no padding), and a
    /// model that quantizes its activations per call (the default one) then gives a text
    /// the same vector whatever else is ingested with it, as at query time.
    pub batch_size: usize,
    /// Tokens the model reads per text; longer texts are truncated.
    pub max_length: usize,
    /// Threads ONNX Runtime uses for one call (0: one per core).
    pub threads: usize,
    /// Most padded tokens (texts × longest text) in one model call; batches of long
    /// texts are cut smaller. Bounds ONNX Runtime's working memory (attention grows with
    /// texts × tokens²). At least `max_length`.
    #[serde(default = "default_max_batch_tokens")]
    pub max_batch_tokens: usize,
    /// Keep ONNX Runtime's CPU memory arena. The arena never returns memory, so with
    /// varying batch shapes it grows past the largest batch seen; off, a call's buffers
    /// go back to the allocator after it.
    #[serde(default)]
    pub memory_arena: bool,
}

fn default_max_batch_tokens() -> usize {
    2048
}

impl Default for EmbedderSettings {
    fn default() -> Self {
        Self {
            model_dir: PathBuf::from(".cache/models/minilm-l6-obliqa-int8"),
            onnx_file: "model.onnx".into(),
            ort_dylib_path: PathBuf::from(".cache/onnxruntime/libonnxruntime.so"),
            dimension: 384,
            batch_size: 1,
            max_length: 256,
            threads: 0,
            max_batch_tokens: default_max_batch_tokens(),
            memory_arena: false,
        }
    }
}

/// Which model made a vector. Vectors of two fingerprints are never compared: a store
/// records the fingerprint of the model that wrote it, and caches key on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelFingerprint {
    /// Readable name (the model folder's name); not part of the identity.
    pub name: String,
    /// SHA-256 (hex) over the ONNX file, the tokenizer files and the pooling: everything
    /// that decides the vector of a text.
    pub sha256: String,
    /// SHA-256 (hex) of the ONNX file alone: how stores written before fingerprints
    /// existed named their model (`name:<first 12 hex digits>`).
    pub onnx_sha256: String,
}

impl ModelFingerprint {
    /// The fingerprint of model files: the ONNX bytes and `(file name, bytes)` of each
    /// tokenizer file, in a fixed order.
    pub fn of_files(name: &str, onnx: &[u8], tokenizer_files: &[(&str, &[u8])]) -> Self {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        hash.update(b"reagent-model-fingerprint-1\0pooling=mean,normalized\0");
        for (part, bytes) in std::iter::once(("model.onnx", onnx)).chain(tokenizer_files.iter().copied()) {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part.as_bytes());
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        }
        let digest = hash.finalize();
        Self {
            name: name.to_string(),
            sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
            onnx_sha256: crate::parse::sha256_hex(onnx),
        }
    }

    /// A fingerprint for embedders without model files (tests, fakes): derived from the id.
    pub fn of_id(model_id: &str) -> Self {
        let hex = crate::parse::sha256_hex(model_id.as_bytes());
        Self { name: model_id.to_string(), sha256: hex.clone(), onnx_sha256: hex }
    }

    /// `name:<first 12 hex digits>`, as logs and reports show it.
    pub fn short(&self) -> String {
        format!("{}:{}", self.name, &self.sha256[..12.min(self.sha256.len())])
    }
}

/// Turns texts into unit-length vectors.
pub trait Embedder: Send + Sync {
    fn dimension(&self) -> usize;
    /// Identifies the model (`name:hash`, the hash covering model and tokenizer files);
    /// caches key on it.
    fn model_id(&self) -> &str;
    /// The model's fingerprint, recorded by the store so vectors from different models
    /// are never mixed. Embedders without model files derive it from `model_id`.
    fn fingerprint(&self) -> ModelFingerprint {
        ModelFingerprint::of_id(self.model_id())
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// fastembed over a local ONNX model.
pub struct OnnxEmbedder {
    model: Mutex<TextEmbedding>,
    tokenizer: tokenizers::Tokenizer,
    dimension: usize,
    batch_size: usize,
    max_length: usize,
    max_batch_tokens: usize,
    model_id: String,
    fingerprint: ModelFingerprint,
}

const TOKENIZER_FILES: [&str; 4] =
    ["tokenizer.json", "config.json", "special_tokens_map.json", "tokenizer_config.json"];

/// The model's tokenizer alone (`tokenizer.json` in `model_dir`), without loading the
/// model: sizes chunks where another embedder stands in for the model (tests).
pub fn load_tokenizer(settings: &EmbedderSettings) -> Result<tokenizers::Tokenizer, EmbedError> {
    let path = settings.model_dir.join(TOKENIZER_FILES[0]);
    let bytes = std::fs::read(&path).map_err(|source| EmbedError::ModelFile { path, source })?;
    tokenizers::Tokenizer::from_bytes(&bytes).map_err(|e| EmbedError::Model(format!("tokenizer.json: {e}")))
}

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
        let name = settings.model_dir.file_name().and_then(|n| n.to_str()).unwrap_or("model");
        let fingerprint = ModelFingerprint::of_files(
            name,
            &onnx,
            &[
                (TOKENIZER_FILES[0], &files.tokenizer_file),
                (TOKENIZER_FILES[1], &files.config_file),
                (TOKENIZER_FILES[2], &files.special_tokens_map_file),
                (TOKENIZER_FILES[3], &files.tokenizer_config_file),
            ],
        );
        let model_id = fingerprint.short();
        let mut options = InitOptionsUserDefined::new().with_max_length(settings.max_length);
        if settings.threads > 0 {
            options = options.with_intra_threads(settings.threads);
        }
        // The arena is a property of the CPU execution provider's registration.
        options.execution_providers =
            vec![ort::ep::CPU::default().with_arena_allocator(settings.memory_arena).build()];
        let definition = UserDefinedEmbeddingModel::new(onnx, files).with_pooling(Pooling::Mean);
        let model = TextEmbedding::try_new_from_user_defined(definition, options)
            .map_err(|e| EmbedError::Model(e.to_string()))?;
        let embedder = Self {
            model: Mutex::new(model),
            tokenizer,
            dimension: settings.dimension,
            batch_size: settings.batch_size.max(1),
            max_length: settings.max_length.max(1),
            max_batch_tokens: settings.max_batch_tokens.max(settings.max_length).max(1),
            model_id,
            fingerprint,
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

    fn fingerprint(&self) -> ModelFingerprint {
        self.fingerprint.clone()
    }

    /// Texts are run shortest first (in tokens) in batches of similar length, so padding
    /// costs little, and each batch holds at most `batch_size` texts and
    /// `max_batch_tokens` padded tokens; results come back in input order.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let tokens: Vec<usize> = texts.iter().map(|t| self.token_count(t)).collect();
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| (tokens[i], texts[i].len()));
        let mut out = vec![Vec::new(); texts.len()];
        let mut model = self.model.lock().map_err(|_| EmbedError::Model("model lock poisoned".into()))?;
        for batch in batches(&order, &tokens, self.batch_size, self.max_batch_tokens) {
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

impl OnnxEmbedder {
    /// Tokens the model will read for `text` (special tokens included, truncated as the
    /// model truncates).
    fn token_count(&self, text: &str) -> usize {
        self.tokenizer.encode_fast(text, true).map_or(self.max_length, |e| e.len()).min(self.max_length)
    }
}

/// Cut `order` (sorted by ascending token count) into consecutive batches of at most
/// `max_texts` texts whose padded size (texts × tokens of the longest, which is the last)
/// stays within `max_tokens`; a single text is always a batch of its own.
fn batches<'a>(order: &'a [usize], tokens: &[usize], max_texts: usize, max_tokens: usize) -> Vec<&'a [usize]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && end - start < max_texts && (end + 1 - start) * tokens[order[end]] <= max_tokens {
            end += 1;
        }
        out.push(&order[start..end]);
        start = end;
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_both_caps_and_keep_order() {
        // Token counts of texts 0..8, already sorted ascending through `order`.
        let tokens = [10, 10, 20, 30, 100, 200, 256, 256];
        let order: Vec<usize> = (0..tokens.len()).collect();
        let cut = batches(&order, &tokens, 3, 300);
        assert_eq!(cut, vec![&[0, 1, 2][..], &[3, 4][..], &[5][..], &[6][..], &[7][..]]);
        for b in &cut {
            let longest = b.iter().map(|&i| tokens[i]).max().unwrap();
            assert!(b.len() == 1 || b.len() * longest <= 300);
            assert!(b.len() <= 3);
        }
        let flat: Vec<usize> = cut.concat();
        assert_eq!(flat, order, "every text once, in order");
        // No token cap to speak of: only the text cap cuts.
        assert_eq!(batches(&order, &tokens, 4, usize::MAX).len(), 2);
        assert!(batches(&[], &tokens, 4, 100).is_empty());
    }

    #[test]
    fn fingerprint_covers_model_and_tokenizer_bytes_not_the_name() {
        let base = ModelFingerprint::of_files("a", b"onnx", &[("tokenizer.json", b"{}")]);
        assert_eq!(base.sha256.len(), 64);
        assert_eq!(base.sha256, ModelFingerprint::of_files("b", b"onnx", &[("tokenizer.json", b"{}")]).sha256);
        assert_ne!(base.sha256, ModelFingerprint::of_files("a", b"onnx2", &[("tokenizer.json", b"{}")]).sha256);
        assert_ne!(base.sha256, ModelFingerprint::of_files("a", b"onnx", &[("tokenizer.json", b"{ }")]).sha256);
        // Boundaries between files count: moving a byte from one file to the next changes it.
        assert_ne!(base.sha256, ModelFingerprint::of_files("a", b"onn", &[("tokenizer.json", b"x{}")]).sha256);
        assert_eq!(base.onnx_sha256, crate::parse::sha256_hex(b"onnx"));
        assert!(base.short().starts_with("a:") && base.short().len() == 14);
    }
}
