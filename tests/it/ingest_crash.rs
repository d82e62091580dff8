//! SIGKILL during ingestion: after each kill the store opens, shows no partial version,
//! and a re-run completes without duplicates; on the embedded store and on a Qdrant
//! collection, of one node and of the 3-node cluster (when test servers are there).

use crate::common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reagent::config::Config;
use reagent_ingest::ChunkStore;
use reagent_ingest::store::VersionStatus;

const FILES: usize = 24;
const SECTIONS: usize = 12;

/// Deterministic filler text: a small vocabulary driven by a linear congruential generator.
fn write_corpus(dir: &Path, effective_from: &str) {
    const WORDS: [&str; 24] = [
        "account", "branch", "teller", "deposit", "wire", "review", "officer", "customer", "record", "report",
        "limit", "cash", "policy", "daily", "ledger", "vault", "audit", "control", "signature", "notice",
        "escalate", "verify", "monitor", "retain",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    std::fs::create_dir_all(dir).unwrap();
    for f in 0..FILES {
        let mut md = format!("---\nid: crash-doc-{f}\ntitle: Crash document {f}\neffective_from: {effective_from}\n---\n# Crash document {f}\n\n");
        for s in 1..=SECTIONS {
            md.push_str(&format!("## {s}. Section {s}\n\n"));
            let words: Vec<&str> = (0..90).map(|_| WORDS[next() % WORDS.len()]).collect();
            md.push_str(&words.join(" "));
            md.push_str(".\n\n");
        }
        std::fs::write(dir.join(format!("doc-{f:02}.md")), md).unwrap();
    }
}

/// Every visible version is complete, and nothing is stored twice.
fn check_consistent(store: &dyn ChunkStore) -> usize {
    let mut active_chunks = 0;
    for v in store.versions(None).unwrap() {
        if v.status != VersionStatus::Active {
            continue;
        }
        let chunks = store.chunks(&v.meta.document_id, &v.meta.version).unwrap();
        assert_eq!(chunks.len(), v.chunk_count, "partial version {}@{}", v.meta.document_id, v.meta.version);
        let indexes: std::collections::BTreeSet<_> = chunks.iter().map(|c| c.chunk.index).collect();
        assert_eq!(indexes.len(), chunks.len(), "duplicate chunk in {}", v.meta.document_id);
        active_chunks += chunks.len();
    }
    active_chunks
}

#[test]
fn sigkill_during_ingest_leaves_no_partial_versions() {
    let dir = tempfile::tempdir().unwrap();
    sigkill_trials(common::config(dir.path()), dir.path());
}

#[test]
fn sigkill_during_ingest_into_a_remote_qdrant_leaves_no_partial_versions() {
    let dir = tempfile::tempdir().unwrap();
    let Some(config) = common::qdrant::remote(&common::config(dir.path())) else { return };
    let _cleanup = common::qdrant::guard(&config);
    sigkill_trials(config, dir.path());
}

#[test]
fn sigkill_during_ingest_into_a_qdrant_cluster_leaves_no_partial_versions() {
    let dir = tempfile::tempdir().unwrap();
    let Some(config) = common::qdrant::cluster(&common::config(dir.path())) else { return };
    let _cleanup = common::qdrant::guard(&config);
    sigkill_trials(config, dir.path());
}

fn sigkill_trials(config: Config, dir: &Path) {
    let corpus = dir.join("corpus");
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    eprintln!("kill-time seed: {seed}");
    let mut rng = seed | 1;
    let mut random_ms = |lo: u64, hi: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        lo + rng % (hi - lo)
    };
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_reagent"))
            .args(["ingest", corpus.to_str().unwrap()])
            .env("REAGENT_STORE_DATA_DIR", &config.store.data_dir)
            .envs(common::qdrant::env(&config))
            .env("REAGENT_EMBEDDING_MODEL_DIR", &config.embedding.model_dir)
            .env("REAGENT_EMBEDDING_ORT_DYLIB_PATH", &config.embedding.ort_dylib_path)
            .env("REAGENT_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };

    let mut killed_midway = 0;
    for trial in 0..4 {
        // Each trial brings a new version of every document, so there is always work to cut.
        write_corpus(&corpus, &format!("2025-01-{:02}", trial + 1));
        let mut child = spawn();
        let wait = Duration::from_millis(random_ms(400, 4000));
        let started = Instant::now();
        while started.elapsed() < wait {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let finished_before_kill = child.try_wait().unwrap().is_some();
        // Child::kill sends SIGKILL on Unix.
        let _ = child.kill();
        let _ = child.wait();
        killed_midway += usize::from(!finished_before_kill);
        eprintln!("trial {trial}: killed after {wait:?} (finished first: {finished_before_kill})");
        let services = reagent::services::Services::start(config.clone()).expect("store opens after SIGKILL");
        check_consistent(services.store.as_ref());
    }
    assert!(killed_midway > 0, "no trial interrupted the ingest; the corpus is too small for this machine");

    write_corpus(&corpus, "2025-02-01");
    let done = spawn().wait_with_output().unwrap();
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let services = reagent::services::Services::start(config).unwrap();
    let versions = services.store.versions(None).unwrap();
    let pending: Vec<_> = versions.iter().filter(|v| v.status != VersionStatus::Active).map(|v| format!("{}@{}", v.meta.document_id, v.meta.version)).collect();
    assert!(pending.is_empty(), "no pending version survives a complete run: {pending:?}\n{}", String::from_utf8_lossy(&done.stderr));
    for f in 0..FILES {
        let mut doc: Vec<_> = versions.iter().filter(|v| v.meta.document_id == format!("crash-doc-{f}")).collect();
        doc.sort_by_key(|v| v.meta.effective_from);
        let latest = doc.last().expect("every document stored");
        assert_eq!(latest.meta.version, "2025-02-01");
        assert_eq!(latest.meta.effective_to, None);
        // Earlier versions that made it are closed where the next one starts.
        for pair in doc.windows(2) {
            assert_eq!(pair[0].meta.effective_to, Some(pair[1].meta.effective_from));
        }
    }
    let active = check_consistent(services.store.as_ref());
    assert_eq!(services.store.count().unwrap(), active, "no pending or duplicate chunks remain");
}
