//! API keys: the `rk_<id>_<secret>` format, argon2id hashing of the secret, and
//! creation. The id is public (it names the key in listings and the audit trail);
//! the secret is 32 random bytes and is never stored.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{AuthError, Role};
use crate::db::{ApiKeyRecord, Database};

pub const KEY_PREFIX: &str = "rk_";
const ID_HEX: usize = 12;
const SECRET_HEX: usize = 64;

/// A key as listed: never the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyInfo {
    pub key_id: String,
    pub name: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyRecord> for ApiKeyInfo {
    fn from(r: ApiKeyRecord) -> Self {
        Self { key_id: r.key_id, name: r.name, role: r.role, created_at: r.created_at, revoked_at: r.revoked_at }
    }
}

/// A key just created: `key` is shown once and cannot be recovered.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub info: ApiKeyInfo,
    pub key: String,
}

/// `(id, secret)` of a well-formed key.
pub(super) fn split(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, ID_HEX) && hex(secret, SECRET_HEX)).then_some((id, secret))
}

fn random_hex(bytes: usize) -> Result<String, AuthError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| AuthError::Internal(format!("random source: {e}")))?;
    Ok(hex::encode(buf))
}

pub(super) fn hash(secret: &str) -> Result<String, AuthError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| AuthError::Internal(format!("random source: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Internal(e.to_string()))?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Internal(format!("hashing the key: {e}")))
}

pub(super) fn verify(secret: &str, stored: &str) -> Result<bool, AuthError> {
    let parsed = PasswordHash::new(stored).map_err(|e| AuthError::Internal(format!("stored key hash: {e}")))?;
    Ok(Argon2::default().verify_password(secret.as_bytes(), &parsed).is_ok())
}

fn validate_name(name: &str) -> Result<String, AuthError> {
    let name = name.trim();
    let bad = |reason: &str| Err(AuthError::BadInput { field: "name".into(), reason: reason.into() });
    if name.is_empty() {
        return bad("must not be empty");
    }
    if name.chars().count() > 100 {
        return bad("must be at most 100 characters");
    }
    if name.chars().any(char::is_control) {
        return bad("must not contain control characters");
    }
    Ok(name.to_string())
}

pub(super) async fn create(db: &Database, name: &str, role: Role) -> Result<CreatedKey, AuthError> {
    let name = validate_name(name)?;
    let key_id = random_hex(ID_HEX / 2)?;
    let secret = random_hex(SECRET_HEX / 2)?;
    let secret_for_hash = secret.clone();
    let secret_hash = tokio::task::spawn_blocking(move || hash(&secret_for_hash))
        .await
        .map_err(|e| AuthError::Internal(e.to_string()))??;
    let record = ApiKeyRecord {
        key_id: key_id.clone(),
        name,
        role: role.as_str().to_string(),
        secret_hash,
        created_at: Utc::now(),
        revoked_at: None,
    };
    db.insert_api_key(&record).await?;
    let stored = db.get_api_key(&key_id).await?.ok_or_else(|| AuthError::Internal("key vanished after insert".into()))?;
    Ok(CreatedKey { info: stored.into(), key: format!("{KEY_PREFIX}{key_id}_{secret}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_and_verify() {
        let id = "0123456789ab";
        let secret = "f".repeat(64);
        let key = format!("rk_{id}_{secret}");
        assert_eq!(split(&key), Some((id, secret.as_str())));
        assert_eq!(split("rk_0123456789ab_short"), None);
        assert_eq!(split(&format!("xx_{id}_{secret}")), None);
        assert_eq!(split(&format!("rk_{id}_{}", "g".repeat(64))), None);
        let h = hash(&secret).unwrap();
        assert!(h.starts_with("$argon2id$") && !h.contains(&secret));
        assert!(verify(&secret, &h).unwrap());
        assert!(!verify(&"e".repeat(64), &h).unwrap());
    }

    #[test]
    fn names_are_checked() {
        assert!(validate_name("  ").is_err());
        assert!(validate_name(&"x".repeat(101)).is_err());
        assert!(validate_name("a\nb").is_err());
        assert_eq!(validate_name(" ci bot ").unwrap(), "ci bot");
    }
}
