//! Owns analyses that are neither stored nor audited: what `reagent eval guidance`
//! measures in process. They run the same rules, retrieval and generator as the analyze
//! use-case and answer the same JSON, but leave no record: an evaluation run must not
//! fill the officers' queue or the audit trail.

use crate::analysis::Analyzer;
use crate::domain::RuleInput;

/// Analyses of request bodies, answered and forgotten.
pub struct UnrecordedAnalyses(Analyzer);

impl UnrecordedAnalyses {
    pub fn new(analyzer: Analyzer) -> Self {
        Self(analyzer)
    }

    /// The analysis of one analyze request body (a transaction with its customer and
    /// history), as the analyze endpoint's JSON; `Err` names the bad field or what failed.
    pub async fn analyze(&self, body: &[u8]) -> Result<serde_json::Value, String> {
        let input: RuleInput = crate::domain::decode(body).map_err(|e| e.with_field())?;
        let (analysis, _) = self.0.analyze(input, None).await.map_err(|e| e.to_string())?;
        serde_json::to_value(&analysis).map_err(|e| e.to_string())
    }
}
