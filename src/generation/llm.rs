//! The LLM generator: one chat completion against an OpenAI-compatible endpoint
//! (`async-openai` over `reqwest`), asked for a JSON object under a schema whose
//! citation ids are exactly the retrieved chunks' short ids, then validated and merged
//! over the rules generator's guidance (see [`super::merge`]).
//!
//! Robustness, in the order a call meets it:
//! - at most `max_concurrency` calls at once (a semaphore; waiting for a slot is bounded
//!   by `timeout_secs` too);
//! - each attempt is bounded by `timeout_secs` (a hung server costs one timeout, then
//!   the rules answer);
//! - HTTP 429, 5xx and connection failures are retried `max_retries` times with a short
//!   backoff (`Retry-After` honoured up to 2 s), inside the attempt's timeout;
//! - a response body over [`MAX_RESPONSE_BYTES`] is refused while it streams in;
//! - malformed output (not JSON, not the schema, cut off at `max_tokens`) is asked
//!   again once, then the call fails;
//! - citation ids that are not retrieved chunks are dropped and counted; items left
//!   without a citation get the best chunk retrieved for their action, or are dropped.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestUserMessage,
    ChatCompletionRequestUserMessageContent, CreateChatCompletionRequest, ResponseFormat,
    ResponseFormatJsonSchema,
};
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use thiserror::Error;
use tokio::sync::Semaphore;

use super::prompt::{self, EvidenceIds, PromptSet};
use super::rules_generator::unsupported_reference;
use super::{
    ANALYSIS_PROMPT_VERSION, ASK_PROMPT_VERSION, GenerationError, GenerationInput, Generator,
    LlmDraft, RulesGenerator, best_for_action, merge, rank_evidence,
};
use crate::guidance::{Citation, ComplianceIssue, Guidance, Recommendation, RequiredAction};
use crate::rules::{ActionCode, Severity};

/// Largest response body accepted from the endpoint; larger ones are cut off and refused.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Most characters of one chunk's text shown to the model.
const CHUNK_PROMPT_CHARS: usize = 1200;
/// Most characters kept of one string the model writes.
const MAX_FIELD_CHARS: usize = 4000;
/// Most items kept of one list the model writes.
const MAX_ITEMS: usize = 20;
/// Longest wait between HTTP retries.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// How the answer's JSON schema is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormatMode {
    /// OpenAI structured outputs: `{"type":"json_schema","json_schema":{"strict":true,…}}`.
    JsonSchema,
    /// `{"type":"json_object","schema":…}`, as llama-cpp-python's server takes it (it turns
    /// the schema into a grammar; it rejects `json_schema`).
    JsonObject,
    /// `json_schema` until the endpoint rejects it (an error naming `response_format`),
    /// then `json_object` for the rest of the process.
    Auto,
}

/// `[llm]` settings.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmSettings {
    /// Off by default: the rules generator answers alone.
    pub enabled: bool,
    /// OpenAI-compatible API base, up to and including `/v1`.
    pub base_url: String,
    /// Bearer token; empty for local servers. Secret: masked by `config show`.
    pub api_key: String,
    pub model: String,
    /// Bound on one attempt (and on waiting for a concurrency slot).
    pub timeout_secs: u64,
    /// HTTP retries on 429, 5xx and connection failures.
    pub max_retries: u32,
    pub max_tokens: u32,
    pub temperature: f64,
    /// Calls in flight at once.
    pub max_concurrency: usize,
    /// `auto`, `json_schema` or `json_object` (see [`ResponseFormatMode`]).
    pub response_format: ResponseFormatMode,
    /// Folder with the prompt templates; empty: the templates compiled in.
    pub prompts_dir: String,
    /// Budget of evidence text in the prompt, in characters (best chunks first).
    pub max_evidence_chars: usize,
}

impl Default for LlmSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            base_url: "http://127.0.0.1:8088/v1".into(),
            api_key: String::new(),
            model: "smollm2-135m-instruct".into(),
            timeout_secs: 30,
            max_retries: 1,
            max_tokens: 1024,
            temperature: 0.0,
            max_concurrency: 4,
            response_format: ResponseFormatMode::Auto,
            prompts_dir: String::new(),
            max_evidence_chars: 6000,
        }
    }
}

