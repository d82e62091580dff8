//! Faults on a real 3-node Qdrant cluster: a private cluster (started in a temp folder on
//! free ports through ../shared/qdrant/cluster.sh) holding one collection of 3 shards with
//! 2 copies each. One node is killed with SIGKILL during an ingest, and another during a
//! stream of queries; each is restarted afterwards. What must hold: the ingest completes
//! (or its rerun resumes) with every chunk stored exactly once; queries keep answering
//! after a short failover; `/ready` says `degraded` while a copy is dead, `ok` once the
//! node caught up, and 503 once the node the service talks to is gone; and every node
//! counts the same chunks after a restart. The error count and
//! the latencies of the queries are printed, not asserted.
//!
//! Needs the Qdrant binary (`REAGENT_TEST_QDRANT_BIN`, else `$REAGENT_CACHE/qdrant/qdrant`
//! from scripts/setup-qdrant.sh) and cluster.sh (`REAGENT_TEST_QDRANT_CLUSTER_SH`, else
//! ../shared/qdrant/cluster.sh); skips, saying so, without them.

use crate::common;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reagent::config::Config;
use reagent::services::Services;
use reagent_ingest::ChunkStore;
use reagent_ingest::RemoteStore;
use reagent_ingest::pipeline::Pipeline;
use reagent_ingest::progress::Silent;
use reagent_ingest::store::{HealthStatus, SearchFilter, StoreBackend, StoreHealth, VersionStatus};
use serde_json::json;
use uuid::Uuid;

const FILES: usize = 32;
const SECTIONS: usize = 16;

/// A 3-node cluster of its own, stopped (and its folder removed) when dropped.
struct Cluster {
    dir: tempfile::TempDir,
    base: u16,
    script: PathBuf,
    bin: PathBuf,
    /// Nodes this test restarted itself (cluster.sh started the others).
    restarted: Vec<Child>,
}

