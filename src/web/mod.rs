//! Owns the web interface for compliance officers and policy teams: server-rendered
//! HTML pages (askama templates in `templates/`, checked at compile time), the static
//! files embedded in the binary (`static/`), browser sessions and CSRF protection.
//!
//! Pages call the use-cases of [`crate::app`], as the JSON API does; they never call
//! or import the API. Failures become error pages ([`WebError`], one mapping of
//! [`AppError`]).
//! What a signed-in user sees and may do follows their role.

mod analysis;
mod assets;
mod citation_feedback;
mod dashboard;
mod documents;
mod evaluation;
mod findings;
mod review;
pub mod session;
mod signin;
mod transactions;
mod view;

use std::path::PathBuf;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use crate::app::{App, AppError, AuthBudget, Permission, Principal, Role};
use session::{SIGNIN_COOKIE, Session, SessionError, cookie, tokens_match};

/// Settings of the web interface (`[web]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSettings {
    /// Folder holding the eval harness's reports (`report.json`, `report.md`, `*.png`,
    /// directly or one folder per run).
    pub eval_reports_dir: PathBuf,
    /// Minutes a browser stays signed in.
    pub session_minutes: u64,
    /// Mark cookies `Secure` (only sent over HTTPS). Set it when served behind TLS.
    pub secure_cookies: bool,
}

impl Default for WebSettings {
    fn default() -> Self {
        Self {
            eval_reports_dir: "eval/reports".into(),
            session_minutes: 480,
            secure_cookies: false,
        }
    }
}

impl WebSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.session_minutes == 0 || self.session_minutes > 7 * 24 * 60 {
            return Err(format!(
                "must be within 1..=10080 (got {})",
                self.session_minutes
            ));
        }
        Ok(())
    }
}

/// What the web handlers share.
pub struct WebState {
    pub app: Arc<App>,
    /// The failed-sign-in budget per address, shared with the API's authentication.
    pub budget: Arc<dyn AuthBudget>,
    pub settings: WebSettings,
    /// Ingestion jobs started from the pages, newest first (each job records who started it).
    pub jobs: std::sync::Mutex<std::collections::VecDeque<uuid::Uuid>>,
}

type Web = Arc<WebState>;

/// The web pages and static files, to merge into the service router.
pub fn router(app: Arc<App>, settings: WebSettings, budget: Arc<dyn AuthBudget>) -> Router {
    let web = Arc::new(WebState {
        budget,
        jobs: std::sync::Mutex::new(std::collections::VecDeque::new()),
        settings,
        app,
    });
    let sessions = session::layer(web.app.session_records(), web.settings.secure_cookies);
    Router::new()
        .route("/", get(home))
        .route("/sign-in", get(signin::form).post(signin::submit))
        .route("/sign-out", post(signin::sign_out))
        .route("/transactions", get(transactions::list))
        .route(
            "/transactions/{id}/analyze",
            post(transactions::analyze_stored),
        )
        .route("/analyze", post(transactions::analyze_adhoc))
        .route("/analyses/{id}", get(analysis::page))
        .route("/analyses/{id}/ask", post(analysis::ask))
        .route("/analyses/{id}/decision", post(analysis::decide))
        .route("/analyses/{id}/feedback", post(citation_feedback::submit))
        .route("/chunks/{id}", get(analysis::chunk))
        .route("/queue", get(review::queue))
        .route("/queue/{id}/assign", post(review::assign))
        .route("/cases/{id}", get(review::case))
        .route("/cases/{id}/decision", post(review::decide))
        .route("/cases/{id}/print", get(review::print))
        .route("/cases/{id}/case.json", get(review::export))
        .route("/documents", get(documents::list))
        .route(
            "/documents/upload",
            post(documents::upload).layer(axum::extract::DefaultBodyLimit::max(
                documents::UPLOAD_LIMIT,
            )),
        )
        .route("/documents/{id}", get(documents::document))
        .route("/documents/{id}/diff", get(documents::diff))
        .route("/jobs/{id}", get(documents::job))
        .route("/evaluation", get(evaluation::page))
        .route("/dashboard", get(dashboard::page))
        .route("/evaluation/files/{run}/{file}", get(evaluation::file))
        .route("/static/{file}", get(assets::serve))
        .layer(middleware::from_fn(csrf_guard))
        .layer(sessions)
        .layer(middleware::from_fn(security_headers))
        .with_state(web)
}

