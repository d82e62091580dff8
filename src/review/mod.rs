//! The officer's review workflow over stored analyses: when each one is due,
//! the review queue (analyses that require review and have no decision, by
//! earliest due date), assignment of an item to an officer (audited), and the
//! case view of one item (`case.rs`: related transactions, SAR narrative
//! draft, CTR data sheet). Used by the JSON API (`api::review`) and the
//! web pages (`web::review`), so both apply the same rules.
//!
//! The rules own the dates ([`crate::rules::Finding::due_on`], as of the
//! transaction); this module only reads them, and counts days left as of
//! today in the institution's time zone. Deciding an item (`crate::decision`)
//! takes it out of the queue.

pub mod case;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::audit::{Actor, AuditError, AuditEvent, AuditKind, AuditLog};
use crate::auth::{Permission, Principal, RequestId, Role};
use crate::db::{AssigneeFilter, AssignmentRecord, AuditedWrite, Database, DbError, MAX_QUEUE_PAGE, QueueFilter};
use crate::rules::{ActionCode, RiskLevel};

/// Today's date in the institution's time zone.
pub fn today_in(time_zone: chrono_tz::Tz) -> NaiveDate {
    Utc::now().with_timezone(&time_zone).date_naive()
}

/// Days from `today` to `due` (negative when overdue).
pub fn days_left(due: NaiveDate, today: NaiveDate) -> i64 {
    (due - today).num_days()
}

#[derive(Debug, Error)]
pub enum ReviewError {
    #[error("role {0} may not work the review queue")]
    Forbidden(String),
    #[error("no analysis {0}")]
    NotFound(Uuid),
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// The analysis has a decision (or needs no review): it is not in the queue.
    #[error("{0}")]
    NotInQueue(String),
    #[error(transparent)]
    Db(DbError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl From<DbError> for ReviewError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Invalid { field, reason } if field == "limit" => ReviewError::Invalid { field: "limit", reason },
            other => ReviewError::Db(other),
        }
    }
}

fn require_decide(principal: &Principal) -> Result<(), ReviewError> {
    if principal.role.allows(Permission::Decide) {
        Ok(())
    } else {
        Err(ReviewError::Forbidden(principal.role.to_string()))
    }
}

/// The queue's filters as the API and the page receive them (all optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::IntoParams)]
pub struct QueueQuery {
    /// An action code, e.g. `SAR_REVIEW`.
    pub action: Option<String>,
    /// `LOW`, `MEDIUM` or `HIGH`.
    pub risk: Option<String>,
    /// `me`, `none` (unassigned), or an officer's id.
    pub assignee: Option<String>,
    /// Due on or after this date (`YYYY-MM-DD`).
    pub from: Option<String>,
    /// Due on or before this date (`YYYY-MM-DD`).
    pub to: Option<String>,
    pub limit: Option<u32>,
}

