//! Owns the service's Prometheus metrics: request counts and latency histograms per
//! route, retrieval and generation latency, which generator answered, degraded
//! answers. Recorded through the `metrics` facade into a Prometheus recorder of this
//! service's own (`metrics-exporter-prometheus`, no HTTP listener of its own) and
//! rendered at `GET /metrics`, followed by the quality figures' gauges
//! (`crate::monitoring::prometheus`).
//!
//! The recorder is not installed process-wide: each [`Metrics`] records into its own
//! through `metrics::with_local_recorder`, so two services in one process (the
//! integration tests start several) never count each other's requests.

use std::time::Duration;

use metrics::{counter, describe_counter, describe_histogram, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

/// Upper bounds of the latency buckets, in seconds.
pub const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

const REQUESTS: &str = "reagent_http_requests_total";
const REQUEST_DURATION: &str = "reagent_http_request_duration_seconds";
const RETRIEVAL_DURATION: &str = "reagent_retrieval_duration_seconds";
const GENERATION_DURATION: &str = "reagent_generation_duration_seconds";
const GENERATOR: &str = "reagent_generator_total";
const DEGRADED: &str = "reagent_degraded_total";

pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// The quality figures' gauges (`crate::monitoring::prometheus`), recomputed at most once a minute.
    pub quality: crate::app::monitoring::GaugeCache,
}

impl Default for Metrics {
    fn default() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&BUCKETS)
            .unwrap_or_else(|e| unreachable!("the bucket list is not empty: {e}"))
            .build_recorder();
        let handle = recorder.handle();
        let metrics = Self { recorder, handle, quality: Default::default() };
        metrics.record(|| {
            describe_counter!(REQUESTS, "HTTP requests by route and status.");
            describe_histogram!(REQUEST_DURATION, "Request latency by route.");
            describe_histogram!(RETRIEVAL_DURATION, "Evidence retrieval per analysis.");
            describe_histogram!(GENERATION_DURATION, "Guidance generation per analysis.");
            describe_counter!(GENERATOR, "Answers by generator kind.");
            describe_counter!(DEGRADED, "Answers from the rules generator although an LLM is configured.");
            // Shown from the first scrape on, before any analysis, as zero.
            let _ = histogram!(RETRIEVAL_DURATION);
            let _ = histogram!(GENERATION_DURATION);
            counter!(DEGRADED).absolute(0);
        });
        metrics
    }
}

impl Metrics {
    /// Runs `f` with this service's recorder as the facade's recorder.
    fn record(&self, f: impl FnOnce()) {
        metrics::with_local_recorder(&self.recorder, f);
    }

    pub fn request(&self, route: &str, status: u16, elapsed: Duration) {
        let route = route.to_string();
        self.record(|| {
            counter!(REQUESTS, "route" => route.clone(), "status" => status.to_string()).increment(1);
            histogram!(REQUEST_DURATION, "route" => route).record(elapsed);
        });
    }

    pub fn retrieval(&self, elapsed: Duration) {
        self.record(|| histogram!(RETRIEVAL_DURATION).record(elapsed));
    }

    pub fn generation(&self, kind: &'static str, degraded: bool, elapsed: Duration) {
        self.record(|| {
            histogram!(GENERATION_DURATION).record(elapsed);
            counter!(GENERATOR, "kind" => kind).increment(1);
            counter!(DEGRADED).increment(u64::from(degraded));
        });
    }

    /// The text exposition format of everything recorded so far.
    pub fn render(&self) -> String {
        self.handle.render()
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
        assert!(text.contains("reagent_http_request_duration_seconds_count{route=\"/api/v1/analyze\"} 3"), "{text}");
        assert!(text.contains("# TYPE reagent_http_request_duration_seconds histogram"), "{text}");
        assert!(text.contains("reagent_degraded_total 0"), "{text}");
        assert!(text.contains("reagent_retrieval_duration_seconds_count 0"), "{text}");
    }

    #[test]
    fn two_services_in_one_process_count_apart() {
        let (a, b) = (Metrics::default(), Metrics::default());
        a.generation("rules", true, Duration::from_millis(5));
        a.generation("rules", false, Duration::from_millis(5));
        b.generation("llm", false, Duration::from_millis(5));
        let (ta, tb) = (a.render(), b.render());
        assert!(ta.contains("reagent_generator_total{kind=\"rules\"} 2"), "{ta}");
        assert!(ta.contains("reagent_degraded_total 1"), "{ta}");
        assert!(!ta.contains("kind=\"llm\""), "{ta}");
        assert!(tb.contains("reagent_generator_total{kind=\"llm\"} 1"), "{tb}");
        assert!(tb.contains("reagent_degraded_total 0"), "{tb}");
        assert!(tb.contains("reagent_generation_duration_seconds_count 1"), "{tb}");
    }
}
