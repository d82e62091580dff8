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
//! An entry about a stored record (an analysis, a decision) is written in the same
//! transaction as the record ([`AuditedWrite`]), and every append runs to its end
//! whatever its caller does (see `Database::write`): an answered request always
//! has its entry, and a request whose client hung up has both or neither.
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
//! Checkpoints ([`checkpoint`]): the chain is unkeyed, so on its own it cannot show
//! that the newest entries were cut off, that an entry was rewritten and every later
//! hash recomputed, or that a prefix was deleted behind a planted anchor. With
//! `audit.checkpoint_signing_key` set, [`take_checkpoint`] signs the head (Ed25519)
//! and anchors are signed when written; [`verify_with`] then checks the anchor's
//! signature and the chain against the given checkpoints and the newest stored one
//! that verifies. What it detects is bounded by the checkpoint: changes after the
//! newest checkpoint are caught only by the hashes, as before.
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
use crate::db::{AuditRow, AuditedWrite, Database, DbError};

pub mod checkpoint;
pub use checkpoint::{Checkpoint, CheckpointKeys, SignatureError};

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
    /// Verification failed where an intact chain is required (prune, checkpoint).
    #[error("the audit chain is broken at entry {}: {}; {refused}", .broken.seq, .broken.reason)]
    Broken { broken: BrokenEntry, refused: &'static str },
}

