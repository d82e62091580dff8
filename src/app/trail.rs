//! Owns the audit trail's maintenance over the database alone (`reagent audit`, which
//! runs beside a server): verify the hash chain (and any checkpoints given), export the
//! entries, take a signed checkpoint, sign the prune anchor, prune past retention.
//! Writing entries is each use-case's own business; this is the trail as a whole.

use std::io::Write;

use chrono::{DateTime, Utc};

use crate::audit::{AuditError, AuditSettings};
use crate::db::Database;

pub use crate::audit::{Checkpoint, CheckpointKeys, GivenCheckpoint, PruneReport, VerifyReport};

/// The audit trail of one database, with the checkpoint keys and retention of `[audit]`.
pub struct AuditTrail {
    db: Database,
    keys: CheckpointKeys,
    settings: AuditSettings,
}

impl AuditTrail {
    /// `keys` are `settings`' checkpoint keys (read before the database is opened, so a
    /// bad key is reported first).
    pub fn new(db: Database, keys: CheckpointKeys, settings: &AuditSettings) -> Self {
        Self { db, keys, settings: settings.clone() }
    }

    pub fn keys(&self) -> &CheckpointKeys {
        &self.keys
    }

    /// Verifies the chain, and that it holds each of `given` (and the stored checkpoints).
    pub async fn verify(&self, given: &[GivenCheckpoint]) -> Result<VerifyReport, AuditError> {
        crate::audit::verify_with(&self.db, &self.keys, given).await
    }

    /// Writes the entries at or after `since` to `out` as JSON lines; how many.
    pub async fn export(&self, out: &mut dyn Write, since: Option<DateTime<Utc>>) -> Result<u64, AuditError> {
        crate::audit::export(&self.db, out, since).await
    }

    /// Takes, signs and stores a checkpoint of the chain's head.
    pub async fn checkpoint(&self) -> Result<Checkpoint, AuditError> {
        crate::audit::take_checkpoint(&self.db, &self.keys).await
    }

    /// Signs the newest unsigned prune anchor; its entry, if there was one.
    pub async fn sign_anchor(&self) -> Result<Option<i64>, AuditError> {
        crate::audit::sign_anchor(&self.db, &self.keys).await
    }

    /// Removes the oldest entries past their retention at `now`, keeping the chain verifiable.
    pub async fn prune(&self, now: DateTime<Utc>) -> Result<PruneReport, AuditError> {
        crate::audit::prune(&self.db, &self.settings, now).await
    }
}
