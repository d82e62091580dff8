//! `reagent db seed`: migrations and the demo (or a given) seed file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use reagent::config::Config;

#[derive(Subcommand)]
pub enum DbCommand {
    /// Apply migrations and load the demo customers and transactions (idempotent).
    Seed {
        /// A seed file in the layout of seed/demo.json (default: the built-in demo).
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

pub async fn seed(config: Config, file: Option<PathBuf>) -> Result<ExitCode> {
    let db = reagent::services::open_database(&config).await.context("opening the database")?;
    let report = match file {
        Some(f) => db.seed_from(&f).await?,
        None => db.seed_demo().await?,
    };
    println!("{report:?}");
    Ok(ExitCode::SUCCESS)
}
