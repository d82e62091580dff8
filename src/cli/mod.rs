//! The `reagent` command: the argument tree and the dispatch to one module per command
//! group. Each group's module owns its arguments and its body.

pub mod analyze;
pub mod audit;
pub mod batch;
pub mod db;
pub mod docs;
pub mod eval;
pub mod eval_embedding;
pub mod extract_pdf;
pub mod feedback;
pub mod ingest;
pub mod keys;
pub mod reembed;
pub mod report;
pub mod sanctions;
pub mod search;
pub mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use reagent::config::Config;

#[derive(Parser)]
#[command(name = "reagent", version, about = "Cited compliance guidance for bank transactions")]
pub struct Cli {
    /// Configuration file (default: ./reagent.toml if present).
    #[arg(long, global = true, env = "REAGENT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Parse, chunk, embed and store documents (files or folders).
    Ingest(ingest::IngestArgs),
    /// List, show or delete stored documents.
    #[command(subcommand)]
    Docs(docs::DocsCommand),
    /// Retrieve the chunks that best answer a query.
    Search(search::SearchArgs),
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
    Analyze(analyze::AnalyzeArgs),
    /// Database tasks.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Benchmarks: retrieval quality on a labelled passage set, guidance on labelled scenarios (see eval/README.md).
    #[command(subcommand)]
    Eval(eval::EvalCommand),
    /// API keys (stored as argon2 hashes; a new key is shown once).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// The hash-chained audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Sanctions lists: load Treasury's files as dated versions, list them, screen a name.
    #[command(subcommand)]
    Sanctions(sanctions::SanctionsCommand),
    /// Officers' judgements of citations: export them as training pairs for the tuning tool.
    #[command(subcommand)]
    Feedback(feedback::FeedbackCommand),
    /// Batch screening: analyse a file of transactions, load a file of customers.
    #[command(subcommand)]
    Batch(batch::BatchCommand),
    /// Reports for examiners: the month's quality figures with charts.
    #[command(subcommand)]
    Report(report::ReportCommand),
    /// Internal: extract the text of a PDF read on stdin and write it as JSON on
    /// stdout. Ingestion runs this in a child process with memory and time limits.
    /// (The name is `reagent::config::EXTRACT_PDF_COMMAND`.)
    #[command(name = "extract-pdf", hide = true)]
    ExtractPdf(extract_pdf::ExtractPdfArgs),
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration, secrets masked.
    Show,
}

/// Exit code when a batch finished but some inputs failed.
pub(crate) const EXIT_PARTIAL: u8 = 2;
/// Exit code when the store was written by another embedding model (`reagent docs reembed`).
pub const EXIT_MODEL_MISMATCH: u8 = 4;

pub fn is_model_mismatch(e: &anyhow::Error) -> bool {
    use reagent_ingest::store::StoreError;
    e.chain().any(|c| {
        matches!(c.downcast_ref::<StoreError>(), Some(StoreError::ModelMismatch { .. }))
            || matches!(c.downcast_ref::<reagent::services::StartError>(), Some(reagent::services::StartError::Store(StoreError::ModelMismatch { .. })))
    })
}

pub fn run(cli: Cli) -> Result<ExitCode> {
    // The extractor child reads no configuration: its parent passed the limits.
    if let Command::ExtractPdf(args) = &cli.command {
        return extract_pdf::run(args);
    }
    let config = Config::load(cli.config.as_deref()).context("loading configuration")?;
    match cli.command {
        Command::Config(ConfigCommand::Show) => {
            print!("{}", config.to_masked_toml());
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest(args) => ingest::run(config, args),
        Command::Docs(docs::DocsCommand::Reembed(args)) => reembed::run(config, args),
        Command::Docs(cmd) => docs::run(config, cmd),
        Command::Search(args) => search::run(config, args),
        Command::Serve { bind } => runtime()?.block_on(serve::run(config, bind)),
        Command::Analyze(args) => runtime()?.block_on(analyze::run(config, args)),
        Command::Db(db::DbCommand::Seed { file }) => runtime()?.block_on(db::seed(config, file)),
        Command::Eval(cmd) => eval::run(config, cmd),
        Command::Keys(cmd) => runtime()?.block_on(keys::run(config, cmd)),
        Command::Audit(audit::AuditCommand::Keygen) => audit::keygen(),
        Command::Audit(cmd) => runtime()?.block_on(audit::run(config, cmd)),
        Command::Sanctions(cmd) => sanctions::run(config, cmd),
        Command::Feedback(cmd) => feedback::run(config, cmd),
        Command::Batch(cmd) => batch::run(config, cmd),
        Command::Report(cmd) => report::run(config, cmd),
        Command::ExtractPdf(args) => extract_pdf::run(&args),
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}
