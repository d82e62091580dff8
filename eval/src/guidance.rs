//! Guidance benchmark: labelled transaction scenarios (the layout of
//! `../shared/data/scenarios/examples.json`) scored against the analyses the service
//! returned. Pure scoring: the caller runs each request (in process or over HTTP) and
//! hands back the analysis as JSON, the same shape `POST /api/v1/analyze` answers with.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::EvalError;
use crate::metrics::Latency;

/// One labelled case.
#[derive(Debug, Clone, Deserialize)]
pub struct Scenario {
    pub id: String,
    #[serde(default)]
    pub note: String,
    /// The body for the analyze endpoint.
    pub request: Value,
    pub expect: Expectation,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Expectation {
    #[serde(default)]
    pub actions_required: Vec<String>,
    #[serde(default)]
    pub actions_forbidden: Vec<String>,
    /// `None`: not scored.
    pub requires_review: Option<bool>,
    /// Per required action: strings of which one must appear in a cited chunk's
    /// citation, document title or section path (case-insensitive).
    #[serde(default)]
    pub citations_any_of: BTreeMap<String, Vec<String>>,
}

pub fn load_scenarios(path: &Path) -> Result<Vec<Scenario>, EvalError> {
    let input = |reason: String| EvalError::Input { path: path.display().to_string(), reason };
    let bytes = std::fs::read(path).map_err(|e| input(e.to_string()))?;
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let cases: Vec<Scenario> =
        serde_path_to_error::deserialize(&mut de).map_err(|e| input(format!("at {}: {}", e.path(), e.inner())))?;
    if cases.is_empty() {
        return Err(input("no scenarios in the file".into()));
    }
    let mut seen = std::collections::HashSet::new();
    for c in &cases {
        if !seen.insert(c.id.as_str()) {
            return Err(input(format!("scenario id {:?} appears twice", c.id)));
        }
    }
    Ok(cases)
}

/// How one case went.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseResult {
    pub id: String,
    pub latency_ms: f64,
    /// The request failed (HTTP status or error message); nothing else is scored.
    pub error: Option<String>,
    pub actions: Vec<String>,
    pub missing_actions: Vec<String>,
    pub forbidden_present: Vec<String>,
    pub requires_review: Option<bool>,
    /// `None` when the case does not score it.
    pub review_correct: Option<bool>,
    /// Required actions that are present and cite a matching chunk.
    pub citation_hits: Vec<String>,
    /// Required actions that are present but cite no matching chunk.
    pub citation_misses: Vec<String>,
    pub generator: Option<String>,
    pub all_correct: bool,
}

impl CaseResult {
    pub fn failed(id: &str, latency_ms: f64, error: String) -> Self {
        Self {
            id: id.to_string(),
            latency_ms,
            error: Some(error),
            actions: vec![],
            missing_actions: vec![],
            forbidden_present: vec![],
            requires_review: None,
            review_correct: None,
            citation_hits: vec![],
            citation_misses: vec![],
            generator: None,
            all_correct: false,
        }
    }

    /// What went wrong, one phrase per problem (empty when the case is all correct).
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if let Some(e) = &self.error {
            p.push(format!("request failed: {e}"));
        }
        p.extend(self.missing_actions.iter().map(|a| format!("missing {a}")));
        p.extend(self.forbidden_present.iter().map(|a| format!("false positive {a}")));
        if self.review_correct == Some(false) {
            p.push(format!("requires_review = {:?}", self.requires_review));
        }
        p.extend(self.citation_misses.iter().map(|a| format!("{a} cites no matching chunk")));
        p
    }
}

/// The text a citation is matched against: citation, document title and section path.
fn cited_text(citation: &Value) -> String {
    let path = citation["section_path"]
        .as_array()
        .map(|p| p.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" > "))
        .unwrap_or_default();
    format!(
        "{} | {} | {}",
        citation["citation"].as_str().unwrap_or(""),
        citation["document_title"].as_str().unwrap_or(""),
        path
    )
    .to_lowercase()
}

