//! `reagent extract-pdf` (internal): the child process that extracts a PDF's text under limits.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

/// The byte and page caps of `extract-pdf` (the parent sets the time and memory ones).
#[derive(Args)]
pub struct ExtractPdfArgs {
    #[arg(long)]
    pub max_expanded_bytes: u64,
    #[arg(long)]
    pub max_text_bytes: u64,
    #[arg(long)]
    pub max_pages: u64,
}

pub fn run(args: &ExtractPdfArgs) -> Result<ExitCode> {
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
