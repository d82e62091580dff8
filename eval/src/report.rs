//! Owns what a run leaves behind: a TREC run file per mode, `report.json`, and
//! `report.md` with a table and a PNG plot comparing the modes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::index::IndexInfo;
use crate::metrics::{CUTOFFS, FAMILIES};
use crate::run::{ModeRun, ModeSpec};

/// The JSON report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub created_at: String,
    pub tool: String,
    pub dataset: DatasetInfo,
    pub index: IndexInfo,
    /// Model, chunking and store settings the index and queries used.
    pub settings: serde_json::Value,
    pub modes: Vec<ModeRun>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetInfo {
    pub layout: String,
    pub sources: BTreeMap<String, String>,
    pub corpus_passages: usize,
    pub queries_total: usize,
    /// Part of the questions taken before offset and limit (`heldout`, `train`, `all`).
    #[serde(default)]
    pub split: crate::split::Split,
    /// Questions in that part.
    #[serde(default)]
    pub queries_in_split: usize,
    pub offset: usize,
    pub limit: Option<usize>,
    /// Queries run (`[offset, offset + limit)`).
    pub queries_run: usize,
}

/// The run tag: letters, digits, `_`, `-`, `.` only (TREC tags have no spaces).
fn tag(spec: &ModeSpec) -> String {
    format!("reagent-{}", spec.file_stem())
}

/// An id as TREC files can carry it: whitespace separates fields there, so each
/// whitespace character becomes `_` (ObliQA has PassageIDs like `Part 5.17.1.5.(4)`).
/// Run and qrels files are written the same way, so they agree.
pub fn trec_id(id: &str) -> String {
    id.chars().map(|c| if c.is_whitespace() { '_' } else { c }).collect()
}

/// TREC run lines `qid Q0 docid rank score tag`. trec_eval orders by score, so tied or
/// rising scores are nudged just below the previous one to keep our ranking.
pub fn write_trec(path: &Path, run: &ModeRun) -> Result<(), EvalError> {
    let io = |e: std::io::Error| EvalError::Io { path: path.display().to_string(), reason: e.to_string() };
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    let tag = tag(&run.spec);
    for (qid, ranking) in &run.rankings {
        let mut previous = f64::INFINITY;
        for (i, r) in ranking.iter().enumerate() {
            let mut score = f64::from(r.score);
            if score >= previous {
                score = previous - 1e-6;
            }
            previous = score;
            writeln!(f, "{} Q0 {} {} {score:.6} {tag}", trec_id(qid), trec_id(&r.doc_id), i + 1).map_err(io)?;
        }
    }
    f.flush().map_err(io)
}

/// Qrels in TREC format (`qid 0 docid relevance`), so trec_eval can check our figures.
pub fn write_qrels(path: &Path, qrels: &[(String, Vec<(String, u32)>)]) -> Result<(), EvalError> {
    let io = |e: std::io::Error| EvalError::Io { path: path.display().to_string(), reason: e.to_string() };
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    for (qid, docs) in qrels {
        for (doc, rel) in docs {
            writeln!(f, "{} 0 {} {rel}", trec_id(qid), trec_id(doc)).map_err(io)?;
        }
    }
    f.flush().map_err(io)
}

/// Write every file of a run into `out` and return the report.
pub fn write_all(
    out: &Path,
    dataset: DatasetInfo,
    index: IndexInfo,
    settings: serde_json::Value,
    runs: Vec<ModeRun>,
    qrels: &[(String, Vec<(String, u32)>)],
) -> Result<Report, EvalError> {
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |e: std::io::Error| EvalError::Io { path: p.clone(), reason: e.to_string() }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    for run in &runs {
        write_trec(&out.join(&run.run_file), run)?;
    }
    write_qrels(&out.join("qrels.trec"), qrels)?;
    let report = Report {
        created_at: chrono::Utc::now().to_rfc3339(),
        tool: format!("reagent-eval {}", env!("CARGO_PKG_VERSION")),
        dataset,
        index,
        settings,
        modes: runs,
    };
    let json = serde_json::to_vec_pretty(&report).map_err(|e| EvalError::Io { path: "report.json".into(), reason: e.to_string() })?;
    std::fs::write(out.join("report.json"), json).map_err(io(&out.join("report.json")))?;
    let plot = out.join("plot.png");
    let plotted = crate::plot::draw(&plot, &report);
    if let Err(e) = &plotted {
        tracing::warn!("plot not drawn: {e}");
    }
    let md = markdown(&report, plotted.ok());
    std::fs::write(out.join("report.md"), md).map_err(io(&out.join("report.md")))?;
    Ok(report)
}

