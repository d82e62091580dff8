//! The list versions a running engine screens against, in memory: which version is in
//! force on a date, and each version's [`NameIndex`], built on first use and cached
//! for the life of the process (never per request).

use std::sync::{Arc, OnceLock, RwLock};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::matcher::{MatchSettings, NameIndex};
use super::{Entry, ListKind, VersionInfo};

/// Which version of each list to screen against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListSelection {
    /// The version in force on this date: the latest published on or before it.
    InForceOn(NaiveDate),
    /// The newest version, whatever the date (a lookback over past activity).
    Newest,
}

/// A version chosen for one screening, with its index.
#[derive(Debug, Clone)]
pub struct ScreenedVersion {
    pub info: VersionInfo,
    /// Why this version: `in force on 2026-03-10`, `newest (lookback requested)`, …
    pub basis: String,
    pub index: Arc<NameIndex>,
}

/// The list a screening used, as analyses record it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[derive(utoipa::ToSchema)]
pub struct ListUsed {
    pub version_id: String,
    pub list: ListKind,
    pub published: NaiveDate,
    pub basis: String,
}

impl ScreenedVersion {
    pub fn used(&self) -> ListUsed {
        ListUsed {
            version_id: self.info.version_id.clone(),
            list: self.info.list,
            published: self.info.published,
            basis: self.basis.clone(),
        }
    }
}

#[derive(Debug)]
struct Loaded {
    info: VersionInfo,
    entries: Arc<[Entry]>,
    index: OnceLock<Arc<NameIndex>>,
}

/// Every loaded version, shared by the engine and whoever refreshes it.
#[derive(Debug, Default)]
pub struct SanctionsLists {
    /// Sorted by list, then publication date.
    versions: RwLock<Vec<Arc<Loaded>>>,
}

impl SanctionsLists {
    pub fn empty() -> Self {
        Self::default()
    }

    /// Adds a version (or replaces one with the same id).
    pub fn insert(&self, info: VersionInfo, entries: Vec<Entry>) {
        let loaded = Arc::new(Loaded { info, entries: entries.into(), index: OnceLock::new() });
        let mut versions = self.versions.write().unwrap_or_else(|e| e.into_inner());
        versions.retain(|v| v.info.version_id != loaded.info.version_id);
        versions.push(loaded);
        versions.sort_by(|a, b| a.info.list.cmp(&b.info.list).then(a.info.published.cmp(&b.info.published)));
    }

    pub fn contains(&self, version_id: &str) -> bool {
        self.read().iter().any(|v| v.info.version_id == version_id)
    }

    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Every loaded version, by list then date.
    pub fn versions(&self) -> Vec<VersionInfo> {
        self.read().iter().map(|v| v.info.clone()).collect()
    }

    /// For each list loaded, the version `selection` picks, with its index (built now
    /// if this is its first use). A date before every version of a list screens
    /// against that list's oldest version and says so.
    pub fn select(&self, selection: ListSelection, settings: &MatchSettings) -> Vec<ScreenedVersion> {
        let versions = self.read();
        let mut lists: Vec<ListKind> = versions.iter().map(|v| v.info.list).collect();
        lists.dedup();
        lists
            .into_iter()
            .filter_map(|list| {
                let of_list = versions.iter().filter(|v| v.info.list == list);
                let (chosen, basis) = match selection {
                    ListSelection::Newest => (of_list.last()?, "newest version".to_owned()),
                    ListSelection::InForceOn(date) => match of_list.clone().rfind(|v| v.info.published <= date) {
                        Some(v) => (v, format!("in force on {date}")),
                        None => (
                            of_list.clone().next()?,
                            format!("oldest version loaded: none was published on or before {date}"),
                        ),
                    },
                };
                let index = chosen
                    .index
                    .get_or_init(|| Arc::new(NameIndex::build(chosen.entries.clone(), settings.clone())))
                    .clone();
                Some(ScreenedVersion { info: chosen.info.clone(), basis, index })
            })
            .collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<Loaded>>> {
        self.versions.read().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sanctions::parse_sdn_csv;

    fn info(published: &str) -> VersionInfo {
        let published = published.parse().unwrap_or_default();
        VersionInfo {
            version_id: VersionInfo::id_for(ListKind::Sdn, published),
            list: ListKind::Sdn,
            published,
            loaded_at: chrono::DateTime::UNIX_EPOCH,
            source: "test".into(),
            content_hash: String::new(),
            n_entries: 1,
            n_aliases: 0,
        }
    }

    fn entries(name: &str) -> Vec<Entry> {
        let csv = format!("1,\"{name}\",-0- ,\"SDGT\"\r\n");
        parse_sdn_csv(csv.as_bytes(), "t").map(|l| l.entries).unwrap_or_default()
    }

    fn settings() -> MatchSettings {
        MatchSettings { threshold: 0.9, min_name_chars: 4, ignored_tokens: Default::default() }
    }

    #[test]
    fn the_version_in_force_on_the_date_is_chosen_unless_newest_is_asked() {
        let lists = SanctionsLists::empty();
        lists.insert(info("2023-01-31"), entries("QUELLBRAND EXPORTS"));
        lists.insert(info("2024-05-03"), entries("VORNAKIS SHIPPING"));
        let day = |d: &str| d.parse::<NaiveDate>().unwrap_or_default();
        let pick = |sel| lists.select(sel, &settings()).into_iter().map(|v| v.info.version_id).collect::<Vec<_>>();
        assert_eq!(pick(ListSelection::InForceOn(day("2023-06-01"))), vec!["sdn-2023-01-31"]);
        assert_eq!(pick(ListSelection::InForceOn(day("2024-05-03"))), vec!["sdn-2024-05-03"]);
        assert_eq!(pick(ListSelection::Newest), vec!["sdn-2024-05-03"]);
        let early = lists.select(ListSelection::InForceOn(day("2020-01-01")), &settings());
        assert_eq!(early[0].info.version_id, "sdn-2023-01-31");
        assert!(early[0].basis.contains("oldest"), "{}", early[0].basis);
        // A name delisted later is still found in the version in force before.
        let old = lists.select(ListSelection::InForceOn(day("2023-06-01")), &settings());
        assert!(!old[0].index.screen_name("Quellbrand Exports").is_empty());
        let new = lists.select(ListSelection::Newest, &settings());
        assert!(new[0].index.screen_name("Quellbrand Exports").is_empty());
    }

    #[test]
    fn an_index_is_built_once_per_version() {
        let lists = SanctionsLists::empty();
        lists.insert(info("2024-05-03"), entries("VORNAKIS SHIPPING"));
        let day = "2025-01-01".parse().unwrap_or_default();
        let a = lists.select(ListSelection::InForceOn(day), &settings());
        let b = lists.select(ListSelection::Newest, &settings());
        assert!(Arc::ptr_eq(&a[0].index, &b[0].index));
        assert!(SanctionsLists::empty().select(ListSelection::Newest, &settings()).is_empty());
    }
}
