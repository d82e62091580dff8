//! The service's abuse limits against the real `reagent serve`: per-caller rate limit
//! (429 + Retry-After, probes exempt, one bucket per client address), the cap on
//! requests in flight (503), the request deadline (504), and responsiveness of every
//! other route while the LLM hangs.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use common::spawned;
use serde_json::Value;

async fn get(client: &reqwest::Client, url: &str) -> (u16, Option<String>, Value) {
    let res = client.get(url).send().await.expect("request");
    let status = res.status().as_u16();
    let retry = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
    let text = res.text().await.unwrap();
    (status, retry, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn analyze(client: &reqwest::Client, url: &str, i: u64) -> (u16, Option<String>, Value) {
    let res = client
        .post(url)
        .header("content-type", "application/json")
        .body(spawned::analyze_body(i).to_string())
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    let retry = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
    let text = res.text().await.unwrap();
    (status, retry, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_is_per_caller_with_retry_after_and_spares_probes() {
    let dir = tempfile::tempdir().unwrap();
    let key_a = spawned::api_key(dir.path(), "admin");
    let key_b = spawned::api_key(dir.path(), "viewer");
    let server = spawned::serve(
        dir.path(),
        &[("REAGENT_LIMITS_REQUESTS_PER_SECOND", "0.5"), ("REAGENT_LIMITS_BURST", "3")],
    );
    let client = spawned::client_with(Some(&key_a));
    let missing = server.url(&format!("/api/v1/analyses/{}", uuid::Uuid::new_v4()));
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..6 {
        let (status, retry, body) = get(&client, &missing).await;
        statuses.push(status);
        if status == 429 && limited.is_none() {
            limited = Some((retry, body));
        }
    }
    assert_eq!(statuses, [404, 404, 404, 429, 429, 429], "burst of 3, then limited");
    let (retry, body) = limited.unwrap();
    let retry: u64 = retry.expect("429 carries Retry-After").parse().expect("Retry-After in seconds");
    assert!((1..=2).contains(&retry), "one token every 2 s: Retry-After {retry}");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");

    // Probes are never limited.
    for path in ["/health", "/ready", "/metrics"] {
        for _ in 0..5 {
            let (status, _, body) = get(&client, &server.url(path)).await;
            assert_eq!(status, 200, "{path}: {body}");
        }
    }
    // Another key has its own bucket, from the same address.
    let other = spawned::client_with(Some(&key_b));
    assert_eq!(get(&other, &missing).await.0, 404, "key B is not limited by key A's requests");
    // Without a principal (the web sign-in page) the client address is the key.
    let anonymous = spawned::client_with(None);
    let sign_in = server.url("/sign-in");
    let statuses: Vec<u16> = futures_util::future::join_all((0..4).map(|_| async { get(&anonymous, &sign_in).await.0 })).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        1,
        "127.0.0.1: burst of 3 then limited: {statuses:?}"
    );
    let elsewhere = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        .build()
        .unwrap();
    assert_eq!(get(&elsewhere, &sign_in).await.0, 200, "127.0.0.2 has its own bucket");
    // The first key gets a token back after Retry-After.
    tokio::time::sleep(Duration::from_secs(retry)).await;
    assert_eq!(get(&client, &missing).await.0, 404, "a token is back after Retry-After");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_gives_504_and_in_flight_cap_gives_503() {
    let dir = tempfile::tempdir().unwrap();
    // The LLM is only asked when there is evidence to cite.
    spawned::prepare(dir.path());
    let key = spawned::api_key(dir.path(), "admin");
    let (llm_url, fake) = spawned::fake_llm(Duration::from_secs(600)).await;
    let server = spawned::serve(
        dir.path(),
        &[
            ("REAGENT_LLM_ENABLED", "true"),
            ("REAGENT_LLM_BASE_URL", &llm_url),
            ("REAGENT_LLM_MAX_RETRIES", "0"),
            ("REAGENT_LLM_TIMEOUT_SECS", "300"),
            ("REAGENT_LIMITS_REQUEST_TIMEOUT_SECS", "3"),
            ("REAGENT_LIMITS_MAX_IN_FLIGHT", "2"),
        ],
    );
    let client = spawned::client_with(Some(&key));
    let url = server.url("/api/v1/analyze");
    let started = Instant::now();
    let slow: Vec<_> = (0..2)
        .map(|i| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move { analyze(&client, &url, i).await })
        })
        .collect();
    assert!(fake.wait_requests(2, Duration::from_secs(20)).await, "{}", server.log_text());
    // Two analyses are in flight: a third is shed, probes still answer.
    let (status, retry, body) = analyze(&client, &url, 2).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "overloaded", "{body}");
    assert!(retry.is_some(), "503 carries Retry-After");
    assert_eq!(get(&client, &server.url("/health")).await.0, 200);
    for task in slow {
        let (status, _, body) = task.await.unwrap();
        assert_eq!(status, 504, "{body}");
        assert_eq!(body["error"]["code"], "timeout", "{body}");
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(3) && elapsed < Duration::from_secs(15),
        "deadline of 3 s, took {elapsed:?}"
    );
    // The slots are free again once the deadline cancelled the requests.
    let (status, _, body) = get(&client, &server.url(&format!("/api/v1/analyses/{}", uuid::Uuid::new_v4()))).await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_stays_responsive_while_the_llm_hangs() {
    let dir = tempfile::tempdir().unwrap();
    // The LLM is only asked when there is evidence to cite.
    spawned::prepare(dir.path());
    let key = spawned::api_key(dir.path(), "admin");
    let (llm_url, fake) = spawned::fake_llm(Duration::from_secs(600)).await;
    let llm_timeout = 4;
    let server = spawned::serve(
        dir.path(),
        &[
            ("REAGENT_LLM_ENABLED", "true"),
            ("REAGENT_LLM_BASE_URL", &llm_url),
            ("REAGENT_LLM_MAX_RETRIES", "0"),
            ("REAGENT_LLM_TIMEOUT_SECS", &llm_timeout.to_string()),
            ("REAGENT_LLM_MAX_CONCURRENCY", "2"),
            ("REAGENT_LIMITS_REQUESTS_PER_SECOND", "0"),
        ],
    );
    let client = spawned::client_with(Some(&key));
    let url = server.url("/api/v1/analyze");
    let started = Instant::now();
    let hanging: Vec<_> = (0..6)
        .map(|i| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move { analyze(&client, &url, i).await })
        })
        .collect();
    assert!(fake.wait_requests(2, Duration::from_secs(20)).await, "{}", server.log_text());

    // While every LLM slot hangs, the other routes answer quickly.
    let bound = Duration::from_millis(750);
    let mut slowest = Duration::ZERO;
    let mut probes = 0;
    let probe_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < probe_until {
        let missing = format!("/api/v1/analyses/{}", uuid::Uuid::new_v4());
        for path in ["/health", "/ready", "/metrics", "/api/v1/openapi.json", missing.as_str()] {
            let t = Instant::now();
            let (status, _, body) = get(&client, &server.url(path)).await;
            slowest = slowest.max(t.elapsed());
            assert!(
                status == 200 || (status == 404 && path.starts_with("/api/v1/analyses/")),
                "{path}: {status} {body}"
            );
            probes += 1;
        }
    }
    assert!(
        slowest < bound,
        "slowest answer while the LLM hung: {slowest:?} (bound {bound:?}, {probes} requests)"
    );
    assert!(
        fake.in_flight.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "the LLM was still hanging during the probes"
    );

    // Each hanging call times out and the analysis falls back to the rules: 200, degraded.
    for task in hanging {
        let (status, _, body) = task.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["generator"]["kind"], "rules", "{body}");
        assert!(body["generator"]["degraded_reason"].is_string(), "{body}");
    }
    let elapsed = started.elapsed();
    // 6 analyses, 2 LLM calls at a time, 4 s each: at most three waves.
    assert!(elapsed < Duration::from_secs(3 * llm_timeout + 10), "took {elapsed:?}");
    // At most two calls at a time: a third call only starts once one of the first two
    // has timed out (the fake never answers, so in-flight counts there mean nothing).
    let arrivals = fake.arrivals.lock().unwrap().clone();
    // Waiting for a slot is bounded by the LLM timeout too, so late analyses may fall
    // back without calling at all.
    assert!(
        (2..=6).contains(&arrivals.len()),
        "{} LLM calls for 6 analyses (max_retries = 0)",
        arrivals.len()
    );
    for w in arrivals.windows(3) {
        let gap = w[2] - w[0];
        assert!(
            gap >= Duration::from_millis(llm_timeout * 1000 - 500),
            "3 LLM calls within {gap:?}: llm.max_concurrency = 2 not enforced"
        );
    }
}
