//! Owns the audit trail: an append-only, hash-chained log in the database of every
//! analysis, question, decision, document change, key change and authorization
//! failure, with actor, role, time, request id, object id and outcome.
//!
//! Tamper evidence: entry `n` stores `hash = SHA-256(canonical(entry n) ‖ prev_hash)`
//! where `prev_hash` is entry `n-1`'s hash ([`GENESIS`] for the first). [`verify`]
//! recomputes the chain and names the first entry whose content, link or number
//! does not fit; changing, deleting or reordering any stored entry breaks it there.
//! Appends are serialized: a mutex in this process, plus (in the database layer)
//! one transaction per append, an advisory lock on PostgreSQL and the primary key
//! on `seq`, so two processes can never write two entries with the same number.
//!
//! Pseudonyms: customer identifiers appear only as [`AuditLog::pseudonym`], an
//! HMAC-SHA256 keyed with `audit.pii_key`, so the trail can be searched for one
//! customer without holding the identifier. Without a configured key a random
//! per-process key is used and a warning says pseudonyms will not match across
//! restarts: set the key in production.
//!
//! Retention ([`prune`]): each kind has a number of days. A hash chain can only lose
//! a *prefix* without breaking verification, so pruning removes the longest run of
//! oldest entries that are *all* past their kind's retention, and records the last
//! removed entry's seq and hash as an anchor (`audit_anchor`) from which [`verify`]
//! continues. An entry with a longer retention therefore holds back the pruning of
//! newer short-lived entries: retention is a minimum ("keep at least N days"), which
//! is the direction recordkeeping rules require; nothing is removed early.
//!
//! Refused requests ([`refusals`]) are counted in memory and written as one aggregated
//! entry per source and kind every `audit.refusal_interval_seconds`
//! ([`AuditLog::flush_refusals`]), so a flood of bad credentials cannot fill the trail.

pub mod refusals;

use std::io::Write;
use std::time::Duration;

use chrono::{DateTime, Days, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::auth::{Principal, RequestId};
use crate::db::{AuditRow, Database, DbError};

/// `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Error)]
pub enum AuditError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
    #[error("audit settings: {0}")]
    Config(String),
}

/// The `[audit]` configuration section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// Key of the HMAC that pseudonymizes customer identifiers (at least 32
    /// characters). Empty: a random key per process, with a warning.
    pub pii_key: String,
    /// Days entries of each kind are kept at least (see `reagent audit prune`).
    pub retention_analysis_days: u32,
    pub retention_question_days: u32,
    pub retention_decision_days: u32,
    pub retention_document_days: u32,
    pub retention_key_days: u32,
    pub retention_auth_failure_days: u32,
    /// Seconds between two aggregated entries of refused requests per source (see
    /// [`refusals`]); also the most such counts a crash can lose.
    pub refusal_interval_seconds: u64,
}

impl Default for AuditSettings {
    fn default() -> Self {
        // Five years: the BSA recordkeeping period.
        Self {
            pii_key: String::new(),
            retention_analysis_days: 1825,
            retention_question_days: 1825,
            retention_decision_days: 1825,
            retention_document_days: 1825,
            retention_key_days: 1825,
            retention_auth_failure_days: 365,
            refusal_interval_seconds: 60,
        }
    }
}

impl AuditSettings {
    pub fn validate(&self) -> Result<(), (String, String)> {
        if !self.pii_key.is_empty() && self.pii_key.len() < 32 {
            return Err(("audit.pii_key".into(), "must be at least 32 characters (or empty for a random per-process key)".into()));
        }
        if !(1..=3600).contains(&self.refusal_interval_seconds) {
            return Err(("audit.refusal_interval_seconds".into(), "must be within 1..=3600".into()));
        }
        for kind in AuditKind::ALL {
            if self.retention_days(kind) == 0 {
                return Err((format!("audit.retention_{}_days", kind.as_str()), "must be at least 1".into()));
            }
        }
        Ok(())
    }

    pub fn retention_days(&self, kind: AuditKind) -> u32 {
        match kind {
            AuditKind::Analysis => self.retention_analysis_days,
            AuditKind::Question => self.retention_question_days,
            AuditKind::Decision => self.retention_decision_days,
            AuditKind::Document => self.retention_document_days,
            AuditKind::Key => self.retention_key_days,
            AuditKind::AuthFailure => self.retention_auth_failure_days,
        }
    }
}