impl std::fmt::Debug for LlmSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmSettings")
            .field("enabled", &self.enabled)
            .field("base_url", &self.base_url)
            .field(
                "api_key",
                &if self.api_key.is_empty() {
                    ""
                } else {
                    "********"
                },
            )
            .field("model", &self.model)
            .field("timeout_secs", &self.timeout_secs)
            .field("max_retries", &self.max_retries)
            .field("max_tokens", &self.max_tokens)
            .field("temperature", &self.temperature)
            .field("max_concurrency", &self.max_concurrency)
            .field("response_format", &self.response_format)
            .field("prompts_dir", &self.prompts_dir)
            .field("max_evidence_chars", &self.max_evidence_chars)
            .finish()
    }
}

/// A setting out of range; `key` is the name under `[llm]`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("llm.{key}: {reason}")]
pub struct LlmSettingsError {
    pub key: String,
    pub reason: String,
}

impl LlmSettings {
    pub fn validate(&self) -> Result<(), LlmSettingsError> {
        let bad = |key: &str, reason: String| {
            Err(LlmSettingsError {
                key: key.into(),
                reason,
            })
        };
        let url = self.base_url.trim();
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || url.len() <= "https://".len()
        {
            return bad(
                "base_url",
                format!("{:?} is not an http(s) URL", self.base_url),
            );
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return bad(
                "base_url",
                "must not contain spaces or control characters".into(),
            );
        }
        if !self.api_key.chars().all(|c| c.is_ascii_graphic()) {
            return bad("api_key", "must be printable ASCII without spaces".into());
        }
        if self.model.trim().is_empty() {
            return bad("model", "must not be empty".into());
        }
        if !(1..=600).contains(&self.timeout_secs) {
            return bad(
                "timeout_secs",
                format!("must be within 1..=600, got {}", self.timeout_secs),
            );
        }
        if self.max_retries > 10 {
            return bad(
                "max_retries",
                format!("must be at most 10, got {}", self.max_retries),
            );
        }
        if !(16..=32768).contains(&self.max_tokens) {
            return bad(
                "max_tokens",
                format!("must be within 16..=32768, got {}", self.max_tokens),
            );
        }
        if !(self.temperature.is_finite() && (0.0..=2.0).contains(&self.temperature)) {
            return bad(
                "temperature",
                format!("must be within 0..=2, got {}", self.temperature),
            );
        }
        if !(1..=256).contains(&self.max_concurrency) {
            return bad(
                "max_concurrency",
                format!("must be within 1..=256, got {}", self.max_concurrency),
            );
        }
        if self.max_evidence_chars < 200 {
            return bad(
                "max_evidence_chars",
                format!("must be at least 200, got {}", self.max_evidence_chars),
            );
        }
        Ok(())
    }
}

/// One LLM call's outcome before merging, with what validation removed.
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
    settings: LlmSettings,
    client: Client<OpenAIConfig>,
    prompts: PromptSet,
    slots: Arc<Semaphore>,
    /// `Auto` mode found that the endpoint rejects `json_schema`.
    json_object_only: AtomicBool,
}

