//! `reagent eval …`: measuring retrieval on a labelled benchmark and guidance on labelled
//! transaction scenarios (see eval/README.md).
//! The corpus goes through the production ingest pipeline into a cached embedded store;
//! every mode is run through the production [`Retriever`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use reagent::config::Config;
use reagent_eval::dataset::{self, Dataset};
use reagent_eval::index::{self, IndexSettings};
use reagent_eval::report::{self, DatasetInfo};
use reagent_eval::run::{self, ModeSpec, Searcher};
use reagent_eval::split::Split;
use reagent_eval::thresholds::Thresholds;
use reagent_ingest::progress::Reporter;
use reagent_ingest::store::{ScoredChunk, SearchFilter};
use reagent_ingest::{ChunkStore, Chunker, Embedder, OnnxEmbedder};
use reagent_retrieval::{RetrievalMode, RetrievalSettings, Retriever};

#[derive(Subcommand)]
pub enum EvalCommand {
    /// Retrieval quality (Recall, MAP, nDCG, MRR at 1/5/10/20) and latency per mode.
    Retrieval(RetrievalArgs),
    /// Labelled transaction scenarios through the analyze path: required-action recall,
    /// false positives, requires_review accuracy, citation hit rate, latency.
    Guidance(GuidanceArgs),
    /// Embedding models' speed and memory: ingest passages/s and peak RSS over a fixed
    /// ObliQA passage sample, query embedding and end-to-end query latency (--model-dir, repeatable).
    Embedding(crate::cli::eval_embedding::EmbeddingBenchArgs),
}

#[derive(Args)]
pub struct GuidanceArgs {
    /// Scenario file (layout of ../shared/data/scenarios/examples.json).
    #[arg(long, default_value = "../shared/data/scenarios/examples.json")]
    scenarios: PathBuf,
    /// Base URL of a running `reagent serve` (e.g. http://127.0.0.1:8080); without it the
    /// analyses run in this process against the configured store.
    #[arg(long)]
    server: Option<String>,
    /// API key for --server, sent as `Authorization: Bearer …`.
    #[arg(long, env = "REAGENT_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Output folder (default: eval/reports/guidance-<UTC timestamp>); writes report.json and report.md.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Floors file: its [guidance] table (eval/thresholds.toml layout). Flags below override it.
    #[arg(long)]
    thresholds: Option<PathBuf>,
    #[arg(long)]
    min_action_recall: Option<f64>,
    #[arg(long)]
    max_false_positives: Option<usize>,
    #[arg(long)]
    min_review_accuracy: Option<f64>,
    #[arg(long)]
    min_citation_hit_rate: Option<f64>,
    /// Fewest all-correct cases (a value in (0, 1] is a fraction of the cases).
    #[arg(long)]
    min_all_correct: Option<f64>,
}

