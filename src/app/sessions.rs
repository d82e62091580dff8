//! Owns the stored records of browser sessions (`web_sessions` rows), for the web
//! pages' session store: create with a fresh id, save, read while unexpired, delete.
//! Writes go through the database's cancel-safe writes like every other.

use chrono::{DateTime, Utc};

use super::App;
use crate::db::{Database, DbError};

pub use crate::db::WebSessionRow;

/// The session records of the service's database.
#[derive(Debug, Clone)]
pub struct SessionRecords {
    db: Database,
}

impl SessionRecords {
    /// Stores a new session; `false` when its id is taken (by an unexpired session).
    pub async fn create(&self, row: &WebSessionRow, now: DateTime<Utc>) -> Result<bool, DbError> {
        self.db.create_web_session(row, now).await
    }

    pub async fn save(&self, row: &WebSessionRow) -> Result<(), DbError> {
        self.db.save_web_session(row).await
    }

    /// The session `id`, unless it expired before `now`.
    pub async fn get(&self, id: &str, now: DateTime<Utc>) -> Result<Option<WebSessionRow>, DbError> {
        self.db.web_session(id, now).await
    }

    pub async fn delete(&self, id: &str) -> Result<(), DbError> {
        self.db.delete_web_session(id).await
    }
}

impl App {
    /// The browser sessions' records.
    pub fn session_records(&self) -> SessionRecords {
        SessionRecords { db: self.db.clone() }
    }
}
