//! `reagent eval embedding`: the speed and memory of embedding models, for one or more
//! model folders in one run. Each model runs in a child process of its own (so peak RSS
//! is that model's alone): it ingests a fixed sample of ObliQA passages through the real
//! pipeline into a fresh store, then embeds dev questions one at a time and runs them
//! through the retriever. Prints figures; asserts nothing.
//!
//! Settings come from the usual configuration, so `REAGENT_EMBEDDING_MEMORY_ARENA=true`
//! or `REAGENT_EMBEDDING_MAX_BATCH_TOKENS=8192` measure another configuration.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use reagent::config::Config;
use reagent::services::Services;
use reagent_ingest::parse::MetadataDefaults;
use reagent_ingest::pipeline::{IngestOptions, Pipeline};
use reagent_ingest::progress::Silent;
use reagent_ingest::store::SearchFilter;
use reagent_ingest::DocumentType;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Args)]
pub struct EmbeddingBenchArgs {
    /// Model folder to measure (repeat for several); default: embedding.model_dir.
    #[arg(long = "model-dir")]
    model_dirs: Vec<PathBuf>,
    /// ObliQA folder (documents/*.json and ObliQA_dev.json).
    #[arg(long, default_value = "../shared/data/obliqa")]
    obliqa: PathBuf,
    /// Passages to ingest: the same sample for every model (the first N by a hash of their id).
    #[arg(long, default_value_t = 2000)]
    passages: usize,
    /// Dev questions to embed and search, one at a time.
    #[arg(long, default_value_t = 300)]
    queries: usize,
    /// Print each model's figures as a JSON line too.
    #[arg(long)]
    json: bool,
    /// Internal: measure the one model in this process and print a JSON line.
    #[arg(long, hide = true)]
    child: bool,
}

/// One model's figures.
#[derive(Debug, Serialize, Deserialize)]
struct Figures {
    model_dir: String,
    model_id: String,
    batch_size: usize,
    max_batch_tokens: usize,
    memory_arena: bool,
    passages: usize,
    chunks: usize,
    ingest_seconds: f64,
    passages_per_second: f64,
    /// VmHWM after the ingest (the process's peak so far: model, runtime, store).
    peak_rss_mib: f64,
    query_embed_p50_ms: f64,
    query_embed_p95_ms: f64,
    /// Embedding + store search in the default retrieval mode, top 10.
    query_p50_ms: f64,
    query_p95_ms: f64,
    mode: String,
}

