//! Owns the decision workflow on analyses: a compliance officer approves,
//! escalates, files a SAR or rejects, with a comment. A decision is stored with
//! who and when, and audited. An analysis is decided once; deciding again needs an
//! explicit override with a reason, which is stored (superseding the previous
//! decision, which is kept) and audited as `decision.override`.
//!
//! Used by the API (`POST /api/v1/analyses/{id}/decision`) and the web pages, so
//! both enforce the same rules. The caller checks the role (`Permission::Decide`);
//! [`decide`] checks it again so no path can skip it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::audit::{Actor, AuditError, AuditEvent, AuditKind, AuditLog};
use crate::auth::{Permission, Principal, RequestId};
use crate::db::{AuditedWrite, DbError, DecisionRecord};

/// What was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(utoipa::ToSchema)]
pub enum DecisionKind {
    Approve,
    Escalate,
    FileSar,
    Reject,
}

impl DecisionKind {
    pub const ALL: [Self; 4] = [Self::Approve, Self::Escalate, Self::FileSar, Self::Reject];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Escalate => "escalate",
            Self::FileSar => "file_sar",
            Self::Reject => "reject",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The body of a decision.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct DecisionRequest {
    pub decision: DecisionKind,
    pub comment: String,
    /// Required (true) to decide an analysis already decided; the comment is then the reason.
    #[serde(default)]
    pub r#override: bool,
    /// The SAR narrative (from the case view) to keep with the decision.
    #[serde(default)]
    pub narrative: Option<String>,
}

/// A stored decision as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[derive(utoipa::ToSchema)]
pub struct Decision {
    pub decision_id: Uuid,
    pub analysis_id: Uuid,
    pub sequence: i64,
    pub decision: DecisionKind,
    pub comment: String,
    pub decided_by: String,
    pub decided_by_name: String,
    pub role: String,
    pub decided_at: DateTime<Utc>,
    /// The decision this one overrode.
    pub supersedes: Option<Uuid>,
    /// The SAR narrative kept with the decision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub narrative: Option<String>,
}

impl TryFrom<DecisionRecord> for Decision {
    type Error = DecisionError;

    fn try_from(r: DecisionRecord) -> Result<Self, Self::Error> {
        let decision = DecisionKind::parse(&r.decision)
            .ok_or_else(|| DecisionError::Db(DbError::Backend { context: "decoding a decision".into(), message: format!("unknown decision {:?}", r.decision) }))?;
        Ok(Self {
            decision_id: r.decision_id,
            analysis_id: r.analysis_id,
            sequence: r.sequence,
            decision,
            comment: r.comment,
            decided_by: r.actor_id,
            decided_by_name: r.actor_name,
            role: r.actor_role,
            decided_at: r.decided_at,
            supersedes: r.supersedes,
            narrative: r.narrative,
        })
    }
}

#[derive(Debug, Error)]
pub enum DecisionError {
    #[error("role {0} may not decide on analyses")]
    Forbidden(String),
    #[error("no analysis {0}")]
    NotFound(Uuid),
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// Already decided and no override requested (or a concurrent decision won).
    #[error("{0}")]
    AlreadyDecided(String),
    #[error(transparent)]
    Db(DbError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// Longest comment accepted.
pub const MAX_COMMENT_CHARS: usize = 4000;

/// Records a decision (see the module doc). Returns the stored decision.
pub async fn decide(
    audit: &AuditLog,
    principal: &Principal,
    request_id: Option<&RequestId>,
    analysis_id: Uuid,
    req: &DecisionRequest,
) -> Result<Decision, DecisionError> {
    if !principal.role.allows(Permission::Decide) {
        return Err(DecisionError::Forbidden(principal.role.to_string()));
    }
    let comment = req.comment.trim();
    if comment.is_empty() {
        return Err(DecisionError::Invalid { field: "comment", reason: "must not be empty".into() });
    }
    if comment.chars().count() > MAX_COMMENT_CHARS {
        return Err(DecisionError::Invalid { field: "comment", reason: format!("must be at most {MAX_COMMENT_CHARS} characters") });
    }
    let narrative = req.narrative.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if narrative.is_some_and(|n| n.chars().count() > crate::review::case::MAX_NARRATIVE_CHARS) {
        return Err(DecisionError::Invalid {
            field: "narrative",
            reason: format!("must be at most {} characters", crate::review::case::MAX_NARRATIVE_CHARS),
        });
    }
    let db = audit.db();
    let analysis = db.get_analysis(analysis_id).await.map_err(DecisionError::Db)?.ok_or(DecisionError::NotFound(analysis_id))?;
    let previous = db.decisions_for(analysis_id).await.map_err(DecisionError::Db)?;
    let last = previous.last();
    if let Some(last) = last
        && !req.r#override
    {
        return Err(DecisionError::AlreadyDecided(format!(
            "analysis {analysis_id} was already decided ({}) by {} at {}; send \"override\": true with a reason in the comment to change it",
            last.decision, last.actor_name, last.decided_at
        )));
    }
    let record = DecisionRecord {
        decision_id: Uuid::new_v4(),
        analysis_id,
        sequence: last.map_or(1, |l| l.sequence + 1),
        decision: req.decision.as_str().into(),
        comment: comment.to_string(),
        actor_id: principal.id.clone(),
        actor_name: principal.name.clone(),
        actor_role: principal.role.as_str().into(),
        decided_at: crate::db::now(),
        supersedes: last.map(|l| l.decision_id),
        narrative: narrative.map(str::to_owned),
    };
    let action = if record.supersedes.is_some() { "decision.override" } else { "decision.create" };
    let event = AuditEvent::new(AuditKind::Decision, action, Actor::from(principal), record.decision_id.to_string())
        .request(request_id)
        .related(analysis_id.to_string())
        .details(serde_json::json!({
            "analysis_id": analysis_id,
            "transaction_id": analysis.transaction_id,
            "decision": record.decision,
            "sequence": record.sequence,
            "supersedes": record.supersedes,
            "previous_decision": last.map(|l| l.decision.clone()),
            "comment_sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(comment.as_bytes())),
            "narrative_sha256": narrative.map(|n| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(n.as_bytes()))),
        }));
    // The decision and its audit entry are one transaction: both or neither.
    let with = AuditedWrite::decision(&record).map_err(DecisionError::Db)?;
    audit.record_with(event, with).await.map_err(|e| match e {
        AuditError::Db(DbError::Conflict(_)) => DecisionError::AlreadyDecided(format!("analysis {analysis_id} was decided concurrently; reload and override if needed")),
        AuditError::Db(DbError::NotFound { .. }) => DecisionError::NotFound(analysis_id),
        other => DecisionError::Audit(other),
    })?;
    Decision::try_from(record)
}

/// The decisions on an analysis, first to latest (the last one is in force).
pub async fn decisions(audit: &AuditLog, analysis_id: Uuid) -> Result<Vec<Decision>, DecisionError> {
    audit.db().decisions_for(analysis_id).await.map_err(DecisionError::Db)?.into_iter().map(Decision::try_from).collect()
}
