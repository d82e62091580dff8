//! Sanctions lists: Treasury's list files parsed into dated list versions, kept in the
//! database, and screened against by name.
//!
//! This module owns the list model ([`Entry`], [`Alias`], [`ListKind`], [`VersionInfo`]),
//! the parser of Treasury's CSV layout (`parse.rs`: `sdn.csv` with its companion
//! `alt.csv` and `add.csv`), name normalisation (`normalize.rs`), the name index and
//! matcher (`matcher.rs`), and the in-memory set of list versions the rules engine
//! screens against (`lists.rs`: the version in force on a date, each version's index
//! built once and cached). Rows are stored by `crate::db` (`sanctions_versions`,
//! `sanctions_entries`); the OFAC rule (`crate::rules`) decides what a match means.
//!
//! Invariants:
//! - A list version is immutable once stored: loading the same list and publication
//!   date again with other content is refused.
//! - Screening says which version it used ([`VersionInfo::label`]).
//! - Nothing here panics on list or caller text; malformed list files are
//!   [`SanctionsError`]s naming the file and record.

mod lists;
mod matcher;
mod normalize;
mod parse;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use lists::{ListSelection, ListUsed, SanctionsLists, ScreenedVersion};
pub use matcher::{MatchSettings, NameIndex, NameMatch, TokenMatch};
pub use normalize::{normalize_words, tokens};
pub use parse::{ParsedList, parse_add_csv, parse_alt_csv, parse_sdn_csv};

/// Errors reading a list file.
#[derive(Debug, Error)]
pub enum SanctionsError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Csv {
        path: String,
        #[source]
        source: csv::Error,
    },
    #[error("{path}, record {record}: {message}")]
    Record {
        path: String,
        record: u64,
        message: String,
    },
}

/// Which of Treasury's lists a version belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(utoipa::ToSchema)]
pub enum ListKind {
    /// The Specially Designated Nationals and Blocked Persons List.
    Sdn,
    /// The Consolidated (non-SDN) Sanctions List, same layout.
    Consolidated,
}

impl ListKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sdn => "sdn",
            Self::Consolidated => "consolidated",
        }
    }
}

impl fmt::Display for ListKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ListKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sdn" => Ok(Self::Sdn),
            "consolidated" => Ok(Self::Consolidated),
            _ => Err(format!("{s:?} is not a list (sdn or consolidated)")),
        }
    }
}

/// What a listed party is (`SDN_Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(utoipa::ToSchema)]
pub enum EntryKind {
    Individual,
    /// `SDN_Type` empty (`-0-`): a company, organisation or government body.
    Entity,
    Vessel,
    Aircraft,
}

impl EntryKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Individual => "individual",
            Self::Entity => "entity",
            Self::Vessel => "vessel",
            Self::Aircraft => "aircraft",
        }
    }
}

/// How an alias relates to the listed name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(utoipa::ToSchema)]
pub enum AliasKind {
    /// also known as
    Aka,
    /// formerly known as
    Fka,
    /// now known as
    Nka,
}

impl AliasKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Aka => "a.k.a.",
            Self::Fka => "f.k.a.",
            Self::Nka => "n.k.a.",
        }
    }
}

/// Another name of a listed party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alias {
    pub name: String,
    pub kind: AliasKind,
    /// A weak (low-quality) alias: a nickname, nom de guerre or common acronym.
    /// Treasury's CSV layout puts exactly these in the `Remarks` of `sdn.csv` (the
    /// strong ones are in `alt.csv`). OFAC does not expect them to be screened on
    /// their own; a match on one is shown as such.
    pub weak: bool,
}

/// One listed party of a list version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Treasury's unique record number (`ent_num`).
    pub ent_num: String,
    /// As listed: individuals `LAST, First Middle`, entities as registered.
    pub name: String,
    pub kind: EntryKind,
    /// Program tags, e.g. `["IRAN", "SDGT", "IFSR"]`.
    pub programs: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_sign: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vessel_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vessel_flag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vessel_owner: Option<String>,
    /// A vessel's IMO number (seven digits) from the remarks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imo: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<Alias>,
    /// Parents named by `Linked To: …` in the remarks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub linked_to: Vec<String>,
    /// Addresses from `add.csv`, one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remarks: Option<String>,
}

/// A stored list version (one publication of one list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// `<list>-<published>`, e.g. `sdn-2024-05-03`.
    pub version_id: String,
    pub list: ListKind,
    /// The publication date: the version is in force from this day until the next
    /// version of the same list is published.
    pub published: NaiveDate,
    pub loaded_at: chrono::DateTime<chrono::Utc>,
    /// The file(s) it was loaded from.
    pub source: String,
    /// SHA-256 of the entries as stored (hex), to recognise a reload.
    pub content_hash: String,
    pub n_entries: i64,
    pub n_aliases: i64,
}

impl VersionInfo {
    pub fn id_for(list: ListKind, published: NaiveDate) -> String {
        format!("{list}-{published}")
    }

    /// How analyses name the version, e.g. `SDN list published 2024-05-03 (sdn-2024-05-03)`.
    pub fn label(&self) -> String {
        let name = match self.list {
            ListKind::Sdn => "SDN list",
            ListKind::Consolidated => "Consolidated (non-SDN) list",
        };
        format!("{name} published {} ({})", self.published, self.version_id)
    }
}

