//! `reagent batch`: screen a file of transactions (`run`) and load a file of
//! customers (`customers`), over `reagent::app::batch`. Prints the one-line summary and
//! writes the rejected rows (line, field, message) to a CSV report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use reagent::app::{Actor, App};
use reagent::app::batch::{self, Format, Options};
use reagent::config::Config;
use reagent::services::Services;
use reagent_ingest::progress::Reporter;

#[derive(Subcommand)]
pub enum BatchCommand {
    /// Store and analyse the transactions of a CSV (header row) or JSON-lines file.
    Run {
        file: PathBuf,
        /// Where to write the rejected rows (default: FILE.rejected.csv).
        #[arg(long)]
        report: Option<PathBuf>,
        /// Analyses stored per database transaction.
        #[arg(long, default_value_t = batch::DEFAULT_CHUNK_SIZE)]
        chunk_size: usize,
        /// Print the whole report as JSON instead of the summary line.
        #[arg(long)]
        json: bool,
    },
    /// Store (insert or update) the customers of a CSV or JSON-lines file.
    Customers {
        file: PathBuf,
        /// Where to write the rejected rows (default: FILE.rejected.csv).
        #[arg(long)]
        report: Option<PathBuf>,
    },
}

pub fn run(config: Config, cmd: BatchCommand) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let db = reagent::services::open_database(&config).await.context("opening the database")?;
        match cmd {
            BatchCommand::Run { file, report, chunk_size, json } => {
                let (bytes, format) = read(&file)?;
                let lookback_days =
                    u32::try_from(config.server.lookback_days).context("server.lookback_days must not be negative")?;
                let services = tokio::task::spawn_blocking(move || Services::start(config)).await?.context("starting")?;
                let app = services.app_state(db)?;
                let options = Options {
                    lookback_days,
                    chunk_size,
                    actor: Actor::cli(),
                    source: file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                };
                screen(&app, &file, &bytes, format, &options, report, json).await
            }
            BatchCommand::Customers { file, report } => {
                let (bytes, format) = read(&file)?;
                let outcome = batch::load_customers(&db, &bytes, format).await?;
                println!("{} customers stored, {} rejected rows", outcome.stored, outcome.rejected.len());
                let report_file = batch::BatchReport { rejected: outcome.rejected, ..Default::default() };
                finish(&file, report, &report_file)
            }
        }
    })
}

fn read(file: &Path) -> Result<(Vec<u8>, Format)> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let format = Format::detect(&file.to_string_lossy(), &bytes);
    Ok((bytes, format))
}

async fn screen(
    app: &App,
    file: &Path,
    bytes: &[u8],
    format: Format,
    options: &Options,
    report_path: Option<PathBuf>,
    json: bool,
) -> Result<ExitCode> {
    if app.refresh_sanctions().await? == 0 {
        tracing::warn!("no sanctions list loaded (`reagent sanctions load`): names are not screened");
    }
    let report = app
        .screen_batch(bytes, format, options, &Reporter::new())
        .await
        .with_context(|| format!("screening {}", file.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        if report.already_analysed > 0 {
            println!("{} transactions were analysed by an earlier run and skipped", report.already_analysed);
        }
        println!("{}", report.summary());
    }
    finish(file, report_path, &report)
}

/// Writes the rejected rows' report (when there are any); exit code 2 if rows were rejected.
fn finish(file: &Path, report_path: Option<PathBuf>, report: &batch::BatchReport) -> Result<ExitCode> {
    if report.rejected.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let path = report_path.unwrap_or_else(|| {
        let mut name = file.as_os_str().to_owned();
        name.push(".rejected.csv");
        PathBuf::from(name)
    });
    std::fs::write(&path, report.rejected_csv()).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("rejected rows (line, field, message): {}", path.display());
    Ok(ExitCode::from(2))
}