impl QueueQuery {
    /// The filter, each bad field named. Empty strings mean "any" (forms send them).
    pub fn parse(&self, principal: &Principal) -> Result<QueueFilter, ReviewError> {
        let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        let action = match given(&self.action) {
            Some(a) => Some(
                a.parse::<ActionCode>()
                    .map_err(|reason| ReviewError::Invalid { field: "action", reason })?
                    .as_str()
                    .to_owned(),
            ),
            None => None,
        };
        let risk = match given(&self.risk) {
            Some(r) => Some(
                serde_json::from_value::<RiskLevel>(serde_json::Value::String(r.to_uppercase()))
                    .map_err(|_| ReviewError::Invalid { field: "risk", reason: format!("{r:?} is not LOW, MEDIUM or HIGH") })
                    .map(|l| match l {
                        RiskLevel::Low => "LOW",
                        RiskLevel::Medium => "MEDIUM",
                        RiskLevel::High => "HIGH",
                    })?
                    .to_owned(),
            ),
            None => None,
        };
        let assignee = match given(&self.assignee).as_deref() {
            None | Some("any") => AssigneeFilter::Any,
            Some("none") => AssigneeFilter::Unassigned,
            Some("me") => AssigneeFilter::Id(principal.id.clone()),
            Some(id) => AssigneeFilter::Id(id.to_owned()),
        };
        let date = |field: &'static str, v: &Option<String>| -> Result<Option<NaiveDate>, ReviewError> {
            given(v)
                .map(|s| {
                    NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                        .map_err(|_| ReviewError::Invalid { field, reason: format!("{s:?} is not a date (YYYY-MM-DD)") })
                })
                .transpose()
        };
        let due_from = date("from", &self.from)?;
        let due_to = date("to", &self.to)?;
        if let (Some(f), Some(t)) = (due_from, due_to)
            && f > t
        {
            return Err(ReviewError::Invalid { field: "to", reason: format!("{t} is before from ({f})") });
        }
        let limit = self.limit.unwrap_or(MAX_QUEUE_PAGE);
        if limit == 0 || limit > MAX_QUEUE_PAGE {
            return Err(ReviewError::Invalid { field: "limit", reason: format!("must be within 1..={MAX_QUEUE_PAGE}") });
        }
        Ok(QueueFilter { action, risk, assignee, due_from, due_to, limit })
    }
}

/// One analysis waiting for a decision.
#[derive(Debug, Clone, Serialize)]
pub struct QueueItem {
    pub analysis_id: Uuid,
    pub transaction_id: String,
    pub customer_name: Option<String>,
    pub risk_level: String,
    pub actions: Vec<String>,
    pub analyzed_at: DateTime<Utc>,
    /// The earliest due date of the analysis's actions.
    pub due_on: Option<NaiveDate>,
    /// Days from today (institution's time zone) to `due_on`; negative when overdue.
    pub days_left: Option<i64>,
    pub overdue: bool,
    pub assignment: Option<AssignmentRecord>,
}

/// The queue as of a date.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewQueue {
    /// Today in the institution's time zone: what `days_left` counts from.
    pub today: NaiveDate,
    pub items: Vec<QueueItem>,
    /// The page is full: more items may match (narrow the filters).
    pub truncated: bool,
}

/// The review queue for `principal` (officers and admins), as of `today`.
pub async fn queue(db: &Database, principal: &Principal, query: &QueueQuery, today: NaiveDate) -> Result<ReviewQueue, ReviewError> {
    require_decide(principal)?;
    let filter = query.parse(principal)?;
    let rows = db.review_queue(&filter).await?;
    let truncated = rows.len() == filter.limit as usize;
    let items = rows
        .into_iter()
        .map(|r| {
            let days = r.due_on.map(|d| days_left(d, today));
            QueueItem {
                analysis_id: r.analysis_id,
                transaction_id: r.transaction_id,
                customer_name: r.customer_name,
                risk_level: r.risk_level,
                actions: r.action_codes,
                analyzed_at: r.analyzed_at,
                due_on: r.due_on,
                days_left: days,
                overdue: days.is_some_and(|d| d < 0),
                assignment: r.assignment,
            }
        })
        .collect();
    Ok(ReviewQueue { today, items, truncated })
}

/// `POST /api/v1/analyses/{id}/assignment`: `"me"`, an officer's id, or `null`
/// to unassign.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct AssignRequest {
    pub assignee: Option<String>,
}

