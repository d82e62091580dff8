//! Owns the ranking metrics, computed the way trec_eval computes them, and latency
//! percentiles.
//!
//! For one query with judged documents `qrels` (doc id → relevance; > 0 is relevant)
//! and a ranking (best first, no duplicates):
//! - `recall@k` = |relevant ∩ top k| / |relevant|
//! - `map@k` (trec_eval `map_cut_k`) = Σ precision@i over ranks i ≤ k holding a
//!   relevant document, divided by |relevant| (not by min(k, |relevant|))
//! - `ndcg@k` (trec_eval `ndcg_cut_k`) = DCG@k / ideal DCG@k, gain = the relevance
//!   grade, discount log2(rank + 1)
//! - `mrr@k` = 1 / rank of the first relevant document within k, else 0
//!
//! Queries without any relevant document are skipped (as trec_eval does), and the mean
//! is over the queries that remain.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

/// The cut-offs every report carries.
pub const CUTOFFS: [usize; 4] = [1, 5, 10, 20];

/// The metric families, in report order.
pub const FAMILIES: [&str; 4] = ["recall", "map", "ndcg", "mrr"];

/// Judgements of one query: document id → relevance grade.
pub type Judgements = HashMap<String, u32>;

fn relevant_count(qrels: &Judgements) -> usize {
    qrels.values().filter(|&&r| r > 0).count()
}

fn grade(qrels: &Judgements, doc: &str) -> u32 {
    qrels.get(doc).copied().unwrap_or(0)
}

pub fn recall_at(ranking: &[&str], qrels: &Judgements, k: usize) -> f64 {
    let relevant = relevant_count(qrels);
    if relevant == 0 {
        return 0.0;
    }
    let hits = ranking.iter().take(k).filter(|d| grade(qrels, d) > 0).count();
    hits as f64 / relevant as f64
}

pub fn average_precision_at(ranking: &[&str], qrels: &Judgements, k: usize) -> f64 {
    let relevant = relevant_count(qrels);
    if relevant == 0 {
        return 0.0;
    }
    let mut hits = 0usize;
    let mut sum = 0.0;
    for (i, d) in ranking.iter().take(k).enumerate() {
        if grade(qrels, d) > 0 {
            hits += 1;
            sum += hits as f64 / (i + 1) as f64;
        }
    }
    sum / relevant as f64
}

pub fn ndcg_at(ranking: &[&str], qrels: &Judgements, k: usize) -> f64 {
    let discount = |i: usize| 1.0 / ((i + 2) as f64).log2();
    let dcg: f64 = ranking.iter().take(k).enumerate().map(|(i, d)| f64::from(grade(qrels, d)) * discount(i)).sum();
    let mut ideal: Vec<u32> = qrels.values().copied().filter(|&r| r > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal.iter().take(k).enumerate().map(|(i, &g)| f64::from(g) * discount(i)).sum();
    if idcg > 0.0 { dcg / idcg } else { 0.0 }
}

pub fn reciprocal_rank_at(ranking: &[&str], qrels: &Judgements, k: usize) -> f64 {
    ranking
        .iter()
        .take(k)
        .position(|d| grade(qrels, d) > 0)
        .map_or(0.0, |i| 1.0 / (i + 1) as f64)
}

/// Every metric at every cut-off for one query, keyed `family@k` (e.g. `map@10`).
pub fn query_metrics(ranking: &[&str], qrels: &Judgements) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for k in CUTOFFS {
        out.insert(format!("recall@{k}"), recall_at(ranking, qrels, k));
        out.insert(format!("map@{k}"), average_precision_at(ranking, qrels, k));
        out.insert(format!("ndcg@{k}"), ndcg_at(ranking, qrels, k));
        out.insert(format!("mrr@{k}"), reciprocal_rank_at(ranking, qrels, k));
    }
    out
}

/// Means of [`query_metrics`] over queries with at least one relevant document.
#[derive(Debug, Clone, Default)]
pub struct Accumulator {
    sums: BTreeMap<String, f64>,
    /// Queries that counted.
    pub queries: usize,
    /// Queries skipped for having no relevant document.
    pub skipped: usize,
}

impl Accumulator {
    pub fn add(&mut self, ranking: &[&str], qrels: &Judgements) {
        if relevant_count(qrels) == 0 {
            self.skipped += 1;
            return;
        }
        self.queries += 1;
        for (name, v) in query_metrics(ranking, qrels) {
            *self.sums.entry(name).or_default() += v;
        }
    }

    pub fn means(&self) -> BTreeMap<String, f64> {
        let n = self.queries.max(1) as f64;
        self.sums.iter().map(|(k, v)| (k.clone(), v / n)).collect()
    }
}

