//! Owns loading an evaluation set: a passage corpus, queries and relevance judgements,
//! from the ObliQA layout or from the generic JSONL layout (see eval/README.md).

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::EvalError;
use crate::metrics::Judgements;

/// A question to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Query {
    pub id: String,
    pub text: String,
}

/// Where the passages come from, as the ingest pipeline will read them.
#[derive(Debug, Clone)]
pub enum CorpusSource {
    /// Passage files in the ObliQA layout, ingested as they are.
    PassageFiles(Vec<PathBuf>),
    /// Passages grouped into documents (group → (id, text)), written out as passage
    /// files in the ObliQA layout before ingestion: a JSONL corpus, or a sample of an
    /// ObliQA corpus.
    Passages {
        groups: BTreeMap<String, Vec<(String, String)>>,
        /// Whether evaluation ids keep the `group:` prefix (ObliQA) or drop it (JSONL).
        ids_keep_group: bool,
        /// A document_map.json to put beside the written files (ObliQA titles).
        document_map: Option<PathBuf>,
    },
}

/// A corpus, its questions and their judgements.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// `obliqa` or `jsonl`.
    pub layout: String,
    /// Paths the set was read from, for the report.
    pub sources: BTreeMap<String, String>,
    pub corpus: CorpusSource,
    /// SHA-256 over everything that goes into the index.
    pub corpus_hash: String,
    /// Non-empty passages.
    pub corpus_passages: usize,
    pub queries: Vec<Query>,
    /// Query id → judgements.
    pub qrels: HashMap<String, Judgements>,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> EvalError + '_ {
    move |e| EvalError::Input { path: path.display().to_string(), reason: e.to_string() }
}

fn bad(path: &Path, reason: impl std::fmt::Display) -> EvalError {
    EvalError::Input { path: path.display().to_string(), reason: reason.to_string() }
}