#[derive(Args)]
pub struct RetrievalArgs {
    /// ObliQA folder: documents/*.json and ObliQA_dev.json.
    #[arg(long, conflicts_with_all = ["corpus", "queries", "qrels"], required_unless_present = "corpus")]
    obliqa: Option<PathBuf>,
    /// Question file in the ObliQA layout (default: <obliqa>/ObliQA_dev.json).
    #[arg(long, requires = "obliqa")]
    questions: Option<PathBuf>,
    /// Generic layout: corpus JSONL, lines {"id", "text", "metadata"}.
    #[arg(long, requires_all = ["queries", "qrels"])]
    corpus: Option<PathBuf>,
    /// Generic layout: query JSONL, lines {"id", "text"}.
    #[arg(long)]
    queries: Option<PathBuf>,
    /// Generic layout: judgement JSONL, lines {"query_id", "doc_id", "relevance"}.
    #[arg(long)]
    qrels: Option<PathBuf>,
    /// Comma-separated modes, each `name[:setting=value]...` with a name of hybrid, fusion,
    /// dbsf, dense, bm25 and settings of [retrieval] (candidates, rrf_k, fusion_dense_weight,
    /// fusion_bm25_weight, fusion_pairs_weight, fusion_coverage_weight), e.g.
    /// `fusion:fusion_coverage_weight=0.2`. `default` is retrieval.mode.
    #[arg(long, value_delimiter = ',', default_value = "dense,bm25,hybrid,dbsf,fusion")]
    modes: Vec<String>,
    /// Part of the ObliQA questions to run, by a hash of the question id (shared with the
    /// tuning tool): heldout (about 25%, for reports), train (the rest) or all. Applied
    /// before --offset and --limit.
    #[arg(long, default_value_t = Split::All)]
    split: Split,
    /// Skip this many questions (of the split).
    #[arg(long, default_value_t = 0)]
    offset: usize,
    /// Run at most this many questions (after --offset).
    #[arg(long)]
    limit: Option<usize>,
    /// Output folder (default: eval/reports/<UTC timestamp>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Where built indexes and passage vectors are cached (default: $REAGENT_CACHE/eval-index,
    /// else .cache/eval-index).
    #[arg(long)]
    index_cache: Option<PathBuf>,
    /// Build the index again even if a cached one matches.
    #[arg(long)]
    rebuild: bool,
    /// BM25 k1 for the index (default: store.bm25_k1).
    #[arg(long)]
    bm25_k1: Option<f64>,
    /// BM25 b for the index (default: store.bm25_b).
    #[arg(long)]
    bm25_b: Option<f64>,
    /// BM25 average length for the index (default: store.bm25_avg_len).
    #[arg(long)]
    bm25_avg_len: Option<f64>,
    /// Index only the passages judged for the selected questions plus this fraction
    /// (0..=1) of the others, chosen by a hash of their id: a quick run whose figures
    /// are higher than on the full corpus (CI uses it).
    #[arg(long)]
    corpus_sample: Option<f64>,
    /// Floors file (eval/thresholds.toml layout): exit 3 when a floor is missed.
    #[arg(long)]
    thresholds: Option<PathBuf>,
    /// Also write, per question run, whether it is held out, its judged passages and the
    /// `fusion` candidates' four signals (JSON lines), for fitting other combinations of
    /// them (train on the train part only).
    #[arg(long)]
    signals_out: Option<PathBuf>,
}

/// Exit code when a metric is below its floor.
const EXIT_BELOW_FLOOR: u8 = 3;

pub fn run(config: Config, cmd: EvalCommand) -> Result<ExitCode> {
    match cmd {
        EvalCommand::Retrieval(args) => retrieval(config, args),
        EvalCommand::Embedding(args) => crate::cli::eval_embedding::run(config, args),
        EvalCommand::Guidance(args) => {
            tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(guidance(config, args))
        }
    }
}

/// One mode wired to the production retriever.
struct RetrieverSearcher {
    retriever: Retriever,
    mode: RetrievalMode,
    parameters: serde_json::Value,
}

impl Searcher for RetrieverSearcher {
    fn search(&self, text: &str, limit: usize) -> Result<Vec<ScoredChunk>, String> {
        self.retriever.search(text, SearchFilter::default(), Some(self.mode), Some(limit)).map_err(|e| e.to_string())
    }

    fn parameters(&self) -> serde_json::Value {
        self.parameters.clone()
    }
}

/// `settings` with a mode's overrides applied, each checked against the setting's type.
fn with_overrides(settings: &RetrievalSettings, spec: &ModeSpec) -> Result<RetrievalSettings> {
    let mut value = serde_json::to_value(settings)?;
    let object = value.as_object_mut().context("retrieval settings are a table")?;
    for (key, raw) in &spec.params {
        let Some(current) = object.get(key) else {
            bail!("mode {}: {key:?} is not a [retrieval] setting", spec.label);
        };
        let parsed = match current {
            serde_json::Value::Number(_) => serde_json::Value::Number(
                raw.parse::<serde_json::Number>().map_err(|_| anyhow::anyhow!("mode {}: {key} = {raw:?} is not a number", spec.label))?,
            ),
            _ => serde_json::Value::String(raw.clone()),
        };
        object.insert(key.clone(), parsed);
    }
    serde_json::from_value(value).with_context(|| format!("mode {}", spec.label))
}

