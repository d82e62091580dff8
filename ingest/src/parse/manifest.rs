//! Owns `manifest.toml`: metadata for files that carry none themselves (PDF, plain text,
//! passage files). One `[[document]]` table per file, keyed by its path relative to the
//! manifest.

use std::path::{Path, PathBuf};

use thiserror::Error;
use toml::Value;

use super::{RawMeta, parse_date};

#[derive(Debug, Error)]
#[error("manifest {path}: {reason}")]
pub struct ManifestError {
    pub path: PathBuf,
    pub reason: String,
}

/// The file name every folder's manifest has.
pub const MANIFEST_FILE: &str = "manifest.toml";

#[derive(Debug, Clone, Default)]
pub struct Manifest {
    dir: PathBuf,
    entries: Vec<(PathBuf, RawMeta)>,
}

impl Manifest {
    /// Load the manifest of `dir`, if it has one.
    pub fn load_dir(dir: &Path) -> Result<Option<Manifest>, ManifestError> {
        let path = dir.join(MANIFEST_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        Self::load(&path).map(Some)
    }

    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let err = |reason: String| ManifestError { path: path.to_path_buf(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let root: toml::Table = text.parse().map_err(|e: toml::de::Error| err(e.message().to_string()))?;
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let mut entries = Vec::new();
        let docs = match root.get("document") {
            None => return Ok(Manifest { dir, entries }),
            Some(Value::Array(a)) => a,
            Some(_) => return Err(err("`document` must be an array of tables ([[document]])".into())),
        };
        for (i, doc) in docs.iter().enumerate() {
            let table = doc.as_table().ok_or_else(|| err(format!("document #{}: not a table", i + 1)))?;
            let entry = read_entry(table).map_err(|r| err(format!("document #{}: {r}", i + 1)))?;
            entries.push(entry);
        }
        Ok(Manifest { dir, entries })
    }

    /// The entry whose path names `file`.
    pub fn entry_for(&self, file: &Path) -> Option<&RawMeta> {
        let canonical = |p: &Path| p.canonicalize().ok();
        let wanted = canonical(file)?;
        self.entries
            .iter()
            .find(|(p, _)| canonical(&self.dir.join(p)).as_ref() == Some(&wanted))
            .map(|(_, m)| m)
    }
}

fn read_entry(table: &toml::Table) -> Result<(PathBuf, RawMeta), String> {
    let text = |key: &str| -> Result<Option<String>, String> {
        match table.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Integer(i)) => Ok(Some(i.to_string())),
            Some(Value::Datetime(d)) => Ok(Some(d.to_string())),
            Some(other) => Err(format!("{key}: expected a string, found {}", other.type_str())),
        }
    };
    let date = |key: &str| text(key)?.map(|v| parse_date(key, &v)).transpose();
    let path = text("path")?.ok_or("missing `path`")?;
    let meta = RawMeta {
        document_id: text("id")?,
        title: text("title")?,
        version: text("version")?,
        document_type: text("document_type")?.map(|t| t.parse()).transpose()?,
        jurisdiction: text("jurisdiction")?,
        issuer: text("issuer")?,
        citation: text("citation")?,
        effective_from: date("effective_from")?,
        effective_to: date("effective_to")?,
    };
    Ok((PathBuf::from(path), meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_match_files_beside_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(MANIFEST_FILE),
            "[[document]]\npath = \"a.pdf\"\nid = \"doc-a\"\ndocument_type = \"procedure\"\neffective_from = 2025-06-01\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("a.pdf"), b"x").unwrap();
        std::fs::write(dir.path().join("b.pdf"), b"x").unwrap();
        let m = Manifest::load_dir(dir.path()).unwrap().unwrap();
        let a = m.entry_for(&dir.path().join("a.pdf")).unwrap();
        assert_eq!(a.document_id.as_deref(), Some("doc-a"));
        assert_eq!(a.effective_from, Some("2025-06-01".parse().unwrap()));
        assert!(m.entry_for(&dir.path().join("b.pdf")).is_none());
    }

    #[test]
    fn bad_manifest_names_entry_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MANIFEST_FILE);
        std::fs::write(&path, "[[document]]\npath = \"a.pdf\"\neffective_from = \"June\"\n").unwrap();
        let err = Manifest::load(&path).unwrap_err().to_string();
        assert!(err.contains("document #1") && err.contains("effective_from"), "{err}");
    }
}
