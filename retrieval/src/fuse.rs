//! Owns fusion: pure functions from the candidates' raw store scores to one ranking,
//! best first. No store and no model in here, so any store that returns the same
//! candidates ranks the same, and every rule is unit-tested on plain numbers.
//!
//! Ties keep the order in which candidates were first seen (dense list first), so a
//! ranking never depends on hashing.

use std::collections::HashMap;

use reagent_ingest::store::Candidate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Weights of [`weighted`]'s four signals; only their ratios matter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FusionWeights {
    pub dense: f32,
    pub bm25: f32,
    pub pairs: f32,
    pub coverage: f32,
}

/// One candidate's signals. A candidate a BM25 query did not return shares no query
/// term (or pair) with the query: its score there is 0.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Signals {
    /// Cosine similarity to the query.
    pub dense: f32,
    /// BM25 over terms (IDF applied by the store).
    pub bm25: f32,
    /// BM25 over adjacent term pairs.
    pub pairs: f32,
    /// Share of the query's terms the chunk contains, already within 0..=1.
    pub coverage: f32,
}

/// Weighted sum per candidate of the min-max normalised dense, BM25 and pair-BM25
/// scores and the coverage (not rescaled), best first.
pub fn weighted(candidates: &[(Uuid, Signals)], w: &FusionWeights) -> Vec<Candidate> {
    let normalised = |side: fn(&Signals) -> f32| min_max(&candidates.iter().map(|(_, s)| side(s)).collect::<Vec<_>>());
    let (dense, bm25, pairs) = (normalised(|s| s.dense), normalised(|s| s.bm25), normalised(|s| s.pairs));
    let fused = candidates
        .iter()
        .map(|(id, s)| Candidate {
            chunk_id: *id,
            score: w.dense * dense(s.dense) + w.bm25 * bm25(s.bm25) + w.pairs * pairs(s.pairs) + w.coverage * s.coverage,
        })
        .collect();
    best_first(fused)
}

/// Min-max normalisation over `scores`; a flat list maps to 1 (if positive) or 0.
fn min_max(scores: &[f32]) -> impl Fn(f32) -> f32 + use<> {
    let (lo, hi) = scores.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &s| (lo.min(s), hi.max(s)));
    move |s: f32| {
        if hi - lo > f32::EPSILON {
            (s - lo) / (hi - lo)
        } else if hi > 0.0 {
            1.0
        } else {
            0.0
        }
    }
}

/// Reciprocal rank fusion: a candidate at 0-based position `p` of a list earns
/// `1 / (p + k)` there (Qdrant's formula: `1 / ((p + 1) + k − 1)`), summed over lists.
pub fn rrf(lists: &[&[Candidate]], k: usize) -> Vec<Candidate> {
    summed(lists.iter().map(|list| {
        list.iter().enumerate().map(|(p, c)| (c.chunk_id, 1.0 / ((p + 1) as f32 + k as f32 - 1.0))).collect()
    }))
}

/// Distribution-based score fusion (Qdrant's DBSF): each list's scores mapped to
/// 0..1 between its mean − 3σ and mean + 3σ (sample deviation), then summed. A list of
/// one candidate, or of equal scores, gives 0.5 each.
pub fn dbsf(lists: &[&[Candidate]]) -> Vec<Candidate> {
    summed(lists.iter().map(|list| {
        let scores: Vec<f32> = list.iter().map(|c| c.score).collect();
        let (lo, hi) = three_sigma(&scores);
        list.iter().map(|c| (c.chunk_id, if lo == hi { 0.5 } else { (c.score - lo) / (hi - lo) })).collect()
    }))
}

/// Mean ± 3 sample standard deviations, by Welford's one-pass method in f32 (as Qdrant
/// computes it, so that rankings agree to the last bit); equal bounds for fewer than two.
fn three_sigma(scores: &[f32]) -> (f32, f32) {
    if scores.len() < 2 {
        return (0.0, 0.0);
    }
    let (mut mean, mut aggregate) = (0.0f32, 0.0f32);
    for (s, n) in scores.iter().zip(1usize..) {
        let old_delta = s - mean;
        mean += old_delta / n as f32;
        aggregate += old_delta * (s - mean);
    }
    let std_dev = (aggregate / (scores.len() as f32 - 1.0)).sqrt();
    (mean - 3.0 * std_dev, mean + 3.0 * std_dev)
}

