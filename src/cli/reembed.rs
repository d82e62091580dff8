//! `reagent docs reembed`: move the store to the configured embedding model. Every
//! stored chunk's dense vector is computed again from its stored text; ids, payloads and
//! BM25 vectors are kept. All or nothing (see `reagent_ingest::store::reembed`): an
//! interrupted run leaves the store on its old model, and running it again starts over.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use reagent::config::Config;
use reagent_ingest::progress::Reporter;
use reagent_ingest::{Embedder, OnnxEmbedder};

#[derive(Args)]
pub struct ReembedArgs {
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(config: Config, args: ReembedArgs) -> Result<ExitCode> {
    let embedder = OnnxEmbedder::load(&config.embedding).context("loading the embedding model")?;
    let report = reagent_ingest::store::reembed(&config.store, &embedder, &Reporter::new())
        .with_context(|| format!("re-embedding the store at {}", config.store.data_dir.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if report.changed {
        println!(
            "re-embedded {} chunks in {:.1}s: {} -> {}",
            report.chunks, report.seconds, report.from_model, report.to_model
        );
    } else {
        println!("the store is already on {}; nothing to do", embedder.model_id());
    }
    Ok(ExitCode::SUCCESS)
}