/// What an entry is about (also its retention class).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    Analysis,
    Question,
    Decision,
    Document,
    Key,
    AuthFailure,
}

impl AuditKind {
    pub const ALL: [AuditKind; 6] =
        [Self::Analysis, Self::Question, Self::Decision, Self::Document, Self::Key, Self::AuthFailure];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Analysis => "analysis",
            Self::Question => "question",
            Self::Decision => "decision",
            Self::Document => "document",
            Self::Key => "key",
            Self::AuthFailure => "auth_failure",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Who did it: a principal, the CLI, or an unauthenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: String,
    pub role: String,
}

impl Actor {
    pub fn anonymous() -> Self {
        Self { id: "anonymous".into(), role: "none".into() }
    }

    /// The local operator running a `reagent` command.
    pub fn cli() -> Self {
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
        Self { id: format!("cli:{user}"), role: "operator".into() }
    }
}

impl From<&Principal> for Actor {
    fn from(p: &Principal) -> Self {
        Self { id: p.id.clone(), role: p.role.as_str().to_string() }
    }
}

/// One thing to record. `details` must not hold raw customer identifiers: use
/// [`AuditLog::pseudonym`].
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub kind: AuditKind,
    /// e.g. `analysis.create`, `decision.override`, `key.revoke`, `auth.forbidden`.
    pub action: String,
    pub actor: Actor,
    pub request_id: String,
    /// The object acted on (analysis id, decision id, key id, job id, route).
    pub object_id: String,
    /// The object it belongs to (the transaction of an analysis or the analysis of
    /// a decision), so a timeline of either finds it. Empty if none.
    pub related_id: String,
    /// `success`, `denied`, `failed`, ...
    pub outcome: String,
    pub details: serde_json::Value,
}