/// An id field that may be a JSON string or number.
fn id_string(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[derive(Deserialize)]
struct ObliqaPassage {
    #[serde(rename = "DocumentID")]
    document_id: serde_json::Value,
    #[serde(rename = "PassageID")]
    passage_id: String,
    #[serde(rename = "Passage", default)]
    passage: String,
}

#[derive(Deserialize)]
struct ObliqaQuestion {
    #[serde(rename = "QuestionID")]
    id: serde_json::Value,
    #[serde(rename = "Question")]
    question: String,
    #[serde(rename = "Passages")]
    passages: Vec<ObliqaPassage>,
}

/// The ObliQA layout: `dir/documents/*.json` (passage files) and a question file
/// (default `dir/ObliQA_dev.json`). A passage's id is `{DocumentID}:{PassageID}`.
pub fn load_obliqa(dir: &Path, questions: Option<&Path>) -> Result<Dataset, EvalError> {
    let docs_dir = dir.join("documents");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&docs_dir)
        .map_err(io_err(&docs_dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    // Numeric file names in numeric order (1, 2, …, 10), others after, by name.
    files.sort_by_key(|p| {
        let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string();
        (stem.parse::<u64>().unwrap_or(u64::MAX), stem)
    });
    if files.is_empty() {
        return Err(bad(&docs_dir, "no passage files (*.json)"));
    }
    let mut hash = Sha256::new();
    let mut passages = 0;
    for f in &files {
        let bytes = std::fs::read(f).map_err(io_err(f))?;
        let parsed: Vec<ObliqaPassage> = serde_json::from_slice(&bytes).map_err(|e| bad(f, e))?;
        passages += parsed.iter().filter(|p| !p.passage.trim().is_empty()).count();
        hash.update(f.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(&bytes);
    }
    // Titles from document_map.json end up in the indexed text.
    let map = dir.join("document_map.json");
    if let Ok(bytes) = std::fs::read(&map) {
        hash.update(b"document_map.json");
        hash.update(&bytes);
    }
    let qfile = questions.map_or_else(|| dir.join("ObliQA_dev.json"), Path::to_path_buf);
    let raw: Vec<ObliqaQuestion> =
        serde_json::from_slice(&std::fs::read(&qfile).map_err(io_err(&qfile))?).map_err(|e| bad(&qfile, e))?;
    let mut queries = Vec::with_capacity(raw.len());
    let mut qrels = HashMap::new();
    for q in raw {
        let id = id_string(&q.id).ok_or_else(|| bad(&qfile, "QuestionID must be a string or number"))?;
        let mut judged = Judgements::new();
        for p in &q.passages {
            let doc = id_string(&p.document_id).ok_or_else(|| bad(&qfile, format!("question {id}: bad DocumentID")))?;
            judged.insert(format!("{doc}:{}", p.passage_id), 1);
        }
        qrels.insert(id.clone(), judged);
        queries.push(Query { id, text: q.question });
    }
    Ok(Dataset {
        layout: "obliqa".into(),
        sources: [
            ("documents".to_string(), docs_dir.display().to_string()),
            ("questions".to_string(), qfile.display().to_string()),
        ]
        .into(),
        corpus: CorpusSource::PassageFiles(files),
        corpus_hash: hex(&hash.finalize()),
        corpus_passages: passages,
        queries,
        qrels,
    })
}

#[derive(Deserialize)]
struct JsonlDoc {
    id: serde_json::Value,
    text: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct JsonlQuery {
    id: serde_json::Value,
    text: String,
}

#[derive(Deserialize)]
struct JsonlQrel {
    query_id: serde_json::Value,
    doc_id: serde_json::Value,
    #[serde(default = "one")]
    relevance: i64,
}

fn one() -> i64 {
    1
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path, mut each: impl FnMut(T)) -> Result<(), EvalError> {
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io_err(path))?;
        if line.trim().is_empty() {
            continue;
        }
        each(serde_json::from_str(&line).map_err(|e| bad(path, format!("line {}: {e}", n + 1)))?);
    }
    Ok(())
}

/// Document group of a JSONL passage: `metadata.document_id` if given, else `corpus`.
/// `:` separates group and id in stored passage ids, so it may not occur in a group.
fn group_of(metadata: Option<&serde_json::Value>) -> String {
    metadata
        .and_then(|m| m.get("document_id"))
        .and_then(id_string)
        .map_or_else(|| "corpus".to_string(), |g| g.replace(':', "_"))
}

/// The generic layout: corpus lines `{id, text, [title], [metadata]}`, query lines
/// `{id, text}`, qrels lines `{query_id, doc_id, relevance}`.
pub fn load_jsonl(corpus: &Path, queries: &Path, qrels: &Path) -> Result<Dataset, EvalError> {
    let mut hash = Sha256::new();
    let mut groups: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut passages = 0;
    let mut seen = std::collections::HashSet::new();
    read_jsonl(corpus, |d: JsonlDoc| {
        let Some(id) = id_string(&d.id) else { return };
        if d.text.trim().is_empty() || !seen.insert(id.clone()) {
            return;
        }
        let text = match d.title.filter(|t| !t.trim().is_empty()) {
            Some(t) => format!("{t}\n{}", d.text),
            None => d.text,
        };
        let group = group_of(d.metadata.as_ref());
        for part in [group.as_bytes(), id.as_bytes(), text.as_bytes()] {
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part);
        }
        passages += 1;
        groups.entry(group).or_default().push((id, text));
    })?;
    if passages == 0 {
        return Err(bad(corpus, "no passages with an id and non-empty text"));
    }
    let mut qs = Vec::new();
    read_jsonl(queries, |q: JsonlQuery| {
        if let Some(id) = id_string(&q.id) {
            qs.push(Query { id, text: q.text });
        }
    })?;
    let mut judged: HashMap<String, Judgements> = HashMap::new();
    read_jsonl(qrels, |r: JsonlQrel| {
        if let (Some(q), Some(d)) = (id_string(&r.query_id), id_string(&r.doc_id)) {
            judged.entry(q).or_default().insert(d, r.relevance.max(0) as u32);
        }
    })?;
    Ok(Dataset {
        layout: "jsonl".into(),
        sources: [
            ("corpus".to_string(), corpus.display().to_string()),
            ("queries".to_string(), queries.display().to_string()),
            ("qrels".to_string(), qrels.display().to_string()),
        ]
        .into(),
        corpus: CorpusSource::Passages { groups, ids_keep_group: false, document_map: None },
        corpus_hash: hex(&hash.finalize()),
        corpus_passages: passages,
        queries: qs,
        qrels: judged,
    })
}

impl Dataset {
    /// The evaluation id of a stored passage id: ObliQA keeps `{DocumentID}:{PassageID}`;
    /// the JSONL layout drops the group prefix it added.
    pub fn doc_id(&self, passage_id: &str) -> String {
        match self.corpus {
            CorpusSource::PassageFiles(_) | CorpusSource::Passages { ids_keep_group: true, .. } => passage_id.to_string(),
            CorpusSource::Passages { ids_keep_group: false, .. } => {
                passage_id.split_once(':').map_or(passage_id, |(_, id)| id).to_string()
            }
        }
    }

    /// Keep only the questions of `split` (before any offset or limit is applied).
    pub fn retain_split(&mut self, split: crate::split::Split) {
        self.queries.retain(|q| split.contains(&q.id));
    }

    /// Queries `[offset, offset + limit)`.
    pub fn select(&self, offset: usize, limit: Option<usize>) -> &[Query] {
        let start = offset.min(self.queries.len());
        let end = limit.map_or(self.queries.len(), |l| start.saturating_add(l).min(self.queries.len()));
        &self.queries[start..end]
    }

    /// Write a JSONL corpus as ObliQA passage files under `dir` (one per group) and
    /// return their paths; passage files are returned as they are.
    pub fn passage_files(&self, dir: &Path) -> Result<Vec<PathBuf>, EvalError> {
        match &self.corpus {
            CorpusSource::PassageFiles(files) => Ok(files.clone()),
            CorpusSource::Passages { groups, document_map, .. } => {
                if let Some(map) = document_map {
                    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
                    let to = dir.join("document_map.json");
                    std::fs::copy(map, &to).map_err(io_err(&to))?;
                }
                let dir = &dir.join("documents");
                std::fs::create_dir_all(dir).map_err(io_err(dir))?;
                let mut out = Vec::new();
                for (i, (group, passages)) in groups.iter().enumerate() {
                    let rows: Vec<serde_json::Value> = passages
                        .iter()
                        .map(|(id, text)| serde_json::json!({ "DocumentID": group, "PassageID": id, "Passage": text }))
                        .collect();
                    let path = dir.join(format!("{i:05}.json"));
                    let bytes = serde_json::to_vec(&rows).map_err(|e| bad(&path, e))?;
                    std::fs::write(&path, bytes).map_err(io_err(&path))?;
                    out.push(path);
                }
                Ok(out)
            }
        }
    }
}

impl Dataset {
    /// A smaller corpus for quick runs (CI): the passages judged for `queries` plus a
    /// deterministic `fraction` of the others, chosen by a hash of their id. Figures on
    /// a sample are higher than on the full corpus and only comparable between runs on
    /// the same sample.
    pub fn sample_corpus(&self, queries: &[Query], fraction: f64) -> Result<Dataset, EvalError> {
        let judged: std::collections::HashSet<String> = queries
            .iter()
            .filter_map(|q| self.qrels.get(&q.id))
            .flat_map(|j| j.iter().filter(|(_, r)| **r > 0).map(|(d, _)| d.clone()))
            .collect();
        let threshold = (fraction.clamp(0.0, 1.0) * u64::MAX as f64) as u64;
        let keep = |id: &str| {
            let h = Sha256::digest(id.as_bytes());
            judged.contains(id) || u64::from_le_bytes(h[..8].try_into().unwrap_or_default()) < threshold
        };
        let (mut groups, ids_keep_group, mut document_map) = match &self.corpus {
            CorpusSource::Passages { groups, ids_keep_group, document_map } => {
                (groups.clone(), *ids_keep_group, document_map.clone())
            }
            CorpusSource::PassageFiles(files) => {
                let mut groups: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
                for f in files {
                    let bytes = std::fs::read(f).map_err(io_err(f))?;
                    let parsed: Vec<ObliqaPassage> = serde_json::from_slice(&bytes).map_err(|e| bad(f, e))?;
                    for p in parsed.into_iter().filter(|p| !p.passage.trim().is_empty()) {
                        let doc = id_string(&p.document_id).ok_or_else(|| bad(f, "bad DocumentID"))?;
                        groups.entry(doc).or_default().push((p.passage_id, p.passage));
                    }
                }
                let map = files.first().and_then(|f| f.parent()).and_then(Path::parent).map(|d| d.join("document_map.json"));
                (groups, true, map)
            }
        };
        document_map = document_map.filter(|m| m.is_file());
        let mut hash = Sha256::new();
        hash.update(b"sample");
        let mut passages = 0;
        for (group, rows) in groups.iter_mut() {
            rows.retain(|(id, _)| keep(&if ids_keep_group { format!("{group}:{id}") } else { id.clone() }));
            for (id, text) in rows.iter() {
                for part in [group.as_bytes(), id.as_bytes(), text.as_bytes()] {
                    hash.update((part.len() as u64).to_le_bytes());
                    hash.update(part);
                }
            }
            passages += rows.len();
        }
        groups.retain(|_, rows| !rows.is_empty());
        if let Some(map) = &document_map {
            hash.update(std::fs::read(map).map_err(io_err(map))?);
        }
        let mut sources = self.sources.clone();
        sources.insert("corpus_sample".into(), format!("judged passages of the run's questions + {fraction} of the others"));
        Ok(Dataset {
            layout: self.layout.clone(),
            sources,
            corpus: CorpusSource::Passages { groups, ids_keep_group, document_map },
            corpus_hash: hex(&hash.finalize()),
            corpus_passages: passages,
            queries: self.queries.clone(),
            qrels: self.qrels.clone(),
        })
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn obliqa_layout_ids_and_judgements() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("documents")).unwrap();
        std::fs::write(
            dir.path().join("documents/2.json"),
            r#"[{"ID":"u1","DocumentID":2,"PassageID":"1.1","Passage":"Alpha"},
                {"ID":"u2","DocumentID":2,"PassageID":"1.2","Passage":" "}]"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("ObliQA_dev.json"),
            r#"[{"QuestionID":"q1","Question":"What?","Passages":[{"DocumentID":2,"PassageID":"1.1","Passage":"Alpha"}],"Group":1}]"#,
        )
        .unwrap();
        let d = load_obliqa(dir.path(), None).unwrap();
        assert_eq!(d.corpus_passages, 1);
        assert_eq!(d.queries, vec![Query { id: "q1".into(), text: "What?".into() }]);
        assert_eq!(d.qrels["q1"].get("2:1.1"), Some(&1));
        assert_eq!(d.doc_id("2:1.1"), "2:1.1");
        assert_eq!(d.select(0, Some(5)).len(), 1);
        assert_eq!(d.select(3, None).len(), 0);
    }

    #[test]
    fn split_applies_before_offset_and_limit() {
        use crate::split::Split;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("documents")).unwrap();
        std::fs::write(dir.path().join("documents/1.json"), r#"[{"DocumentID":1,"PassageID":"1","Passage":"A"}]"#).unwrap();
        let questions: Vec<serde_json::Value> = (0..100)
            .map(|i| serde_json::json!({"QuestionID": format!("q{i}"), "Question": "?", "Passages": [{"DocumentID": 1, "PassageID": "1"}]}))
            .collect();
        std::fs::write(dir.path().join("ObliQA_dev.json"), serde_json::to_vec(&questions).unwrap()).unwrap();
        let all = load_obliqa(dir.path(), None).unwrap();
        let mut held = all.clone();
        held.retain_split(Split::Heldout);
        let mut train = all.clone();
        train.retain_split(Split::Train);
        assert_eq!(held.queries.len() + train.queries.len(), 100);
        assert!(held.queries.iter().all(|q| crate::split::is_heldout(&q.id)));
        assert!(train.queries.iter().all(|q| !crate::split::is_heldout(&q.id)));
        // File order is kept, and offset/limit count within the split.
        let expected: Vec<&Query> = all.queries.iter().filter(|q| crate::split::is_heldout(&q.id)).skip(1).take(2).collect();
        assert_eq!(held.select(1, Some(2)).iter().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn sample_keeps_judged_passages_and_ids() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("documents")).unwrap();
        let rows: Vec<serde_json::Value> = (0..200)
            .map(|i| serde_json::json!({"DocumentID": 1, "PassageID": format!("{i}"), "Passage": format!("text {i}")}))
            .collect();
        std::fs::write(dir.path().join("documents/1.json"), serde_json::to_vec(&rows).unwrap()).unwrap();
        std::fs::write(dir.path().join("document_map.json"), r#"{"1": {"short": "AML"}}"#).unwrap();
        std::fs::write(
            dir.path().join("ObliQA_dev.json"),
            r#"[{"QuestionID":"q","Question":"?","Passages":[{"DocumentID":1,"PassageID":"7"}]}]"#,
        )
        .unwrap();
        let d = load_obliqa(dir.path(), None).unwrap();
        let s = d.sample_corpus(&d.queries, 0.25).unwrap();
        assert!(s.corpus_passages > 20 && s.corpus_passages < 90, "{}", s.corpus_passages);
        assert_ne!(s.corpus_hash, d.corpus_hash);
        let CorpusSource::Passages { groups, .. } = &s.corpus else { panic!() };
        assert!(groups["1"].iter().any(|(id, _)| id == "7"), "the judged passage is kept");
        assert_eq!(s.doc_id("1:7"), "1:7");
        let files = s.passage_files(&dir.path().join("out")).unwrap();
        assert!(dir.path().join("out/document_map.json").is_file());
        assert_eq!(files[0].parent().unwrap().file_name().unwrap(), "documents");
        // Deterministic.
        assert_eq!(d.sample_corpus(&d.queries, 0.25).unwrap().corpus_hash, s.corpus_hash);
    }

    #[test]
    fn jsonl_layout_groups_and_maps_ids_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        std::fs::write(
            p("c.jsonl"),
            "{\"id\":\"d1\",\"text\":\"one\",\"metadata\":{\"document_id\":\"a:b\"}}\n{\"id\":7,\"text\":\"two\"}\n{\"id\":\"e\",\"text\":\"\"}\n",
        )
        .unwrap();
        std::fs::write(p("q.jsonl"), "{\"id\":\"q\",\"text\":\"one?\"}\n").unwrap();
        std::fs::write(p("r.jsonl"), "{\"query_id\":\"q\",\"doc_id\":\"d1\",\"relevance\":2}\n").unwrap();
        let d = load_jsonl(&p("c.jsonl"), &p("q.jsonl"), &p("r.jsonl")).unwrap();
        assert_eq!(d.corpus_passages, 2);
        assert_eq!(d.qrels["q"]["d1"], 2);
        assert_eq!(d.doc_id("a_b:d1"), "d1");
        let files = d.passage_files(&p("out")).unwrap();
        assert_eq!(files.len(), 2);
        let rows: serde_json::Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
        assert_eq!(rows[0]["PassageID"], "d1");
        assert_eq!(rows[0]["DocumentID"], "a_b");
    }
}
