//! `reagent report monthly`: the quality figures of one calendar month
//! (`reagent::app::monitoring`) written for examiners as Markdown (charts as SVG files
//! beside it) and/or one self-contained HTML file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};
use reagent::config::Config;
use reagent::app::monitoring::{self, DateRange, Figures, MonitoringError};
use reagent::services::Services;

/// Exit code for a month that cannot be read.
const EXIT_USAGE: u8 = 2;

#[derive(Subcommand)]
pub enum ReportCommand {
    /// The month's quality figures and charts: volumes by risk, review rate, queue and
    /// overdue items, decisions and the override rate, rules share, latency.
    Monthly {
        /// The month, written YYYY-MM.
        #[arg(long)]
        month: String,
        /// Folder to write into (created if missing).
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// md (report-YYYY-MM.md and charts-YYYY-MM/*.svg), html (report-YYYY-MM.html), or both.
        #[arg(long, value_enum, default_value_t = Format::Both)]
        format: Format,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Md,
    Html,
    Both,
}

pub fn run(config: Config, cmd: ReportCommand) -> Result<ExitCode> {
    let ReportCommand::Monthly { month, out, format } = cmd;
    let range = match DateRange::month(&month) {
        Ok(range) => range,
        Err(MonitoringError::Invalid { field, reason }) => {
            eprintln!("error: --{field}: {reason}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
        Err(other) => return Err(other.into()),
    };
    let tz = Services::rules_engine_for(&config).context("loading the rules data (for the time zone)")?.config().time_zone();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let figures = runtime.block_on(async {
        let db = reagent::services::open_database(&config).await.context("opening the database")?;
        monitoring::figures(&db, range, tz).await.context("computing the figures")
    })?;
    let written = write(&figures, &out, format)?;
    for path in written {
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the report files; their paths, report first.
fn write(figures: &Figures, out: &Path, format: Format) -> Result<Vec<PathBuf>> {
    let label = figures.range.month_label().unwrap_or_else(|| figures.range.from().to_string());
    let charts = monitoring::charts(figures);
    let generated = chrono::Utc::now();
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut written = Vec::new();
    if matches!(format, Format::Md | Format::Both) {
        let chart_dir = format!("charts-{label}");
        std::fs::create_dir_all(out.join(&chart_dir)).with_context(|| format!("creating {}", out.join(&chart_dir).display()))?;
        let md_path = out.join(format!("report-{label}.md"));
        write_file(&md_path, &monitoring::markdown(figures, &charts, &chart_dir, generated))?;
        written.push(md_path);
        for c in &charts {
            let path = out.join(&chart_dir).join(format!("{}.svg", c.id));
            write_file(&path, &c.svg())?;
            written.push(path);
        }
    }
    if matches!(format, Format::Html | Format::Both) {
        let html_path = out.join(format!("report-{label}.html"));
        write_file(&html_path, &monitoring::html(figures, &charts, generated))?;
        written.push(html_path);
    }
    Ok(written)
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