/// The Markdown summary; `plot` is what [`crate::plot::draw`] drew, if anything.
pub fn markdown(report: &Report, plot: Option<crate::plot::Drawn>) -> String {
    let mut s = String::new();
    let d = &report.dataset;
    let _ = writeln!(s, "# Retrieval evaluation\n");
    let _ = writeln!(s, "- created: {}", report.created_at);
    for (k, v) in &d.sources {
        let _ = writeln!(s, "- {k}: `{v}`");
    }
    let _ = writeln!(
        s,
        "- queries: {} of {} in split `{}` ({} in the file; offset {}, limit {}); corpus: {} passages ({} chunks indexed)",
        d.queries_run,
        d.queries_in_split,
        d.split,
        d.queries_total,
        d.offset,
        d.limit.map_or("none".into(), |l| l.to_string()),
        d.corpus_passages,
        report.index.chunks
    );
    let i = &report.index;
    let _ = writeln!(
        s,
        "- index `{}`: {} (model `{}`); build {:.1} s (embedding {:.1} s, {} vectors computed, {} from the embedding cache; optimize {:.1} s)",
        i.key,
        if i.reused { "reused from the cache, built earlier" } else { "built by this run" },
        i.model_id,
        i.build_seconds,
        i.embedding_seconds,
        i.embeddings_computed,
        i.embeddings_cached,
        i.optimize_seconds
    );
    let _ = writeln!(s, "\n## At 10\n");
    let _ = writeln!(s, "| mode | Recall@10 | MAP@10 | nDCG@10 | MRR@10 | p50 ms | p95 ms | p99 ms |");
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for (label, [r, map, ndcg, mrr, p50, p95, p99]) in headline(report) {
        let _ = writeln!(s, "| `{label}` | {r:.4} | {map:.4} | {ndcg:.4} | {mrr:.4} | {p50:.2} | {p95:.2} | {p99:.2} |");
    }
    let _ = writeln!(s, "\n## Every cut-off\n");
    let mut header = "| mode |".to_string();
    let mut rule = "|---|".to_string();
    for f in FAMILIES {
        for k in CUTOFFS {
            let _ = write!(header, " {f}@{k} |");
            rule.push_str("---|");
        }
    }
    let _ = writeln!(s, "{header}\n{rule}");
    for m in &report.modes {
        let _ = write!(s, "| `{}` |", m.spec.label);
        for f in FAMILIES {
            for k in CUTOFFS {
                let _ = write!(s, " {:.4} |", m.metrics.get(&format!("{f}@{k}")).copied().unwrap_or(f64::NAN));
            }
        }
        let _ = writeln!(s);
    }
    match plot {
        Some(p) => {
            let _ = writeln!(s, "\n## Plot\n\n![modes compared](plot.png)\n");
            let _ = writeln!(
                s,
                "Groups, left to right: {}. Bars in each group, left to right:",
                crate::plot::METRICS.join(", ")
            );
            for (m, colour) in report.modes.iter().zip(crate::plot::COLOURS.iter().cycle()) {
                let _ = writeln!(s, "- {} `{}`", crate::plot::colour_name(*colour), m.spec.label);
            }
            if !p.labelled {
                let _ = writeln!(s, "\n(no font was found, so the plot has no text; the legend is above)");
            }
        }
        None => {
            let _ = writeln!(s, "\n(plot not drawn)");
        }
    }
    let _ = writeln!(s, "\n## Parameters\n");
    for m in &report.modes {
        let _ = writeln!(s, "- `{}` (run file `{}`): `{}`", m.spec.label, m.run_file, m.parameters);
    }
    let _ = writeln!(s, "\nSettings: `{}`", report.settings);
    let _ = writeln!(
        s,
        "\nMetrics follow trec_eval (`recall_k`, `map_cut_k`, `ndcg_cut_k`, `recip_rank` cut at k); latency is per query, \
         query embedding included, after {} untimed warm-up queries. `qrels.trec` and the run files can be checked with \
         `trec_eval -m map_cut.10 -m recall.10 qrels.trec <run>.trec`.",
        crate::run::WARM_UP
    );
    s
}

/// Each mode's headline figures: Recall@10, MAP@10, nDCG@10, MRR@10 and latency
/// p50/p95/p99 in ms (NaN for a metric the run lacks).
pub fn headline(report: &Report) -> Vec<(&str, [f64; 7])> {
    report
        .modes
        .iter()
        .map(|m| {
            let g = |k: &str| m.metrics.get(k).copied().unwrap_or(f64::NAN);
            let l = &m.latency_ms;
            (m.spec.label.as_str(), [g("recall@10"), g("map@10"), g("ndcg@10"), g("mrr@10"), l.p50, l.p95, l.p99])
        })
        .collect()
}

/// Where reports go by default: `eval/reports/<UTC timestamp>`.
pub fn default_out_dir(root: &Path) -> PathBuf {
    root.join("eval/reports").join(chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::Ranked;

    #[test]
    fn trec_lines_have_six_fields_and_falling_scores() {
        let dir = tempfile::tempdir().unwrap();
        let run = ModeRun {
            spec: "fusion:fusion_dense_weight=0.4".parse().unwrap(),
            parameters: Default::default(),
            metrics: Default::default(),
            latency_ms: Default::default(),
            queries: 1,
            queries_unjudged: 0,
            run_file: "r.trec".into(),
            rankings: vec![(
                "q 1".into(),
                vec![
                    Ranked { doc_id: "6:PART 5.17.(4)".into(), score: 0.5 },
                    Ranked { doc_id: "6:1.2".into(), score: 0.5 },
                    Ranked { doc_id: "6:1.3".into(), score: 0.7 },
                ],
            )],
        };
        let path = dir.path().join("r.trec");
        write_trec(&path, &run).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split_whitespace().collect()).collect();
        assert!(lines.iter().all(|l| l.len() == 6), "{text}");
        assert_eq!(lines[0][0], "q_1");
        assert_eq!(lines[0][2], "6:PART_5.17.(4)");
        assert_eq!(lines[0][5], "reagent-fusion_fusion_dense_weight_0.4");
        let scores: Vec<f64> = lines.iter().map(|l| l[4].parse().unwrap()).collect();
        assert!(scores.windows(2).all(|w| w[0] > w[1]), "{scores:?}");
        assert_eq!(lines.iter().map(|l| l[3]).collect::<Vec<_>>(), ["1", "2", "3"]);
    }
}
