//! Owns signing in with an API key and signing out. The key is checked once by the
//! auth module; the browser then holds only a random session id.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::audit::{Actor, AuditEvent, AuditKind};
use crate::auth::AuthError;

use super::session::{SESSION_COOKIE, SIGNIN_COOKIE, random_token, set_cookie};
use super::{Layout, Web, WebError, render_status, see_other, view};

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    layout: Layout,
    next: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// How long the sign-in form's token lives.
const SIGNIN_TOKEN_SECS: u64 = 30 * 60;

pub async fn form(
    State(web): State<Web>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    // Empty: the role's home page after sign-in.
    let next = q
        .next
        .as_deref()
        .filter(|n| !n.is_empty())
        .map(|n| view::safe_next(Some(n)))
        .unwrap_or_default();
    if let Some((_, s)) = web.sessions.get(&headers) {
        return see_other(if next.is_empty() {
            super::home_of(s.principal.role)
        } else {
            &next
        });
    }
    page(&web, next, None, StatusCode::OK)
}

fn page(web: &Web, next: String, error: Option<String>, status: StatusCode) -> Response {
    let token = match random_token() {
        Ok(t) => t,
        Err(e) => return WebError::internal(format!("no randomness: {e}")).into_response(),
    };
    let t = SignInPage {
        layout: Layout {
            user: None,
            csrf: token.clone(),
            nav: "",
        },
        next,
        error,
    };
    let mut r = render_status(status, &t);
    let cookie = set_cookie(
        SIGNIN_COOKIE,
        &token,
        std::time::Duration::from_secs(SIGNIN_TOKEN_SECS),
        web.settings.secure_cookies,
    );
    r.headers_mut().append(header::SET_COOKIE, cookie);
    r
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    api_key: String,
    next: Option<String>,
}

pub async fn submit(State(web): State<Web>, Form(f): Form<SignInForm>) -> Response {
    let next = f.next.clone();
    let key = f.api_key.trim();
    if key.is_empty() {
        return page(
            &web,
            next.unwrap_or_default(),
            Some("Enter your API key.".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let principal = match web.app.auth.authenticate_api_key(key).await {
        Ok(p) => p,
        Err(e) => {
            let why = match &e {
                AuthError::Invalid(why) => why.clone(),
                other => other.to_string(),
            };
            let event = AuditEvent::new(
                AuditKind::AuthFailure,
                "auth.web_sign_in",
                Actor::anonymous(),
                "POST /sign-in",
            )
            .outcome("rejected")
            .details(serde_json::json!({ "reason": why }));
            web.app.audit.record_or_log(event).await;
            return page(
                &web,
                next.unwrap_or_default(),
                Some("That API key is not valid, or it was revoked.".into()),
                StatusCode::UNAUTHORIZED,
            );
        }
    };
    let next = match next.as_deref().filter(|n| !n.is_empty()) {
        Some(n) => view::safe_next(Some(n)),
        None => super::home_of(principal.role).to_string(),
    };
    let (id, _) = match web.sessions.create(principal) {
        Ok(s) => s,
        Err(e) => return WebError::internal(format!("no randomness: {e}")).into_response(),
    };
    let mut r = see_other(&next);
    let secure = web.settings.secure_cookies;
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, &id, web.sessions.lifetime(), secure),
    );
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SIGNIN_COOKIE, "", std::time::Duration::ZERO, secure),
    );
    r
}

pub async fn sign_out(State(web): State<Web>, headers: HeaderMap) -> Response {
    if let Some((id, _)) = web.sessions.get(&headers) {
        web.sessions.remove(&id);
    }
    let mut r = see_other("/sign-in");
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            SESSION_COOKIE,
            "",
            std::time::Duration::ZERO,
            web.settings.secure_cookies,
        ),
    );
    r
}