/// Score one analysis (the JSON the analyze endpoint returns) against its case.
pub fn score(case: &Scenario, analysis: &Value, latency_ms: f64) -> CaseResult {
    let Some(required) = analysis["required_actions"].as_array() else {
        return CaseResult::failed(&case.id, latency_ms, "the answer has no required_actions list".into());
    };
    let actions: Vec<String> = required.iter().filter_map(|a| a["code"].as_str().map(str::to_string)).collect();
    let expect = &case.expect;
    let missing_actions: Vec<String> = expect.actions_required.iter().filter(|a| !actions.contains(a)).cloned().collect();
    let forbidden_present: Vec<String> = expect.actions_forbidden.iter().filter(|a| actions.contains(a)).cloned().collect();
    let requires_review = analysis["requires_review"].as_bool();
    let review_correct = expect.requires_review.map(|want| requires_review == Some(want));
    let (mut citation_hits, mut citation_misses) = (Vec::new(), Vec::new());
    for code in expect.actions_required.iter().filter(|a| actions.contains(a)) {
        let citations: Vec<&Value> = required
            .iter()
            .filter(|a| a["code"].as_str() == Some(code))
            .flat_map(|a| a["citations"].as_array().into_iter().flatten())
            .collect();
        let wanted: Vec<String> = expect.citations_any_of.get(code).map(|w| w.iter().map(|s| s.to_lowercase()).collect()).unwrap_or_default();
        let hit = !citations.is_empty()
            && (wanted.is_empty() || citations.iter().any(|c| wanted.iter().any(|w| cited_text(c).contains(w.as_str()))));
        if hit { citation_hits.push(code.clone()) } else { citation_misses.push(code.clone()) }
    }
    let all_correct =
        missing_actions.is_empty() && forbidden_present.is_empty() && review_correct != Some(false) && citation_misses.is_empty();
    CaseResult {
        id: case.id.clone(),
        latency_ms,
        error: None,
        actions,
        missing_actions,
        forbidden_present,
        requires_review,
        review_correct,
        citation_hits,
        citation_misses,
        generator: analysis["generator"]["kind"].as_str().map(str::to_string),
        all_correct,
    }
}

/// The figures of a guidance run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub cases: usize,
    pub errors: usize,
    /// Required actions found / required actions expected.
    pub action_recall: f64,
    /// Forbidden actions present, summed over cases.
    pub false_positives: usize,
    /// Correct requires_review / cases that score it.
    pub review_accuracy: f64,
    /// Required actions present with a matching citation / required actions present.
    pub citation_hit_rate: f64,
    pub all_correct: usize,
    pub latency_ms: Latency,
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 { 1.0 } else { num as f64 / den as f64 }
}

pub fn summarize(results: &[CaseResult], expectations: &[Scenario]) -> Summary {
    let expected: usize = expectations.iter().map(|c| c.expect.actions_required.len()).sum();
    let found: usize = results
        .iter()
        .zip(expectations)
        .map(|(r, c)| if r.error.is_some() { 0 } else { c.expect.actions_required.len() - r.missing_actions.len() })
        .sum();
    let scored_reviews: Vec<bool> = results
        .iter()
        .zip(expectations)
        .filter(|(_, c)| c.expect.requires_review.is_some())
        .map(|(r, _)| r.review_correct == Some(true))
        .collect();
    let hits: usize = results.iter().map(|r| r.citation_hits.len()).sum();
    let cited: usize = results.iter().map(|r| r.citation_hits.len() + r.citation_misses.len()).sum();
    let ms: Vec<f64> = results.iter().map(|r| r.latency_ms).collect();
    Summary {
        cases: results.len(),
        errors: results.iter().filter(|r| r.error.is_some()).count(),
        action_recall: ratio(found, expected),
        false_positives: results.iter().map(|r| r.forbidden_present.len()).sum(),
        review_accuracy: ratio(scored_reviews.iter().filter(|ok| **ok).count(), scored_reviews.len()),
        citation_hit_rate: ratio(hits, cited),
        all_correct: results.iter().filter(|r| r.all_correct).count(),
        latency_ms: Latency::of(&ms),
    }
}

