//! Name normalisation for screening: the same function prepares listed names and
//! screened text, so both sides meet in one form.
//!
//! Steps: Unicode compatibility decomposition with combining marks dropped
//! (`Müller` → `muller`, `Şahin` → `sahin`), lowercase, apostrophes and periods
//! removed inside words (`O'Brien` → `obrien`, `S.A.` → `sa`), every other non
//! alphanumeric character a word break; then, for names, legal-form and filler words
//! dropped and common transliteration variants mapped to one spelling
//! (`Mohammed`/`Muhammad`/`Mohamad` → `muhammad`).

use std::collections::BTreeSet;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Lowercase ASCII-folded words of `text`, in order.
pub fn normalize_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    for ch in text.nfkd() {
        if is_combining_mark(ch) {
            continue;
        }
        if ch.is_alphanumeric() {
            word.extend(ch.to_lowercase());
        } else if matches!(ch, '\'' | '\u{2019}' | '\u{2018}' | '`' | '\u{b4}' | '.') {
            // inside a word: "O'Brien" → "obrien", "J.P." → "jp"
        } else if !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// The tokens a name is matched on: [`normalize_words`] without the `ignored` words
/// (legal forms, fillers), each mapped to its canonical transliteration.
pub fn tokens(name: &str, ignored: &BTreeSet<String>) -> Vec<String> {
    normalize_words(name)
        .into_iter()
        .filter(|w| !ignored.contains(w))
        .map(|w| canonical(&w).map_or(w, str::to_owned))
        .collect()
}

/// Spelling variants of the same name in Latin transliterations (Arabic, Persian,
/// Russian, Ukrainian, Korean), first the canonical form.
const VARIANTS: &[&[&str]] = &[
    &["muhammad", "mohammed", "mohammad", "mohamed", "mohamad", "muhammed", "muhamad", "mohamud", "muhamed", "mohd", "mhd", "mohammod", "muhammet"],
    &["ahmad", "ahmed", "ahmet", "akhmed", "ahmd"],
    &["mahmoud", "mahmud", "mahmood", "mahmut"],
    &["husayn", "hussein", "husain", "hussain", "hosein", "hossein", "hussien", "husein", "hossain", "houssein"],
    &["hasan", "hassan", "hassane"],
    &["abdul", "abdel", "abd", "abdal", "abdol", "abdoul", "abdulla"],
    &["abdullah", "abdallah", "abdollah", "abdalla"],
    &["yusuf", "yousef", "youssef", "yusef", "yousif", "yousuf", "youssouf", "jusuf", "yussuf"],
    &["umar", "omar", "omer"],
    &["usama", "osama", "usamah", "oussama"],
    &["khalid", "khaled"],
    &["qasim", "kassim", "qassem", "qasem", "kasim", "ghasem", "qassim"],
    &["ibrahim", "ebrahim", "ibraheem", "brahim"],
    &["ismail", "ismael", "esmail", "ismayil", "ismaeel"],
    &["mustafa", "mostafa", "moustafa", "mustapha", "moustapha"],
    &["said", "saeed", "sayed", "sayyid", "saied", "saiid"],
    &["sulayman", "sulaiman", "suleiman", "soleiman", "suleyman", "soliman", "sleiman"],
    &["yahya", "yahia", "yehia", "yahiya"],
    &["nasir", "nasser", "naser", "nassir"],
    &["jafar", "jaafar", "jafaar", "djafar", "jaffar"],
    &["hamid", "hameed", "hamed"],
    &["rahman", "rehman", "rahmon"],
    &["karim", "kareem", "kerim"],
    &["aziz", "azeez"],
    &["hizballah", "hezbollah", "hizbollah", "hizbullah", "hezbolla"],
    &["qaida", "qaeda", "qaedah", "kaida"],
    &["aleksandr", "alexander", "aleksander", "alexandr", "oleksandr", "alexandre"],
    &["aleksey", "alexei", "alexey", "aleksei", "oleksiy", "oleksii"],
    &["sergey", "sergei", "serguei", "serhiy", "serhii"],
    &["dmitriy", "dmitry", "dmitri", "dmytro"],
    &["andrey", "andrei", "andriy", "andrii"],
    &["yevgeniy", "yevgeny", "evgeny", "evgeniy", "yevhen", "evgenii"],
    &["yuriy", "yuri", "yury", "iouri", "yurii"],
    &["nikolay", "nikolai", "mykola"],
    &["vladimir", "volodymyr"],
    &["igor", "ihor"],
    &["oleg", "oleh"],
    &["valeriy", "valery", "valeri", "valerii"],
    &["viktor", "victor"],
    &["grigoriy", "grigory", "grigori", "hryhoriy"],
    &["konstantin", "kostiantyn", "kostyantyn"],
    &["pyotr", "petr", "piotr"],
    &["fedor", "fyodor", "fiodor"],
    &["pak", "park"],
    &["ri", "lee", "rhee", "yi"],
    &["choe", "choi"],
];

fn canonical(word: &str) -> Option<&'static str> {
    VARIANTS.iter().find(|group| group.contains(&word)).map(|group| group[0])
}

/// A rough phonetic skeleton of a token, for spellings a transliteration table cannot
/// list: `ph`→`f`, `kh`→`h`, `q`/`ck`/`c`→`k`, `w`→`v`, `y`/`j`→`i`, `z`→`s`,
/// `ou`/`oo`→`u`, `ee`→`i`, doubled letters once.
pub(crate) fn skeleton(token: &str) -> String {
    let mut s = token.to_owned();
    for (from, to) in [("ph", "f"), ("kh", "h"), ("ck", "k"), ("ou", "u"), ("oo", "u"), ("ee", "i")] {
        if s.contains(from) {
            s = s.replace(from, to);
        }
    }
    let mut out = String::with_capacity(s.len());
    let mut last = None;
    for c in s.chars() {
        let c = match c {
            'q' | 'c' => 'k',
            'w' => 'v',
            'y' | 'j' => 'i',
            'z' => 's',
            other => other,
        };
        if last != Some(c) {
            out.push(c);
        }
        last = Some(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignored() -> BTreeSet<String> {
        ["llc", "ltd", "the", "of"].iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn words_fold_case_diacritics_and_punctuation() {
        assert_eq!(normalize_words("QUÖRLANDT, Mirélda"), vec!["quorlandt", "mirelda"]);
        assert_eq!(normalize_words("O'Brien-Smith S.A."), vec!["obrien", "smith", "sa"]);
        assert_eq!(normalize_words("Şahin  Çelik\t(Ankara)"), vec!["sahin", "celik", "ankara"]);
        assert!(normalize_words(" ... ;; ").is_empty());
    }

    #[test]
    fn tokens_drop_legal_forms_and_map_transliterations() {
        assert_eq!(tokens("Mohammed Al-Quarry LLC", &ignored()), vec!["muhammad", "al", "quarry"]);
        assert_eq!(tokens("MUHAMMAD AL QUARRY LTD.", &ignored()), vec!["muhammad", "al", "quarry"]);
        assert_eq!(tokens("Yousef Hossein", &ignored()), tokens("YUSUF, Husayn", &ignored()));
    }

    #[test]
    fn skeleton_merges_common_spelling_shifts() {
        assert_eq!(skeleton("melli"), skeleton("meli"));
        assert_eq!(skeleton("qadhafi"), skeleton("kadhafi"));
        assert_eq!(skeleton("youssef"), skeleton("yusef"));
        assert_ne!(skeleton("melli"), skeleton("mellat"));
    }
}