/// Latency summary in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub mean: f64,
    pub max: f64,
}

/// The nearest-rank percentile: the smallest value with at least `p` of the values at
/// or below it. `sorted` must be ascending.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Latency {
    pub fn of(samples_ms: &[f64]) -> Self {
        let mut v = samples_ms.to_vec();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return Self::default();
        }
        Self {
            p50: percentile(&v, 0.50),
            p95: percentile(&v, 0.95),
            p99: percentile(&v, 0.99),
            mean: v.iter().sum::<f64>() / v.len() as f64,
            max: v[v.len() - 1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qrels(pairs: &[(&str, u32)]) -> Judgements {
        pairs.iter().map(|(d, r)| (d.to_string(), *r)).collect()
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    // Ranking: x a y b z ; relevant: a, b, c (c never retrieved).
    const RANKING: [&str; 5] = ["x", "a", "y", "b", "z"];

    #[test]
    fn recall_counts_relevant_in_top_k_over_all_relevant() {
        let q = qrels(&[("a", 1), ("b", 1), ("c", 1), ("x", 0)]);
        close(recall_at(&RANKING, &q, 1), 0.0);
        close(recall_at(&RANKING, &q, 2), 1.0 / 3.0);
        close(recall_at(&RANKING, &q, 5), 2.0 / 3.0);
        close(recall_at(&RANKING, &q, 20), 2.0 / 3.0);
    }

    #[test]
    fn map_cut_divides_by_all_relevant_like_trec_eval() {
        let q = qrels(&[("a", 1), ("b", 1), ("c", 1)]);
        // hits at ranks 2 and 4: precisions 1/2 and 2/4; divided by 3 relevant.
        close(average_precision_at(&RANKING, &q, 10), (0.5 + 0.5) / 3.0);
        // cut at 3: only the hit at rank 2 counts.
        close(average_precision_at(&RANKING, &q, 3), 0.5 / 3.0);
        close(average_precision_at(&RANKING, &q, 1), 0.0);
        // one relevant document at rank 1: AP 1.
        close(average_precision_at(&["a", "x"], &qrels(&[("a", 1)]), 10), 1.0);
    }

    #[test]
    fn ndcg_uses_grades_and_log2_discount() {
        let q = qrels(&[("a", 1), ("b", 1), ("c", 1)]);
        // DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3) + 1/2.
        let dcg = 1.0 / 3f64.log2() + 1.0 / 5f64.log2();
        let idcg = 1.0 + 1.0 / 3f64.log2() + 0.5;
        close(ndcg_at(&RANKING, &q, 5), dcg / idcg);
        // k = 2: DCG = 1/log2(3); IDCG = 1 + 1/log2(3).
        close(ndcg_at(&RANKING, &q, 2), (1.0 / 3f64.log2()) / (1.0 + 1.0 / 3f64.log2()));
        // Graded: b has grade 2, so the ideal puts it first.
        let g = qrels(&[("a", 1), ("b", 2)]);
        let dcg = 1.0 / 3f64.log2() + 2.0 / 5f64.log2();
        let idcg = 2.0 + 1.0 / 3f64.log2();
        close(ndcg_at(&RANKING, &g, 10), dcg / idcg);
        close(ndcg_at(&["a", "b"], &qrels(&[("a", 1), ("b", 1)]), 10), 1.0);
    }

    #[test]
    fn mrr_is_reciprocal_of_first_relevant_rank_within_k() {
        let q = qrels(&[("b", 1)]);
        close(reciprocal_rank_at(&RANKING, &q, 10), 0.25);
        close(reciprocal_rank_at(&RANKING, &q, 3), 0.0);
    }

    #[test]
    fn accumulator_skips_queries_without_relevant_documents() {
        let mut acc = Accumulator::default();
        acc.add(&["a"], &qrels(&[("a", 1)]));
        acc.add(&["x"], &qrels(&[("a", 1)]));
        acc.add(&["a"], &qrels(&[("a", 0)]));
        assert_eq!((acc.queries, acc.skipped), (2, 1));
        let m = acc.means();
        close(m["recall@1"], 0.5);
        close(m["map@10"], 0.5);
        assert_eq!(m.len(), CUTOFFS.len() * FAMILIES.len());
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let l = Latency::of(&v);
        close(l.p50, 50.0);
        close(l.p95, 95.0);
        close(l.p99, 99.0);
        close(l.max, 100.0);
        close(l.mean, 50.5);
        close(percentile(&[3.0], 0.99), 3.0);
        close(Latency::of(&[10.0, 1.0, 5.0]).p50, 5.0);
    }
}
