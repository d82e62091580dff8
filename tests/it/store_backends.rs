//! The embedded and the remote store give the same answers: the same documents ingested
//! into the embedded shard and into Qdrant collections (on one node, and on the 3-node
//! cluster with 3 shards of 2 copies) come back ranked alike by the one retriever, under
//! every filter; batching the retriever's store queries changes no ranking; a remote
//! store that fails is a clean 503; `/ready` lists a cluster collection's shards. Skips
//! without a test server.

use crate::common;

use std::sync::Arc;

use reagent::services::Services;
use reagent_ingest::store::{OneAtATime, ScoredChunk, SearchFilter};
use reagent_retrieval::{RetrievalMode, Retriever};
use serde_json::json;
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
    let remotes = common::qdrant::remotes(&common::config(dir.path()));
    if remotes.is_empty() {
        return;
    }
    let embedded = common::start(dir.path());
    let corpus = common::repo().join("corpus");
    let report = common::ingest(&embedded, std::slice::from_ref(&corpus), &common::options());
    assert_eq!(report.failed(), 0, "{:#?}", report.files);
    for remote_config in remotes {
        let remote = Services::with_embedder(remote_config, embedded.embedder.clone()).unwrap();
        let _cleanup = common::qdrant::cleanup(&remote);
        let report = common::ingest(&remote, std::slice::from_ref(&corpus), &common::options());
        assert_eq!(report.failed(), 0, "{:#?}", report.files);
        assert_eq!(embedded.store.count().unwrap(), remote.store.count().unwrap());
        rank_alike(&embedded, &remote);
        batches_rank_as_one_query_at_a_time(&remote);
    }
    batches_rank_as_one_query_at_a_time(&embedded);
}

/// The retriever's batched store queries, one search's and several searches' together
/// ([`Retriever::search_many`]), rank as the same queries sent one at a time
/// ([`OneAtATime`]), in every mode: the same chunks in the same order, the same scores
/// but for float noise (Qdrant may answer two identical queries a few ulps apart, while
/// it merges segments after an ingest or from another copy of a shard): relative to the
/// score (at least 1), within 1e-5, some tens of f32 ulps.
fn batches_rank_as_one_query_at_a_time(services: &Services) {
    let alone = Retriever::new(services.embedder.clone(), Arc::new(OneAtATime(services.store.clone())), services.config.retrieval.clone());
    let batched = services.retriever();
    let filter = SearchFilter { as_of: "2025-06-01".parse().ok(), ..Default::default() };
    let store = &services.config.store;
    let (mut compared, mut worst) = (0, 0f32);
    for mode in [RetrievalMode::Fusion, RetrievalMode::Hybrid, RetrievalMode::Dbsf, RetrievalMode::Dense, RetrievalMode::Bm25] {
        let one_by_one: Vec<_> = QUERIES.iter().map(|q| alone.search(q, filter.clone(), Some(mode), Some(10)).unwrap()).collect();
        let each: Vec<_> = QUERIES.iter().map(|q| batched.search(q, filter.clone(), Some(mode), Some(10)).unwrap()).collect();
        let together = batched.search_many(&QUERIES, filter.clone(), Some(mode), Some(10)).unwrap();
        for (how, runs) in [("one search batched", each), ("the searches batched together", together)] {
            for ((query, a), b) in QUERIES.iter().zip(&one_by_one).zip(&runs) {
                let ids = |hits: &[ScoredChunk]| hits.iter().map(|h| h.record.chunk_id).collect::<Vec<_>>();
                assert!(!a.is_empty(), "{mode:?} {query:?}: nothing found");
                assert_eq!(ids(a), ids(b), "{mode:?} {query:?}, {how}, {:?} with {} shard(s)", store.backend, store.shard_number);
                for (x, y) in a.iter().zip(b) {
                    worst = worst.max((x.score - y.score).abs() / x.score.abs().max(1.0));
                }
                compared += a.len();
            }
        }
    }
    eprintln!("{:?} store, {} shard(s): {compared} hits batched and one at a time alike, scores at most {worst} apart (relative)", store.backend, store.shard_number);
    assert!(worst <= 1e-5, "scores differ by {worst} (relative)");
}

/// The same queries under the same filters give the same chunks with the same scores
/// on one shard. On several shards Qdrant's IDF counts documents per shard, so the BM25
/// part of the scores differs a little: the top chunks must still mostly agree.
fn rank_alike(embedded: &Services, remote: &Services) {
    let shards = remote.config.store.shard_number;
    let filters = [
        SearchFilter::default(),
        SearchFilter { as_of: "2025-06-01".parse().ok(), ..Default::default() },
        SearchFilter { jurisdictions: vec!["US".into()], ..Default::default() },
    ];
    let (mut compared, mut shared, mut same_first, mut worst) = (0, 0, 0, 0f32);
    for filter in &filters {
        for query in QUERIES {
            let (e, r) = (ranked(embedded, query, filter), ranked(remote, query, filter));
            let ids = |hits: &[(Uuid, f32)]| hits.iter().map(|h| h.0).collect::<Vec<_>>();
            if shards == 1 {
                assert_eq!(ids(&e), ids(&r), "{query:?} under {filter:?}");
                for ((_, a), (_, b)) in e.iter().zip(&r) {
                    assert!((a - b).abs() < 1e-4, "{query:?}: scores {a} and {b}");
                }
            }
            shared += ids(&e).iter().filter(|id| ids(&r).contains(id)).count();
            same_first += usize::from(e.first().map(|h| h.0) == r.first().map(|h| h.0));
            worst = e.iter().zip(&r).fold(worst, |w, ((_, a), (_, b))| w.max((a - b).abs()));
            compared += e.len();
        }
    }
    let runs = filters.len() * QUERIES.len();
    eprintln!("{shards} shard(s): {shared} of {compared} top chunks shared, the same first chunk in {same_first} of {runs} searches, scores differ by at most {worst}");
    assert!(compared >= 50, "the queries found too little to compare: {compared} hits");
    assert!(shared * 10 >= compared * 9, "{shards} shards: only {shared} of {compared} top chunks shared");
    assert!(same_first * 10 >= runs * 8, "{shards} shards: the same first chunk in only {same_first} of {runs} searches");
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

/// `/ready` on a collection of 3 shards with 2 copies each: the backend, and every
/// shard's copies on two different peers, all active.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_lists_the_shards_and_copies_of_a_cluster_collection() {
    let Some(cluster) = common::qdrant::cluster(&reagent::config::Config::default()) else { return };
    let _cleanup = common::qdrant::guard(&cluster);
    let server = common::server::start_with(common::Embedding::Hashing, &[], |c| c.store = cluster.store.clone()).await;
    let (status, ready) = common::send(server.client().get(server.url("/ready"))).await;
    assert_eq!(status, 200, "{ready}");
    let store = &ready["store"];
    assert_eq!((&store["ok"], &store["backend"], &store["reachable"], &store["status"]), (&json!(true), &json!("qdrant"), &json!(true), &json!("ok")), "{ready}");
    let shards = store["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 3, "{ready}");
    for shard in shards {
        let replicas = shard["replicas"].as_array().unwrap();
        let peers: std::collections::BTreeSet<u64> = replicas.iter().map(|r| r["peer_id"].as_u64().unwrap()).collect();
        assert_eq!(peers.len(), 2, "two copies on two peers: {shard}");
        assert!(replicas.iter().all(|r| r["state"] == "Active"), "{shard}");
    }
}
