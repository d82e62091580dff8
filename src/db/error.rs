//! [`DbError`]: what went wrong in the persistence layer, sorted by what the caller
//! does next (404, 409, 400, 500/503).

use thiserror::Error;

use crate::domain::ValidationError;

#[derive(Debug, Error)]
pub enum DbError {
    /// A record the operation needs does not exist (e.g. the customer of a
    /// transaction being stored, or a seed file).
    #[error("{entity} {id:?} not found")]
    NotFound { entity: &'static str, id: String },
    /// The write contradicts what is stored (e.g. an analysis id already used).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The caller's input cannot be stored; `field` names it
    /// (`transaction.amount`, `limit`, `transactions[3].timestamp`, …).
    #[error("invalid {field}: {reason}")]
    Invalid { field: String, reason: String },
    /// The database failed or returned data that does not decode: connection,
    /// migration, I/O or corrupt rows. Not the caller's fault.
    #[error("database error while {context}: {message}")]
    Backend { context: String, message: String },
    /// The operation did not finish within `database.operation_timeout_secs` (or
    /// no connection was free in time): the database is busy or stuck, so the
    /// caller may retry later (503). A write that timed out may still commit.
    #[error("the database did not answer in time while {context}")]
    Timeout { context: String },
}

impl DbError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn backend(context: impl Into<String>, message: impl ToString) -> Self {
        Self::Backend {
            context: context.into(),
            message: message.to_string(),
        }
    }

    /// Maps a driver error: unique violations become [`DbError::Conflict`],
    /// everything else [`DbError::Backend`] with `context` (what was being done).
    pub(crate) fn from_sqlx(context: impl Into<String>, err: sqlx::Error) -> Self {
        let context = context.into();
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Self::Conflict(format!("{context}: {}", db.message()))
            }
            sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => Self::Timeout {
                context: format!("{context} (database.operation_timeout_secs)"),
            },
            sqlx::Error::PoolTimedOut => Self::Timeout { context: format!("{context} (no free connection)") },
            _ => Self::backend(context, err),
        }
    }
}

impl From<ValidationError> for DbError {
    fn from(e: ValidationError) -> Self {
        Self::Invalid {
            field: e.field,
            reason: e.message,
        }
    }
}

/// True when `err` is a foreign-key violation (a transaction naming an unknown customer).
pub(crate) fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}
