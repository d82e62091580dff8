//! `reagent keys`: create, list and revoke API keys (argon2 hashes; a new key is shown once).

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use reagent::config::Config;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (the only time it is shown).
    Create {
        /// viewer, analyst, compliance_officer, policy_editor or admin.
        #[arg(long)]
        role: String,
        /// Who or what uses the key.
        #[arg(long)]
        name: String,
        /// Print {"key_id", "key", ...} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every key (never the secret).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id.
    Revoke { id: String },
}

pub async fn run(config: Config, cmd: KeysCommand) -> Result<ExitCode> {
    use reagent::app::{Actor, AppError, Role};
    let db = reagent::services::open_database(&config).await.context("opening the database")?;
    let keys = reagent::app::keys::KeyAdmin::open(db, &config.auth, &config.audit).context("[auth], [audit]")?;
    match cmd {
        KeysCommand::Create { role, name, json } => {
            let role: Role = role.parse().map_err(anyhow::Error::msg).context("--role")?;
            let created = keys
                .create(Actor::cli(), None, name, role)
                .await
                .map_err(|e| match e {
                    AppError::Invalid { field: Some(field), message } => anyhow::anyhow!("invalid {field}: {message}"),
                    other => other.into(),
                })
                .context("--name")?;
            if json {
                println!("{}", serde_json::to_string_pretty(&created)?);
            } else {
                println!("created key {} ({}, role {})", created.info.key_id, created.info.name, created.info.role);
                println!("{}", created.key);
                eprintln!("store this key now: it is not shown again (only its hash is kept)");
            }
        }
        KeysCommand::List { json } => {
            let listed = keys.list().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&listed)?);
            } else {
                println!("{:<14} {:<20} {:<26} {:<22} name", "id", "role", "created", "revoked");
                for k in &listed {
                    println!(
                        "{:<14} {:<20} {:<26} {:<22} {}",
                        k.key_id,
                        k.role,
                        k.created_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                        k.revoked_at.map_or("-".to_string(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string()),
                        k.name
                    );
                }
            }
        }
        KeysCommand::Revoke { id } => {
            let revoked = keys.revoke(Actor::cli(), None, id.clone()).await.map_err(|e| match e {
                AppError::NotFound { .. } => anyhow::anyhow!("no API key {id:?} (see `reagent keys list`)"),
                other => other.into(),
            })?;
            println!("revoked {} ({}); a running server stops accepting it within auth.key_cache_seconds", revoked.key_id, revoked.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}
