//! Analyze throughput through HTTP with the rules generator: an in-process server over
//! the demo corpus (and the US regulations when present), 32 concurrent clients on
//! loopback for a fixed time, each posting inline transactions of varied shapes.
//!
//! `cargo bench --bench analyze_http [-- --clients 32 --seconds 20]`. Prints figures.

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};


fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let clients = arg("--clients", 32);
    let seconds = arg("--seconds", 20);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let server = common::server::start(&common::server::sources(&common::repo()), |_| {}).await;
        let mut auth = reqwest::header::HeaderMap::new();
        auth.insert(reqwest::header::AUTHORIZATION, format!("Bearer {}", server.key(reagent::auth::Role::Analyst)).parse().expect("header"));
        let client = reqwest::Client::builder().pool_max_idle_per_host(clients as usize).default_headers(auth).build().expect("client");
        let url = server.url("/api/v1/analyze");
        // Warm-up: fills the query-vector cache the way a running service has it.
        for i in 0..12 {
            client.post(&url).header("content-type", "application/json").body(common::spawned::analyze_request("LOAD", 50, i).to_string()).send().await.expect("warm-up");
        }
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..clients {
            let (client, url) = (client.clone(), url.clone());
            tasks.push(tokio::spawn(async move {
                let (mut lat, mut errors, mut i) = (Vec::new(), 0u64, c * 1_000_000);
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let res = client.post(&url).header("content-type", "application/json").body(common::spawned::analyze_request("LOAD", 50, i).to_string()).send().await;
                    match res {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                            lat.push(t.elapsed().as_secs_f64() * 1000.0);
                        }
                        _ => errors += 1,
                    }
                    i += 1;
                }
                (lat, errors)
            }));
        }
        let (mut lat, mut errors) = (Vec::new(), 0);
        for t in tasks {
            let (l, e) = t.await.expect("client task");
            lat.extend(l);
            errors += e;
        }
        let wall = started.elapsed().as_secs_f64();
        lat.sort_by(f64::total_cmp);
        let pct = |p: f64| lat.get(((lat.len().max(1) - 1) as f64 * p).round() as usize).copied().unwrap_or(f64::NAN);
        println!("== analyze via HTTP, rules generator, {clients} clients, {seconds} s");
        println!("requests ok              {} ({errors} errors)", lat.len());
        println!("throughput               {:.0} analyses/s", lat.len() as f64 / wall);
        println!("latency                  p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms", pct(0.5), pct(0.95), pct(0.99));
    });
}
