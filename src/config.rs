//! Owns configuration: one typed [`Config`] read from `reagent.toml` (optional), then
//! overridden by `REAGENT_<SECTION>_<KEY>` environment variables, then validated.
//! `reagent config show` prints the result with secrets masked.

use std::path::{Path, PathBuf};

use reagent_ingest::{ChunkerSettings, EmbedderSettings, StoreSettings};
use reagent_retrieval::RetrievalSettings;
use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("config file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("environment variable {var}: {reason}")]
    Env { var: String, reason: String },
    #[error("invalid setting {key}: {reason}")]
    Invalid { key: String, reason: String },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub store: StoreSettings,
    pub embedding: EmbedderSettings,
    pub chunking: ChunkerSettings,
    pub ingest: crate::app::documents::IngestSettings,
    pub jobs: crate::app::jobs::JobsSettings,
    pub retrieval: RetrievalSettings,
    pub rules: crate::rules::RulesSettings,
    pub server: crate::api::ServerSettings,
    pub llm: crate::generation::LlmSettings,
    pub database: crate::db::DatabaseSettings,
    pub web: crate::web::WebSettings,
    pub limits: crate::api::limits::LimitSettings,
    pub auth: crate::auth::AuthSettings,
    pub audit: crate::audit::AuditSettings,
}

/// Environment variables that are not settings.
/// (`REAGENT_API_KEY` is the key `reagent eval guidance --server` sends;
/// `REAGENT_SHARED_DATA` where tests and benchmarks find the shared data folder.)
const RESERVED_ENV: [&str; 5] = ["REAGENT_CONFIG", "REAGENT_LOG", "REAGENT_CACHE", "REAGENT_API_KEY", "REAGENT_SHARED_DATA"];

impl Config {
    /// Load `path` (or `reagent.toml` in the working directory if it exists), apply the
    /// environment, validate. Relative paths in a file are relative to that file.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(path, &vars)
    }

    pub fn load_with_env(path: Option<&Path>, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let default_file = PathBuf::from("reagent.toml");
        let file = match path {
            Some(p) => Some(p.to_path_buf()),
            None => default_file.is_file().then_some(default_file),
        };
        let mut value = toml::Value::try_from(Config::default()).map_err(|e| ConfigError::Invalid {
            key: "(defaults)".into(),
            reason: e.to_string(),
        })?;
        let mut base_dir = None;
        if let Some(file) = &file {
            let err = |reason: String| ConfigError::File { path: file.display().to_string(), reason };
            let text = std::fs::read_to_string(file).map_err(|e| err(e.to_string()))?;
            let overlay: toml::Value = text.parse::<toml::Table>().map(toml::Value::Table).map_err(|e| err(e.message().to_string()))?;
            merge(&mut value, overlay);
            base_dir = file.parent().map(Path::to_path_buf);
        }
        apply_env(&mut value, env)?;
        let mut config: Config = value.try_into().map_err(|e: toml::de::Error| ConfigError::File {
            path: file.as_ref().map_or("(environment)".into(), |f| f.display().to_string()),
            reason: e.message().to_string(),
        })?;
        if let Some(dir) = base_dir.filter(|d| !d.as_os_str().is_empty()) {
            config.rebase_paths(&dir);
        }
        config.validate()?;
        Ok(config)
    }

    fn rebase_paths(&mut self, dir: &Path) {
        if !self.rules.file.is_empty() && Path::new(&self.rules.file).is_relative() {
            self.rules.file = dir.join(&self.rules.file).display().to_string();
        }
        for p in [&mut self.store.data_dir, &mut self.embedding.model_dir, &mut self.embedding.ort_dylib_path, &mut self.web.eval_reports_dir] {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, reason: String| Err(ConfigError::Invalid { key: key.into(), reason });
        self.llm.validate().map_err(|e| ConfigError::Invalid { key: format!("llm.{}", e.key), reason: e.reason })?;
        if let Err(crate::rules::RulesError::Invalid { key, message }) = self.rules.institution_overrides().check() {
            return invalid(&key, message);
        }
        if self.chunking.max_tokens < 16 {
            return invalid("chunking.max_tokens", format!("must be at least 16, got {}", self.chunking.max_tokens));
        }
        if self.chunking.overlap_tokens >= self.chunking.max_tokens {
            return invalid("chunking.overlap_tokens", "must be smaller than chunking.max_tokens".into());
        }
        if self.embedding.dimension == 0 {
            return invalid("embedding.dimension", "must be positive".into());
        }
        if self.embedding.batch_size == 0 {
            return invalid("embedding.batch_size", "must be positive".into());
        }
        if self.embedding.max_length < 16 {
            return invalid("embedding.max_length", "must be at least 16".into());
        }
        if self.embedding.max_batch_tokens < self.embedding.max_length {
            return invalid(
                "embedding.max_batch_tokens",
                format!("must be at least embedding.max_length ({}), got {}", self.embedding.max_length, self.embedding.max_batch_tokens),
            );
        }
        for (key, v) in [("store.bm25_k1", self.store.bm25_k1), ("store.bm25_avg_len", self.store.bm25_avg_len)] {
            if !(v.is_finite() && v > 0.0) {
                return invalid(key, format!("must be a positive number, got {v}"));
            }
        }
        if !(0.0..=1.0).contains(&self.store.bm25_b) {
            return invalid("store.bm25_b", format!("must be within 0..=1, got {}", self.store.bm25_b));
        }
        if let Err((key, reason)) = self.store.validate() {
            return invalid(&format!("store.{key}"), reason);
        }
        if let Err((key, reason)) = self.ingest.validate() {
            return invalid(key, reason);
        }
        if let Err((key, reason)) = self.jobs.validate() {
            return invalid(key, reason);
        }
        // `retrieval.mode` is checked as the file is read: it is a `RetrievalMode`.
        if let Err((key, reason)) = self.retrieval.validate() {
            return invalid(&key, reason);
        }
        if let Err((key, reason)) = self.database.validate() {
            return invalid(&format!("database.{key}"), reason);
        }
        if self.server.bind.parse::<std::net::SocketAddr>().is_err() {
            return invalid("server.bind", format!("{:?} is not an address like 127.0.0.1:8080", self.server.bind));
        }
        if self.server.body_limit_bytes < 1024 {
            return invalid("server.body_limit_bytes", "must be at least 1024".into());
        }
        if !(0..=366).contains(&self.server.lookback_days) {
            return invalid("server.lookback_days", "must be within 0..=366".into());
        }
        if let Err((key, reason)) = self.limits.validate() {
            return invalid(&format!("limits.{key}"), reason);
        }
        if let Err(reason) = self.web.validate() {
            return invalid("web.session_minutes", reason);
        }
        if let Err((key, reason)) = self.auth.validate() {
            return invalid(&key, reason);
        }
        if let Err((key, reason)) = self.audit.validate() {
            return invalid(&key, reason);
        }
        Ok(())
    }

    /// The effective configuration as TOML, secrets masked.
    pub fn to_masked_toml(&self) -> String {
        let mut value = toml::Value::try_from(self).unwrap_or(toml::Value::Table(Default::default()));
        mask_secrets(&mut value);
        toml::to_string_pretty(&value).unwrap_or_default()
    }
}

