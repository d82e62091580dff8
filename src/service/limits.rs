//! Owns the service's abuse limits: a token bucket per caller (the authenticated
//! principal when there is one, else the client's IP address), a cap on requests served
//! at once, and a deadline per request. Every refusal is a JSON error like any other:
//! 429 with `Retry-After`, 503 with `Retry-After`, 504.
//!
//! Health, readiness and metrics probes are never rate limited or shed, so monitoring
//! keeps working while the service is saturated; the deadline applies to every request.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::ApiError;

/// `[limits]`: per-caller rate, concurrency and time limits of `reagent serve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Sustained requests per second allowed to one caller (API key, else client IP);
    /// 0 turns rate limiting off.
    pub requests_per_second: f64,
    /// Requests one caller may send in a burst above the sustained rate.
    pub burst: u32,
    /// A request still unanswered after this many seconds gets 504; 0 = no deadline.
    pub request_timeout_secs: u64,
    /// Requests served at the same time; more are refused with 503. 0 = no cap.
    pub max_in_flight: usize,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            requests_per_second: 20.0,
            burst: 40,
            request_timeout_secs: 120,
            max_in_flight: 512,
        }
    }
}

impl LimitSettings {
    /// `Err((key, reason))` for a value that cannot work.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(self.requests_per_second.is_finite() && self.requests_per_second >= 0.0) {
            return Err((
                "requests_per_second",
                format!("must be a number >= 0, got {}", self.requests_per_second),
            ));
        }
        if self.requests_per_second > 0.0 && self.burst == 0 {
            return Err(("burst", "must be at least 1 when rate limiting is on".into()));
        }
        if self.request_timeout_secs > 86_400 {
            return Err(("request_timeout_secs", "must be at most 86400 (0 = no deadline)".into()));
        }
        Ok(())
    }
}

/// Paths that are never rate limited or shed.
const PROBES: [&str; 3] = ["/health", "/ready", "/metrics"];

/// Buckets kept before idle (full) ones are dropped.
const SWEEP_ABOVE: usize = 10_000;

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The limits' running state, shared by every request.
pub struct Limits {
    settings: LimitSettings,
    buckets: Mutex<HashMap<String, Bucket>>,
    in_flight: AtomicUsize,
}

impl Limits {
    pub fn new(settings: &LimitSettings) -> Self {
        Self {
            settings: settings.clone(),
            buckets: Mutex::new(HashMap::new()),
            in_flight: AtomicUsize::new(0),
        }
    }

    pub fn settings(&self) -> &LimitSettings {
        &self.settings
    }

    /// Take one token from `key`'s bucket at `now`; `Err(wait)` when it is empty, with
    /// the time until the next token.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let rate = self.settings.requests_per_second;
        if rate <= 0.0 {
            return Ok(());
        }
        let capacity = f64::from(self.settings.burst.max(1));
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() > SWEEP_ABOVE {
            // A bucket that has refilled is the same as no bucket.
            buckets.retain(|_, b| b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * rate < capacity);
        }
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let refill = now.saturating_duration_since(bucket.updated).as_secs_f64() * rate;
        bucket.tokens = (bucket.tokens + refill).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }

    /// Count one more request in flight; `None` when the cap is reached.
    fn enter(&self) -> Option<InFlight<'_>> {
        let cap = self.settings.max_in_flight;
        let previous = self.in_flight.fetch_add(1, Ordering::SeqCst);
        let guard = InFlight(&self.in_flight);
        (cap == 0 || previous < cap).then_some(guard)
    }
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Who a request counts against: the authenticated principal, else the client address.
fn caller(req: &Request) -> String {
    if let Some(principal) = req.extensions().get::<crate::auth::Principal>() {
        return format!("principal:{}", principal.id);
    }
    if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
        return format!("ip:{}", addr.ip());
    }
    // Routers served without connection info (in-process tests) share one bucket.
    "ip:unknown".to_string()
}

fn retry_after(mut response: Response, wait: Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// The middleware: rate limit, shed, then run the request under its deadline.
pub async fn enforce(State(limits): State<Arc<Limits>>, req: Request, next: Next) -> Response {
    let probe = PROBES.contains(&req.uri().path());
    let _in_flight = if probe {
        None
    } else {
        if let Err(wait) = limits.take(&caller(&req), Instant::now()) {
            let error = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "too many requests: at most {} per second (burst {})",
                    limits.settings.requests_per_second, limits.settings.burst
                ),
            );
            return retry_after(error.into_response(), wait);
        }
        match limits.enter() {
            Some(guard) => Some(guard),
            None => {
                let error = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "overloaded",
                    "the service is at its limit of requests in flight; retry shortly",
                );
                return retry_after(error.into_response(), Duration::from_secs(1));
            }
        }
    };
    let seconds = limits.settings.request_timeout_secs;
    if seconds == 0 {
        return next.run(req).await;
    }
    match tokio::time::timeout(Duration::from_secs(seconds), next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!("the request took longer than {seconds} s (limits.request_timeout_secs)"),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rps: f64, burst: u32) -> Limits {
        Limits::new(&LimitSettings {
            requests_per_second: rps,
            burst,
            ..LimitSettings::default()
        })
    }

    #[test]
    fn bucket_allows_the_burst_then_refills_at_the_rate() {
        let l = limits(2.0, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.take("a", t0).is_ok());
        }
        let wait = l.take("a", t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        // Another caller has its own bucket.
        assert!(l.take("b", t0).is_ok());
        // Half a second later exactly one token is back.
        let t1 = t0 + Duration::from_millis(500);
        assert!(l.take("a", t1).is_ok());
        assert!(l.take("a", t1).is_err());
        // After a long pause the bucket holds no more than the burst.
        let t2 = t1 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert!(l.take("a", t2).is_ok());
        }
        assert!(l.take("a", t2).is_err());
    }

    #[test]
    fn zero_rate_is_off_and_in_flight_is_capped() {
        let l = limits(0.0, 0);
        let t0 = Instant::now();
        assert!((0..10_000).all(|_| l.take("a", t0).is_ok()));
        let l = Limits::new(&LimitSettings {
            max_in_flight: 2,
            ..LimitSettings::default()
        });
        let a = l.enter().expect("first");
        let b = l.enter().expect("second");
        assert!(l.enter().is_none(), "third is over the cap");
        drop(a);
        assert!(l.enter().is_some(), "a slot is free again");
        drop(b);
        assert_eq!(l.in_flight.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn idle_buckets_are_swept() {
        let l = limits(1000.0, 1);
        let t0 = Instant::now();
        for i in 0..=SWEEP_ABOVE {
            l.take(&i.to_string(), t0).unwrap();
        }
        l.take("late", t0 + Duration::from_secs(1)).unwrap();
        assert!(l.buckets.lock().unwrap().len() <= 2, "refilled buckets are dropped");
    }

    #[test]
    fn settings_are_validated() {
        assert!(LimitSettings::default().validate().is_ok());
        let bad = LimitSettings {
            requests_per_second: f64::NAN,
            ..LimitSettings::default()
        };
        assert_eq!(bad.validate().unwrap_err().0, "requests_per_second");
        let bad = LimitSettings {
            burst: 0,
            ..LimitSettings::default()
        };
        assert_eq!(bad.validate().unwrap_err().0, "burst");
        let off = LimitSettings {
            requests_per_second: 0.0,
            burst: 0,
            ..LimitSettings::default()
        };
        assert!(off.validate().is_ok());
    }
}
