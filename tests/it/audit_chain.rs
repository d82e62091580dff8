//! The audit trail and API keys at the database level, on SQLite and (when
//! `REAGENT_TEST_POSTGRES_URL` is set) PostgreSQL: the hash chain verifies, one
//! flipped byte or a deleted entry is found at that entry, concurrent appenders
//! from two "processes" never fork the chain, pruning keeps it verifiable, the
//! export is JSON lines, and API keys are stored only as hashes and can be revoked.
//! Signed checkpoints and anchors (issue 17, section 5) catch the three attacks the
//! hashes alone miss: truncating the newest entries, rewriting an entry with every
//! later hash recomputed, and deleting a prefix behind a planted anchor.

use chrono::{Duration, Utc};
use reagent::audit::{self, Actor, AuditEvent, AuditKind, AuditLog, AuditSettings, Checkpoint, CheckpointKeys, GivenCheckpoint};
use reagent::auth::{AuthError, AuthSettings, Authenticator, Role};
use reagent::db::{Database, DatabaseSettings};
use sqlx::Connection;

/// A fresh database of each available backend: `(label, url, cleanup)`.
async fn backends() -> Vec<(String, String, Box<dyn FnOnce() + Send>)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}?mode=rwc", dir.path().join("audit.db").display());
    let mut out: Vec<(String, String, Box<dyn FnOnce() + Send>)> =
        vec![("sqlite".into(), sqlite, Box::new(move || drop(dir)))];
    if let Some(database) = crate::common::postgres::fresh_database().await {
        out.push(("postgres".into(), database.url.clone(), Box::new(move || drop(database))));
    }
    out
}

async fn open(url: &str) -> Database {
    Database::open(&DatabaseSettings::new(url)).await.unwrap()
}

fn settings() -> AuditSettings {
    AuditSettings { pii_key: "k".repeat(32), ..Default::default() }
}

fn event(kind: AuditKind, n: usize) -> AuditEvent {
    AuditEvent::new(kind, "test.event", Actor { id: format!("actor{n}"), role: "analyst".into() }, format!("object-{n}"))
        .related("TXN001")
        .details(serde_json::json!({ "n": n, "text": "café ✓" }))
}

