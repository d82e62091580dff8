//! Owns generation: turning rule findings plus retrieved evidence into [`Guidance`] in
//! which every claim cites retrieved chunks.
//!
//! Two generators implement [`Generator`]:
//! - [`RulesGenerator`] (`rules_generator.rs`): deterministic and extractive. One required
//!   action per finding, citations chosen from the evidence by regulation, an answer
//!   quoted from the best passages. It never fails and is the fallback.
//! - [`LlmGenerator`] (`llm.rs`): an OpenAI-compatible chat endpoint asked for a JSON
//!   object under a schema whose citation ids are exactly the retrieved chunks. Its
//!   output is parsed, its citations verified, and then [`merge`]d over the rules
//!   generator's output.
//!
//! [`generate_guidance`] ties them together: the LLM first, the rules on any failure.
//!
//! The modules, in the order a generation meets them:
//! - `evidence.rs`: the retrieved chunks, deduplicated and ranked once;
//! - `prompt.rs`: the templates, short evidence ids, the output schema;
//! - `client.rs`: [`LlmSettings`] and the bounded chat completion (slots, timeouts,
//!   retries and backoff, body caps, response-format fallback);
//! - `parse.rs`: the model's JSON against the schema, typed;
//! - `cite.rs`: citation verification (ids resolved to retrieved chunks, unknown ones
//!   dropped and counted, invented regulations dropped);
//! - `cfr.rs`: CFR references, shared by citation choice and verification;
//! - `builder.rs`: the one place [`Guidance`] is assembled, for both generators;
//! - `merge.rs`: the LLM's draft over the rules' guidance;
//! - `llm.rs` and `rules_generator.rs`: the two generators.
//!
//! Invariants, whatever the model says:
//! - every rule finding appears in `required_actions` with the rule's code, deadline
//!   and (at least) the rules generator's citations; the LLM cannot remove or add a
//!   required action (an action it proposes that the rules did not find becomes a
//!   recommendation);
//! - every citation is a retrieved chunk; ids the model invents are dropped and counted
//!   in `generator.dropped_citations`; model items left with no valid citation are
//!   dropped;
//! - a model item that names a CFR section found neither in the findings nor in the
//!   retrieved chunks (an invented regulation) is dropped.

mod builder;
mod cfr;
mod cite;
mod client;
mod evidence;
mod llm;
mod merge;
mod parse;
mod prompt;
mod rules_generator;

use async_trait::async_trait;
use thiserror::Error;

use crate::domain::ValidRuleInput;
use crate::guidance::Guidance;
use crate::rules::RuleOutcome;

pub use builder::{LLM_EXPLANATION_LABEL, LLM_SUGGESTION_PREFIX};
pub use client::{LlmSettings, LlmSettingsError, MAX_RESPONSE_BYTES, ResponseFormatMode};
pub use evidence::EvidenceChunk;
pub(crate) use evidence::{Ranked, best_for_action, rank_evidence};
pub use llm::{LlmGenerator, LlmRun};
pub use merge::{DraftAction, LlmDraft, merge};
pub use prompt::PromptSet;
pub use rules_generator::RulesGenerator;

/// Version of the analysis prompt (transaction, optionally with a question).
pub const ANALYSIS_PROMPT_VERSION: &str = "analysis.v1";
/// Version of the ask prompt (a question without a transaction).
pub const ASK_PROMPT_VERSION: &str = "ask.v1";
/// The default prompt version, that of a transaction analysis.
pub const PROMPT_VERSION: &str = ANALYSIS_PROMPT_VERSION;

/// The prompt version used for `input`: `ask.v1` for a question with no transaction,
/// otherwise `analysis.v1`. Record it in the response next to the guidance.
pub fn prompt_version(input: &GenerationInput<'_>) -> &'static str {
    if input.is_ask() {
        ASK_PROMPT_VERSION
    } else {
        ANALYSIS_PROMPT_VERSION
    }
}

/// Everything a generator may use. Generators cite only chunks in `evidence`.
#[derive(Debug, Clone, Copy)]
pub struct GenerationInput<'a> {
    pub request: Option<&'a ValidRuleInput>,
    pub outcome: Option<&'a RuleOutcome>,
    pub evidence: &'a [EvidenceChunk],
    pub question: Option<&'a str>,
}

impl GenerationInput<'_> {
    /// The question, if present and not blank.
    pub fn question(&self) -> Option<&str> {
        self.question.map(str::trim).filter(|q| !q.is_empty())
    }

    /// A question with neither a transaction nor findings.
    pub fn is_ask(&self) -> bool {
        self.request.is_none() && self.outcome.is_none() && self.question().is_some()
    }
}

#[derive(Debug, Error)]
pub enum GenerationError {
    #[error("no evidence was retrieved, so the LLM was not asked (it could cite nothing)")]
    NoEvidence,
    #[error("timeout: the LLM did not answer within {secs} s")]
    Timeout { secs: u64 },
    #[error("timeout: all {slots} LLM slots stayed busy for {secs} s")]
    Busy { slots: usize, secs: u64 },
    #[error("LLM endpoint unreachable: {0}")]
    Transport(String),
    #[error("LLM endpoint answered HTTP {status}: {message}")]
    Http { status: u16, message: String },
    #[error("LLM response larger than {limit} bytes was refused")]
    TooLarge { limit: usize },
    #[error("LLM output malformed after {attempts} attempt(s): {reason}")]
    Malformed { attempts: u32, reason: String },
    #[error("LLM refused to answer: {0}")]
    Refused(String),
    #[error("LLM settings: {0}")]
    Settings(#[from] LlmSettingsError),
    #[error("prompt templates: {0}")]
    Prompt(String),
}

/// Anything that writes guidance.
#[async_trait]
pub trait Generator: Send + Sync {
    async fn generate(&self, input: &GenerationInput<'_>) -> Result<Guidance, GenerationError>;
}

/// The LLM's guidance when one is configured and answers usefully, otherwise the rules
/// generator's. With no LLM configured the rules answer with `degraded_reason: None`;
/// when the LLM fails (timeout, HTTP error, malformed output twice, no evidence …) the
/// rules answer with `generator.kind = rules` and the reason in `degraded_reason`.
pub async fn generate_guidance(
    llm: Option<&LlmGenerator>,
    input: &GenerationInput<'_>,
) -> Guidance {
    let Some(llm) = llm else {
        return RulesGenerator::new().build(input);
    };
    match llm.generate(input).await {
        Ok(guidance) => guidance,
        Err(e) => {
            tracing::warn!(error = %e, "LLM generation failed; answering with the rules generator");
            let mut guidance = RulesGenerator::new().build(input);
            guidance.generator.degraded_reason = Some(e.to_string());
            guidance
        }
    }
}

/// `s` cut to `max` characters, with `…` when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

/// The start of `s`, trimmed, for an error message.
pub(crate) fn snippet(s: &str) -> String {
    truncate(s.trim(), 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_version_follows_the_input() {
        let ask = GenerationInput {
            request: None,
            outcome: None,
            evidence: &[],
            question: Some("What is a CTR?"),
        };
        assert_eq!(prompt_version(&ask), "ask.v1");
        let blank = GenerationInput {
            question: Some("  "),
            ..ask
        };
        assert_eq!(prompt_version(&blank), "analysis.v1");
    }
}
