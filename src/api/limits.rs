//! Owns the service's abuse limits: a token bucket per caller (the authenticated
//! principal when there is one, else the client's IP address), a cap on requests served
//! at once, and a deadline per request. Every refusal is a JSON error like any other:
//! 429 with `Retry-After`, 503 with `Retry-After`, 504.
//!
//! Health, readiness and metrics probes are never rate limited or shed, so monitoring
//! keeps working while the service is saturated; the deadline applies to every request.
//!
//! Before authentication, a second bucket per client address ([`Limits::reserve_auth_attempt`])
//! bounds failed authentications: each attempt whose credential is not already verified
//! takes a token up front and gets it back if it succeeds, so an address that spent its
//! budget on bad credentials is answered 429 without any database or argon2 work. The
//! caller of that check is `service::auth::authorize` (and the web sign-in form), which
//! runs before the per-caller bucket here because the caller is not known yet.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
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
    /// Failed authentications one client address (an IPv6 /64) may make in a burst before
    /// it is answered 429 without checking its credentials; 0 turns the budget off.
    pub auth_failure_burst: u32,
    /// Failed authentications per minute an address gets back after its burst.
    pub auth_failures_per_minute: f64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            requests_per_second: 20.0,
            burst: 40,
            request_timeout_secs: 120,
            max_in_flight: 512,
            auth_failure_burst: 20,
            auth_failures_per_minute: 30.0,
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
        let per_minute = self.auth_failures_per_minute;
        if !(per_minute.is_finite() && per_minute >= 0.0) {
            return Err(("auth_failures_per_minute", format!("must be a number >= 0, got {per_minute}")));
        }
        if self.auth_failure_burst > 0 && per_minute == 0.0 {
            // An empty bucket that never refills would lock an address out for good.
            return Err(("auth_failures_per_minute", "must be above 0 when auth_failure_burst is on".into()));
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
    /// Failed-authentication budgets by [`source`] of the client address.
    auth_failures: Mutex<HashMap<String, Bucket>>,
    in_flight: AtomicUsize,
}

/// Take one token from `key`'s bucket (refilling at `rate` per second up to `capacity`)
/// at `now`; `Err(wait)` when it is empty, with the time until the next token.
fn take_token(buckets: &Mutex<HashMap<String, Bucket>>, key: &str, rate: f64, capacity: f64, now: Instant) -> Result<(), Duration> {
    with_bucket(buckets, key, rate, capacity, now, |bucket| {
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    })
}

/// Runs `f` on `key`'s bucket, refilled up to `now`.
fn with_bucket<R>(
    buckets: &Mutex<HashMap<String, Bucket>>,
    key: &str,
    rate: f64,
    capacity: f64,
    now: Instant,
    f: impl FnOnce(&mut Bucket) -> R,
) -> R {
    let mut buckets = buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
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
    f(bucket)
}

/// The name a client address is limited and audited under: `ip:<IPv4>`, or the /64
/// prefix of an IPv6 address (`ip:2001:db8:1:2::/64`), since one IPv6 host usually
/// holds a whole /64 and could otherwise rotate through fresh budgets.
pub fn source(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("ip:{prefix}/64")
        }
    }
}

impl Limits {
    pub fn new(settings: &LimitSettings) -> Self {
        Self {
            settings: settings.clone(),
            buckets: Mutex::new(HashMap::new()),
            auth_failures: Mutex::new(HashMap::new()),
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
        take_token(&self.buckets, key, rate, f64::from(self.settings.burst.max(1)), now)
    }

    /// Checks `source`'s budget of failed authentications before its credential is
    /// looked at: `Err(wait)` when the address has spent it, with the time until it
    /// may try again. Nothing is taken yet: only [`AuthAttempt::failed`] spends a token,
    /// once the credential is known to be invalid. So a valid credential, a failure
    /// that is not the caller's, and a request whose client hung up before its check
    /// finished (its future dropped) cost nothing, and checks in flight at once do not
    /// count against the budget (concurrent failures can push it below zero, which
    /// lengthens the wait accordingly).
    pub fn reserve_auth_attempt<'a>(&'a self, source: &'a str, now: Instant) -> Result<AuthAttempt<'a>, Duration> {
        if self.settings.auth_failure_burst > 0 {
            let rate = self.settings.auth_failures_per_minute / 60.0;
            with_bucket(&self.auth_failures, source, rate, f64::from(self.settings.auth_failure_burst), now, |b| {
                if b.tokens >= 1.0 { Ok(()) } else { Err(Duration::from_secs_f64((1.0 - b.tokens) / rate)) }
            })?;
        }
        Ok(AuthAttempt { limits: self, source, at: now })
    }

    /// Spends one token of `source`'s budget (a failed authentication), down to at
    /// most one whole budget of debt.
    fn spend_auth_failure(&self, source: &str, now: Instant) {
        let capacity = f64::from(self.settings.auth_failure_burst);
        if capacity == 0.0 {
            return;
        }
        let rate = self.settings.auth_failures_per_minute / 60.0;
        with_bucket(&self.auth_failures, source, rate, capacity, now, |b| b.tokens = (b.tokens - 1.0).max(-capacity));
    }

    /// Count one more request in flight; `None` when the cap is reached.
    fn enter(&self) -> Option<InFlight<'_>> {
        let cap = self.settings.max_in_flight;
        let previous = self.in_flight.fetch_add(1, Ordering::SeqCst);
        let guard = InFlight(&self.in_flight);
        (cap == 0 || previous < cap).then_some(guard)
    }
}