/// The parameters that shape a mode's ranking.
fn mode_parameters(mode: RetrievalMode, s: &RetrievalSettings) -> serde_json::Value {
    let mut p = serde_json::json!({ "mode": mode.as_str(), "candidates": s.candidates });
    match mode {
        RetrievalMode::Hybrid => p["rrf_k"] = s.rrf_k.into(),
        RetrievalMode::Fusion => {
            p["fusion_dense_weight"] = s.fusion_dense_weight.into();
            p["fusion_bm25_weight"] = s.fusion_bm25_weight.into();
            p["fusion_pairs_weight"] = s.fusion_pairs_weight.into();
            p["fusion_coverage_weight"] = s.fusion_coverage_weight.into();
            p["normalisation"] = "min-max over the union of both candidate lists (coverage as is)".into();
        }
        RetrievalMode::Dbsf => p["normalisation"] = "mean ± 3σ per side (Qdrant's DBSF formula)".into(),
        RetrievalMode::Dense | RetrievalMode::Bm25 => {
            p.as_object_mut().map(|o| o.remove("candidates"));
        }
    }
    p
}

/// One JSON line per question: `{id, heldout, relevant, candidates: [[passage, dense,
/// bm25, pairs, coverage], ...]}`, candidates in `fusion`'s first-seen order.
fn write_signals(
    path: &Path,
    dataset: &Dataset,
    queries: &[dataset::Query],
    retriever: &Retriever,
    store: &dyn ChunkStore,
) -> Result<()> {
    use std::io::Write;
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for q in queries {
        let signals = retriever.fusion_signals(&q.text, &SearchFilter::default(), run::depth() + 5)?;
        let ids: Vec<uuid::Uuid> = signals.iter().map(|(id, _)| *id).collect();
        let records: std::collections::HashMap<_, _> = store.records(&ids)?.into_iter().map(|r| (r.chunk_id, r)).collect();
        let candidates: Vec<serde_json::Value> = signals
            .iter()
            .filter_map(|(id, s)| {
                let r = records.get(id)?;
                let passage = r.chunk.passage_id.as_deref().map_or_else(|| r.meta.document_id.clone(), |p| dataset.doc_id(p));
                Some(serde_json::json!([passage, s.dense, s.bm25, s.pairs, s.coverage]))
            })
            .collect();
        let relevant: Vec<&String> =
            dataset.qrels.get(&q.id).map(|j| j.iter().filter(|(_, r)| **r > 0).map(|(d, _)| d).collect()).unwrap_or_default();
        let line = serde_json::json!({
            "id": q.id, "heldout": reagent_eval::split::is_heldout(&q.id), "relevant": relevant, "candidates": candidates,
        });
        writeln!(out, "{line}").with_context(|| format!("writing {}", path.display()))?;
    }
    out.flush().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn retrieval(mut config: Config, args: RetrievalArgs) -> Result<ExitCode> {
    let mut dataset: Dataset = match (&args.obliqa, &args.corpus, &args.queries, &args.qrels) {
        (Some(dir), _, _, _) => dataset::load_obliqa(dir, args.questions.as_deref())?,
        (None, Some(c), Some(q), Some(r)) => dataset::load_jsonl(c, q, r)?,
        _ => bail!("give --obliqa DIR, or --corpus, --queries and --qrels"),
    };
    if args.split != Split::All && args.obliqa.is_none() {
        bail!("--split {} applies to ObliQA-layout question files (--obliqa); the generic layout takes --split all", args.split);
    }
    let queries_total = dataset.queries.len();
    dataset.retain_split(args.split);
    let thresholds = args.thresholds.as_deref().map(Thresholds::load).transpose()?;
    if let Some(k1) = args.bm25_k1 {
        config.store.bm25_k1 = k1;
    }
    if let Some(b) = args.bm25_b {
        config.store.bm25_b = b;
    }
    if let Some(avg) = args.bm25_avg_len {
        config.store.bm25_avg_len = avg;
    }
    config.validate()?;
    let specs: Vec<ModeSpec> = args
        .modes
        .iter()
        .map(|m| {
            let m = if m.trim() == "default" { config.retrieval.mode.to_string() } else { m.clone() };
            m.parse::<ModeSpec>().map_err(anyhow::Error::msg)
        })
        .collect::<Result<_>>()?;
    if dataset.select(args.offset, args.limit).is_empty() {
        bail!("no questions to run (offset {} of {} in split {})", args.offset, dataset.queries.len(), args.split);
    }
    let dataset = match args.corpus_sample {
        Some(f) if !(0.0..=1.0).contains(&f) => bail!("--corpus-sample must be within 0..=1, got {f}"),
        Some(f) => dataset.sample_corpus(dataset.select(args.offset, args.limit), f)?,
        None => dataset,
    };
    let queries = dataset.select(args.offset, args.limit);
    let cache_root = args.index_cache.clone().unwrap_or_else(|| {
        std::env::var_os("REAGENT_CACHE").map_or_else(|| PathBuf::from(".cache"), PathBuf::from).join("eval-index")
    });
    let out = args.out.clone().unwrap_or_else(|| report::default_out_dir(Path::new(".")));

    let embedder = Arc::new(OnnxEmbedder::load(&config.embedding).context("loading the embedding model")?);
    let chunker = Chunker::new(embedder.tokenizer().clone(), &config.chunking)?;
    let index_settings = IndexSettings {
        chunking: config.chunking.clone(),
        store: config.store.clone(),
        embedding_max_length: config.embedding.max_length,
    };
    let progress = Reporter::new();
    let built = index::open_or_build(&dataset, &cache_root, embedder.as_ref(), &chunker, &index_settings, args.rebuild, &progress)?;
    let info = built.info;
    eprintln!(
        "index {} ({} chunks): {}",
        info.dir,
        info.chunks,
        if info.reused { "reused".to_string() } else { format!("built in {:.1} s", info.build_seconds) }
    );
    let store: Arc<dyn ChunkStore> = Arc::from(built.store);
    let mut runs = Vec::new();
    for spec in &specs {
        let settings = with_overrides(&config.retrieval, spec)?;
        let mode: RetrievalMode = spec.name.parse().with_context(|| format!("mode {}", spec.label))?;
        let retriever = Retriever::new(embedder.clone(), store.clone(), settings.clone());
        let searcher = RetrieverSearcher { parameters: mode_parameters(mode, &settings), retriever, mode };
        runs.push(run::run_mode(&dataset, queries, spec, &searcher, &progress)?);
    }
    if let Some(path) = &args.signals_out {
        let retriever = Retriever::new(embedder.clone(), store.clone(), config.retrieval.clone());
        write_signals(path, &dataset, queries, &retriever, store.as_ref())?;
    }
    let qrels: Vec<(String, Vec<(String, u32)>)> = queries
        .iter()
        .map(|q| {
            let mut docs: Vec<(String, u32)> = dataset.qrels.get(&q.id).map(|j| j.iter().map(|(d, r)| (d.clone(), *r)).collect()).unwrap_or_default();
            docs.sort();
            (q.id.clone(), docs)
        })
        .collect();
    let settings = serde_json::json!({
        "model_id": embedder.model_id(),
        "embedding_max_length": config.embedding.max_length,
        "chunking": config.chunking,
        "store_bm25": { "k1": config.store.bm25_k1, "b": config.store.bm25_b, "avg_len": config.store.bm25_avg_len },
        "retrieval_default_mode": config.retrieval.mode,
    });
    let info_dataset = DatasetInfo {
        layout: dataset.layout.clone(),
        sources: dataset.sources.clone(),
        corpus_passages: dataset.corpus_passages,
        queries_total,
        split: args.split,
        queries_in_split: dataset.queries.len(),
        offset: args.offset,
        limit: args.limit,
        queries_run: queries.len(),
    };
    let report = report::write_all(&out, info_dataset, info, settings, runs, &qrels)?;
    println!("{:<44} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8}", "mode", "R@10", "MAP@10", "nDCG@10", "MRR@10", "p50 ms", "p95 ms");
    for (label, [r, map, ndcg, mrr, p50, p95, _]) in report::headline(&report) {
        println!("{label:<44} {r:>9.4} {map:>9.4} {ndcg:>9.4} {mrr:>9.4} {p50:>8.2} {p95:>8.2}");
    }
    println!("report: {}", out.join("report.md").display());
    if let Some(t) = thresholds {
        let missed = t.violations(&report);
        if !missed.is_empty() {
            for v in &missed {
                eprintln!("below floor: {v}");
            }
            return Ok(ExitCode::from(EXIT_BELOW_FLOOR));
        }
        println!("all floors in {} met", args.thresholds.as_deref().unwrap_or(Path::new("")).display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Where each scenario's request goes.
enum Target {
    InProcess(reagent::app::evaluation::UnrecordedAnalyses),
    Server { client: reqwest::Client, url: String, api_key: Option<String> },
}

impl Target {
    /// The analysis for one request body, as the analyze endpoint would return it.
    async fn analyze(&self, request: &serde_json::Value) -> Result<serde_json::Value, String> {
        match self {
            Target::InProcess(analyses) => analyses.analyze(request.to_string().as_bytes()).await,
            Target::Server { client, url, api_key } => {
                let mut req = client.post(url).header("content-type", "application/json").body(request.to_string());
                if let Some(key) = api_key {
                    req = req.header("authorization", format!("Bearer {key}"));
                }
                let res = req.send().await.map_err(|e| e.to_string())?;
                let status = res.status();
                let text = res.text().await.map_err(|e| e.to_string())?;
                if !status.is_success() {
                    return Err(format!("HTTP {}: {}", status.as_u16(), text.chars().take(300).collect::<String>()));
                }
                serde_json::from_str(&text).map_err(|e| format!("answer is not JSON: {e}"))
            }
        }
    }
}

async fn guidance(config: Config, args: GuidanceArgs) -> Result<ExitCode> {
    use reagent_eval::guidance::{self, CaseResult, GuidanceFloors, GuidanceReport};
    let cases = guidance::load_scenarios(&args.scenarios)?;
    let mut floors = match &args.thresholds {
        Some(path) => Thresholds::load(path)?.guidance,
        None => GuidanceFloors::default(),
    };
    floors.min_action_recall = args.min_action_recall.or(floors.min_action_recall);
    floors.max_false_positives = args.max_false_positives.or(floors.max_false_positives);
    floors.min_review_accuracy = args.min_review_accuracy.or(floors.min_review_accuracy);
    floors.min_citation_hit_rate = args.min_citation_hit_rate.or(floors.min_citation_hit_rate);
    floors.min_all_correct = args.min_all_correct.or(floors.min_all_correct);
    let target = match &args.server {
        Some(base) => Target::Server {
            client: reqwest::Client::builder().timeout(std::time::Duration::from_secs(300)).build()?,
            url: format!("{}/api/v1/analyze", base.trim_end_matches('/')),
            api_key: args.api_key.clone(),
        },
        None => {
            let services = reagent::services::Services::start(config).context("starting")?;
            if services.store.count()? == 0 {
                eprintln!("warning: the store is empty; citations will miss (ingest corpus/ and the regulations first)");
            }
            Target::InProcess(services.unrecorded_analyses()?)
        }
    };
    let started_at = chrono::Utc::now().to_rfc3339();
    let bar = indicatif::ProgressBar::new(cases.len() as u64)
        .with_style(indicatif::ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} {elapsed}").unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()));
    bar.set_message("scenarios");
    let mut results = Vec::with_capacity(cases.len());
    for case in &cases {
        let t = std::time::Instant::now();
        let answer = target.analyze(&case.request).await;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        results.push(match answer {
            Ok(analysis) => guidance::score(case, &analysis, ms),
            Err(e) => CaseResult::failed(&case.id, ms, e),
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    let summary = guidance::summarize(&results, &cases);
    let report = GuidanceReport {
        kind: "guidance".into(),
        scenarios: args.scenarios.display().to_string(),
        target: args.server.clone().unwrap_or_else(|| "in-process".into()),
        started_at,
        summary,
        cases: results,
    };
    let out = args.out.clone().unwrap_or_else(|| {
        let dir = report::default_out_dir(Path::new("."));
        dir.with_file_name(format!("guidance-{}", dir.file_name().and_then(|n| n.to_str()).unwrap_or("run")))
    });
    report.write(&out)?;
    print!("{}", report.markdown());
    println!("\nreport: {}", out.join("report.md").display());
    let missed = floors.violations(&report.summary);
    if !missed.is_empty() {
        for v in &missed {
            eprintln!("below floor: {v}");
        }
        return Ok(ExitCode::from(EXIT_BELOW_FLOOR));
    }
    Ok(ExitCode::SUCCESS)
}
