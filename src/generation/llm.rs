//! Owns the LLM generator: one generation as its steps, in order. Rank the evidence and
//! give it short ids ([`super::prompt`]) → render the messages → ask the endpoint
//! ([`super::client`], which bounds the call) → parse the answer ([`super::parse`];
//! malformed output is asked again once) → verify its citations ([`super::cite`]) →
//! merge over the rules generator's guidance ([`super::merge`]).

use std::path::Path;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::cite::{self, Verified};
use super::client::{Failure, LlmClient, LlmSettings};
use super::parse::parse_output;
use super::prompt::{self, EvidenceIds, PromptSet};
use super::{
    ANALYSIS_PROMPT_VERSION, ASK_PROMPT_VERSION, GenerationError, GenerationInput, Generator,
    LlmDraft, RulesGenerator, merge, rank_evidence,
};
use crate::guidance::Guidance;

/// Most characters of one chunk's text shown to the model.
const CHUNK_PROMPT_CHARS: usize = 1200;

/// One LLM call's outcome before merging, with what citation verification removed
/// (see [`super::cite`]).
#[derive(Debug, Clone)]
pub struct LlmRun {
    pub draft: LlmDraft,
    /// `analysis.v1` or `ask.v1`.
    pub prompt_version: &'static str,
    /// Requests whose output was read (2 when the first output was malformed).
    pub attempts: u32,
    /// Items the model wrote without any valid citation and that no evidence for their
    /// action could support.
    pub dropped_items: usize,
    /// Items without a valid citation that received the best chunk for their action.
    pub filled_citations: usize,
    /// CFR references the model wrote that neither the findings nor the evidence contain;
    /// the items naming them were dropped (and counted in `dropped_items`).
    pub unsupported_references: Vec<String>,
    pub latency: Duration,
    /// The model's last message, as received (for diagnostics).
    pub raw_output: String,
}

/// An OpenAI-compatible chat endpoint as a [`Generator`].
pub struct LlmGenerator {
    client: LlmClient,
    prompts: PromptSet,
}

impl std::fmt::Debug for LlmGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmGenerator")
            .field("settings", self.client.settings())
            .finish_non_exhaustive()
    }
}

impl LlmGenerator {
    /// `Some(generator)` when `settings.enabled`, `None` when the LLM is off.
    pub fn from_settings(settings: &LlmSettings) -> Result<Option<Self>, GenerationError> {
        if settings.enabled {
            Self::new(settings.clone()).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Validates `settings`, builds the HTTP client and loads the prompt templates
    /// (whatever `settings.enabled` says). Makes no request.
    pub fn new(settings: LlmSettings) -> Result<Self, GenerationError> {
        let client = LlmClient::new(settings)?;
        let dir = client.settings().prompts_dir.trim();
        let prompts = PromptSet::load((!dir.is_empty()).then(|| Path::new(dir)))?;
        Ok(Self { client, prompts })
    }

    pub fn settings(&self) -> &LlmSettings {
        self.client.settings()
    }

    /// Asks the model and verifies its answer, without merging.
    pub async fn run(&self, input: &GenerationInput<'_>) -> Result<LlmRun, GenerationError> {
        let started = Instant::now();
        let ranked = rank_evidence(input.evidence);
        if ranked.is_empty() {
            return Err(GenerationError::NoEvidence);
        }
        let settings = self.client.settings();
        let ids = EvidenceIds::assign(&ranked, settings.max_evidence_chars, CHUNK_PROMPT_CHARS);
        let (version, system, user) = self.messages(input, &ids);
        // Grammar-constrained servers get a bound on actions: one per finding (none for a
        // question alone, where obligations cannot arise).
        let max_actions = if input.is_ask() {
            0
        } else {
            input.outcome.map_or(0, |o| o.findings.len()).clamp(1, 6)
        };
        let id_list = ids.ids();
        let schema = |limits: bool| prompt::output_schema(&id_list, limits, max_actions);

        let _slot = self.client.slot().await?;
        let mut attempts = 0u32;
        let mut last_reason = String::new();
        while attempts < 2 {
            attempts += 1;
            let content = match self.client.complete(&system, &user, &schema).await {
                Err(Failure::Malformed(reason)) => {
                    tracing::warn!(attempt = attempts, %reason, "LLM response malformed");
                    last_reason = reason;
                    continue;
                }
                Err(Failure::Fatal(e)) => return Err(e),
                Ok(content) => content,
            };
            match parse_output(&content) {
                Ok(output) => {
                    let regulations: Vec<String> = input
                        .outcome
                        .map(|o| {
                            o.findings
                                .iter()
                                .flat_map(|f| f.regulations.clone())
                                .collect()
                        })
                        .unwrap_or_default();
                    let Verified {
                        draft,
                        dropped_items,
                        filled_citations,
                        unsupported_references,
                    } = cite::verify(output, &ids, &ranked, &regulations, settings.model.clone());
                    if dropped_items > 0 || draft.dropped_citations > 0 {
                        tracing::warn!(
                            dropped_citations = draft.dropped_citations,
                            dropped_items,
                            unsupported = ?unsupported_references,
                            "LLM output had unsupported citations or claims; they were removed"
                        );
                    }
                    return Ok(LlmRun {
                        draft,
                        prompt_version: version,
                        attempts,
                        dropped_items,
                        filled_citations,
                        unsupported_references,
                        latency: started.elapsed(),
                        raw_output: content,
                    });
                }
                Err(e) => {
                    let reason = e.to_string();
                    tracing::warn!(attempt = attempts, %reason, "LLM output malformed");
                    last_reason = reason;
                }
            }
        }
        Err(GenerationError::Malformed {
            attempts,
            reason: last_reason,
        })
    }

    fn messages(
        &self,
        input: &GenerationInput<'_>,
        ids: &EvidenceIds<'_>,
    ) -> (&'static str, String, String) {
        let evidence = ids.render(CHUNK_PROMPT_CHARS);
        if input.is_ask() {
            let question = prompt::ask_question(input);
            let user = prompt::render(
                &self.prompts.ask_user,
                &[("evidence", &evidence), ("question", &question)],
            );
            (ASK_PROMPT_VERSION, self.prompts.ask_system.clone(), user)
        } else {
            let findings = prompt::findings_json(input);
            let data = prompt::transaction_json(input);
            let question = prompt::analysis_question_block(input);
            let user = prompt::render(
                &self.prompts.analysis_user,
                &[
                    ("findings", &findings),
                    ("evidence", &evidence),
                    ("transaction_data", &data),
                    ("question", &question),
                ],
            );
            (
                ANALYSIS_PROMPT_VERSION,
                self.prompts.analysis_system.clone(),
                user,
            )
        }
    }
}

#[async_trait]
impl Generator for LlmGenerator {
    async fn generate(&self, input: &GenerationInput<'_>) -> Result<Guidance, GenerationError> {
        let run = self.run(input).await?;
        let rules = RulesGenerator::new().build(input);
        Ok(merge(&rules, run.draft))
    }
}
