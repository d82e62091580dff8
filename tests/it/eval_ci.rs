//! The CI gates of `eval/thresholds.toml`, through the real command (debug build):
//! `reagent eval retrieval` on the held-out ObliQA dev questions (the split no tuning
//! step sees) and the corpus sample the file names,
//! and `reagent eval guidance` on the labelled example scenarios, each failing when a
//! metric is below its committed floor.
//!
//! The index is rebuilt on every run through the real pipeline, so a change to parsing,
//! chunking, embedding or storage is measured; passage vectors come from the embedding
//! cache when the model and the text are unchanged. Skipped (with a message) when
//! ../shared/data/obliqa is absent.

use crate::common;

use std::path::Path;
use std::process::Command;

use reagent_eval::report::Report;
use reagent_eval::thresholds::Thresholds;

#[test]
fn retrieval_meets_committed_floors() {
    let Some(obliqa) = common::shared("obliqa") else { return };
    let repo = common::repo();
    let thresholds_path = repo.join("eval/thresholds.toml");
    let thresholds = Thresholds::load(&thresholds_path).expect("eval/thresholds.toml");
    let t = &thresholds.retrieval;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let mut cmd = reagent(dir.path());
    cmd.args(["eval", "retrieval", "--rebuild", "--obliqa"])
        .arg(&obliqa)
        .args(["--split", &t.split.to_string()])
        .args(["--offset", &t.offset.to_string(), "--limit", &t.questions.to_string()])
        .args(["--modes", &thresholds.modes().join(",")])
        .arg("--index-cache")
        .arg(common::cache_dir().join("eval-index"))
        .arg("--out")
        .arg(&out)
        .arg("--thresholds")
        .arg(&thresholds_path);
    if let Some(f) = t.corpus_sample {
        cmd.args(["--corpus-sample", &f.to_string()]);
    }
    let started = std::time::Instant::now();
    let output = cmd.output().expect("run reagent eval retrieval");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stdout}");
    eprintln!("eval took {:.0} s", started.elapsed().as_secs_f64());
    let report: Report = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap_or_else(|e| {
        panic!("no report.json ({e}); exit {:?}\nstderr:\n{stderr}", output.status.code())
    }))
    .expect("report.json parses");
    assert_eq!(report.dataset.queries_run, t.questions, "questions run");
    assert_eq!(report.dataset.split, t.split, "split recorded");
    assert!(report.index.files_failed == 0, "corpus files failed to ingest:\n{stderr}");
    let missed = thresholds.violations(&report);
    assert!(missed.is_empty(), "retrieval below the floors in eval/thresholds.toml:\n{}\n\n{stdout}", missed.join("\n"));
    assert!(output.status.success(), "reagent eval retrieval exited {:?}\n{stderr}", output.status.code());
    for f in ["report.md", "plot.png", "qrels.trec"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    for m in &report.modes {
        let run = std::fs::read_to_string(out.join(&m.run_file)).unwrap();
        let first = run.lines().next().unwrap_or_default();
        assert_eq!(first.split_whitespace().count(), 6, "TREC run line: {first:?}");
    }
}

/// `reagent` with the model paths the other integration tests use and its store in `dir`.
fn reagent(dir: &Path) -> Command {
    let config = common::config(dir);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_reagent"));
    cmd.current_dir(dir)
        .env("REAGENT_EMBEDDING_MODEL_DIR", &config.embedding.model_dir)
        .env("REAGENT_EMBEDDING_ORT_DYLIB_PATH", &config.embedding.ort_dylib_path)
        .env("REAGENT_STORE_DATA_DIR", &config.store.data_dir)
        .env("REAGENT_LLM_ENABLED", "false")
        .env("REAGENT_LOG", "warn");
    cmd
}

#[test]
fn guidance_meets_committed_floors() {
    let Some(examples) = common::shared("scenarios/examples.json") else { return };
    let Some(regulations) = common::shared("us-regulations") else { return };
    let repo = common::repo();
    let dir = tempfile::tempdir().unwrap();
    let ingest = reagent(dir.path()).arg("ingest").arg(repo.join("corpus")).arg(&regulations).output().unwrap();
    assert!(ingest.status.success(), "ingest: {}", String::from_utf8_lossy(&ingest.stderr));

    let out = dir.path().join("guidance");
    let run = reagent(dir.path())
        .args(["eval", "guidance", "--scenarios"])
        .arg(&examples)
        .arg("--out")
        .arg(&out)
        .arg("--thresholds")
        .arg(repo.join("eval/thresholds.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    eprintln!("{stdout}");
    assert!(run.status.success(), "eval guidance exited {:?}\n{stdout}\n{}", run.status.code(), String::from_utf8_lossy(&run.stderr));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let cases = serde_json::from_slice::<Vec<serde_json::Value>>(&std::fs::read(&examples).unwrap()).unwrap().len();
    assert_eq!(report["summary"]["cases"], cases);
    assert_eq!(report["summary"]["errors"], 0);
    assert!(report["cases"].as_array().unwrap().iter().all(|c| c["generator"] == "rules"), "no LLM configured here");
    assert_eq!(report["kind"], "guidance");
    assert!(out.join("report.md").is_file());

    // A case the service cannot get right (a CTR for a $5,000 deposit) fails the gate
    // with exit code 3 and is listed with its problem.
    let mut wrong: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(&examples).unwrap()).unwrap();
    let ctr = wrong.iter().position(|c| c["expect"]["actions_required"].as_array().is_some_and(|a| a.iter().any(|x| x == "CTR_FILING"))).unwrap();
    wrong[ctr]["request"]["transaction"]["amount"] = serde_json::json!(5000);
    let wrong_path = dir.path().join("wrong.json");
    std::fs::write(&wrong_path, serde_json::to_vec(&wrong).unwrap()).unwrap();
    let run = reagent(dir.path())
        .args(["eval", "guidance", "--scenarios"])
        .arg(&wrong_path)
        .arg("--out")
        .arg(dir.path().join("wrong"))
        .args(["--min-action-recall", "1.0"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(3), "{}", String::from_utf8_lossy(&run.stderr));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("missing CTR_FILING"), "{stdout}");
}
