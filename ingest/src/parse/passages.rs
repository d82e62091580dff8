//! Owns passage files in the ObliQA layout: a JSON array of
//! `{"DocumentID", "PassageID", "Passage"}`; each non-empty passage becomes one chunk.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use super::{ParseError, ParseSettings, Parsed, RawMeta, resolve};
use crate::document::{Body, Passage};

#[derive(Deserialize)]
struct RawPassage {
    #[serde(rename = "DocumentID")]
    document_id: Value,
    #[serde(rename = "PassageID")]
    passage_id: String,
    #[serde(rename = "Passage")]
    passage: String,
}

/// Short titles from a `document_map.json` beside the file (`{"1": {"short": "AML"}}`).
fn short_titles(source_path: &str) -> BTreeMap<String, String> {
    let Some(dir) = Path::new(source_path).parent() else { return BTreeMap::new() };
    let candidates = [dir.join("document_map.json"), dir.join("../document_map.json")];
    let Some(text) = candidates.iter().find_map(|p| std::fs::read_to_string(p).ok()) else {
        return BTreeMap::new();
    };
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&text) else { return BTreeMap::new() };
    map.into_iter()
        .filter_map(|(k, v)| Some((k, v.get("short")?.as_str()?.to_string())))
        .collect()
}

pub fn parse(
    text: &str,
    source_path: &str,
    fallback: &RawMeta,
    hash: &str,
    settings: &ParseSettings,
) -> Result<Vec<Parsed>, ParseError> {
    let raw: Vec<RawPassage> = serde_json::from_str(text).map_err(|e| {
        ParseError::Passages(format!(
            "expected a JSON array of {{\"DocumentID\", \"PassageID\", \"Passage\"}} objects: {e}"
        ))
    })?;
    let mut by_doc: BTreeMap<String, Vec<Passage>> = BTreeMap::new();
    for p in raw {
        let doc = match p.document_id {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            other => return Err(ParseError::Passages(format!("DocumentID must be a string or number, got {other}"))),
        };
        let passages = by_doc.entry(doc).or_default();
        if !p.passage.trim().is_empty() {
            passages.push(Passage { passage_id: p.passage_id, text: p.passage });
        }
    }
    by_doc.retain(|_, v| !v.is_empty());
    if by_doc.is_empty() {
        return Err(ParseError::Empty);
    }
    let titles = short_titles(source_path);
    let several = by_doc.len() > 1;
    by_doc
        .into_iter()
        .map(|(doc, passages)| {
            let mut meta = fallback.clone();
            // One file, one document: the manifest id applies. Several: ids come from the file.
            if several || meta.document_id.is_none() {
                meta.document_id = Some(format!("passages-{doc}"));
            }
            if meta.title.is_none() {
                meta.title = Some(titles.get(&doc).cloned().unwrap_or_else(|| format!("Document {doc}")));
            }
            if meta.citation.is_none() {
                meta.citation = titles.get(&doc).cloned();
            }
            let resolved = resolve(meta, &doc, None, source_path, hash, settings)?;
            let passages = passages
                .into_iter()
                .map(|p| Passage { passage_id: format!("{doc}:{}", p.passage_id), ..p })
                .collect();
            Ok(resolved.into_parsed(Body::Passages(passages)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_document_and_skips_empty_passages() {
        let json = r#"[{"DocumentID":1,"PassageID":"1.1","Passage":"A"},
                       {"DocumentID":1,"PassageID":"1.2","Passage":"  "},
                       {"DocumentID":2,"PassageID":"3","Passage":"B"}]"#;
        let parsed = parse(json, "x/1.json", &RawMeta::default(), "ab".repeat(32).as_str(), &ParseSettings::default()).unwrap();
        assert_eq!(parsed.len(), 2);
        let Body::Passages(p) = &parsed[0].document.body else { panic!("passages expected") };
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].passage_id, "1:1.1");
        assert_eq!(parsed[0].document.meta.document_id, "passages-1");
    }

    #[test]
    fn wrong_shape_is_explained() {
        let err = parse(r#"{"a":1}"#, "x.json", &RawMeta::default(), "0".repeat(64).as_str(), &ParseSettings::default()).unwrap_err();
        assert!(err.to_string().contains("DocumentID"), "{err}");
    }
}
