//! Owns the service's Prometheus metrics: request counts and latency histograms per
//! route, retrieval and generation latency, which generator answered, degraded
//! answers. Rendered in the text exposition format at `GET /metrics`, followed by
//! the quality figures' gauges (`crate::monitoring::prometheus`).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (i, le) in BUCKETS.iter().enumerate() {
            if seconds <= *le {
                self.counts[i] += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, le) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {}", self.counts[i]);
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", self.count);
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Default)]
struct State {
    requests: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    retrieval: Histogram,
    generation: Histogram,
    generator: BTreeMap<&'static str, u64>,
    degraded: u64,
}

#[derive(Default)]
pub struct Metrics {
    state: Mutex<State>,
    /// The quality figures' gauges (`crate::monitoring::prometheus`), recomputed at most once a minute.
    pub quality: crate::monitoring::prometheus::GaugeCache,
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn request(&self, route: &str, status: u16, elapsed: Duration) {
        self.with(|s| {
            *s.requests.entry((route.to_string(), status)).or_default() += 1;
            s.latency.entry(route.to_string()).or_default().observe(elapsed.as_secs_f64());
        });
    }

    pub fn retrieval(&self, elapsed: Duration) {
        self.with(|s| s.retrieval.observe(elapsed.as_secs_f64()));
    }

    pub fn generation(&self, kind: &'static str, degraded: bool, elapsed: Duration) {
        self.with(|s| {
            s.generation.observe(elapsed.as_secs_f64());
            *s.generator.entry(kind).or_default() += 1;
            s.degraded += u64::from(degraded);
        });
    }

    pub fn render(&self) -> String {
        self.with(|s| {
            let mut out = String::new();
            out.push_str("# HELP reagent_http_requests_total HTTP requests by route and status.\n# TYPE reagent_http_requests_total counter\n");
            for ((route, status), n) in &s.requests {
                let _ = writeln!(out, "reagent_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
            }
            out.push_str("# HELP reagent_http_request_duration_seconds Request latency by route.\n# TYPE reagent_http_request_duration_seconds histogram\n");
            for (route, h) in &s.latency {
                h.render(&mut out, "reagent_http_request_duration_seconds", &format!("route=\"{route}\""));
            }
            out.push_str("# HELP reagent_retrieval_duration_seconds Evidence retrieval per analysis.\n# TYPE reagent_retrieval_duration_seconds histogram\n");
            s.retrieval.render(&mut out, "reagent_retrieval_duration_seconds", "");
            out.push_str("# HELP reagent_generation_duration_seconds Guidance generation per analysis.\n# TYPE reagent_generation_duration_seconds histogram\n");
            s.generation.render(&mut out, "reagent_generation_duration_seconds", "");
            out.push_str("# HELP reagent_generator_total Answers by generator kind.\n# TYPE reagent_generator_total counter\n");
            for (kind, n) in &s.generator {
                let _ = writeln!(out, "reagent_generator_total{{kind=\"{kind}\"}} {n}");
            }
            out.push_str("# HELP reagent_degraded_total Answers from the rules generator although an LLM is configured.\n# TYPE reagent_degraded_total counter\n");
            let _ = writeln!(out, "reagent_degraded_total {}", s.degraded);
            out
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_cumulative_buckets() {
        let m = Metrics::default();
        m.request("/api/v1/analyze", 200, Duration::from_millis(3));
        m.request("/api/v1/analyze", 200, Duration::from_millis(30));
        m.request("/api/v1/analyze", 422, Duration::from_millis(1));
        let text = m.render();
        assert!(text.contains("reagent_http_requests_total{route=\"/api/v1/analyze\",status=\"200\"} 2"), "{text}");
        assert!(text.contains("le=\"0.005\"} 2"), "{text}");
        assert!(text.contains("le=\"0.05\"} 3"), "{text}");
        assert!(text.contains("reagent_http_request_duration_seconds_count{route=\"/api/v1/analyze\"} 3"));
    }
}
