//! Owns the signatures of the audit trail: Ed25519 checkpoints of the chain's head
//! and signed prune anchors (issue 17, section 5).
//!
//! The hash chain alone is unkeyed, so whoever can write the database can cut off
//! the newest entries, rewrite an entry and recompute every later hash, or delete a
//! prefix and plant a matching anchor, and the chain still verifies. A [`Checkpoint`]
//! fixes the head (seq, hash, time) under a signature made with
//! `audit.checkpoint_signing_key`, a key kept outside the database. Exported to
//! write-once storage it lets [`super::verify_with`] report entries missing after
//! it (truncation) and a chain that no longer holds the checkpointed hash (rewrite).
//! Prune anchors are signed with the same key under another domain-separation tag,
//! so a checkpoint's signature cannot be replayed as an anchor. Verifying needs only
//! the public key (`audit.checkpoint_public_key`), which is what an examiner holds.

use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{AuditError, AuditSettings};
use crate::db::{AuditAnchor, CheckpointRecord};

/// The `format` of a checkpoint document, and the tag its signed message starts with.
pub const CHECKPOINT_FORMAT: &str = "reagent-audit-checkpoint-v1";

/// The tag a prune anchor's signed message starts with.
const ANCHOR_TAG: &str = "reagent-audit-anchor-v1";

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureError {
    #[error("is not signed")]
    Missing,
    #[error("has a malformed signature ({0})")]
    Malformed(String),
    #[error("was signed by another key ({0}), not the configured audit.checkpoint_public_key")]
    OtherKey(String),
    #[error("has a signature that does not verify with the configured public key (forged or altered)")]
    Invalid,
}

/// The signed head of the chain: entry `seq` had hash `hash` at `at`. This is the
/// document `reagent audit checkpoint` prints and stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Always [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// The last entry of the chain when the checkpoint was taken (the prune
    /// anchor's, or 0 for an empty chain).
    pub seq: i64,
    /// That entry's hash ([`super::GENESIS`] for an empty chain).
    pub hash: String,
    pub at: DateTime<Utc>,
    /// The signer's public key (hex), to tell keys apart; never trusted for verifying.
    pub public_key: String,
    /// Ed25519 over [`checkpoint_message`] (hex).
    pub signature: String,
}

impl Checkpoint {
    /// Checks the document's signature with `key` (the configured public key).
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), SignatureError> {
        if self.format != CHECKPOINT_FORMAT {
            return Err(SignatureError::Malformed(format!("format {:?} is not {CHECKPOINT_FORMAT:?}", self.format)));
        }
        let message = checkpoint_message(self.seq, &self.hash, self.at);
        match check(key, &message, &self.signature) {
            Err(SignatureError::Invalid) if !self.public_key.eq_ignore_ascii_case(&hex::encode(key.as_bytes())) => {
                Err(SignatureError::OtherKey(short(&self.public_key)))
            }
            other => other,
        }
    }

    /// Reads a checkpoint document (as written by `reagent audit checkpoint`).
    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("not a checkpoint document: {e}"))
    }

    pub fn to_record(&self) -> CheckpointRecord {
        CheckpointRecord {
            seq: self.seq,
            hash: self.hash.clone(),
            at: self.at,
            public_key: self.public_key.clone(),
            signature: self.signature.clone(),
        }
    }

    pub fn from_record(record: CheckpointRecord) -> Self {
        Self {
            format: CHECKPOINT_FORMAT.into(),
            seq: record.seq,
            hash: record.hash,
            at: record.at,
            public_key: record.public_key,
            signature: record.signature,
        }
    }
}

/// The keys of `[audit]`: the signing key if this process may sign, the public key
/// if it can check signatures. Both absent: checkpoints are off (verification then
/// cannot detect truncation, rewrites or planted anchors).
#[derive(Clone, Default)]
pub struct CheckpointKeys {
    signing: Option<SigningKey>,
    verifying: Option<VerifyingKey>,
}

