//! Owns the Evaluation page: the eval harness's latest reports, read from
//! `web.eval_reports_dir` (a run's `report.json`, `report.md` and PNG plots, directly
//! in that folder or one folder per run), with their plots served from there.

use std::path::{Path as FsPath, PathBuf};
use std::time::SystemTime;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{Layout, SignedIn, Web, WebError, render};

/// Name the page uses for reports lying directly in the reports folder.
const ROOT_RUN: &str = "_";

/// One report folder.
#[derive(Debug, Clone)]
pub struct RunView {
    /// Folder name under the reports folder (or [`ROOT_RUN`]).
    pub name: String,
    /// `retrieval` or `guidance`.
    pub kind: String,
    pub created: String,
    /// `(mode, [(metric, value)])` from `report.json` when it has modes.
    pub modes: Vec<(String, Vec<(String, String)>)>,
    /// One row per mode: its label and its values in `metric_names` order.
    pub table: Vec<(String, Vec<String>)>,
    pub metric_names: Vec<String>,
    pub summary: Option<String>,
    pub plots: Vec<String>,
    pub problem: Option<String>,
    modified: SystemTime,
}

/// Every report folder in `dir`, newest first.
pub fn discover(dir: &FsPath) -> Vec<RunView> {
    let mut runs = Vec::new();
    if let Some(r) = read_run(dir, ROOT_RUN) {
        runs.push(r);
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir()
                && let Some(name) = path.file_name().and_then(|n| n.to_str())
                && let Some(r) = read_run(&path, name)
            {
                runs.push(r);
            }
        }
    }
    runs.sort_by(|a, b| b.modified.cmp(&a.modified).then(a.name.cmp(&b.name)));
    runs
}

fn read_run(dir: &FsPath, name: &str) -> Option<RunView> {
    let json_path = dir.join("report.json");
    let md_path = dir.join("report.md");
    let mut plots: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n.to_ascii_lowercase().ends_with(".png"))
        .collect();
    plots.sort();
    if !json_path.is_file() && !md_path.is_file() && plots.is_empty() {
        return None;
    }
    let modified = [&json_path, &md_path]
        .iter()
        .filter_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut run = RunView {
        name: name.to_string(),
        kind: if name.to_ascii_lowercase().contains("guidance") {
            "guidance".into()
        } else {
            "retrieval".into()
        },
        created: String::new(),
        modes: vec![],
        table: vec![],
        metric_names: vec![],
        summary: std::fs::read_to_string(&md_path).ok(),
        plots,
        problem: None,
        modified,
    };
    if json_path.is_file() {
        match std::fs::read_to_string(&json_path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).map_err(|e| e.to_string()))
        {
            Ok(v) => fill_from_json(&mut run, &v),
            Err(e) => run.problem = Some(format!("report.json could not be read: {e}")),
        }
    }
    Some(run)
}

fn fill_from_json(run: &mut RunView, v: &serde_json::Value) {
    if let Some(c) = v.get("created_at").and_then(|c| c.as_str()) {
        run.created = c.to_string();
    }
    let tool_or_kind = [v.get("kind"), v.get("tool")]
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    if tool_or_kind.contains("guidance") || v.get("guidance").is_some() {
        run.kind = "guidance".into();
    }
    let Some(modes) = v.get("modes").and_then(|m| m.as_array()) else {
        return;
    };
    let mut names: Vec<String> = Vec::new();
    for m in modes {
        let label = m
            .pointer("/spec/label")
            .or_else(|| m.get("name"))
            .and_then(|x| x.as_str())
            .unwrap_or("mode")
            .to_string();
        let mut values = Vec::new();
        if let Some(metrics) = m.get("metrics").and_then(|x| x.as_object()) {
            for (k, val) in metrics {
                if !names.contains(k) {
                    names.push(k.clone());
                }
                values.push((
                    k.clone(),
                    val.as_f64().map_or(val.to_string(), |f| format!("{f:.4}")),
                ));
            }
        }
        run.modes.push((label, values));
    }
    run.metric_names = names;
    run.table = (0..run.modes.len())
        .map(|i| {
            (
                run.modes[i].0.clone(),
                run.metric_names.iter().map(|m| run.value(i, m)).collect(),
            )
        })
        .collect();
}

