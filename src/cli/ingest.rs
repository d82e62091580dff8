//! `reagent ingest`: files or folders → parsed, chunked, embedded, stored versions, with a report.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::Args;
use reagent::config::Config;
use reagent::services::Services;
use reagent_ingest::parse::MetadataDefaults;
use reagent_ingest::pipeline::{IngestOptions, Outcome, Pipeline};
use reagent_ingest::progress::Reporter;
use reagent_ingest::DocumentType;

#[derive(Args)]
pub struct IngestArgs {
    /// Files or folders to ingest.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Delete other versions of each document instead of closing them.
    #[arg(long)]
    pub replace: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub meta: MetaArgs,
}

/// Metadata for files that carry none (no front matter, no manifest entry).
#[derive(Args)]
pub struct MetaArgs {
    #[arg(long = "id")]
    pub document_id: Option<String>,
    #[arg(long)]
    pub title: Option<String>,
    #[arg(long = "doc-version")]
    pub version: Option<String>,
    /// regulation, guidance, policy, procedure or examination_manual.
    #[arg(long = "type")]
    pub document_type: Option<String>,
    #[arg(long)]
    pub jurisdiction: Option<String>,
    #[arg(long)]
    pub issuer: Option<String>,
    #[arg(long)]
    pub citation: Option<String>,
    #[arg(long)]
    pub effective_from: Option<NaiveDate>,
    #[arg(long)]
    pub effective_to: Option<NaiveDate>,
}

pub fn run(config: Config, args: IngestArgs) -> Result<ExitCode> {
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
    Ok(if report.failed() > 0 { ExitCode::from(super::EXIT_PARTIAL) } else { ExitCode::SUCCESS })
}
