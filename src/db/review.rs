//! Persistence of the review queue (migration `20261206300001_review_queue.sql`):
//! the queue query over `analyses` (its `due_on` and `action_codes` columns) and
//! `review_assignments`. What is due when, who may be assigned and the audit
//! entries are `crate::review`'s; this file only stores and reads rows.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::codec::{DbTime, DbUuid};
use super::{Database, DbError, Pool};

/// Largest page [`Database::review_queue`] returns.
pub const MAX_QUEUE_PAGE: u32 = 500;

/// Who an analysis under review is assigned to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AssignmentRecord {
    pub assignee_id: String,
    pub assignee_name: String,
    /// The principal who made the assignment.
    pub assigned_by: String,
    pub assigned_at: DateTime<Utc>,
}

/// Which assignee the queue shows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AssigneeFilter {
    #[default]
    Any,
    Unassigned,
    Id(String),
}

/// Which analyses [`Database::review_queue`] returns. Dates bound the due date,
/// both inclusive (an item without a due date never matches a bound).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueFilter {
    /// An action code (`SAR_REVIEW`); `None`: any.
    pub action: Option<String>,
    /// A risk level as stored (`HIGH`); `None`: any.
    pub risk: Option<String>,
    pub assignee: AssigneeFilter,
    pub due_from: Option<NaiveDate>,
    pub due_to: Option<NaiveDate>,
    /// At most [`MAX_QUEUE_PAGE`].
    pub limit: u32,
}

impl Default for QueueFilter {
    fn default() -> Self {
        Self { action: None, risk: None, assignee: AssigneeFilter::Any, due_from: None, due_to: None, limit: MAX_QUEUE_PAGE }
    }
}

/// One analysis waiting for a decision.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueRow {
    pub analysis_id: Uuid,
    pub transaction_id: String,
    pub customer_name: Option<String>,
    pub risk_level: String,
    pub analyzed_at: DateTime<Utc>,
    pub due_on: Option<NaiveDate>,
    pub action_codes: Vec<String>,
    pub assignment: Option<AssignmentRecord>,
}

#[derive(sqlx::FromRow)]
struct QueueDbRow {
    analysis_id: DbUuid,
    transaction_id: String,
    customer_name: Option<String>,
    risk_level: String,
    analyzed_at: DbTime,
    due_on: Option<String>,
    action_codes: Option<String>,
    assignee_id: Option<String>,
    assignee_name: Option<String>,
    assigned_by: Option<String>,
    assigned_at: Option<DbTime>,
}

impl QueueDbRow {
    fn into_domain(self) -> Result<QueueRow, DbError> {
        let due_on = match self.due_on {
            Some(d) => Some(d.parse::<NaiveDate>().map_err(|e| DbError::Backend {
                context: format!("decoding the due date of analysis {}", self.analysis_id.0),
                message: e.to_string(),
            })?),
            None => None,
        };
        let assignment = match (self.assignee_id, self.assignee_name, self.assigned_by, self.assigned_at) {
            (Some(assignee_id), Some(assignee_name), Some(assigned_by), Some(at)) => {
                Some(AssignmentRecord { assignee_id, assignee_name, assigned_by, assigned_at: at.get() })
            }
            _ => None,
        };
        Ok(QueueRow {
            analysis_id: self.analysis_id.0,
            transaction_id: self.transaction_id,
            customer_name: self.customer_name,
            risk_level: self.risk_level,
            analyzed_at: self.analyzed_at.get(),
            due_on,
            action_codes: self.action_codes.unwrap_or_default().split_whitespace().map(str::to_owned).collect(),
            assignment,
        })
    }
}

/// The latest analysis of each transaction that requires review and has no
/// decision; earliest due date first, items without one last, then oldest.
const REVIEW_QUEUE: &str = "SELECT a.analysis_id, a.transaction_id, c.name AS customer_name, a.risk_level, a.analyzed_at, \
        a.due_on, a.action_codes, r.assignee_id, r.assignee_name, r.assigned_by, r.assigned_at \
    FROM analyses a \
    LEFT JOIN review_assignments r ON r.analysis_id = a.analysis_id \
    LEFT JOIN transactions t ON t.transaction_id = a.transaction_id \
    LEFT JOIN customers c ON c.customer_id = t.customer_id \
    WHERE a.requires_review = $1 \
      AND NOT EXISTS (SELECT 1 FROM decisions d WHERE d.analysis_id = a.analysis_id) \
      AND NOT EXISTS (SELECT 1 FROM analyses b WHERE b.transaction_id = a.transaction_id \
                      AND (b.analyzed_at > a.analyzed_at OR (b.analyzed_at = a.analyzed_at AND b.analysis_id > a.analysis_id))) \
      AND (CAST($2 AS TEXT) IS NULL OR a.action_codes LIKE CAST($2 AS TEXT)) \
      AND (CAST($3 AS TEXT) IS NULL OR a.risk_level = CAST($3 AS TEXT)) \
      AND (CAST($4 AS TEXT) IS NULL OR (CAST($4 AS TEXT) = '' AND r.assignee_id IS NULL) OR r.assignee_id = CAST($4 AS TEXT)) \
      AND (CAST($5 AS TEXT) IS NULL OR a.due_on >= CAST($5 AS TEXT)) \
      AND (CAST($6 AS TEXT) IS NULL OR a.due_on <= CAST($6 AS TEXT)) \
    ORDER BY CASE WHEN a.due_on IS NULL THEN 1 ELSE 0 END, a.due_on, a.analyzed_at, a.analysis_id \
    LIMIT $7";

