//! Owns signing in with an API key and signing out. The key is checked once by the
//! auth module; the browser then holds only a random session id (`session.rs`).
//!
//! The page to return to after sign-in (`next`) must be a path on this site
//! ([`local_next`]); anything else is answered 400, never followed. Failed sign-ins
//! share the API's per-address budget of failed authentications (429 once spent) and
//! its aggregated audit entries.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use crate::app::{Actor, AuthError, Refusal};

use super::session::{self, SIGNIN_COOKIE, random_token, set_cookie};
use super::{Layout, Web, WebError, render_status, see_other};

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
    session: tower_sessions::Session,
    Query(q): Query<NextQuery>,
) -> Response {
    // Empty: the role's home page after sign-in.
    let next = match local_next(q.next.as_deref().unwrap_or_default()) {
        Ok(next) => next,
        Err(e) => return bad_next(e),
    };
    match session::current(&session).await {
        Ok(Some(s)) => {
            return see_other(if next.is_empty() {
                super::home_of(s.principal.role)
            } else {
                &next
            });
        }
        Ok(None) => {}
        Err(e) => return WebError::from(e).into_response(),
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

pub async fn submit(
    State(web): State<Web>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    session: tower_sessions::Session,
    Form(f): Form<SignInForm>,
) -> Response {
    // Checked before the key, so a hostile link costs no key check.
    let next = match local_next(f.next.as_deref().unwrap_or_default()) {
        Ok(next) => next,
        Err(e) => return bad_next(e),
    };
    let key = f.api_key.trim();
    if key.is_empty() {
        return page(
            &web,
            next,
            Some("Enter your API key.".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let source = connect.map(|Extension(ConnectInfo(addr))| web.budget.source(addr.ip()));
    let refusal = |outcome: &'static str, status: StatusCode, reason: String| Refusal {
        source: source.clone().unwrap_or_else(|| "ip:unknown".into()),
        action: "auth.web_sign_in",
        outcome,
        actor: Actor::anonymous(),
        route: "POST /sign-in".into(),
        status: status.as_u16(),
        reason,
        request_id: String::new(),
    };
    // Only an invalid key spends a token of the budget (`AuthAttempt::failed`).
    let attempt = match &source {
        Some(source) if !web.app.is_verified(key) => {
            match web.budget.reserve(source, chrono::Utc::now()).await {
                Ok(attempt) => Some(attempt),
                Err(wait) => {
                    let status = StatusCode::TOO_MANY_REQUESTS;
                    let reason = "too many failed authentications from this address".to_string();
                    web.app.count_refusal(refusal("throttled", status, reason));
                    let message =
                        "Too many failed sign-ins from your address. Wait a minute and try again.";
                    let response = page(&web, next, Some(message.into()), status);
                    return retry_after(response, wait);
                }
            }
        }
        _ => None,
    };
    let principal = match web.app.authenticate_api_key(key).await {
        Ok(p) => p,
        Err(e) => {
            let why = match &e {
                AuthError::Invalid(why) => why.clone(),
                other => other.to_string(),
            };
            // Only an invalid key spends the budget (not the database failing, say).
            if let Some(attempt) = attempt
                && matches!(e, AuthError::Invalid(_))
            {
                attempt.failed().await;
            }
            web.app.count_refusal(refusal("rejected", StatusCode::UNAUTHORIZED, why));
            return page(
                &web,
                next,
                Some("That API key is not valid, or it was revoked.".into()),
                StatusCode::UNAUTHORIZED,
            );
        }
    };
    let next = if next.is_empty() {
        super::home_of(principal.role).to_string()
    } else {
        next
    };
    let lifetime = std::time::Duration::from_secs(web.settings.session_minutes * 60);
    if let Err(e) = session::start(&session, principal, lifetime).await {
        return WebError::from(e).into_response();
    }
    // The session layer adds the session cookie.
    let mut r = see_other(&next);
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SIGNIN_COOKIE, "", std::time::Duration::ZERO, web.settings.secure_cookies),
    );
    r
}

/// Why a `next` value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnsafeNext {
    #[error("must be a path on this site, starting with a single /")]
    NotLocal,
    #[error("must not contain spaces, control or non-ASCII characters")]
    Characters,
    #[error("must not contain backslashes")]
    Backslash,
}

/// Percent-decoding rounds [`local_next`] applies: `%25` hides one more level each.
const DECODE_ROUNDS: usize = 4;

/// The page to return to after sign-in: `raw` itself when it is a path on this site
/// (empty: none given), else why not.
///
/// Browsers drop tabs and newlines from a URL (so `/<tab>/host` becomes `//host`),
/// percent-decode parts of it, read `\` as `/`, and take `//host` (or `/\host`) as
/// another site. So `raw` must be visible ASCII (no tab, newline or space), and once
/// percent-decoded until nothing changes it must still start with exactly one `/`,
/// hold no `//` in its path, and no backslash or control character anywhere (an
/// encoded tab or newline is refused rather than stripped).
pub fn local_next(raw: &str) -> Result<String, UnsafeNext> {
    if raw.is_empty() {
        return Ok(String::new());
    }
    if !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(UnsafeNext::Characters);
    }
    if raw.contains('\\') {
        return Err(UnsafeNext::Backslash);
    }
    let mut normal: Vec<u8> = raw.bytes().collect();
    for _ in 0..DECODE_ROUNDS {
        let decoded = percent_decode(&normal);
        if decoded == normal {
            break;
        }
        normal = decoded;
    }
    if normal.contains(&b'%') && percent_decode(&normal) != normal {
        // Still encoded after every round: nothing a real link needs.
        return Err(UnsafeNext::NotLocal);
    }
    if normal.iter().any(|b| b.is_ascii_control()) {
        return Err(UnsafeNext::Characters);
    }
    if normal.contains(&b'\\') {
        return Err(UnsafeNext::Backslash);
    }
    let path_end = normal
        .iter()
        .position(|b| matches!(b, b'?' | b'#'))
        .unwrap_or(normal.len());
    let path = &normal[..path_end];
    if path.first() != Some(&b'/') || path.windows(2).any(|w| w == b"//") {
        return Err(UnsafeNext::NotLocal);
    }
    Ok(raw.to_string())
}

