//! Owns the service's abuse limits: a rate limit per caller (the authenticated
//! principal when there is one, else the client's IP address), a cap on requests served
//! at once, and a deadline per request. Every refusal is a JSON error like any other:
//! 429 with `Retry-After`, 503 with `Retry-After`, 504.
//!
//! The pieces are the ecosystem's: the per-caller limit is a `governor` keyed GCRA
//! limiter (idle keys dropped with `retain_recent` once there are many), the in-flight
//! cap is tower's load shedding over one concurrency limit shared by every route, and
//! the deadline is tower's timeout; [`layer`] stacks them and turns their errors into
//! the JSON refusals.
//!
//! Health, readiness and metrics probes are never rate limited or shed, so monitoring
//! keeps working while the service is saturated; the deadline applies to every request.
//!
//! Before authentication, a budget per client address ([`Limits::reserve_auth_attempt`])
//! bounds failed authentications: an attempt whose credential is not already verified is
//! checked against it up front and only a failure spends it, so an address that spent its
//! budget on bad credentials is answered 429 without any argon2 work or credential
//! lookup. The caller of that check is `api::auth::authorize` (and the web sign-in form,
//! through `app::AuthBudget`), which runs before the per-caller limit here because the
//! caller is not known yet. That budget is a token bucket of our own, kept in the
//! database (`db::auth_budget`) so every replica over it charges one budget and a restart
//! refills none: governor only takes a cell at the moment of the check, while this
//! budget must look first and charge later (only a failure costs), and must let failures
//! checked concurrently run into debt. The look is one primary-key read; the charge one
//! atomic upsert (cancel-safe, `Database::write`); rows of whole budgets are deleted
//! at most once a minute per process (`app::FailureBudgets`, which owns the bucket). A budget that cannot be read lets the
//! attempt through (logged): the credential check behind it needs the same database.
//!
//! The per-caller rate limit and the in-flight cap stay in each process's memory: a
//! shared rate limit would make every request pay a database round trip. Behind N
//! replicas a caller may therefore send up to N × `requests_per_second`; set it per
//! replica (ARCHITECTURE.md, "State of a replica").

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tower::limit::ConcurrencyLimit;
use tower::load_shed::LoadShed;
use tower::{BoxError, Layer, Service, ServiceBuilder, ServiceExt};

use super::ApiError;
use crate::app::{AuthBudget, FailureBudgets};

/// `[limits]`: per-caller rate, concurrency and time limits of `reagent serve`. The rate
/// and the in-flight cap hold per process: behind N replicas a caller gets up to N ×
/// `requests_per_second`, so set them per replica. The failed-authentication budget is
/// kept in the database and shared by every replica over it.
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
        if self.requests_per_second > 0.0 && self.requests_per_second < MIN_RATE {
            // One request a day at least: the limiter's interval must fit its clock.
            return Err(("requests_per_second", format!("must be 0 (off) or at least {MIN_RATE} (one a day)")));
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

/// The lowest sustained rate `requests_per_second` takes when on: one request a day.
const MIN_RATE: f64 = 1.0 / 86_400.0;

/// Paths that are never rate limited or shed.
const PROBES: [&str; 3] = ["/health", "/ready", "/metrics"];

/// Callers tracked before idle ones (back to a full burst) are dropped.
const SWEEP_ABOVE: usize = 10_000;

/// The per-caller rate limit: a keyed GCRA limiter of `requests_per_second` with
/// bursts of `burst`, on clock `C` (a fake one in tests).
struct CallerLimit<C: Clock = DefaultClock> {
    limiter: RateLimiter<String, DefaultKeyedStateStore<String>, C, NoOpMiddleware<C::Instant>>,
}

impl<C: Clock> CallerLimit<C> {
    /// `None` when rate limiting is off (`requests_per_second` of 0).
    fn new(settings: &LimitSettings, clock: C) -> Option<Self> {
        if settings.requests_per_second <= 0.0 {
            return None;
        }
        // Validated: at least MIN_RATE, so the interval is at most a day.
        let interval = Duration::try_from_secs_f64(1.0 / settings.requests_per_second).ok()?;
        let burst = NonZeroU32::new(settings.burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(interval)?.allow_burst(burst);
        Some(Self { limiter: RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock) })
    }

    /// Lets one request of `key` through, or `Err(wait)`: the time until it would pass.
    fn check(&self, key: &str) -> Result<(), Duration> {
        if self.limiter.len() > SWEEP_ABOVE {
            // A caller back at a full burst is the same as an unknown one.
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter
            .check_key(&key.to_string())
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }
}

/// The limits' running state, shared by every request.
pub struct Limits {
    settings: LimitSettings,
    /// `None` when rate limiting is off.
    callers: Option<CallerLimit>,
    /// Failed-authentication budgets by [`source`] of the client address; `None`
    /// when the budget is off (`auth_failure_burst` of 0).
    auth_failures: Option<FailureBudgets>,
    /// The in-flight cap's permits, one semaphore for every route; `None`: no cap.
    in_flight: Option<Arc<Semaphore>>,
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
    /// The limits of `settings`, with the failed-authentication budgets `auth_failures`
    /// (`None`: off; [`crate::app::App::failure_budgets`] gives the database's).
    pub fn new(settings: &LimitSettings, auth_failures: Option<FailureBudgets>) -> Self {
        let cap = settings.max_in_flight.min(Semaphore::MAX_PERMITS);
        Self {
            settings: settings.clone(),
            callers: CallerLimit::new(settings, DefaultClock::default()),
            auth_failures,
            in_flight: (cap > 0).then(|| Arc::new(Semaphore::new(cap))),
        }
    }

    pub fn settings(&self) -> &LimitSettings {
        &self.settings
    }

    /// Lets one request of `caller` through the rate limit, or `Err(wait)`: the time
    /// until it would pass.
    pub fn check_caller(&self, caller: &str) -> Result<(), Duration> {
        self.callers.as_ref().map_or(Ok(()), |limit| limit.check(caller))
    }

    /// Checks `source`'s budget of failed authentications at `now`, before its
    /// credential is looked at: `Err(wait)` when the address has spent it, with the time
    /// until it may try again. Nothing is taken yet: only `AuthAttempt::failed` spends
    /// a token, once the credential is known to be invalid. So a valid credential, a
    /// failure that is not the caller's, and a request whose client hung up before its
    /// check finished (its future dropped) cost nothing, and checks in flight at once do
    /// not count against the budget (concurrent failures, on this replica or another,
    /// can push it below zero, which lengthens the wait accordingly).
    pub async fn reserve_auth_attempt<'a>(
        &'a self,
        source: &'a str,
        now: DateTime<Utc>,
    ) -> Result<crate::app::AuthAttempt<'a>, Duration> {
        (self as &dyn AuthBudget).reserve(source, now).await
    }
}

