//! Owns what the front doors that take a credential need of authentication and the
//! audit trail's refusal counts: a credential (API key or JWT) to its principal, whether
//! a key is still in force, and the refused requests counted, then written aggregated.

use std::time::Duration;

use super::{App, AppError};
use crate::audit::refusals::Refusal;
use crate::auth::{AuthError, Principal};

impl App {
    /// The principal of an API key or JWT.
    pub async fn authenticate(&self, credential: &str) -> Result<Principal, AuthError> {
        self.auth.authenticate(credential).await
    }

    /// The principal of an API key (the sign-in form takes no JWT).
    pub async fn authenticate_api_key(&self, key: &str) -> Result<Principal, AuthError> {
        self.auth.authenticate_api_key(key).await
    }

    /// Whether JWTs are accepted (configured in `[auth]`).
    pub fn jwt_enabled(&self) -> bool {
        self.auth.jwt_enabled()
    }

    /// Whether `credential` was verified recently (it then costs no check, nor any of
    /// the failed-authentication budget).
    pub fn is_verified(&self, credential: &str) -> bool {
        self.auth.is_verified(credential)
    }

    /// Whether the key `key_id` exists and is not revoked.
    pub async fn key_in_force(&self, key_id: &str) -> Result<bool, AppError> {
        Ok(self.db.get_api_key(key_id).await?.is_some_and(|k| k.revoked_at.is_none()))
    }

    /// Counts a refused request; the counts are written aggregated ([`App::flush_refusals`]).
    pub fn count_refusal(&self, refusal: Refusal) {
        self.audit.count_refusal(refusal);
    }

    /// Refused requests counted and not yet written.
    pub fn pending_refusals(&self) -> u64 {
        self.audit.pending_refusals()
    }

    /// How often the refusal counts are written (`audit.refusal_interval_seconds`).
    pub fn refusal_interval(&self) -> Duration {
        self.audit.refusal_interval()
    }

    /// Writes the refusal counts to the audit trail; how many entries were written.
    pub async fn flush_refusals(&self) -> usize {
        self.audit.flush_refusals().await
    }
}
