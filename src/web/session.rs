//! Owns browser sessions: tower-sessions' layer ([`layer`]) keeps a random session id in
//! an `HttpOnly; SameSite=Strict` cookie, and [`DbSessionStore`] keeps what the id maps to
//! in the database (`web_sessions`): the signed-in principal and the session's CSRF
//! token, until `web.session_minutes` after sign-in. So a restart signs no one out, and
//! any server over the same database serves any session. A session is written once, at
//! sign-in ([`start`]), read on each request ([`current`]) and deleted at sign-out
//! ([`end`]); expired ones are never read and are deleted at each sign-in.
//!
//! Also the short-lived token that protects the sign-in form itself: a cookie paired
//! with a form field, so an anonymous visitor costs no stored session.

use std::time::Duration;

use async_trait::async_trait;
use axum::http::{HeaderMap, HeaderValue, header};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tower_sessions::cookie::SameSite;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::app::Principal;
use crate::app::sessions::{SessionRecords, WebSessionRow};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "reagent_session";
/// Name of the cookie that pairs with the sign-in form's token (login CSRF).
pub const SIGNIN_COOKIE: &str = "reagent_signin";

/// One signed-in browser.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub principal: Principal,
    /// Every state-changing request of this session must carry it.
    pub csrf: String,
}

/// The key of [`Session`] in the session record.
const SIGNED_IN: &str = "signed_in";

/// The session could not be read or written (the database did not answer in time, or
/// failed), or no randomness was available for its token.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("session store: {0}")]
    Store(#[from] tower_sessions::session::Error),
    #[error("no randomness: {0}")]
    Random(#[from] getrandom::Error),
}

/// The session layer of the pages: cookie `reagent_session`, `HttpOnly`,
/// `SameSite=Strict`, `Path=/`, `Secure` when `secure`, over the database.
pub fn layer(records: SessionRecords, secure: bool) -> SessionManagerLayer<DbSessionStore> {
    SessionManagerLayer::new(DbSessionStore { records })
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        .with_secure(secure)
        .with_path("/")
}

/// The signed-in session of the request (`session` is the layer's handle on it), if any.
/// A stored record this build cannot read (written by another version) is no session:
/// it is deleted, and the browser signs in again.
pub async fn current(session: &tower_sessions::Session) -> Result<Option<Session>, SessionError> {
    use tower_sessions::session::Error;
    match session.get::<Session>(SIGNED_IN).await {
        Ok(found) => Ok(found),
        Err(e @ (Error::SerdeJson(_) | Error::Store(session_store::Error::Decode(_)))) => {
            tracing::warn!("web: unreadable session dropped: {e}");
            end(session).await?;
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Signs `principal` in on this browser for `lifetime`: a new session id (never one the
/// browser brought along), a new CSRF token, stored before the response goes out.
pub async fn start(
    session: &tower_sessions::Session,
    principal: Principal,
    lifetime: Duration,
) -> Result<Session, SessionError> {
    if session.id().is_some() {
        session.cycle_id().await?;
    }
    let signed_in = Session { principal, csrf: random_token()? };
    session.insert(SIGNED_IN, &signed_in).await?;
    let lifetime = time::Duration::try_from(lifetime).unwrap_or(time::Duration::MAX);
    session.set_expiry(Some(Expiry::AtDateTime(OffsetDateTime::now_utc().saturating_add(lifetime))));
    // Saved here so a failure gets an error page; the layer then only sets the cookie.
    session.save().await?;
    Ok(signed_in)
}

/// Signs this browser out: the stored session is deleted and the cookie removed.
pub async fn end(session: &tower_sessions::Session) -> Result<(), SessionError> {
    Ok(session.flush().await?)
}

/// tower-sessions' store over our database (the `web_sessions` rows of `app::sessions`), on
/// SQLite or PostgreSQL alike. Writes go through `Database::write` like every other
/// write, so a browser hanging up never leaves one half-done.
#[derive(Debug, Clone)]
pub struct DbSessionStore {
    records: SessionRecords,
}

/// New ids drawn when a fresh one is already taken (128 random bits: never, in practice).
const CREATE_ATTEMPTS: usize = 3;

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    // Logged in full here; the page only says the database did not answer.
    tracing::warn!("web sessions: {e}");
    session_store::Error::Backend(e.to_string())
}

fn to_row(record: &Record) -> session_store::Result<WebSessionRow> {
    let expiry = record.expiry_date;
    let expires_at = DateTime::<Utc>::from_timestamp(expiry.unix_timestamp(), expiry.nanosecond())
        .ok_or_else(|| session_store::Error::Encode(format!("expiry {expiry} is out of range")))?;
    let data = serde_json::to_string(&record.data).map_err(|e| session_store::Error::Encode(e.to_string()))?;
    Ok(WebSessionRow { id: record.id.to_string(), data, expires_at })
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        for _ in 0..CREATE_ATTEMPTS {
            if self.records.create(&to_row(record)?, Utc::now()).await.map_err(backend)? {
                return Ok(());
            }
            record.id = Id::default();
        }
        Err(session_store::Error::Backend("no free session id".into()))
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.records.save(&to_row(record)?).await.map_err(backend)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some(row) = self.records.get(&id.to_string(), Utc::now()).await.map_err(backend)? else {
            return Ok(None);
        };
        let decode = |e: String| session_store::Error::Decode(format!("web session: {e}"));
        let nanos = row.expires_at.timestamp_nanos_opt().ok_or_else(|| decode("expiry out of range".into()))?;
        Ok(Some(Record {
            id: *id,
            data: serde_json::from_str(&row.data).map_err(|e| decode(e.to_string()))?,
            expiry_date: OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos)).map_err(|e| decode(e.to_string()))?,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.records.delete(&id.to_string()).await.map_err(backend)
    }
}

/// 32 random bytes from the operating system, hex.
pub fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// Compare two tokens in time independent of where they differ.
pub fn tokens_match(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    if a.len() != b.len() || a.is_empty() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name` in the request, if present.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, Path=/, `Secure` when asked.
/// `max_age` of zero deletes the cookie.
pub fn set_cookie(name: &str, value: &str, max_age: Duration, secure: bool) -> HeaderValue {
    let mut s = format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        max_age.as_secs()
    );
    if secure {
        s.push_str("; Secure");
    }
    // Names are constants and values are hex tokens: always a valid header value.
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_hex_and_compare_exactly() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert!(tokens_match(&a, &a.clone()));
        assert!(!tokens_match(&a, &b));
        assert!(!tokens_match(&a, &a[..63]));
        assert!(!tokens_match("", ""));
    }

    #[test]
    fn cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; reagent_session=abc ; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "missing"), None);
        let v = set_cookie(SESSION_COOKIE, "abc", Duration::from_secs(60), true);
        let v = v.to_str().unwrap();
        assert!(
            v.contains("HttpOnly")
                && v.contains("SameSite=Strict")
                && v.contains("Secure")
                && v.contains("Max-Age=60")
        );
    }
}
