//! `[database]` settings: where the persistence layer lives. The URL's scheme picks
//! the backend (`sqlite:` for a local file, `postgres:`/`postgresql:` for a server).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Connection settings of the database (`[database]` in `reagent.toml`,
/// `REAGENT_DATABASE_URL` in the environment).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://path/to/file.db?mode=rwc` (relative paths are relative to the
    /// working directory; `mode=rwc` creates the file), `sqlite::memory:`, or
    /// `postgres://user:password@host:5432/dbname`.
    pub url: String,
    /// Longest a caller waits for one database operation (a query, or a write with
    /// its transaction) before it gets [`super::DbError::Timeout`]. A write that
    /// times out keeps running in its own task to commit or roll back: the caller
    /// only stops waiting for it.
    pub operation_timeout_secs: u64,
    /// Longest `/ready` waits for its write probe before it reports the database
    /// as unable to take writes.
    pub write_probe_timeout_ms: u64,
}

/// The default database: a SQLite file under `data/`, created on first open.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/reagent.db?mode=rwc";

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: DEFAULT_DATABASE_URL.to_owned(),
            operation_timeout_secs: 30,
            write_probe_timeout_ms: 2000,
        }
    }
}

/// Which backend a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

impl DatabaseSettings {
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), ..Self::default() }
    }

    /// Checks the URL (a `sqlite:`, `postgres:` or `postgresql:` scheme and a form
    /// the driver accepts) and the timeouts. The error is the key (within
    /// `[database]`) and the reason.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        self.backend().map_err(|reason| ("url", reason))?;
        if !(1..=600).contains(&self.operation_timeout_secs) {
            return Err(("operation_timeout_secs", format!("must be within 1..=600, got {}", self.operation_timeout_secs)));
        }
        if !(100..=60_000).contains(&self.write_probe_timeout_ms) {
            return Err(("write_probe_timeout_ms", format!("must be within 100..=60000, got {}", self.write_probe_timeout_ms)));
        }
        Ok(())
    }

    pub fn operation_timeout(&self) -> Duration {
        Duration::from_secs(self.operation_timeout_secs)
    }

    pub fn write_probe_timeout(&self) -> Duration {
        Duration::from_millis(self.write_probe_timeout_ms)
    }

    /// The URL with any password replaced by `****`, for logs and messages.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }

    pub(crate) fn backend(&self) -> Result<Backend, String> {
        let url = self.url.trim();
        if url.is_empty() {
            return Err("must not be empty".into());
        }
        let scheme = url
            .split_once(':')
            .map(|(s, _)| s.to_ascii_lowercase())
            .unwrap_or_default();
        let (backend, parsed) = match scheme.as_str() {
            "sqlite" => (
                Backend::Sqlite,
                sqlx::sqlite::SqliteConnectOptions::from_str(url).map(|_| ()),
            ),
            "postgres" | "postgresql" => (
                Backend::Postgres,
                sqlx::postgres::PgConnectOptions::from_str(url).map(|_| ()),
            ),
            _ => {
                return Err(format!(
                    "{:?} has no supported scheme (expected sqlite://…, postgres://… or postgresql://…)",
                    self.redacted_url()
                ));
            }
        };
        parsed
            .map_err(|e| format!("{:?} is not a valid {scheme} URL: {e}", self.redacted_url()))?;
        Ok(backend)
    }
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &self.redacted_url())
            .field("operation_timeout_secs", &self.operation_timeout_secs)
            .field("write_probe_timeout_ms", &self.write_probe_timeout_ms)
            .finish()
    }
}

/// `scheme://user:secret@host/…` → `scheme://user:****@host/…`; other URLs unchanged.
pub(crate) fn redact_url(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &authority[..at];
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{}{user}:****{}", &url[..start], &rest[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_a_sqlite_file() {
        let s = DatabaseSettings::default();
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(s.backend(), Ok(Backend::Sqlite));
    }

    #[test]
    fn schemes_are_checked() {
        for ok in [
            "sqlite::memory:",
            "sqlite://x.db",
            "postgres://u:p@localhost/db",
            "postgresql://localhost:5433/db",
        ] {
            assert_eq!(DatabaseSettings::new(ok).validate(), Ok(()), "{ok}");
        }
        for bad in ["", "mysql://localhost/db", "data/reagent.db", "http://x"] {
            assert!(DatabaseSettings::new(bad).validate().is_err(), "{bad}");
        }
        let (key, err) = DatabaseSettings::new("mysql://root:hunter2@db/x")
            .validate()
            .unwrap_err();
        assert_eq!(key, "url");
        assert!(
            err.contains("no supported scheme") && !err.contains("hunter2"),
            "{err}"
        );
    }

    #[test]
    fn timeouts_are_bounded() {
        let mut s = DatabaseSettings::default();
        s.operation_timeout_secs = 0;
        assert_eq!(s.validate().unwrap_err().0, "operation_timeout_secs");
        s.operation_timeout_secs = 30;
        s.write_probe_timeout_ms = 10;
        assert_eq!(s.validate().unwrap_err().0, "write_probe_timeout_ms");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://reagent:s3cret@127.0.0.1:5432/db"),
            "postgres://reagent:****@127.0.0.1:5432/db"
        );
        assert_eq!(
            redact_url("postgres://reagent@127.0.0.1/db"),
            "postgres://reagent@127.0.0.1/db"
        );
        assert_eq!(
            redact_url("sqlite://data/reagent.db?mode=rwc"),
            "sqlite://data/reagent.db?mode=rwc"
        );
        let dbg = format!("{:?}", DatabaseSettings::new("postgres://a:b@h/d"));
        assert!(!dbg.contains(":b@"), "{dbg}");
    }
}