impl std::fmt::Debug for LlmGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmGenerator")
            .field("settings", &self.settings)
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

    /// Validates `settings`, loads the prompt templates and builds the HTTP client
    /// (whatever `settings.enabled` says). Makes no request.
    pub fn new(settings: LlmSettings) -> Result<Self, GenerationError> {
        settings.validate()?;
        let dir = settings.prompts_dir.trim();
        let prompts = PromptSet::load((!dir.is_empty()).then(|| Path::new(dir)))?;
        // reqwest is built without a bundled TLS provider; use ring (already in the tree).
        // An error only means a provider is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(settings.timeout_secs.min(10)))
            .build()
            .map_err(|e| GenerationError::Transport(format!("building the HTTP client: {e}")))?;
        let config = OpenAIConfig::new()
            .with_api_base(settings.base_url.trim().trim_end_matches('/'))
            .with_api_key(settings.api_key.clone())
            .with_org_id("")
            .with_project_id("");
        let transport = CappedTransport {
            client: http.clone(),
            max_retries: settings.max_retries,
            max_body: MAX_RESPONSE_BYTES,
        };
        let client = Client::build(http, config).with_http_service(transport);
        let slots = Arc::new(Semaphore::new(settings.max_concurrency));
        Ok(Self {
            settings,
            client,
            prompts,
            slots,
            json_object_only: AtomicBool::new(false),
        })
    }

    pub fn settings(&self) -> &LlmSettings {
        &self.settings
    }

    /// Asks the model and validates its answer, without merging.
    pub async fn run(&self, input: &GenerationInput<'_>) -> Result<LlmRun, GenerationError> {
        let started = Instant::now();
        let ranked = rank_evidence(input.evidence);
        if ranked.is_empty() {
            return Err(GenerationError::NoEvidence);
        }
        let ids = EvidenceIds::assign(
            &ranked,
            self.settings.max_evidence_chars,
            CHUNK_PROMPT_CHARS,
        );
        let (version, system, user) = self.messages(input, &ids);
        // Grammar-constrained servers get a bound on actions: one per finding (none for a
        // question alone, where obligations cannot arise).
        let max_actions = if input.is_ask() {
            0
        } else {
            input.outcome.map_or(0, |o| o.findings.len()).clamp(1, 6)
        };

        let secs = self.settings.timeout_secs;
        let limit = Duration::from_secs(secs);
        let _permit = match tokio::time::timeout(limit, self.slots.acquire()).await {
            Ok(Ok(p)) => p,
            Ok(Err(_)) | Err(_) => {
                return Err(GenerationError::Busy {
                    slots: self.settings.max_concurrency,
                    secs,
                });
            }
        };

        let mut attempts = 0u32;
        let mut last_reason = String::new();
        while attempts < 2 {
            attempts += 1;
            let content = match tokio::time::timeout(
                limit,
                self.complete(&system, &user, &ids.ids(), max_actions),
            )
            .await
            {
                Err(_) => return Err(GenerationError::Timeout { secs }),
                Ok(Err(Failure::Malformed(reason))) => {
                    tracing::warn!(attempt = attempts, %reason, "LLM response malformed");
                    last_reason = reason;
                    continue;
                }
                Ok(Err(Failure::Fatal(e))) => return Err(e),
                Ok(Ok(content)) => content,
            };
            match parse_output(&content) {
                Ok(raw) => {
                    let regulations: Vec<String> = input
                        .outcome
                        .map(|o| {
                            o.findings
                                .iter()
                                .flat_map(|f| f.regulations.clone())
                                .collect()
                        })
                        .unwrap_or_default();
                    let mut run = validate(
                        raw,
                        &ids,
                        &ranked,
                        &regulations,
                        self.settings.model.clone(),
                    );
                    run.prompt_version = version;
                    run.attempts = attempts;
                    run.latency = started.elapsed();
                    run.raw_output = content;
                    if run.dropped_items > 0 || run.draft.dropped_citations > 0 {
                        tracing::warn!(
                            dropped_citations = run.draft.dropped_citations,
                            dropped_items = run.dropped_items,
                            unsupported = ?run.unsupported_references,
                            "LLM output had unsupported citations or claims; they were removed"
                        );
                    }
                    return Ok(run);
                }
                Err(reason) => {
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

    fn request(
        &self,
        system: &str,
        user: &str,
        ids: &[String],
        max_actions: usize,
        json_object: bool,
    ) -> Value {
        let schema = prompt::output_schema(ids, json_object, max_actions);
        let request = CreateChatCompletionRequest {
            model: self.settings.model.clone(),
            messages: vec![
                ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
                    content: ChatCompletionRequestSystemMessageContent::Text(system.to_string()),
                    name: None,
                }),
                ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
                    content: ChatCompletionRequestUserMessageContent::Text(user.to_string()),
                    name: None,
                }),
            ],
            temperature: Some(self.settings.temperature as f32),
            response_format: Some(ResponseFormat::JsonSchema {
                json_schema: ResponseFormatJsonSchema {
                    description: Some("Cited compliance guidance".into()),
                    name: "reagent_guidance".into(),
                    schema: schema.clone(),
                    strict: Some(true),
                },
            }),
            ..Default::default()
        };
        let mut value = serde_json::to_value(&request).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            // `max_tokens` is what every OpenAI-compatible server reads;
            // `max_completion_tokens` is what OpenAI's newer models need.
            map.insert("max_tokens".into(), json!(self.settings.max_tokens));
            map.insert("stream".into(), json!(false));
            if json_object {
                map.insert(
                    "response_format".into(),
                    json!({"type": "json_object", "schema": schema}),
                );
            } else {
                map.insert(
                    "max_completion_tokens".into(),
                    json!(self.settings.max_tokens),
                );
            }
        }
        value
    }

    fn wants_json_object(&self) -> bool {
        match self.settings.response_format {
            ResponseFormatMode::JsonObject => true,
            ResponseFormatMode::JsonSchema => false,
            ResponseFormatMode::Auto => self.json_object_only.load(Ordering::Relaxed),
        }
    }

    /// One chat completion (HTTP retries inside); the assistant message's content.
    async fn complete(
        &self,
        system: &str,
        user: &str,
        ids: &[String],
        max_actions: usize,
    ) -> Result<String, Failure> {
        let json_object = self.wants_json_object();
        match self
            .send(self.request(system, user, ids, max_actions, json_object))
            .await
        {
            Err(Failure::Fatal(GenerationError::Http { status, message }))
                if self.settings.response_format == ResponseFormatMode::Auto
                    && !json_object
                    && rejects_response_format(&message) =>
            {
                tracing::info!(
                    status,
                    "endpoint rejects json_schema response_format; using json_object with a schema"
                );
                self.json_object_only.store(true, Ordering::Relaxed);
                self.send(self.request(system, user, ids, max_actions, true))
                    .await
            }
            other => other,
        }
    }

    async fn send(&self, request: Value) -> Result<String, Failure> {
        let response: ChatResponse = self
            .client
            .chat()
            .create_byot(request)
            .await
            .map_err(map_openai_error)?;
        let Some(choice) = response.choices.into_iter().next() else {
            return Err(Failure::Malformed("the response has no choices".into()));
        };
        if let Some(refusal) = choice.message.refusal.filter(|r| !r.trim().is_empty()) {
            return Err(Failure::Fatal(GenerationError::Refused(truncate(
                &refusal, 300,
            ))));
        }
        if choice.finish_reason.as_deref() == Some("length") {
            return Err(Failure::Malformed(format!(
                "output cut off at max_tokens ({}): {}",
                self.settings.max_tokens,
                snippet(choice.message.content.as_deref().unwrap_or(""))
            )));
        }
        match choice.message.content {
            Some(c) if !c.trim().is_empty() => Ok(c),
            _ => Err(Failure::Malformed("the message has no content".into())),
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

/// Why one completion gave no usable content.
enum Failure {
    /// Worth asking again once.
    Malformed(String),
    Fatal(GenerationError),
}

fn rejects_response_format(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("response_format") || m.contains("json_schema")
}

fn map_openai_error(e: OpenAIError) -> Failure {
    match e {
        OpenAIError::Boxed(inner) => match inner.downcast::<TransportError>() {
            Ok(t) => Failure::Fatal(match *t {
                TransportError::TooLarge { limit } => GenerationError::TooLarge { limit },
                TransportError::Status { status, message } => {
                    GenerationError::Http { status, message }
                }
                TransportError::Http(m) => GenerationError::Transport(m),
            }),
            Err(other) => Failure::Fatal(GenerationError::Transport(other.to_string())),
        },
        OpenAIError::JSONDeserialize(err, body) => Failure::Malformed(format!(
            "the response is not a chat completion ({err}): {}",
            snippet(&body)
        )),
        OpenAIError::ApiError(api) => Failure::Fatal(GenerationError::Http {
            status: api.status_code.as_u16(),
            message: truncate(&api.api_error.message, 500),
        }),
        OpenAIError::Reqwest(e) => Failure::Fatal(GenerationError::Transport(e.to_string())),
        other => Failure::Fatal(GenerationError::Transport(other.to_string())),
    }
}

fn snippet(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() <= 200 {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(200).collect::<String>())
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

// ---------------------------------------------------------------------------------------
// Transport: reqwest under async-openai, with retries and a body cap.

#[derive(Debug, Error)]
enum TransportError {
    #[error("response larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("HTTP {status}: {message}")]
    Status { status: u16, message: String },
    #[error("{0}")]
    Http(String),
}

#[derive(Clone)]
struct CappedTransport {
    client: reqwest::Client,
    max_retries: u32,
    max_body: usize,
}

type TransportFuture =
    Pin<Box<dyn Future<Output = Result<reqwest::Response, OpenAIError>> + Send + 'static>>;

impl tower::Service<HttpRequestFactory> for CappedTransport {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = TransportFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, factory: HttpRequestFactory) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.execute(factory).await })
    }
}