/// An authentication attempt that the address's budget allowed; it costs a token
/// only through [`AuthAttempt::failed`].
pub struct AuthAttempt<'a> {
    limits: &'a Limits,
    source: &'a str,
    /// When the attempt was allowed (the instant its failure is booked at).
    at: Instant,
}

impl AuthAttempt<'_> {
    /// The credential did not authenticate: spend one token of the budget.
    pub fn failed(self) {
        self.limits.spend_auth_failure(self.source, self.at);
    }
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The [`source`] of the client address a request came in from; `None` when the router
/// is served without connection info (in-process tests), which has no per-address
/// failure budget.
pub fn client_source(extensions: &axum::http::Extensions) -> Option<String> {
    extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| source(addr.ip()))
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

/// `response` with `Retry-After: <wait in whole seconds, at least 1>`.
pub fn retry_after(mut response: Response, wait: Duration) -> Response {
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

    fn budget(burst: u32, per_minute: f64) -> Limits {
        Limits::new(&LimitSettings {
            auth_failure_burst: burst,
            auth_failures_per_minute: per_minute,
            ..LimitSettings::default()
        })
    }

    #[test]
    fn only_failed_authentications_spend_the_address_budget() {
        let l = budget(3, 6.0);
        let t0 = Instant::now();
        // Attempts that did not fail cost nothing, however they ended: a valid key, or
        // a request dropped before its check finished (a client that hung up).
        for _ in 0..50 {
            let attempt = l.reserve_auth_attempt("ip:10.0.0.1", t0).unwrap();
            drop(attempt);
        }
        // Attempts in flight at once do not count against the budget either.
        let in_flight: Vec<_> = (0..10).map(|_| l.reserve_auth_attempt("ip:10.0.0.1", t0).unwrap()).collect();
        drop(in_flight);
        for _ in 0..3 {
            l.reserve_auth_attempt("ip:10.0.0.1", t0).unwrap().failed();
        }
        let wait = l.reserve_auth_attempt("ip:10.0.0.1", t0).err().unwrap();
        assert!((wait.as_secs_f64() - 10.0).abs() < 1e-6, "6 a minute: one every 10 s, {wait:?}");
        assert!(l.reserve_auth_attempt("ip:10.0.0.2", t0).is_ok(), "another address has its own budget");
        // Ten seconds later one attempt is back.
        let t1 = t0 + Duration::from_secs(10);
        l.reserve_auth_attempt("ip:10.0.0.1", t1).unwrap().failed();
        assert!(l.reserve_auth_attempt("ip:10.0.0.1", t1).is_err());
        // Failures checked concurrently push the budget into debt: a longer wait.
        let l = budget(2, 6.0);
        let attempts: Vec<_> = (0..4).map(|_| l.reserve_auth_attempt("ip:10.0.0.3", t0).unwrap()).collect();
        attempts.into_iter().for_each(AuthAttempt::failed);
        let wait = l.reserve_auth_attempt("ip:10.0.0.3", t0).err().unwrap();
        assert!((wait.as_secs_f64() - 30.0).abs() < 1e-6, "two tokens of debt plus one: {wait:?}");
        // A burst of 0 turns the budget off.
        let off = budget(0, 0.0);
        assert!((0..1000).all(|_| off.reserve_auth_attempt("ip:10.0.0.1", t0).map(AuthAttempt::failed).is_ok()));
    }

    #[test]
    fn sources_group_ipv6_by_64_prefix() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(source(ip("203.0.113.7")), "ip:203.0.113.7");
        assert_eq!(source(ip("::ffff:203.0.113.7")), "ip:203.0.113.7");
        assert_eq!(source(ip("2001:db8:1:2:aaaa::1")), "ip:2001:db8:1:2::/64");
        assert_eq!(source(ip("2001:db8:1:2:bbbb::9")), source(ip("2001:db8:1:2::1")));
        assert_ne!(source(ip("2001:db8:1:3::1")), source(ip("2001:db8:1:2::1")));
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
        let bad = LimitSettings {
            auth_failures_per_minute: 0.0,
            ..LimitSettings::default()
        };
        assert_eq!(bad.validate().unwrap_err().0, "auth_failures_per_minute");
        let bad = LimitSettings {
            auth_failures_per_minute: f64::INFINITY,
            ..LimitSettings::default()
        };
        assert_eq!(bad.validate().unwrap_err().0, "auth_failures_per_minute");
        let off = LimitSettings {
            auth_failure_burst: 0,
            auth_failures_per_minute: 0.0,
            ..LimitSettings::default()
        };
        assert!(off.validate().is_ok());
    }
}
