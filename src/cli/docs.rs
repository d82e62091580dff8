//! `reagent docs list/show/delete` over the store (`docs reembed` lives in `reembed`).

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use reagent::config::Config;
use reagent::services::Services;
use reagent_ingest::store::VersionStatus;

#[derive(Subcommand)]
pub enum DocsCommand {
    /// Every document with its versions.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One document: versions, dates and chunks.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a document, or one version of it.
    Delete {
        id: String,
        #[arg(long = "doc-version")]
        version: Option<String>,
    },
    /// Re-embed every stored chunk with the configured embedding model (after changing
    /// models; all or nothing).
    Reembed(super::reembed::ReembedArgs),
}

pub fn run(config: Config, cmd: DocsCommand) -> Result<ExitCode> {
    let services = Services::start(config).context("starting")?;
    let store = services.store.as_ref();
    match cmd {
        DocsCommand::List { json } => {
            let versions = store.versions(None)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&versions)?);
            } else {
                println!("{:<36} {:<14} {:<18} {:<11} {:<11} {:>6}  title", "document", "version", "type", "from", "to", "chunks");
                for v in versions.iter().filter(|v| v.status == VersionStatus::Active) {
                    let m = &v.meta;
                    println!(
                        "{:<36} {:<14} {:<18} {:<11} {:<11} {:>6}  {}",
                        m.document_id,
                        m.version,
                        m.document_type.as_str(),
                        m.effective_from.to_string(),
                        m.effective_to.map_or("-".to_string(), |d| d.to_string()),
                        v.chunk_count,
                        m.title
                    );
                }
            }
        }
        DocsCommand::Show { id, json } => {
            let versions = store.versions(Some(&id))?;
            if versions.is_empty() {
                bail!("no document with id {id:?} (see `reagent docs list`)");
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&versions)?);
            } else {
                for v in &versions {
                    let m = &v.meta;
                    println!("{} @ {} ({:?})", m.document_id, m.version, v.status);
                    println!("  title:        {}", m.title);
                    println!("  type:         {}  jurisdiction: {}  issuer: {}", m.document_type, m.jurisdiction, m.issuer);
                    println!("  citation:     {}", m.citation.as_deref().unwrap_or("-"));
                    println!("  in force:     {} .. {}", m.effective_from, m.effective_to.map_or("open".into(), |d| d.to_string()));
                    println!("  source:       {}  sha256 {}", m.source_path, &m.content_hash[..16.min(m.content_hash.len())]);
                    println!("  chunks:       {}  ingested {}", v.chunk_count, v.ingested_at.format("%Y-%m-%d %H:%M:%S UTC"));
                    for c in store.chunks(&m.document_id, &m.version)?.iter().take(5) {
                        println!("    [{}] {}  {}", c.chunk.index, c.chunk.citation.as_deref().unwrap_or("-"), c.chunk.section_path.join(" > "));
                    }
                }
            }
        }
        DocsCommand::Delete { id, version } => {
            let n = store.delete(&id, version.as_deref())?;
            if n == 0 {
                bail!("nothing to delete: no document {id:?}{}", version.map(|v| format!(" version {v:?}")).unwrap_or_default());
            }
            println!("deleted {n} chunks");
        }
        // Dispatched in `run`, before the store is opened (it may be on another model).
        DocsCommand::Reembed(_) => bail!("docs reembed runs without opening the store"),
    }
    Ok(ExitCode::SUCCESS)
}