/// The first page a role sees.
pub fn home_of(role: Role) -> &'static str {
    if can_read(role) {
        "/transactions"
    } else {
        "/documents"
    }
}

async fn home(session: tower_sessions::Session) -> Result<Response, WebError> {
    Ok(match session::current(&session).await? {
        Some(s) => see_other(home_of(s.principal.role)),
        None => see_other("/sign-in"),
    })
}

/// The signed-in user as the pages see them.
#[derive(Debug, Clone)]
pub struct UserView {
    pub name: String,
    pub role: String,
    pub can_analyze: bool,
    pub can_decide: bool,
    pub can_upload: bool,
    pub can_read: bool,
    pub can_monitor: bool,
}

impl UserView {
    pub fn of(p: &Principal) -> Self {
        Self {
            name: p.name.clone(),
            role: role_label(p.role).to_string(),
            can_analyze: can_analyze(p.role),
            can_decide: can_decide(p.role),
            can_upload: can_upload(p.role),
            can_read: can_read(p.role),
            can_monitor: p.role.allows(Permission::ViewMonitoring),
        }
    }
}

pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::Viewer => "viewer",
        Role::Analyst => "analyst",
        Role::ComplianceOfficer => "compliance officer",
        Role::PolicyEditor => "policy editor",
        Role::Admin => "admin",
    }
}

/// Who may run analyses and ask questions (the auth module's matrix decides).
pub fn can_analyze(role: Role) -> bool {
    role.allows(Permission::Analyze)
}

/// Who may record a decision on an analysis.
pub fn can_decide(role: Role) -> bool {
    role.allows(Permission::Decide)
}

/// Who may upload documents and follow ingestion jobs.
pub fn can_upload(role: Role) -> bool {
    role.allows(Permission::UploadDocuments)
}

/// Who may read transactions, analyses and cited chunks.
pub fn can_read(role: Role) -> bool {
    role.allows(Permission::ReadAnalyses)
}

/// What every page's frame needs.
#[derive(Debug, Clone)]
pub struct Layout {
    pub user: Option<UserView>,
    pub csrf: String,
    /// The navigation entry to mark current.
    pub nav: &'static str,
}

/// A request from a signed-in browser. Without a session, handlers taking it answer
/// with a redirect to the sign-in page.
pub struct SignedIn {
    pub session: Session,
}

impl SignedIn {
    pub fn layout(&self, nav: &'static str) -> Layout {
        Layout {
            user: Some(UserView::of(&self.session.principal)),
            csrf: self.session.csrf.clone(),
            nav,
        }
    }

    pub fn user(&self) -> UserView {
        UserView::of(&self.session.principal)
    }

    pub fn principal(&self) -> &Principal {
        &self.session.principal
    }

    /// Transactions, analyses and chunks are for roles that may read analyses.
    pub fn require_read(&self) -> Result<(), WebError> {
        if can_read(self.session.principal.role) {
            Ok(())
        } else {
            Err(WebError::forbidden(
                "Your role does not include reading transactions and analyses. Documents and evaluation reports are open to you.",
            ))
        }
    }
}