impl CappedTransport {
    async fn execute(&self, factory: HttpRequestFactory) -> Result<reqwest::Response, OpenAIError> {
        let boxed = |e: TransportError| OpenAIError::Boxed(Box::new(e));
        let mut attempt = 0u32;
        loop {
            let request = factory.build().await?;
            let retry_left = attempt < self.max_retries;
            let backoff = Duration::from_millis(100u64.saturating_mul(1u64 << attempt.min(5)));
            match self.client.execute(request).await {
                Err(e) if retry_left && e.is_connect() => {
                    tracing::debug!(error = %e, attempt, "LLM request failed; retrying");
                    tokio::time::sleep(backoff).await;
                }
                Err(e) => return Err(boxed(TransportError::Http(e.to_string()))),
                Ok(response) => {
                    let status = response.status();
                    if (status.as_u16() == 429 || status.is_server_error()) && retry_left {
                        let wait = retry_after(&response).unwrap_or(backoff).min(MAX_BACKOFF);
                        tracing::debug!(
                            status = status.as_u16(),
                            attempt,
                            "LLM endpoint busy or failing; retrying"
                        );
                        drop(response);
                        tokio::time::sleep(wait).await;
                    } else if !status.is_success() {
                        let (_, body) = read_capped(response, 8 * 1024).await;
                        let message = truncate(&error_message(&body), 500);
                        return Err(boxed(TransportError::Status {
                            status: status.as_u16(),
                            message,
                        }));
                    } else {
                        return self.capped(response).await.map_err(boxed);
                    }
                }
            }
            attempt += 1;
        }
    }