/// Assigns an analysis in the queue to an officer (or removes the assignment),
/// with its audit entry in the same transaction. The assignee must be the
/// caller (`"me"`) or an unrevoked API key whose role may decide.
pub async fn assign(
    audit: &AuditLog,
    principal: &Principal,
    request_id: Option<&RequestId>,
    analysis_id: Uuid,
    req: &AssignRequest,
) -> Result<Option<AssignmentRecord>, ReviewError> {
    require_decide(principal)?;
    let db = audit.db();
    let analysis = db.get_analysis(analysis_id).await?.ok_or(ReviewError::NotFound(analysis_id))?;
    if !analysis.requires_review {
        return Err(ReviewError::NotInQueue(format!("analysis {analysis_id} does not require review")));
    }
    if !db.decisions_for(analysis_id).await?.is_empty() {
        return Err(ReviewError::NotInQueue(format!("analysis {analysis_id} is already decided; it left the queue")));
    }
    let record = match req.assignee.as_deref().map(str::trim) {
        None => None,
        Some("") => return Err(ReviewError::Invalid { field: "assignee", reason: "must be \"me\", an officer's id, or null".into() }),
        Some("me") => Some((principal.id.clone(), principal.name.clone())),
        Some(id) if id == principal.id => Some((principal.id.clone(), principal.name.clone())),
        Some(id) => {
            let key = db.get_api_key(id).await?.filter(|k| k.revoked_at.is_none());
            let officer = key.filter(|k| k.role.parse::<Role>().is_ok_and(|r| r.allows(Permission::Decide)));
            match officer {
                Some(k) => Some((k.key_id, k.name)),
                None => {
                    return Err(ReviewError::Invalid {
                        field: "assignee",
                        reason: format!("{id:?} is not an active officer (a key whose role may decide)"),
                    });
                }
            }
        }
    }
    .map(|(assignee_id, assignee_name)| AssignmentRecord {
        assignee_id,
        assignee_name,
        assigned_by: principal.id.clone(),
        assigned_at: crate::db::now(),
    });
    let previous = db.assignment(analysis_id).await?;
    let action = if record.is_some() { "review.assign" } else { "review.unassign" };
    let event = AuditEvent::new(AuditKind::Decision, action, Actor::from(principal), analysis_id.to_string())
        .request(request_id)
        .related(analysis.transaction_id.clone())
        .details(serde_json::json!({
            "analysis_id": analysis_id,
            "assignee": record.as_ref().map(|r| &r.assignee_id),
            "previous_assignee": previous.as_ref().map(|r| &r.assignee_id),
        }));
    let with = AuditedWrite::assignment(analysis_id, record.as_ref())?;
    audit.record_with(event, with).await.map_err(|e| match e {
        AuditError::Db(DbError::NotFound { .. }) => ReviewError::NotFound(analysis_id),
        other => ReviewError::Audit(other),
    })?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guidance::Analysis;

    /// An analysis as stored JSON, with actions carrying `due` (or none).
    fn analysis(due: &[Option<&str>]) -> Analysis {
        let actions: Vec<serde_json::Value> = due
            .iter()
            .map(|d| {
                let mut a = serde_json::json!({
                    "code": "CTR_FILING", "title": "t", "description": "d",
                    "deadline": null, "citations": []
                });
                if let Some(d) = d {
                    a["due_on"] = serde_json::json!(d);
                }
                a
            })
            .collect();
        let v = serde_json::json!({
            "analysis_id": "00000000-0000-0000-0000-000000000001", "transaction_id": "T",
            "risk_level": "HIGH", "risk_score": 0.9, "requires_review": true,
            "required_actions": actions, "compliance_issues": [], "recommendations": [],
            "generator": {"kind": "rules", "model": null, "degraded_reason": null},
            "retrieval": {"queries": [], "chunks": [],
                "filters": {"as_of": null, "jurisdictions": [], "document_types": [], "document_ids": []}},
            "processing_time_ms": 1, "analyzed_at": "2026-03-10T14:20:00Z", "prompt_version": "v"
        });
        match serde_json::from_value(v) {
            Ok(a) => a,
            Err(e) => panic!("test analysis: {e}"),
        }
    }

    #[test]
    fn earliest_due_is_the_minimum_over_actions_with_a_date() {
        let a = analysis(&[Some("2026-04-09"), None, Some("2026-03-25")]);
        assert_eq!(a.earliest_due(), NaiveDate::from_ymd_opt(2026, 3, 25));
    }

    /// Analyses stored before `due_on` existed still load, with no date.
    #[test]
    fn analyses_without_due_dates_load_and_have_none() {
        assert_eq!(analysis(&[None, None]).earliest_due(), None);
        assert_eq!(analysis(&[]).earliest_due(), None);
    }
}