fn merge(base: &mut toml::Value, overlay: toml::Value) {
    match (base, overlay) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// `REAGENT_<SECTION>_<KEY>` replaces `[section] key`, parsed as the setting's type.
fn apply_env(value: &mut toml::Value, env: &[(String, String)]) -> Result<(), ConfigError> {
    let toml::Value::Table(root) = value else { return Ok(()) };
    let mut known = Vec::new();
    for (section, table) in root.iter_mut() {
        let toml::Value::Table(table) = table else { continue };
        for (key, current) in table.iter_mut() {
            let var = format!("REAGENT_{}_{}", section.to_uppercase(), key.to_uppercase());
            if let Some((_, raw)) = env.iter().find(|(k, _)| *k == var) {
                *current = typed_like(current, raw).map_err(|reason| ConfigError::Env { var: var.clone(), reason })?;
            }
            known.push(var);
        }
    }
    for (k, _) in env {
        if k.starts_with("REAGENT_") && !known.contains(k) && !RESERVED_ENV.contains(&k.as_str()) {
            tracing::warn!("environment variable {k} names no setting; ignored");
        }
    }
    Ok(())
}

fn typed_like(current: &toml::Value, raw: &str) -> Result<toml::Value, String> {
    Ok(match current {
        toml::Value::Integer(_) => toml::Value::Integer(raw.trim().parse().map_err(|_| format!("{raw:?} is not an integer"))?),
        toml::Value::Float(_) => toml::Value::Float(raw.trim().parse().map_err(|_| format!("{raw:?} is not a number"))?),
        toml::Value::Boolean(_) => toml::Value::Boolean(match raw.trim() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            _ => return Err(format!("{raw:?} is not true or false")),
        }),
        toml::Value::Array(_) => toml::Value::Array(
            raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| toml::Value::String(s.into())).collect(),
        ),
        _ => toml::Value::String(raw.to_string()),
    })
}

