//! Owns the lexical analysis shared by both sides of the store: text → terms
//! (lower-cased words, English stop words dropped, Snowball-stemmed) → BM25 sparse
//! vectors, one over single terms and one over adjacent term pairs ("beneficial owner",
//! "travel rule"). The pipeline computes a chunk's document vectors ([`Lexical::document`]:
//! the term-frequency and length part of BM25, once, before the store writes them);
//! the retrieval crate computes a query's ([`Lexical::query`]). The store applies IDF to
//! both at query time.

use std::collections::BTreeMap;

use qdrant_rust_stemmers::{Algorithm, Stemmer};

/// A sparse vector: term ids (ascending, unique) and their weights.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseTerms {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

impl SparseTerms {
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    fn from_counts(counts: BTreeMap<u32, f32>) -> Self {
        let (indices, values) = counts.into_iter().unzip();
        Self { indices, values }
    }

    /// Unit weight per distinct id: the query side of BM25.
    fn unit(ids: impl IntoIterator<Item = u32>) -> Self {
        Self::from_counts(ids.into_iter().map(|id| (id, 1.0)).collect())
    }
}

/// The two vectors BM25 indexes for one chunk.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LexicalVectors {
    pub terms: SparseTerms,
    pub pairs: SparseTerms,
}

/// BM25 parameters (see `StoreSettings::bm25`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bm25Params {
    pub k1: f64,
    pub b: f64,
    /// Expected chunk length in terms (after stop words are dropped).
    pub avg_len: f64,
}

pub struct Lexical {
    stemmer: Stemmer,
    params: Bm25Params,
}

impl std::fmt::Debug for Lexical {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lexical").field("params", &self.params).finish()
    }
}

impl Lexical {
    pub fn new(params: Bm25Params) -> Self {
        Self { stemmer: Stemmer::create(Algorithm::English), params }
    }

    /// The stemmed terms of `text`, in order.
    pub fn terms(&self, text: &str) -> Vec<String> {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .filter(|w| STOP_WORDS.binary_search(&w.as_str()).is_err())
            .map(|w| self.stemmer.stem(&w).into_owned())
            .collect()
    }

    /// BM25 document vectors of `text`: `tf·(k1+1) / (tf + k1·(1 − b + b·len/avg_len))`.
    pub fn document(&self, text: &str) -> LexicalVectors {
        let terms = self.terms(text);
        let pairs: Vec<u32> = pair_ids(&terms).collect();
        let terms: Vec<u32> = terms.iter().map(|t| term_id(t)).collect();
        LexicalVectors { terms: self.weights(&terms), pairs: self.weights(&pairs) }
    }

    /// Query vectors of `text`: weight 1 per distinct term and per distinct pair.
    pub fn query(&self, text: &str) -> LexicalVectors {
        let terms = self.terms(text);
        LexicalVectors {
            pairs: SparseTerms::unit(pair_ids(&terms)),
            terms: SparseTerms::unit(terms.iter().map(|t| term_id(t))),
        }
    }

    fn weights(&self, ids: &[u32]) -> SparseTerms {
        let mut tf: BTreeMap<u32, f32> = BTreeMap::new();
        for &id in ids {
            *tf.entry(id).or_default() += 1.0;
        }
        let Bm25Params { k1, b, avg_len } = self.params;
        let norm = k1 * (1.0 - b + b * ids.len() as f64 / avg_len);
        for w in tf.values_mut() {
            let f = f64::from(*w);
            *w = (f * (k1 + 1.0) / (f + norm)) as f32;
        }
        SparseTerms::from_counts(tf)
    }
}

fn pair_ids(terms: &[String]) -> impl Iterator<Item = u32> + '_ {
    terms.windows(2).map(|w| term_id(&format!("{} {}", w[0], w[1])))
}

/// A stable 32-bit id of a term (FNV-1a): the same on every machine and release,
/// since stored vectors depend on it.
pub fn term_id(term: &str) -> u32 {
    term.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// English stop words, sorted (binary search).
const STOP_WORDS: &[&str] = &[
    "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at", "be",
    "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could", "did", "do",
    "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have", "having", "he",
    "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its",
    "itself", "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once",
    "only", "or", "other", "ought", "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should", "so",
    "some", "such", "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they",
    "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when",
    "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself",
    "yourselves",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn lexical() -> Lexical {
        Lexical::new(Bm25Params { k1: 1.2, b: 0.75, avg_len: 4.0 })
    }

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]), "STOP_WORDS must stay sorted and unique");
    }

    #[test]
    fn terms_drop_stop_words_and_stem() {
        assert_eq!(lexical().terms("The Reporting of Currency Transactions, over $10,000"), [
            "report", "currenc", "transact", "10", "000"
        ]);
    }

    #[test]
    fn pairs_match_adjacent_terms_across_stop_words() {
        let l = lexical();
        let doc = l.document("a beneficial owner of the account");
        let query = l.query("Who is the beneficial owner?");
        assert_eq!(query.pairs.indices, vec![term_id("benefici owner")]);
        assert!(doc.pairs.indices.contains(&query.pairs.indices[0]));
        // Reversed order is another pair.
        assert!(!l.document("owner beneficial").pairs.indices.contains(&query.pairs.indices[0]));
    }

    #[test]
    fn document_weights_follow_bm25() {
        let l = lexical();
        // 4 terms, avg_len 4: norm = k1; "cash" twice → 2·2.2/(2+1.2), the others 2.2/2.2.
        let v = l.document("cash cash deposit branch");
        let w: BTreeMap<u32, f32> = v.terms.indices.iter().copied().zip(v.terms.values.iter().copied()).collect();
        assert!((w[&term_id("cash")] - 4.4 / 3.2).abs() < 1e-6);
        assert!((w[&term_id("deposit")] - 1.0).abs() < 1e-6);
        // A longer chunk gives the same term less weight.
        let long = l.document("cash deposit branch teller vault wire");
        let i = long.terms.indices.iter().position(|&t| t == term_id("deposit")).unwrap();
        assert!(long.terms.values[i] < 1.0);
        assert!(v.terms.indices.windows(2).all(|p| p[0] < p[1]));
    }

    #[test]
    fn query_terms_are_unit_weighted_and_distinct() {
        let q = lexical().query("cash, cash and more cash deposits");
        assert_eq!(q.terms.indices.len(), 2);
        assert!(q.terms.values.iter().all(|&v| v == 1.0));
        assert!(lexical().query("the of and").terms.is_empty());
    }

    #[test]
    fn term_ids_are_stable() {
        // Stored vectors depend on these values: changing the hash needs a new store layout.
        assert_eq!(term_id(""), 0x811c_9dc5);
        assert_eq!(term_id("a"), 0xe40c_292c);
    }
}
