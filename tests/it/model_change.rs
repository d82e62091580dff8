//! Changing the embedding model of a store, through the real `reagent` binary: a store
//! written by model A refuses ingestion (and searches) with model B, with exit code 4 and
//! a message naming `reagent docs reembed`; after that command the store is on B, takes
//! new documents and answers searches, and A is refused in turn.
//!
//! Model B is a copy of the stock model folder whose config.json is re-serialized: the
//! fingerprint covers the bytes of the ONNX file and of the tokenizer files, so B is
//! another model to the store while computing the same vectors, which lets the test
//! also check that re-embedding reproduces the search results exactly.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EXIT_MODEL_MISMATCH: i32 = 4;

fn reagent(dir: &Path, model_dir: &Path) -> Command {
    let config = common::config(dir);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_reagent"));
    cmd.current_dir(dir)
        .env("REAGENT_EMBEDDING_MODEL_DIR", model_dir)
        .env("REAGENT_EMBEDDING_ORT_DYLIB_PATH", &config.embedding.ort_dylib_path)
        .env("REAGENT_STORE_DATA_DIR", &config.store.data_dir)
        .env("REAGENT_LLM_ENABLED", "false")
        .env("REAGENT_LOG", "warn");
    cmd
}

fn run(cmd: &mut Command) -> (Option<i32>, String, String) {
    let Output { status, stdout, stderr } = cmd.output().expect("run reagent");
    (status.code(), String::from_utf8_lossy(&stdout).into_owned(), String::from_utf8_lossy(&stderr).into_owned())
}

/// `(chunk id, score)` of the top hits for `query`, as `reagent search --json` prints them.
fn search(dir: &Path, model: &Path, query: &str) -> Vec<(String, f64)> {
    let (code, stdout, stderr) = run(reagent(dir, model).args(["search", query, "--mode", "dense", "-k", "5", "--json"]));
    assert_eq!(code, Some(0), "search: {stderr}");
    let hits: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("search --json: {e}\n{stdout}"));
    let hits = hits.as_array().or_else(|| hits["hits"].as_array()).cloned().unwrap_or_default();
    hits.iter()
        .map(|h| {
            let id = h["record"]["chunk_id"].as_str().or_else(|| h["chunk_id"].as_str()).unwrap_or_default().to_string();
            (id, h["score"].as_f64().unwrap_or(f64::NAN))
        })
        .collect()
}

/// A copy of `stock` whose config.json is the same JSON written differently.
fn copy_with_reserialized_config(stock: &Path, to: &Path) -> PathBuf {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(stock).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(stock.join("config.json")).unwrap()).unwrap();
    let compact = serde_json::to_vec(&config).unwrap();
    let pretty = serde_json::to_vec_pretty(&config).unwrap();
    let original = std::fs::read(stock.join("config.json")).unwrap();
    std::fs::write(to.join("config.json"), if compact != original { compact } else { pretty }).unwrap();
    to.to_path_buf()
}

