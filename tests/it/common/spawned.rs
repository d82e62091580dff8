//! The real `reagent` binary as a child process: `reagent serve` on a free loopback port
//! over a store and SQLite database in a folder the test keeps, and one-shot CLI
//! commands against the same folder. Used by the tests that signal or kill the server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Environment that points the binary at `dir` and the installed model.
pub fn env(dir: &Path) -> Vec<(String, String)> {
    let config = super::config(dir);
    vec![
        ("REAGENT_STORE_DATA_DIR".into(), config.store.data_dir.display().to_string()),
        (
            "REAGENT_EMBEDDING_MODEL_DIR".into(),
            config.embedding.model_dir.display().to_string(),
        ),
        (
            "REAGENT_EMBEDDING_ORT_DYLIB_PATH".into(),
            config.embedding.ort_dylib_path.display().to_string(),
        ),
        (
            "REAGENT_DATABASE_URL".into(),
            format!("sqlite://{}?mode=rwc", dir.join("reagent.db").display()),
        ),
        ("REAGENT_LOG".into(), "info,ort=warn,qdrant_edge=error".into()),
    ]
}

/// The binary under test: this build's, or `REAGENT_TEST_BINARY` (e.g. a release
/// build, to measure what the tests check).
fn binary() -> PathBuf {
    std::env::var_os("REAGENT_TEST_BINARY").map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_reagent")), PathBuf::from)
}

fn command(dir: &Path, extra: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(binary());
    // A reagent.toml in the working directory would otherwise be read.
    cmd.current_dir(dir);
    for (k, v) in env(dir) {
        cmd.env(k, v);
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd
}

/// Run `reagent <args>` to completion against `dir`.
pub fn run(dir: &Path, args: &[&str], extra: &[(&str, &str)]) -> Output {
    command(dir, extra).args(args).stdin(Stdio::null()).output().expect("run reagent")
}

/// Ingest `corpus/` into `dir`'s store and seed the demo database.
pub fn prepare(dir: &Path) {
    let out = run(dir, &["ingest", super::repo().join("corpus").to_str().unwrap()], &[]);
    assert!(out.status.success(), "ingest ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    let out = run(dir, &["db", "seed"], &[]);
    assert!(out.status.success(), "db seed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
}

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

/// Start `reagent serve --bind 127.0.0.1:0` and wait until it listens.
pub fn serve(dir: &Path, extra: &[(&str, &str)]) -> Server {
    let log = dir.join(format!(
        "serve-{}.log",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let file = std::fs::File::create(&log).unwrap();
    let mut child = command(dir, extra)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .expect("spawn reagent serve");
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(rest) = text.split("listening on http://").nth(1) {
            let addr = rest.split_whitespace().next().unwrap_or_default();
            let addr = addr
                .parse()
                .unwrap_or_else(|_| panic!("unparsable address {addr:?} in log:\n{text}"));
            return Server { child, addr, log };
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("reagent serve exited ({status}) before listening:\n{text}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "reagent serve did not listen within 120 s:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Send a signal by name (`TERM`, `KILL`) with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.pid().to_string()])
            .status()
            .expect("kill(1)");
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process is still running (not exited, not reaped).
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Wait for the process to exit, at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An inline analyze request of one of six shapes that trigger different rules (CTR,
/// travel rule, OFAC, EDD for a PEP, KYC, nothing): transaction `{tag}{i}` of customer
/// `{tag}C{i % customers}`. Also the body of the analyze_http bench.
pub fn analyze_request(tag: &str, customers: u64, i: u64) -> serde_json::Value {
    let (kind, amount, dest, pep, kyc) = match i % 6 {
        0 => ("CASH_DEPOSIT", 15_000.0, "US", false, "COMPLETE"),
        1 => ("WIRE", 5_000.0, "IT", false, "COMPLETE"),
        2 => ("WIRE", 9_000.0, "CU", false, "COMPLETE"),
        3 => ("ACH", 300.0, "US", true, "COMPLETE"),
        4 => ("CARD", 200.0, "US", false, "PENDING"),
        _ => ("ACH", 250.0, "US", false, "COMPLETE"),
    };
    let customer = format!("{tag}C{}", i % customers);
    serde_json::json!({
        "transaction": {"transaction_id": format!("{tag}{i}"), "customer_id": customer, "amount": amount,
            "currency": "USD", "transaction_type": kind, "direction": "OUTBOUND", "origin_country": "US",
            "destination_country": dest, "timestamp": "2026-03-10T14:20:00Z"},
        "customer": {"customer_id": customer, "name": "Load Tester", "customer_type": "INDIVIDUAL",
            "risk_rating": "LOW", "kyc_status": kyc, "is_pep": pep, "country": "US"}
    })
}

/// [`analyze_request`] for the tests that spawn the server.
pub fn analyze_body(i: u64) -> serde_json::Value {
    analyze_request("SPAWN", 20, i)
}

/// Create an API key with `role` through `reagent keys create`.
pub fn api_key(dir: &Path, role: &str) -> String {
    api_key_with(dir, role, &[])
}

/// [`api_key`] with extra environment (another database).
pub fn api_key_with(dir: &Path, role: &str, extra: &[(&str, &str)]) -> String {
    let out = run(dir, &["keys", "create", "--name", &format!("test-{role}"), "--role", role], extra);
    assert!(out.status.success(), "reagent keys create failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split(|c: char| c.is_whitespace() || c == '"')
        .find(|w| w.starts_with("rk_"))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no rk_ key in the output of keys create:\n{text}"))
}

/// A plain-HTTP client that sends `key` (if any) as a bearer token on every request
/// (reqwest needs a crypto provider installed even for http://).
pub fn client_with(key: Option<&str>) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(key) = key {
        headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {key}").parse().unwrap());
    }
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .default_headers(headers)
        .build()
        .expect("client")
}

/// `POST /api/v1/documents` of `files` (name, bytes); asserts `202` and returns the job id.
pub async fn post_upload(
    server: &Server,
    client: &reqwest::Client,
    files: &[(impl AsRef<str>, impl AsRef<[u8]>)],
) -> String {
    let files: Vec<(&str, &[u8])> = files.iter().map(|(name, bytes)| (name.as_ref(), bytes.as_ref())).collect();
    let (content_type, body) = super::multipart::form(&files, &[]);
    let res = client
        .post(server.url("/api/v1/documents"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("the upload is answered");
    let status = res.status();
    let job: serde_json::Value = serde_json::from_str(&res.text().await.unwrap_or_default()).unwrap_or_default();
    assert_eq!(status, 202, "upload accepted: {job}");
    job["job_id"].as_str().expect("job id").to_string()
}
