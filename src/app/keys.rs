//! Owns the key use-cases: list API keys, create and revoke them with each change
//! audited, whatever the caller does meanwhile. The service runs them on its [`App`];
//! `reagent keys` on a [`KeyAdmin`] over the database alone (no model or store, so it
//! runs beside a server).

use std::sync::Arc;

use super::{App, AppError, detached};
use crate::audit::{Actor, AuditEvent, AuditKind, AuditLog, AuditSettings};
use crate::auth::{ApiKeyInfo, AuthSettings, Authenticator, CreatedKey, Principal, RequestId, Role};
use crate::db::Database;

/// The keys of one database and the audit trail their changes go to.
#[derive(Clone)]
pub struct KeyAdmin {
    auth: Arc<Authenticator>,
    audit: Arc<AuditLog>,
}

impl KeyAdmin {
    /// Over `db`, with the `[auth]` and `[audit]` settings.
    pub fn open(db: Database, auth: &AuthSettings, audit: &AuditSettings) -> Result<Self, AppError> {
        let auth = Arc::new(Authenticator::new(db.clone(), auth)?);
        Ok(Self { auth, audit: Arc::new(AuditLog::new(db, audit)?) })
    }

    /// Every API key (revoked ones too).
    pub async fn list(&self) -> Result<Vec<ApiKeyInfo>, AppError> {
        Ok(self.auth.list_keys().await?)
    }

    /// Creates a key named `name` for `role` and audits it as `actor`'s.
    pub async fn create(
        &self,
        actor: Actor,
        request_id: Option<&RequestId>,
        name: String,
        role: Role,
    ) -> Result<CreatedKey, AppError> {
        let (keys, rid) = (self.clone(), request_id.cloned());
        detached(async move {
            let created = keys.auth.create_key(&name, role).await?;
            let event = AuditEvent::new(AuditKind::Key, "key.create", actor, &created.info.key_id)
                .request(rid.as_ref())
                .details(serde_json::json!({ "name": created.info.name, "role": created.info.role }));
            keys.audit.record(event).await?;
            Ok(created)
        })
        .await
    }

    /// Revokes the key `id` and audits it as `actor`'s.
    pub async fn revoke(&self, actor: Actor, request_id: Option<&RequestId>, id: String) -> Result<ApiKeyInfo, AppError> {
        let (keys, rid) = (self.clone(), request_id.cloned());
        detached(async move {
            let revoked = keys.auth.revoke_key(&id).await?;
            let event = AuditEvent::new(AuditKind::Key, "key.revoke", actor, &id).request(rid.as_ref());
            keys.audit.record(event).await?;
            Ok(revoked)
        })
        .await
    }
}

impl App {
    /// The keys of the service's database.
    fn key_admin(&self) -> KeyAdmin {
        KeyAdmin { auth: self.auth.clone(), audit: self.audit.clone() }
    }

    /// Every API key (revoked ones too).
    pub async fn keys(&self) -> Result<Vec<ApiKeyInfo>, AppError> {
        self.key_admin().list().await
    }

    /// Creates a key and audits it as `principal`'s.
    pub async fn create_key(
        &self,
        principal: &Principal,
        request_id: Option<&RequestId>,
        name: String,
        role: Role,
    ) -> Result<CreatedKey, AppError> {
        self.key_admin().create(Actor::from(principal), request_id, name, role).await
    }

    /// Revokes a key (dropping it from this service's cache at once) and audits it.
    pub async fn revoke_key(&self, principal: &Principal, request_id: Option<&RequestId>, id: String) -> Result<ApiKeyInfo, AppError> {
        self.key_admin().revoke(Actor::from(principal), request_id, id).await
    }
}