#[test]
fn another_model_is_refused_until_the_store_is_reembedded() {
    let dir = tempfile::tempdir().unwrap();
    let repo = common::repo();
    let model_a = common::config(dir.path()).embedding.model_dir;
    let model_b = copy_with_reserialized_config(&model_a, &dir.path().join("model-b"));

    // Model A writes the store.
    let (code, _, stderr) = run(reagent(dir.path(), &model_a).arg("ingest").arg(repo.join("corpus/aml-bsa-policy.md")));
    assert_eq!(code, Some(0), "ingest with A: {stderr}");
    let query = "currency transaction report for cash over ten thousand dollars";
    let before = search(dir.path(), &model_a, query);
    assert!(!before.is_empty(), "model A finds its own chunks");

    // Model B may neither add vectors nor search A's vectors.
    let (code, _, stderr) = run(reagent(dir.path(), &model_b).arg("ingest").arg(repo.join("corpus/edd-procedure.md")));
    assert_eq!(code, Some(EXIT_MODEL_MISMATCH), "ingest with B must be refused: {stderr}");
    assert!(stderr.contains("reagent docs reembed"), "the message names the command: {stderr}");
    assert!(stderr.contains("model-b"), "the message names the configured model: {stderr}");
    let (code, _, stderr) = run(reagent(dir.path(), &model_b).args(["search", query]));
    assert_eq!(code, Some(EXIT_MODEL_MISMATCH), "search with B must be refused: {stderr}");

    // Re-embed with B: every chunk, then B is the store's model.
    let (code, stdout, stderr) = run(reagent(dir.path(), &model_b).args(["docs", "reembed", "--json"]));
    assert_eq!(code, Some(0), "reembed: {stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["changed"], true);
    assert!(report["chunks"].as_u64().unwrap() >= before.len() as u64, "{report}");
    assert!(report["to_model"].as_str().unwrap().starts_with("model-b:"), "{report}");
    let (code, stdout, _) = run(reagent(dir.path(), &model_b).args(["docs", "reembed"]));
    assert_eq!(code, Some(0));
    assert!(stdout.contains("nothing to do"), "{stdout}");

    // B computes the same vectors as A, so the re-embedded store answers as before.
    let after = search(dir.path(), &model_b, query);
    assert_eq!(after.iter().map(|h| &h.0).collect::<Vec<_>>(), before.iter().map(|h| &h.0).collect::<Vec<_>>());
    for ((_, a), (_, b)) in before.iter().zip(&after) {
        assert!((a - b).abs() < 1e-4, "scores {a} vs {b}");
    }

    // B now ingests, and its new document is found; A is refused in turn.
    let (code, _, stderr) = run(reagent(dir.path(), &model_b).arg("ingest").arg(repo.join("corpus/edd-procedure.md")));
    assert_eq!(code, Some(0), "ingest with B after reembed: {stderr}");
    let (code, stdout, stderr) = run(reagent(dir.path(), &model_b).args(["docs", "list", "--json"]));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("edd") && stdout.contains("aml"), "both documents listed: {stdout}");
    assert!(!search(dir.path(), &model_b, "enhanced due diligence for high-risk customers").is_empty());
    let (code, _, stderr) = run(reagent(dir.path(), &model_a).arg("ingest").arg(repo.join("corpus/kyc-cip-procedure.md")));
    assert_eq!(code, Some(EXIT_MODEL_MISMATCH), "A after the switch: {stderr}");
}

/// The memory settings change how texts are batched and whether ONNX Runtime keeps its
/// arena, never what a float model computes: on the stock model the old configuration
/// (arena on, batches of 32 texts) and the default one give the same vectors within 1e-5
/// on texts of mixed lengths. The default model quantizes its activations per call
/// (scale taken over the whole batch), so batching would make a text's vector depend on
/// its batch-mates (a least cosine of 0.984 was measured); with the default settings
/// (one text per call) a text embedded among others gets the vector it gets alone, as a
/// query does.
#[test]
fn memory_settings_do_not_change_vectors() {
    use reagent_ingest::{Embedder, EmbedderSettings, OnnxEmbedder};
    let dir = tempfile::tempdir().unwrap();
    let default = common::config(dir.path()).embedding;
    // Paragraphs of the repository's corpus, from a few words to past max_length tokens.
    let mut texts: Vec<String> = Vec::new();
    for name in ["aml-bsa-policy.md", "edd-procedure.md", "wire-transfer-manual.md"] {
        let body = std::fs::read_to_string(common::repo().join("corpus").join(name)).unwrap();
        texts.extend(body.split("\n\n").map(str::trim).filter(|p| !p.is_empty()).map(String::from));
    }
    texts.push(texts.join(" "));
    assert!(texts.len() >= 40, "{} texts", texts.len());
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let largest_difference = |a: &[Vec<f32>], b: &[Vec<f32>]| {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs())).fold(0.0f32, f32::max)
    };

    let stock = EmbedderSettings { model_dir: common::cache_dir().join("models/all-minilm-l6-v2-int8"), ..default.clone() };
    let old = OnnxEmbedder::load(&EmbedderSettings { memory_arena: true, batch_size: 32, max_batch_tokens: 32 * stock.max_length, ..stock.clone() }).unwrap();
    let new = OnnxEmbedder::load(&stock).unwrap();
    assert_eq!(old.fingerprint(), new.fingerprint(), "settings are not part of the model");
    let worst = largest_difference(&old.embed(&refs).unwrap(), &new.embed(&refs).unwrap());
    assert!(worst <= 1e-5, "stock model: largest difference {worst}");

    let model = OnnxEmbedder::load(&default).unwrap();
    let together = model.embed(&refs).unwrap();
    let alone: Vec<Vec<f32>> = refs.iter().map(|t| model.embed(&[t]).unwrap().remove(0)).collect();
    let worst = largest_difference(&together, &alone);
    assert!(worst <= 1e-5, "default model: a text's vector depends on its batch-mates (largest difference {worst})");
}
