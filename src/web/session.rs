//! Owns browser sessions: the random session id in an `HttpOnly; SameSite=Strict`
//! cookie, the signed-in principal and the session's CSRF token kept on the server,
//! expiry, and the short-lived token that protects the sign-in form itself.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};

use crate::auth::Principal;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "reagent_session";
/// Name of the cookie that pairs with the sign-in form's token (login CSRF).
pub const SIGNIN_COOKIE: &str = "reagent_signin";

/// One signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
    /// Every state-changing request of this session must carry it.
    pub csrf: String,
    expires: Instant,
}

/// Sessions in memory: a restart signs everyone out, which is what a
/// compliance tool should do anyway.
pub struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
    lifetime: Duration,
}

impl Sessions {
    pub fn new(lifetime: Duration) -> Self {
        Self {
            by_id: Mutex::new(HashMap::new()),
            lifetime,
        }
    }

    /// Start a session for `principal`; returns its id (the cookie value).
    pub fn create(&self, principal: Principal) -> Result<(String, Session), getrandom::Error> {
        let id = random_token()?;
        let session = Session {
            principal,
            csrf: random_token()?,
            expires: Instant::now() + self.lifetime,
        };
        let mut map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        map.retain(|_, s| s.expires > now);
        map.insert(id.clone(), session.clone());
        Ok((id, session))
    }

    /// The live session named by the request's cookie, if any.
    pub fn get(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let id = cookie(headers, SESSION_COOKIE)?;
        let mut map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&id) {
            Some(s) if s.expires > Instant::now() => Some((id.clone(), s.clone())),
            Some(_) => {
                map.remove(&id);
                None
            }
            None => None,
        }
    }

    pub fn remove(&self, id: &str) {
        self.by_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
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