/// Per-candidate sums of the lists' scores, best first.
fn summed(lists: impl Iterator<Item = Vec<(Uuid, f32)>>) -> Vec<Candidate> {
    let mut fused: Vec<Candidate> = Vec::new();
    let mut at: HashMap<Uuid, usize> = HashMap::new();
    for (chunk_id, score) in lists.flatten() {
        match at.get(&chunk_id) {
            Some(&i) => fused[i].score += score,
            None => {
                at.insert(chunk_id, fused.len());
                fused.push(Candidate { chunk_id, score });
            }
        }
    }
    best_first(fused)
}

/// Sorted by score, highest first; a stable sort, so ties keep their order.
fn best_first(mut candidates: Vec<Candidate>) -> Vec<Candidate> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    candidates
}

/// Share of the query's distinct terms that `doc_terms` (a chunk's term ids, ascending)
/// contains: 1 when every query term occurs in the chunk.
pub fn coverage(query_terms: &[u32], doc_terms: &[u32]) -> f32 {
    if query_terms.is_empty() {
        return 0.0;
    }
    let hits = query_terms.iter().filter(|t| doc_terms.binary_search(t).is_ok()).count();
    hits as f32 / query_terms.len() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn list(scores: &[(u128, f32)]) -> Vec<Candidate> {
        scores.iter().map(|&(n, score)| Candidate { chunk_id: id(n), score }).collect()
    }

    fn order(ranked: &[Candidate]) -> Vec<Uuid> {
        ranked.iter().map(|c| c.chunk_id).collect()
    }

    fn assert_scores(ranked: &[Candidate], expected: &[(u128, f32)]) {
        assert_eq!(ranked.len(), expected.len(), "{ranked:?}");
        for (got, &(n, want)) in ranked.iter().zip(expected) {
            assert_eq!(got.chunk_id, id(n), "{ranked:?}");
            assert!((got.score - want).abs() < 1e-6, "{n}: {} vs {want}", got.score);
        }
    }

    /// Cosine and term BM25 only: `dense · cosine + (1 − dense) · bm25`.
    fn two_way(dense: f32) -> FusionWeights {
        FusionWeights { dense, bm25: 1.0 - dense, pairs: 0.0, coverage: 0.0 }
    }

    #[test]
    fn weighted_normalises_each_search_score_over_the_candidates() {
        let sig = |dense, bm25| Signals { dense, bm25, ..Default::default() };
        // Candidate 2 shares no term with the query: BM25 0.
        let candidates = [(id(1), sig(0.9, 5.0)), (id(2), sig(0.5, 0.0)), (id(3), sig(0.1, 10.0))];
        // dense → 1, 0.5, 0; BM25 → 0.5, 0, 1.
        assert_scores(&weighted(&candidates, &two_way(0.4)), &[(1, 0.4 + 0.6 * 0.5), (3, 0.6), (2, 0.4 * 0.5)]);
        // All weight on one side reproduces that side's order.
        assert_eq!(order(&weighted(&candidates, &two_way(0.0))), [id(3), id(1), id(2)]);
        assert_eq!(order(&weighted(&candidates, &two_way(1.0))), [id(1), id(2), id(3)]);
    }

    #[test]
    fn weighted_adds_pairs_and_raw_coverage() {
        let candidates = [
            (id(1), Signals { dense: 0.8, bm25: 4.0, pairs: 0.0, coverage: 0.5 }),
            (id(2), Signals { dense: 0.6, bm25: 2.0, pairs: 3.0, coverage: 1.0 }),
        ];
        let w = FusionWeights { dense: 0.3, bm25: 0.2, pairs: 0.1, coverage: 0.4 };
        // 1: 0.3 + 0.2 + 0 + 0.2 = 0.7; 2: 0 + 0 + 0.1 + 0.4 = 0.5. Coverage is not rescaled.
        assert_scores(&weighted(&candidates, &w), &[(1, 0.7), (2, 0.5)]);
        let by_coverage = weighted(&candidates, &FusionWeights { dense: 0.0, bm25: 0.0, pairs: 0.0, coverage: 1.0 });
        assert_eq!(order(&by_coverage), [id(2), id(1)]);
    }

    #[test]
    fn weighted_flat_sides_count_fully_when_positive_and_not_at_all_when_zero() {
        // Every candidate has the same cosine (flat, positive → 1) and no BM25 (flat 0 → 0).
        let candidates = [(id(1), Signals { dense: 0.3, ..Default::default() }), (id(2), Signals { dense: 0.3, coverage: 0.5, ..Default::default() })];
        let w = FusionWeights { dense: 0.5, bm25: 0.5, pairs: 0.0, coverage: 0.2 };
        assert_scores(&weighted(&candidates, &w), &[(2, 0.6), (1, 0.5)]);
    }

    #[test]
    fn ties_keep_the_order_candidates_were_seen_in() {
        let same = Signals { dense: 0.5, bm25: 1.0, ..Default::default() };
        let candidates = [(id(7), same), (id(3), same), (id(5), same)];
        assert_eq!(order(&weighted(&candidates, &two_way(0.5))), [id(7), id(3), id(5)]);
        // RRF: 3 is second in one list, 4 second in the other; both earn 1/(1 + k) once.
        let (dense, sparse) = (list(&[(1, 0.9), (3, 0.8)]), list(&[(1, 7.0), (4, 6.0)]));
        assert_eq!(order(&rrf(&[&dense, &sparse], 60)), [id(1), id(3), id(4)]);
        assert_eq!(order(&rrf(&[&sparse, &dense], 60)), [id(1), id(4), id(3)]);
    }

    #[test]
    fn empty_lists_give_empty_rankings() {
        assert!(weighted(&[], &two_way(0.5)).is_empty());
        assert!(rrf(&[], 60).is_empty());
        assert!(rrf(&[&[], &[]], 60).is_empty());
        assert!(dbsf(&[&[], &[]]).is_empty());
        // One empty side: the other's order survives.
        let dense = list(&[(1, 0.9), (2, 0.4)]);
        assert_eq!(order(&rrf(&[&dense, &[]], 60)), [id(1), id(2)]);
        assert_eq!(order(&dbsf(&[&dense, &[]])), [id(1), id(2)]);
    }

    #[test]
    fn rrf_sums_reciprocal_ranks() {
        let (dense, sparse) = (list(&[(1, 0.9), (2, 0.8)]), list(&[(2, 9.0), (3, 1.0)]));
        // k = 2: position 0 earns 1/2, position 1 earns 1/3; raw scores do not matter.
        assert_scores(&rrf(&[&dense, &sparse], 2), &[(2, 1.0 / 3.0 + 0.5), (1, 0.5), (3, 1.0 / 3.0)]);
    }

    #[test]
    fn dbsf_normalises_by_three_sigma_and_sums() {
        // Scores 1, 2, 3: mean 2, sample σ 1 → bounds −1 and 5, so (s + 1) / 6.
        let dense = list(&[(1, 3.0), (2, 2.0), (3, 1.0)]);
        // One candidate alone gives 0.5.
        let sparse = list(&[(3, 42.0)]);
        assert_scores(&dbsf(&[&dense, &sparse]), &[(3, 2.0 / 6.0 + 0.5), (1, 4.0 / 6.0), (2, 3.0 / 6.0)]);
        // Equal scores give 0.5 each, whatever their value.
        assert_scores(&dbsf(&[&list(&[(1, 4.0), (2, 4.0)])]), &[(1, 0.5), (2, 0.5)]);
    }

    #[test]
    fn coverage_counts_query_terms_present() {
        assert_eq!(coverage(&[1, 5, 9], &[1, 2, 9]), 2.0 / 3.0);
        assert_eq!(coverage(&[], &[1]), 0.0);
        assert_eq!(coverage(&[4], &[]), 0.0);
    }
}