#[async_trait::async_trait]
impl AuthBudget for Limits {
    fn source(&self, ip: IpAddr) -> String {
        source(ip)
    }

    async fn check(&self, source: &str, now: DateTime<Utc>) -> Result<(), Duration> {
        match &self.auth_failures {
            Some(budgets) => budgets.check(source, now).await,
            None => Ok(()),
        }
    }

    async fn charge(&self, source: &str, at: DateTime<Utc>) {
        if let Some(budgets) = &self.auth_failures {
            budgets.charge(source, at).await;
        }
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
    if let Some(principal) = req.extensions().get::<crate::app::Principal>() {
        return format!("principal:{}", principal.id);
    }
    if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
        return format!("ip:{}", addr.ip());
    }
    // Routers served without connection info (in-process tests) share one limit.
    "ip:unknown".to_string()
}

fn is_probe(req: &Request) -> bool {
    PROBES.contains(&req.uri().path())
}

/// `response` with `Retry-After: <wait in whole seconds, at least 1>`.
pub fn retry_after(mut response: Response, wait: Duration) -> Response {
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(crate::app::retry_after_secs(wait)));
    response
}

/// The limits as one layer for the service router, outermost first: the per-caller
/// rate limit (429), the deadline (504), then the in-flight cap (503), which probes
/// go around.
pub fn layer<S>(
    limits: Arc<Limits>,
) -> impl Layer<
    S,
    Service: Service<Request, Response = Response, Error = Infallible, Future: Send + 'static> + Clone + Send + Sync + 'static,
> + Clone
+ Send
+ Sync
+ 'static
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    let seconds = limits.settings.request_timeout_secs;
    let deadline = (seconds > 0).then(|| Duration::from_secs(seconds));
    let in_flight = limits.in_flight.clone();
    ServiceBuilder::new()
        .layer(axum::middleware::from_fn_with_state(limits, rate_limit))
        .layer(HandleErrorLayer::new(move |error: BoxError| async move { refusal(&error, seconds) }))
        .option_layer(deadline.map(tower::timeout::TimeoutLayer::new))
        .layer(tower::layer::layer_fn(move |inner: S| InFlightCap { capped: in_flight.clone().map(|permits| LoadShed::new(ConcurrencyLimit::with_semaphore(inner.clone(), permits))), plain: inner }))
}

/// 429 with `Retry-After` for a caller over its rate; probes pass.
async fn rate_limit(State(limits): State<Arc<Limits>>, req: Request, next: Next) -> Response {
    if !is_probe(&req)
        && let Err(wait) = limits.check_caller(&caller(&req))
    {
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
    next.run(req).await
}

/// The JSON answer for what the tower layers refused: shed (503) or past the deadline
/// of `seconds` (504).
fn refusal(error: &BoxError, seconds: u64) -> Response {
    if error.is::<tower::load_shed::error::Overloaded>() {
        let error = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "the service is at its limit of requests in flight; retry shortly",
        );
        return retry_after(error.into_response(), Duration::from_secs(1));
    }
    if error.is::<tower::timeout::error::Elapsed>() {
        return ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!("the request took longer than {seconds} s (limits.request_timeout_secs)"),
        )
        .into_response();
    }
    // The routes themselves never fail (their error type is `Infallible`).
    tracing::error!("limits: unexpected refusal: {error}");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error").into_response()
}