impl Cluster {
    /// Start one, or `None` (saying why) without the binary or cluster.sh.
    fn start() -> Option<Self> {
        let bin = std::env::var("REAGENT_TEST_QDRANT_BIN").map(PathBuf::from).unwrap_or_else(|_| common::cache_dir().join("qdrant/qdrant"));
        let script = std::env::var("REAGENT_TEST_QDRANT_CLUSTER_SH")
            .map(PathBuf::from)
            .unwrap_or_else(|_| common::repo().join("../shared/qdrant/cluster.sh"));
        if !bin.is_file() || !script.is_file() {
            eprintln!(
                "skipped: no Qdrant binary ({}) or cluster.sh ({}); run scripts/setup-qdrant.sh, or set REAGENT_TEST_QDRANT_BIN and REAGENT_TEST_QDRANT_CLUSTER_SH",
                bin.display(),
                script.display()
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let base = free_base_port();
        let out = Command::new(&script)
            .args(["start", dir.path().to_str().unwrap(), &base.to_string()])
            .env("QDRANT_BIN", &bin)
            .env_remove("QDRANT_URI")
            .env_remove("QDRANT_BOOTSTRAP")
            .output()
            .unwrap();
        assert!(out.status.success(), "cluster.sh start failed:\n{}", String::from_utf8_lossy(&out.stderr));
        eprintln!("private Qdrant cluster in {} on base port {base}", dir.path().display());
        Some(Self { dir, base, script, bin, restarted: vec![] })
    }

    /// Ports of node `n` (1..=3): HTTP, gRPC, P2P, as cluster.sh lays them out.
    fn ports(&self, n: u16) -> (u16, u16, u16) {
        let http = self.base + 10 * (n - 1);
        (http, http + 1, http + 2)
    }

    fn grpc_url(&self, n: u16) -> String {
        format!("http://127.0.0.1:{}", self.ports(n).1)
    }

    fn node_dir(&self, n: u16) -> PathBuf {
        self.dir.path().join(format!("node{n}"))
    }

    fn pid(&self, n: u16) -> u32 {
        std::fs::read_to_string(self.node_dir(n).join("qdrant.pid")).unwrap().trim().parse().unwrap()
    }

    /// SIGKILL node `n`, and wait until its port refuses connections.
    fn kill(&self, n: u16) {
        let status = Command::new("kill").args(["-9", &self.pid(n).to_string()]).status().unwrap();
        assert!(status.success(), "kill -9 node{n}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.ports(n).0)).is_ok() {
            assert!(Instant::now() < deadline, "node{n} still answers after SIGKILL");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Start node `n` again on its storage, as cluster.sh starts a node (same folder,
    /// environment, --uri and --bootstrap), and wait until it is ready.
    fn restart(&mut self, n: u16) {
        let (http, grpc, p2p) = self.ports(n);
        let dir = self.node_dir(n);
        let log = std::fs::OpenOptions::new().append(true).create(true).open(dir.join("qdrant.log")).unwrap();
        let mut command = Command::new(&self.bin);
        command
            .current_dir(&dir)
            .args(["--uri", &format!("http://127.0.0.1:{p2p}")])
            .env_remove("QDRANT_URI")
            .env_remove("QDRANT_BOOTSTRAP")
            .env("QDRANT__SERVICE__HOST", "127.0.0.1")
            .env("QDRANT__SERVICE__HTTP_PORT", http.to_string())
            .env("QDRANT__SERVICE__GRPC_PORT", grpc.to_string())
            .env("QDRANT__STORAGE__STORAGE_PATH", dir.join("storage"))
            .env("QDRANT__STORAGE__SNAPSHOTS_PATH", dir.join("snapshots"))
            .env("QDRANT__TELEMETRY_DISABLED", "true")
            .env("QDRANT_INIT_FILE_PATH", dir.join(".qdrant-initialized"))
            .env("QDRANT__CLUSTER__ENABLED", "true")
            .env("QDRANT__CLUSTER__P2P__PORT", p2p.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if n > 1 {
            command.args(["--bootstrap", &format!("http://127.0.0.1:{}", self.ports(1).2)]);
        }
        let child = command.spawn().unwrap();
        // cluster.sh stop finds it by this file.
        std::fs::write(dir.join("qdrant.pid"), child.id().to_string()).unwrap();
        self.restarted.push(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !http_ok(http, "/readyz") {
            assert!(Instant::now() < deadline, "node{n} not ready 60 s after its restart");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(&self.script).args(["stop", self.dir.path().to_str().unwrap()]).stdout(Stdio::null()).status();
        for child in &mut self.restarted {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A base port whose nine ports (three nodes × HTTP, gRPC, P2P) are free, away from
/// the ports the scripts use (16333, 16433, 16533, 17333) and below Linux's ephemeral
/// range (from 32768), where the tests' own servers on port 0 land.
fn free_base_port() -> u16 {
    let seed = std::process::id() as u64 ^ std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    for attempt in 0..50u64 {
        let base = 20_000 + ((seed.wrapping_add(attempt * 7919)) % 1200) as u16 * 10;
        let free = (0..3).flat_map(|n| (0..3).map(move |k| base + 10 * n + k)).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok());
        if free {
            return base;
        }
    }
    panic!("no free base port for a private Qdrant cluster");
}

/// A plain HTTP GET answering 200 (Qdrant's REST port; no client library needed).
fn http_ok(port: u16, path: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.ends_with(b"200")
}

/// Deterministic filler: `FILES` documents of `SECTIONS` sections of 90 words.
fn write_corpus(dir: &Path) {
    const WORDS: [&str; 20] = [
        "account", "branch", "teller", "deposit", "wire", "review", "officer", "customer", "record", "report", "limit",
        "cash", "policy", "ledger", "vault", "audit", "control", "notice", "verify", "retain",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    std::fs::create_dir_all(dir).unwrap();
    for f in 0..FILES {
        let mut md = format!("---\nid: fault-doc-{f}\ntitle: Fault document {f}\neffective_from: 2025-01-01\n---\n# Fault document {f}\n\n");
        for s in 1..=SECTIONS {
            let words: Vec<&str> = (0..90).map(|_| WORDS[next() % WORDS.len()]).collect();
            md.push_str(&format!("## {s}. Section {s}\n\n{}.\n\n", words.join(" ")));
        }
        std::fs::write(dir.join(format!("doc-{f:02}.md")), md).unwrap();
    }
}

/// Small chunks, so the corpus makes a few thousand of them.
fn small_chunks(mut config: Config) -> Config {
    config.chunking.max_tokens = 32;
    config.chunking.overlap_tokens = 4;
    config
}

/// Every chunk id of the active versions; panics on a partial or pending version or on
/// a chunk stored twice.
fn chunk_ids(store: &dyn ChunkStore) -> BTreeSet<Uuid> {
    let mut ids = BTreeSet::new();
    for v in store.versions(None).unwrap() {
        assert_eq!(v.status, VersionStatus::Active, "{}@{} is not active", v.meta.document_id, v.meta.version);
        let chunks = store.chunks(&v.meta.document_id, &v.meta.version).unwrap();
        assert_eq!(chunks.len(), v.chunk_count, "partial version {}", v.meta.document_id);
        for c in chunks {
            assert!(ids.insert(c.chunk_id), "chunk {} stored twice", c.chunk_id);
        }
    }
    ids
}

fn run_ingest(services: &Services, corpus: &Path) -> Result<usize, String> {
    let pipeline = Pipeline { chunker: &services.chunker, embedder: services.embedder.as_ref(), store: services.store.as_ref(), progress: &Silent };
    let report = pipeline.run(&[corpus.to_path_buf()], &common::options()).map_err(|e| e.to_string())?;
    if report.failed() > 0 {
        let first = report.files.iter().find_map(|f| match &f.outcome {
            reagent_ingest::pipeline::Outcome::Failed { reason } => Some(reason.clone()),
            _ => None,
        });
        return Err(format!("{} file(s) failed, the first: {}", report.failed(), first.unwrap_or_default()));
    }
    Ok(report.chunks_written)
}

/// Wait until every copy of every shard is active again (the restarted node caught up).
fn wait_all_active(store: &dyn ChunkStore) -> Duration {
    let started = Instant::now();
    loop {
        let health = store.health();
        if health.status == HealthStatus::Ok && health.shards.iter().all(|s| s.replicas.len() == 2) {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(60), "copies not active 60 s after the restart: {health:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The same count through every node.
fn counts_through_every_node(cluster: &Cluster, config: &Config, expected: usize) {
    for n in 1..=3 {
        let settings = reagent_ingest::StoreSettings { url: cluster.grpc_url(n), ..config.store.clone() };
        let store = RemoteStore::connect(&settings).unwrap();
        assert_eq!(store.count().unwrap(), expected, "chunks counted through node{n}");
    }
}

/// `/ready` of a server on the cluster's store.
fn ready(rt: &tokio::runtime::Runtime, server: &common::server::TestServer) -> (u16, serde_json::Value) {
    rt.block_on(common::send(server.client().get(server.url("/ready"))))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[test]
fn a_node_killed_during_ingest_and_queries_loses_nothing() {
    let Some(mut cluster) = Cluster::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    write_corpus(&corpus);

    // What the corpus makes, from the embedded store.
    let embedded = common::services(small_chunks(common::config(dir.path())), common::Embedding::Hashing);
    run_ingest(&embedded, &corpus).unwrap();
    let expected = chunk_ids(embedded.store.as_ref());
    assert!(expected.len() >= 2000, "the corpus makes only {} chunks", expected.len());

    let mut config = small_chunks(common::config(dir.path()));
    config.store.backend = StoreBackend::Qdrant;
    config.store.url = cluster.grpc_url(1);
    config.store.collection = "reagent_faults".into();
    config.store.shard_number = 3;
    config.store.replication_factor = 2;
    let services = Arc::new(common::services(config.clone(), common::Embedding::Hashing));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server = rt.block_on(common::server::start_with(common::Embedding::Hashing, &[], |c| c.store = config.store.clone()));
    let (status, body) = ready(&rt, &server);
    assert_eq!((status, &body["store"]["status"]), (200, &serde_json::json!("ok")), "{body}");
    assert_eq!(body["store"]["shards"].as_array().map(Vec::len), Some(3), "{body}");

    // (a) SIGKILL node 3 once about a third of the chunks are written.
    let ingest = {
        let (services, corpus) = (services.clone(), corpus.clone());
        std::thread::spawn(move || run_ingest(&services, &corpus))
    };
    let started = Instant::now();
    while services.store.count().unwrap() < expected.len() / 3 && !ingest.is_finished() {
        assert!(started.elapsed() < Duration::from_secs(120), "the ingest does not progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    let written_at_kill = services.store.count().unwrap();
    cluster.kill(3);
    let first = ingest.join().unwrap();
    eprintln!("ingest: node3 killed after {written_at_kill} of {} chunks; the run: {}", expected.len(), match &first {
        Ok(n) => format!("completed, {n} chunks written"),
        Err(e) => format!("failed: {e}"),
    });
    assert!(written_at_kill < expected.len(), "the ingest finished before the kill: nothing was tested");
    // A run that failed is run again, as an operator would, until it completes.
    let mut outcome = first;
    for rerun in 1..=3 {
        if outcome.is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_secs(2));
        outcome = run_ingest(&services, &corpus);
        eprintln!("ingest rerun {rerun}: {outcome:?}");
    }
    outcome.expect("the ingest completes within three reruns");
    assert_eq!(chunk_ids(services.store.as_ref()), expected, "every chunk stored, none twice");
    assert_eq!(services.store.count().unwrap(), expected.len(), "no pending leftovers");

    // A copy on the dead node is no longer active: degraded, still ready.
    let (status, body) = ready(&rt, &server);
    eprintln!("/ready with node3 down: {status} {}", body["store"]);
    assert_eq!((status, &body["store"]["status"]), (200, &serde_json::json!("degraded")), "{body}");
    let states: Vec<&str> = body["store"]["shards"].as_array().unwrap().iter().flat_map(|s| s["replicas"].as_array().unwrap()).filter_map(|r| r["state"].as_str()).collect();
    assert!(states.iter().any(|s| *s != "Active"), "a copy on node3 is listed as not active: {states:?}");

    // (c) Node 3 back: it catches up, and every node counts every chunk.
    cluster.restart(3);
    let caught_up = wait_all_active(services.store.as_ref());
    eprintln!("node3 restarted; all copies active after {caught_up:?}");
    counts_through_every_node(&cluster, &config, expected.len());
    let (status, body) = ready(&rt, &server);
    assert_eq!((status, &body["store"]["status"]), (200, &serde_json::json!("ok")), "{body}");

    // (b) SIGKILL node 2 during a stream of queries.
    let stop = Arc::new(AtomicBool::new(false));
    let queries = {
        let (services, stop) = (services.clone(), stop.clone());
        std::thread::spawn(move || {
            let retriever = services.retriever();
            let mut log: Vec<(Instant, Duration, bool)> = vec![];
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let query = format!("teller cash deposit limit {i} vault audit");
                let sent = Instant::now();
                let ok = retriever.search(&query, SearchFilter::default(), None, Some(10)).is_ok_and(|hits| hits.len() == 10);
                log.push((sent, sent.elapsed(), ok));
                i += 1;
            }
            log
        })
    };
    std::thread::sleep(Duration::from_secs(2));
    let killed_at = Instant::now();
    cluster.kill(2);
    std::thread::sleep(Duration::from_secs(8));
    stop.store(true, Ordering::Relaxed);
    let log = queries.join().unwrap();
    let failover = Duration::from_secs(3);
    let phase = |from: Option<Duration>, to: Option<Duration>| {
        let picked: Vec<_> = log
            .iter()
            .filter(|(sent, _, _)| {
                let after = sent.checked_duration_since(killed_at);
                from.is_none_or(|f| after.is_some_and(|a| a >= f)) && to.is_none_or(|t| after.is_none_or(|a| a < t))
            })
            .collect();
        let errors = picked.iter().filter(|q| !q.2).count();
        let mut latencies: Vec<Duration> = picked.iter().map(|q| q.1).collect();
        latencies.sort();
        (picked.len(), errors, percentile(&latencies, 0.5), percentile(&latencies, 0.99), latencies.last().copied().unwrap_or_default())
    };
    for (label, from, to) in [
        ("before the kill", None, Some(Duration::ZERO)),
        ("first 3 s after", Some(Duration::ZERO), Some(failover)),
        ("after 3 s", Some(failover), None),
    ] {
        let (n, errors, p50, p99, max) = phase(from, to);
        eprintln!("queries {label}: {n}, errors {errors}, p50 {p50:?}, p99 {p99:?}, max {max:?}");
    }
    let (before, before_errors, ..) = phase(None, Some(Duration::ZERO));
    let (after, after_errors, ..) = phase(Some(failover), None);
    assert!(before > 0 && before_errors == 0, "queries fail with every node up: {before_errors} of {before}");
    assert!(after > 0, "no query answered after the failover window");
    assert_eq!(after_errors, 0, "queries still fail {failover:?} after node2 died");

    // (c) again for node 2.
    cluster.restart(2);
    let caught_up = wait_all_active(services.store.as_ref());
    eprintln!("node2 restarted; all copies active after {caught_up:?}");
    counts_through_every_node(&cluster, &config, expected.len());
    assert_eq!(chunk_ids(services.store.as_ref()), expected);
    let health: StoreHealth = services.store.health();
    assert_eq!(health.status, HealthStatus::Ok, "{health:?}");

    // The node the service talks to gone: not ready, 503 with a JSON body.
    cluster.kill(1);
    let (status, body) = ready(&rt, &server);
    assert_eq!(status, 503, "{body}");
    let store = &body["store"];
    assert_eq!((&store["ok"], &store["reachable"], &store["status"]), (&json!(false), &json!(false), &json!("unavailable")), "{body}");
    assert_eq!(body["status"], "not_ready", "{body}");
    drop(server);
    drop(rt);
}
