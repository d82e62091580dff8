//! Owns who may call what: [`Role`]s and the [`Permission`]s they grant, the
//! authenticated [`Principal`] that the HTTP middleware puts into each request's
//! extensions, and the [`Authenticator`] that turns a credential into a principal.
//!
//! Credentials:
//! - API keys `rk_<id>_<secret>`: the id (12 hex digits) finds the row, the secret
//!   (32 random bytes, 64 hex digits) is verified against an argon2id hash. Only
//!   the hash is stored; the key is shown once at creation. Verified keys are
//!   cached in memory for `auth.key_cache_seconds`, keyed by the SHA-256 of the
//!   whole key, so a busy client pays argon2 once per cache period, not per
//!   request. Revoking through this authenticator drops its cache entries at once;
//!   a revocation made by another process (another replica, the CLI) takes effect
//!   when the cached entry expires, so within `key_cache_seconds` everywhere. A key
//!   that was looked up and refused (unknown id, revoked, wrong secret) is remembered
//!   for [`REJECTED_TTL`], so repeating it costs neither a database read nor argon2;
//!   at most [`VERIFY_SLOTS`] argon2 checks run at once.
//! - JWT bearer tokens (optional): HS256 with `auth.jwt_hs256_secret` or RS256
//!   with the public key in `auth.jwt_rs256_public_key_file`; the role is the
//!   claim named `auth.jwt_role_claim`, the principal id is `sub`. `exp` is
//!   required and `nbf` checked when present, both numeric dates allowed to be off
//!   by `auth.jwt_leeway_seconds` ([`check_token_times`]).

mod keys;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::db::{Database, DbError};
pub use keys::{ApiKeyInfo, CreatedKey, KEY_PREFIX};

/// What a caller is allowed to do. Roles are not ordered: each grants a set of
/// permissions ([`Role::allows`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(utoipa::ToSchema)]
pub enum Role {
    /// Reads analyses and the chunks they cite.
    Viewer,
    /// A viewer who also runs analyses and asks questions.
    Analyst,
    /// An analyst who also decides on analyses and reads the audit trail.
    ComplianceOfficer,
    /// Uploads policy documents and follows their ingestion jobs.
    PolicyEditor,
    /// Everything, including key management.
    Admin,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Viewer, Role::Analyst, Role::ComplianceOfficer, Role::PolicyEditor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::ComplianceOfficer => "compliance_officer",
            Role::PolicyEditor => "policy_editor",
            Role::Admin => "admin",
        }
    }

    /// Whether this role grants `permission`. The one place the matrix lives.
    pub fn allows(self, permission: Permission) -> bool {
        use Permission as P;
        use Role as R;
        match (self, permission) {
            (R::Admin, _) => true,
            (_, P::Authenticated) => true,
            (R::Viewer | R::Analyst | R::ComplianceOfficer, P::ReadAnalyses) => true,
            (R::Analyst | R::ComplianceOfficer, P::Analyze) => true,
            (R::ComplianceOfficer, P::Decide | P::ReadAudit | P::ViewMonitoring) => true,
            (R::PolicyEditor, P::UploadDocuments) => true,
            _ => false,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.as_str() == s.trim()).ok_or_else(|| {
            format!("{s:?} is not a role; use one of viewer, analyst, compliance_officer, policy_editor, admin")
        })
    }
}

/// What a route needs. Every route names exactly one (see `api::auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Any valid credential (the OpenAPI document, metrics).
    Authenticated,
    /// Read stored analyses, their decisions, and cited chunks.
    ReadAnalyses,
    /// Run analyses and ask questions.
    Analyze,
    /// Decide on an analysis.
    Decide,
    /// Read the audit trail.
    ReadAudit,
    /// Upload documents and read ingestion jobs.
    UploadDocuments,
    /// Create, list and revoke API keys.
    ManageKeys,
    /// See the quality figures (the dashboard): volumes, queue, overrides, latency.
    ViewMonitoring,
}

impl Permission {
    /// The roles that hold this permission, in [`Role::ALL`] order.
    pub fn roles(self) -> Vec<Role> {
        Role::ALL.into_iter().filter(|r| r.allows(self)).collect()
    }
}

