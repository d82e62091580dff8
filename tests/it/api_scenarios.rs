//! The analyze API end to end: every labelled scenario in
//! ../shared/data/scenarios/examples.json through HTTP, with corpus/ and the US
//! regulations ingested, and the routes around it.

use crate::common;

use common::server;
use serde_json::{Value, json};

async fn post(client: &reqwest::Client, url: String, body: &Value) -> (u16, Value) {
    let res = client.post(url).header("content-type", "application/json").body(body.to_string()).send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labelled_scenarios_pass_through_http() {
    labelled_scenarios(|_| {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labelled_scenarios_pass_on_a_remote_qdrant() {
    let Some(remote) = common::qdrant::remote(&reagent::config::Config::default()) else { return };
    let _cleanup = common::qdrant::guard(&remote);
    labelled_scenarios(|c| c.store = remote.store.clone()).await;
}

async fn labelled_scenarios(tweak: impl FnOnce(&mut reagent::config::Config)) {
    let Some(examples) = common::shared("scenarios/examples.json") else { return };
    if common::shared("us-regulations").is_none() {
        return;
    }
    let server = server::start(&server::sources(&common::repo()), tweak).await;
    let list = server::load_newest_sanctions(&server).await;
    let client = server.client();
    let cases = reagent_eval::guidance::load_scenarios(&examples).unwrap();
    let mut failures = Vec::new();
    for case in &cases {
        let id = &case.id;
        let (status, body) = post(&client, server.url("/api/v1/analyze"), &case.request).await;
        if status != 200 {
            failures.push(format!("{id}: HTTP {status} {body}"));
            continue;
        }
        // The scoring `reagent eval guidance` uses: required and forbidden actions,
        // requires_review, and a matching citation for every required action.
        let result = reagent_eval::guidance::score(case, &body, 0.0);
        failures.extend(result.problems().into_iter().map(|p| format!("{id}: {p} (got {:?})", result.actions)));
        assert_eq!(body["generator"]["kind"], "rules", "no LLM is configured in this test");
        if let Some(version) = &list {
            assert_eq!(body["sanctions_screening"]["lists"][0]["version_id"], version.as_str(), "{id}: names the list screened");
        }

        // The stored analysis is the one returned.
        let analysis_id = body["analysis_id"].as_str().unwrap();
        let stored: Value = client.get(server.url(&format!("/api/v1/analyses/{analysis_id}"))).send().await.unwrap().json().await.unwrap();
        assert_eq!(stored, body, "{id}: stored analysis differs");
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

fn inline_request() -> Value {
    json!({
        "transaction": {"transaction_id": "BAD1", "customer_id": "C9", "amount": 12000, "currency": "USD",
            "transaction_type": "CASH_DEPOSIT", "direction": "INBOUND", "origin_country": "US",
            "destination_country": "US", "timestamp": "2026-03-10T14:20:00Z"},
        "customer": {"customer_id": "C9", "name": "Test Person", "customer_type": "INDIVIDUAL", "risk_rating": "LOW",
            "kyc_status": "COMPLETE", "is_pep": false, "country": "US"}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_and_store_nothing() {
    let server = server::start(&[common::repo().join("corpus")], |c| c.server.body_limit_bytes = 64 * 1024).await;
    let client = server.client();
    let url = server.url("/api/v1/analyze");
    let mutate = |path: &[&str], value: Value| {
        let mut body = inline_request();
        let mut slot = &mut body;
        for p in &path[..path.len() - 1] {
            slot = &mut slot[*p];
        }
        slot[path[path.len() - 1]] = value;
        body
    };
    let cases: Vec<(Value, u16, Option<&str>)> = vec![
        (mutate(&["transaction", "transaction_type"], json!("TELEPORT")), 422, Some("transaction.transaction_type")),
        (mutate(&["transaction", "amount"], json!(-5)), 422, Some("transaction.amount")),
        (mutate(&["transaction", "amount"], json!(0)), 422, Some("transaction.amount")),
        (mutate(&["transaction", "amount"], json!("lots")), 422, Some("transaction.amount")),
        (mutate(&["transaction", "origin_country"], json!("XX")), 422, Some("transaction.origin_country")),
        (mutate(&["transaction", "destination_country"], json!("usa")), 422, Some("transaction.destination_country")),
        (mutate(&["transaction", "timestamp"], json!("yesterday")), 422, Some("transaction.timestamp")),
        (mutate(&["transaction", "timestamp"], json!("9999-01-01T00:00:00Z")), 422, Some("transaction.timestamp")),
        (mutate(&["transaction", "timestamp"], json!("1960-01-01T00:00:00Z")), 422, Some("transaction.timestamp")),
        (mutate(&["transaction", "currency"], json!("ZZZ")), 422, Some("transaction.currency")),
        (mutate(&["transaction", "risk_score"], json!(1.5)), 422, Some("transaction.risk_score")),
        (mutate(&["customer", "kyc_status"], json!("DONE")), 422, Some("customer.kyc_status")),
        (json!({"transaction_id": "NOPE-404"}), 404, Some("transaction_id")),
        (json!({}), 422, Some("transaction")),
        (json!({"transaction": inline_request()["transaction"]}), 422, Some("customer")),
        (json!({"transaction_id": "TXN001", "transaction": inline_request()["transaction"], "customer": inline_request()["customer"]}), 422, Some("transaction_id")),
        (json!({"surprise": 1}), 422, Some("surprise")),
    ];
    for (body, status, field) in cases {
        let (got, err) = post(&client, url.clone(), &body).await;
        assert_eq!(got, status, "{body} → {err}");
        assert!(err["error"]["message"].is_string(), "{err}");
        if let Some(f) = field {
            assert!(err["error"]["field"].as_str().is_some_and(|x| x.contains(f)), "expected field {f}: {err}");
        }
    }
    // Syntax errors, wrong media type, too large.
    let res = client.post(&url).header("content-type", "application/json").body("{\"transaction\": ").send().await.unwrap();
    assert_eq!(res.status().as_u16(), 400);
    assert!(res.json::<Value>().await.unwrap()["error"]["code"] == "invalid_json");
    let res = client.post(&url).header("content-type", "text/plain").body(inline_request().to_string()).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 415);
    let mut big = inline_request();
    big["transaction"]["description"] = json!("x".repeat(100 * 1024));
    let res = client.post(&url).header("content-type", "application/json").body(big.to_string()).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 413);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], "body_too_large");
    let res = client.get(server.url("/api/v1/analyses/not-a-uuid")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let res = client.get(server.url(&format!("/api/v1/analyses/{}", uuid::Uuid::new_v4()))).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 404);

    assert!(server.db.analyses_for_transaction("BAD1").await.unwrap().is_empty(), "failed requests stored nothing");

    // A good request still works, is stored, and is counted.
    let (status, body) = post(&client, url.clone(), &inline_request()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.db.analyses_for_transaction("BAD1").await.unwrap().len(), 1);
    let (status, body) = post(&client, url.clone(), &json!({"transaction_id": "TXN003"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["transaction_id"], "TXN003");

    let metrics = client.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("reagent_http_requests_total{route=\"/api/v1/analyze\",status=\"422\"}"), "{metrics}");
    assert!(metrics.contains("reagent_generator_total{kind=\"rules\"} 2"), "{metrics}");
    let ready: Value = client.get(server.url("/ready")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    let spec: Value = client.get(server.url("/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    for path in ["/api/v1/analyze", "/api/v1/ask", "/api/v1/analyses/{id}", "/health", "/ready", "/metrics"] {
        assert!(spec["paths"][path].is_object(), "{path} missing from OpenAPI");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn questions_are_answered_with_citations() {
    let server = server::start(&[common::repo().join("corpus")], |_| {}).await;
    let client = server.client();
    let (status, body) =
        post(&client, server.url("/api/v1/ask"), &json!({"question": "When must a CTR be filed and how are cash deposits aggregated?", "as_of": "2026-03-10"})).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body["answer"].as_str().unwrap().is_empty());
    let citations = body["citations"].as_array().unwrap();
    assert!(!citations.is_empty(), "{body}");
    let retrieved: Vec<&str> = body["retrieval"]["chunks"].as_array().unwrap().iter().filter_map(|c| c["chunk_id"].as_str()).collect();
    for c in citations {
        assert!(retrieved.contains(&c["chunk_id"].as_str().unwrap()), "cited a chunk that was not retrieved");
        let chunk_url = server.url(&format!("/api/v1/chunks/{}", c["chunk_id"].as_str().unwrap()));
        assert_eq!(client.get(chunk_url).send().await.unwrap().status().as_u16(), 200);
    }
    let (status, body) = post(&client, server.url("/api/v1/ask"), &json!({"question": "  "})).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["field"], "question");
    let (status, body) = post(&client, server.url("/api/v1/ask"), &json!({"transaction_id": "TXN002", "question": "Is a CTR required?"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["transaction_id"], "TXN002");
}

/// The log lines a test subscriber wrote.
#[derive(Clone, Default)]
struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_response_is_logged_in_its_request_span() {
    // The process-wide subscriber: one set for this thread only missed events whose
    // callsites the other tests' threads had registered first. The other tests'
    // lines land here too; the request ids below tell this test's apart.
    static LOGS: std::sync::OnceLock<Logs> = std::sync::OnceLock::new();
    let logs = LOGS
        .get_or_init(|| {
            let logs = Logs::default();
            let writer = logs.clone();
            let subscriber =
                tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).with_max_level(tracing::Level::INFO).finish();
            tracing::subscriber::set_global_default(subscriber).expect("no other subscriber in this test binary");
            logs
        })
        .clone();
    let server = server::start(&[common::repo().join("corpus")], |_| {}).await;
    let res = server.client().get(server.url("/api/v1/openapi.json")).header("x-request-id", "trace-me-7").send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["x-request-id"], "trace-me-7");
    let res = reqwest::get(server.url("/api/v1/review-queue")).await.unwrap();
    assert_eq!(res.status().as_u16(), 401);
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_string();

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let line = |id: &str| text.lines().find(|l| l.contains(id) && l.contains("finished processing request")).map(str::to_string);
    let given = line("request_id=\"trace-me-7\"").unwrap_or_else(|| panic!("no response line for trace-me-7 in\n{text}"));
    assert!(given.contains("route=\"/api/v1/openapi.json\"") && given.contains("status=200"), "{given}");
    let refused = line(&format!("request_id=\"{generated}\"")).unwrap_or_else(|| panic!("no response line for {generated} in\n{text}"));
    assert!(refused.contains("route=\"/api/v1/review-queue\"") && refused.contains("status=401"), "{refused}");
}