    /// The response with its body read into memory, refusing more than `max_body` bytes.
    async fn capped(
        &self,
        response: reqwest::Response,
    ) -> Result<reqwest::Response, TransportError> {
        let limit = self.max_body;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(TransportError::TooLarge { limit });
        }
        let mut builder = http::Response::builder()
            .status(response.status())
            .version(response.version());
        if let Some(headers) = builder.headers_mut() {
            *headers = response.headers().clone();
        }
        let (complete, body) = read_capped(response, limit).await;
        match complete {
            Ok(true) => {}
            Ok(false) => return Err(TransportError::TooLarge { limit }),
            Err(e) => return Err(TransportError::Http(format!("reading the response: {e}"))),
        }
        let response = builder
            .body(body)
            .map_err(|e| TransportError::Http(e.to_string()))?;
        Ok(reqwest::Response::from(response))
    }
}

/// Reads at most `limit` bytes; `Ok(false)` if the body was longer (the rest is not read).
async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> (Result<bool, reqwest::Error>, Bytes) {
    let mut buf = BytesMut::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if buf.len() + chunk.len() > limit {
                    let room = limit - buf.len();
                    buf.extend_from_slice(&chunk[..room]);
                    return (Ok(false), buf.freeze());
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return (Ok(true), buf.freeze()),
            Err(e) => return (Err(e), buf.freeze()),
        }
    }
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let v = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The `error.message` of an OpenAI-style error body, or the body as text.
fn error_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.get("detail"))
                .or_else(|| v.get("message"))
                .map(|m| match m {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
        })
        .unwrap_or_else(|| text.trim().to_string())
}

// ---------------------------------------------------------------------------------------
// Output: the chat completion, then the model's JSON object.

#[derive(Debug, Deserialize)]
struct ChatResponse {
    #[serde(default)]
    choices: Vec<ChatChoice>,
}

