//! Runs every labelled case of `shared/data/scenarios/examples.json` through
//! the rules engine and checks required / forbidden actions and
//! `requires_review`, screening names against the newest real SDN snapshot in
//! `shared/data/sanctions` (as `scripts/test.sh` and `scripts/run.sh` load it).
//! Skips (with a message) when the file is absent.

use std::path::PathBuf;
use std::sync::Arc;

use reagent::domain::RuleInput;
use reagent::rules::{ActionCode, RulesConfig, RulesEngine};
use reagent::sanctions::{ListKind, SanctionsLists};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Case {
    id: String,
    request: RuleInput,
    expect: Expect,
}

#[derive(Debug, Deserialize)]
struct Expect {
    requires_review: Option<bool>,
    #[serde(default)]
    actions_required: Vec<ActionCode>,
    #[serde(default)]
    actions_forbidden: Vec<ActionCode>,
}

fn shared_data() -> PathBuf {
    std::env::var_os("REAGENT_SHARED_DATA")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"), PathBuf::from)
}

fn examples_path() -> PathBuf {
    shared_data().join("scenarios/examples.json")
}

/// The newest `sdn-YYYY-MM-DD.csv` snapshot, loaded as a list version.
fn newest_snapshot() -> Arc<SanctionsLists> {
    let dir = shared_data().join("sanctions");
    let newest = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("sdn-") && n.ends_with(".csv")))
        .max();
    let lists = SanctionsLists::empty();
    match newest {
        Some(path) => {
            let date = path.file_stem().and_then(|s| s.to_str()).and_then(|s| s.strip_prefix("sdn-")).unwrap_or_default();
            let (info, entries) = reagent::sanctions::read_list(ListKind::Sdn, date.parse().expect("snapshot date"), &path, None, None)
                .expect("snapshot parses");
            println!("screening names against {}", info.label());
            lists.insert(info, entries);
        }
        None => println!("no SDN snapshot in {}: names are not screened", dir.display()),
    }
    Arc::new(lists)
}

#[test]
fn rules_examples_match_expectations() {
    let path = examples_path();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            println!("skipped: {} not found ({e})", path.display());
            return;
        }
    };
    let cases: Vec<Case> = serde_json::from_str(&text).expect("examples.json deserializes");
    assert!(!cases.is_empty(), "no cases in {}", path.display());
    let engine = RulesEngine::with_sanctions(RulesConfig::builtin().expect("builtin rules"), newest_snapshot());

    let mut failures = Vec::new();
    for case in &cases {
        let request = match case.request.parse() {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{}: invalid request: {e}", case.id));
                continue;
            }
        };
        let out = engine.evaluate(&request);
        let got = out.actions();
        for a in &case.expect.actions_required {
            if !got.contains(a) {
                failures.push(format!("{}: missing required {a} (got {got:?})", case.id));
            }
        }
        for a in &case.expect.actions_forbidden {
            if got.contains(a) {
                failures.push(format!("{}: forbidden {a} present", case.id));
            }
        }
        if let Some(want) = case.expect.requires_review
            && out.requires_review != want
        {
            failures.push(format!(
                "{}: requires_review {} but expected {want} (reasons {:?})",
                case.id, out.requires_review, out.review_reasons
            ));
        }
        // every finding is cited and has a retrieval query
        for f in &out.findings {
            if f.regulations.is_empty() || f.retrieval_query.trim().is_empty() {
                failures.push(format!("{}: {} lacks citations or query", case.id, f.code));
            }
        }
    }
    println!("{} example cases evaluated", cases.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