/// The authenticated caller of a request, in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The API key id, or the JWT `sub`.
    pub id: String,
    /// The key's name, or the JWT `name` claim (else `sub`).
    pub name: String,
    pub role: Role,
}

/// The request id of a request (from `X-Request-Id` or generated), in its extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

#[derive(Debug, Error)]
pub enum AuthError {
    /// No credential was sent.
    #[error("authentication required: send an API key as `Authorization: Bearer <key>` or `X-API-Key: <key>`")]
    Missing,
    /// The credential is unknown, malformed, expired or revoked (the reason is logged, not returned).
    #[error("invalid credentials")]
    Invalid(String),
    /// Bad input to key management; `field` names it.
    #[error("invalid {field}: {reason}")]
    BadInput { field: String, reason: String },
    #[error("no API key {0:?}")]
    NotFound(String),
    #[error("authentication settings: {0}")]
    Config(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("internal: {0}")]
    Internal(String),
}

/// The `[auth]` configuration section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// How long a verified API key is trusted without re-running argon2.
    pub key_cache_seconds: u64,
    /// HS256 secret for JWT bearer tokens (empty: HS256 off).
    pub jwt_hs256_secret: String,
    /// PEM file with the RS256 public key for JWT bearer tokens (empty: RS256 off).
    pub jwt_rs256_public_key_file: String,
    /// Required `iss` of JWTs (empty: not checked).
    pub jwt_issuer: String,
    /// Required `aud` of JWTs (empty: not checked).
    pub jwt_audience: String,
    /// The claim holding the role.
    pub jwt_role_claim: String,
    /// Seconds a JWT's `exp` and `nbf` may be off, for clock skew between the issuer
    /// and this server.
    pub jwt_leeway_seconds: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            key_cache_seconds: 30,
            jwt_hs256_secret: String::new(),
            jwt_rs256_public_key_file: String::new(),
            jwt_issuer: String::new(),
            jwt_audience: String::new(),
            jwt_role_claim: "role".into(),
            jwt_leeway_seconds: 30,
        }
    }
}

impl AuthSettings {
    /// Checks the settings; `Err((key, reason))`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.key_cache_seconds > 3600 {
            return Err(("auth.key_cache_seconds".into(), "must be at most 3600".into()));
        }
        if !self.jwt_hs256_secret.is_empty() && !self.jwt_rs256_public_key_file.is_empty() {
            return Err(("auth.jwt_hs256_secret".into(), "set either the HS256 secret or the RS256 key file, not both".into()));
        }
        if !self.jwt_hs256_secret.is_empty() && self.jwt_hs256_secret.len() < 32 {
            return Err(("auth.jwt_hs256_secret".into(), "must be at least 32 bytes".into()));
        }
        if self.jwt_role_claim.trim().is_empty() {
            return Err(("auth.jwt_role_claim".into(), "must not be empty".into()));
        }
        if self.jwt_leeway_seconds > MAX_JWT_LEEWAY_SECONDS {
            return Err((
                "auth.jwt_leeway_seconds".into(),
                format!("must be at most {MAX_JWT_LEEWAY_SECONDS} (clock skew, not token lifetime)"),
            ));
        }
        Ok(())
    }
}

/// Largest accepted `auth.jwt_leeway_seconds`: skew between clocks, not a longer life.
pub const MAX_JWT_LEEWAY_SECONDS: u64 = 300;

struct JwtVerifier {
    key: jsonwebtoken::DecodingKey,
    validation: jsonwebtoken::Validation,
    role_claim: String,
    leeway_seconds: u64,
}

