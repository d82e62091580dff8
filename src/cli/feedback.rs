//! `reagent feedback export`: officers' judgements of citations as training pairs
//! (JSON lines, the format the tuning tool reads with `--pairs`), through
//! `reagent::app`; this file opens the database and the store, and reports.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, NaiveDate, Utc};
use clap::Subcommand;
use reagent::config::Config;
use reagent::app::{ExportReport, FeedbackError};
use reagent::services::{Services, StartError};

/// Exit code: the database could not be opened or read.
const EXIT_DATABASE: u8 = 3;
/// Exit code: the chunk store could not be opened or read (e.g. a running server holds it).
const EXIT_STORE: u8 = 4;

/// Skipped judgements named one by one before the rest are only counted.
const SHOWN_SKIPS: usize = 10;

#[derive(Subcommand)]
pub enum FeedbackCommand {
    /// Write the judgements as training pairs, one JSON line each, oldest first.
    /// Exit 2 if some were skipped, 3 if the database, 4 if the store cannot be read.
    Export {
        /// Output file (default: standard output). Written whole or not at all.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Only judgements given at or after this date (YYYY-MM-DD, UTC) or RFC 3339 instant.
        #[arg(long)]
        since: Option<String>,
    },
}

pub fn run(config: Config, cmd: FeedbackCommand) -> Result<ExitCode> {
    let FeedbackCommand::Export { out, since } = cmd;
    let since = since.as_deref().map(parse_since).transpose()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let db = match reagent::services::open_database(&config).await {
            Ok(db) => db,
            Err(e) => return Ok(fail(EXIT_DATABASE, &format!("opening the database: {e}"))),
        };
        let services = match Services::start(config) {
            Ok(s) => s,
            Err(StartError::Store(e)) => return Ok(fail(EXIT_STORE, &format!("opening the chunk store: {e}"))),
            Err(e) => return Err(anyhow!(e).context("starting")),
        };
        let app = services.app_state(db).context("starting")?;
        let exported = match &out {
            None => app.export_feedback(since, &mut std::io::stdout().lock()).await,
            Some(path) => {
                // Written beside and renamed when complete, so a failed export never
                // leaves a truncated file where the tuning tool looks.
                let mut partial = path.as_os_str().to_owned();
                partial.push(".partial");
                let partial = PathBuf::from(partial);
                let file = std::fs::File::create(&partial).with_context(|| format!("--out {}", partial.display()))?;
                let mut writer = std::io::BufWriter::new(file);
                let result = app.export_feedback(since, &mut writer).await;
                drop(writer);
                if result.is_ok() {
                    std::fs::rename(&partial, path).with_context(|| format!("--out {}", path.display()))?;
                } else {
                    let _ = std::fs::remove_file(&partial);
                }
                result
            }
        };
        match exported {
            Ok(report) => Ok(summarize(&report, out.as_deref())),
            Err(FeedbackError::Db(e)) => Ok(fail(EXIT_DATABASE, &format!("reading the feedback: {e}"))),
            Err(FeedbackError::Store(e)) => Ok(fail(EXIT_STORE, &format!("reading chunk texts: {e}"))),
            Err(e) => Err(e.into()),
        }
    })
}

fn fail(code: u8, message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code)
}

fn summarize(report: &ExportReport, out: Option<&std::path::Path>) -> ExitCode {
    let target = out.map_or("standard output".to_string(), |p| p.display().to_string());
    eprintln!("exported {} training pair(s) to {target}", report.pairs);
    if report.skipped.is_empty() {
        return ExitCode::SUCCESS;
    }
    eprintln!("skipped {} judgement(s):", report.skipped.len());
    for s in report.skipped.iter().take(SHOWN_SKIPS) {
        eprintln!("  feedback {} on analysis {}: {}", s.feedback_id, s.analysis_id, s.reason);
    }
    if report.skipped.len() > SHOWN_SKIPS {
        eprintln!("  … and {} more", report.skipped.len() - SHOWN_SKIPS);
    }
    ExitCode::from(super::EXIT_PARTIAL)
}

fn parse_since(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| s.parse::<NaiveDate>().map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc()))
        .map_err(|_| anyhow!("--since {s:?} is neither a date YYYY-MM-DD nor an RFC 3339 instant"))
}