#[derive(Debug, Deserialize)]
struct ChatChoice {
    message: ChatMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ChatMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

/// The model's object, as the schema states it (unknown fields are a violation).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOutput {
    required_actions: Vec<RawAction>,
    compliance_issues: Vec<RawIssue>,
    recommendations: Vec<RawRecommendation>,
    #[serde(default)]
    answer: Option<String>,
    #[serde(default)]
    answer_citations: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    code: ActionCode,
    title: String,
    description: String,
    citations: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIssue {
    title: String,
    severity: Severity,
    explanation: String,
    citations: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecommendation {
    text: String,
    citations: Vec<String>,
}

/// Parses the model's message (a JSON object, possibly in a Markdown code fence).
pub(crate) fn parse_output(content: &str) -> Result<RawOutput, String> {
    let mut text = content.trim();
    if let Some(rest) = text.strip_prefix("```") {
        let rest = rest.strip_prefix("json").unwrap_or(rest);
        text = rest.trim_end().strip_suffix("```").unwrap_or(rest).trim();
    }
    serde_json::from_str::<RawOutput>(text).map_err(|e| format!("{e}: {}", snippet(text)))
}

/// Resolves ids to chunks, drops what cannot be supported, counts it.
pub(crate) fn validate(
    raw: RawOutput,
    ids: &EvidenceIds<'_>,
    ranked: &[super::Ranked<'_>],
    regulations: &[String],
    model: String,
) -> LlmRun {
    let mut dropped_citations = 0usize;
    let mut dropped_items = 0usize;
    let mut unsupported: Vec<String> = Vec::new();
    let mut invented = 0usize;
    // An item naming a CFR section that neither the rules nor the evidence contain is an
    // invented regulation: the whole item goes.
    let mut invents = |texts: &[&str]| -> bool {
        match texts
            .iter()
            .find_map(|t| unsupported_reference(t, ranked, regulations))
        {
            Some(r) => {
                unsupported.push(r);
                true
            }
            None => false,
        }
    };
    let mut filled = 0usize;
    let mut resolve = |list: &[String]| -> Vec<Citation> {
        let mut out: Vec<Citation> = Vec::new();
        for id in list {
            match ids.resolve(id) {
                Some(r) => {
                    if !out.iter().any(|c| c.chunk_id == r.chunk_id()) {
                        out.push(r.citation());
                    }
                }
                None => dropped_citations += 1,
            }
        }
        out
    };
    let mut fill =
        |mut citations: Vec<Citation>, code: Option<ActionCode>| -> Option<Vec<Citation>> {
            if citations.is_empty() {
                match code.and_then(|c| best_for_action(ranked, c)) {
                    Some(best) => {
                        filled += 1;
                        citations.push(best.citation());
                    }
                    None => {
                        dropped_items += 1;
                        return None;
                    }
                }
            }
            Some(citations)
        };

    let mut draft = LlmDraft {
        model: Some(model),
        ..LlmDraft::default()
    };
    for a in raw.required_actions.into_iter().take(MAX_ITEMS) {
        let cites = resolve(&a.citations);
        if invents(&[&a.title, &a.description]) {
            invented += 1;
            continue;
        }
        if let Some(citations) = fill(cites, Some(a.code)) {
            draft.required_actions.push(RequiredAction {
                code: a.code,
                title: truncate(a.title.trim(), MAX_FIELD_CHARS),
                description: truncate(a.description.trim(), MAX_FIELD_CHARS),
                deadline: None,
                due_on: None,
                citations,
            });
        }
    }
    for i in raw.compliance_issues.into_iter().take(MAX_ITEMS) {
        let cites = resolve(&i.citations);
        if invents(&[&i.title, &i.explanation]) {
            invented += 1;
            continue;
        }
        if let Some(citations) = fill(cites, None) {
            draft.compliance_issues.push(ComplianceIssue {
                title: truncate(i.title.trim(), MAX_FIELD_CHARS),
                severity: i.severity,
                explanation: truncate(i.explanation.trim(), MAX_FIELD_CHARS),
                citations,
            });
        }
    }
    for r in raw.recommendations.into_iter().take(MAX_ITEMS) {
        let cites = resolve(&r.citations);
        if r.text.trim().is_empty() {
            continue;
        }
        if invents(&[&r.text]) {
            invented += 1;
            continue;
        }
        if let Some(citations) = fill(cites, None) {
            draft.recommendations.push(Recommendation {
                text: truncate(r.text.trim(), MAX_FIELD_CHARS),
                citations,
            });
        }
    }
    let answer_citations = resolve(&raw.answer_citations);
    match raw.answer.filter(|a| !a.trim().is_empty()) {
        Some(answer) if invents(&[&answer]) => invented += 1,
        Some(answer) if !answer_citations.is_empty() => {
            draft.answer = Some(truncate(answer.trim(), MAX_FIELD_CHARS));
            draft.answer_citations = answer_citations;
        }
        Some(_) => dropped_items += 1,
        None => {}
    }
    draft.dropped_citations = dropped_citations;
    let dropped_items = dropped_items + invented;
    LlmRun {
        draft,
        prompt_version: ANALYSIS_PROMPT_VERSION,
        attempts: 1,
        dropped_items,
        filled_citations: filled,
        unsupported_references: unsupported,
        latency: Duration::ZERO,
        raw_output: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use reagent_ingest::DocumentType::Regulation;
    use uuid::Uuid;

    use super::*;
    use crate::generation::test_support::chunk;

    #[test]
    fn defaults_validate_and_bad_values_name_the_key() {
        assert!(LlmSettings::default().validate().is_ok());
        let cases: Vec<(&str, LlmSettings)> = vec![
            (
                "base_url",
                LlmSettings {
                    base_url: "ftp://x".into(),
                    ..Default::default()
                },
            ),
            (
                "api_key",
                LlmSettings {
                    api_key: "sk 1\n".into(),
                    ..Default::default()
                },
            ),
            (
                "model",
                LlmSettings {
                    model: " ".into(),
                    ..Default::default()
                },
            ),
            (
                "timeout_secs",
                LlmSettings {
                    timeout_secs: 0,
                    ..Default::default()
                },
            ),
            (
                "max_retries",
                LlmSettings {
                    max_retries: 11,
                    ..Default::default()
                },
            ),
            (
                "max_tokens",
                LlmSettings {
                    max_tokens: 0,
                    ..Default::default()
                },
            ),
            (
                "temperature",
                LlmSettings {
                    temperature: f64::NAN,
                    ..Default::default()
                },
            ),
            (
                "max_concurrency",
                LlmSettings {
                    max_concurrency: 0,
                    ..Default::default()
                },
            ),
            (
                "max_evidence_chars",
                LlmSettings {
                    max_evidence_chars: 10,
                    ..Default::default()
                },
            ),
        ];
        for (key, s) in cases {
            assert_eq!(
                s.validate().err().map(|e| e.key),
                Some(key.to_string()),
                "{key}"
            );
        }
    }

    #[test]
    fn settings_deserialize_strictly_and_hide_the_key() {
        let s: Result<LlmSettings, _> =
            toml::from_str("enabled = true\nresponse_format = \"json_object\"\n");
        let s = s.unwrap_or_else(|e| panic!("{e}"));
        assert!(s.enabled);
        assert_eq!(s.response_format, ResponseFormatMode::JsonObject);
        assert_eq!(s.timeout_secs, 30);
        assert!(toml::from_str::<LlmSettings>("enable = true\n").is_err());
        let s = LlmSettings {
            api_key: "sk-secret".into(),
            ..Default::default()
        };
        assert!(!format!("{s:?}").contains("sk-secret"));
    }

    #[test]
    fn output_parsing_is_strict_about_shape() {
        let ok = r#"```json
{"required_actions":[],"compliance_issues":[],"recommendations":[],"answer":null,"answer_citations":[]}
```"#;
        assert!(parse_output(ok).is_ok());
        assert!(
            parse_output(r#"{"required_actions":[],"compliance_issues":[],"recommendations":[]}"#)
                .is_ok()
        );
        assert!(parse_output(r#"{"required_actions":[{"code":"WIRE_IT","title":"","description":"","citations":[]}],"compliance_issues":[],"recommendations":[]}"#).is_err());
        assert!(
            parse_output(
                r#"{"required_actions":[],"compliance_issues":[],"recommendations":[],"extra":1}"#
            )
            .is_err()
        );
        assert!(parse_output(r#"{"required_actions":["#).is_err());
        assert!(parse_output("Sure! Here is the JSON").is_err());
    }

    #[test]
    fn unknown_ids_are_dropped_and_uncited_items_filled_or_dropped() {
        let ev = vec![
            chunk(
                1,
                Regulation,
                Some("31 CFR 1010.311"),
                "ctr",
                0.9,
                &[ActionCode::CtrFiling],
            ),
            chunk(
                2,
                Regulation,
                Some("31 CFR 1020.320"),
                "sar",
                0.8,
                &[ActionCode::SarReview],
            ),
        ];
        let ranked = rank_evidence(&ev);
        let ids = EvidenceIds::assign(&ranked, 10_000, 1000);
        assert_eq!(ids.ids(), vec!["C1", "C2"]);
        let raw = parse_output(
            r#"{"required_actions":[
                  {"code":"CTR_FILING","title":"t","description":"d","citations":["C9","[c1]"]},
                  {"code":"SAR_REVIEW","title":"t","description":"d","citations":["X1"]},
                  {"code":"KYC_REMEDIATION","title":"t","description":"d","citations":[]}],
                "compliance_issues":[{"title":"i","severity":"HIGH","explanation":"e","citations":["C77"]}],
                "recommendations":[{"text":"r","citations":["C2","C2"]}],
                "answer":"a","answer_citations":["nope"]}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let run = validate(raw, &ids, &ranked, &[], "m".into());
        let d = &run.draft;
        assert_eq!(d.dropped_citations, 4, "C9, X1, C77, nope");
        assert_eq!(
            d.required_actions.len(),
            2,
            "KYC had no citation and no evidence: dropped"
        );
        assert_eq!(
            d.required_actions[0].citations[0].chunk_id,
            Uuid::from_u128(1)
        );
        assert_eq!(
            d.required_actions[1].citations[0].chunk_id,
            Uuid::from_u128(2),
            "filled with SAR's best chunk"
        );
        assert!(d.compliance_issues.is_empty());
        assert_eq!(d.recommendations[0].citations.len(), 1);
        assert_eq!(d.answer, None);
        assert_eq!(run.dropped_items, 3, "KYC action, the issue, the answer");
        assert_eq!(run.filled_citations, 1);
    }

    #[test]
    fn items_naming_invented_regulations_are_dropped() {
        let ev = vec![chunk(
            1,
            Regulation,
            Some("31 CFR 1010.311"),
            "ctr",
            0.9,
            &[ActionCode::CtrFiling],
        )];
        let ranked = rank_evidence(&ev);
        let ids = EvidenceIds::assign(&ranked, 10_000, 1000);
        let raw = parse_output(
            r#"{"required_actions":[{"code":"CTR_FILING","title":"t","description":"Required by 102.5 CFR 2025.","citations":["C1"]}],
                "compliance_issues":[{"title":"i","severity":"LOW","explanation":"Per 31 CFR 1010.311 and 31 CFR 1010.313.","citations":["C1"]}],
                "recommendations":[{"text":"File per 31 CFR 1010.311(a).","citations":["C1"]}],
                "answer":"Under 4 CFR 1.1, yes.","answer_citations":["C1"]}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let regs = vec!["31 CFR 1010.313".to_string()];
        let run = validate(raw, &ids, &ranked, &regs, "m".into());
        assert!(run.draft.required_actions.is_empty());
        assert_eq!(
            run.draft.compliance_issues.len(),
            1,
            "1010.313 is a finding's regulation"
        );
        assert_eq!(run.draft.recommendations.len(), 1);
        assert_eq!(run.draft.answer, None);
        assert_eq!(
            run.unsupported_references,
            vec!["102.5 CFR Part 2025", "4 CFR 1.1"]
        );
        assert_eq!(run.dropped_items, 2);
    }

    #[test]
    fn evidence_budget_limits_the_ids() {
        let ev: Vec<_> = (1..=5)
            .map(|n| {
                chunk(
                    n,
                    Regulation,
                    None,
                    &"x".repeat(500),
                    1.0 - n as f32 / 10.0,
                    &[],
                )
            })
            .collect();
        let ranked = rank_evidence(&ev);
        assert_eq!(
            EvidenceIds::assign(&ranked, 1200, 1000).ids(),
            vec!["C1", "C2"]
        );
        assert_eq!(
            EvidenceIds::assign(&ranked, 10, 1000).ids(),
            vec!["C1"],
            "always at least one"
        );
    }
}