/// Checks a JWT's time claims at `now` (seconds since the Unix epoch): `exp` must be
/// present and `nbf`, when present, too must be numbers (integer or fractional
/// seconds, as RFC 7519 allows), the token must not have expired more than `leeway`
/// seconds ago nor start more than `leeway` seconds from now. `Err` says which claim
/// failed.
pub fn check_token_times(claims: &serde_json::Map<String, serde_json::Value>, now: i64, leeway: u64) -> Result<(), String> {
    let leeway = i64::try_from(leeway).unwrap_or(i64::MAX);
    let numeric = |name: &str| -> Result<Option<f64>, String> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => v.as_f64().filter(|n| n.is_finite()).map(Some).ok_or_else(|| format!("JWT {name} is not a numeric date")),
        }
    };
    let now = now as f64;
    let leeway = leeway as f64;
    let exp = numeric("exp")?.ok_or_else(|| "JWT without exp".to_string())?;
    if exp + leeway <= now {
        return Err("JWT expired".into());
    }
    if let Some(nbf) = numeric("nbf")?
        && nbf - leeway > now
    {
        return Err("JWT not valid yet (nbf)".into());
    }
    Ok(())
}

struct CachedKey {
    principal: Principal,
    expires: Instant,
    /// The stored argon2 hash this key was verified against. After `expires` the key
    /// record is read again (revocation, role); while that hash is unchanged the same
    /// key needs no second argon2 check.
    secret_hash: String,
}

/// Largest number of cached verified keys; the cache is emptied when it is full.
const CACHE_LIMIT: usize = 10_000;
/// How long a refused key (by its SHA-256) is refused again without a database read or
/// argon2 check. A refused key cannot turn valid: ids and secrets are random, and a
/// revoked key stays revoked. Short, so the map stays small.
pub const REJECTED_TTL: Duration = Duration::from_secs(60);
/// Argon2 checks that may run at once. Each is slow and takes ~19 MiB by design; 200
/// clients whose cached key expired at the same moment used to run 200 checks at once
/// (RSS rose by ~100 MB every `key_cache_seconds` under load), and guessed secrets for
/// a real key id could do the same on purpose.
const VERIFY_SLOTS: usize = 2;

/// Turns credentials into principals and manages API keys. Shared by the HTTP
/// middleware (through `AppState::auth`) and the `reagent keys` commands.
pub struct Authenticator {
    db: Database,
    cache_ttl: Duration,
    cache: Mutex<HashMap<[u8; 32], CachedKey>>,
    /// Keys refused after a lookup, by SHA-256, with when the refusal expires.
    rejected: Mutex<HashMap<[u8; 32], Instant>>,
    verify_slots: tokio::sync::Semaphore,
    jwt: Option<JwtVerifier>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").field("jwt", &self.jwt.is_some()).finish_non_exhaustive()
    }
}

impl Authenticator {
    pub fn new(db: Database, settings: &AuthSettings) -> Result<Self, AuthError> {
        settings.validate().map_err(|(k, r)| AuthError::Config(format!("{k}: {r}")))?;
        let jwt = if !settings.jwt_hs256_secret.is_empty() {
            Some((
                jsonwebtoken::DecodingKey::from_secret(settings.jwt_hs256_secret.as_bytes()),
                jsonwebtoken::Algorithm::HS256,
            ))
        } else if !settings.jwt_rs256_public_key_file.is_empty() {
            let pem = std::fs::read(&settings.jwt_rs256_public_key_file).map_err(|e| {
                AuthError::Config(format!("auth.jwt_rs256_public_key_file {}: {e}", settings.jwt_rs256_public_key_file))
            })?;
            let key = jsonwebtoken::DecodingKey::from_rsa_pem(&pem)
                .map_err(|e| AuthError::Config(format!("auth.jwt_rs256_public_key_file: not an RSA public key PEM: {e}")))?;
            Some((key, jsonwebtoken::Algorithm::RS256))
        } else {
            None
        };
        let jwt = jwt.map(|(key, alg)| {
            let mut validation = jsonwebtoken::Validation::new(alg);
            // Times are checked by `check_token_times`, which also refuses an `nbf` or
            // `exp` that is not a number (jsonwebtoken skips an unparseable `nbf`).
            validation.validate_exp = false;
            validation.validate_nbf = false;
            validation.set_required_spec_claims(&["exp", "sub"]);
            if !settings.jwt_issuer.is_empty() {
                validation.set_issuer(&[settings.jwt_issuer.as_str()]);
            }
            if settings.jwt_audience.is_empty() {
                validation.validate_aud = false;
            } else {
                validation.set_audience(&[settings.jwt_audience.as_str()]);
            }
            JwtVerifier { key, validation, role_claim: settings.jwt_role_claim.clone(), leeway_seconds: settings.jwt_leeway_seconds }
        });
        Ok(Self {
            db,
            cache_ttl: Duration::from_secs(settings.key_cache_seconds),
            cache: Mutex::new(HashMap::new()),
            rejected: Mutex::new(HashMap::new()),
            verify_slots: tokio::sync::Semaphore::new(VERIFY_SLOTS),
            jwt,
        })
    }