/// What the trail keeps of a question answered (`question.ask`).
#[derive(Debug, Clone, Copy)]
pub struct QuestionAsked<'a> {
    pub answer_id: uuid::Uuid,
    /// The transaction asked about, if any.
    pub transaction_id: Option<&'a str>,
    /// Kept only as a SHA-256 and a length.
    pub question: &'a str,
    /// How many citations the answer has.
    pub citations: usize,
    /// The customer of that transaction (kept as a pseudonym).
    pub customer_id: Option<&'a str>,
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
    /// Ed25519 key (64 hex digits, from `reagent audit keygen`) that signs
    /// checkpoints and prune anchors. Keep it outside the database. Empty: no
    /// signing (checkpoints off; anchors unsigned).
    pub checkpoint_signing_key: String,
    /// Its public key (64 hex digits), enough to verify: what an examiner
    /// configures. Empty: derived from `checkpoint_signing_key`.
    pub checkpoint_public_key: String,
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
            checkpoint_signing_key: String::new(),
            checkpoint_public_key: String::new(),
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
        CheckpointKeys::from_settings(self)?;
        Ok(())
    }

    /// The checkpoint keys, parsed (see [`CheckpointKeys::from_settings`]).
    pub fn checkpoint_keys(&self) -> Result<CheckpointKeys, AuditError> {
        CheckpointKeys::from_settings(self).map_err(|(k, r)| AuditError::Config(format!("{k}: {r}")))
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

/// `event` as an entry without its place in the chain: `seq`, `at`, `prev_hash` and
/// `hash` are set where the entry joins the chain.
fn draft(event: AuditEvent) -> AuditRow {
    let details = serde_json::to_string(&event.details).unwrap_or_else(|_| "{}".into());
    AuditRow {
        seq: 0,
        at: DateTime::UNIX_EPOCH,
        kind: event.kind.as_str().into(),
        action: event.action,
        actor_id: event.actor.id,
        actor_role: event.actor.role,
        request_id: event.request_id,
        object_id: event.object_id,
        related_id: event.related_id,
        outcome: event.outcome,
        details,
        prev_hash: String::new(),
        hash: String::new(),
    }
}

/// Appends to the audit trail; shared by the HTTP service, the web UI and the CLI.
pub struct AuditLog {
    db: Database,
    pii_key: Vec<u8>,
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
                 and will not match across restarts or between replicas. Set audit.pii_key (REAGENT_AUDIT_PII_KEY) \
                 in production, the same on every replica."
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
        self.record_with(event, AuditedWrite::NOTHING).await
    }

    /// Appends `event` and stores `with` (the record it is about) in one database
    /// transaction: both or neither.
    pub async fn record_with(&self, event: AuditEvent, with: AuditedWrite) -> Result<AuditRow, AuditError> {
        Ok(self.db.audit_append(GENESIS, draft(event), entry_hash, with).await?)
    }

    /// [`AuditLog::record_with`] for several events, each with its record, as
    /// consecutive entries in one database transaction: all stored, or none.
    pub async fn record_all_with(&self, events: Vec<(AuditEvent, AuditedWrite)>) -> Result<Vec<AuditRow>, AuditError> {
        let entries = events.into_iter().map(|(event, with)| (draft(event), with)).collect();
        Ok(self.db.audit_append_all(GENESIS, entries, entry_hash).await?)
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

    /// Stores an analysis with the request that produced it and records it
    /// (`analysis.create`, the customer only as a pseudonym), in one transaction.
    pub async fn record_analysis(
        &self,
        actor: Actor,
        request_id: Option<&RequestId>,
        analysis: &crate::guidance::Analysis,
        request: &serde_json::Value,
        customer_id: &str,
    ) -> Result<AuditRow, AuditError> {
        let event = self.analysis_event(actor, request_id, analysis, customer_id);
        self.record_with(event, AuditedWrite::analysis(analysis, request)?).await
    }

    /// Stores several analyses, each with its request and its own `analysis.create`
    /// entry, in one database transaction: all of them, or none. Items are
    /// `(analysis, request, customer_id)`.
    pub async fn record_analyses(
        &self,
        actor: &Actor,
        request_id: Option<&RequestId>,
        items: &[(crate::guidance::Analysis, serde_json::Value, String)],
    ) -> Result<Vec<AuditRow>, AuditError> {
        let mut events = Vec::with_capacity(items.len());
        for (analysis, request, customer_id) in items {
            let event = self.analysis_event(actor.clone(), request_id, analysis, customer_id);
            events.push((event, AuditedWrite::analysis(analysis, request)?));
        }
        self.record_all_with(events).await
    }

    /// The `analysis.create` entry of `analysis` (the customer only as a pseudonym).
    fn analysis_event(
        &self,
        actor: Actor,
        request_id: Option<&RequestId>,
        analysis: &crate::guidance::Analysis,
        customer_id: &str,
    ) -> AuditEvent {
        let actions: Vec<&str> = analysis.required_actions.iter().map(|a| a.code.as_str()).collect();
        AuditEvent::new(AuditKind::Analysis, "analysis.create", actor, analysis.analysis_id.to_string())
            .request(request_id)
            .related(analysis.transaction_id.clone())
            .details(serde_json::json!({
                "transaction_id": analysis.transaction_id,
                "customer": self.pseudonym(customer_id),
                "risk_level": analysis.risk_level,
                "requires_review": analysis.requires_review,
                "actions": actions,
                "generator": analysis.generator.kind,
            }))
    }

    /// Records a question (`question.ask`): its text only as a SHA-256 and length.
    pub async fn question_asked(
        &self,
        actor: Actor,
        request_id: Option<&RequestId>,
        asked: &QuestionAsked<'_>,
    ) -> Result<AuditRow, AuditError> {
        let event = AuditEvent::new(AuditKind::Question, "question.ask", actor, asked.answer_id.to_string())
            .request(request_id)
            .related(asked.transaction_id.unwrap_or_default())
            .details(serde_json::json!({
                "transaction_id": asked.transaction_id,
                "customer": asked.customer_id.map(|c| self.pseudonym(c)),
                "question_sha256": hex::encode(Sha256::digest(asked.question.as_bytes())),
                "question_chars": asked.question.chars().count(),
                "citations": asked.citations,
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

/// The result of [`verify`] and [`verify_with`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Entries checked.
    pub entries: u64,
    /// The prune anchor the chain starts from, if any.
    pub anchor_seq: Option<i64>,
    /// Whether the anchor's signature was checked and holds (false without an
    /// anchor or without a configured public key).
    pub anchor_signed: bool,
    pub last_seq: Option<i64>,
    /// The chain's head, what a checkpoint signs: the last entry, else the anchor,
    /// else 0 and [`GENESIS`].
    pub head_seq: i64,
    pub head_hash: String,
    /// The checkpoints the chain was checked against.
    pub checkpoints: Vec<CheckpointCheck>,
    /// Stored checkpoints skipped because their signature does not verify with the
    /// configured public key (signed by an earlier key, or planted).
    pub unverified_stored_checkpoints: u64,
    /// The first entry that does not fit, if any.
    pub broken: Option<BrokenEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenEntry {
    pub seq: i64,
    pub reason: String,
}

/// One checkpoint the chain was checked against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointCheck {
    pub seq: i64,
    pub at: DateTime<Utc>,
    /// `stored checkpoint`, or `checkpoint file NAME`.
    pub source: String,
    /// `matched`, or `before the prune anchor` (the signed anchor then stands for it).
    pub outcome: String,
}

/// A checkpoint handed to [`verify_with`], and where it came from (for messages).
#[derive(Debug, Clone)]
pub struct GivenCheckpoint {
    pub checkpoint: Checkpoint,
    /// e.g. `checkpoint file cp-2026-12-06.json`.
    pub source: String,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.broken.is_none()
    }
}

const PAGE: i64 = 1000;

/// Recomputes the whole chain from the anchor (or [`GENESIS`]) and reports the
/// first bad entry, by the hashes alone: without keys, truncation, a rewrite with
/// recomputed hashes and a planted anchor go unnoticed (see [`verify_with`]).
pub async fn verify(db: &Database) -> Result<VerifyReport, AuditError> {
    verify_with(db, &CheckpointKeys::none(), &[]).await
}

/// [`verify`], and with a public key in `keys` also: the prune anchor must carry a
/// valid signature; every checkpoint in `given` must verify, and so must the chain
/// against it and against the newest stored checkpoint that verifies: the entry
/// at the checkpoint's seq must still have the signed hash (else the chain was
/// rewritten), and the chain must reach that entry (else it was truncated).
pub async fn verify_with(db: &Database, keys: &CheckpointKeys, given: &[GivenCheckpoint]) -> Result<VerifyReport, AuditError> {
    let key = keys.verifying();
    if !given.is_empty() && key.is_none() {
        return Err(AuditError::Config(
            "checking a checkpoint needs audit.checkpoint_public_key (REAGENT_AUDIT_CHECKPOINT_PUBLIC_KEY)".into(),
        ));
    }
    let anchor = db.audit_anchor().await?;
    let (start_seq, start_hash) = anchor.as_ref().map_or((0, GENESIS.to_string()), |a| (a.seq, a.hash.clone()));
    let mut report = VerifyReport {
        entries: 0,
        anchor_seq: anchor.as_ref().map(|a| a.seq),
        anchor_signed: false,
        last_seq: None,
        head_seq: start_seq,
        head_hash: start_hash.clone(),
        checkpoints: Vec::new(),
        unverified_stored_checkpoints: 0,
        broken: None,
    };
    let broken = |mut report: VerifyReport, seq: i64, reason: String| -> Result<VerifyReport, AuditError> {
        report.broken = Some(BrokenEntry { seq, reason });
        Ok(report)
    };

    let mut targets = Vec::new();
    if let Some(key) = key {
        if let Some(a) = &anchor {
            if let Err(e) = checkpoint::verify_anchor(key, a) {
                let reason = format!(
                    "the prune anchor at entry {} {e}; entries up to it may have been deleted and the anchor planted",
                    a.seq
                );
                return broken(report, a.seq, reason);
            }
            report.anchor_signed = true;
        }
        for g in given {
            if let Err(e) = g.checkpoint.verify(key) {
                return broken(report, g.checkpoint.seq, format!("{} {e}", g.source));
            }
            targets.push(g.clone());
        }
        let (stored, skipped) = newest_stored_checkpoint(db, key).await?;
        report.unverified_stored_checkpoints = skipped;
        targets.extend(stored.map(|checkpoint| GivenCheckpoint { checkpoint, source: "stored checkpoint".into() }));
    }
    let rewritten = |c: &GivenCheckpoint| {
        format!(
            "this entry no longer has the hash signed in the {} of {}: the chain was rewritten at or before it",
            c.source,
            c.checkpoint.at.to_rfc3339_opts(SecondsFormat::Secs, true)
        )
    };
    let matched = |c: &GivenCheckpoint, outcome: &str| CheckpointCheck {
        seq: c.checkpoint.seq,
        at: c.checkpoint.at,
        source: c.source.clone(),
        outcome: outcome.into(),
    };

    // Checkpoints up to the chain's start are settled now, the others on the walk.
    let mut pending = Vec::new();
    for c in targets {
        if c.checkpoint.seq < start_seq {
            report.checkpoints.push(matched(&c, "before the prune anchor"));
        } else if c.checkpoint.seq == start_seq {
            if c.checkpoint.hash != start_hash {
                let reason = rewritten(&c);
                return broken(report, start_seq, reason);
            }
            report.checkpoints.push(matched(&c, "matched"));
        } else {
            pending.push(c);
        }
    }
    pending.sort_by_key(|c| c.checkpoint.seq);
    let mut pending_idx = 0;

    let (mut expect_seq, mut prev) = (start_seq + 1, start_hash);
    let mut after = start_seq;
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
                return broken(report, row.seq, reason);
            }
            // Entries are contiguous from the start, so every pending seq up to the head is met.
            while let Some(c) = pending.get(pending_idx)
                && c.checkpoint.seq == row.seq
            {
                if c.checkpoint.hash != row.hash {
                    let reason = rewritten(c);
                    return broken(report, row.seq, reason);
                }
                report.checkpoints.push(matched(c, "matched"));
                pending_idx += 1;
            }
            prev = row.hash;
            expect_seq += 1;
        }
    }
    report.head_seq = expect_seq - 1;
    report.head_hash = prev;
    if let Some(c) = pending.last().filter(|_| pending_idx < pending.len()) {
        let head = report.head_seq;
        let reason = format!(
            "entries {} to {} are missing: the chain ends at entry {head}, but the {} of {} was signed with entry {} (truncated)",
            head + 1,
            c.checkpoint.seq,
            c.source,
            c.checkpoint.at.to_rfc3339_opts(SecondsFormat::Secs, true),
            c.checkpoint.seq
        );
        return broken(report, head + 1, reason);
    }
    Ok(report)
}

/// The newest stored checkpoint whose signature verifies with `key`, and how many
/// newer ones did not.
async fn newest_stored_checkpoint(db: &Database, key: &ed25519_dalek::VerifyingKey) -> Result<(Option<Checkpoint>, u64), AuditError> {
    const CHECKPOINT_PAGE: i64 = 100;
    let mut skipped = 0;
    let mut offset = 0;
    loop {
        let page = db.audit_checkpoints(offset, CHECKPOINT_PAGE).await?;
        if page.is_empty() {
            return Ok((None, skipped));
        }
        offset += CHECKPOINT_PAGE;
        for record in page {
            let checkpoint = Checkpoint::from_record(record);
            match checkpoint.verify(key) {
                Ok(()) => return Ok((Some(checkpoint), skipped)),
                Err(e) => {
                    tracing::warn!("stored audit checkpoint at entry {} skipped: it {e}", checkpoint.seq);
                    skipped += 1;
                }
            }
        }
    }
}

/// Verifies the chain (against the newest stored checkpoint too), then signs its
/// head, stores the checkpoint and returns it, for export to write-once storage.
pub async fn take_checkpoint(db: &Database, keys: &CheckpointKeys) -> Result<Checkpoint, AuditError> {
    if !keys.can_sign() {
        return Err(AuditError::Config(
            "a checkpoint needs audit.checkpoint_signing_key (REAGENT_AUDIT_CHECKPOINT_SIGNING_KEY); make one with `reagent audit keygen`"
                .into(),
        ));
    }
    let report = verify_with(db, keys, &[]).await?;
    if let Some(broken) = report.broken {
        return Err(AuditError::Broken { broken, refused: "not signing a checkpoint of it" });
    }
    let checkpoint = keys
        .sign_checkpoint(report.head_seq, &report.head_hash, crate::db::now())
        .ok_or_else(|| AuditError::Config("no signing key".into()))?;
    db.insert_audit_checkpoint(&checkpoint.to_record()).await?;
    Ok(checkpoint)
}

/// Signs the newest prune anchor if it is unsigned: the one-time step when a
/// checkpoint key is configured for a trail that was pruned before (whose anchor
/// would otherwise fail verification). Only the key holder can do this, so it
/// vouches for that anchor: check the chain against an earlier export first.
/// Returns the anchor's seq, or `None` if there is no unsigned anchor to sign; a
/// signed anchor whose signature does not verify is refused, not re-signed.
pub async fn sign_anchor(db: &Database, keys: &CheckpointKeys) -> Result<Option<i64>, AuditError> {
    let (Some(key), true) = (keys.verifying(), keys.can_sign()) else {
        return Err(AuditError::Config("signing the anchor needs audit.checkpoint_signing_key".into()));
    };
    let Some(anchor) = db.audit_anchor().await? else { return Ok(None) };
    match checkpoint::verify_anchor(key, &anchor) {
        Ok(()) => Ok(None),
        Err(SignatureError::Missing) => {
            let signature = keys
                .sign_anchor(anchor.seq, &anchor.hash, anchor.pruned_at)
                .ok_or_else(|| AuditError::Config("no signing key".into()))?;
            Ok(db.sign_audit_anchor(anchor.seq, &signature).await?.then_some(anchor.seq))
        }
        Err(e) => Err(AuditError::Config(format!("the prune anchor at entry {} {e}; not re-signing it", anchor.seq))),
    }
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
    /// Whether the new anchor is signed (with `audit.checkpoint_signing_key`).
    pub anchor_signed: bool,
}

/// Removes the longest prefix of entries all past their retention at `now` (see
/// the module doc), after checking the chain is intact, against the newest stored
/// checkpoint too (a broken chain is not pruned: it is evidence). With a checkpoint
/// key configured the new anchor is signed, and only the signing key may prune.
pub async fn prune(db: &Database, settings: &AuditSettings, now: DateTime<Utc>) -> Result<PruneReport, AuditError> {
    let keys = settings.checkpoint_keys()?;
    if keys.verifying().is_some() && !keys.can_sign() {
        return Err(AuditError::Config(
            "pruning writes a signed anchor: it needs audit.checkpoint_signing_key, not only audit.checkpoint_public_key".into(),
        ));
    }
    let check = verify_with(db, &keys, &[]).await?;
    if let Some(broken) = check.broken {
        return Err(AuditError::Broken { broken, refused: "not pruning" });
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
        return Ok(PruneReport { pruned: 0, through_seq: None, kept_from, anchor_signed: false });
    };
    let pruned_at = crate::db::now();
    let signature = keys.sign_anchor(through.seq, &through.hash, pruned_at);
    let pruned = db.audit_prune_through(&through, pruned_at, signature.as_deref().unwrap_or_default()).await?;
    Ok(PruneReport { pruned, through_seq: Some(through.seq), kept_from, anchor_signed: signature.is_some() })
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
