//! One fake OpenAI-compatible chat endpoint for every test that needs an LLM server:
//! it answers `POST /v1/chat/completions` from a script of [`Reply`]s (then a fallback
//! reply), records each request body and its arrival time, and counts requests in flight.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// What the fake answers to one request.
#[derive(Clone)]
pub enum Reply {
    /// 200 with a chat completion whose message content is this string.
    Content(String),
    /// 200 with a completion cut off at max_tokens.
    Truncated(String),
    /// Never answers (well, after 60 s).
    Hang,
    /// Waits, then answers with this content.
    Slow(Duration, String),
    /// This status with an OpenAI-style error body.
    Status(u16, String),
    /// 200 with this raw body.
    Raw(String),
    /// 200 with a 1 GiB streamed body (no Content-Length).
    HugeStream,
    /// 200 with a 1 MiB body and its Content-Length.
    HugeSized,
    /// 500 naming response_format when asked for json_schema, otherwise this content.
    RejectJsonSchema(String),
}

pub struct FakeLlm {
    replies: Mutex<VecDeque<Reply>>,
    fallback: Reply,
    requests: Mutex<Vec<Value>>,
    pub arrivals: Mutex<Vec<Instant>>,
    /// Requests being answered now (a request its client gave up on counts until its
    /// reply is ready).
    pub in_flight: AtomicUsize,
    /// Most requests being answered at once.
    pub max_in_flight: AtomicUsize,
}

/// Serves `replies` in order, then `fallback` for every later request, on a loopback
/// port. Returns its base URL (`http://127.0.0.1:PORT/v1`).
pub async fn start(replies: Vec<Reply>, fallback: Reply) -> (String, Arc<FakeLlm>) {
    let fake = Arc::new(FakeLlm {
        replies: Mutex::new(replies.into()),
        fallback,
        requests: Mutex::new(Vec::new()),
        arrivals: Mutex::new(Vec::new()),
        in_flight: AtomicUsize::new(0),
        max_in_flight: AtomicUsize::new(0),
    });
    let app = Router::new().route("/v1/chat/completions", post(chat)).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/v1"), fake)
}

/// A fake that answers every request after `delay` with text that is not the guidance
/// JSON (the generator then falls back to the rules).
pub async fn not_json_after(delay: Duration) -> (String, Arc<FakeLlm>) {
    start(Vec::new(), Reply::Slow(delay, "I am not JSON.".into())).await
}

impl FakeLlm {
    /// The request bodies received so far, in order.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Wait until at least `n` requests arrived, at most `limit`.
    pub async fn wait_requests(&self, n: usize, limit: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < limit {
            if self.requests.lock().map(|r| r.len()).unwrap_or_default() >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

struct InFlight<'a>(&'a FakeLlm);
impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The reply is made in a task of its own, so a request counts as in flight until its
/// reply is ready even when the client gave up on it.
async fn chat(State(fake): State<Arc<FakeLlm>>, body: Bytes) -> Response {
    tokio::spawn(reply(fake, body)).await.unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn reply(fake: Arc<FakeLlm>, body: Bytes) -> Response {
    let now = fake.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    fake.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _guard = InFlight(&fake);
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let wants_schema = request.pointer("/response_format/type") == Some(&json!("json_schema"));
    if let Ok(mut a) = fake.arrivals.lock() {
        a.push(Instant::now());
    }
    if let Ok(mut r) = fake.requests.lock() {
        r.push(request);
    }
    let reply = fake.replies.lock().ok().and_then(|mut q| q.pop_front()).unwrap_or_else(|| fake.fallback.clone());
    match reply {
        Reply::Content(c) => completion(&c, "stop"),
        Reply::Truncated(c) => completion(&c, "length"),
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            completion("{}", "stop")
        }
        Reply::Slow(d, c) => {
            tokio::time::sleep(d).await;
            completion(&c, "stop")
        }
        Reply::Status(code, msg) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            json_response(status, json!({"error": {"message": msg, "type": "server_error", "param": null, "code": null}}).to_string())
        }
        Reply::Raw(body) => json_response(StatusCode::OK, body),
        Reply::HugeStream => {
            let chunk = Bytes::from(vec![b'a'; 64 * 1024]);
            let mut first = true;
            let stream = futures_util::stream::iter((0..16 * 1024).map(move |_| {
                let piece = if first {
                    first = false;
                    Bytes::from_static(br#"{"choices":[{"message":{"content":""#)
                } else {
                    chunk.clone()
                };
                Ok::<_, Infallible>(piece)
            }));
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], Body::from_stream(stream)).into_response()
        }
        Reply::HugeSized => {
            json_response(StatusCode::OK, format!(r#"{{"choices":[{{"message":{{"content":"{}"}}}}]}}"#, "a".repeat(1 << 20)))
        }
        Reply::RejectJsonSchema(c) => {
            if wants_schema {
                let msg = "1 validation error: ('body', 'response_format', 'type') Input should be 'text' or 'json_object'";
                let body = json!({"error": {"message": msg, "type": "internal_server_error", "param": null, "code": null}});
                json_response(StatusCode::INTERNAL_SERVER_ERROR, body.to_string())
            } else {
                completion(&c, "stop")
            }
        }
    }
}

fn completion(content: &str, finish_reason: &str) -> Response {
    let body = json!({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": "fake-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    });
    json_response(StatusCode::OK, body.to_string())
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