impl std::fmt::Debug for CheckpointKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointKeys")
            .field("can_sign", &self.signing.is_some())
            .field("public_key", &self.public_key_hex())
            .finish()
    }
}

impl CheckpointKeys {
    /// No keys: the chain is verified by its hashes alone.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses `audit.checkpoint_signing_key` and `audit.checkpoint_public_key`
    /// (64 hex digits each; the public key defaults to the signing key's, and must
    /// match it when both are set). Errors name the setting.
    pub fn from_settings(settings: &AuditSettings) -> Result<Self, (String, String)> {
        let signing = match settings.checkpoint_signing_key.trim() {
            "" => None,
            text => Some(SigningKey::from_bytes(&key_bytes(text).map_err(|r| ("audit.checkpoint_signing_key".to_string(), r))?)),
        };
        let configured = match settings.checkpoint_public_key.trim() {
            "" => None,
            text => {
                let bytes = key_bytes(text).map_err(|r| ("audit.checkpoint_public_key".to_string(), r))?;
                Some(VerifyingKey::from_bytes(&bytes).map_err(|_| {
                    ("audit.checkpoint_public_key".to_string(), "is not an Ed25519 public key".to_string())
                })?)
            }
        };
        let verifying = match (&signing, configured) {
            (Some(s), Some(p)) if s.verifying_key() != p => {
                return Err((
                    "audit.checkpoint_public_key".into(),
                    "does not belong to audit.checkpoint_signing_key (leave it empty to use the signing key's)".into(),
                ));
            }
            (Some(s), _) => Some(s.verifying_key()),
            (None, p) => p,
        };
        Ok(Self { signing, verifying })
    }

    /// Keys from a 32-byte Ed25519 seed (the signing key's 64 hex digits, decoded).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(&seed);
        Self { verifying: Some(signing.verifying_key()), signing: Some(signing) }
    }

    /// Only the public key of `self`: what an examiner gets.
    pub fn public_only(&self) -> Self {
        Self { signing: None, verifying: self.verifying }
    }

    /// A new random key pair as `(signing key hex, public key hex)`.
    pub fn generate() -> Result<(String, String), AuditError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| AuditError::Config(format!("random source: {e}")))?;
        let keys = Self::from_seed(seed);
        let public = keys.public_key_hex().unwrap_or_default();
        Ok((hex::encode(seed), public))
    }

    pub fn verifying(&self) -> Option<&VerifyingKey> {
        self.verifying.as_ref()
    }

    pub fn can_sign(&self) -> bool {
        self.signing.is_some()
    }

    pub fn public_key_hex(&self) -> Option<String> {
        self.verifying.map(|k| hex::encode(k.as_bytes()))
    }

    /// Signs the head `(seq, hash)` at `at`; `None` without a signing key.
    pub fn sign_checkpoint(&self, seq: i64, hash: &str, at: DateTime<Utc>) -> Option<Checkpoint> {
        let signing = self.signing.as_ref()?;
        let signature = signing.sign(&checkpoint_message(seq, hash, at));
        Some(Checkpoint {
            format: CHECKPOINT_FORMAT.into(),
            seq,
            hash: hash.into(),
            at,
            public_key: hex::encode(signing.verifying_key().as_bytes()),
            signature: hex::encode(signature.to_bytes()),
        })
    }

    /// The signature (hex) of a prune anchor; `None` without a signing key.
    pub fn sign_anchor(&self, seq: i64, hash: &str, pruned_at: DateTime<Utc>) -> Option<String> {
        let signing = self.signing.as_ref()?;
        Some(hex::encode(signing.sign(&anchor_message(seq, hash, pruned_at)).to_bytes()))
    }
}

/// Checks a stored prune anchor's signature with `key`.
pub fn verify_anchor(key: &VerifyingKey, anchor: &AuditAnchor) -> Result<(), SignatureError> {
    if anchor.signature.is_empty() {
        return Err(SignatureError::Missing);
    }
    check(key, &anchor_message(anchor.seq, &anchor.hash, anchor.pruned_at), &anchor.signature)
}

