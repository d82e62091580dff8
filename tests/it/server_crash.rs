//! SIGKILL against the real `reagent serve`, during a burst of analyses and during an
//! ingestion started by an upload; after each restart every analysis that was answered
//! 200 is stored exactly as returned, the store shows no partial version, and the
//! audit chain verifies.

use crate::common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::spawned;
use reagent_ingest::store::VersionStatus;
use serde_json::Value;

fn random_ms(seed: &mut u64, lo: u64, hi: u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    lo + *seed % (hi - lo)
}

/// Every visible version has all its chunks; returns the number of active versions.
fn check_store(dir: &Path) -> usize {
    let services = reagent::services::Services::start(common::config(dir)).expect("store opens after SIGKILL");
    let store = services.store.as_ref();
    let mut active = 0;
    for v in store.versions(None).unwrap() {
        if v.status != VersionStatus::Active {
            continue;
        }
        let chunks = store.chunks(&v.meta.document_id, &v.meta.version).unwrap();
        assert_eq!(
            chunks.len(),
            v.chunk_count,
            "partial version {}@{}",
            v.meta.document_id,
            v.meta.version
        );
        active += 1;
    }
    active
}

/// `reagent audit verify` passes.
fn audit_verifies(dir: &Path) {
    let out = spawned::run(dir, &["audit", "verify"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "audit verify failed:\n{}\n{err}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Post analyses from `clients` loops until the server stops answering; collects the
/// analyses answered 200.
fn burst(
    server: &spawned::Server,
    client: &reqwest::Client,
    clients: u64,
    answered: &Arc<Mutex<Vec<Value>>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..clients)
        .map(|c| {
            let (client, url, answered) = (client.clone(), server.url("/api/v1/analyze"), answered.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    let body = spawned::analyze_body(c * 100_000 + i).to_string();
                    let Ok(res) = client.post(&url).header("content-type", "application/json").body(body).send().await else {
                        break;
                    };
                    if res.status() != 200 {
                        continue;
                    }
                    // A 200 whose body is cut by the kill was never fully answered.
                    let Ok(text) = res.text().await else { break };
                    if let Ok(v) = serde_json::from_str::<Value>(&text) {
                        answered.lock().unwrap().push(v);
                    }
                }
            })
        })
        .collect()
}

async fn all_stored(server: &spawned::Server, client: &reqwest::Client, answered: &[Value]) {
    for a in answered {
        let id = a["analysis_id"].as_str().expect("analysis id");
        let res = client.get(server.url(&format!("/api/v1/analyses/{id}"))).send().await.unwrap();
        assert_eq!(res.status(), 200, "analysis {id} answered 200 before the kill is missing");
        let stored: Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
        assert_eq!(&stored, a, "analysis {id} stored differs from what was returned");
    }
}

fn upload_corpus(files: usize, sections: usize, version: &str) -> Vec<(String, Vec<u8>)> {
    const WORDS: [&str; 16] = [
        "account", "branch", "deposit", "wire", "review", "officer", "customer", "record", "report", "cash", "policy", "ledger", "audit",
        "control", "verify", "monitor",
    ];
    let mut out = Vec::new();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for f in 0..files {
        let mut md = format!(
            "---\nid: upload-crash-{f}\ntitle: Upload crash {f}\nversion: {version}\neffective_from: {version}\n---\n# Upload crash {f}\n\n"
        );
        for s in 1..=sections {
            md.push_str(&format!("## {s}. Section {s}\n\n"));
            for _ in 0..80 {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                md.push_str(WORDS[(state >> 33) as usize % WORDS.len()]);
                md.push(' ');
            }
            md.push_str(".\n\n");
        }
        out.push((format!("upload-{f}.md"), md.into_bytes()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_analyses_and_ingestion_loses_nothing_answered() {
    let dir = tempfile::tempdir().unwrap();
    spawned::prepare(dir.path());
    let key = spawned::api_key(dir.path(), "admin");
    let client = spawned::client_with(Some(&key));
    let env = [("REAGENT_LIMITS_REQUESTS_PER_SECOND", "0")];
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("kill-time seed: {seed}");
    let mut answered_total = Vec::new();

    // 1. Bursts of analyses, killed at a random moment.
    for round in 0..3 {
        let mut server = spawned::serve(dir.path(), &env);
        let answered = Arc::new(Mutex::new(Vec::new()));
        let tasks = burst(&server, &client, 16, &answered);
        let started = Instant::now();
        tokio::time::sleep(Duration::from_millis(random_ms(&mut seed, 800, 3000))).await;
        server.kill();
        let killed_after = started.elapsed();
        for t in tasks {
            let _ = t.await;
        }
        let answered = std::mem::take(&mut *answered.lock().unwrap());
        eprintln!(
            "round {round}: killed after {killed_after:?}, {} analyses answered 200",
            answered.len()
        );
        answered_total.extend(answered);
    }
    assert!(!answered_total.is_empty(), "no analysis was answered before the kills");
    let server = spawned::serve(dir.path(), &env);
    all_stored(&server, &client, &answered_total).await;
    drop(server);
    let versions_before = check_store(dir.path());
    assert!(versions_before > 0, "the corpus is stored");
    audit_verifies(dir.path());

    // 2. An upload's ingestion, killed while it runs.
    let mut interrupted = false;
    for round in 0..3 {
        let mut server = spawned::serve(dir.path(), &env);
        let files = upload_corpus(12, 10, &format!("2025-0{}-01", round + 1));
        let job_id = spawned::post_upload(&server, &client, &files).await;
        // Analyses keep coming while the ingestion runs.
        let answered = Arc::new(Mutex::new(Vec::new()));
        let tasks = burst(&server, &client, 4, &answered);
        tokio::time::sleep(Duration::from_millis(random_ms(&mut seed, 300, 2500))).await;
        let state = match client.get(server.url(&format!("/api/v1/jobs/{job_id}"))).send().await {
            Ok(r) => serde_json::from_str::<Value>(&r.text().await.unwrap_or_default()).unwrap_or(Value::Null)["status"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            Err(_) => String::new(),
        };
        server.kill();
        for t in tasks {
            let _ = t.await;
        }
        interrupted |= ["queued", "running"].contains(&state.as_str());
        let answered = std::mem::take(&mut *answered.lock().unwrap());
        eprintln!(
            "upload round {round}: job {state:?} at the kill, {} analyses answered",
            answered.len()
        );
        answered_total.extend(answered);
        check_store(dir.path());
    }
    assert!(interrupted, "no upload was still ingesting at the kill; make the upload larger");

    // 3. After all kills: the store is consistent, every answered analysis is there, the
    // audit chain verifies, and a fresh run works.
    check_store(dir.path());
    let server = spawned::serve(dir.path(), &env);
    all_stored(&server, &client, &answered_total).await;
    let res = client
        .post(server.url("/api/v1/analyze"))
        .header("content-type", "application/json")
        .body(spawned::analyze_body(7).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "analyses work after the crashes");
    drop(server);
    audit_verifies(dir.path());
    eprintln!("{} analyses answered 200 across the kills, all stored", answered_total.len());
}