    pub fn jwt_enabled(&self) -> bool {
        self.jwt.is_some()
    }

    /// An API key (`rk_…`) or, when configured, a JWT.
    pub async fn authenticate(&self, credential: &str) -> Result<Principal, AuthError> {
        let credential = credential.trim();
        if credential.is_empty() {
            return Err(AuthError::Missing);
        }
        if credential.starts_with(KEY_PREFIX) || self.jwt.is_none() {
            self.authenticate_api_key(credential).await
        } else {
            self.authenticate_jwt(credential)
        }
    }

    /// Whether `credential` is an API key verified less than `key_cache_seconds` ago:
    /// a SHA-256 and a map lookup, cheap enough to ask before any rate decision.
    pub fn is_verified(&self, credential: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(credential.trim().as_bytes()).into();
        self.cached(&digest).is_some()
    }

    /// Verifies an API key (cached; see the module doc).
    pub async fn authenticate_api_key(&self, key: &str) -> Result<Principal, AuthError> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        if let Some(p) = self.cached(&digest) {
            return Ok(p);
        }
        if self.recently_rejected(&digest) {
            return Err(AuthError::Invalid("API key refused less than a minute ago".into()));
        }
        let (key_id, secret) = keys::split(key).ok_or_else(|| AuthError::Invalid("malformed API key".into()))?;
        let result = self.verify_api_key(&digest, key_id, secret).await;
        if let Err(AuthError::Invalid(_)) = &result {
            self.reject(digest);
        }
        result
    }

    /// Looks up and checks a well-formed key that is not cached.
    async fn verify_api_key(&self, digest: &[u8; 32], key_id: &str, secret: &str) -> Result<Principal, AuthError> {
        let record = self
            .db
            .get_api_key(key_id)
            .await?
            .ok_or_else(|| AuthError::Invalid(format!("no API key {key_id:?}")))?;
        if record.revoked_at.is_some() {
            return Err(AuthError::Invalid(format!("API key {key_id:?} is revoked")));
        }
        let role: Role = record.role.parse().map_err(AuthError::Internal)?;
        if !self.verified_against(digest, &record.secret_hash) {
            let _slot = self.verify_slots.acquire().await.map_err(|e| AuthError::Internal(e.to_string()))?;
            // Whoever held the slot before may have just verified (or refused) this very key.
            if let Some(p) = self.cached(digest) {
                return Ok(p);
            }
            if self.recently_rejected(digest) {
                return Err(AuthError::Invalid(format!("wrong secret for API key {key_id:?}")));
            }
            let hash = record.secret_hash.clone();
            let secret = secret.to_string();
            let ok = tokio::task::spawn_blocking(move || keys::verify(&secret, &hash))
                .await
                .map_err(|e| AuthError::Internal(e.to_string()))??;
            if !ok {
                return Err(AuthError::Invalid(format!("wrong secret for API key {key_id:?}")));
            }
        }
        let principal = Principal { id: record.key_id, name: record.name, role };
        if !self.cache_ttl.is_zero() {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            let entry = CachedKey { principal: principal.clone(), expires: Instant::now() + self.cache_ttl, secret_hash: record.secret_hash };
            cache.insert(*digest, entry);
        }
        Ok(principal)
    }

    /// Whether this key (by digest) was refused less than [`REJECTED_TTL`] ago.
    fn recently_rejected(&self, digest: &[u8; 32]) -> bool {
        let rejected = self.rejected.lock().unwrap_or_else(|p| p.into_inner());
        rejected.get(digest).is_some_and(|until| *until > Instant::now())
    }

    fn reject(&self, digest: [u8; 32]) {
        let now = Instant::now();
        let mut rejected = self.rejected.lock().unwrap_or_else(|p| p.into_inner());
        if rejected.len() >= CACHE_LIMIT {
            rejected.retain(|_, until| *until > now);
            if rejected.len() >= CACHE_LIMIT {
                rejected.clear();
            }
        }
        rejected.insert(digest, now + REJECTED_TTL);
    }

    /// The principal of a key verified less than `key_cache_seconds` ago.
    fn cached(&self, digest: &[u8; 32]) -> Option<Principal> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(digest).filter(|c| c.expires > Instant::now()).map(|c| c.principal.clone())
    }

    /// Whether exactly this key (by digest) was once verified against `secret_hash`.
    fn verified_against(&self, digest: &[u8; 32], secret_hash: &str) -> bool {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(digest).is_some_and(|c| c.secret_hash == secret_hash)
    }

    /// Verifies a JWT bearer token: signature, `exp` and `nbf` ([`check_token_times`]),
    /// and `iss`/`aud` when configured.
    pub fn authenticate_jwt(&self, token: &str) -> Result<Principal, AuthError> {
        let jwt = self.jwt.as_ref().ok_or_else(|| AuthError::Invalid("JWT bearer tokens are not enabled".into()))?;
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(token, &jwt.key, &jwt.validation)
            .map_err(|e| AuthError::Invalid(format!("JWT: {e}")))?;
        let claims = data.claims;
        check_token_times(&claims, Utc::now().timestamp(), jwt.leeway_seconds).map_err(AuthError::Invalid)?;
        let sub = claims.get("sub").and_then(|v| v.as_str()).filter(|s| !s.is_empty());
        let sub = sub.ok_or_else(|| AuthError::Invalid("JWT without sub".into()))?.to_string();
        let role = claims
            .get(&jwt.role_claim)
            .and_then(|v| v.as_str())
            .ok_or_else(|| AuthError::Invalid(format!("JWT without a {:?} claim", jwt.role_claim)))?
            .parse::<Role>()
            .map_err(AuthError::Invalid)?;
        let name = claims.get("name").and_then(|v| v.as_str()).unwrap_or(&sub).to_string();
        Ok(Principal { id: format!("jwt:{sub}"), name, role })
    }

    /// Creates an API key; the returned [`CreatedKey::key`] is the only copy of the secret.
    pub async fn create_key(&self, name: &str, role: Role) -> Result<CreatedKey, AuthError> {
        keys::create(&self.db, name, role).await
    }

    pub async fn list_keys(&self) -> Result<Vec<ApiKeyInfo>, AuthError> {
        Ok(self.db.list_api_keys().await?.into_iter().map(ApiKeyInfo::from).collect())
    }

    /// Revokes a key and drops it from this authenticator's cache. Revoking a
    /// revoked key is a no-op; an unknown id is [`AuthError::NotFound`].
    pub async fn revoke_key(&self, key_id: &str) -> Result<ApiKeyInfo, AuthError> {
        let not_found = || AuthError::NotFound(key_id.to_string());
        self.db.revoke_api_key(key_id, Utc::now()).await.map_err(|e| match e {
            crate::db::DbError::NotFound { .. } => not_found(),
            other => other.into(),
        })?;
        let record = self.db.get_api_key(key_id).await?.ok_or_else(not_found)?;
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, c| c.principal.id != key_id);
        Ok(ApiKeyInfo::from(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_and_grant() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
            assert_eq!(serde_json::to_value(r).unwrap(), serde_json::json!(r.as_str()));
        }
        assert!("root".parse::<Role>().is_err());
        assert!(!Role::Viewer.allows(Permission::Analyze));
        assert!(Role::Analyst.allows(Permission::Analyze) && !Role::Analyst.allows(Permission::Decide));
        assert!(Role::ComplianceOfficer.allows(Permission::ReadAudit));
        assert!(!Role::ComplianceOfficer.allows(Permission::UploadDocuments));
        assert!(Role::PolicyEditor.allows(Permission::UploadDocuments) && !Role::PolicyEditor.allows(Permission::ReadAnalyses));
        assert_eq!(Permission::ManageKeys.roles(), vec![Role::Admin]);
    }

    fn claims(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn token_times_need_exp_and_respect_nbf_within_the_leeway() {
        use serde_json::json;
        let now = 1_800_000_000;
        let ok = |c: serde_json::Value| check_token_times(&claims(c), now, 30);
        assert_eq!(ok(json!({"exp": now + 600})), Ok(()));
        assert_eq!(ok(json!({"exp": now + 600, "nbf": now - 10})), Ok(()));
        assert_eq!(ok(json!({"exp": (now + 600) as f64 + 0.5, "nbf": now as f64 - 0.5})), Ok(()), "fractional seconds");
        // Within the leeway either side.
        assert_eq!(ok(json!({"exp": now - 29})), Ok(()));
        assert_eq!(ok(json!({"exp": now + 600, "nbf": now + 29})), Ok(()));
        // Past it.
        assert!(ok(json!({"exp": now - 30})).unwrap_err().contains("expired"));
        assert!(ok(json!({"exp": now + 7200, "nbf": now + 3600})).unwrap_err().contains("nbf"));
        assert!(ok(json!({"exp": now + 600, "nbf": now + 31})).unwrap_err().contains("nbf"));
        // exp is required; neither may be anything but a number.
        assert!(ok(json!({"sub": "a"})).unwrap_err().contains("without exp"));
        assert!(ok(json!({"exp": "2099-01-01"})).is_err());
        assert!(ok(json!({"exp": null})).is_err());
        assert!(ok(json!({"exp": now + 600, "nbf": "2099-01-01"})).is_err());
        assert!(ok(json!({"exp": now + 600, "nbf": [now + 3600]})).is_err());
        // No leeway: exactly now has expired.
        assert!(check_token_times(&claims(json!({"exp": now})), now, 0).is_err());
    }

    #[tokio::test]
    async fn a_refused_key_is_refused_again_from_memory() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("keys.db").display());
        let db = Database::open(&crate::db::DatabaseSettings::new(url)).await.unwrap();
        let auth = Authenticator::new(db.clone(), &AuthSettings::default()).unwrap();
        let (id, secret) = ("0123456789ab", "a".repeat(64));
        let key = format!("{KEY_PREFIX}{id}_{secret}");
        assert!(matches!(auth.authenticate(&key).await, Err(AuthError::Invalid(why)) if why.contains("no API key")));
        // Only a test can make a refused key valid (ids and secrets are random): the
        // refusal is remembered, so the record is not even read.
        let record = crate::db::ApiKeyRecord {
            key_id: id.into(),
            name: "late".into(),
            role: "viewer".into(),
            secret_hash: keys::hash(&secret).unwrap(),
            created_at: Utc::now(),
            revoked_at: None,
        };
        db.insert_api_key(&record).await.unwrap();
        assert!(matches!(auth.authenticate(&key).await, Err(AuthError::Invalid(why)) if why.contains("less than a minute ago")));
        assert!(!auth.is_verified(&key));
        // An authenticator without that memory reads the record and verifies the key.
        let fresh = Authenticator::new(db, &AuthSettings::default()).unwrap();
        assert_eq!(fresh.authenticate(&key).await.unwrap().role, Role::Viewer);
        assert!(fresh.is_verified(&key) && fresh.is_verified(&format!(" {key} ")));
    }

    #[test]
    fn leeway_is_bounded() {
        let s = AuthSettings { jwt_leeway_seconds: MAX_JWT_LEEWAY_SECONDS + 1, ..AuthSettings::default() };
        assert_eq!(s.validate().unwrap_err().0, "auth.jwt_leeway_seconds");
        let s = AuthSettings { jwt_leeway_seconds: 0, ..AuthSettings::default() };
        assert!(s.validate().is_ok());
    }
}
