//! Owns running one retrieval mode over a set of queries: timing each search, mapping
//! hits to evaluation ids, scoring the ranking, and keeping it for the run file.

use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;
use std::time::Instant;

use reagent_ingest::progress::Progress;
use reagent_ingest::store::ScoredChunk;
use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::dataset::{Dataset, Query};
use crate::metrics::{Accumulator, CUTOFFS, Latency};

/// A mode to evaluate: a retrieval mode name with parameter overrides, written
/// `name[:key=value]...`, e.g. `fusion:fusion_dense_weight=0.4:candidates=100`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeSpec {
    /// The spec as written; names the run.
    pub label: String,
    pub name: String,
    pub params: BTreeMap<String, String>,
}

impl FromStr for ModeSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.trim().split(':');
        let name = parts.next().unwrap_or("").trim().to_string();
        if name.is_empty() {
            return Err(format!("empty mode in {s:?}"));
        }
        let mut params = BTreeMap::new();
        for p in parts {
            let (k, v) = p.split_once('=').ok_or_else(|| format!("{s:?}: parameter {p:?} is not key=value"))?;
            params.insert(k.trim().to_string(), v.trim().to_string());
        }
        Ok(Self { label: s.trim().to_string(), name, params })
    }
}

impl ModeSpec {
    /// A name safe for file names.
    pub fn file_stem(&self) -> String {
        self.label.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect()
    }
}

/// Runs searches for one mode; the caller wires it to the real retriever.
pub trait Searcher {
    /// The best `limit` chunks for `text`, best first.
    fn search(&self, text: &str, limit: usize) -> Result<Vec<ScoredChunk>, String>;
    /// Every parameter that shapes this mode's ranking, for the report.
    fn parameters(&self) -> serde_json::Value;
}

/// One ranked document of one query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    pub doc_id: String,
    pub score: f32,
}

/// The result of one mode.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModeRun {
    pub spec: ModeSpec,
    pub parameters: serde_json::Value,
    /// Mean of every metric over judged queries, keyed `family@k`.
    pub metrics: BTreeMap<String, f64>,
    pub latency_ms: Latency,
    pub queries: usize,
    /// Queries without a relevant document (not scored).
    pub queries_unjudged: usize,
    /// The TREC run file written for this mode, beside the report.
    pub run_file: String,
    /// Per query, in query order: its id and its ranking.
    #[serde(skip)]
    pub rankings: Vec<(String, Vec<Ranked>)>,
}

/// Ranking depth kept per query: the largest cut-off.
pub fn depth() -> usize {
    CUTOFFS.iter().copied().max().unwrap_or(10)
}

/// Hits → evaluation ids, each id once (at its best rank): a passage id when the chunk
/// has one, else the document id.
pub fn rank_ids(dataset: &Dataset, hits: &[ScoredChunk], depth: usize) -> Vec<Ranked> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(depth);
    for h in hits {
        let id = match &h.record.chunk.passage_id {
            Some(p) => dataset.doc_id(p),
            None => h.record.meta.document_id.clone(),
        };
        if seen.insert(id.clone()) {
            out.push(Ranked { doc_id: id, score: h.score });
            if out.len() == depth {
                break;
            }
        }
    }
    out
}

/// Queries run untimed before measuring, so one-off start-up costs (model sessions,
/// caches, page faults) do not land in the percentiles.
pub const WARM_UP: usize = 5;

/// Run `queries` through `searcher`, timing each search (query embedding included).
pub fn run_mode(
    dataset: &Dataset,
    queries: &[Query],
    spec: &ModeSpec,
    searcher: &dyn Searcher,
    progress: &dyn Progress,
) -> Result<ModeRun, EvalError> {
    let depth = depth();
    // A few spare hits so that duplicates (the same passage stored twice) still leave
    // `depth` distinct ids.
    let limit = depth + 5;
    for i in 0..WARM_UP.min(queries.len()) {
        searcher.search(&format!("warm-up {i}: {}", queries[i].text), limit).map_err(|e| EvalError::Search(spec.label.clone(), e))?;
    }
    progress.start(&format!("mode {}", spec.label), queries.len() as u64);
    let mut acc = Accumulator::default();
    let mut latencies = Vec::with_capacity(queries.len());
    let mut rankings = Vec::with_capacity(queries.len());
    for q in queries {
        let t = Instant::now();
        let hits = searcher.search(&q.text, limit).map_err(|e| EvalError::Search(spec.label.clone(), e))?;
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        let ranking = rank_ids(dataset, &hits, depth);
        let ids: Vec<&str> = ranking.iter().map(|r| r.doc_id.as_str()).collect();
        let empty = Default::default();
        acc.add(&ids, dataset.qrels.get(&q.id).unwrap_or(&empty));
        rankings.push((q.id.clone(), ranking));
        progress.advance(1);
    }
    progress.finish();
    Ok(ModeRun {
        spec: spec.clone(),
        parameters: searcher.parameters(),
        metrics: acc.means(),
        latency_ms: Latency::of(&latencies),
        queries: acc.queries,
        queries_unjudged: acc.skipped,
        run_file: format!("{}.trec", spec.file_stem()),
        rankings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_specs_parse_with_parameters() {
        let m: ModeSpec = "fusion:fusion_dense_weight=0.4:candidates=100".parse().unwrap();
        assert_eq!(m.name, "fusion");
        assert_eq!(m.params["fusion_dense_weight"], "0.4");
        assert_eq!(m.params["candidates"], "100");
        assert_eq!(m.file_stem(), "fusion_fusion_dense_weight_0.4_candidates_100");
        assert!("fusion:x".parse::<ModeSpec>().is_err());
        assert!("".parse::<ModeSpec>().is_err());
        assert_eq!("bm25".parse::<ModeSpec>().unwrap().params.len(), 0);
    }
}
