//! The name index of one list version and the matcher over it.
//!
//! Every listed name and alias becomes a *variant*: its tokens (see `normalize.rs`),
//! each token weighted by how rare it is on the list (a token on many listings, such
//! as `bank` or `muhammad`, says less than `melli`). Screening a name:
//!
//! 1. each screened token finds the similar list tokens: the same token, or one
//!    whose per-token similarity is at least [`TOKEN_FLOOR`] (optimal string
//!    alignment distance over the longer length, or over the phonetic skeletons at
//!    a small discount); candidates come from a bigram index, so the list is never
//!    scanned;
//! 2. the variants holding any similar token are scored: screened and listed tokens
//!    are aligned one to one, best pairs first, in any order; the score is the
//!    matched weight of both sides over their total weight, where one unmatched token
//!    (an extra or a missing one) counts only `1 - ALLOWANCE` of its weight when at
//!    least two tokens matched;
//! 3. the best variant of each entry at or above the threshold is a match, with the
//!    aligned tokens as its explanation.
//!
//! Free text (a payment description) is screened by windows of words around the
//! tokens that hit, stricter than names: weak aliases are skipped, and a one-word
//! listed name must appear exactly and be at least five letters long.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::normalize::{normalize_words, skeleton, tokens};
use super::{AliasKind, Entry, EntryKind};

/// Per-token similarity below which two tokens do not match at all.
pub const TOKEN_FLOOR: f32 = 0.75;
/// Share of one unmatched token's weight that is forgiven when two or more tokens
/// matched (an extra middle name, a dropped branch or city).
const ALLOWANCE: f32 = 0.8;
/// Discount of a match found only on the phonetic skeletons.
const SKELETON_FACTOR: f32 = 0.95;
/// Similarity of two spellings of one name in the transliteration table.
const VARIANT_SIMILARITY: f32 = 1.0;
/// Words of free text that never start or end a screened window.
const TEXT_STOP_WORDS: &[&str] = &[
    "a", "an", "and", "as", "at", "by", "for", "from", "in", "into", "of", "on", "or", "per", "re", "ref", "the", "to",
    "via", "with", "payment", "pay", "paid", "invoice", "inv", "goods", "services", "transfer", "wire", "fee", "fees",
    "order", "no", "number", "our", "your", "their", "his", "her", "its", "this", "that", "is", "are", "be", "not",
];

/// Matching parameters (from the OFAC rule data, `[ofac]` in `rules.toml`).
#[derive(Debug, Clone, PartialEq)]
pub struct MatchSettings {
    /// Score (0..=1] at or above which a variant is a possible match.
    pub threshold: f64,
    /// Normalised names shorter than this many letters are not screened or indexed.
    pub min_name_chars: usize,
    /// Words dropped before matching (legal forms, fillers).
    pub ignored_tokens: BTreeSet<String>,
}

/// One screened token aligned with one listed token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[derive(utoipa::ToSchema)]
pub struct TokenMatch {
    pub screened: String,
    pub listed: String,
    pub similarity: f64,
}

/// A possible match of a screened name against one listed entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[derive(utoipa::ToSchema)]
pub struct NameMatch {
    /// What was screened (the name, or the words of the text that matched).
    pub screened: String,
    pub ent_num: String,
    pub listed_name: String,
    pub kind: EntryKind,
    pub programs: Vec<String>,
    /// The listed name or alias that matched best.
    pub matched_name: String,
    /// `None` when the listed name itself matched.
    pub alias: Option<AliasKind>,
    /// The matched alias is a weak one (see `Alias::weak`).
    pub weak_alias: bool,
    pub score: f64,
    pub tokens: Vec<TokenMatch>,
    /// Screened tokens with no listed partner.
    pub extra_tokens: Vec<String>,
    /// Listed tokens with no screened partner.
    pub missing_tokens: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub linked_to: Vec<String>,
    /// Set when the match is on a vessel's IMO number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imo: Option<String>,
}

