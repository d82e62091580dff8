//! Owns officers' feedback on citations, and its use as training data. A
//! compliance officer judges a chunk cited for a required action of an analysis:
//! it `supports` the action or it `does_not_support` it, in which case the officer
//! may point to a better chunk from the store. The training-pair export turns the
//! judgements into the JSON lines the tuning tool reads (`--pairs`), so a bank can
//! adapt the embedding model to its own manuals.
//!
//! Storage: one row per officer × analysis × action × cited chunk
//! (`citation_feedback`). A later judgement of the same citation by the same officer
//! *replaces* the earlier one (its id and first time are kept); every judgement,
//! replaced or not, stays in the audit trail (`feedback.record`, `feedback.replace`,
//! kind `decision`, written in the same transaction as the row).
//!
//! Used by the API (`/api/v1/analyses/{id}/feedback`), the analysis page and
//! `reagent feedback export`. The caller checks the role (`Permission::Decide`);
//! [`record`] checks it again so no path can skip it.
//!
//! Training pairs (the shared format of `reagent feedback export`): the query is the
//! retrieval query the analysis built for the action
//! ([`crate::guidance::RetrievalTrace::query_for`]; analyses stored before it was
//! recorded are skipped and counted); texts are read from the store by chunk id.
//! `supports` → the cited chunk is the positive; `does_not_support` → it is a
//! negative (positive null); with a better chunk → that one is the positive and the
//! cited one the negative.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use reagent_ingest::ChunkStore;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::audit::{Actor, AuditError, AuditEvent, AuditKind, AuditLog};
use crate::auth::{Permission, Principal, RequestId};
use crate::db::{AuditedWrite, Database, DbError, FeedbackRecord};
use crate::guidance::Analysis;
use crate::rules::ActionCode;

/// An officer's judgement of a cited chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(utoipa::ToSchema)]
pub enum Verdict {
    Supports,
    DoesNotSupport,
}

impl Verdict {
    pub const ALL: [Self; 2] = [Self::Supports, Self::DoesNotSupport];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Supports => "supports",
            Self::DoesNotSupport => "does_not_support",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// The body of `POST /api/v1/analyses/{id}/feedback`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct FeedbackRequest {
    /// The required action the chunk is cited for.
    pub action: ActionCode,
    pub chunk_id: Uuid,
    pub verdict: Verdict,
    /// A stored chunk that supports the action better (only with `does_not_support`).
    #[serde(default)]
    pub better_chunk_id: Option<Uuid>,
    #[serde(default)]
    pub note: Option<String>,
}

