//! Persistence of sanctions list versions (migration `20261206000004_sanctions.sql`):
//! one `sanctions_versions` row per publication, its entries in `sanctions_entries`.
//! Parsing and matching live in `crate::sanctions`; this file only stores and reads.

use chrono::NaiveDate;

use super::codec::DbTime;
use super::{Database, DbError, Pool};
use crate::sanctions::{Entry, ListKind, SanctionsLists, VersionInfo};

/// Entries written per INSERT statement (4 parameters each, well under both
/// backends' parameter limits).
const BATCH: usize = 500;

/// What storing a version did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredVersion {
    Added,
    /// The same list and date with the same content was already stored.
    Unchanged,
}

#[derive(sqlx::FromRow)]
struct VersionRow {
    version_id: String,
    list: String,
    published: String,
    loaded_at: DbTime,
    source: String,
    content_hash: String,
    n_entries: i64,
    n_aliases: i64,
}

impl TryFrom<VersionRow> for VersionInfo {
    type Error = DbError;
    fn try_from(r: VersionRow) -> Result<Self, DbError> {
        let bad = |what: &str, e: String| DbError::backend(format!("decoding sanctions version {}", r.version_id), format!("{what}: {e}"));
        Ok(Self {
            list: r.list.parse::<ListKind>().map_err(|e| bad("list", e))?,
            published: NaiveDate::parse_from_str(&r.published, "%Y-%m-%d").map_err(|e| bad("published", e.to_string()))?,
            loaded_at: r.loaded_at.get(),
            version_id: r.version_id,
            source: r.source,
            content_hash: r.content_hash,
            n_entries: r.n_entries,
            n_aliases: r.n_aliases,
        })
    }
}

const VERSION_COLUMNS: &str = "version_id, list, published, loaded_at, source, content_hash, n_entries, n_aliases";

impl Database {
    /// Stores a version and its entries in one transaction. The same id with the same
    /// content hash is [`StoredVersion::Unchanged`]; with other content it is
    /// [`DbError::Conflict`] (a published version never changes).
    pub async fn store_sanctions_version(&self, info: &VersionInfo, entries: &[Entry]) -> Result<StoredVersion, DbError> {
        if let Some(existing) = self.sanctions_versions().await?.into_iter().find(|v| v.version_id == info.version_id) {
            return if existing.content_hash == info.content_hash {
                Ok(StoredVersion::Unchanged)
            } else {
                Err(DbError::Conflict(format!(
                    "{} is already stored with other content (loaded {} from {})",
                    info.version_id, existing.loaded_at, existing.source
                )))
            };
        }
        let loaded_at = DbTime::new("loaded_at", info.loaded_at)?;
        let rows = entries
            .iter()
            .map(|e| {
                serde_json::to_string(e)
                    .map(|json| (e.ent_num.clone(), e.name.clone(), json))
                    .map_err(|err| DbError::invalid(format!("entries[{}]", e.ent_num), err.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let info = info.clone();
        let context = format!("storing sanctions list {}", info.version_id);
        // A cancel-safe write: the whole version or nothing, whatever the caller does.
        self.write(context.clone(), move |db| async move {
            on_pool_unbounded!(db, |pool| async {
                let mut tx = pool.begin().await?;
                sqlx::query(&format!("INSERT INTO sanctions_versions ({VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
                    .bind(&info.version_id)
                    .bind(info.list.as_str())
                    .bind(info.published.to_string())
                    .bind(loaded_at)
                    .bind(&info.source)
                    .bind(&info.content_hash)
                    .bind(info.n_entries)
                    .bind(info.n_aliases)
                    .execute(&mut *tx)
                    .await?;
                for chunk in rows.chunks(BATCH) {
                    let mut query = sqlx::QueryBuilder::new("INSERT INTO sanctions_entries (version_id, ent_num, name, entry) ");
                    query.push_values(chunk, |mut row, (num, name, json)| {
                        row.push_bind(&info.version_id).push_bind(num.as_str()).push_bind(name.as_str()).push_bind(json.as_str());
                    });
                    query.build().execute(&mut *tx).await?;
                }
                tx.commit().await
            }
            .await)
            .map_err(|e| DbError::from_sqlx(context, e))
        })
        .await?;
        Ok(StoredVersion::Added)
    }

    /// Every stored version, by list then publication date.
    pub async fn sanctions_versions(&self) -> Result<Vec<VersionInfo>, DbError> {
        let rows = on_pool!(self, |pool| sqlx::query_as::<_, VersionRow>(&format!(
            "SELECT {VERSION_COLUMNS} FROM sanctions_versions ORDER BY list, published"
        ))
        .fetch_all(pool)
        .await)
        .map_err(|e| DbError::from_sqlx("listing sanctions list versions", e))?;
        rows.into_iter().map(VersionInfo::try_from).collect()
    }

    /// The entries of one version, by `ent_num` as stored.
    pub async fn sanctions_entries(&self, version_id: &str) -> Result<Vec<Entry>, DbError> {
        let rows: Vec<(String, String)> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT ent_num, entry FROM sanctions_entries WHERE version_id = $1 ORDER BY ent_num"
        )
        .bind(version_id)
        .fetch_all(pool)
        .await)
        .map_err(|e| DbError::from_sqlx(format!("reading sanctions list {version_id}"), e))?;
        rows.into_iter()
            .map(|(num, json)| {
                serde_json::from_str(&json)
                    .map_err(|e| DbError::backend(format!("decoding sanctions entry {num} of {version_id}"), e))
            })
            .collect()
    }

    /// Loads into `lists` every stored version it does not hold yet; returns how many.
    pub async fn refresh_sanctions(&self, lists: &SanctionsLists) -> Result<usize, DbError> {
        let mut added = 0;
        for info in self.sanctions_versions().await? {
            if lists.contains(&info.version_id) {
                continue;
            }
            let entries = self.sanctions_entries(&info.version_id).await?;
            lists.insert(info, entries);
            added += 1;
        }
        Ok(added)
    }
}
