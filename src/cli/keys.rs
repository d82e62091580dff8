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
    use reagent::audit::{Actor, AuditEvent, AuditKind, AuditLog};
    let db = reagent::services::open_database(&config).await.context("opening the database")?;
    let auth = reagent::auth::Authenticator::new(db.clone(), &config.auth).context("[auth]")?;
    match cmd {
        KeysCommand::Create { role, name, json } => {
            let role: reagent::auth::Role = role.parse().map_err(anyhow::Error::msg).context("--role")?;
            let created = auth.create_key(&name, role).await.context("--name")?;
            let audit = AuditLog::new(db, &config.audit)?;
            let event = AuditEvent::new(AuditKind::Key, "key.create", Actor::cli(), &created.info.key_id)
                .details(serde_json::json!({ "name": created.info.name, "role": created.info.role }));
            audit.record(event).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&created)?);
            } else {
                println!("created key {} ({}, role {})", created.info.key_id, created.info.name, created.info.role);
                println!("{}", created.key);
                eprintln!("store this key now: it is not shown again (only its hash is kept)");
            }
        }
        KeysCommand::List { json } => {
            let keys = auth.list_keys().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
            } else {
                println!("{:<14} {:<20} {:<26} {:<22} name", "id", "role", "created", "revoked");
                for k in &keys {
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
            let revoked = auth.revoke_key(&id).await.map_err(|e| match e {
                reagent::auth::AuthError::NotFound(_) => {
                    anyhow::anyhow!("no API key {id:?} (see `reagent keys list`)")
                }
                other => other.into(),
            })?;
            let audit = AuditLog::new(db, &config.audit)?;
            audit.record(AuditEvent::new(AuditKind::Key, "key.revoke", Actor::cli(), &id)).await?;
            println!("revoked {} ({}); a running server stops accepting it within auth.key_cache_seconds", revoked.key_id, revoked.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}