fn mask_secrets(value: &mut toml::Value) {
    if let toml::Value::Table(t) = value {
        for (k, v) in t.iter_mut() {
            // A public key (audit.checkpoint_public_key) is shown: examiners compare it.
            let secret = ["key", "secret", "password", "token"].iter().any(|s| k.contains(s)) && !k.ends_with("public_key");
            match v {
                toml::Value::String(s) if secret && !s.is_empty() => *s = "********".into(),
                toml::Value::String(s) => *s = mask_url_password(s),
                _ => mask_secrets(v),
            }
        }
    }
}

/// `scheme://user:password@host` → `scheme://user:********@host`; other text unchanged.
fn mask_url_password(value: &str) -> String {
    let Some(scheme_end) = value.find("://") else { return value.to_string() };
    let rest = &value[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}{}:********{}",
            &value[..scheme_end + 3],
            &authority[..colon],
            &value[scheme_end + 3 + at..]
        ),
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_validate() {
        let c = Config::load_with_env(Some(Path::new("/nonexistent/x.toml")), &[]);
        assert!(matches!(c, Err(ConfigError::File { .. })));
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("reagent.toml");
        std::fs::write(&f, "").unwrap();
        let c = Config::load_with_env(Some(&f), &[]).unwrap();
        assert_eq!(c.chunking.max_tokens, 256);
        assert_eq!(c.store.data_dir, dir.path().join("data/qdrant"));
    }

    #[test]
    fn file_then_env_override() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("r.toml");
        std::fs::write(&f, "[chunking]\nmax_tokens = 128\n[retrieval]\nmode = \"dense\"\n").unwrap();
        let c = Config::load_with_env(Some(&f), &env(&[("REAGENT_CHUNKING_MAX_TOKENS", "200"), ("REAGENT_STORE_DATA_DIR", "/abs/store")])).unwrap();
        assert_eq!(c.chunking.max_tokens, 200);
        assert_eq!(c.retrieval.mode, reagent_retrieval::RetrievalMode::Dense);
        assert_eq!(c.store.data_dir, PathBuf::from("/abs/store"));
    }

    /// Issue 14: the CTR business day's cut-off, mode and time zone are
    /// configuration, overridable from the environment and checked at start.
    #[test]
    fn business_day_settings_override_from_env_and_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("r.toml");
        std::fs::write(&f, "[rules]\ndaily_cutoff = \"17:00\"\n").unwrap();
        let c = Config::load_with_env(Some(&f), &env(&[("REAGENT_RULES_BUSINESS_DAY", "utc_midnight")])).unwrap();
        assert_eq!((c.rules.daily_cutoff.as_str(), c.rules.business_day.as_str()), ("17:00", "utc_midnight"));
        let err = Config::load_with_env(Some(&f), &env(&[("REAGENT_RULES_DAILY_CUTOFF", "5pm")])).unwrap_err();
        assert!(err.to_string().contains("rules.daily_cutoff"), "{err}");
        let engine = crate::services::Services::rules_engine_for(&c).unwrap();
        let inst = &engine.config().institution;
        assert_eq!(inst.business_day, crate::rules::data::BusinessDayMode::UtcMidnight);
        assert_eq!(inst.daily_cutoff.0.to_string(), "17:00:00");
    }

    #[test]
    fn bad_values_name_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("r.toml");
        std::fs::write(&f, "").unwrap();
        let err = Config::load_with_env(Some(&f), &env(&[("REAGENT_CHUNKING_MAX_TOKENS", "lots")])).unwrap_err();
        assert!(err.to_string().contains("REAGENT_CHUNKING_MAX_TOKENS"), "{err}");
        let err = Config::load_with_env(Some(&f), &env(&[("REAGENT_CHUNKING_OVERLAP_TOKENS", "300")])).unwrap_err();
        assert!(err.to_string().contains("chunking.overlap_tokens"), "{err}");
        std::fs::write(&f, "[chunking]\nmax_tokenz = 1\n").unwrap();
        let err = Config::load_with_env(Some(&f), &[]).unwrap_err();
        assert!(err.to_string().contains("max_tokenz"), "{err}");
        std::fs::write(&f, "[retrieval]\nmode = \"magic\"\n").unwrap();
        assert!(Config::load_with_env(Some(&f), &[]).unwrap_err().to_string().contains("retrieval.mode"));
        let err = Config::load_with_env(Some(&f), &env(&[("REAGENT_RETRIEVAL_MODE", "fusion"), ("REAGENT_RETRIEVAL_FUSION_PAIRS_WEIGHT", "-0.1")]))
            .unwrap_err();
        assert!(err.to_string().contains("retrieval.fusion_pairs_weight"), "{err}");
        std::fs::write(&f, "[retrieval]\nfusion_dense_weight = 0\nfusion_bm25_weight = 0\nfusion_pairs_weight = 0\nfusion_coverage_weight = 0\n").unwrap();
        let err = Config::load_with_env(Some(&f), &[]).unwrap_err();
        assert!(err.to_string().contains("cannot all be 0"), "{err}");
        for (var, value, key) in [
            ("REAGENT_INGEST_MAX_EXPANDED_BYTES", "0", "ingest.max_expanded_bytes"),
            ("REAGENT_INGEST_EXTRACT_TIMEOUT_SECS", "0", "ingest.extract_timeout_secs"),
            ("REAGENT_INGEST_EXTRACT_MEMORY_MB", "16", "ingest.extract_memory_mb"),
            ("REAGENT_INGEST_EXTRACT_PROGRAM", "/no/such/reagent", "ingest.extract_program"),
            ("REAGENT_JOBS_LEASE_SECS", "1", "jobs.lease_secs"),
            ("REAGENT_JOBS_POLL_SECS", "0", "jobs.poll_secs"),
            ("REAGENT_JOBS_MAX_ATTEMPTS", "0", "jobs.max_attempts"),
        ] {
            let err = Config::load_with_env(None, &env(&[(var, value)])).unwrap_err();
            assert!(err.to_string().contains(key), "{var}: {err}");
        }
    }

    #[test]
    fn the_remote_store_settings_are_checked_at_start_and_the_key_masked() {
        let q = |pairs: &[(&str, &str)]| {
            let mut all = vec![("REAGENT_STORE_BACKEND", "qdrant")];
            all.extend_from_slice(pairs);
            Config::load_with_env(None, &env(&all))
        };
        let c = q(&[("REAGENT_STORE_API_KEY", "qk-secret"), ("REAGENT_STORE_REPLICATION_FACTOR", "2")]).unwrap();
        assert_eq!(c.store.backend, reagent_ingest::store::StoreBackend::Qdrant);
        let shown = c.to_masked_toml();
        assert!(!shown.contains("qk-secret") && shown.contains("backend = \"qdrant\""), "{shown}");
        for (pairs, key) in [
            (&[("REAGENT_STORE_URL", "127.0.0.1:6334")][..], "store.url"),
            (&[("REAGENT_STORE_TLS", "true")][..], "store.tls"),
            (&[("REAGENT_STORE_COLLECTION", "a b")][..], "store.collection"),
            (&[("REAGENT_STORE_SHARD_NUMBER", "0")][..], "store.shard_number"),
            (&[("REAGENT_STORE_WRITE_CONSISTENCY_FACTOR", "2")][..], "store.write_consistency_factor"),
            (&[("REAGENT_STORE_TIMEOUT_SECS", "0")][..], "store.timeout_secs"),
        ] {
            let err = q(pairs).unwrap_err();
            assert!(err.to_string().contains(key), "{pairs:?}: {err}");
        }
        // Only the chosen backend's settings are checked; an unknown backend is refused.
        assert!(Config::load_with_env(None, &env(&[("REAGENT_STORE_URL", "nonsense")])).is_ok());
        let err = Config::load_with_env(None, &env(&[("REAGENT_STORE_BACKEND", "milvus")])).unwrap_err();
        assert!(err.to_string().contains("milvus"), "{err}");
    }

    #[test]
    fn example_file_documents_every_default() {
        let example: toml::Value = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/reagent.example.toml"))
            .unwrap()
            .parse::<toml::Table>()
            .map(toml::Value::Table)
            .unwrap();
        let defaults = toml::Value::try_from(Config::default()).unwrap();
        assert_eq!(example, defaults, "reagent.example.toml and Config::default() disagree");
    }

    #[test]
    fn secrets_are_masked() {
        let mut v: toml::Value = "[llm]\napi_key = \"sk-123\"\nmodel = \"m\"\n".parse::<toml::Table>().map(toml::Value::Table).unwrap();
        mask_secrets(&mut v);
        let s = toml::to_string(&v).unwrap();
        assert!(!s.contains("sk-123") && s.contains("********") && s.contains("\"m\""), "{s}");
        let mut v: toml::Value = "[audit]\ncheckpoint_signing_key = \"5eed\"\ncheckpoint_public_key = \"b0b\"\n"
            .parse::<toml::Table>()
            .map(toml::Value::Table)
            .unwrap();
        mask_secrets(&mut v);
        let s = toml::to_string(&v).unwrap();
        assert!(!s.contains("5eed") && s.contains("\"b0b\""), "{s}");
        assert_eq!(mask_url_password("postgres://reagent:hunter2@db:5432/x"), "postgres://reagent:********@db:5432/x");
        assert_eq!(mask_url_password("sqlite://data/reagent.db?mode=rwc"), "sqlite://data/reagent.db?mode=rwc");
        assert_eq!(mask_url_password("http://127.0.0.1:8088/v1"), "http://127.0.0.1:8088/v1");
    }
}
