//! Owns the shape of what an officer receives: cited guidance for one transaction
//! (or one question). Every generator (LLM or rules) produces [`Guidance`]; the
//! analysis step wraps it into an [`Analysis`] with the risk verdict and the trace.

use chrono::{DateTime, Utc};
use reagent_ingest::store::{ScoredChunk, SearchFilter};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::rules::{ActionCode, RiskLevel, Severity};

/// A pointer from a claim to the chunk it rests on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[derive(utoipa::ToSchema)]
pub struct Citation {
    pub chunk_id: Uuid,
    pub document_id: String,
    pub document_title: String,
    pub version: String,
    /// E.g. `31 CFR 1010.311(a)` or `AML 4.2`.
    #[schema(example = "31 CFR 1010.311(a)")]
    pub citation: Option<String>,
    pub section_path: Vec<String>,
    /// First and last page, for paginated sources.
    #[schema(value_type = Option<Vec<u32>>, min_items = 2, max_items = 2)]
    pub pages: Option<(u32, u32)>,
    pub excerpt: String,
}

/// Longest excerpt quoted in a citation, in characters.
pub const EXCERPT_CHARS: usize = 400;

impl Citation {
    pub fn from_chunk(hit: &ScoredChunk) -> Self {
        let r = &hit.record;
        Self {
            chunk_id: r.chunk_id,
            document_id: r.meta.document_id.clone(),
            document_title: r.meta.title.clone(),
            version: r.meta.version.clone(),
            citation: r.chunk.citation.clone(),
            section_path: r.chunk.section_path.clone(),
            pages: r.chunk.pages,
            excerpt: excerpt(&r.chunk.text),
        }
    }
}

fn excerpt(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= EXCERPT_CHARS {
        return flat;
    }
    let cut: String = flat.chars().take(EXCERPT_CHARS).collect();
    format!("{}…", cut.trim_end())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[derive(utoipa::ToSchema)]
pub struct RequiredAction {
    pub code: ActionCode,
    pub title: String,
    pub description: String,
    pub deadline: Option<String>,
    /// The date `deadline` names, from the rules engine (as of the
    /// transaction); absent in analyses stored before it existed.
    #[serde(default)]
    pub due_on: Option<chrono::NaiveDate>,
    pub citations: Vec<Citation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[derive(utoipa::ToSchema)]
pub struct ComplianceIssue {
    pub title: String,
    pub severity: Severity,
    pub explanation: String,
    pub citations: Vec<Citation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[derive(utoipa::ToSchema)]
pub struct Recommendation {
    pub text: String,
    pub citations: Vec<Citation>,
}

/// Which generator wrote the guidance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(utoipa::ToSchema)]
pub enum GeneratorKind {
    Llm,
    Rules,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[derive(utoipa::ToSchema)]
pub struct GeneratorInfo {
    pub kind: GeneratorKind,
    pub model: Option<String>,
    /// Why the rules generator answered although an LLM is configured.
    pub degraded_reason: Option<String>,
    /// Citations the LLM gave that were not retrieved chunks, and were dropped.
    #[serde(default)]
    pub dropped_citations: usize,
}

/// The written part of an analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Guidance {
    pub required_actions: Vec<RequiredAction>,
    pub compliance_issues: Vec<ComplianceIssue>,
    pub recommendations: Vec<Recommendation>,
    pub answer: Option<String>,
    /// Citations supporting `answer`.
    #[serde(default)]
    pub answer_citations: Vec<Citation>,
    pub generator: GeneratorInfo,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[derive(utoipa::ToSchema)]
pub struct RetrievedChunkRef {
    pub chunk_id: Uuid,
    pub score: f32,
}

/// How evidence was found, for audit and debugging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[derive(utoipa::ToSchema)]
pub struct RetrievalTrace {
    pub queries: Vec<String>,
    #[schema(value_type = Object)]
    pub filters: SearchFilter,
    pub chunks: Vec<RetrievedChunkRef>,
    /// Which of `queries` gathered the evidence of each required action: what an
    /// officer's judgement of a citation is a judgement of (`crate::feedback`).
    /// Absent in analyses stored before it was recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub action_queries: Vec<ActionQuery>,
}

/// `queries[query]` was built for `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[derive(utoipa::ToSchema)]
pub struct ActionQuery {
    pub action: ActionCode,
    pub query: usize,
}

impl RetrievalTrace {
    /// The retrieval query built for `action`, if recorded.
    pub fn query_for(&self, action: ActionCode) -> Option<&str> {
        let q = self.action_queries.iter().find(|q| q.action == action)?;
        self.queries.get(q.query).map(String::as_str)
    }
}

/// The full answer to `POST /api/v1/analyze`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[derive(utoipa::ToSchema)]
pub struct Analysis {
    pub analysis_id: Uuid,
    pub transaction_id: String,
    pub risk_level: RiskLevel,
    pub risk_score: f64,
    pub requires_review: bool,
    pub required_actions: Vec<RequiredAction>,
    pub compliance_issues: Vec<ComplianceIssue>,
    pub recommendations: Vec<Recommendation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answer_citations: Vec<Citation>,
    pub generator: GeneratorInfo,
    pub retrieval: RetrievalTrace,
    pub processing_time_ms: u64,
    pub analyzed_at: DateTime<Utc>,
    pub prompt_version: String,
    /// The sanctions list versions names were screened against, and the matches.
    #[serde(default)]
    pub sanctions_screening: crate::rules::SanctionsScreening,
}

impl Analysis {
    /// The earliest due date among the required actions; `None` when no action
    /// carries one (travel-rule records only, or an analysis stored before due dates
    /// existed).
    pub fn earliest_due(&self) -> Option<chrono::NaiveDate> {
        self.required_actions.iter().filter_map(|a| a.due_on).min()
    }
}
