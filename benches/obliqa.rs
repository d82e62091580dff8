//! Benchmark on the ObliQA corpus (../shared/data/obliqa): ingest the 13,012 non-empty
//! passages through the real pipeline into a fresh embedded store, then time top-10
//! queries of each retrieval mode (query embedding included) for dev questions.
//!
//! `cargo bench --bench obliqa [-- --queries N]`. Prints figures; asserts nothing.

use std::path::PathBuf;
use std::time::Instant;

use reagent::config::Config;
use reagent::services::Services;
use reagent_ingest::parse::MetadataDefaults;
use reagent_ingest::pipeline::{IngestOptions, Pipeline};
use reagent_ingest::progress::Reporter;
use reagent_ingest::store::SearchFilter;
use reagent_ingest::{ChunkStore, DocumentType};

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx]
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let queries: usize = args
        .iter()
        .position(|a| a == "--queries")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(500);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let obliqa = root.join("../shared/data/obliqa");
    if !obliqa.exists() {
        println!("skipped: {} not found", obliqa.display());
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let mut config = Config::load(None)?;
    config.store.data_dir = dir.path().join("store");
    let services = Services::start(config)?;
    let options = IngestOptions {
        replace: false,
        defaults: MetadataDefaults { document_type: Some(DocumentType::Regulation), jurisdiction: Some("AE-ADGM".into()), issuer: Some("FSRA".into()), ..Default::default() },
        today: chrono::Utc::now().date_naive(),
        parse: services.config.ingest.parse_settings(),
    };
    let progress = Reporter::new();
    let pipeline = Pipeline { chunker: &services.chunker, embedder: services.embedder.as_ref(), store: services.store.as_ref(), progress: &progress };
    let started = Instant::now();
    let report = pipeline.run(&[obliqa.join("documents")], &options)?;
    let optimize = Instant::now();
    services.store.optimize()?;
    let optimize_s = optimize.elapsed().as_secs_f64();
    let wall = started.elapsed().as_secs_f64();
    let chunks = report.chunks_written as f64;
    println!("== ingest: ObliQA documents ({} files, {} failed)", report.files.len(), report.failed());
    println!("passages stored          {}", services.store.count()?);
    println!("wall time                {wall:.1} s (pipeline {:.1} s + index build {optimize_s:.1} s)", report.seconds_total);
    println!("throughput               {:.1} passages/s end to end", chunks / wall);
    println!("time in embedding        {:.1} s = {:.1}% of wall", report.seconds_embedding, 100.0 * report.seconds_embedding / wall);
    println!("time outside embedding   {:.1}% of wall", 100.0 * (1.0 - report.seconds_embedding / wall));
    println!("peak RSS                 {:.0} MiB", peak_rss_mib());

    let dev: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(obliqa.join("ObliQA_dev.json"))?)?;
    let questions: Vec<String> = dev
        .as_array()
        .map(|a| a.iter().filter_map(|q| q["Question"].as_str().map(String::from)).take(queries).collect())
        .unwrap_or_default();
    use reagent_retrieval::RetrievalMode;
    for mode in [RetrievalMode::Fusion, RetrievalMode::Hybrid, RetrievalMode::Dense, RetrievalMode::Bm25] {
        // A fresh retriever per mode: its query-vector cache must not carry over.
        let retriever = services.retriever();
        let mut lat = Vec::with_capacity(questions.len());
        for q in &questions {
            let t = Instant::now();
            let hits = retriever.search(q, SearchFilter::default(), Some(mode), Some(10))?;
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
            std::hint::black_box(hits);
        }
        lat.sort_by(f64::total_cmp);
        println!(
            "== query {mode:<6} top-10, {} questions: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms",
            lat.len(),
            percentile(&lat, 0.5),
            percentile(&lat, 0.95),
            percentile(&lat, 0.99)
        );
    }
    Ok(())
}
