//! Owns the tally of refused requests (authentication failures, forbidden routes,
//! addresses throttled for failing too often): counted in memory per source and kind,
//! and written to the audit trail as one aggregated entry per source, action and actor
//! each time [`AuditLog::flush_refusals`](super::AuditLog::flush_refusals) runs
//! (every `audit.refusal_interval_seconds` while serving, and at shutdown).
//!
//! Why: one entry per refused request let 20 connections with bad keys write about
//! 2,800 entries a second and slow every other writer. The trail now grows with the
//! number of sources per interval, not with the number of requests; the counts, the
//! statuses, routes and reasons (each capped at [`MAX_LABELS`] distinct values) and the
//! first and last time are kept. At most [`MAX_KEYS`] groups are held between flushes;
//! refusals beyond that are counted under the source `other`. A crash loses at most
//! one interval of counts.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, SecondsFormat, Utc};

use super::{Actor, AuditEvent, AuditKind};

/// Groups held between two flushes; more are counted under the source `other`.
pub const MAX_KEYS: usize = 10_000;
/// Distinct routes, reasons and statuses kept per group; more are counted as `other`.
pub const MAX_LABELS: usize = 20;
/// Longest reason or route kept, in characters.
const MAX_LABEL_CHARS: usize = 200;

/// One refused request.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// Where it came from: `ip:<address>` (see `api::limits::source`), or
    /// `ip:unknown` when the server has no connection info.
    pub source: String,
    /// `auth.unauthenticated`, `auth.forbidden`, `auth.throttled`, `auth.web_sign_in`.
    pub action: &'static str,
    /// `rejected`, `denied`, `throttled`.
    pub outcome: &'static str,
    /// Anonymous unless the caller was authenticated (a forbidden route).
    pub actor: Actor,
    /// `METHOD /route/template`.
    pub route: String,
    pub status: u16,
    /// Why it was refused (logged reason, never the credential).
    pub reason: String,
    /// The request id, kept for the first refusal of a group.
    pub request_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    source: String,
    action: &'static str,
    outcome: &'static str,
    actor_id: String,
    actor_role: String,
}

#[derive(Debug)]
struct Group {
    count: u64,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    first_request_id: String,
    statuses: BTreeMap<String, u64>,
    routes: BTreeMap<String, u64>,
    reasons: BTreeMap<String, u64>,
}

/// Adds one to `label`'s count, or to `other` once [`MAX_LABELS`] labels are kept.
fn bump(counts: &mut BTreeMap<String, u64>, label: &str) {
    let label: String = label.chars().take(MAX_LABEL_CHARS).collect();
    if let Some(n) = counts.get_mut(&label) {
        *n += 1;
    } else if counts.len() < MAX_LABELS {
        counts.insert(label, 1);
    } else {
        *counts.entry("other".into()).or_insert(0) += 1;
    }
}

/// The counts of refusals since the last flush (see the module doc).
#[derive(Debug, Default)]
pub struct Tally {
    groups: Mutex<HashMap<GroupKey, Group>>,
}

impl Tally {
    /// Counts `refusal` at `at`. Cheap: a map update under a mutex, no I/O.
    pub fn count(&self, refusal: Refusal, at: DateTime<Utc>) {
        let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        let mut key = GroupKey {
            source: refusal.source,
            action: refusal.action,
            outcome: refusal.outcome,
            actor_id: refusal.actor.id,
            actor_role: refusal.actor.role,
        };
        if !groups.contains_key(&key) && groups.len() >= MAX_KEYS {
            key.source = "other".into();
        }
        let group = groups.entry(key).or_insert_with(|| Group {
            count: 0,
            first: at,
            last: at,
            first_request_id: refusal.request_id,
            statuses: BTreeMap::new(),
            routes: BTreeMap::new(),
            reasons: BTreeMap::new(),
        });
        group.count += 1;
        group.first = group.first.min(at);
        group.last = group.last.max(at);
        bump(&mut group.statuses, &refusal.status.to_string());
        bump(&mut group.routes, &refusal.route);
        bump(&mut group.reasons, &refusal.reason);
    }

    /// Refusals counted and not yet taken.
    pub fn pending(&self) -> u64 {
        self.groups.lock().unwrap_or_else(|p| p.into_inner()).values().map(|g| g.count).sum()
    }