/// Reads Treasury's files of one list publication: `sdn` (the `sdn.csv` layout) and,
/// when given, its `alt.csv` (strong aliases) and `add.csv` (addresses). Returns the
/// version's description (not yet stored) and its entries.
pub fn read_list(
    list: ListKind,
    published: NaiveDate,
    sdn: &Path,
    alt: Option<&Path>,
    add: Option<&Path>,
) -> Result<(VersionInfo, Vec<Entry>), SanctionsError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| SanctionsError::Io { path: p.display().to_string(), source })
    };
    let mut parsed = parse_sdn_csv(&read(sdn)?, &sdn.display().to_string())?;
    let mut sources = vec![sdn.display().to_string()];
    if let Some(alt) = alt {
        parsed.apply_aliases(parse_alt_csv(&read(alt)?, &alt.display().to_string())?);
        sources.push(alt.display().to_string());
    }
    if let Some(add) = add {
        parsed.apply_addresses(parse_add_csv(&read(add)?, &add.display().to_string())?);
        sources.push(add.display().to_string());
    }
    let info = VersionInfo {
        version_id: VersionInfo::id_for(list, published),
        list,
        published,
        loaded_at: chrono::Utc::now(),
        source: sources.join(" + "),
        content_hash: content_hash(&parsed.entries),
        n_entries: parsed.entries.len() as i64,
        n_aliases: parsed.n_aliases() as i64,
    };
    Ok((info, parsed.entries))
}

/// SHA-256 (hex) of the entries' JSON, to tell a reload from a changed file.
pub fn content_hash(entries: &[Entry]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for e in entries {
        hasher.update(serde_json::to_vec(e).unwrap_or_default());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

/// What changed between two versions of a list, by `ent_num`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VersionDiff {
    pub previous: Option<String>,
    /// `(ent_num, name)` of entries new in this version.
    pub added: Vec<(String, String)>,
    /// `(ent_num, name)` of entries no longer listed (delistings).
    pub removed: Vec<(String, String)>,
    /// `(ent_num, old name, new name)` of entries listed under another name.
    pub renamed: Vec<(String, String, String)>,
}

impl VersionDiff {
    /// Compares `current` with `previous` (either may be in any order).
    pub fn between(previous: Option<(&str, &[Entry])>, current: &[Entry]) -> Self {
        use std::collections::BTreeMap;
        let Some((prev_id, prev)) = previous else {
            return Self {
                added: current.iter().map(|e| (e.ent_num.clone(), e.name.clone())).collect(),
                ..Self::default()
            };
        };
        let old: BTreeMap<&str, &str> = prev.iter().map(|e| (e.ent_num.as_str(), e.name.as_str())).collect();
        let new: BTreeMap<&str, &str> = current.iter().map(|e| (e.ent_num.as_str(), e.name.as_str())).collect();
        let mut diff = Self { previous: Some(prev_id.to_owned()), ..Self::default() };
        for (num, name) in &new {
            match old.get(num) {
                None => diff.added.push(((*num).to_owned(), (*name).to_owned())),
                Some(old_name) if old_name != name => {
                    diff.renamed.push(((*num).to_owned(), (*old_name).to_owned(), (*name).to_owned()))
                }
                Some(_) => {}
            }
        }
        for (num, name) in &old {
            if !new.contains_key(num) {
                diff.removed.push(((*num).to_owned(), (*name).to_owned()));
            }
        }
        diff
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(num: &str, name: &str) -> Entry {
        Entry {
            ent_num: num.into(),
            name: name.into(),
            kind: EntryKind::Entity,
            programs: vec![],
            title: None,
            call_sign: None,
            vessel_type: None,
            vessel_flag: None,
            vessel_owner: None,
            imo: None,
            aliases: vec![],
            linked_to: vec![],
            addresses: vec![],
            remarks: None,
        }
    }

    #[test]
    fn diff_reports_added_removed_and_renamed_entries() {
        let old = [entry("1", "ALPHA"), entry("2", "BETA"), entry("3", "GAMMA")];
        let new = [entry("1", "ALPHA"), entry("3", "GAMMA TRADING"), entry("4", "DELTA")];
        let d = VersionDiff::between(Some(("sdn-2022-01-05", &old)), &new);
        assert_eq!(d.previous.as_deref(), Some("sdn-2022-01-05"));
        assert_eq!(d.added, vec![("4".to_owned(), "DELTA".to_owned())]);
        assert_eq!(d.removed, vec![("2".to_owned(), "BETA".to_owned())]);
        assert_eq!(d.renamed, vec![("3".to_owned(), "GAMMA".to_owned(), "GAMMA TRADING".to_owned())]);
        let first = VersionDiff::between(None, &new);
        assert_eq!(first.added.len(), 3);
        assert!(first.removed.is_empty());
    }

    #[test]
    fn list_kinds_parse_and_label() {
        assert_eq!("sdn".parse::<ListKind>(), Ok(ListKind::Sdn));
        assert!("SDN list".parse::<ListKind>().is_err());
        let published = NaiveDate::from_ymd_opt(2024, 5, 3).unwrap_or_default();
        assert_eq!(VersionInfo::id_for(ListKind::Sdn, published), "sdn-2024-05-03");
    }
}
