//! `reagent search`: the chunks that best answer a query, with filters.

use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::Args;
use reagent::config::Config;
use reagent::services::Services;
use reagent_ingest::store::SearchFilter;
use reagent_ingest::DocumentType;

#[derive(Args)]
pub struct SearchArgs {
    pub query: String,
    /// Only documents in force on this date (YYYY-MM-DD).
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
    /// fusion, hybrid, dbsf, dense or bm25 (default: retrieval.mode).
    #[arg(long)]
    pub mode: Option<reagent_retrieval::RetrievalMode>,
    #[arg(long, short)]
    pub k: Option<usize>,
    #[arg(long)]
    pub jurisdiction: Vec<String>,
    #[arg(long = "type")]
    pub document_type: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(config: Config, args: SearchArgs) -> Result<ExitCode> {
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
    let hits = services.retriever().search(&args.query, filter, args.mode, args.k)?;
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