impl RunView {
    /// The value of `metric` for mode number `i`, or a dash.
    pub fn value(&self, i: usize, metric: &str) -> String {
        self.modes
            .get(i)
            .and_then(|(_, vs)| vs.iter().find(|(k, _)| k == metric))
            .map_or("—".into(), |(_, v)| v.clone())
    }
}

#[derive(Template)]
#[template(path = "evaluation.html")]
struct EvaluationPage {
    layout: Layout,
    dir: String,
    latest: Vec<RunView>,
    older: Vec<RunView>,
}

pub async fn page(State(web): State<Web>, user: SignedIn) -> Result<Response, WebError> {
    let dir = web.settings.eval_reports_dir.clone();
    let runs = tokio::task::spawn_blocking(move || discover(&dir))
        .await
        .map_err(WebError::internal)?;
    let mut latest: Vec<RunView> = Vec::new();
    let mut older = Vec::new();
    for r in runs {
        if latest.iter().any(|l| l.kind == r.kind) {
            older.push(r);
        } else {
            latest.push(r);
        }
    }
    Ok(render(&EvaluationPage {
        layout: user.layout("evaluation"),
        dir: web.settings.eval_reports_dir.display().to_string(),
        latest,
        older,
    }))
}

/// A plot or summary file of a report folder.
pub async fn file(
    State(web): State<Web>,
    _user: SignedIn,
    Path((run, file)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let plain = |s: &str| {
        !s.is_empty()
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    };
    if !plain(&run) || !plain(&file) {
        return Err(WebError::bad_request("That is not a report file name."));
    }
    let content_type = match file
        .rsplit('.')
        .next()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => "image/png",
        Some("md") => "text/markdown; charset=utf-8",
        Some("json") => "application/json",
        _ => {
            return Err(WebError::not_found(
                "Only plots, summaries and report.json are served.",
            ));
        }
    };
    let base: PathBuf = web.settings.eval_reports_dir.clone();
    let path = if run == ROOT_RUN {
        base.join(&file)
    } else {
        base.join(&run).join(&file)
    };
    let bytes = read_file(path)
        .await
        .ok_or_else(|| WebError::not_found(format!("There is no {file} in report {run}.")))?;
    let mut r = (StatusCode::OK, bytes).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(r)
}

/// Read a file off the runtime; `None` if it is not there.
async fn read_file(path: PathBuf) -> Option<Vec<u8>> {
    tokio::task::spawn_blocking(move || std::fs::read(path).ok())
        .await
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_found_with_their_metrics_and_plots() {
        let dir = tempfile::tempdir().unwrap();
        assert!(discover(dir.path()).is_empty());
        let run = dir.path().join("retrieval-2026");
        std::fs::create_dir(&run).unwrap();
        std::fs::write(
            run.join("report.json"),
            r#"{"created_at":"2026-11-24T10:00:00Z","tool":"reagent-eval 0.1.0","modes":[{"spec":{"label":"hybrid"},"metrics":{"ndcg@10":0.5123456,"recall@10":0.7}}]}"#,
        )
        .unwrap();
        std::fs::write(run.join("plot.png"), b"\x89PNG").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a report").unwrap();
        let runs = discover(dir.path());
        assert_eq!(runs.len(), 1);
        let r = &runs[0];
        assert_eq!(
            (r.name.as_str(), r.kind.as_str(), r.created.as_str()),
            ("retrieval-2026", "retrieval", "2026-11-24T10:00:00Z")
        );
        assert_eq!(r.plots, ["plot.png"]);
        assert_eq!(r.metric_names, ["ndcg@10", "recall@10"]);
        assert_eq!(r.value(0, "ndcg@10"), "0.5123");
        assert_eq!(r.value(0, "missing"), "—");
    }

    #[test]
    fn a_broken_report_is_shown_with_its_problem() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("guidance-1");
        std::fs::create_dir(&run).unwrap();
        std::fs::write(run.join("report.json"), "{not json").unwrap();
        let runs = discover(dir.path());
        assert_eq!(runs[0].kind, "guidance");
        assert!(runs[0].problem.as_deref().unwrap().contains("report.json"));
    }
}
