//! Owns the held-out split of the ObliQA dev questions, shared with the model-tuning
//! tool: a question is HELD-OUT iff the first 8 bytes of SHA-256 of its `QuestionID`
//! (UTF-8), read as a big-endian u64, are `< 25` modulo 100 — about a quarter of dev.
//! The rest is the TRAIN part. Held-out questions are only ever used for reports; both
//! implementations must stay identical, so the definition lives here alone.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Percentage of questions (by hash) that are held out.
pub const HELDOUT_PERCENT: u64 = 25;

/// Which part of the question set a run takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Held-out questions only: the part reports and CI floors use.
    Heldout,
    /// Every question that is not held out (may be used for tuning).
    Train,
    /// Every question.
    #[default]
    All,
}

/// Whether the question with this id belongs to the held-out part.
pub fn is_heldout(question_id: &str) -> bool {
    bucket(question_id) < HELDOUT_PERCENT
}

/// The question's bucket in 0..100.
fn bucket(question_id: &str) -> u64 {
    let digest = Sha256::digest(question_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % 100
}

impl Split {
    /// Whether a question with this id is part of the split.
    pub fn contains(self, question_id: &str) -> bool {
        match self {
            Split::All => true,
            Split::Heldout => is_heldout(question_id),
            Split::Train => !is_heldout(question_id),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Split::Heldout => "heldout",
            Split::Train => "train",
            Split::All => "all",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Split {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "heldout" | "held-out" => Ok(Split::Heldout),
            "train" => Ok(Split::Train),
            "all" => Ok(Split::All),
            other => Err(format!("unknown split {other:?}: expected heldout, train or all")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_python_reference() {
        // (id, big-endian u64 % 100) from Python:
        // int.from_bytes(hashlib.sha256(id.encode()).digest()[:8], "big") % 100.
        // "q1" reads 31 little-endian, so a byte-order slip flips it.
        for (id, bucket_expected) in [
            ("q1", 6),
            ("question-7", 73),
            ("4456cb1a-6a36-42fb-8484-b832e50a71a2", 76),
            ("c95b457d-f361-4f76-80e0-9f9845891b9a", 2),
        ] {
            assert_eq!(bucket(id), bucket_expected, "{id}");
            assert_eq!(is_heldout(id), bucket_expected < 25, "{id}");
        }
    }

    #[test]
    fn parts_are_disjoint_complete_and_deterministic() {
        let ids: Vec<String> = (0..2000).map(|i| format!("question-{i}")).collect();
        let held: Vec<&String> = ids.iter().filter(|id| Split::Heldout.contains(id)).collect();
        let train: Vec<&String> = ids.iter().filter(|id| Split::Train.contains(id)).collect();
        assert_eq!(held.len() + train.len(), ids.len());
        assert!(held.iter().all(|id| !train.contains(id)));
        assert!(ids.iter().all(|id| Split::All.contains(id)));
        let share = held.len() as f64 / ids.len() as f64;
        assert!((0.22..0.28).contains(&share), "held-out share {share}");
        let again: Vec<&String> = ids.iter().filter(|id| is_heldout(id)).collect();
        assert_eq!(held, again);
    }

    #[test]
    fn parses_and_prints() {
        for s in [Split::Heldout, Split::Train, Split::All] {
            assert_eq!(s.to_string().parse::<Split>().unwrap(), s);
        }
        assert_eq!("held-out".parse::<Split>().unwrap(), Split::Heldout);
        assert!("test".parse::<Split>().unwrap_err().contains("heldout, train or all"));
        assert_eq!(Split::default(), Split::All);
    }

    /// On the real dev questions (when ../shared is present): about 25% held out,
    /// and a known figure so a change of definition is noticed.
    #[test]
    fn real_dev_share() {
        let base = std::env::var_os("REAGENT_SHARED_DATA")
            .map_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"), Into::into);
        let path = base.join("obliqa/ObliQA_dev.json");
        let Ok(bytes) = std::fs::read(&path) else {
            eprintln!("skipped: {} not found (the shared data folder is not beside this checkout)", path.display());
            return;
        };
        let questions: Vec<serde_json::Value> = serde_json::from_slice(&bytes).unwrap();
        let ids: Vec<String> = questions.iter().map(|q| q["QuestionID"].as_str().unwrap().to_string()).collect();
        let held = ids.iter().filter(|id| is_heldout(id)).count();
        let share = held as f64 / ids.len() as f64;
        assert!((0.23..0.27).contains(&share), "{held} of {} held out", ids.len());
        // 685 of 2,788, as the Python reference (hashlib.sha256(id).digest()[:8], 'big') counts.
        if ids.len() == 2788 {
            assert_eq!(held, 685);
        }
    }
}