/// Sends a request through tower's load shedding over the shared concurrency limit,
/// or straight to the route for probes (and when there is no cap).
#[derive(Clone)]
struct InFlightCap<S> {
    plain: S,
    capped: Option<LoadShed<ConcurrencyLimit<S>>>,
}

impl<S> Service<Request> for InFlightCap<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = BoxError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // Each call readies its own clone (the route, or the cap deciding to shed).
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        match &self.capped {
            Some(capped) if !is_probe(&req) => Box::pin(capped.clone().oneshot(req)),
            _ => {
                let plain = self.plain.clone().oneshot(req);
                Box::pin(async move { plain.await.map_err(|never| match never {}) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use axum::body::Body;
    use governor::clock::FakeRelativeClock;

    fn caller_limit(rps: f64, burst: u32) -> (CallerLimit<FakeRelativeClock>, FakeRelativeClock) {
        let settings = LimitSettings {
            requests_per_second: rps,
            burst,
            ..LimitSettings::default()
        };
        let clock = FakeRelativeClock::default();
        (CallerLimit::new(&settings, clock.clone()).expect("rate limiting is on"), clock)
    }

    #[test]
    fn callers_get_the_burst_then_the_rate() {
        let (l, clock) = caller_limit(2.0, 3);
        for _ in 0..3 {
            assert!(l.check("a").is_ok());
        }
        let wait = l.check("a").unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        // Another caller has its own limit.
        assert!(l.check("b").is_ok());
        // Half a second later exactly one request passes.
        clock.advance(Duration::from_millis(500));
        assert!(l.check("a").is_ok());
        assert!(l.check("a").is_err());
        // After a long pause no more than the burst passes.
        clock.advance(Duration::from_secs(3600));
        for _ in 0..3 {
            assert!(l.check("a").is_ok());
        }
        assert!(l.check("a").is_err());
    }

    #[tokio::test]
    async fn zero_rate_is_off() {
        let l = Limits::new(&LimitSettings {
            requests_per_second: 0.0,
            burst: 0,
            ..LimitSettings::default()
        }, None);
        assert!((0..10_000).all(|_| l.check_caller("a").is_ok()));
    }

    #[test]
    fn idle_callers_are_swept() {
        let (l, clock) = caller_limit(1000.0, 1);
        for i in 0..=SWEEP_ABOVE {
            l.check(&i.to_string()).unwrap();
        }
        assert!(l.limiter.len() > SWEEP_ABOVE);
        clock.advance(Duration::from_secs(1));
        l.check("late").unwrap();
        assert!(l.limiter.len() <= 2, "callers back at a full burst are dropped: {}", l.limiter.len());
    }

    async fn send(router: &axum::Router, path: &str) -> (StatusCode, Option<String>, serde_json::Value) {
        let request = Request::builder().uri(path).body(Body::empty()).unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let retry = response.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_string());
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, retry, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    #[tokio::test]
    async fn in_flight_cap_sheds_probes_pass_and_the_deadline_answers_504() {
        let limits = Arc::new(Limits::new(&LimitSettings {
            requests_per_second: 0.0,
            max_in_flight: 1,
            request_timeout_secs: 1,
            ..LimitSettings::default()
        }, None));
        let router = axum::Router::new()
            .route("/slow", axum::routing::get(|| async { tokio::time::sleep(Duration::from_secs(60)).await; "late" }))
            .route("/health", axum::routing::get(|| async { "ok" }))
            .layer(layer(limits.clone()));
        let permits = limits.in_flight.clone().expect("a cap");
        let held = tokio::spawn({
            let router = router.clone();
            async move { send(&router, "/slow").await }
        });
        while permits.available_permits() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (status, retry, body) = send(&router, "/slow").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!((retry.as_deref(), &body["error"]["code"]), (Some("1"), &serde_json::json!("overloaded")));
        let (status, _, _) = send(&router, "/health").await;
        assert_eq!(status, StatusCode::OK, "probes go around the cap");
        let (status, _, body) = held.await.unwrap();
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
        assert_eq!(body["error"]["code"], "timeout", "{body}");
        assert_eq!(permits.available_permits(), 1, "the deadline freed the slot");
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
            requests_per_second: 1e-9,
            ..LimitSettings::default()
        };
        assert_eq!(bad.validate().unwrap_err().0, "requests_per_second", "slower than one a day");
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
