//! Runs every labelled case of `shared/data/scenarios/examples.json` through
//! the rules engine and checks required / forbidden actions and
//! `requires_review`. Skips (with a message) when the file is absent.

use std::path::PathBuf;

use reagent::domain::RuleInput;
use reagent::rules::{ActionCode, RulesEngine};
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

fn examples_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/scenarios/examples.json")
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
    let engine = RulesEngine::builtin().expect("builtin engine");

    let mut failures = Vec::new();
    for case in &cases {
        if let Err(e) = case.request.validate() {
            failures.push(format!("{}: invalid request: {e}", case.id));
            continue;
        }
        let out = engine.evaluate(&case.request);
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
