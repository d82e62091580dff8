//! Owns [`AppError`]: why a use-case failed, classified by what the caller can do
//! about it. Each front door maps it exhaustively (the API to a status and JSON body,
//! the web pages to an error page). `Internal` carries a detail for the log only: the
//! front doors log it with the request id and answer a generic message.

use crate::analysis::AnalyzeError;
use crate::audit::AuditError;
use crate::auth::AuthError;
use crate::db::DbError;
use crate::decision::DecisionError;
use crate::domain::ValidationError;
use crate::feedback::FeedbackError;
use crate::review::ReviewError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed as a whole (`code` names how, e.g. `invalid_multipart`).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String, field: Option<String> },
    /// A field has a wrong value; `field` names it when known.
    #[error("{message}")]
    Invalid { field: Option<String>, message: String },
    /// The request or one of its parts is larger than allowed.
    #[error("{message}")]
    TooLarge { code: &'static str, message: String, field: Option<String> },
    /// What the request names does not exist; `field` names where it was named.
    #[error("{message}")]
    NotFound { message: String, field: Option<String> },
    /// The caller's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The credential is missing or invalid.
    #[error("{0}")]
    Unauthenticated(String),
    /// The request contradicts what is stored (`code`: `conflict`, `already_decided`, …).
    #[error("{message}")]
    Conflict { code: &'static str, message: String, field: Option<String> },
    /// The database did not answer in time: retry later.
    #[error("the database is busy")]
    Busy,
    /// A part of the service is not there or did not answer; `message` is safe to show.
    #[error("{message}")]
    Unavailable { message: String },
    /// A failure on our side. `detail` is for the log, never for the client, who is
    /// told `public`.
    #[error("{public}: {detail}")]
    Internal { public: &'static str, detail: String },
}

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid { field: Some(field.into()), message: message.into() }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound { message: message.into(), field: None }
    }

    /// A `NotFound` naming the field the missing thing was named in.
    pub fn not_found_in(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::NotFound { message: message.into(), field: Some(field.into()) }
    }

    pub fn internal(public: &'static str, detail: impl std::fmt::Display) -> Self {
        Self::Internal { public, detail: detail.to_string() }
    }
}

impl From<ValidationError> for AppError {
    fn from(e: ValidationError) -> Self {
        Self::Invalid { field: Some(e.field), message: e.message }
    }
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound { .. } => Self::not_found(e.to_string()),
            DbError::Conflict(_) => Self::Conflict { code: "conflict", message: e.to_string(), field: None },
            DbError::Invalid { ref field, .. } => Self::Invalid { field: Some(field.clone()), message: e.to_string() },
            DbError::Timeout { .. } => {
                tracing::warn!("{e}");
                Self::Busy
            }
            DbError::Backend { .. } => Self::internal("a database operation failed", e),
        }
    }
}

impl From<AuditError> for AppError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Db(e) => e.into(),
            other => Self::internal("writing the audit trail failed", other),
        }
    }
}

impl From<AnalyzeError> for AppError {
    fn from(e: AnalyzeError) -> Self {
        match e {
            AnalyzeError::Invalid(v) => v.into(),
            AnalyzeError::Retrieval(r) => {
                tracing::error!("retrieval: {r}");
                Self::Unavailable { message: "evidence retrieval failed; retry later".into() }
            }
            AnalyzeError::Task(t) => Self::internal("the analysis failed on our side", t),
        }
    }
}

impl From<DecisionError> for AppError {
    fn from(e: DecisionError) -> Self {
        match e {
            DecisionError::Forbidden(_) => Self::Forbidden(e.to_string()),
            DecisionError::NotFound(_) => Self::not_found_in("id", e.to_string()),
            DecisionError::Invalid { field, reason } => Self::invalid(field, reason),
            DecisionError::AlreadyDecided(m) => {
                Self::Conflict { code: "already_decided", message: m, field: Some("override".into()) }
            }
            DecisionError::Db(e) => e.into(),
            DecisionError::Audit(e) => e.into(),
        }
    }
}

impl From<ReviewError> for AppError {
    fn from(e: ReviewError) -> Self {
        match e {
            ReviewError::Forbidden(_) => Self::Forbidden(e.to_string()),
            ReviewError::NotFound(_) => Self::not_found_in("id", e.to_string()),
            ReviewError::Invalid { field, reason } => Self::invalid(field, reason),
            ReviewError::NotInQueue(m) => Self::Conflict { code: "not_in_queue", message: m, field: Some("id".into()) },
            ReviewError::Db(e) => e.into(),
            ReviewError::Audit(e) => e.into(),
        }
    }
}

impl From<FeedbackError> for AppError {
    fn from(e: FeedbackError) -> Self {
        match e {
            FeedbackError::Forbidden(_) => Self::Forbidden(e.to_string()),
            FeedbackError::NotFound(_) => Self::not_found_in("id", e.to_string()),
            FeedbackError::Invalid { field, reason } => Self::invalid(field, reason),
            FeedbackError::Store(m) => {
                tracing::error!("chunk store: {m}");
                Self::Unavailable { message: "the chunk store did not answer".into() }
            }
            FeedbackError::Db(e) => e.into(),
            FeedbackError::Audit(e) => e.into(),
            FeedbackError::Io(e) => Self::internal("the judgement could not be recorded", e),
        }
    }
}

impl From<AuthError> for AppError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Missing | AuthError::Invalid(_) => Self::Unauthenticated(e.to_string()),
            AuthError::BadInput { field, reason } => Self::invalid(field, reason),
            AuthError::NotFound(id) => Self::not_found_in("id", format!("no API key {id:?}")),
            AuthError::Db(e) => e.into(),
            AuthError::Config(_) | AuthError::Internal(_) => Self::internal("authentication failed on our side", e),
        }
    }
}