    /// Takes every group counted so far as one audit event each, oldest first, and
    /// starts counting afresh.
    pub fn take(&self) -> Vec<AuditEvent> {
        let groups = std::mem::take(&mut *self.groups.lock().unwrap_or_else(|p| p.into_inner()));
        let mut groups: Vec<(GroupKey, Group)> = groups.into_iter().collect();
        groups.sort_by(|a, b| (a.1.first, &a.0.source).cmp(&(b.1.first, &b.0.source)));
        let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        groups
            .into_iter()
            .map(|(key, group)| {
                let actor = Actor { id: key.actor_id, role: key.actor_role };
                AuditEvent::new(AuditKind::AuthFailure, key.action, actor, key.source)
                    .outcome(key.outcome)
                    .details(serde_json::json!({
                        "aggregated": true,
                        "count": group.count,
                        "first_at": time(group.first),
                        "last_at": time(group.last),
                        "first_request_id": group.first_request_id,
                        "statuses": group.statuses,
                        "routes": group.routes,
                        "reasons": group.reasons,
                    }))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(source: &str, action: &'static str, route: &str, reason: &str) -> Refusal {
        Refusal {
            source: source.into(),
            action,
            outcome: "rejected",
            actor: Actor::anonymous(),
            route: route.into(),
            status: 401,
            reason: reason.into(),
            request_id: format!("rid-{route}"),
        }
    }

    #[test]
    fn refusals_are_grouped_by_source_and_action() {
        let tally = Tally::default();
        let t0 = Utc::now();
        for i in 0..1000 {
            let at = t0 + chrono::Duration::milliseconds(i);
            tally.count(refusal("ip:10.0.0.1", "auth.unauthenticated", "POST /api/v1/analyze", "no API key"), at);
        }
        tally.count(refusal("ip:10.0.0.2", "auth.unauthenticated", "GET /metrics", "no credential"), t0);
        tally.count(refusal("ip:10.0.0.1", "auth.throttled", "POST /api/v1/analyze", "budget"), t0);
        assert_eq!(tally.pending(), 1002);
        let events = tally.take();
        assert_eq!(events.len(), 3, "{events:#?}");
        assert_eq!(tally.pending(), 0, "taking starts afresh");
        let flood = events.iter().find(|e| e.object_id == "ip:10.0.0.1" && e.action == "auth.unauthenticated").unwrap();
        assert_eq!(flood.kind, AuditKind::AuthFailure);
        assert_eq!(flood.details["count"], 1000);
        assert_eq!(flood.details["routes"]["POST /api/v1/analyze"], 1000);
        assert_eq!(flood.details["statuses"]["401"], 1000);
        assert_eq!(flood.details["first_request_id"], "rid-POST /api/v1/analyze");
        assert!(flood.details["first_at"].as_str() < flood.details["last_at"].as_str());
        assert!(tally.take().is_empty());
    }

    #[test]
    fn labels_and_groups_are_capped() {
        let tally = Tally::default();
        let t0 = Utc::now();
        for i in 0..(MAX_LABELS + 30) {
            tally.count(refusal("ip:10.0.0.1", "auth.unauthenticated", &format!("GET /api/v{i}"), &"x".repeat(5000)), t0);
        }
        for i in 0..(MAX_KEYS + 5) {
            tally.count(refusal(&format!("ip:{i}"), "auth.forbidden", "GET /", "role"), t0);
        }
        let events = tally.take();
        assert_eq!(events.len(), MAX_KEYS + 1, "the groups beyond the cap share one");
        let first = events.iter().find(|e| e.object_id == "ip:10.0.0.1").unwrap();
        let routes = first.details["routes"].as_object().unwrap();
        assert_eq!(routes.len(), MAX_LABELS + 1);
        assert_eq!(routes["other"], 30);
        let reason = first.details["reasons"].as_object().unwrap().keys().next().unwrap().clone();
        assert_eq!(reason.chars().count(), MAX_LABEL_CHARS);
        let other: u64 = events.iter().filter(|e| e.object_id == "other").map(|e| e.details["count"].as_u64().unwrap()).sum();
        assert_eq!(other, 6, "sources past the cap are counted under other");
    }
}
