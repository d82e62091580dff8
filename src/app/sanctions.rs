//! Owns the sanctions-list use-cases over the database alone (`reagent sanctions`,
//! which runs beside a server): store a list version read from Treasury's files with
//! what changed since the previous version of its list, read the stored versions, and
//! load them for screening. A running service loads new versions itself
//! ([`super::watch_sanctions_lists`]).

use crate::db::{Database, DbError};
use crate::sanctions::{Entry, SanctionsLists, VersionDiff, VersionInfo};

pub use crate::db::StoredVersion;

/// The sanctions list versions stored in one database.
pub struct SanctionsVersions {
    db: Database,
}

impl SanctionsVersions {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Stores the version `info` with its `entries` (unchanged if stored before), and
    /// how it differs from the newest earlier version of the same list.
    pub async fn store(&self, info: &VersionInfo, entries: &[Entry]) -> Result<(StoredVersion, VersionDiff), DbError> {
        let previous = self
            .db
            .sanctions_versions()
            .await?
            .into_iter()
            .filter(|v| v.list == info.list && v.published < info.published)
            .last();
        let previous_entries = match &previous {
            Some(p) => Some((p.version_id.clone(), self.db.sanctions_entries(&p.version_id).await?)),
            None => None,
        };
        let diff = VersionDiff::between(previous_entries.as_ref().map(|(id, e)| (id.as_str(), e.as_slice())), entries);
        Ok((self.db.store_sanctions_version(info, entries).await?, diff))
    }

    /// Every stored version, in the order the database keeps them.
    pub async fn versions(&self) -> Result<Vec<VersionInfo>, DbError> {
        self.db.sanctions_versions().await
    }

    /// Loads the stored versions `lists` does not hold yet; how many.
    pub async fn load_into(&self, lists: &SanctionsLists) -> Result<usize, DbError> {
        self.db.refresh_sanctions(lists).await
    }
}