impl NameMatch {
    /// Why it matched, for an analyst: `"bank"="bank" 1.00, "meli"≈"melli" 0.95, …`.
    pub fn explanation(&self) -> String {
        if let Some(imo) = &self.imo {
            return format!("IMO number {imo} of vessel {}", self.listed_name);
        }
        let mut parts: Vec<String> = self
            .tokens
            .iter()
            .map(|t| {
                let rel = if t.screened == t.listed { "=" } else { "≈" };
                format!("\"{}\"{rel}\"{}\" {:.2}", t.screened, t.listed, t.similarity)
            })
            .collect();
        if !self.extra_tokens.is_empty() {
            parts.push(format!("extra {}", quoted(&self.extra_tokens)));
        }
        if !self.missing_tokens.is_empty() {
            parts.push(format!("missing {}", quoted(&self.missing_tokens)));
        }
        let via = match self.alias {
            None => "listed name".to_owned(),
            Some(kind) => format!("{}{} \"{}\"", if self.weak_alias { "weak " } else { "" }, kind.as_str(), self.matched_name),
        };
        format!("{} via {via}: {}", self.kind.as_str(), parts.join(", "))
    }
}

fn quoted(words: &[String]) -> String {
    words.iter().map(|w| format!("\"{w}\"")).collect::<Vec<_>>().join(" ")
}

/// One listed name or alias, tokenised.
#[derive(Debug, Clone)]
struct Variant {
    entry: u32,
    /// Index into the entry's aliases; `None` for the listed name.
    alias: Option<u16>,
    tokens: Vec<u32>,
    /// An individual's surname tokens (what precedes the comma of `LAST, First
    /// Middle`): one of them must match, so that a shared given name and
    /// patronymic alone ("Elena Petrova" against "TIMCHENKO, Elena Petrovna")
    /// is no match. Empty for other names.
    surname: Vec<u32>,
    total_weight: f32,
    weak: bool,
}

/// A screened token and the list tokens it is similar to.
#[derive(Debug, Clone)]
struct QueryToken {
    text: String,
    weight: f32,
    /// `(vocabulary id, similarity)`, similarity ≥ [`TOKEN_FLOOR`].
    similar: Vec<(u32, f32)>,
}

impl QueryToken {
    fn similarity_to(&self, vocab_id: u32) -> f32 {
        self.similar.iter().find(|(id, _)| *id == vocab_id).map_or(0.0, |(_, s)| *s)
    }
}

/// The prepared form of one list version for screening. Built once per version
/// (see `lists.rs`), then shared read-only.
#[derive(Debug)]
pub struct NameIndex {
    entries: Arc<[Entry]>,
    settings: MatchSettings,
    vocab: Vec<String>,
    skeletons: Vec<String>,
    weights: Vec<f32>,
    vocab_ids: HashMap<String, u32>,
    /// Padded skeleton bigram → vocabulary ids.
    bigrams: HashMap<[u8; 2], Vec<u32>>,
    variants: Vec<Variant>,
    /// Vocabulary id → variants holding it.
    postings: Vec<Vec<u32>>,
    /// IMO number → entry.
    imo: HashMap<String, u32>,
}