/// What a checkpoint signs: the tag, then seq, hash and time, each length-prefixed.
pub fn checkpoint_message(seq: i64, hash: &str, at: DateTime<Utc>) -> Vec<u8> {
    message(CHECKPOINT_FORMAT, seq, hash, at)
}

fn anchor_message(seq: i64, hash: &str, pruned_at: DateTime<Utc>) -> Vec<u8> {
    message(ANCHOR_TAG, seq, hash, pruned_at)
}

fn message(tag: &str, seq: i64, hash: &str, at: DateTime<Utc>) -> Vec<u8> {
    let seq = seq.to_string();
    let at = at.to_rfc3339_opts(SecondsFormat::Nanos, true);
    let mut out = Vec::with_capacity(tag.len() + 3 * 8 + seq.len() + hash.len() + at.len());
    out.extend_from_slice(tag.as_bytes());
    for field in [seq.as_str(), hash, at.as_str()] {
        out.extend_from_slice(&(field.len() as u64).to_be_bytes());
        out.extend_from_slice(field.as_bytes());
    }
    out
}

fn check(key: &VerifyingKey, message: &[u8], signature_hex: &str) -> Result<(), SignatureError> {
    let bytes = hex::decode(signature_hex.trim())
        .map_err(|_| SignatureError::Malformed("not hex".into()))?;
    let signature = Signature::from_slice(&bytes)
        .map_err(|_| SignatureError::Malformed(format!("{} bytes, not 64", bytes.len())))?;
    key.verify_strict(message, &signature).map_err(|_| SignatureError::Invalid)
}

fn key_bytes(text: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(text).map_err(|_| "must be 64 hex digits (see `reagent audit keygen`)".to_string())?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| format!("must be 64 hex digits (32 bytes), got {} bytes (see `reagent audit keygen`)", bytes.len()))
}

