//! `reagent sanctions`: load Treasury's list files as dated versions into the
//! database, list the versions, and screen a name the way analyses do.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::Subcommand;
use reagent::config::Config;
use reagent::app::sanctions::{SanctionsVersions, StoredVersion};
use reagent::sanctions::{self, ListKind, ListSelection, SanctionsLists};
use reagent::services::Services;

/// Names of added and removed entries printed after a load (all are in `--json`).
const SHOWN_CHANGES: usize = 10;

#[derive(Subcommand)]
pub enum SanctionsCommand {
    /// Store a list file in Treasury's sdn.csv layout as a new version.
    Load {
        /// sdn.csv (or the consolidated list's cons_prim.csv, same layout).
        file: PathBuf,
        /// The publication date of this file (YYYY-MM-DD): the version is in force from it.
        #[arg(long)]
        published: NaiveDate,
        /// sdn or consolidated.
        #[arg(long, default_value = "sdn")]
        list: ListKind,
        /// Treasury's alt.csv for the same publication (strong aliases).
        #[arg(long)]
        alt: Option<PathBuf>,
        /// Treasury's add.csv for the same publication (addresses).
        #[arg(long)]
        add: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// The stored versions, by list and publication date.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Screen a name against the list version in force on a date (default: the newest).
    Screen {
        name: String,
        /// Screen against the version in force on this date (YYYY-MM-DD).
        #[arg(long)]
        as_of: Option<NaiveDate>,
        /// Treat the input as free text (a payment description) rather than a name.
        #[arg(long)]
        text: bool,
        /// Another threshold than `ofac.name_match_threshold`.
        #[arg(long)]
        threshold: Option<f64>,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(config: Config, cmd: SanctionsCommand) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let db = reagent::services::open_database(&config).await.context("opening the database")?;
        let db = SanctionsVersions::new(db);
        match cmd {
            SanctionsCommand::Load { file, published, list, alt, add, json } => {
                load(&db, file, published, list, alt, add, json).await
            }
            SanctionsCommand::List { json } => list_versions(&db, json).await,
            SanctionsCommand::Screen { name, as_of, text, threshold, json } => {
                screen(&config, &db, &name, as_of, text, threshold, json).await
            }
        }
    })
}

async fn load(
    db: &SanctionsVersions,
    file: PathBuf,
    published: NaiveDate,
    list: ListKind,
    alt: Option<PathBuf>,
    add: Option<PathBuf>,
    json: bool,
) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    let (info, entries) = sanctions::read_list(list, published, &file, alt.as_deref(), add.as_deref())?;
    let (stored, diff) = db.store(&info, &entries).await?;
    if json {
        let report = serde_json::json!({
            "version": info, "stored": matches!(stored, StoredVersion::Added),
            "seconds": started.elapsed().as_secs_f64(), "diff": diff,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    let what = match stored {
        StoredVersion::Added => "loaded",
        StoredVersion::Unchanged => "already stored, unchanged:",
    };
    println!(
        "{what} {} — {} entries, {} aliases from {} ({:.1} s)",
        info.version_id,
        info.n_entries,
        info.n_aliases,
        info.source,
        started.elapsed().as_secs_f64()
    );
    match &diff.previous {
        None => println!("first version of the {list} list"),
        Some(prev) => {
            println!(
                "since {prev}: {} added, {} removed, {} renamed",
                diff.added.len(),
                diff.removed.len(),
                diff.renamed.len()
            );
            for (label, rows) in [("+", &diff.added), ("-", &diff.removed)] {
                for (num, name) in rows.iter().take(SHOWN_CHANGES) {
                    println!("  {label} {num} {name}");
                }
                if rows.len() > SHOWN_CHANGES {
                    println!("  {label} … {} more (--json lists all)", rows.len() - SHOWN_CHANGES);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn list_versions(db: &SanctionsVersions, json: bool) -> Result<ExitCode> {
    let versions = db.versions().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&versions)?);
        return Ok(ExitCode::SUCCESS);
    }
    if versions.is_empty() {
        println!("no sanctions list loaded (reagent sanctions load FILE --published DATE)");
    }
    println!("{:<26} {:<12} {:<11} {:>8} {:>8}  source", "version", "list", "published", "entries", "aliases");
    for v in versions {
        println!(
            "{:<26} {:<12} {:<11} {:>8} {:>8}  {}",
            v.version_id, v.list, v.published, v.n_entries, v.n_aliases, v.source
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn screen(
    config: &Config,
    db: &SanctionsVersions,
    name: &str,
    as_of: Option<NaiveDate>,
    text: bool,
    threshold: Option<f64>,
    json: bool,
) -> Result<ExitCode> {
    let engine = Services::rules_engine_for(config)?;
    let mut settings = engine.config().match_settings();
    if let Some(t) = threshold {
        anyhow::ensure!(t > 0.0 && t <= 1.0, "--threshold must be in (0, 1]");
        settings.threshold = t;
    }
    let lists = SanctionsLists::empty();
    db.load_into(&lists).await?;
    anyhow::ensure!(!lists.is_empty(), "no sanctions list loaded (reagent sanctions load FILE --published DATE)");
    let selection = as_of.map_or(ListSelection::Newest, ListSelection::InForceOn);
    let mut report = Vec::new();
    for version in lists.select(selection, &settings) {
        let matches = if text { version.index.screen_text(name) } else { version.index.screen_name(name) };
        if !json {
            println!("{} ({}): {} match(es) at or above {}", version.info.label(), version.basis, matches.len(), settings.threshold);
            for m in &matches {
                println!("  {:.3}  {} {} [{}]", m.score, m.ent_num, m.listed_name, m.programs.join(", "));
                println!("         {}", m.explanation());
            }
        }
        report.push(serde_json::json!({"list": version.used(), "matches": matches}));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(ExitCode::SUCCESS)
}