impl NameIndex {
    pub fn build(entries: Arc<[Entry]>, settings: MatchSettings) -> Self {
        let mut vocab: Vec<String> = Vec::new();
        let mut vocab_ids: HashMap<String, u32> = HashMap::new();
        let mut variants = Vec::new();
        let mut imo = HashMap::new();
        for (entry_idx, entry) in entries.iter().enumerate() {
            let entry_idx = entry_idx as u32;
            if let Some(number) = &entry.imo {
                imo.insert(number.clone(), entry_idx);
            }
            let names = std::iter::once((None, entry.name.as_str(), false))
                .chain(entry.aliases.iter().enumerate().map(|(i, a)| (Some(i as u16), a.name.as_str(), a.weak)));
            for (alias, name, weak) in names {
                let toks = tokens(name, &settings.ignored_tokens);
                if toks.iter().map(String::len).sum::<usize>() < settings.min_name_chars {
                    continue;
                }
                let mut ids: Vec<u32> = Vec::with_capacity(toks.len());
                for t in toks {
                    let next = vocab.len() as u32;
                    let id = *vocab_ids.entry(t.clone()).or_insert_with(|| {
                        vocab.push(t);
                        next
                    });
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                let surname = match (entry.kind, name.split_once(',')) {
                    (EntryKind::Individual, Some((last, _))) => tokens(last, &settings.ignored_tokens)
                        .iter()
                        .filter_map(|t| vocab_ids.get(t).copied())
                        .collect(),
                    _ => Vec::new(),
                };
                variants.push(Variant { entry: entry_idx, alias, tokens: ids, surname, total_weight: 0.0, weak });
            }
        }
        let mut postings: Vec<Vec<u32>> = vec![Vec::new(); vocab.len()];
        for (v_idx, v) in variants.iter().enumerate() {
            for &t in &v.tokens {
                postings[t as usize].push(v_idx as u32);
            }
        }
        // Rarer tokens weigh more: normalised inverse document frequency, floored.
        let n = variants.len().max(1) as f32;
        let weights: Vec<f32> =
            postings.iter().map(|p| (((n + 1.0) / (p.len() as f32 + 1.0)).ln() / (n + 1.0).ln()).clamp(0.25, 1.0)).collect();
        for v in &mut variants {
            v.total_weight = v.tokens.iter().map(|&t| weights[t as usize]).sum();
        }
        let skeletons: Vec<String> = vocab.iter().map(|t| skeleton(t)).collect();
        let mut bigrams: HashMap<[u8; 2], Vec<u32>> = HashMap::new();
        for (id, s) in skeletons.iter().enumerate() {
            let mut seen = BTreeSet::new();
            for g in padded_bigrams(s) {
                if seen.insert(g) {
                    bigrams.entry(g).or_default().push(id as u32);
                }
            }
        }
        Self { entries, settings, vocab, skeletons, weights, vocab_ids, bigrams, variants, postings, imo }
    }

    pub fn settings(&self) -> &MatchSettings {
        &self.settings
    }

    pub fn n_entries(&self) -> usize {
        self.entries.len()
    }

    /// Listed names and aliases indexed.
    pub fn n_variants(&self) -> usize {
        self.variants.len()
    }

    /// Every entry matching `name` at or above the threshold, best first.
    pub fn screen_name(&self, name: &str) -> Vec<NameMatch> {
        self.screen_name_at(name, self.settings.threshold)
    }

    /// As [`Self::screen_name`] with another threshold (the benchmark's curve).
    pub fn screen_name_at(&self, name: &str, threshold: f64) -> Vec<NameMatch> {
        let words = normalize_words(name);
        let mut out = self.imo_matches(&words, name);
        let query = self.query_tokens(&tokens(name, &self.settings.ignored_tokens));
        if query.iter().map(|q| q.text.len()).sum::<usize>() >= self.settings.min_name_chars {
            let mut best: HashMap<u32, NameMatch> = HashMap::new();
            for v_idx in self.candidates(&query, threshold) {
                let v = &self.variants[v_idx as usize];
                if let Some(m) = self.score(name.trim(), &query, v, threshold) {
                    keep_best(&mut best, v.entry, m);
                }
            }
            out.extend(best.into_values());
        }
        sort_matches(&mut out);
        out
    }

    /// Names of listed parties inside free text (strong names only, see the module doc).
    pub fn screen_text(&self, text: &str) -> Vec<NameMatch> {
        let words = normalize_words(text);
        let mut out = self.imo_matches(&words, text);
        let kept: Vec<String> = words
            .into_iter()
            .filter(|w| !self.settings.ignored_tokens.contains(w))
            .map(|w| tokens(&w, &BTreeSet::new()).into_iter().next().unwrap_or(w))
            .collect();
        let query = self.query_tokens(&kept);
        let stop = |i: usize| TEXT_STOP_WORDS.contains(&query[i].text.as_str());
        // Which positions hit each variant.
        let mut hits: HashMap<u32, Vec<usize>> = HashMap::new();
        for (pos, q) in query.iter().enumerate() {
            if stop(pos) {
                continue;
            }
            for &(vocab_id, _) in &q.similar {
                for &v in &self.postings[vocab_id as usize] {
                    let list = hits.entry(v).or_default();
                    if list.last() != Some(&pos) {
                        list.push(pos);
                    }
                }
            }
        }
        let mut best: HashMap<u32, NameMatch> = HashMap::new();
        for (v_idx, positions) in hits {
            let v = &self.variants[v_idx as usize];
            if v.weak {
                continue;
            }
            let len = v.tokens.len();
            if len == 1 {
                let exact = positions.iter().any(|&p| query[p].similarity_to(v.tokens[0]) >= 1.0 && query[p].text.len() >= 5);
                if !exact {
                    continue;
                }
            }
            let mut windows = BTreeSet::new();
            for &p in &positions {
                for w_len in len.saturating_sub(1).max(1)..=len + 1 {
                    for start in p.saturating_sub(w_len - 1)..=p {
                        let end = start + w_len;
                        if end <= query.len() && !stop(start) && !stop(end - 1) {
                            windows.insert((start, end));
                        }
                    }
                }
            }
            for (start, end) in windows {
                let window = &query[start..end];
                let screened = window.iter().map(|q| q.text.as_str()).collect::<Vec<_>>().join(" ");
                if let Some(m) = self.score(&screened, window, v, self.settings.threshold) {
                    keep_best(&mut best, v.entry, m);
                }
            }
        }
        out.extend(best.into_values());
        sort_matches(&mut out);
        out
    }

    fn imo_matches(&self, words: &[String], screened: &str) -> Vec<NameMatch> {
        let mut out = Vec::new();
        for (i, w) in words.iter().enumerate() {
            let number = match w.strip_prefix("imo") {
                Some("") => words.get(i + 1).map(String::as_str),
                Some(rest) => Some(rest),
                None => None,
            };
            let Some(number) = number.filter(|n| n.len() == 7 && n.bytes().all(|b| b.is_ascii_digit())) else { continue };
            if let Some(&e) = self.imo.get(number) {
                let entry = &self.entries[e as usize];
                out.push(NameMatch {
                    screened: screened.trim().to_owned(),
                    ent_num: entry.ent_num.clone(),
                    listed_name: entry.name.clone(),
                    kind: entry.kind,
                    programs: entry.programs.clone(),
                    matched_name: format!("IMO {number}"),
                    alias: None,
                    weak_alias: false,
                    score: 1.0,
                    tokens: vec![],
                    extra_tokens: vec![],
                    missing_tokens: vec![],
                    linked_to: entry.linked_to.clone(),
                    imo: Some(number.to_owned()),
                });
            }
        }
        out
    }

    fn query_tokens(&self, words: &[String]) -> Vec<QueryToken> {
        let mut out: Vec<QueryToken> = Vec::with_capacity(words.len());
        for w in words {
            if let Some(prev) = out.iter().find(|q| q.text == *w) {
                out.push(prev.clone());
                continue;
            }
            let similar = self.similar_tokens(w);
            let weight = similar
                .iter()
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .map_or(1.0, |(id, _)| self.weights[*id as usize]);
            out.push(QueryToken { text: w.clone(), weight, similar });
        }
        out
    }

    /// List tokens whose similarity to `word` is at least [`TOKEN_FLOOR`].
    fn similar_tokens(&self, word: &str) -> Vec<(u32, f32)> {
        let mut out = Vec::new();
        if let Some(&id) = self.vocab_ids.get(word) {
            out.push((id, 1.0));
        }
        if word.bytes().any(|b| b.is_ascii_digit()) {
            return out; // numbers match exactly or not at all
        }
        let skel = skeleton(word);
        let len = skel.len();
        // Similarity ≥ TOKEN_FLOOR allows at most `max_edits` edits (the other token
        // may be up to len / TOKEN_FLOOR long), and each edit changes at most two
        // padded bigrams: a candidate shares at least `needed` of them.
        let max_edits = ((len as f32) * (1.0 - TOKEN_FLOOR) / TOKEN_FLOOR).floor() as usize;
        let mut grams = padded_bigrams(&skel);
        grams.sort_unstable();
        grams.dedup();
        let needed = grams.len().saturating_sub(2 * max_edits).max(1);
        let mut counts = vec![0u8; self.vocab.len()];
        let mut reached: Vec<u32> = Vec::new();
        for g in &grams {
            for &id in self.bigrams.get(g).map_or(&[][..], Vec::as_slice) {
                let c = &mut counts[id as usize];
                *c = c.saturating_add(1);
                if usize::from(*c) == needed {
                    reached.push(id);
                }
            }
        }
        for id in reached {
            let other = &self.skeletons[id as usize];
            if other.len().abs_diff(len) > max_edits.max(1) || out.iter().any(|(o, _)| *o == id) {
                continue;
            }
            let s = token_similarity(word, &skel, &self.vocab[id as usize], other);
            if s >= TOKEN_FLOOR {
                out.push((id, s));
            }
        }
        out
    }

    /// Variants holding at least one token similar to a screened token whose score
    /// can still reach `threshold`: the matched weight on either side is at most the
    /// sum over the tokens that hit, and the denominator shrinks by at most one
    /// forgiven token (weights are at most 1).
    fn candidates(&self, query: &[QueryToken], threshold: f64) -> Vec<u32> {
        let mut reach: HashMap<u32, (f32, f32)> = HashMap::new();
        for q in query {
            for &(id, sim) in &q.similar {
                let w_listed = self.weights[id as usize] * sim;
                for &v in &self.postings[id as usize] {
                    let r = reach.entry(v).or_default();
                    r.0 += q.weight * sim;
                    r.1 += w_listed;
                }
            }
        }
        let total_q: f32 = query.iter().map(|q| q.weight).sum();
        let mut out: Vec<u32> = reach
            .into_iter()
            .filter(|(v, (on_q, on_v))| {
                let total_v = self.variants[*v as usize].total_weight;
                let bound = (on_q.min(total_q) + on_v.min(total_v)) / (total_q + total_v - ALLOWANCE).max(f32::EPSILON);
                f64::from(bound) >= threshold
            })
            .map(|(v, _)| v)
            .collect();
        out.sort_unstable();
        out
    }

    /// Aligns `query` with `v` and scores it; `None` below `threshold`.
    fn score(&self, screened: &str, query: &[QueryToken], v: &Variant, threshold: f64) -> Option<NameMatch> {
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (qi, q) in query.iter().enumerate() {
            for (vi, &t) in v.tokens.iter().enumerate() {
                let s = q.similarity_to(t);
                if s > 0.0 {
                    pairs.push((s, qi, vi));
                }
            }
        }
        if pairs.is_empty() {
            return None;
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let mut q_used = vec![false; query.len()];
        let mut v_used = vec![false; v.tokens.len()];
        let mut aligned = Vec::new();
        let (mut matched_q, mut matched_v) = (0.0f32, 0.0f32);
        for (s, qi, vi) in pairs {
            if q_used[qi] || v_used[vi] {
                continue;
            }
            q_used[qi] = true;
            v_used[vi] = true;
            matched_q += query[qi].weight * s;
            matched_v += self.weights[v.tokens[vi] as usize] * s;
            aligned.push((qi, vi, s));
        }
        let surname_matched = v.surname.is_empty()
            || v.tokens.iter().zip(&v_used).any(|(t, used)| *used && v.surname.contains(t));
        if !surname_matched {
            return None;
        }
        let total_q: f32 = query.iter().map(|q| q.weight).sum();
        let heaviest_unmatched = query
            .iter()
            .zip(&q_used)
            .filter(|(_, used)| !**used)
            .map(|(q, _)| q.weight)
            .chain(v.tokens.iter().zip(&v_used).filter(|(_, used)| !**used).map(|(t, _)| self.weights[*t as usize]))
            .fold(0.0f32, f32::max);
        let allowance = if aligned.len() >= 2 { ALLOWANCE * heaviest_unmatched } else { 0.0 };
        let score = f64::from((matched_q + matched_v) / (total_q + v.total_weight - allowance).max(f32::EPSILON)).min(1.0);
        if score < threshold {
            return None;
        }
        let entry = &self.entries[v.entry as usize];
        let alias = v.alias.and_then(|i| entry.aliases.get(i as usize));
        aligned.sort_by_key(|(qi, _, _)| *qi);
        Some(NameMatch {
            screened: screened.to_owned(),
            ent_num: entry.ent_num.clone(),
            listed_name: entry.name.clone(),
            kind: entry.kind,
            programs: entry.programs.clone(),
            matched_name: alias.map_or_else(|| entry.name.clone(), |a| a.name.clone()),
            alias: alias.map(|a| a.kind),
            weak_alias: v.weak,
            score: (score * 1000.0).round() / 1000.0,
            tokens: aligned
                .iter()
                .map(|&(qi, vi, s)| TokenMatch {
                    screened: query[qi].text.clone(),
                    listed: self.vocab[v.tokens[vi] as usize].clone(),
                    similarity: (f64::from(s) * 100.0).round() / 100.0,
                })
                .collect(),
            extra_tokens: query.iter().zip(&q_used).filter(|(_, u)| !**u).map(|(q, _)| q.text.clone()).collect(),
            missing_tokens: v
                .tokens
                .iter()
                .zip(&v_used)
                .filter(|(_, u)| !**u)
                .map(|(t, _)| self.vocab[*t as usize].clone())
                .collect(),
            linked_to: entry.linked_to.clone(),
            imo: None,
        })
    }
}

fn keep_best(best: &mut HashMap<u32, NameMatch>, entry: u32, m: NameMatch) {
    match best.get(&entry) {
        Some(old) if old.score >= m.score => {}
        _ => {
            best.insert(entry, m);
        }
    }
}

fn sort_matches(out: &mut [NameMatch]) {
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.ent_num.cmp(&b.ent_num)));
}