/// Limits a run must meet (`reagent eval guidance --min-… / --max-…`, or the
/// `[guidance]` table of `eval/thresholds.toml`). Unset limits are not checked.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuidanceFloors {
    pub min_action_recall: Option<f64>,
    pub max_false_positives: Option<usize>,
    pub min_review_accuracy: Option<f64>,
    pub min_citation_hit_rate: Option<f64>,
    /// Fewest all-correct cases; a value in (0, 1] is read as a fraction of the cases.
    pub min_all_correct: Option<f64>,
    pub max_errors: Option<usize>,
}

impl GuidanceFloors {
    /// Every limit the summary misses, one line each.
    pub fn violations(&self, s: &Summary) -> Vec<String> {
        let mut out = Vec::new();
        let mut below = |name: &str, got: f64, floor: Option<f64>| {
            if let Some(f) = floor
                && got < f
            {
                out.push(format!("{name} {got:.4} < {f}"));
            }
        };
        below("action_recall", s.action_recall, self.min_action_recall);
        below("review_accuracy", s.review_accuracy, self.min_review_accuracy);
        below("citation_hit_rate", s.citation_hit_rate, self.min_citation_hit_rate);
        if let Some(f) = self.min_all_correct {
            let need = if f > 0.0 && f <= 1.0 { (f * s.cases as f64).ceil() } else { f };
            below("all_correct", s.all_correct as f64, Some(need));
        }
        if let Some(m) = self.max_false_positives
            && s.false_positives > m
        {
            out.push(format!("false_positives {} > {m}", s.false_positives));
        }
        if let Some(m) = self.max_errors
            && s.errors > m
        {
            out.push(format!("errors {} > {m}", s.errors));
        }
        out
    }
}

/// Everything a guidance run writes to `report.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuidanceReport {
    /// Always `guidance` (retrieval reports have none), so readers of a reports folder
    /// such as the web interface can tell the two apart.
    pub kind: String,
    pub scenarios: String,
    /// `in-process` or the server URL.
    pub target: String,
    pub started_at: String,
    pub summary: Summary,
    pub cases: Vec<CaseResult>,
}

impl GuidanceReport {
    pub fn markdown(&self) -> String {
        let s = &self.summary;
        let mut md = format!(
            "# Guidance evaluation\n\n{} scenarios from `{}`, against {} ({}).\n\n\
             | metric | value |\n|---|---|\n\
             | required-action recall | {:.4} |\n| false-positive actions | {} |\n\
             | requires_review accuracy | {:.4} |\n| citation hit rate | {:.4} |\n\
             | all correct | {} / {} |\n| errors | {} |\n\
             | latency p50 / p95 / p99 ms | {:.1} / {:.1} / {:.1} |\n",
            s.cases,
            self.scenarios,
            self.target,
            self.started_at,
            s.action_recall,
            s.false_positives,
            s.review_accuracy,
            s.citation_hit_rate,
            s.all_correct,
            s.cases,
            s.errors,
            s.latency_ms.p50,
            s.latency_ms.p95,
            s.latency_ms.p99,
        );
        let failing: Vec<&CaseResult> = self.cases.iter().filter(|c| !c.all_correct).collect();
        if failing.is_empty() {
            md.push_str("\nEvery case is correct.\n");
        } else {
            md.push_str("\n## Failing cases\n\n| case | problems |\n|---|---|\n");
            for c in failing {
                md.push_str(&format!("| {} | {} |\n", c.id, c.problems().join("; ")));
            }
        }
        md
    }

