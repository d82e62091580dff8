//! Owns the committed quality floors (`eval/thresholds.toml`) and checking a report
//! against them.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::report::Report;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub retrieval: RetrievalThresholds,
    /// Limits for `reagent eval guidance` on the example scenarios.
    #[serde(default)]
    pub guidance: crate::guidance::GuidanceFloors,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrievalThresholds {
    /// Part of the ObliQA dev questions the CI run takes (`heldout`: never trained on).
    #[serde(default)]
    pub split: crate::split::Split,
    /// Questions the CI run takes, from `offset` within the split.
    pub questions: usize,
    #[serde(default)]
    pub offset: usize,
    /// Index only the judged passages of those questions plus this fraction of the
    /// others (see `--corpus-sample`); absent: the whole corpus.
    #[serde(default)]
    pub corpus_sample: Option<f64>,
    /// Mode label (as given to `--modes`) → metric (`recall@10`, …) → lowest allowed mean.
    pub floors: BTreeMap<String, BTreeMap<String, f64>>,
}

impl Thresholds {
    pub fn load(path: &Path) -> Result<Self, EvalError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| EvalError::Input { path: path.display().to_string(), reason: e.to_string() })?;
        toml::from_str(&text).map_err(|e| EvalError::Input { path: path.display().to_string(), reason: e.to_string() })
    }

    /// Modes that have floors, in file order (sorted by label).
    pub fn modes(&self) -> Vec<String> {
        self.retrieval.floors.keys().cloned().collect()
    }

    /// Every floor the report misses, as a sentence; empty when all are met.
    pub fn violations(&self, report: &Report) -> Vec<String> {
        let mut out = Vec::new();
        for (label, floors) in &self.retrieval.floors {
            let Some(mode) = report.modes.iter().find(|m| &m.spec.label == label) else {
                out.push(format!("mode {label:?} has floors but was not run"));
                continue;
            };
            for (metric, floor) in floors {
                match mode.metrics.get(metric) {
                    None => out.push(format!("{label}: no metric {metric:?} in the report")),
                    Some(v) if v < floor => out.push(format!("{label}: {metric} = {v:.4} is below its floor {floor:.4}")),
                    Some(_) => {}
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::IndexInfo;
    use crate::report::DatasetInfo;
    use crate::run::ModeRun;

    fn report(recall: f64) -> Report {
        Report {
            created_at: String::new(),
            tool: String::new(),
            dataset: DatasetInfo { layout: "x".into(), sources: Default::default(), corpus_passages: 0, queries_total: 0, split: Default::default(), queries_in_split: 0, offset: 0, limit: None, queries_run: 0 },
            index: IndexInfo {
                key: String::new(), dir: String::new(), corpus_hash: String::new(), model_id: String::new(), chunks: 0, passages: 0,
                files_failed: 0, build_seconds: 0.0, embedding_seconds: 0.0, optimize_seconds: 0.0, embeddings_cached: 0,
                embeddings_computed: 0, built_at: String::new(), settings: Default::default(), reused: false,
            },
            settings: Default::default(),
            modes: vec![ModeRun {
                spec: "bm25".parse().unwrap(),
                parameters: Default::default(),
                metrics: [("recall@10".to_string(), recall)].into(),
                latency_ms: Default::default(),
                queries: 1,
                queries_unjudged: 0,
                run_file: String::new(),
                rankings: vec![],
            }],
        }
    }

    #[test]
    fn floors_fail_below_and_pass_at_or_above() {
        let t: Thresholds = toml::from_str("[retrieval]\nquestions = 3\n[retrieval.floors.bm25]\n\"recall@10\" = 0.7\n").unwrap();
        assert!(t.violations(&report(0.7)).is_empty());
        let v = t.violations(&report(0.69));
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("recall@10"), "{v:?}");
        let t: Thresholds = toml::from_str("[retrieval]\nquestions = 3\n[retrieval.floors.dense]\n\"recall@10\" = 0.1\n").unwrap();
        assert!(t.violations(&report(0.9))[0].contains("not run"));
    }
}