pub fn run(config: Config, args: EmbeddingBenchArgs) -> Result<ExitCode> {
    if !args.obliqa.join("documents").is_dir() {
        bail!("{}: no ObliQA documents folder (give --obliqa)", args.obliqa.display());
    }
    if args.child {
        let model_dir = args.model_dirs.first().cloned().unwrap_or_else(|| config.embedding.model_dir.clone());
        let figures = measure(config, &model_dir, &args)?;
        println!("{}", serde_json::to_string(&figures)?);
        return Ok(ExitCode::SUCCESS);
    }
    let dirs = if args.model_dirs.is_empty() { vec![config.embedding.model_dir.clone()] } else { args.model_dirs.clone() };
    let exe = std::env::current_exe().context("locating the reagent binary")?;
    let mut all = Vec::new();
    for dir in &dirs {
        eprintln!("measuring {} ...", dir.display());
        let output = Command::new(&exe)
            .args(["eval", "embedding", "--child", "--model-dir"])
            .arg(dir)
            .arg("--obliqa")
            .arg(&args.obliqa)
            .args(["--passages", &args.passages.to_string(), "--queries", &args.queries.to_string()])
            .output()
            .context("running the measuring child")?;
        if !output.status.success() {
            bail!("measuring {} failed ({}): {}", dir.display(), output.status, String::from_utf8_lossy(&output.stderr));
        }
        let line = String::from_utf8_lossy(&output.stdout);
        let figures: Figures = serde_json::from_str(line.lines().last().unwrap_or_default())
            .with_context(|| format!("reading the child's figures: {line}"))?;
        if args.json {
            println!("{}", serde_json::to_string(&figures)?);
        }
        all.push(figures);
    }
    println!(
        "{:<40} {:>6} {:>6} {:>5} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8}",
        "model", "batch", "tokens", "arena", "pass/s", "peak MiB", "emb p50", "emb p95", "q p50", "q p95"
    );
    for f in &all {
        println!(
            "{:<40} {:>6} {:>6} {:>5} {:>9.1} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            f.model_id,
            f.batch_size,
            f.max_batch_tokens,
            if f.memory_arena { "on" } else { "off" },
            f.passages_per_second,
            f.peak_rss_mib,
            f.query_embed_p50_ms,
            f.query_embed_p95_ms,
            f.query_p50_ms,
            f.query_p95_ms
        );
    }
    if let Some(f) = all.first() {
        println!(
            "{} passages ingested ({} chunks) per model; {} questions, query latency in ms (q = embedding + {} search, top 10)",
            f.passages, f.chunks, args.queries, f.mode
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The passage sample as ObliQA passage files under `dir/documents`; returns how many.
fn write_sample(obliqa: &Path, n: usize, dir: &Path) -> Result<usize> {
    let mut passages: Vec<([u8; 32], serde_json::Value)> = Vec::new();
    for entry in std::fs::read_dir(obliqa.join("documents"))? {
        let path = entry?.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(&path)?).with_context(|| path.display().to_string())?;
        for row in rows {
            if row["Passage"].as_str().is_none_or(|t| t.trim().is_empty()) {
                continue;
            }
            let id = format!("{}:{}", row["DocumentID"], row["PassageID"]);
            passages.push((Sha256::digest(id.as_bytes()).into(), row));
        }
    }
    passages.sort_by(|a, b| a.0.cmp(&b.0));
    passages.truncate(n);
    let mut by_document: std::collections::BTreeMap<String, Vec<serde_json::Value>> = Default::default();
    for (_, row) in passages.iter() {
        by_document.entry(row["DocumentID"].to_string()).or_default().push(row.clone());
    }
    let out = dir.join("documents");
    std::fs::create_dir_all(&out)?;
    for (i, rows) in by_document.values().enumerate() {
        std::fs::write(out.join(format!("{i:04}.json")), serde_json::to_vec(rows)?)?;
    }
    Ok(passages.len())
}

fn measure(mut config: Config, model_dir: &Path, args: &EmbeddingBenchArgs) -> Result<Figures> {
    let work = tempfile::tempdir()?;
    let passages = write_sample(&args.obliqa, args.passages, work.path())?;
    let dev: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(args.obliqa.join("ObliQA_dev.json"))?)?;
    let questions: Vec<String> = dev.iter().filter_map(|q| q["Question"].as_str().map(String::from)).take(args.queries).collect();
    config.embedding.model_dir = model_dir.to_path_buf();
    config.store.data_dir = work.path().join("store");
    config.validate()?;
    let services = Services::start(config).context("loading the model")?;
    let options = IngestOptions {
        replace: false,
        defaults: MetadataDefaults {
            document_type: Some(DocumentType::Regulation),
            jurisdiction: Some("AE-ADGM".into()),
            issuer: Some("FSRA".into()),
            ..Default::default()
        },
        today: chrono::Utc::now().date_naive(),
        parse: services.config.ingest.parse_settings(),
    };
    let pipeline = Pipeline {
        chunker: &services.chunker,
        embedder: services.embedder.as_ref(),
        store: services.store.as_ref(),
        progress: &Silent,
    };
    let started = Instant::now();
    let report = pipeline.run(&[work.path().join("documents")], &options)?;
    let ingest_seconds = started.elapsed().as_secs_f64();
    if report.failed() > 0 {
        bail!("{} passage files failed to ingest", report.failed());
    }
    let peak_rss_mib = peak_rss_mib();
    services.store.optimize()?;

    let mut embed_ms = Vec::with_capacity(questions.len());
    for q in &questions {
        let t = Instant::now();
        std::hint::black_box(services.embedder.embed(&[q.as_str()])?);
        embed_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let retriever = services.retriever();
    let mut query_ms = Vec::with_capacity(questions.len());
    for q in &questions {
        // A prefix keeps the retriever's query-vector cache from answering for the model.
        let text = format!("q: {q}");
        let t = Instant::now();
        std::hint::black_box(retriever.search(&text, SearchFilter::default(), None, Some(10))?);
        query_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    embed_ms.sort_by(f64::total_cmp);
    query_ms.sort_by(f64::total_cmp);
    let e = &services.config.embedding;
    Ok(Figures {
        model_dir: model_dir.display().to_string(),
        model_id: services.embedder.model_id().to_string(),
        batch_size: e.batch_size,
        max_batch_tokens: e.max_batch_tokens,
        memory_arena: e.memory_arena,
        passages,
        chunks: services.store.count()?,
        ingest_seconds,
        passages_per_second: passages as f64 / ingest_seconds,
        peak_rss_mib,
        query_embed_p50_ms: percentile(&embed_ms, 0.5),
        query_embed_p95_ms: percentile(&embed_ms, 0.95),
        query_p50_ms: percentile(&query_ms, 0.5),
        query_p95_ms: percentile(&query_ms, 0.95),
        mode: services.config.retrieval.mode.to_string(),
    })
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}