const GET_ASSIGNMENT: &str =
    "SELECT assignee_id, assignee_name, assigned_by, assigned_at FROM review_assignments WHERE analysis_id = $1";

#[derive(sqlx::FromRow)]
struct AssignmentDbRow {
    assignee_id: String,
    assignee_name: String,
    assigned_by: String,
    assigned_at: DbTime,
}

impl Database {
    /// The review queue (see [`QueueFilter`]), at most `filter.limit` rows.
    pub async fn review_queue(&self, filter: &QueueFilter) -> Result<Vec<QueueRow>, DbError> {
        if filter.limit == 0 || filter.limit > MAX_QUEUE_PAGE {
            return Err(DbError::invalid("limit", format!("must be within 1..={MAX_QUEUE_PAGE}")));
        }
        let action = filter.action.as_ref().map(|a| format!("% {a} %"));
        let assignee = match &filter.assignee {
            AssigneeFilter::Any => None,
            AssigneeFilter::Unassigned => Some(String::new()),
            AssigneeFilter::Id(id) => Some(id.clone()),
        };
        let from = filter.due_from.map(|d| d.to_string());
        let to = filter.due_to.map(|d| d.to_string());
        let rows = on_pool!(self, |pool| sqlx::query_as::<_, QueueDbRow>(REVIEW_QUEUE)
            .bind(true)
            .bind(&action)
            .bind(&filter.risk)
            .bind(&assignee)
            .bind(&from)
            .bind(&to)
            .bind(i64::from(filter.limit))
            .fetch_all(pool)
            .await)
        .map_err(|e| DbError::from_sqlx("reading the review queue", e))?;
        rows.into_iter().map(QueueDbRow::into_domain).collect()
    }

    /// Who the analysis is assigned to, if anyone.
    pub async fn assignment(&self, analysis_id: Uuid) -> Result<Option<AssignmentRecord>, DbError> {
        let row = on_pool!(self, |pool| sqlx::query_as::<_, AssignmentDbRow>(GET_ASSIGNMENT)
            .bind(DbUuid(analysis_id))
            .fetch_optional(pool)
            .await)
        .map_err(|e| DbError::from_sqlx(format!("reading the assignment of analysis {analysis_id}"), e))?;
        Ok(row.map(|r| AssignmentRecord {
            assignee_id: r.assignee_id,
            assignee_name: r.assignee_name,
            assigned_by: r.assigned_by,
            assigned_at: r.assigned_at.get(),
        }))
    }
}

/// An assignment as bound to the upsert (`record: None` removes it).
pub(crate) struct AssignmentParams {
    pub analysis_id: DbUuid,
    pub record: Option<(AssignmentRecord, DbTime)>,
}

impl AssignmentParams {
    pub fn new(analysis_id: Uuid, record: Option<&AssignmentRecord>) -> Result<Self, DbError> {
        let record = match record {
            Some(r) => {
                if r.assignee_id.trim().is_empty() {
                    return Err(DbError::invalid("assignee", "must not be empty"));
                }
                Some((r.clone(), DbTime::new("assigned_at", r.assigned_at)?))
            }
            None => None,
        };
        Ok(Self { analysis_id: DbUuid(analysis_id), record })
    }
}

/// Writes an [`AssignmentParams`] in the open transaction `$executor`.
macro_rules! write_assignment {
    ($executor:expr, $p:expr) => {
        match &$p.record {
            Some((r, at)) => sqlx::query(
                "INSERT INTO review_assignments (analysis_id, assignee_id, assignee_name, assigned_by, assigned_at) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (analysis_id) DO UPDATE SET assignee_id = excluded.assignee_id, \
                 assignee_name = excluded.assignee_name, assigned_by = excluded.assigned_by, assigned_at = excluded.assigned_at",
            )
            .bind($p.analysis_id)
            .bind(&r.assignee_id)
            .bind(&r.assignee_name)
            .bind(&r.assigned_by)
            .bind(*at)
            .execute($executor)
            .await
            .map(|_| ()),
            None => sqlx::query("DELETE FROM review_assignments WHERE analysis_id = $1")
                .bind($p.analysis_id)
                .execute($executor)
                .await
                .map(|_| ()),
        }
    };
}

/// A failed assignment write: an unknown analysis is [`DbError::NotFound`].
pub(crate) fn assignment_write_error(p: &AssignmentParams, e: sqlx::Error) -> DbError {
    if super::error::is_foreign_key_violation(&e) {
        DbError::NotFound { entity: "analysis", id: p.analysis_id.0.to_string() }
    } else {
        DbError::from_sqlx(format!("storing the assignment of analysis {}", p.analysis_id.0), e)
    }
}