/// A stored judgement as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[derive(utoipa::ToSchema)]
pub struct CitationFeedback {
    pub feedback_id: Uuid,
    pub analysis_id: Uuid,
    pub action: ActionCode,
    pub chunk_id: Uuid,
    pub verdict: Verdict,
    pub better_chunk_id: Option<Uuid>,
    pub note: Option<String>,
    pub judged_by: String,
    pub judged_by_name: String,
    pub role: String,
    /// When this officer first judged this citation.
    pub created_at: DateTime<Utc>,
    /// When the judgement in force was given.
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<FeedbackRecord> for CitationFeedback {
    type Error = FeedbackError;

    fn try_from(r: FeedbackRecord) -> Result<Self, Self::Error> {
        let corrupt = |what: &str, value: &str| {
            FeedbackError::Db(DbError::Backend { context: "decoding citation feedback".into(), message: format!("unknown {what} {value:?}") })
        };
        Ok(Self {
            feedback_id: r.feedback_id,
            analysis_id: r.analysis_id,
            action: r.action.parse().map_err(|_| corrupt("action", &r.action))?,
            chunk_id: r.chunk_id,
            verdict: Verdict::parse(&r.verdict).ok_or_else(|| corrupt("verdict", &r.verdict))?,
            better_chunk_id: r.better_chunk_id,
            note: r.note,
            judged_by: r.actor_id,
            judged_by_name: r.actor_name,
            role: r.actor_role,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(Debug, Error)]
pub enum FeedbackError {
    #[error("role {0} may not judge citations")]
    Forbidden(String),
    #[error("no analysis {0}")]
    NotFound(Uuid),
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// The chunk store did not answer (a better chunk could not be checked, or a
    /// text could not be read for the export).
    #[error("chunk store: {0}")]
    Store(String),
    #[error(transparent)]
    Db(DbError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("writing the training pairs: {0}")]
    Io(#[from] std::io::Error),
}

/// Longest note accepted, in characters.
pub const MAX_NOTE_CHARS: usize = 1000;

/// Checks the request against the stored analysis: the action is one of its
/// required actions and the chunk is cited for it. Returns the normalised note.
fn check(analysis: &Analysis, req: &FeedbackRequest) -> Result<Option<String>, FeedbackError> {
    let note = req.note.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(str::to_string);
    if let Some(n) = &note
        && n.chars().count() > MAX_NOTE_CHARS
    {
        return Err(FeedbackError::Invalid { field: "note", reason: format!("must be at most {MAX_NOTE_CHARS} characters") });
    }
    if let Some(better) = req.better_chunk_id {
        if req.verdict != Verdict::DoesNotSupport {
            return Err(FeedbackError::Invalid {
                field: "better_chunk_id",
                reason: "only with verdict does_not_support: a cited chunk that supports the action needs no replacement".into(),
            });
        }
        if better == req.chunk_id {
            return Err(FeedbackError::Invalid { field: "better_chunk_id", reason: "must differ from chunk_id".into() });
        }
    }
    let action = analysis.required_actions.iter().find(|a| a.code == req.action).ok_or_else(|| FeedbackError::Invalid {
        field: "action",
        reason: format!("analysis {} has no required action {}", analysis.analysis_id, req.action),
    })?;
    if !action.citations.iter().any(|c| c.chunk_id == req.chunk_id) {
        return Err(FeedbackError::Invalid {
            field: "chunk_id",
            reason: format!("chunk {} is not cited for {} in analysis {}", req.chunk_id, req.action, analysis.analysis_id),
        });
    }
    Ok(note)
}

/// Records a judgement (see the module doc); returns it as stored.
pub async fn record(
    audit: &AuditLog,
    store: Arc<dyn ChunkStore>,
    principal: &Principal,
    request_id: Option<&RequestId>,
    analysis_id: Uuid,
    req: &FeedbackRequest,
) -> Result<CitationFeedback, FeedbackError> {
    if !principal.role.allows(Permission::Decide) {
        return Err(FeedbackError::Forbidden(principal.role.to_string()));
    }
    let db = audit.db();
    let analysis = db.get_analysis(analysis_id).await.map_err(FeedbackError::Db)?.ok_or(FeedbackError::NotFound(analysis_id))?;
    let note = check(&analysis, req)?;
    if let Some(better) = req.better_chunk_id {
        let found = tokio::task::spawn_blocking(move || store.get(better))
            .await
            .map_err(|e| FeedbackError::Store(e.to_string()))?
            .map_err(|e| FeedbackError::Store(e.to_string()))?;
        if found.is_none() {
            return Err(FeedbackError::Invalid { field: "better_chunk_id", reason: format!("no chunk {better} in the store") });
        }
    }
    let previous = db
        .feedback_for(analysis_id)
        .await
        .map_err(FeedbackError::Db)?
        .into_iter()
        .find(|f| f.action == req.action.as_str() && f.chunk_id == req.chunk_id && f.actor_id == principal.id);
    let now = crate::db::now();
    let record = FeedbackRecord {
        feedback_id: previous.as_ref().map_or_else(Uuid::new_v4, |p| p.feedback_id),
        analysis_id,
        action: req.action.as_str().into(),
        chunk_id: req.chunk_id,
        verdict: req.verdict.as_str().into(),
        better_chunk_id: req.better_chunk_id,
        note,
        actor_id: principal.id.clone(),
        actor_name: principal.name.clone(),
        actor_role: principal.role.as_str().into(),
        created_at: previous.as_ref().map_or(now, |p| p.created_at),
        updated_at: now,
    };
    let action = if previous.is_some() { "feedback.replace" } else { "feedback.record" };
    let event = AuditEvent::new(AuditKind::Decision, action, Actor::from(principal), record.feedback_id.to_string())
        .request(request_id)
        .related(analysis_id.to_string())
        .details(serde_json::json!({
            "analysis_id": analysis_id,
            "transaction_id": analysis.transaction_id,
            "action": record.action,
            "chunk_id": record.chunk_id,
            "verdict": record.verdict,
            "better_chunk_id": record.better_chunk_id,
            "previous_verdict": previous.as_ref().map(|p| p.verdict.clone()),
            "previous_better_chunk_id": previous.as_ref().and_then(|p| p.better_chunk_id),
            "note_sha256": record.note.as_ref().map(|n| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(n.as_bytes()))),
        }));
    // The judgement and its audit entry are one transaction: both or neither.
    let with = AuditedWrite::feedback(&record).map_err(FeedbackError::Db)?;
    audit.record_with(event, with).await.map_err(|e| match e {
        AuditError::Db(DbError::NotFound { .. }) => FeedbackError::NotFound(analysis_id),
        other => FeedbackError::Audit(other),
    })?;
    CitationFeedback::try_from(record)
}

/// Every officer's judgements on an analysis, by action, chunk and officer.
pub async fn list(db: &Database, analysis_id: Uuid) -> Result<Vec<CitationFeedback>, FeedbackError> {
    db.feedback_for(analysis_id).await.map_err(FeedbackError::Db)?.into_iter().map(CitationFeedback::try_from).collect()
}

/// One line of the export: the shared training-pair format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingPair {
    pub query: String,
    pub positive: Option<String>,
    pub negatives: Vec<String>,
    /// Always `feedback`.
    pub source: String,
    pub analysis_id: Uuid,
    pub action: ActionCode,
    pub chunk_ids: PairChunkIds,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairChunkIds {
    pub positive: Option<Uuid>,
    pub negatives: Vec<Uuid>,
}

/// Which chunk is the positive and which are negatives for one judgement.
fn roles_of(f: &CitationFeedback) -> PairChunkIds {
    match (f.verdict, f.better_chunk_id) {
        (Verdict::Supports, _) => PairChunkIds { positive: Some(f.chunk_id), negatives: vec![] },
        (Verdict::DoesNotSupport, better) => PairChunkIds { positive: better, negatives: vec![f.chunk_id] },
    }
}

/// A judgement the export could not turn into a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedFeedback {
    pub feedback_id: Uuid,
    pub analysis_id: Uuid,
    pub reason: String,
}

/// What [`export`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    pub pairs: usize,
    pub skipped: Vec<SkippedFeedback>,
}

/// Judgements read from the database per page.
const EXPORT_PAGE: i64 = 500;

/// Writes one [`TrainingPair`] per judgement changed at or after `since` (all if
/// `None`), oldest first, as JSON lines to `out`. A judgement whose analysis has no
/// recorded query for its action, or whose chunk is no longer in the store, is
/// skipped and reported. Reads the store synchronously: for the CLI, not a request.
pub async fn export(
    db: &Database,
    store: &dyn ChunkStore,
    since: Option<DateTime<Utc>>,
    out: &mut dyn Write,
) -> Result<ExportReport, FeedbackError> {
    let mut report = ExportReport::default();
    let mut analyses: HashMap<Uuid, Option<Analysis>> = HashMap::new();
    let mut after = None;
    loop {
        let page = db.feedback_page(since, after, EXPORT_PAGE).await.map_err(FeedbackError::Db)?;
        let Some(last) = page.last() else { break };
        after = Some((last.updated_at, last.feedback_id));
        for record in page {
            let f = CitationFeedback::try_from(record)?;
            if !analyses.contains_key(&f.analysis_id) {
                let a = db.get_analysis(f.analysis_id).await.map_err(FeedbackError::Db)?;
                analyses.insert(f.analysis_id, a);
            }
            let skip = |reason: String| SkippedFeedback { feedback_id: f.feedback_id, analysis_id: f.analysis_id, reason };
            let Some(Some(analysis)) = analyses.get(&f.analysis_id) else {
                report.skipped.push(skip("the analysis is no longer stored".into()));
                continue;
            };
            let Some(query) = analysis.retrieval.query_for(f.action) else {
                report.skipped.push(skip(format!(
                    "the analysis does not record the retrieval query of {} (analysed before queries were recorded per action)",
                    f.action
                )));
                continue;
            };
            match pair(store, query, &f)? {
                Ok(pair) => {
                    serde_json::to_writer(&mut *out, &pair).map_err(std::io::Error::from)?;
                    out.write_all(b"\n")?;
                    report.pairs += 1;
                }
                Err(missing) => report.skipped.push(skip(format!("chunk {missing} is no longer in the store"))),
            }
        }
    }
    out.flush()?;
    Ok(report)
}

/// The pair of one judgement, or the id of a chunk the store no longer holds.
fn pair(store: &dyn ChunkStore, query: &str, f: &CitationFeedback) -> Result<Result<TrainingPair, Uuid>, FeedbackError> {
    let ids = roles_of(f);
    let text = |id: Uuid| -> Result<Result<String, Uuid>, FeedbackError> {
        let record = store.get(id).map_err(|e| FeedbackError::Store(e.to_string()))?;
        Ok(record.map(|r| r.chunk.text).ok_or(id))
    };
    let positive = match ids.positive {
        Some(id) => match text(id)? {
            Ok(t) => Some(t),
            Err(missing) => return Ok(Err(missing)),
        },
        None => None,
    };
    let mut negatives = Vec::with_capacity(ids.negatives.len());
    for &id in &ids.negatives {
        match text(id)? {
            Ok(t) => negatives.push(t),
            Err(missing) => return Ok(Err(missing)),
        }
    }
    Ok(Ok(TrainingPair {
        query: query.to_string(),
        positive,
        negatives,
        source: "feedback".into(),
        analysis_id: f.analysis_id,
        action: f.action,
        chunk_ids: ids,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judgement(verdict: Verdict, better: Option<Uuid>) -> CitationFeedback {
        CitationFeedback {
            feedback_id: Uuid::from_u128(1),
            analysis_id: Uuid::from_u128(2),
            action: ActionCode::CtrFiling,
            chunk_id: Uuid::from_u128(3),
            verdict,
            better_chunk_id: better,
            note: None,
            judged_by: "k".into(),
            judged_by_name: "K".into(),
            role: "compliance_officer".into(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn verdicts_decide_positive_and_negatives() {
        let cited = Uuid::from_u128(3);
        let better = Uuid::from_u128(4);
        assert_eq!(roles_of(&judgement(Verdict::Supports, None)), PairChunkIds { positive: Some(cited), negatives: vec![] });
        assert_eq!(roles_of(&judgement(Verdict::DoesNotSupport, None)), PairChunkIds { positive: None, negatives: vec![cited] });
        assert_eq!(
            roles_of(&judgement(Verdict::DoesNotSupport, Some(better))),
            PairChunkIds { positive: Some(better), negatives: vec![cited] }
        );
    }

    #[test]
    fn the_request_names_unknown_fields_and_verdicts() {
        let ok: FeedbackRequest = serde_json::from_value(serde_json::json!({
            "action": "CTR_FILING", "chunk_id": Uuid::from_u128(3), "verdict": "does_not_support"
        }))
        .unwrap();
        assert_eq!((ok.action, ok.verdict, ok.better_chunk_id), (ActionCode::CtrFiling, Verdict::DoesNotSupport, None));
        for bad in [
            serde_json::json!({"action": "CTR_FILING", "chunk_id": Uuid::from_u128(3), "verdict": "maybe"}),
            serde_json::json!({"action": "CTR_FILING", "chunk_id": Uuid::from_u128(3), "verdict": "supports", "extra": 1}),
        ] {
            assert!(serde_json::from_value::<FeedbackRequest>(bad).is_err());
        }
        for v in Verdict::ALL {
            assert_eq!(Verdict::parse(v.as_str()), Some(v));
            assert_eq!(serde_json::to_value(v).unwrap(), v.as_str());
        }
    }
}