impl AuditEvent {
    pub fn new(kind: AuditKind, action: &str, actor: Actor, object_id: impl Into<String>) -> Self {
        Self {
            kind,
            action: action.into(),
            actor,
            request_id: String::new(),
            object_id: object_id.into(),
            related_id: String::new(),
            outcome: "success".into(),
            details: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn request(mut self, id: Option<&RequestId>) -> Self {
        self.request_id = id.map(|r| r.0.clone()).unwrap_or_default();
        self
    }

    pub fn related(mut self, id: impl Into<String>) -> Self {
        self.related_id = id.into();
        self
    }

    pub fn outcome(mut self, outcome: &str) -> Self {
        self.outcome = outcome.into();
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// The hash of an entry: SHA-256 over every stored field but `hash` itself, each
/// length-prefixed (so no two different entries serialize alike), ending with
/// `prev_hash`.
pub fn entry_hash(row: &AuditRow) -> String {
    let seq = row.seq.to_string();
    let at = row.at.to_rfc3339_opts(SecondsFormat::Micros, true);
    let fields: [&str; 12] = [
        &seq,
        &at,
        &row.kind,
        &row.action,
        &row.actor_id,
        &row.actor_role,
        &row.request_id,
        &row.object_id,
        &row.related_id,
        &row.outcome,
        &row.details,
        &row.prev_hash,
    ];
    let mut h = Sha256::new();
    h.update(b"reagent-audit-v1");
    for f in fields {
        h.update((f.len() as u64).to_be_bytes());
        h.update(f.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Attempts of one append when another process wins the race for the next number.
const MAX_RETRIES: u64 = 50;

/// Appends to the audit trail; shared by the HTTP service, the web UI and the CLI.
pub struct AuditLog {
    db: Database,
    pii_key: Vec<u8>,
    lock: tokio::sync::Mutex<()>,
    /// Refused requests counted since the last [`AuditLog::flush_refusals`].
    refusals: refusals::Tally,
    refusal_interval: Duration,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

impl AuditLog {
    pub fn new(db: Database, settings: &AuditSettings) -> Result<Self, AuditError> {
        settings.validate().map_err(|(k, r)| AuditError::Config(format!("{k}: {r}")))?;
        let pii_key = if settings.pii_key.is_empty() {
            tracing::warn!(
                "audit.pii_key is not set: customer pseudonyms in the audit trail use a random key for this process \
                 and will not match across restarts. Set audit.pii_key (REAGENT_AUDIT_PII_KEY) in production."
            );
            let mut k = vec![0u8; 32];
            getrandom::fill(&mut k).map_err(|e| AuditError::Config(format!("random source: {e}")))?;
            k
        } else {
            settings.pii_key.as_bytes().to_vec()
        };
        Ok(Self {
            db,
            pii_key,
            lock: tokio::sync::Mutex::new(()),
            refusals: refusals::Tally::default(),
            refusal_interval: Duration::from_secs(settings.refusal_interval_seconds),
        })
    }

    pub fn db(&self) -> &Database {
        &self.db
    }

    /// A keyed hash of a customer identifier (`hmac:` + 32 hex digits).
    pub fn pseudonym(&self, identifier: &str) -> String {
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.pii_key) {
            Ok(m) => m,
            Err(_) => return "hmac:unavailable".into(), // HMAC takes keys of any length
        };
        mac.update(identifier.as_bytes());
        let digest = mac.finalize().into_bytes();
        format!("hmac:{}", hex::encode(&digest[..16]))
    }

    /// Appends `event` as the next link of the chain.
    pub async fn record(&self, event: AuditEvent) -> Result<AuditRow, AuditError> {
        let details = serde_json::to_string(&event.details).unwrap_or_else(|_| "{}".into());
        let _guard = self.lock.lock().await;
        let mut attempt = 0;
        loop {
            // Microseconds: what both backends store, so the hash survives a round trip.
            let at = crate::db::now();
            let result = self
                .db
                .audit_append(GENESIS, |seq, prev| {
                    let mut row = AuditRow {
                        seq,
                        at,
                        kind: event.kind.as_str().into(),
                        action: event.action.clone(),
                        actor_id: event.actor.id.clone(),
                        actor_role: event.actor.role.clone(),
                        request_id: event.request_id.clone(),
                        object_id: event.object_id.clone(),
                        related_id: event.related_id.clone(),
                        outcome: event.outcome.clone(),
                        details: details.clone(),
                        prev_hash: prev.to_string(),
                        hash: String::new(),
                    };
                    row.hash = entry_hash(&row);
                    row
                })
                .await;
            match result {
                Ok(row) => return Ok(row),
                // Another process appended between our read and write: read again.
                Err(e) if attempt < MAX_RETRIES => {
                    attempt += 1;
                    tracing::debug!("audit append retry {attempt}: {e}");
                    tokio::time::sleep(Duration::from_millis(5 * attempt.min(20))).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Records and logs (never fails the caller): for events whose request is
    /// already answered, like authorization failures.
    pub async fn record_or_log(&self, event: AuditEvent) {
        let action = event.action.clone();
        if let Err(e) = self.record(event).await {
            tracing::error!("audit entry {action} could not be written: {e}");
        }
    }

    /// Counts a refused request, to be written aggregated by the next
    /// [`AuditLog::flush_refusals`]. No I/O: safe to call for every request of a flood.
    pub fn count_refusal(&self, refusal: refusals::Refusal) {
        self.refusals.count(refusal, Utc::now());
    }

    /// Refused requests counted and not yet written.
    pub fn pending_refusals(&self) -> u64 {
        self.refusals.pending()
    }

    /// How often `reagent serve` calls [`AuditLog::flush_refusals`].
    pub fn refusal_interval(&self) -> Duration {
        self.refusal_interval
    }

    /// Writes one entry per group of refusals counted since the last flush; returns how
    /// many entries were written. An entry that cannot be written is logged with its
    /// count (the counts are not kept for a retry: a database that refuses writes
    /// must not grow this process's memory).
    pub async fn flush_refusals(&self) -> usize {
        let mut written = 0;
        for event in self.refusals.take() {
            let count = event.details["count"].as_u64().unwrap_or(0);
            let (action, source) = (event.action.clone(), event.object_id.clone());
            match self.record(event).await {
                Ok(_) => written += 1,
                Err(e) => tracing::error!("audit entry {action} for {count} refusals from {source} could not be written: {e}"),
            }
        }
        written
    }

    /// Records a stored analysis (`analysis.create`): the customer only as a pseudonym.
    pub async fn analysis_created(
        &self,
        actor: Actor,
        request_id: Option<&RequestId>,
        analysis: &crate::guidance::Analysis,
        customer_id: &str,
    ) -> Result<AuditRow, AuditError> {
        let actions: Vec<&str> = analysis.required_actions.iter().map(|a| a.code.as_str()).collect();
        let event = AuditEvent::new(AuditKind::Analysis, "analysis.create", actor, analysis.analysis_id.to_string())
            .request(request_id)
            .related(analysis.transaction_id.clone())
            .details(serde_json::json!({
                "transaction_id": analysis.transaction_id,
                "customer": self.pseudonym(customer_id),
                "risk_level": analysis.risk_level,
                "requires_review": analysis.requires_review,
                "actions": actions,
                "generator": analysis.generator.kind,
            }));
        self.record(event).await
    }

    /// Records a question (`question.ask`): its text only as a SHA-256 and length.
    pub async fn question_asked(
        &self,
        actor: Actor,
        request_id: Option<&RequestId>,
        answer: &crate::analysis::Answer,
        customer_id: Option<&str>,
    ) -> Result<AuditRow, AuditError> {
        let event = AuditEvent::new(AuditKind::Question, "question.ask", actor, answer.answer_id.to_string())
            .request(request_id)
            .related(answer.transaction_id.clone().unwrap_or_default())
            .details(serde_json::json!({
                "transaction_id": answer.transaction_id,
                "customer": customer_id.map(|c| self.pseudonym(c)),
                "question_sha256": hex::encode(Sha256::digest(answer.question.as_bytes())),
                "question_chars": answer.question.chars().count(),
                "citations": answer.citations.len(),
            }));
        self.record(event).await
    }

    /// The trail of one analysis, transaction, decision, key or job, oldest first:
    /// the entries about it, and about the objects that belong to it (for a
    /// transaction: its analyses and the decisions on them).
    pub async fn trail(&self, object_id: &str) -> Result<Vec<AuditRow>, AuditError> {
        const LIMIT: i64 = 10_000;
        let mut rows = self.db.audit_for_object(object_id, LIMIT).await?;
        let children: std::collections::BTreeSet<String> = rows
            .iter()
            .filter(|r| r.related_id == object_id && r.object_id != object_id)
            .map(|r| r.object_id.clone())
            .collect();
        for child in children.iter().take(100) {
            rows.extend(self.db.audit_for_object(child, LIMIT).await?);
        }
        rows.sort_by_key(|r| r.seq);
        rows.dedup_by_key(|r| r.seq);
        Ok(rows)
    }
}

/// The result of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Entries checked.
    pub entries: u64,
    /// The prune anchor the chain starts from, if any.
    pub anchor_seq: Option<i64>,
    pub last_seq: Option<i64>,
    /// The first entry that does not fit, if any.
    pub broken: Option<BrokenEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenEntry {
    pub seq: i64,
    pub reason: String,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.broken.is_none()
    }
}

const PAGE: i64 = 1000;

/// Recomputes the whole chain from the anchor (or [`GENESIS`]) and reports the first bad entry.
pub async fn verify(db: &Database) -> Result<VerifyReport, AuditError> {
    let anchor = db.audit_anchor().await?;
    let (mut expect_seq, mut prev) = match &anchor {
        Some(a) => (a.seq + 1, a.hash.clone()),
        None => (1, GENESIS.to_string()),
    };
    let mut report = VerifyReport { entries: 0, anchor_seq: anchor.map(|a| a.seq), last_seq: None, broken: None };
    let mut after = expect_seq - 1;
    loop {
        let page = db.audit_page(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for row in page {
            report.entries += 1;
            report.last_seq = Some(row.seq);
            let reason = if row.seq != expect_seq {
                Some(format!("expected entry {expect_seq} next, found {} (entries missing)", row.seq))
            } else if row.prev_hash != prev {
                Some("prev_hash does not match the previous entry's hash".to_string())
            } else if entry_hash(&row) != row.hash {
                Some("content does not match its hash (the entry was changed)".to_string())
            } else if AuditKind::parse(&row.kind).is_none() {
                Some(format!("unknown kind {:?}", row.kind))
            } else {
                None
            };
            if let Some(reason) = reason {
                report.broken = Some(BrokenEntry { seq: row.seq, reason });
                return Ok(report);
            }
            prev = row.hash;
            expect_seq += 1;
        }
    }
    Ok(report)
}

/// Writes every entry (at or after `since`, if given) as one JSON object per line;
/// returns how many. Each line carries `seq`, `prev_hash` and `hash`, so an examiner
/// can recompute the chain over the export.
pub async fn export(db: &Database, out: &mut dyn Write, since: Option<DateTime<Utc>>) -> Result<u64, AuditError> {
    let mut after = 0;
    let mut n = 0;
    loop {
        let page = db.audit_page(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for row in page.iter().filter(|r| since.is_none_or(|s| r.at >= s)) {
            serde_json::to_writer(&mut *out, row).map_err(std::io::Error::other)?;
            out.write_all(b"\n")?;
            n += 1;
        }
    }
    out.flush()?;
    Ok(n)
}

/// The result of [`prune`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    pub pruned: u64,
    /// The new anchor (last pruned entry), if anything was pruned.
    pub through_seq: Option<i64>,
    /// The oldest entry kept, and why pruning stopped there.
    pub kept_from: Option<i64>,
}

/// Removes the longest prefix of entries all past their retention at `now` (see
/// the module doc), after checking the chain is intact (a broken chain is not
/// pruned: it is evidence).
pub async fn prune(db: &Database, settings: &AuditSettings, now: DateTime<Utc>) -> Result<PruneReport, AuditError> {
    let check = verify(db).await?;
    if let Some(b) = check.broken {
        return Err(AuditError::Config(format!("the audit chain is broken at entry {} ({}); not pruning", b.seq, b.reason)));
    }
    let expired = |row: &AuditRow| {
        let days = AuditKind::parse(&row.kind).map_or(u32::MAX, |k| settings.retention_days(k));
        now.checked_sub_days(Days::new(u64::from(days))).is_some_and(|cutoff| row.at < cutoff)
    };
    let mut through: Option<AuditRow> = None;
    let mut kept_from = None;
    let mut after = 0;
    'scan: loop {
        let page = db.audit_page(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for row in page {
            if expired(&row) {
                through = Some(row);
            } else {
                kept_from = Some(row.seq);
                break 'scan;
            }
        }
    }
    let Some(through) = through else {
        return Ok(PruneReport { pruned: 0, through_seq: None, kept_from });
    };
    let pruned = db.audit_prune_through(&through).await?;
    Ok(PruneReport { pruned, through_seq: Some(through.seq), kept_from })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> AuditRow {
        AuditRow {
            seq: 1,
            at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            kind: "analysis".into(),
            action: "analysis.create".into(),
            actor_id: "k1".into(),
            actor_role: "analyst".into(),
            request_id: "r".into(),
            object_id: "o".into(),
            related_id: "".into(),
            outcome: "success".into(),
            details: "{}".into(),
            prev_hash: GENESIS.into(),
            hash: String::new(),
        }
    }

    #[test]
    fn hash_covers_every_field() {
        let base = entry_hash(&row());
        assert_eq!(base.len(), 64);
        let mut changed = Vec::new();
        for f in 0..12 {
            let mut r = row();
            match f {
                0 => r.seq = 2,
                1 => r.at += chrono::Duration::microseconds(1),
                2 => r.kind = "question".into(),
                3 => r.action.push('x'),
                4 => r.actor_id.push('x'),
                5 => r.actor_role.push('x'),
                6 => r.request_id.push('x'),
                7 => r.object_id.push('x'),
                8 => r.related_id.push('x'),
                9 => r.outcome.push('x'),
                10 => r.details = "{ }".into(),
                _ => r.prev_hash = "1".repeat(64),
            }
            changed.push(entry_hash(&r));
        }
        assert!(changed.iter().all(|h| *h != base), "{changed:?}");
        // Moving a character between adjacent fields changes the hash too.
        let mut a = row();
        a.actor_id = "k1a".into();
        a.actor_role = "nalyst".into();
        assert_ne!(entry_hash(&a), base);
    }
}