impl FromRequestParts<Web> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Self::Rejection> {
        let (handle, current) = current_session(&parts.extensions).await.map_err(IntoResponse::into_response)?;
        match current {
            Some(session) => {
                // A key revoked since sign-in ends its sessions at the next request.
                match web.app.key_in_force(&session.principal.id).await {
                    Ok(true) => Ok(SignedIn { session }),
                    Ok(false) => {
                        session::end(&handle).await.map_err(|e| WebError::from(e).into_response())?;
                        Err(see_other("/sign-in"))
                    }
                    Err(e) => Err(WebError::from(e).into_response()),
                }
            }
            None => {
                let next = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/");
                let target = if parts.method == Method::GET {
                    format!("/sign-in?next={}", view::url_encode(next))
                } else {
                    "/sign-in".into()
                };
                Err(see_other(&target))
            }
        }
    }
}

/// The request's handle on its session (put there by [`session::layer`]) and the
/// signed-in session it names, if any.
async fn current_session(
    extensions: &axum::http::Extensions,
) -> Result<(tower_sessions::Session, Option<Session>), WebError> {
    let handle = extensions
        .get::<tower_sessions::Session>()
        .cloned()
        .ok_or_else(|| WebError::internal("the session layer is missing"))?;
    let current = session::current(&handle).await?;
    Ok((handle, current))
}

/// 303 to `location`; for htmx requests also `HX-Redirect` so the whole page moves.
pub fn see_other(location: &str) -> Response {
    let mut r = Redirect::to(location).into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert("HX-Redirect", v);
    }
    r
}

/// A page that could not be shown.
#[derive(Debug)]
pub struct WebError {
    pub status: StatusCode,
    pub message: String,
}

impl WebError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    /// A failure on our side: `detail` is logged (with the request id of the
    /// request's span), the page only says it happened.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!("web: {detail}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side.")
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    /// `e`, from a use-case on analysis `analysis`, as the workflow pages word it: a
    /// refusal of the role says `forbidden`, a missing analysis is named, and a refused
    /// field answers `invalid` (the review pages answer 400 where the API says 422);
    /// everything else as [`From<AppError>`] maps it.
    pub fn about_analysis(e: AppError, analysis: Option<uuid::Uuid>, forbidden: &str, invalid: StatusCode) -> Self {
        match (e, analysis) {
            (AppError::Forbidden(_), _) => WebError::forbidden(forbidden),
            (AppError::NotFound { field: Some(field), .. }, Some(id)) if field == "id" => {
                WebError::not_found(format!("There is no analysis {id}."))
            }
            (AppError::Invalid { field: Some(field), message }, _) => WebError::new(invalid, format!("{field}: {message}")),
            (other, _) => other.into(),
        }
    }
}

impl From<AppError> for WebError {
    /// The one mapping of the use-cases' errors to pages.
    fn from(e: AppError) -> Self {
        match e {
            AppError::BadRequest { message, .. } => WebError::bad_request(message),
            AppError::Invalid { field: Some(field), message } => {
                WebError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("{field}: {message}"))
            }
            AppError::Invalid { field: None, message } => WebError::new(StatusCode::UNPROCESSABLE_ENTITY, message),
            AppError::TooLarge { message, .. } => WebError::new(StatusCode::PAYLOAD_TOO_LARGE, message),
            AppError::NotFound { message, .. } => WebError::not_found(message),
            AppError::Forbidden(message) => WebError::forbidden(message),
            AppError::Unauthenticated(message) => WebError::new(StatusCode::UNAUTHORIZED, message),
            AppError::Conflict { message, .. } => WebError::new(StatusCode::CONFLICT, message),
            AppError::Busy => WebError::unavailable("The database is busy; try again in a moment."),
            AppError::Unavailable { message } => WebError::unavailable(message),
            AppError::Internal { public, detail } => WebError::internal(format!("{public}: {detail}")),
        }
    }
}

impl From<SessionError> for WebError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Store(e) => {
                tracing::warn!("web: session: {e}");
                WebError::unavailable("The database is busy; try again in a moment.")
            }
            SessionError::Random(e) => WebError::internal(format!("no randomness: {e}")),
        }
    }
}


