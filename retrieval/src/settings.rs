//! Owns `[retrieval]`: how chunks are ranked and how many are kept. The mode is a
//! [`RetrievalMode`], parsed when the configuration loads, so a bad name never gets
//! past start-up.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

use crate::fuse::FusionWeights;

/// How candidates are ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetrievalMode {
    /// Reciprocal rank fusion of the dense and BM25 candidate lists (`hybrid`, or `rrf`).
    Hybrid,
    /// Weighted fusion of min-max normalised cosine, term BM25 and pair BM25 scores and
    /// query-term coverage over the union of the dense and BM25 candidates.
    Fusion,
    /// Distribution-based score fusion: each list's scores normalised by their mean ± 3
    /// standard deviations, then summed.
    Dbsf,
    Dense,
    Bm25,
}

/// Mode names `retrieval.mode` and `--mode` accept (`rrf` is another name of `hybrid`).
pub const MODE_NAMES: [&str; 6] = ["hybrid", "rrf", "fusion", "dbsf", "dense", "bm25"];

/// A mode name that is none of [`MODE_NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0:?} is not one of hybrid, rrf, fusion, dbsf, dense, bm25")]
pub struct UnknownMode(pub String);

impl RetrievalMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hybrid => "hybrid",
            Self::Fusion => "fusion",
            Self::Dbsf => "dbsf",
            Self::Dense => "dense",
            Self::Bm25 => "bm25",
        }
    }

    /// Whether the mode needs the query's dense vector.
    pub fn uses_dense(self) -> bool {
        self != Self::Bm25
    }
}

impl FromStr for RetrievalMode {
    type Err = UnknownMode;

    fn from_str(name: &str) -> Result<Self, UnknownMode> {
        match name {
            "hybrid" | "rrf" => Ok(Self::Hybrid),
            "fusion" => Ok(Self::Fusion),
            "dbsf" => Ok(Self::Dbsf),
            "dense" => Ok(Self::Dense),
            "bm25" => Ok(Self::Bm25),
            other => Err(UnknownMode(other.to_string())),
        }
    }
}

impl fmt::Display for RetrievalMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for RetrievalMode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RetrievalMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        // The mode is only ever read as `[retrieval] mode`, so the message can name it.
        name.parse().map_err(|e: UnknownMode| serde::de::Error::custom(format!("invalid setting retrieval.mode: {e}")))
    }
}

/// How retrieval ranks chunks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrievalSettings {
    /// `fusion` (dense + BM25 fused by min-max normalised score, with pair BM25 and term
    /// coverage), `hybrid` (reciprocal rank fusion), `dbsf` (distribution-based score
    /// fusion), `dense` or `bm25`.
    pub mode: RetrievalMode,
    /// Chunks returned per query.
    pub top_k: usize,
    /// Candidates each retriever contributes before fusion.
    pub candidates: usize,
    /// The k of reciprocal rank fusion.
    pub rrf_k: usize,
    /// `fusion` mode: weight of the normalised cosine score.
    pub fusion_dense_weight: f64,
    /// `fusion` mode: weight of the normalised BM25 score over terms.
    pub fusion_bm25_weight: f64,
    /// `fusion` mode: weight of the normalised BM25 score over adjacent term pairs.
    pub fusion_pairs_weight: f64,
    /// `fusion` mode: weight of the share of the query's terms a chunk contains.
    pub fusion_coverage_weight: f64,
    /// Jurisdictions whose documents analyses may cite (empty: any).
    pub jurisdictions: Vec<String>,
    /// Most chunks handed to the generator for one analysis.
    pub evidence_limit: usize,
}

impl Default for RetrievalSettings {
    fn default() -> Self {
        Self {
            mode: RetrievalMode::Fusion,
            top_k: 8,
            candidates: 50,
            rrf_k: 60,
            // Chosen on ObliQA dev's training part for minilm-l6-obliqa-int8 (the stock model's was 0.35).
            fusion_dense_weight: 0.7,
            fusion_bm25_weight: 0.25,
            fusion_pairs_weight: 0.15,
            fusion_coverage_weight: 0.4,
            jurisdictions: vec!["US".into()],
            evidence_limit: 24,
        }
    }
}

impl RetrievalSettings {
    /// The weights of [`RetrievalMode::Fusion`].
    pub fn fusion_weights(&self) -> FusionWeights {
        FusionWeights {
            dense: self.fusion_dense_weight as f32,
            bm25: self.fusion_bm25_weight as f32,
            pairs: self.fusion_pairs_weight as f32,
            coverage: self.fusion_coverage_weight as f32,
        }
    }

    /// The first bad setting, as (`retrieval.<key>`, reason).
    pub fn validate(&self) -> Result<(), (String, String)> {
        let invalid = |key: &str, reason: String| Err((format!("retrieval.{key}"), reason));
        let weights = [
            ("fusion_dense_weight", self.fusion_dense_weight),
            ("fusion_bm25_weight", self.fusion_bm25_weight),
            ("fusion_pairs_weight", self.fusion_pairs_weight),
            ("fusion_coverage_weight", self.fusion_coverage_weight),
        ];
        for (key, w) in weights {
            if !(0.0..=1.0).contains(&w) {
                return invalid(key, format!("must be within 0..=1, got {w}"));
            }
        }
        if weights.iter().all(|(_, w)| *w == 0.0) {
            return invalid("fusion_dense_weight", "the four fusion weights cannot all be 0".into());
        }
        if !(1..=200).contains(&self.top_k) {
            return invalid("top_k", "must be within 1..=200".into());
        }
        if self.candidates < self.top_k {
            return invalid("candidates", "must be at least retrieval.top_k".into());
        }
        if self.evidence_limit == 0 {
            return invalid("evidence_limit", "must be positive".into());
        }
        if self.rrf_k == 0 {
            return invalid("rrf_k", "must be positive".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_name_parses_and_prints_back() {
        for name in MODE_NAMES {
            let mode: RetrievalMode = name.parse().unwrap();
            let printed = if name == "rrf" { "hybrid" } else { name };
            assert_eq!(mode.to_string(), printed);
        }
        assert_eq!("magic".parse::<RetrievalMode>(), Err(UnknownMode("magic".into())));
    }

    #[test]
    fn a_bad_mode_fails_deserialisation_naming_the_setting_and_the_choices() {
        let err = serde_json::from_str::<RetrievalMode>("\"magic\"").unwrap_err().to_string();
        assert!(err.contains("retrieval.mode") && err.contains("hybrid, rrf, fusion, dbsf, dense, bm25"), "{err}");
        let settings: RetrievalSettings = serde_json::from_value(serde_json::json!({
            "mode": "rrf", "top_k": 8, "candidates": 50, "rrf_k": 60, "fusion_dense_weight": 0.7,
            "fusion_bm25_weight": 0.25, "fusion_pairs_weight": 0.15, "fusion_coverage_weight": 0.4,
            "jurisdictions": [], "evidence_limit": 24
        }))
        .unwrap();
        assert_eq!(settings.mode, RetrievalMode::Hybrid);
        assert_eq!(serde_json::to_value(&settings).unwrap()["mode"], "hybrid");
    }

    #[test]
    fn validation_names_the_bad_key() {
        assert_eq!(RetrievalSettings::default().validate(), Ok(()));
        let bad = RetrievalSettings { candidates: 4, ..Default::default() };
        assert_eq!(bad.validate().unwrap_err().0, "retrieval.candidates");
        let bad = RetrievalSettings { fusion_pairs_weight: -0.1, ..Default::default() };
        assert_eq!(bad.validate().unwrap_err().0, "retrieval.fusion_pairs_weight");
    }
}