/// The first 16 hex digits of a key, for messages.
fn short(key_hex: &str) -> String {
    key_hex.chars().take(16).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(byte: u8) -> CheckpointKeys {
        CheckpointKeys::from_seed([byte; 32])
    }

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap()
    }

    fn anchor(keys: &CheckpointKeys) -> AuditAnchor {
        let pruned_at = at();
        AuditAnchor {
            seq: 50,
            hash: "ab".repeat(32),
            pruned_at,
            pruned: 50,
            signature: keys.sign_anchor(50, &"ab".repeat(32), pruned_at).unwrap(),
        }
    }

    #[test]
    fn a_checkpoint_verifies_with_its_public_key_only() {
        let signer = keys(7);
        let checkpoint = signer.sign_checkpoint(42, &"cd".repeat(32), at()).unwrap();
        let examiner = signer.public_only();
        assert!(!examiner.can_sign());
        assert_eq!(checkpoint.verify(examiner.verifying().unwrap()), Ok(()));
        // Through its JSON document and the database record as well.
        let text = serde_json::to_string(&checkpoint).unwrap();
        let read = Checkpoint::from_json(&text).unwrap();
        assert_eq!(read, checkpoint);
        assert_eq!(Checkpoint::from_record(read.to_record()).verify(examiner.verifying().unwrap()), Ok(()));
    }

    #[test]
    fn a_checkpoint_signed_by_another_key_is_refused() {
        let checkpoint = keys(7).sign_checkpoint(42, &"cd".repeat(32), at()).unwrap();
        let other = keys(8);
        assert!(matches!(checkpoint.verify(other.verifying().unwrap()), Err(SignatureError::OtherKey(_))));
        // Relabelled with the other key's id, it is still refused: the embedded key is not trusted.
        let relabelled = Checkpoint { public_key: other.public_key_hex().unwrap(), ..checkpoint };
        assert_eq!(relabelled.verify(other.verifying().unwrap()), Err(SignatureError::Invalid));
    }

    #[test]
    fn every_altered_field_of_a_checkpoint_breaks_its_signature() {
        let signer = keys(7);
        let key = *signer.verifying().unwrap();
        let checkpoint = signer.sign_checkpoint(42, &"cd".repeat(32), at()).unwrap();
        let altered = [
            Checkpoint { seq: 41, ..checkpoint.clone() },
            Checkpoint { seq: 43, ..checkpoint.clone() },
            Checkpoint { hash: format!("ce{}", "cd".repeat(31)), ..checkpoint.clone() },
            Checkpoint { at: at() + chrono::Duration::microseconds(1), ..checkpoint.clone() },
        ];
        for a in altered {
            assert_eq!(a.verify(&key), Err(SignatureError::Invalid), "{a:?}");
        }
        let mut flipped = checkpoint.clone();
        flipped.signature.replace_range(0..1, if flipped.signature.starts_with('0') { "1" } else { "0" });
        assert_eq!(flipped.verify(&key), Err(SignatureError::Invalid));
        let truncated = Checkpoint { signature: checkpoint.signature[..100].into(), ..checkpoint.clone() };
        assert!(matches!(truncated.verify(&key), Err(SignatureError::Malformed(_))));
        let other_format = Checkpoint { format: "reagent-audit-checkpoint-v0".into(), ..checkpoint };
        assert!(matches!(other_format.verify(&key), Err(SignatureError::Malformed(_))));
    }

    #[test]
    fn anchors_are_signed_apart_from_checkpoints() {
        let signer = keys(7);
        let key = *signer.verifying().unwrap();
        let good = anchor(&signer);
        assert_eq!(verify_anchor(&key, &good), Ok(()));
        assert_eq!(verify_anchor(&key, &AuditAnchor { signature: String::new(), ..good.clone() }), Err(SignatureError::Missing));
        assert_eq!(verify_anchor(&key, &AuditAnchor { seq: 60, ..good.clone() }), Err(SignatureError::Invalid));
        assert_eq!(verify_anchor(keys(8).verifying().unwrap(), &good), Err(SignatureError::Invalid));
        // A checkpoint's signature over the same seq, hash and time is no anchor signature.
        let checkpoint = signer.sign_checkpoint(good.seq, &good.hash, good.pruned_at).unwrap();
        let replayed = AuditAnchor { signature: checkpoint.signature, ..good };
        assert_eq!(verify_anchor(&key, &replayed), Err(SignatureError::Invalid));
    }

    #[test]
    fn settings_keys_are_validated_and_must_match() {
        let (secret, public) = CheckpointKeys::generate().unwrap();
        assert_eq!((secret.len(), public.len()), (64, 64));
        let s = |signing: &str, public: &str| AuditSettings {
            checkpoint_signing_key: signing.into(),
            checkpoint_public_key: public.into(),
            ..Default::default()
        };
        let both = CheckpointKeys::from_settings(&s(&secret, &public)).unwrap();
        assert!(both.can_sign() && both.public_key_hex().as_deref() == Some(public.as_str()));
        let derived = CheckpointKeys::from_settings(&s(&secret, "")).unwrap();
        assert_eq!(derived.public_key_hex(), Some(public.clone()));
        let examiner = CheckpointKeys::from_settings(&s("", &public)).unwrap();
        assert!(!examiner.can_sign() && examiner.verifying().is_some());
        let off = CheckpointKeys::from_settings(&s("", "")).unwrap();
        assert!(off.verifying().is_none() && !off.can_sign());

        let (_, other_public) = CheckpointKeys::generate().unwrap();
        let err = CheckpointKeys::from_settings(&s(&secret, &other_public)).unwrap_err();
        assert_eq!(err.0, "audit.checkpoint_public_key");
        assert_eq!(CheckpointKeys::from_settings(&s("abc", "")).unwrap_err().0, "audit.checkpoint_signing_key");
        assert_eq!(CheckpointKeys::from_settings(&s(&"0".repeat(62), "")).unwrap_err().0, "audit.checkpoint_signing_key");
        assert_eq!(CheckpointKeys::from_settings(&s("", "zz")).unwrap_err().0, "audit.checkpoint_public_key");
        // The Debug form never shows the secret.
        assert!(!format!("{both:?}").contains(&secret));
    }
}