    pub fn write(&self, out: &Path) -> Result<(), EvalError> {
        let io = |e: std::io::Error| EvalError::Io { path: out.display().to_string(), reason: e.to_string() };
        std::fs::create_dir_all(out).map_err(io)?;
        let json = serde_json::to_vec_pretty(self).map_err(|e| EvalError::Io { path: out.display().to_string(), reason: e.to_string() })?;
        std::fs::write(out.join("report.json"), json).map_err(io)?;
        std::fs::write(out.join("report.md"), self.markdown()).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn case() -> Scenario {
        serde_json::from_value(json!({
            "id": "T1", "request": {},
            "expect": {"requires_review": true, "actions_required": ["CTR_FILING", "SAR_REVIEW"],
                "actions_forbidden": ["OFAC_BLOCK_OR_REJECT"],
                "citations_any_of": {"CTR_FILING": ["1010.311"], "SAR_REVIEW": ["1020.320"]}}
        }))
        .unwrap()
    }

    fn action(code: &str, citation: &str) -> Value {
        json!({"code": code, "citations": [{"citation": citation, "document_title": "t", "section_path": []}]})
    }

    #[test]
    fn a_perfect_answer_is_all_correct() {
        let a = json!({"requires_review": true, "required_actions": [action("CTR_FILING", "31 CFR 1010.311"), action("SAR_REVIEW", "31 CFR 1020.320(a)")]});
        let r = score(&case(), &a, 3.0);
        assert!(r.all_correct, "{:?}", r.problems());
        assert_eq!(r.citation_hits.len(), 2);
    }

    #[test]
    fn each_kind_of_mistake_is_counted() {
        let a = json!({"requires_review": false, "required_actions": [action("CTR_FILING", "31 CFR 1010.230"), action("OFAC_BLOCK_OR_REJECT", "31 CFR 501.604")]});
        let r = score(&case(), &a, 3.0);
        assert!(!r.all_correct);
        assert_eq!(r.missing_actions, vec!["SAR_REVIEW"]);
        assert_eq!(r.forbidden_present, vec!["OFAC_BLOCK_OR_REJECT"]);
        assert_eq!(r.review_correct, Some(false));
        assert_eq!(r.citation_misses, vec!["CTR_FILING"]);
        let cases = vec![case(), case()];
        let ok = score(&cases[1], &json!({"requires_review": true, "required_actions": [action("CTR_FILING", "1010.311"), action("SAR_REVIEW", "1020.320")]}), 5.0);
        let s = summarize(&[r, ok], &cases);
        assert_eq!(s.action_recall, 0.75);
        assert_eq!(s.false_positives, 1);
        assert_eq!(s.review_accuracy, 0.5);
        assert!((s.citation_hit_rate - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(s.all_correct, 1);
        let floors = GuidanceFloors { min_action_recall: Some(1.0), max_false_positives: Some(0), min_all_correct: Some(1.0), ..Default::default() };
        assert_eq!(floors.violations(&s).len(), 3, "{:?}", floors.violations(&s));
        assert!(GuidanceFloors { min_action_recall: Some(0.7), ..Default::default() }.violations(&s).is_empty());
    }

    #[test]
    fn an_action_without_citations_misses() {
        let a = json!({"requires_review": true, "required_actions": [{"code": "CTR_FILING", "citations": []}, action("SAR_REVIEW", "1020.320")]});
        assert_eq!(score(&case(), &a, 1.0).citation_misses, vec!["CTR_FILING"]);
    }

    #[test]
    fn failed_requests_count_as_errors_not_answers() {
        let cases = vec![case()];
        let s = summarize(&[CaseResult::failed("T1", 1.0, "HTTP 500".into())], &cases);
        assert_eq!((s.errors, s.action_recall, s.all_correct), (1, 0.0, 0));
        assert_eq!(s.review_accuracy, 0.0);
    }

    #[test]
    fn bad_scenario_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        std::fs::write(&p, r#"[{"id": "A", "request": {}, "expect": {"actions_required": "CTR"}}]"#).unwrap();
        let e = load_scenarios(&p).unwrap_err().to_string();
        assert!(e.contains("expect.actions_required"), "{e}");
        std::fs::write(&p, "[]").unwrap();
        assert!(load_scenarios(&p).unwrap_err().to_string().contains("no scenarios"));
    }
}
