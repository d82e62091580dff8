//! What one search costs on a remote Qdrant store in round trips and time, with the
//! retriever's store queries batched ([`ChunkStore::fetch`] as the remote store answers
//! it) and one at a time ([`OneAtATime`], how every search ran before): the repository's
//! corpus ingested into a fresh collection on the test server (`REAGENT_TEST_QDRANT_URL`,
//! `scripts/qdrant.sh start`), then top-10 searches in each mode for the first N ObliQA dev
//! questions (../shared/data/obliqa). Every question is searched once untimed first, so
//! the timed pass finds its query vector cached: the figures are the store's share.
//! Says whether both ways ranked alike (scores compared bit for bit).
//!
//! `cargo bench --bench remote_search [-- --queries N]` (default 100). Prints figures;
//! asserts nothing. The collection is deleted at the end.
//!
//! [`ChunkStore::fetch`]: reagent_ingest::ChunkStore::fetch

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use reagent::config::Config;
use reagent::services::Services;
use reagent_ingest::parse::{MetadataDefaults, ParseSettings};
use reagent_ingest::pipeline::{IngestOptions, Pipeline};
use reagent_ingest::progress::Reporter;
use reagent_ingest::store::{OneAtATime, RemoteStore, ScoredChunk, SearchFilter, StoreBackend, test_server_url};
use reagent_ingest::ChunkStore;
use reagent_retrieval::{RetrievalMode, Retriever};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// A search's hits: chunk ids and score bits.
type Ranking = Vec<(uuid::Uuid, u32)>;

fn ranking(hits: &[ScoredChunk]) -> Ranking {
    hits.iter().map(|h| (h.record.chunk_id, h.score.to_bits())).collect()
}

/// Per question of one timed pass: milliseconds, and the ranking.
fn pass(retriever: &Retriever, questions: &[String], mode: RetrievalMode) -> anyhow::Result<(Vec<f64>, Vec<Ranking>)> {
    let (mut ms, mut rankings) = (Vec::new(), Vec::new());
    for q in questions {
        let t = Instant::now();
        let hits = retriever.search(q, SearchFilter::default(), Some(mode), Some(10))?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        rankings.push(ranking(&hits));
    }
    Ok((ms, rankings))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let queries: usize = args.iter().position(|a| a == "--queries").and_then(|i| args.get(i + 1)).and_then(|n| n.parse().ok()).unwrap_or(100);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let obliqa = root.join("../shared/data/obliqa");
    if !obliqa.exists() {
        println!("skipped: {} not found", obliqa.display());
        return Ok(());
    }
    let Some(url) = test_server_url() else { return Ok(()) };
    let mut config = Config::load(None)?;
    config.store.backend = StoreBackend::Qdrant;
    config.store.url = url;
    config.store.collection = format!("reagent_bench_{}", uuid::Uuid::new_v4().simple());
    let services = Services::start(config)?;
    let remote = Arc::new(RemoteStore::open(&services.config.store, services.embedder.dimension(), &services.embedder.fingerprint())?);
    let result = run(&services, &remote, &root, &obliqa, queries);
    remote.drop_collection()?;
    result
}

fn run(services: &Services, remote: &Arc<RemoteStore>, root: &std::path::Path, obliqa: &std::path::Path, queries: usize) -> anyhow::Result<()> {
    let options = IngestOptions {
        replace: false,
        defaults: MetadataDefaults::default(),
        today: chrono::Utc::now().date_naive(),
        // In process: the configured child extractor would run this bench's binary.
        parse: ParseSettings::default(),
    };
    let progress = Reporter::new();
    let pipeline = Pipeline { chunker: &services.chunker, embedder: services.embedder.as_ref(), store: services.store.as_ref(), progress: &progress };
    let report = pipeline.run(&[root.join("corpus")], &options)?;
    println!("== corpus/ in collection {} at {}: {} chunks ({} files failed)", remote.collection(), services.config.store.url, remote.count()?, report.failed());
    let dev: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(obliqa.join("ObliQA_dev.json"))?)?;
    let questions: Vec<String> =
        dev.as_array().map(|a| a.iter().filter_map(|q| q["Question"].as_str().map(String::from)).take(queries).collect()).unwrap_or_default();
    let settings = services.config.retrieval.clone();
    let batched = Retriever::new(services.embedder.clone(), remote.clone(), settings.clone());
    let alone = Retriever::new(services.embedder.clone(), Arc::new(OneAtATime(remote.clone())), settings);
    println!("{} questions, top 10, one timed pass each, query vectors cached", questions.len());
    println!("{:<7} {:>22} {:>22} {:>9} {:>14}", "mode", "round trips/search", "median ms/search", "ratio", "same ranking");
    for mode in [RetrievalMode::Fusion, RetrievalMode::Hybrid, RetrievalMode::Dense] {
        let mut figures = Vec::new();
        for retriever in [&alone, &batched] {
            pass(retriever, &questions, mode)?; // warms the query-vector cache
            let before = remote.requests();
            let (ms, rankings) = pass(retriever, &questions, mode)?;
            let trips = (remote.requests() - before) as f64 / questions.len().max(1) as f64;
            figures.push((trips, median(ms), rankings));
        }
        let (a, b) = (&figures[0], &figures[1]);
        println!(
            "{:<7} {:>10.1} → {:<9.1} {:>9.2} → {:<9.2} {:>9.2} {:>14}",
            format!("{mode:?}").to_lowercase(),
            a.0,
            b.0,
            a.1,
            b.1,
            a.1 / b.1,
            if a.2 == b.2 { "yes" } else { "NO" }
        );
    }
    // An analysis searches several texts at once: the same questions in groups of GROUP.
    let groups: Vec<Vec<&str>> = questions.chunks(GROUP).map(|g| g.iter().map(String::as_str).collect()).collect();
    let before = remote.requests();
    let (mut ms, mut rankings) = (Vec::new(), Vec::new());
    for group in &groups {
        let t = Instant::now();
        let together = batched.search_many(group, SearchFilter::default(), Some(RetrievalMode::Fusion), Some(10))?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0 / group.len() as f64);
        rankings.extend(together.iter().map(|hits| ranking(hits)));
    }
    let trips = (remote.requests() - before) as f64 / questions.len().max(1) as f64;
    let (_, alone_rankings) = pass(&alone, &questions, RetrievalMode::Fusion)?;
    println!(
        "fusion, {GROUP} searches per search_many: {trips:.1} round trips and {:.2} ms median per search; same ranking as one at a time: {}",
        median(ms),
        if rankings == alone_rankings { "yes" } else { "NO" }
    );
    Ok(())
}

/// Searches per `search_many` call in the last figure (an analysis runs a few).
const GROUP: usize = 5;