/// Runs a statement on the raw database, outside the application.
async fn raw(db_url: &str, sql: &str, text: Option<&str>, seq: i64) {
    if db_url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(db_url).await.unwrap();
        let q = sqlx::query(sql);
        let q = if let Some(t) = text { q.bind(t.to_string()) } else { q };
        q.bind(seq).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::PgConnection::connect(db_url).await.unwrap();
        let q = sqlx::query(sql);
        let q = if let Some(t) = text { q.bind(t.to_string()) } else { q };
        q.bind(seq).execute(&mut c).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_verifies_and_a_flipped_byte_is_found_at_its_entry() {
    for (label, url, cleanup) in backends().await {
        let db = open(&url).await;
        let log = AuditLog::new(db.clone(), &settings()).unwrap();
        for n in 1..=6 {
            let row = log.record(event(AuditKind::Analysis, n)).await.unwrap();
            assert_eq!(row.seq, n as i64, "{label}");
        }
        let report = audit::verify(&db).await.unwrap();
        assert!(report.ok(), "{label}: {report:?}");
        assert_eq!((report.entries, report.last_seq), (6, Some(6)), "{label}");

        // Flip one byte of entry 3's stored details.
        let details = db.audit_page(2, 1).await.unwrap()[0].details.clone();
        let mut bytes = details.into_bytes();
        bytes[0] ^= 0x01; // '{' → 'z'
        let flipped = String::from_utf8(bytes).unwrap();
        raw(&url, "UPDATE audit_log SET details = $1 WHERE seq = $2", Some(&flipped), 3).await;
        let report = audit::verify(&db).await.unwrap();
        let broken = report.broken.expect("tampering must be found");
        assert_eq!(broken.seq, 3, "{label}: {broken:?}");
        assert!(broken.reason.contains("content"), "{label}: {broken:?}");

        // Deleting an entry (after restoring 3) is found at the next one.
        let mut original = flipped.into_bytes();
        original[0] ^= 0x01;
        raw(&url, "UPDATE audit_log SET details = $1 WHERE seq = $2", Some(&String::from_utf8(original).unwrap()), 3).await;
        assert!(audit::verify(&db).await.unwrap().ok(), "{label}: restored");
        raw(&url, "DELETE FROM audit_log WHERE seq = $1", None, 4).await;
        let broken = audit::verify(&db).await.unwrap().broken.expect("deletion must be found");
        assert_eq!(broken.seq, 5, "{label}: {broken:?}");
        db.close().await;
        cleanup();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appenders_in_two_processes_keep_one_chain() {
    for (label, url, cleanup) in backends().await {
        // Two pools and two logs (two mutexes): as two processes would be.
        let a = std::sync::Arc::new(AuditLog::new(open(&url).await, &settings()).unwrap());
        let b = std::sync::Arc::new(AuditLog::new(open(&url).await, &settings()).unwrap());
        let mut tasks = Vec::new();
        for n in 0..40 {
            let log = if n % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move { log.record(event(AuditKind::Question, n)).await.map(|r| r.seq) }));
        }
        let mut seqs = Vec::new();
        for t in tasks {
            seqs.push(t.await.unwrap().unwrap_or_else(|e| panic!("{label}: {e}")));
        }
        seqs.sort();
        assert_eq!(seqs, (1..=40).collect::<Vec<i64>>(), "{label}");
        let report = audit::verify(a.db()).await.unwrap();
        assert!(report.ok() && report.entries == 40, "{label}: {report:?}");
        cleanup();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruning_keeps_the_chain_verifiable_and_export_is_jsonl() {
    for (label, url, cleanup) in backends().await {
        let db = open(&url).await;
        let s = AuditSettings { retention_auth_failure_days: 30, ..settings() };
        let log = AuditLog::new(db.clone(), &s).unwrap();
        for (n, kind) in [AuditKind::AuthFailure, AuditKind::AuthFailure, AuditKind::Decision, AuditKind::AuthFailure].into_iter().enumerate() {
            log.record(event(kind, n)).await.unwrap();
        }
        // Nothing is old enough yet.
        let r = audit::prune(&db, &s, Utc::now()).await.unwrap();
        assert_eq!((r.pruned, r.through_seq, r.kept_from), (0, None, Some(1)), "{label}");
        // In 60 days the two leading auth failures are past retention; the decision
        // (5 years) holds back the later auth failure.
        let r = audit::prune(&db, &s, Utc::now() + Duration::days(60)).await.unwrap();
        assert_eq!((r.pruned, r.through_seq, r.kept_from), (2, Some(2), Some(3)), "{label}");
        let report = audit::verify(&db).await.unwrap();
        assert!(report.ok(), "{label}: {report:?}");
        assert_eq!((report.anchor_seq, report.entries), (Some(2), 2), "{label}");
        // The chain continues after the anchor.
        assert_eq!(log.record(event(AuditKind::Key, 9)).await.unwrap().seq, 5, "{label}");
        assert!(audit::verify(&db).await.unwrap().ok(), "{label}");
        // A changed first entry after the anchor is still caught.
        raw(&url, "UPDATE audit_log SET outcome = $1 WHERE seq = $2", Some("denied"), 3).await;
        assert_eq!(audit::verify(&db).await.unwrap().broken.map(|b| b.seq), Some(3), "{label}");
        // ...and a broken chain is not pruned.
        assert!(audit::prune(&db, &s, Utc::now() + Duration::days(4000)).await.is_err(), "{label}");

        let mut out = Vec::new();
        let n = audit::export(&db, &mut out, None).await.unwrap();
        let lines: Vec<serde_json::Value> =
            String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!((n, lines.len()), (3, 3), "{label}");
        assert_eq!(lines[0]["seq"], 3);
        assert!(lines.iter().all(|l| l["hash"].as_str().is_some_and(|h| h.len() == 64)), "{label}");
        let mut out = Vec::new();
        assert_eq!(audit::export(&db, &mut out, Some(Utc::now() + Duration::days(1))).await.unwrap(), 0, "{label}");
        cleanup();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pseudonyms_are_keyed_and_stable() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&format!("sqlite://{}?mode=rwc", dir.path().join("p.db").display())).await;
    let a = AuditLog::new(db.clone(), &settings()).unwrap();
    let b = AuditLog::new(db.clone(), &settings()).unwrap();
    let other = AuditLog::new(db.clone(), &AuditSettings { pii_key: "z".repeat(32), ..Default::default() }).unwrap();
    let p = a.pseudonym("CUST-0042");
    assert!(p.starts_with("hmac:") && !p.contains("0042"), "{p}");
    assert_eq!(p, b.pseudonym("CUST-0042"));
    assert_ne!(p, other.pseudonym("CUST-0042"));
    assert_ne!(p, a.pseudonym("CUST-0043"));
    assert!(AuditLog::new(db, &AuditSettings { pii_key: "short".into(), ..Default::default() }).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_are_hashed_verified_and_revoked() {
    for (label, url, cleanup) in backends().await {
        let db = open(&url).await;
        let auth = Authenticator::new(db.clone(), &AuthSettings::default()).unwrap();
        let created = auth.create_key("ci bot", Role::Analyst).await.unwrap();
        assert!(created.key.starts_with(&format!("rk_{}_", created.info.key_id)), "{label}");
        let stored = db.get_api_key(&created.info.key_id).await.unwrap().unwrap();
        let secret = created.key.rsplit('_').next().unwrap();
        assert!(stored.secret_hash.starts_with("$argon2id$") && !stored.secret_hash.contains(secret), "{label}");

        let p = auth.authenticate(&created.key).await.unwrap();
        assert_eq!((p.role, p.name.as_str(), p.id.as_str()), (Role::Analyst, "ci bot", created.info.key_id.as_str()), "{label}");
        // Cached now; a wrong secret with the same id is still refused.
        let mut wrong = created.key.clone();
        let last = wrong.pop().unwrap();
        wrong.push(if last == '0' { '1' } else { '0' });
        assert!(matches!(auth.authenticate(&wrong).await, Err(AuthError::Invalid(_))), "{label}");
        assert!(matches!(auth.authenticate("rk_nothex_x").await, Err(AuthError::Invalid(_))), "{label}");
        assert!(matches!(auth.authenticate("").await, Err(AuthError::Missing)), "{label}");

        let revoked = auth.revoke_key(&created.info.key_id).await.unwrap();
        assert!(revoked.revoked_at.is_some(), "{label}");
        assert!(matches!(auth.authenticate(&created.key).await, Err(AuthError::Invalid(_))), "{label}: revocation beats the cache");
        assert!(auth.revoke_key("000000000000").await.is_err(), "{label}");
        let keys = auth.list_keys().await.unwrap();
        assert_eq!(keys.len(), 1, "{label}");
        assert!(matches!(auth.create_key(" ", Role::Admin).await, Err(AuthError::BadInput { .. })), "{label}");
        cleanup();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_cache_entry_rereads_the_key_record() {
    for (label, url, cleanup) in backends().await {
        let db = open(&url).await;
        let auth = Authenticator::new(db.clone(), &AuthSettings { key_cache_seconds: 1, ..Default::default() }).unwrap();
        let created = auth.create_key("officer", Role::ComplianceOfficer).await.unwrap();
        auth.authenticate(&created.key).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        // Expired: the record is read again and the key (verified before) still works.
        assert_eq!(auth.authenticate(&created.key).await.unwrap().role, Role::ComplianceOfficer, "{label}");
        // Revoked by another process (the CLI), which cannot clear this cache: refused
        // once the entry expires.
        db.revoke_api_key(&created.info.key_id, chrono::Utc::now()).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert!(matches!(auth.authenticate(&created.key).await, Err(AuthError::Invalid(_))), "{label}: revoked elsewhere");
        cleanup();
    }
}

/// RS256: a token signed with a private key (made here by `openssl`) is accepted with the
/// public key configured; one signed by another key, or carrying an unknown role, is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_bearer_tokens_are_checked_against_the_configured_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let keypair = |name: &str| {
        let private = dir.path().join(format!("{name}.pem"));
        let public = dir.path().join(format!("{name}.pub.pem"));
        let ok = std::process::Command::new("openssl")
            .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
            .arg(&private)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
            && std::process::Command::new("openssl")
                .args(["pkey", "-pubout", "-in"])
                .arg(&private)
                .arg("-out")
                .arg(&public)
                .status()
                .is_ok_and(|s| s.success());
        ok.then(|| (std::fs::read(&private).unwrap(), public))
    };
    let (Some((private, public)), Some((other_private, _))) = (keypair("issuer"), keypair("other")) else {
        eprintln!("skipped: openssl could not make RSA keys here");
        return;
    };
    let db = open(&format!("sqlite://{}?mode=rwc", dir.path().join("jwt.db").display())).await;
    let settings = AuthSettings { jwt_rs256_public_key_file: public.display().to_string(), ..Default::default() };
    let auth = Authenticator::new(db, &settings).unwrap();
    let token = |pem: &[u8], role: &str| {
        let claims = serde_json::json!({"sub": "sso|42", "role": role, "exp": (Utc::now() + Duration::minutes(5)).timestamp()});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_rsa_pem(pem).unwrap(),
        )
        .unwrap()
    };
    let p = auth.authenticate(&token(&private, "compliance_officer")).await.unwrap();
    assert_eq!((p.role, p.id.as_str()), (Role::ComplianceOfficer, "jwt:sso|42"));
    assert!(matches!(auth.authenticate(&token(&other_private, "admin")).await, Err(AuthError::Invalid(_))), "another signer");
    assert!(matches!(auth.authenticate(&token(&private, "root")).await, Err(AuthError::Invalid(_))), "unknown role");
}

/// The key of the checkpoint tests, as `[audit]` settings would configure it.
const SIGNING_KEY: &str = "4242424242424242424242424242424242424242424242424242424242424242";

fn keyed_settings() -> AuditSettings {
    AuditSettings { checkpoint_signing_key: SIGNING_KEY.into(), ..settings() }
}

/// What an examiner holds: the public key only.
fn examiner() -> CheckpointKeys {
    keyed_settings().checkpoint_keys().unwrap().public_only()
}

fn given(checkpoint: &Checkpoint) -> Vec<GivenCheckpoint> {
    // Through its JSON document, as it comes back from write-once storage.
    let text = serde_json::to_string_pretty(checkpoint).unwrap();
    vec![GivenCheckpoint { checkpoint: Checkpoint::from_json(&text).unwrap(), source: "checkpoint file cp.json".into() }]
}

/// Runs a statement on the raw database binding `texts` ($1, $2, ...) then `ints`.
async fn raw_exec(db_url: &str, sql: &str, texts: &[&str], ints: &[i64]) {
    macro_rules! run {
        ($conn:expr) => {{
            let mut q = sqlx::query(sql);
            for t in texts {
                q = q.bind(t.to_string());
            }
            for i in ints {
                q = q.bind(*i);
            }
            q.execute(&mut $conn).await.unwrap();
        }};
    }
    if db_url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(db_url).await.unwrap();
        run!(c)
    } else {
        let mut c = sqlx::PgConnection::connect(db_url).await.unwrap();
        run!(c)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_newest_50_entries_is_found_by_a_checkpoint() {
    for (label, url, cleanup) in backends().await {
        let db = open(&url).await;
        let log = AuditLog::new(db.clone(), &keyed_settings()).unwrap();
        for n in 1..=60 {
            log.record(event(AuditKind::Analysis, n)).await.unwrap();
        }
        let keys = keyed_settings().checkpoint_keys().unwrap();
        let checkpoint = audit::take_checkpoint(&db, &keys).await.unwrap();
        assert_eq!(checkpoint.seq, 60, "{label}");
        let report = audit::verify_with(&db, &examiner(), &given(&checkpoint)).await.unwrap();
        assert!(report.ok(), "{label}: {report:?}");
        assert_eq!(report.checkpoints.len(), 2, "{label}: the file and the stored copy: {report:?}");
        // Appending after a checkpoint is normal.
        log.record(event(AuditKind::Analysis, 61)).await.unwrap();
        assert!(audit::verify_with(&db, &examiner(), &given(&checkpoint)).await.unwrap().ok(), "{label}");

        raw(&url, "DELETE FROM audit_log WHERE seq > $1", None, 11).await;
        // The hashes alone cannot tell: what is left is a valid chain.
        assert!(audit::verify(&db).await.unwrap().ok(), "{label}: the attack works without a checkpoint");
        let broken = audit::verify_with(&db, &examiner(), &given(&checkpoint)).await.unwrap().broken.expect("truncation");
        assert_eq!(broken.seq, 12, "{label}: {broken:?}");
        assert!(broken.reason.contains("entries 12 to 60 are missing") && broken.reason.contains("truncated"), "{label}: {broken:?}");
        // The stored checkpoint alone catches it too...
        let broken = audit::verify_with(&db, &examiner(), &[]).await.unwrap().broken.expect("truncation");
        assert!(broken.reason.contains("stored checkpoint"), "{label}: {broken:?}");
        // ...until the attacker deletes it as well; then the exported copy still does.
        raw(&url, "DELETE FROM audit_checkpoint WHERE seq > $1", None, 0).await;
        assert!(audit::verify_with(&db, &examiner(), &[]).await.unwrap().ok(), "{label}");
        let broken = audit::verify_with(&db, &examiner(), &given(&checkpoint)).await.unwrap().broken.expect("truncation");
        assert!(broken.reason.contains("checkpoint file cp.json"), "{label}: {broken:?}");
        // A broken chain is neither checkpointed nor pruned.
        raw(&url, "INSERT INTO audit_checkpoint (seq, hash, at, public_key, signature) SELECT seq, hash, at, 'x', 'y' FROM audit_log WHERE seq = $1", None, 1).await;
        assert!(audit::verify_with(&db, &examiner(), &[]).await.unwrap().ok(), "{label}: an unsigned stored row is skipped");
        db.insert_audit_checkpoint(&checkpoint.to_record()).await.unwrap();
        assert!(matches!(audit::take_checkpoint(&db, &keys).await, Err(audit::AuditError::Broken { .. })), "{label}");
        assert!(matches!(audit::prune(&db, &keyed_settings(), Utc::now()).await, Err(audit::AuditError::Broken { .. })), "{label}");
        db.close().await;
        cleanup();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewriting_an_entry_and_recomputing_every_later_hash_is_found_by_a_checkpoint() {
    for (label, url, cleanup) in backends().await {
        let db = open(&url).await;
        let log = AuditLog::new(db.clone(), &keyed_settings()).unwrap();
        for n in 1..=20 {
            log.record(event(AuditKind::Decision, n)).await.unwrap();
        }
        let checkpoint = audit::take_checkpoint(&db, &keyed_settings().checkpoint_keys().unwrap()).await.unwrap();
        for n in 21..=25 {
            log.record(event(AuditKind::Decision, n)).await.unwrap();
        }

        // Rewrite entry 5 ("denied" instead of "success") and recompute the chain from there.
        let mut rows = db.audit_page(0, 100).await.unwrap();
        let mut prev = rows[3].hash.clone();
        for row in rows.iter_mut().skip(4) {
            if row.seq == 5 {
                row.outcome = "denied".into();
            }
            row.prev_hash = prev;
            row.hash = audit::entry_hash(row);
            prev = row.hash.clone();
            raw_exec(&url, "UPDATE audit_log SET outcome = $1, prev_hash = $2, hash = $3 WHERE seq = $4", &[&row.outcome, &row.prev_hash, &row.hash], &[row.seq])
                .await;
        }
        assert!(audit::verify(&db).await.unwrap().ok(), "{label}: the attack works without a checkpoint");
        for checkpoints in [given(&checkpoint), vec![]] {
            let broken = audit::verify_with(&db, &examiner(), &checkpoints).await.unwrap().broken.expect("rewrite");
            assert_eq!(broken.seq, 20, "{label}: {broken:?}");
            assert!(broken.reason.contains("no longer has the hash signed") && broken.reason.contains("rewritten"), "{label}: {broken:?}");
        }
        db.close().await;
        cleanup();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_prefix_behind_a_planted_anchor_is_found_by_its_signature() {
    for (label, url, cleanup) in backends().await {
        let db = open(&url).await;
        let s = AuditSettings { retention_auth_failure_days: 30, ..keyed_settings() };
        let log = AuditLog::new(db.clone(), &s).unwrap();
        let record = |n: usize| log.record(event(if n <= 5 { AuditKind::AuthFailure } else { AuditKind::Key }, n));
        for n in 1..=3 {
            record(n).await.unwrap();
        }
        let early = audit::take_checkpoint(&db, &s.checkpoint_keys().unwrap()).await.unwrap();
        for n in 4..=30 {
            record(n).await.unwrap();
        }
        // A legitimate prune writes a signed anchor, which verifies; the earlier
        // checkpoint now lies before it.
        let pruned = audit::prune(&db, &s, Utc::now() + Duration::days(60)).await.unwrap();
        assert_eq!((pruned.pruned, pruned.through_seq, pruned.anchor_signed), (5, Some(5), true), "{label}");
        let report = audit::verify_with(&db, &examiner(), &given(&early)).await.unwrap();
        assert!(report.ok() && report.anchor_signed, "{label}: {report:?}");
        assert!(report.checkpoints.iter().all(|c| c.outcome == "before the prune anchor"), "{label}: {report:?}");
        // Pruning needs the signing key once a key is configured.
        let examiner_settings = AuditSettings { checkpoint_public_key: examiner().public_key_hex().unwrap(), checkpoint_signing_key: String::new(), ..s.clone() };
        assert!(matches!(audit::prune(&db, &examiner_settings, Utc::now()).await, Err(audit::AuditError::Config(_))), "{label}");

        // The attacker deletes entries 6..=15 and plants an anchor at 15: the
        // hashes alone accept it.
        let hash_15 = db.audit_page(14, 1).await.unwrap()[0].hash.clone();
        raw(&url, "DELETE FROM audit_log WHERE seq <= $1", None, 15).await;
        let plant = "INSERT INTO audit_anchor (hash, signature, seq, pruned_at, pruned) VALUES ($1, $2, $3, '2026-12-06T00:00:00.000000Z', 10)";
        raw_exec(&url, plant, &[&hash_15, ""], &[15]).await;
        let report = audit::verify(&db).await.unwrap();
        assert!(report.ok() && report.anchor_seq == Some(15), "{label}: the attack works without a key: {report:?}");
        let broken = audit::verify_with(&db, &examiner(), &[]).await.unwrap().broken.expect("planted anchor");
        assert_eq!(broken.seq, 15, "{label}: {broken:?}");
        assert!(broken.reason.contains("prune anchor at entry 15 is not signed"), "{label}: {broken:?}");

        // Signed with another key, or with the real anchor's signature copied: refused too.
        let pruned_at = chrono::DateTime::parse_from_rfc3339("2026-12-06T00:00:00Z").unwrap().with_timezone(&Utc);
        let forged = CheckpointKeys::from_seed([9; 32]).sign_anchor(15, &hash_15, pruned_at).unwrap();
        raw_exec(&url, "UPDATE audit_anchor SET signature = $1 WHERE seq = $2", &[&forged], &[15]).await;
        let broken = audit::verify_with(&db, &examiner(), &[]).await.unwrap().broken.expect("forged anchor");
        assert!(broken.reason.contains("does not verify"), "{label}: {broken:?}");
        assert!(audit::sign_anchor(&db, &s.checkpoint_keys().unwrap()).await.is_err(), "{label}: a forged anchor is not re-signed");
        raw_exec(&url, "UPDATE audit_anchor SET signature = (SELECT signature FROM audit_anchor WHERE seq = $1) WHERE seq = $2", &[], &[5, 15]).await;
        let broken = audit::verify_with(&db, &examiner(), &[]).await.unwrap().broken.expect("copied signature");
        assert!(broken.reason.contains("does not verify"), "{label}: {broken:?}");
        db.close().await;
        cleanup();
    }
}

/// The commands as an operator and an examiner run them: keygen, checkpoint --out,
/// verify --checkpoint with only the public key, and `config show` masking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_and_verify_commands_catch_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("cli.db").display());
    let reagent = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_reagent"));
        cmd.args(args).current_dir(dir.path()).env("REAGENT_DATABASE_URL", &url);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let keygen = reagent(&["audit", "keygen"], &[]);
    assert!(keygen.status.success());
    let keygen = String::from_utf8(keygen.stdout).unwrap();
    let value = |name: &str| {
        keygen.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim_matches([' ', '=', '"']).to_string()).unwrap()
    };
    let (signing, public) = (value("checkpoint_signing_key"), value("checkpoint_public_key"));
    let operator = [("REAGENT_AUDIT_CHECKPOINT_SIGNING_KEY", signing.as_str())];
    let examiner = [("REAGENT_AUDIT_CHECKPOINT_PUBLIC_KEY", public.as_str())];

    let shown = String::from_utf8(reagent(&["config", "show"], &[operator[0], examiner[0]]).stdout).unwrap();
    assert!(!shown.contains(&signing) && shown.contains(&public), "{shown}");
    let bad = reagent(&["config", "show"], &[("REAGENT_AUDIT_CHECKPOINT_SIGNING_KEY", "short")]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("audit.checkpoint_signing_key"));

    let db = open(&url).await;
    let log = AuditLog::new(db.clone(), &settings()).unwrap();
    for n in 1..=8 {
        log.record(event(AuditKind::Question, n)).await.unwrap();
    }
    let cp = dir.path().join("cp.json");
    let out = reagent(&["audit", "checkpoint", "--out", cp.to_str().unwrap()], &operator);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(Checkpoint::from_json(&std::fs::read_to_string(&cp).unwrap()).unwrap().seq, 8);
    assert!(!reagent(&["audit", "checkpoint"], &examiner).status.success(), "signing needs the signing key");

    let verify = |env: &[(&str, &str)]| reagent(&["audit", "verify", "--checkpoint", cp.to_str().unwrap()], env);
    let ok = verify(&examiner);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("checkpoint file"), "{}", String::from_utf8_lossy(&ok.stdout));
    assert!(!verify(&[]).status.success(), "a checkpoint cannot be checked without a public key");

    raw(&url, "DELETE FROM audit_log WHERE seq > $1", None, 3).await;
    raw(&url, "DELETE FROM audit_checkpoint WHERE seq > $1", None, 0).await;
    let plain = reagent(&["audit", "verify"], &[]);
    assert!(plain.status.success() && String::from_utf8_lossy(&plain.stderr).contains("warning"), "hashes alone");
    let caught = verify(&examiner);
    let stderr = String::from_utf8_lossy(&caught.stderr);
    assert_eq!(caught.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("BROKEN at entry 4") && stderr.contains("entries 4 to 8 are missing"), "{stderr}");
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anchor_from_before_the_key_is_signed_once_by_the_key_holder() {
    for (label, url, cleanup) in backends().await {
        let db = open(&url).await;
        let unkeyed = AuditSettings { retention_auth_failure_days: 30, ..settings() };
        let log = AuditLog::new(db.clone(), &unkeyed).unwrap();
        for n in 1..=4 {
            log.record(event(if n <= 2 { AuditKind::AuthFailure } else { AuditKind::Key }, n)).await.unwrap();
        }
        let pruned = audit::prune(&db, &unkeyed, Utc::now() + Duration::days(60)).await.unwrap();
        assert_eq!((pruned.through_seq, pruned.anchor_signed), (Some(2), false), "{label}");
        // Configuring a key makes the unsigned anchor fail...
        let broken = audit::verify_with(&db, &examiner(), &[]).await.unwrap().broken.expect("unsigned anchor");
        assert!(broken.reason.contains("is not signed"), "{label}: {broken:?}");
        // ...the examiner cannot sign it, the key holder can, once.
        assert!(audit::sign_anchor(&db, &examiner()).await.is_err(), "{label}");
        let keys = keyed_settings().checkpoint_keys().unwrap();
        assert_eq!(audit::sign_anchor(&db, &keys).await.unwrap(), Some(2), "{label}");
        assert_eq!(audit::sign_anchor(&db, &keys).await.unwrap(), None, "{label}");
        assert!(audit::verify_with(&db, &examiner(), &[]).await.unwrap().ok(), "{label}");
        db.close().await;
        cleanup();
    }
}
