//! The `reagent` command: ingestion, document management, retrieval and configuration.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};
use reagent::config::Config;
use reagent::services::Services;
use reagent_ingest::parse::MetadataDefaults;
use reagent_ingest::pipeline::{IngestOptions, Outcome, Pipeline};
use reagent_ingest::progress::Reporter;
use reagent_ingest::store::{SearchFilter, VersionStatus};
use reagent_ingest::{ChunkStore, DocumentType};

mod cli;

#[derive(Parser)]
#[command(name = "reagent", version, about = "Cited compliance guidance for bank transactions")]
struct Cli {
    /// Configuration file (default: ./reagent.toml if present).
    #[arg(long, global = true, env = "REAGENT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse, chunk, embed and store documents (files or folders).
    Ingest(IngestArgs),
    /// List, show or delete stored documents.
    #[command(subcommand)]
    Docs(DocsCommand),
    /// Retrieve the chunks that best answer a query.
    Search(SearchArgs),
    /// Configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run the HTTP service.
    Serve {
        /// Listen address (default: server.bind).
        #[arg(long)]
        bind: Option<String>,
    },
    /// Analyze one transaction and print the cited guidance.
    Analyze(AnalyzeArgs),
    /// Database tasks.
    #[command(subcommand)]
    Db(DbCommand),
    /// Benchmarks: retrieval quality on a labelled passage set, guidance on labelled scenarios (see eval/README.md).
    #[command(subcommand)]
    Eval(cli::eval::EvalCommand),
    /// API keys (stored as argon2 hashes; a new key is shown once).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The hash-chained audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Sanctions lists: load Treasury's files as dated versions, list them, screen a name.
    #[command(subcommand)]
    Sanctions(cli::sanctions::SanctionsCommand),
    /// Officers' judgements of citations: export them as training pairs for the tuning tool.
    #[command(subcommand)]
    Feedback(cli::feedback::FeedbackCommand),
    /// Batch screening: analyse a file of transactions, load a file of customers.
    #[command(subcommand)]
    Batch(cli::batch::BatchCommand),
    /// Reports for examiners: the month's quality figures with charts.
    #[command(subcommand)]
    Report(cli::report::ReportCommand),
    /// Internal: extract the text of a PDF read on stdin and write it as JSON on
    /// stdout. Ingestion runs this in a child process with memory and time limits.
    /// (The name is `reagent::config::EXTRACT_PDF_COMMAND`.)
    #[command(name = "extract-pdf", hide = true)]
    ExtractPdf(ExtractPdfArgs),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print it (the only time it is shown).
    Create {
        /// viewer, analyst, compliance_officer, policy_editor or admin.
        #[arg(long)]
        role: String,
        /// Who or what uses the key.
        #[arg(long)]
        name: String,
        /// Print {"key_id", "key", ...} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every key (never the secret).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id.
    Revoke { id: String },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain and check it against signed checkpoints; exit 1 and
    /// name the first bad entry if it is broken, truncated or rewritten.
    Verify {
        /// A checkpoint document from `reagent audit checkpoint` (e.g. the copy in
        /// write-once storage); repeatable. The newest stored checkpoint whose
        /// signature verifies is always checked too.
        #[arg(long, value_name = "FILE")]
        checkpoint: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Sign the chain's head (seq, hash, time) with audit.checkpoint_signing_key, store
    /// it and print the checkpoint as JSON, for export to write-once storage.
    Checkpoint {
        /// Write the checkpoint document here instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Make an Ed25519 key pair for audit.checkpoint_signing_key / checkpoint_public_key.
    Keygen,
    /// Sign the newest prune anchor if it is unsigned (once, after configuring a key
    /// for a trail pruned before; check the chain against an earlier export first).
    SignAnchor,
    /// Write the trail as JSON lines for examiners.
    Export {
        /// Output file ("-" for standard output).
        #[arg(long)]
        out: PathBuf,
        /// Only entries at or after this date (YYYY-MM-DD, UTC) or RFC 3339 instant.
        #[arg(long)]
        since: Option<String>,
    },
    /// Remove the oldest entries past their retention (audit.retention_*_days), keeping the chain verifiable.
    Prune,
}

#[derive(Args)]
struct AnalyzeArgs {
    /// A stored transaction (see `reagent db seed`).
    #[arg(long, conflicts_with = "file", required_unless_present = "file")]
    transaction_id: Option<String>,
    /// A JSON request body as for POST /api/v1/analyze.
    #[arg(long)]
    file: Option<PathBuf>,
    /// A question about the transaction.
    #[arg(long)]
    question: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum DbCommand {
    /// Apply migrations and load the demo customers and transactions (idempotent).
    Seed {
        /// A seed file in the layout of seed/demo.json (default: the built-in demo).
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

#[derive(Args)]
struct IngestArgs {
    /// Files or folders to ingest.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Delete other versions of each document instead of closing them.
    #[arg(long)]
    replace: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    meta: MetaArgs,
}

/// Metadata for files that carry none (no front matter, no manifest entry).
#[derive(Args)]
struct MetaArgs {
    #[arg(long = "id")]
    document_id: Option<String>,
    #[arg(long)]
    title: Option<String>,
    #[arg(long = "doc-version")]
    version: Option<String>,
    /// regulation, guidance, policy, procedure or examination_manual.
    #[arg(long = "type")]
    document_type: Option<String>,
    #[arg(long)]
    jurisdiction: Option<String>,
    #[arg(long)]
    issuer: Option<String>,
    #[arg(long)]
    citation: Option<String>,
    #[arg(long)]
    effective_from: Option<NaiveDate>,
    #[arg(long)]
    effective_to: Option<NaiveDate>,
}

#[derive(Subcommand)]
enum DocsCommand {
    /// Every document with its versions.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One document: versions, dates and chunks.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a document, or one version of it.
    Delete {
        id: String,
        #[arg(long = "doc-version")]
        version: Option<String>,
    },
    /// Re-embed every stored chunk with the configured embedding model (after changing
    /// models; all or nothing).
    Reembed(cli::reembed::ReembedArgs),
}

#[derive(Args)]
struct SearchArgs {
    query: String,
    /// Only documents in force on this date (YYYY-MM-DD).
    #[arg(long)]
    as_of: Option<NaiveDate>,
    /// fusion, hybrid, dbsf, dense or bm25 (default: retrieval.mode).
    #[arg(long)]
    mode: Option<String>,
    #[arg(long, short)]
    k: Option<usize>,
    #[arg(long)]
    jurisdiction: Vec<String>,
    #[arg(long = "type")]
    document_type: Vec<String>,
    #[arg(long)]
    json: bool,
}

/// The byte and page caps of `extract-pdf` (the parent sets the time and memory ones).
#[derive(Args)]
struct ExtractPdfArgs {
    #[arg(long)]
    max_expanded_bytes: u64,
    #[arg(long)]
    max_text_bytes: u64,
    #[arg(long)]
    max_pages: u64,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration, secrets masked.
    Show,
}

/// Exit code when a batch finished but some inputs failed.
const EXIT_PARTIAL: u8 = 2;
/// Exit code when the store was written by another embedding model (`reagent docs reembed`).
const EXIT_MODEL_MISMATCH: u8 = 4;

fn is_model_mismatch(e: &anyhow::Error) -> bool {
    use reagent_ingest::store::StoreError;
    e.chain().any(|c| {
        matches!(c.downcast_ref::<StoreError>(), Some(StoreError::ModelMismatch { .. }))
            || matches!(c.downcast_ref::<reagent::services::StartError>(), Some(reagent::services::StartError::Store(StoreError::ModelMismatch { .. })))
    })
}

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("REAGENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,ort=warn,qdrant_edge=error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            if is_model_mismatch(&e) { ExitCode::from(EXIT_MODEL_MISMATCH) } else { ExitCode::FAILURE }
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    // The extractor child reads no configuration: its parent passed the limits.
    if let Command::ExtractPdf(args) = &cli.command {
        return extract_pdf(args);
    }
    let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
    match cli.command {
        Command::Config(ConfigCommand::Show) => {
            print!("{}", config.to_masked_toml());
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest(args) => ingest(config, args),
        Command::Docs(DocsCommand::Reembed(args)) => cli::reembed::run(config, args),
        Command::Docs(cmd) => docs(config, cmd),
        Command::Search(args) => search(config, args),
        Command::Serve { bind } => runtime()?.block_on(serve(config, bind)),
        Command::Analyze(args) => runtime()?.block_on(analyze(config, args)),
        Command::Db(DbCommand::Seed { file }) => runtime()?.block_on(seed(config, file)),
        Command::Eval(cmd) => cli::eval::run(config, cmd),
        Command::Keys(cmd) => runtime()?.block_on(keys(config, cmd)),
        Command::Audit(AuditCommand::Keygen) => audit_keygen(),
        Command::Audit(cmd) => runtime()?.block_on(audit(config, cmd)),
        Command::Sanctions(cmd) => cli::sanctions::run(config, cmd),
        Command::Feedback(cmd) => cli::feedback::run(config, cmd),
        Command::Batch(cmd) => cli::batch::run(config, cmd),
        Command::Report(cmd) => cli::report::run(config, cmd),
        Command::ExtractPdf(args) => extract_pdf(&args),
    }
}

fn extract_pdf(args: &ExtractPdfArgs) -> Result<ExitCode> {
    let limits = reagent_ingest::parse::ExtractLimits {
        max_expanded_bytes: args.max_expanded_bytes,
        max_text_bytes: args.max_text_bytes,
        max_pages: args.max_pages,
        ..Default::default()
    };
    reagent_ingest::parse::isolate::serve_child(&limits, std::io::stdin().lock(), std::io::stdout().lock())
        .context("answering the PDF extraction")?;
    Ok(ExitCode::SUCCESS)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

async fn serve(config: Config, bind: Option<String>) -> Result<ExitCode> {
    let addr: std::net::SocketAddr = bind
        .as_deref()
        .unwrap_or(&config.server.bind)
        .parse()
        .context("--bind must be an address like 127.0.0.1:8080")?;
    let db = reagent::db::Database::open(&config.database).await.context("opening the database")?;
    let services = Services::start(config).context("starting")?;
    let state = std::sync::Arc::new(services.app_state(db).context("starting the service")?);
    reagent::app::watch_sanctions_lists(&state).await.context("loading the sanctions lists")?;
    let orphans = state.jobs.fail_orphans().await.context("failing the ingestion jobs of stopped processes")?;
    if !orphans.is_empty() {
        tracing::warn!("{} ingestion job(s) of a stopped server process marked failed", orphans.len());
    }
    if state.auth.list_keys().await?.iter().all(|k| k.revoked_at.is_some()) && !state.auth.jwt_enabled() {
        tracing::warn!("no active API key and no JWT configured: every API call will be refused; create one with `reagent keys create --role admin --name NAME`");
    }
    if !state.analyzer.llm_configured() {
        tracing::info!("no LLM configured (llm.enabled = false): guidance comes from the rules generator");
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    reagent::server::serve(state, services.config.clone(), listener, reagent::server::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

async fn analyze(config: Config, args: AnalyzeArgs) -> Result<ExitCode> {
    let input = match (&args.transaction_id, &args.file) {
        (Some(id), _) => {
            let db = reagent::db::Database::open(&config.database).await.context("opening the database")?;
            let engine = Services::rules_engine_for(&config)?;
            db.transaction_context_in(id, config.server.lookback_days, engine.config().time_zone())
                .await?
                .with_context(|| format!("no transaction {id:?} in the database (run `reagent db seed`)"))?
        }
        (None, Some(file)) => {
            let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            reagent::api::decode::<reagent::domain::RuleInput>(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: {}{}", file.display(), e.message, e.field.map(|f| format!(" (field {f})")).unwrap_or_default()))?
        }
        (None, None) => bail!("give --transaction-id or --file"),
    };
    let db = reagent::db::Database::open(&config.database).await.context("opening the database")?;
    let services = Services::start(config).context("starting")?;
    let analyzer = services.analyzer()?;
    let n_lists = db.refresh_sanctions(analyzer.engine().sanctions()).await?;
    if n_lists == 0 {
        tracing::warn!("no sanctions list loaded (`reagent sanctions load`): names are not screened");
    }
    let (analysis, _) = analyzer.analyze(input, args.question).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&analysis)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("transaction {}: risk {:?} ({:.2}), review {}", analysis.transaction_id, analysis.risk_level, analysis.risk_score,
        if analysis.requires_review { "REQUIRED" } else { "not required" });
    println!("generator: {:?}{}", analysis.generator.kind,
        analysis.generator.degraded_reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default());
    for a in &analysis.required_actions {
        println!("\n[{}] {}", a.code.as_str(), a.title);
        println!("  {}", a.description);
        if let Some(d) = &a.deadline {
            println!("  deadline: {d}");
        }
        for c in &a.citations {
            println!("  cites {} — {} @ {}", c.citation.as_deref().unwrap_or("-"), c.document_title, c.version);
        }
    }
    if analysis.required_actions.is_empty() {
        println!("no obligations triggered");
    }
    let screening = &analysis.sanctions_screening;
    match (&screening.note, screening.lists.as_slice()) {
        (Some(note), _) => println!("\nsanctions screening: {note}"),
        (None, lists) => println!(
            "\nsanctions screening ({}) against {}: {} possible match(es)",
            screening.screened.join(", "),
            lists.iter().map(|l| format!("{} ({})", l.version_id, l.basis)).collect::<Vec<_>>().join(", "),
            screening.matches.len()
        ),
    }
    if let Some(answer) = &analysis.answer {
        println!("\nanswer: {answer}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn seed(config: Config, file: Option<PathBuf>) -> Result<ExitCode> {
    let db = reagent::db::Database::open(&config.database).await.context("opening the database")?;
    let report = match file {
        Some(f) => db.seed_from(&f).await?,
        None => db.seed_demo().await?,
    };
    println!("{report:?}");
    Ok(ExitCode::SUCCESS)
}

fn ingest(config: Config, args: IngestArgs) -> Result<ExitCode> {
    let defaults = MetadataDefaults {
        document_id: args.meta.document_id,
        title: args.meta.title,
        version: args.meta.version,
        document_type: args
            .meta
            .document_type
            .map(|t| t.parse::<DocumentType>())
            .transpose()
            .map_err(anyhow::Error::msg)
            .context("--type")?,
        jurisdiction: args.meta.jurisdiction,
        issuer: args.meta.issuer,
        citation: args.meta.citation,
        effective_from: args.meta.effective_from,
        effective_to: args.meta.effective_to,
    };
    let options = IngestOptions {
        replace: args.replace,
        defaults,
        today: chrono::Utc::now().date_naive(),
        parse: config.ingest.parse_settings(),
    };
    let services = Services::start(config).context("starting")?;
    let progress = Reporter::new();
    let pipeline = Pipeline {
        chunker: &services.chunker,
        embedder: services.embedder.as_ref(),
        store: services.store.as_ref(),
        progress: &progress,
    };
    let report = pipeline.run(&args.paths, &options)?;
    if report.chunks_written > 0 {
        services.store.optimize().context("optimizing the store")?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for f in &report.files {
            match &f.outcome {
                Outcome::Ingested { document_id, version, chunks, closed, deleted } => {
                    let mut line = format!("ingested   {}  {document_id}@{version}  {chunks} chunks", f.path);
                    if !closed.is_empty() {
                        line.push_str(&format!(", closed {}", closed.join(", ")));
                    }
                    if *deleted > 0 {
                        line.push_str(&format!(", deleted {deleted} old chunks"));
                    }
                    println!("{line}");
                }
                Outcome::Unchanged { document_id, version } => {
                    println!("unchanged  {}  {document_id}@{version}  nothing written", f.path)
                }
                Outcome::Failed { reason } => println!("FAILED     {}  {reason}", f.path),
            }
        }
        let embed_share = if report.seconds_total > 0.0 { 100.0 * report.seconds_embedding / report.seconds_total } else { 0.0 };
        println!(
            "{} ingested, {} unchanged, {} failed; {} chunks written in {:.1}s ({:.0}% embedding)",
            report.ingested(),
            report.unchanged(),
            report.failed(),
            report.chunks_written,
            report.seconds_total,
            embed_share
        );
    }
    Ok(if report.failed() > 0 { ExitCode::from(EXIT_PARTIAL) } else { ExitCode::SUCCESS })
}

fn docs(config: Config, cmd: DocsCommand) -> Result<ExitCode> {
    let services = Services::start(config).context("starting")?;
    let store = services.store.as_ref();
    match cmd {
        DocsCommand::List { json } => {
            let versions = store.versions(None)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&versions)?);
            } else {
                println!("{:<36} {:<14} {:<18} {:<11} {:<11} {:>6}  title", "document", "version", "type", "from", "to", "chunks");
                for v in versions.iter().filter(|v| v.status == VersionStatus::Active) {
                    let m = &v.meta;
                    println!(
                        "{:<36} {:<14} {:<18} {:<11} {:<11} {:>6}  {}",
                        m.document_id,
                        m.version,
                        m.document_type.as_str(),
                        m.effective_from.to_string(),
                        m.effective_to.map_or("-".to_string(), |d| d.to_string()),
                        v.chunk_count,
                        m.title
                    );
                }
            }
        }
        DocsCommand::Show { id, json } => {
            let versions = store.versions(Some(&id))?;
            if versions.is_empty() {
                bail!("no document with id {id:?} (see `reagent docs list`)");
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&versions)?);
            } else {
                for v in &versions {
                    let m = &v.meta;
                    println!("{} @ {} ({:?})", m.document_id, m.version, v.status);
                    println!("  title:        {}", m.title);
                    println!("  type:         {}  jurisdiction: {}  issuer: {}", m.document_type, m.jurisdiction, m.issuer);
                    println!("  citation:     {}", m.citation.as_deref().unwrap_or("-"));
                    println!("  in force:     {} .. {}", m.effective_from, m.effective_to.map_or("open".into(), |d| d.to_string()));
                    println!("  source:       {}  sha256 {}", m.source_path, &m.content_hash[..16.min(m.content_hash.len())]);
                    println!("  chunks:       {}  ingested {}", v.chunk_count, v.ingested_at.format("%Y-%m-%d %H:%M:%S UTC"));
                    for c in store.chunks(&m.document_id, &m.version)?.iter().take(5) {
                        println!("    [{}] {}  {}", c.chunk.index, c.chunk.citation.as_deref().unwrap_or("-"), c.chunk.section_path.join(" > "));
                    }
                }
            }
        }
        DocsCommand::Delete { id, version } => {
            let n = store.delete(&id, version.as_deref())?;
            if n == 0 {
                bail!("nothing to delete: no document {id:?}{}", version.map(|v| format!(" version {v:?}")).unwrap_or_default());
            }
            println!("deleted {n} chunks");
        }
        // Dispatched in `run`, before the store is opened (it may be on another model).
        DocsCommand::Reembed(_) => bail!("docs reembed runs without opening the store"),
    }
    Ok(ExitCode::SUCCESS)
}

fn search(config: Config, args: SearchArgs) -> Result<ExitCode> {
    let services = Services::start(config).context("starting")?;
    let filter = SearchFilter {
        as_of: args.as_of,
        jurisdictions: args.jurisdiction,
        document_types: args
            .document_type
            .iter()
            .map(|t| t.parse::<DocumentType>())
            .collect::<Result<_, _>>()
            .map_err(anyhow::Error::msg)
            .context("--type")?,
        document_ids: vec![],
    };
    let hits = services.retriever().search(&args.query, filter, args.mode.as_deref(), args.k)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&hits)?);
    } else {
        for (rank, h) in hits.iter().enumerate() {
            let r = &h.record;
            println!(
                "{:>2}. {:.4}  {}  [{}@{}]  {}",
                rank + 1,
                h.score,
                r.chunk.citation.as_deref().unwrap_or("-"),
                r.meta.document_id,
                r.meta.version,
                r.chunk.section_path.join(" > ")
            );
            let excerpt: String = r.chunk.text.chars().take(160).collect();
            println!("      {}", excerpt.replace('\n', " "));
        }
        if hits.is_empty() {
            eprintln!("no chunk matched (BM25 needs a word that is not a stop word; is anything ingested in force on that date?)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn keys(config: Config, cmd: KeysCommand) -> Result<ExitCode> {
    use reagent::audit::{Actor, AuditEvent, AuditKind, AuditLog};
    let db = reagent::db::Database::open(&config.database).await.context("opening the database")?;
    let auth = reagent::auth::Authenticator::new(db.clone(), &config.auth).context("[auth]")?;
    match cmd {
        KeysCommand::Create { role, name, json } => {
            let role: reagent::auth::Role = role.parse().map_err(anyhow::Error::msg).context("--role")?;
            let created = auth.create_key(&name, role).await.context("--name")?;
            let audit = AuditLog::new(db, &config.audit)?;
            let event = AuditEvent::new(AuditKind::Key, "key.create", Actor::cli(), &created.info.key_id)
                .details(serde_json::json!({ "name": created.info.name, "role": created.info.role }));
            audit.record(event).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&created)?);
            } else {
                println!("created key {} ({}, role {})", created.info.key_id, created.info.name, created.info.role);
                println!("{}", created.key);
                eprintln!("store this key now: it is not shown again (only its hash is kept)");
            }
        }
        KeysCommand::List { json } => {
            let keys = auth.list_keys().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
            } else {
                println!("{:<14} {:<20} {:<26} {:<22} name", "id", "role", "created", "revoked");
                for k in &keys {
                    println!(
                        "{:<14} {:<20} {:<26} {:<22} {}",
                        k.key_id,
                        k.role,
                        k.created_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                        k.revoked_at.map_or("-".to_string(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string()),
                        k.name
                    );
                }
            }
        }
        KeysCommand::Revoke { id } => {
            let revoked = auth.revoke_key(&id).await.map_err(|e| match e {
                reagent::auth::AuthError::NotFound(_) => {
                    anyhow::anyhow!("no API key {id:?} (see `reagent keys list`)")
                }
                other => other.into(),
            })?;
            let audit = AuditLog::new(db, &config.audit)?;
            audit.record(AuditEvent::new(AuditKind::Key, "key.revoke", Actor::cli(), &id)).await?;
            println!("revoked {} ({}); a running server stops accepting it within auth.key_cache_seconds", revoked.key_id, revoked.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `reagent audit keygen`: needs no database.
fn audit_keygen() -> Result<ExitCode> {
    let (signing, public) = reagent::audit::CheckpointKeys::generate()?;
    println!("# [audit] keys for signed checkpoints and prune anchors. Keep the signing key out of");
    println!("# the database and its backups (REAGENT_AUDIT_CHECKPOINT_SIGNING_KEY); give examiners");
    println!("# only the public key.");
    println!("checkpoint_signing_key = \"{signing}\"");
    println!("checkpoint_public_key = \"{public}\"");
    Ok(ExitCode::SUCCESS)
}

async fn audit(config: Config, cmd: AuditCommand) -> Result<ExitCode> {
    let keys = config.audit.checkpoint_keys()?;
    let db = reagent::db::Database::open(&config.database).await.context("opening the database")?;
    match cmd {
        AuditCommand::Verify { checkpoint, json } => {
            let mut given = Vec::new();
            for path in &checkpoint {
                let text = std::fs::read_to_string(path).with_context(|| format!("--checkpoint {}", path.display()))?;
                let document = reagent::audit::Checkpoint::from_json(&text)
                    .map_err(|e| anyhow::anyhow!("--checkpoint {}: {e}", path.display()))?;
                given.push(reagent::audit::GivenCheckpoint {
                    checkpoint: document,
                    source: format!("checkpoint file {}", path.display()),
                });
            }
            let report = reagent::audit::verify_with(&db, &keys, &given).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
            match &report.broken {
                None => {
                    if !json {
                        println!(
                            "audit chain intact: {} entries{}{}",
                            report.entries,
                            report
                                .anchor_seq
                                .map(|a| format!(
                                    " after the {} prune anchor at entry {a}",
                                    if report.anchor_signed { "signed" } else { "unsigned" }
                                ))
                                .unwrap_or_default(),
                            report.last_seq.map(|l| format!(", last entry {l}")).unwrap_or_default()
                        );
                        for c in &report.checkpoints {
                            println!("  {} at entry {} ({}): {}", c.source, c.seq, c.at.to_rfc3339(), c.outcome);
                        }
                    }
                    if keys.verifying().is_none() {
                        eprintln!(
                            "warning: no audit.checkpoint_public_key: verified by the hashes alone, which cannot show \
                             truncation, a rewrite with recomputed hashes or a planted prune anchor"
                        );
                    } else if report.checkpoints.is_empty() {
                        eprintln!("warning: no checkpoint to check against: truncation and rewrites go unnoticed (run `reagent audit checkpoint`)");
                    }
                    if report.unverified_stored_checkpoints > 0 {
                        eprintln!(
                            "warning: {} stored checkpoint(s) skipped: their signature does not verify with the configured public key",
                            report.unverified_stored_checkpoints
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Some(b) => {
                    eprintln!("audit chain BROKEN at entry {}: {}", b.seq, b.reason);
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        AuditCommand::Export { out, since } => {
            let since = since
                .map(|s| {
                    chrono::DateTime::parse_from_rfc3339(&s)
                        .map(|t| t.with_timezone(&chrono::Utc))
                        .or_else(|_| s.parse::<NaiveDate>().map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc()))
                        .map_err(|_| anyhow::anyhow!("--since {s:?} is neither a date YYYY-MM-DD nor an RFC 3339 instant"))
                })
                .transpose()?;
            let n = if out.as_os_str() == "-" {
                let stdout = std::io::stdout();
                let mut lock = stdout.lock();
                reagent::audit::export(&db, &mut lock, since).await?
            } else {
                let file = std::fs::File::create(&out).with_context(|| format!("--out {}", out.display()))?;
                let mut w = std::io::BufWriter::new(file);
                reagent::audit::export(&db, &mut w, since).await?
            };
            eprintln!("exported {n} audit entries");
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Checkpoint { out } => {
            let checkpoint = reagent::audit::take_checkpoint(&db, &keys).await?;
            let document = serde_json::to_string_pretty(&checkpoint)? + "\n";
            match out {
                Some(path) => {
                    std::fs::write(&path, &document).with_context(|| format!("--out {}", path.display()))?;
                    eprintln!("checkpoint of entry {} written to {} and stored", checkpoint.seq, path.display());
                }
                None => print!("{document}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Keygen => audit_keygen(),
        AuditCommand::SignAnchor => {
            match reagent::audit::sign_anchor(&db, &keys).await? {
                Some(seq) => println!("signed the prune anchor at entry {seq}"),
                None => println!("no unsigned prune anchor"),
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Prune => {
            let report = reagent::audit::prune(&db, &config.audit, chrono::Utc::now()).await?;
            match report.through_seq {
                Some(seq) => println!(
                    "pruned {} entries through entry {seq}; verification continues from its {} anchor",
                    report.pruned,
                    if report.anchor_signed { "signed" } else { "unsigned" }
                ),
                None => println!("nothing to prune{}", report.kept_from.map(|k| format!(" (entry {k} is still within retention)")).unwrap_or_default()),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