/// `bytes` with each `%XX` (two hex digits) replaced by its byte.
fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(hi * 16 + lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

fn bad_next(e: UnsafeNext) -> Response {
    WebError::bad_request(format!("The page to return to after sign-in (next) {e}."))
        .into_response()
}

/// Deletes the session; the session layer then removes its cookie.
pub async fn sign_out(session: tower_sessions::Session) -> Response {
    match session::end(&session).await {
        Ok(()) => see_other("/sign-in"),
        Err(e) => WebError::from(e).into_response(),
    }
}

/// `response` with `Retry-After`: the whole seconds until the address may sign in again.
fn retry_after(mut response: Response, wait: std::time::Duration) -> Response {
    response.headers_mut().insert(header::RETRY_AFTER, crate::app::retry_after_secs(wait).into());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_are_kept() {
        for ok in [
            "",
            "/",
            "/transactions",
            "/analyses/7f0c/ask?x=1",
            "/transactions?q=caf%C3%A9&page=2",
            "/documents/x#versions",
            "/transactions?back=http://example.org",
        ] {
            assert_eq!(local_next(ok).as_deref(), Ok(ok), "{ok:?}");
        }
    }

    #[test]
    fn hostile_next_values_are_refused() {
        use UnsafeNext::*;
        let cases: &[(&str, UnsafeNext)] = &[
            ("//evil.example", NotLocal),
            ("https://evil.example/", NotLocal),
            ("evil.example", NotLocal),
            ("javascript:alert(1)", NotLocal),
            ("/\t/evil.example", Characters),
            ("/\n/evil.example", Characters),
            ("/\r\n/evil.example", Characters),
            ("/x\nSet-Cookie: a=b", Characters),
            ("/ /evil.example", Characters),
            ("/caf\u{e9}", Characters),
            ("/\u{7f}", Characters),
            ("/\\evil.example", Backslash),
            ("\\\\evil.example", Backslash),
            ("/%2Fevil.example", NotLocal),
            ("/%2f%2fevil.example", NotLocal),
            ("%2F%2Fevil.example", NotLocal),
            ("/%09/evil.example", Characters),
            ("/%0A/evil.example", Characters),
            ("/%0d%0a/evil.example", Characters),
            ("/x%0ASet-Cookie:%20a=b", Characters),
            ("/%5Cevil.example", Backslash),
            ("/%255Cevil.example", Backslash),
            ("/%252F%252Fevil.example", NotLocal),
            ("/%25252F%25252Fevil.example", NotLocal),
            ("/%2525252525252F/evil.example", NotLocal),
            ("/a//b", NotLocal),
            ("/%00", Characters),
        ];
        for (raw, why) in cases {
            assert_eq!(local_next(raw), Err(*why), "{raw:?}");
        }
    }
}
