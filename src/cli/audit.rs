//! `reagent audit`: verify, checkpoint, keygen, sign-anchor, export and prune the hash-chained trail.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::Subcommand;
use reagent::app::trail::{AuditTrail, Checkpoint, GivenCheckpoint};
use reagent::config::Config;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chain and check it against signed checkpoints; exit 1 and
    /// name the first bad entry if it is broken, truncated or rewritten.
    Verify {
        /// A checkpoint document from `reagent audit checkpoint` (e.g. the copy in
        /// write-once storage); repeatable. The newest stored checkpoint whose
        /// signature verifies is always checked too.
        #[arg(long, value_name = "FILE")]
        checkpoint: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Sign the chain's head (seq, hash, time) with audit.checkpoint_signing_key, store
    /// it and print the checkpoint as JSON, for export to write-once storage.
    Checkpoint {
        /// Write the checkpoint document here instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Make an Ed25519 key pair for audit.checkpoint_signing_key / checkpoint_public_key.
    Keygen,
    /// Sign the newest prune anchor if it is unsigned (once, after configuring a key
    /// for a trail pruned before; check the chain against an earlier export first).
    SignAnchor,
    /// Write the trail as JSON lines for examiners.
    Export {
        /// Output file ("-" for standard output).
        #[arg(long)]
        out: PathBuf,
        /// Only entries at or after this date (YYYY-MM-DD, UTC) or RFC 3339 instant.
        #[arg(long)]
        since: Option<String>,
    },
    /// Remove the oldest entries past their retention (audit.retention_*_days), keeping the chain verifiable.
    Prune,
}

/// `reagent audit keygen`: needs no database.
pub fn keygen() -> Result<ExitCode> {
    let (signing, public) = reagent::app::trail::CheckpointKeys::generate()?;
    println!("# [audit] keys for signed checkpoints and prune anchors. Keep the signing key out of");
    println!("# the database and its backups (REAGENT_AUDIT_CHECKPOINT_SIGNING_KEY); give examiners");
    println!("# only the public key.");
    println!("checkpoint_signing_key = \"{signing}\"");
    println!("checkpoint_public_key = \"{public}\"");
    Ok(ExitCode::SUCCESS)
}

pub async fn run(config: Config, cmd: AuditCommand) -> Result<ExitCode> {
    let keys = config.audit.checkpoint_keys()?;
    let db = reagent::services::open_database(&config).await.context("opening the database")?;
    let trail = AuditTrail::new(db, keys, &config.audit);
    let keys = trail.keys();
    match cmd {
        AuditCommand::Verify { checkpoint, json } => {
            let mut given = Vec::new();
            for path in &checkpoint {
                let text = std::fs::read_to_string(path).with_context(|| format!("--checkpoint {}", path.display()))?;
                let document = Checkpoint::from_json(&text)
                    .map_err(|e| anyhow::anyhow!("--checkpoint {}: {e}", path.display()))?;
                given.push(GivenCheckpoint {
                    checkpoint: document,
                    source: format!("checkpoint file {}", path.display()),
                });
            }
            let report = trail.verify(&given).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
            match &report.broken {
                None => {
                    if !json {
                        println!(
                            "audit chain intact: {} entries{}{}",
                            report.entries,
                            report
                                .anchor_seq
                                .map(|a| format!(
                                    " after the {} prune anchor at entry {a}",
                                    if report.anchor_signed { "signed" } else { "unsigned" }
                                ))
                                .unwrap_or_default(),
                            report.last_seq.map(|l| format!(", last entry {l}")).unwrap_or_default()
                        );
                        for c in &report.checkpoints {
                            println!("  {} at entry {} ({}): {}", c.source, c.seq, c.at.to_rfc3339(), c.outcome);
                        }
                    }
                    if keys.verifying().is_none() {
                        eprintln!(
                            "warning: no audit.checkpoint_public_key: verified by the hashes alone, which cannot show \
                             truncation, a rewrite with recomputed hashes or a planted prune anchor"
                        );
                    } else if report.checkpoints.is_empty() {
                        eprintln!("warning: no checkpoint to check against: truncation and rewrites go unnoticed (run `reagent audit checkpoint`)");
                    }
                    if report.unverified_stored_checkpoints > 0 {
                        eprintln!(
                            "warning: {} stored checkpoint(s) skipped: their signature does not verify with the configured public key",
                            report.unverified_stored_checkpoints
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Some(b) => {
                    eprintln!("audit chain BROKEN at entry {}: {}", b.seq, b.reason);
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        AuditCommand::Export { out, since } => {
            let since = since
                .map(|s| {
                    chrono::DateTime::parse_from_rfc3339(&s)
                        .map(|t| t.with_timezone(&chrono::Utc))
                        .or_else(|_| s.parse::<NaiveDate>().map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc()))
                        .map_err(|_| anyhow::anyhow!("--since {s:?} is neither a date YYYY-MM-DD nor an RFC 3339 instant"))
                })
                .transpose()?;
            let n = if out.as_os_str() == "-" {
                let stdout = std::io::stdout();
                let mut lock = stdout.lock();
                trail.export(&mut lock, since).await?
            } else {
                let file = std::fs::File::create(&out).with_context(|| format!("--out {}", out.display()))?;
                let mut w = std::io::BufWriter::new(file);
                trail.export(&mut w, since).await?
            };
            eprintln!("exported {n} audit entries");
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Checkpoint { out } => {
            let checkpoint = trail.checkpoint().await?;
            let document = serde_json::to_string_pretty(&checkpoint)? + "\n";
            match out {
                Some(path) => {
                    std::fs::write(&path, &document).with_context(|| format!("--out {}", path.display()))?;
                    eprintln!("checkpoint of entry {} written to {} and stored", checkpoint.seq, path.display());
                }
                None => print!("{document}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Keygen => keygen(),
        AuditCommand::SignAnchor => {
            match trail.sign_anchor().await? {
                Some(seq) => println!("signed the prune anchor at entry {seq}"),
                None => println!("no unsigned prune anchor"),
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Prune => {
            let report = trail.prune(chrono::Utc::now()).await?;
            match report.through_seq {
                Some(seq) => println!(
                    "pruned {} entries through entry {seq}; verification continues from its {} anchor",
                    report.pruned,
                    if report.anchor_signed { "signed" } else { "unsigned" }
                ),
                None => println!("nothing to prune{}", report.kept_from.map(|k| format!(" (entry {k} is still within retention)")).unwrap_or_default()),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