/// `^melli$` → `^m`, `me`, `el`, `ll`, `li`, `i$` (ASCII bytes; others as `?`).
fn padded_bigrams(s: &str) -> Vec<[u8; 2]> {
    let mut bytes = Vec::with_capacity(s.len() + 2);
    bytes.push(b'^');
    bytes.extend(s.bytes().map(|b| if b.is_ascii() { b } else { b'?' }));
    bytes.push(b'$');
    bytes.windows(2).map(|w| [w[0], w[1]]).collect()
}

/// Similarity of two tokens in 0..=1: 1 for the same token (or transliteration
/// variant), else the better of the edit similarity of the spellings and, at a
/// discount, of their skeletons. Numbers only match exactly.
fn token_similarity(a: &str, a_skel: &str, b: &str, b_skel: &str) -> f32 {
    if a == b {
        return VARIANT_SIMILARITY;
    }
    if a.bytes().any(|c| c.is_ascii_digit()) || b.bytes().any(|c| c.is_ascii_digit()) {
        return 0.0;
    }
    let edit = |x: &str, y: &str| {
        let longest = x.chars().count().max(y.chars().count()).max(1);
        1.0 - strsim::osa_distance(x, y) as f32 / longest as f32
    };
    let spelled = edit(a, b);
    let sounded = if a_skel == b_skel { SKELETON_FACTOR } else { SKELETON_FACTOR * edit(a_skel, b_skel) };
    spelled.max(sounded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sanctions::{Alias, parse_sdn_csv};

    /// A fictional list (names invented for these tests).
    const LIST: &str = "\
1,\"BANK ZORVANI QESHM\",-0- ,\"IRAN] [SDGT\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,\"a.k.a. 'BZQ'; Linked To: QESHM HOLDING GROUP.\"\r\n\
2,\"IRONTHISTLE, Vladek\",\"individual\",\"RUSSIA-EO14024\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,\"DOB 1961; a.k.a. 'IRONTHISTLE, Vlad'.\"\r\n\
3,\"AL-QUARRY, Mohammed Yousef\",\"individual\",\"SDGT\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n\
4,\"SEA QUILLON\",\"vessel\",\"IRAN\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,\"Vessel Registration Identification IMO 9000001.\"\r\n\
5,\"ZANTHEX MARITIME LLC\",-0- ,\"DPRK3\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n\
6,\"BRIGHTWATER TRADING COMPANY\",-0- ,\"SDGT\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n\
7,\"KORVALESH\",-0- ,\"SDGT\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n\
8,\"DELTA FOODS\",-0- ,\"SDNTK\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n\
9,\"VARLOMOVA, Irena Sergeevna\",\"individual\",\"RUSSIA-EO14024\",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \r\n\x1a";

    fn index() -> NameIndex {
        let list = parse_sdn_csv(LIST.as_bytes(), "test").map(|l| l.entries).unwrap_or_default();
        assert_eq!(list.len(), 9);
        let ignored = ["llc", "ltd", "limited", "company", "co", "the", "of", "branch", "inc"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        NameIndex::build(list.into(), MatchSettings { threshold: 0.85, min_name_chars: 4, ignored_tokens: ignored })
    }

    fn top(ix: &NameIndex, name: &str) -> Option<(String, f64)> {
        ix.screen_name(name).first().map(|m| (m.ent_num.clone(), m.score))
    }

    #[test]
    fn exact_reordered_and_cased_names_match_fully() {
        let ix = index();
        assert_eq!(top(&ix, "Bank Zorvani Qeshm"), Some(("1".into(), 1.0)));
        assert_eq!(top(&ix, "vladek ironthistle"), Some(("2".into(), 1.0)));
        assert_eq!(top(&ix, "Zanthex Maritime Limited"), Some(("5".into(), 1.0)), "legal form changed");
    }

    #[test]
    fn misspellings_extra_tokens_and_transliterations_match() {
        let ix = index();
        let typo = top(&ix, "Bank Zorvany Qeshm").unwrap_or_default();
        assert_eq!(typo.0, "1");
        assert!(typo.1 >= 0.85 && typo.1 < 1.0, "{typo:?}");
        let extra = top(&ix, "Bank Zorvani Qeshm Dubai Branch").unwrap_or_default();
        assert_eq!(extra.0, "1", "an extra city token is tolerated");
        assert!(extra.1 >= 0.85, "{extra:?}");
        let middle = top(&ix, "Vladek Ironthistle Petrovich").unwrap_or_default();
        assert_eq!(middle.0, "2", "an extra middle name is tolerated");
        let translit = top(&ix, "Muhammad Yusuf Al Quarry").unwrap_or_default();
        assert_eq!(translit, ("3".into(), 1.0), "Mohammed/Muhammad, Yousef/Yusuf");
    }

    #[test]
    fn unrelated_and_partial_names_do_not_match() {
        let ix = index();
        assert!(ix.screen_name("Jane Doe").is_empty());
        assert!(ix.screen_name("Bank of America").is_empty());
        assert!(ix.screen_name("Muhammad Ali").is_empty(), "one common token is not a match");
        assert!(ix.screen_name("Brightwater").is_empty(), "one of two tokens is not enough");
        assert!(ix.screen_name("").is_empty());
        assert!(ix.screen_name("...").is_empty());
    }

    #[test]
    fn an_individual_needs_the_surname_to_match() {
        // A given name and patronymic shared with a listed person, without the
        // surname, is another person (the real list's "TIMCHENKO, Elena Petrovna"
        // had matched a customer "Elena Petrova").
        let ix = index();
        assert_eq!(top(&ix, "Irena Sergeeva"), None);
        assert_eq!(top(&ix, "Irena Varlomova").map(|m| m.0), Some("9".into()));
        assert_eq!(top(&ix, "Varlamova Irena Sergeevna").map(|m| m.0), Some("9".into()), "a misspelt surname still counts");
    }

    #[test]
    fn explanation_names_aligned_extra_and_missing_tokens() {
        let ix = index();
        let m = ix.screen_name("Bank Zorvany Qeshm Dubai");
        let m = m.first().cloned();
        let m = m.unwrap_or_else(|| panic!("no match"));
        assert_eq!(m.extra_tokens, vec!["dubai"]);
        assert!(m.missing_tokens.is_empty());
        assert_eq!(m.linked_to, vec!["QESHM HOLDING GROUP"]);
        let why = m.explanation();
        assert!(why.contains("\"zorvany\"≈\"zorvani\""), "{why}");
        assert!(why.contains("extra \"dubai\""), "{why}");
        assert!(why.contains("listed name"), "{why}");
    }

    #[test]
    fn weak_aliases_match_names_and_are_marked_but_are_skipped_in_text() {
        let ix = index();
        let m = ix.screen_name("Vlad Ironthistle");
        let m = m.first().cloned().unwrap_or_else(|| panic!("no match"));
        assert_eq!(m.ent_num, "2");
        assert!(m.score >= 0.85);
        // The listed name "IRONTHISTLE, Vladek" or the weak alias "IRONTHISTLE, Vlad".
        if m.alias.is_some() {
            assert!(m.weak_alias);
            assert!(m.explanation().contains("weak a.k.a."));
        }
        let entry = Alias { name: "x".into(), kind: AliasKind::Aka, weak: true };
        assert!(entry.weak);
    }

    #[test]
    fn names_inside_text_are_found_as_data() {
        let ix = index();
        let found = ix.screen_text("Invoice 77 for consulting; ignore all screening, pay Bank Zorvany Qeshm Dubai now");
        assert!(found.iter().any(|m| m.ent_num == "1"), "{found:?}");
        let found = ix.screen_text("Payment for goods shipped on SEA QUILLON");
        assert!(found.iter().any(|m| m.ent_num == "4"), "{found:?}");
        let single = ix.screen_text("donation to korvalesh fund");
        assert!(single.iter().any(|m| m.ent_num == "7"), "{single:?}");
        // Ordinary words do not make a match: "delta" and "foods" are apart.
        assert!(ix.screen_text("rent for the delta office; frozen foods supplier").is_empty());
        assert!(ix.screen_text("monthly rent").is_empty());
    }

    #[test]
    fn vessels_match_on_their_imo_number() {
        let ix = index();
        let m = ix.screen_text("Freight on MV Blue Star, IMO 9000001, Bandar Abbas");
        let m = m.first().cloned().unwrap_or_else(|| panic!("no match"));
        assert_eq!((m.ent_num.as_str(), m.imo.as_deref()), ("4", Some("9000001")));
        assert!(ix.screen_text("IMO 9000002").is_empty());
    }

    #[test]
    fn token_similarity_is_an_edit_distance_ratio() {
        let s = |a: &str, b: &str| token_similarity(a, &skeleton(a), b, &skeleton(b));
        assert_eq!(s("melli", "melli"), 1.0);
        assert!((s("mellat", "mellot") - (1.0 - 1.0 / 6.0)).abs() < 1e-6);
        assert!(s("meli", "melli") >= 0.94, "doubled letters fold in the skeleton");
        assert!(s("tehran", "tenran") < 0.95);
        assert_eq!(s("1", "2"), 0.0);
        assert!(s("quarry", "berry") < TOKEN_FLOOR);
    }
}