#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    status: u16,
    reason: &'a str,
    message: &'a str,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            layout: Layout {
                user: None,
                csrf: String::new(),
                nav: "",
            },
            status: self.status.as_u16(),
            reason: self.status.canonical_reason().unwrap_or("Error"),
            message: &self.message,
        };
        match page.render() {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(_) => (self.status, self.message).into_response(),
        }
    }
}

/// Render a template into a 200 page, or an error page if rendering fails.
pub fn render(t: &impl Template) -> Response {
    render_status(StatusCode::OK, t)
}

pub fn render_status(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => WebError::internal(format!("rendering failed: {e}")).into_response(),
    }
}

/// Whether the request came from htmx (so a fragment is enough).
pub fn is_htmx(headers: &HeaderMap) -> bool {
    headers.get("HX-Request").is_some_and(|v| v == "true")
}

/// Header carrying the CSRF token on script-driven requests (htmx, the upload).
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Every state-changing request carries the session's CSRF token, as the `csrf` form
/// field or the `X-CSRF-Token` header (multipart uploads: the `csrf` query parameter
/// or the header); the sign-in form carries the token paired with its own cookie.
async fn csrf_guard(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let signing_in = req.uri().path() == "/sign-in";
    let expected = if signing_in {
        cookie(req.headers(), SIGNIN_COOKIE)
    } else {
        match current_session(req.extensions()).await {
            Ok((_, current)) => current.map(|s| s.csrf),
            Err(e) => return e.into_response(),
        }
    };
    let Some(expected) = expected else {
        if signing_in {
            return WebError::forbidden(
                "The sign-in form has expired. Reload the page and try again.",
            )
            .into_response();
        }
        return see_other("/sign-in");
    };
    if let Some(given) = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) {
        return if tokens_match(&expected, given) {
            next.run(req).await
        } else {
            csrf_refused()
        };
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") && req.uri().path() == "/documents/upload" {
        // The multipart body goes to the documents service as it is; its form carries
        // the token in the action's query instead.
        let given = req
            .uri()
            .query()
            .and_then(|q| form_field(q.as_bytes(), "csrf"));
        return if given.is_some_and(|g| tokens_match(&expected, &g)) {
            next.run(req).await
        } else {
            csrf_refused()
        };
    }
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return csrf_refused();
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, FORM_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            return WebError::new(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.")
                .into_response();
        }
    };
    let given = form_field(&bytes, "csrf");
    if !given.is_some_and(|g| tokens_match(&expected, &g)) {
        return csrf_refused();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Largest urlencoded form accepted.
const FORM_LIMIT: usize = 256 * 1024;

fn csrf_refused() -> Response {
    WebError::forbidden("This form is missing its security token or the token is stale. Reload the page and submit again.").into_response()
}

/// The raw value of `key` in an urlencoded body (tokens are hex, so no decoding).
fn form_field(body: &[u8], key: &str) -> Option<String> {
    std::str::from_utf8(body)
        .ok()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_string())
}

/// Headers every page gets: a strict content security policy (no inline scripts or
/// styles, nothing from elsewhere), no framing, no MIME sniffing.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_field_finds_the_token() {
        assert_eq!(
            form_field(b"a=1&csrf=abc&b=2", "csrf").as_deref(),
            Some("abc")
        );
        assert_eq!(form_field(b"a=1&b=2", "csrf"), None);
    }

    #[test]
    fn roles_decide_what_is_allowed() {
        assert!(can_decide(Role::ComplianceOfficer));
        assert!(!can_decide(Role::Viewer));
        assert!(!can_decide(Role::Analyst));
        assert!(can_upload(Role::PolicyEditor) && can_upload(Role::Admin));
        assert!(!can_upload(Role::ComplianceOfficer));
        assert!(!can_analyze(Role::Viewer));
        assert!(WebSettings::default().validate().is_ok());
        assert!(
            WebSettings {
                session_minutes: 0,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
    }
}
