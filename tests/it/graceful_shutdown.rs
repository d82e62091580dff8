//! SIGTERM against the real `reagent serve`: a request in flight (an analysis waiting on
//! a slow LLM) is answered in full, new connections are refused once the signal has
//! arrived, and the process exits 0.

use crate::common;

use std::time::{Duration, Instant};

use common::spawned;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_requests_then_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    // The LLM is only asked when there is evidence to cite.
    spawned::prepare(dir.path());
    let key = spawned::api_key(dir.path(), "admin");
    let llm_delay = Duration::from_secs(3);
    let (llm_url, fake) = common::fake_llm::not_json_after(llm_delay).await;
    let mut server = spawned::serve(
        dir.path(),
        &[
            ("REAGENT_LLM_ENABLED", "true"),
            ("REAGENT_LLM_BASE_URL", &llm_url),
            ("REAGENT_LLM_MAX_RETRIES", "0"),
            ("REAGENT_LLM_TIMEOUT_SECS", "30"),
        ],
    );
    let client = spawned::client_with(Some(&key));
    let url = server.url("/api/v1/analyze");
    let started = Instant::now();
    let in_flight = tokio::spawn({
        let client = client.clone();
        async move {
            let res = client
                .post(url)
                .header("content-type", "application/json")
                .body(spawned::analyze_body(0).to_string())
                .send()
                .await;
            let res = res.expect("the in-flight request gets an answer, not a reset");
            let status = res.status().as_u16();
            (status, res.text().await.expect("the whole body arrives"))
        }
    });
    // The analysis is now waiting on the LLM: the request is truly in flight.
    assert!(
        fake.wait_requests(1, Duration::from_secs(30)).await,
        "the analysis never reached the LLM:\n{}",
        server.log_text()
    );
    server.signal("TERM");

    // New connections are refused while the old request is still running.
    let refused_by = Instant::now() + Duration::from_secs(2);
    let mut refused = false;
    while Instant::now() < refused_by {
        if client
            .get(server.url("/health"))
            .timeout(Duration::from_millis(500))
            .send()
            .await
            .is_err()
        {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused, "the server kept accepting connections after SIGTERM");
    assert!(!in_flight.is_finished(), "the in-flight request ended before the LLM answered");

    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{body}");
    let analysis: serde_json::Value = serde_json::from_str(&body).expect("a complete JSON analysis");
    assert!(analysis["analysis_id"].is_string(), "{analysis}");
    assert!(started.elapsed() >= llm_delay, "the answer came before the slow LLM replied");

    let status = server
        .wait_exit(Duration::from_secs(20))
        .expect("the server exits after finishing its requests");
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM: {status}\n{}", server.log_text());
    assert!(server.log_text().contains("shutting down"), "{}", server.log_text());
}
