//! The embedded and the remote store give the same answers: the same documents ingested
//! into the embedded shard and into a Qdrant collection come back ranked alike by the one
//! retriever, under every filter; and a remote store that fails is a clean 503. Skips
//! without a test server.

use crate::common;

use reagent::services::Services;
use reagent_ingest::store::SearchFilter;
use uuid::Uuid;

const QUERIES: [&str; 5] = [
    "cash deposits over 10,000 dollars currency transaction report",
    "wire transfer to a sanctioned country",
    "structuring several deposits just under the reporting threshold",
    "how long must records be kept",
    "teller cash drawer limits at the end of the shift",
];

fn ranked(services: &Services, query: &str, filter: &SearchFilter) -> Vec<(Uuid, f32)> {
    services
        .retriever()
        .search(query, filter.clone(), None, Some(10))
        .unwrap()
        .into_iter()
        .map(|h| (h.record.chunk_id, h.score))
        .collect()
}

#[test]
fn both_stores_rank_the_same_chunks_for_the_same_queries() {
    let dir = tempfile::tempdir().unwrap();
    let Some(remote_config) = common::qdrant::remote(&common::config(dir.path())) else { return };
    let embedded = common::start(dir.path());
    let remote = Services::with_embedder(remote_config, embedded.embedder.clone()).unwrap();
    let _cleanup = common::qdrant::cleanup(&remote);
    let corpus = common::repo().join("corpus");
    for services in [&embedded, &remote] {
        let report = common::ingest(services, std::slice::from_ref(&corpus), &common::options());
        assert_eq!(report.failed(), 0, "{:#?}", report.files);
    }
    assert_eq!(embedded.store.count().unwrap(), remote.store.count().unwrap());

    let filters = [
        SearchFilter::default(),
        SearchFilter { as_of: "2025-06-01".parse().ok(), ..Default::default() },
        SearchFilter { jurisdictions: vec!["US".into()], ..Default::default() },
    ];
    let mut compared = 0;
    for filter in &filters {
        for query in QUERIES {
            let (e, r) = (ranked(&embedded, query, filter), ranked(&remote, query, filter));
            let ids = |hits: &[(Uuid, f32)]| hits.iter().map(|h| h.0).collect::<Vec<_>>();
            assert_eq!(ids(&e), ids(&r), "{query:?} under {filter:?}");
            for ((_, a), (_, b)) in e.iter().zip(&r) {
                assert!((a - b).abs() < 1e-4, "{query:?}: scores {a} and {b}");
            }
            compared += e.len();
        }
    }
    assert!(compared >= 50, "the queries found too little to compare: {compared} hits");
}

/// The remote store failing under a running server (here its collection is deleted
/// behind its back): requests get a clean 503 with a JSON body and no internal text,
/// `/ready` reports the store, and the server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_remote_store_answers_503_with_a_json_body() {
    let Some(remote) = common::qdrant::remote(&reagent::config::Config::default()) else { return };
    let _cleanup = common::qdrant::guard(&remote);
    let server = common::server::start(&[common::repo().join("corpus")], |c| c.store = remote.store.clone()).await;
    common::server::analyze(&server, "TXN003").await;

    reagent_ingest::RemoteStore::connect(&remote.store).unwrap().drop_collection().unwrap();
    let request = serde_json::json!({"transaction_id": "TXN003"});
    let (status, body) = common::send(server.client().post(server.url("/api/v1/analyze")).json(&request)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(!message.contains("Qdrant") && !message.contains(&remote.store.collection), "no internal text: {message}");
    let (status, ready) = common::send(server.client().get(server.url("/ready"))).await;
    assert_eq!((status, &ready["store"]["ok"]), (503, &serde_json::json!(false)), "{ready}");
    let chunk = format!("/api/v1/chunks/{}", uuid::Uuid::from_u128(1));
    let (status, body) = common::send(server.client().get(server.url(&chunk))).await;
    assert_eq!((status, &body["error"]["code"]), (503, &serde_json::json!("unavailable")), "fetching a chunk needs the store too: {body}");
}
