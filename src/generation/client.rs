//! Owns the LLM client: the `[llm]` settings ([`LlmSettings`]) and one chat completion
//! against an OpenAI-compatible endpoint (`async-openai` over `reqwest`), bounded on
//! every side. It knows nothing of guidance: it sends a system and a user message with a
//! response schema, and returns the assistant message's text.
//!
//! Robustness, in the order a call meets it:
//! - at most `max_concurrency` calls at once (a semaphore; waiting for a slot is bounded
//!   by `timeout_secs` too, see [`LlmClient::slot`]);
//! - each completion is bounded by `timeout_secs` (a hung server costs one timeout, then
//!   the rules answer);
//! - HTTP 429, 5xx and connection failures are retried `max_retries` times with a short
//!   backoff (`Retry-After` honoured up to 2 s), inside the completion's timeout;
//! - a response body over [`MAX_RESPONSE_BYTES`] is refused while it streams in, an
//!   error body is read up to [`MAX_ERROR_BODY_BYTES`];
//! - an endpoint that rejects `json_schema` in `auto` mode is asked with `json_object`
//!   from then on;
//! - a completion with no usable content (no choices, cut off at `max_tokens`, empty,
//!   not a chat completion) is a [`Failure::Malformed`], worth asking again.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

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
use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use thiserror::Error;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::{GenerationError, snippet, truncate};

/// Largest response body accepted from the endpoint; larger ones are cut off and refused.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Most bytes of an error response's body read for its message.
const MAX_ERROR_BODY_BYTES: usize = 8 * 1024;
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

/// An OpenAI-compatible chat endpoint: the HTTP client, its concurrency slots and what
/// `auto` mode learnt about the endpoint.
pub(crate) struct LlmClient {
    settings: LlmSettings,
    client: Client<OpenAIConfig>,
    slots: Arc<Semaphore>,
    /// `Auto` mode found that the endpoint rejects `json_schema`.
    json_object_only: AtomicBool,
}

impl LlmClient {
    /// Validates `settings` and builds the HTTP client (whatever `settings.enabled`
    /// says). Makes no request.
    pub fn new(settings: LlmSettings) -> Result<Self, GenerationError> {
        settings.validate()?;
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
            slots,
            json_object_only: AtomicBool::new(false),
        })
    }

    pub fn settings(&self) -> &LlmSettings {
        &self.settings
    }

    /// One of the `max_concurrency` slots, waiting at most `timeout_secs` for it. Hold it
    /// over the completions of one generation.
    pub async fn slot(&self) -> Result<SemaphorePermit<'_>, GenerationError> {
        let secs = self.settings.timeout_secs;
        match tokio::time::timeout(Duration::from_secs(secs), self.slots.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) | Err(_) => Err(GenerationError::Busy {
                slots: self.settings.max_concurrency,
                secs,
            }),
        }
    }

    /// One chat completion (HTTP retries inside), bounded by `timeout_secs`; the
    /// assistant message's content. `schema(json_object)` is the response schema, for
    /// `json_schema` (`false`) or for a grammar-constrained `json_object` server (`true`).
    pub async fn complete(
        &self,
        system: &str,
        user: &str,
        schema: &(dyn Fn(bool) -> Value + Sync),
    ) -> Result<String, Failure> {
        let secs = self.settings.timeout_secs;
        match tokio::time::timeout(
            Duration::from_secs(secs),
            self.complete_unbounded(system, user, schema),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(Failure::Fatal(GenerationError::Timeout { secs })),
        }
    }

    async fn complete_unbounded(
        &self,
        system: &str,
        user: &str,
        schema: &(dyn Fn(bool) -> Value + Sync),
    ) -> Result<String, Failure> {
        let json_object = self.wants_json_object();
        match self
            .send(self.request(system, user, schema(json_object), json_object))
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
                self.send(self.request(system, user, schema(true), true))
                    .await
            }
            other => other,
        }
    }

    /// The request body: the two messages, the schema as `response_format`, the token
    /// bound under both names servers read.
    fn request(&self, system: &str, user: &str, schema: Value, json_object: bool) -> Value {
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

/// Why one completion gave no usable content.
pub(crate) enum Failure {
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
                        let (_, body) = read_capped(response, MAX_ERROR_BODY_BYTES).await;
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
// The chat completion's envelope; the message inside is read by `parse.rs`.

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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_request_carries_the_messages_schema_and_token_bound() {
        let client = LlmClient::new(LlmSettings {
            max_tokens: 333,
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let schema = json!({"type": "object"});
        let strict = client.request("sys", "usr", schema.clone(), false);
        assert_eq!(strict["messages"][0]["content"], "sys");
        assert_eq!(strict["messages"][1]["content"], "usr");
        assert_eq!(strict["response_format"]["type"], "json_schema");
        assert_eq!(strict["response_format"]["json_schema"]["schema"], schema);
        assert_eq!(strict["max_tokens"], 333);
        assert_eq!(strict["max_completion_tokens"], 333);
        assert_eq!(strict["stream"], false);
        let object = client.request("sys", "usr", schema.clone(), true);
        assert_eq!(
            object["response_format"],
            json!({"type": "json_object", "schema": schema})
        );
        assert_eq!(object["max_tokens"], 333);
        assert!(object.get("max_completion_tokens").is_none());
    }

    #[test]
    fn error_bodies_give_their_message() {
        assert_eq!(
            error_message(br#"{"error":{"message":"model not found"}}"#),
            "model not found"
        );
        assert_eq!(error_message(br#"{"detail":"bad schema"}"#), "bad schema");
        assert_eq!(error_message(br#"{"message":{"code":3}}"#), r#"{"code":3}"#);
        assert_eq!(error_message(b"  upstream down \n"), "upstream down");
        assert!(rejects_response_format(
            "Unsupported value: 'response_format.type'"
        ));
        assert!(rejects_response_format("json_schema is not supported"));
        assert!(!rejects_response_format("model not found"));
    }

    #[test]
    fn auto_mode_starts_with_json_schema() {
        let mode = |response_format| {
            LlmClient::new(LlmSettings {
                response_format,
                ..Default::default()
            })
            .map(|c| c.wants_json_object())
            .unwrap_or_else(|e| panic!("{e}"))
        };
        assert!(!mode(ResponseFormatMode::Auto));
        assert!(!mode(ResponseFormatMode::JsonSchema));
        assert!(mode(ResponseFormatMode::JsonObject));
    }
}
