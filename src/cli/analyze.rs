//! `reagent analyze`: one stored or inline transaction → cited guidance, printed or as JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use reagent::config::Config;
use reagent::services::Services;

#[derive(Args)]
pub struct AnalyzeArgs {
    /// A stored transaction (see `reagent db seed`).
    #[arg(long, conflicts_with = "file", required_unless_present = "file")]
    pub transaction_id: Option<String>,
    /// A JSON request body as for POST /api/v1/analyze.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// A question about the transaction.
    #[arg(long)]
    pub question: Option<String>,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(config: Config, args: AnalyzeArgs) -> Result<ExitCode> {
    // A stored transaction needs the database first; an inline one opens it after the
    // file is read, so a bad file is reported before a database problem.
    let mut opened = None;
    let input = match (&args.transaction_id, &args.file) {
        (Some(id), _) => {
            let db = reagent::services::open_database(&config).await.context("opening the database")?;
            let engine = Services::rules_engine_for(&config)?;
            let input = reagent::app::stored_transaction(&db, id, config.server.lookback_days, engine.config().time_zone())
                .await?
                .with_context(|| format!("no transaction {id:?} in the database (run `reagent db seed`)"))?;
            opened = Some(db);
            input
        }
        (None, Some(file)) => {
            let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            reagent::domain::decode::<reagent::domain::RuleInput>(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: {}", file.display(), e.with_field()))?
        }
        (None, None) => bail!("give --transaction-id or --file"),
    };
    let db = match opened {
        Some(db) => db,
        None => reagent::services::open_database(&config).await.context("opening the database")?,
    };
    let services = Services::start(config).context("starting")?;
    let analyzer = services.analyzer()?;
    let n_lists = db.refresh_sanctions(analyzer.engine().sanctions()).await?;
    if n_lists == 0 {
        tracing::warn!("no sanctions list loaded (`reagent sanctions load`): names are not screened");
    }
    let (analysis, _) = analyzer.analyze(input, args.question).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&analysis)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("transaction {}: risk {:?} ({:.2}), review {}", analysis.transaction_id, analysis.risk_level, analysis.risk_score,
        if analysis.requires_review { "REQUIRED" } else { "not required" });
    println!("generator: {:?}{}", analysis.generator.kind,
        analysis.generator.degraded_reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default());
    for a in &analysis.required_actions {
        println!("\n[{}] {}", a.code.as_str(), a.title);
        println!("  {}", a.description);
        if let Some(d) = &a.deadline {
            println!("  deadline: {d}");
        }
        for c in &a.citations {
            println!("  cites {} — {} @ {}", c.citation.as_deref().unwrap_or("-"), c.document_title, c.version);
        }
    }
    if analysis.required_actions.is_empty() {
        println!("no obligations triggered");
    }
    let screening = &analysis.sanctions_screening;
    match (&screening.note, screening.lists.as_slice()) {
        (Some(note), _) => println!("\nsanctions screening: {note}"),
        (None, lists) => println!(
            "\nsanctions screening ({}) against {}: {} possible match(es)",
            screening.screened.join(", "),
            lists.iter().map(|l| format!("{} ({})", l.version_id, l.basis)).collect::<Vec<_>>().join(", "),
            screening.matches.len()
        ),
    }
    if let Some(answer) = &analysis.answer {
        println!("\nanswer: {answer}");
    }
    Ok(ExitCode::SUCCESS)
}
