//! Owns references into the Code of Federal Regulations (`31 CFR 1010.311(a)`,
//! `31 CFR Part 515`): parsing them from a citation or free text, and whether one covers
//! or is mentioned by another. Used to choose the rules' citations
//! ([`super::rules_generator`]) and to catch regulations the model made up ([`super::cite`]).

/// A reference into the Code of Federal Regulations: `31 CFR 1010.311(a)` →
/// title 31, part 1010, section 1010.311; `31 CFR Part 515` → title 31, part 515.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CfrRef {
    pub title: Option<String>,
    pub part: String,
    pub section: Option<String>,
}

impl CfrRef {
    pub fn parse(s: &str) -> Option<Self> {
        let tokens: Vec<&str> = s.split_whitespace().collect();
        let at = tokens.iter().position(|t| {
            let t = t.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '.');
            t.eq_ignore_ascii_case("CFR")
                || t.eq_ignore_ascii_case("C.F.R.")
                || t.eq_ignore_ascii_case("C.F.R")
        })?;
        let title = at
            .checked_sub(1)
            .map(|i| tokens[i].trim_matches(|c: char| !c.is_ascii_digit()))
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        let mut rest = tokens[at + 1..].iter().copied();
        let mut number = rest.next()?;
        while number.eq_ignore_ascii_case("part")
            || number.starts_with('§') && number.trim_start_matches('§').is_empty()
        {
            number = rest.next()?;
        }
        let number = number.trim_start_matches('§');
        let digits: String = number
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let digits = digits.trim_end_matches('.');
        if digits.is_empty() || !digits.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        match digits.split_once('.') {
            Some((part, sec)) if !sec.is_empty() => Some(Self {
                title,
                part: part.to_string(),
                section: Some(format!("{part}.{sec}")),
            }),
            _ => Some(Self {
                title,
                part: digits.to_string(),
                section: None,
            }),
        }
    }

    /// Whether `chunk` (a chunk's citation) falls under this (a finding's) reference.
    pub fn covers(&self, chunk: &CfrRef) -> bool {
        if let (Some(a), Some(b)) = (&self.title, &chunk.title)
            && a != b
        {
            return false;
        }
        match &self.section {
            Some(s) => chunk.section.as_deref() == Some(s.as_str()),
            None => chunk.part == self.part,
        }
    }

    /// Whether `text` cites this reference: the section number (`1010.311`, also as
    /// `1010.311(a)`) or, for a part, `Part 515` / `CFR 515.x`.
    pub fn mentioned_in(&self, text: &str) -> bool {
        match &self.section {
            Some(s) => contains_number(text, s),
            None => {
                let part = &self.part;
                contains_number(text, &format!("Part {part}"))
                    || contains_number(text, &format!("part {part}"))
                    || text
                        .match_indices(&format!("CFR {part}."))
                        .any(|(i, m)| text[i + m.len()..].starts_with(|c: char| c.is_ascii_digit()))
            }
        }
    }
}

impl std::fmt::Display for CfrRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(t) = &self.title {
            write!(f, "{t} ")?;
        }
        match &self.section {
            Some(s) => write!(f, "CFR {s}"),
            None => write!(f, "CFR Part {}", self.part),
        }
    }
}

/// The CFR references written in `text` (`31 CFR 1010.311(a)`, `12 C.F.R. Part 21`, …).
pub(crate) fn cfr_references(text: &str) -> Vec<CfrRef> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let mut out = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let core = t.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '.');
        if core.eq_ignore_ascii_case("CFR")
            || core.eq_ignore_ascii_case("C.F.R.")
            || core.eq_ignore_ascii_case("C.F.R")
        {
            let window = tokens[i.saturating_sub(1)..(i + 4).min(tokens.len())].join(" ");
            if let Some(r) = CfrRef::parse(&window) {
                out.push(r);
            }
        }
    }
    out
}

/// `needle` occurs in `text` not glued to other digits (so `1010.31` is not found in
/// `1010.311`, nor `1010.311` in `21010.311`).
fn contains_number(text: &str, needle: &str) -> bool {
    text.match_indices(needle).any(|(i, m)| {
        let before = text[..i].chars().next_back();
        let after = &text[i + m.len()..];
        let glued_before = before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '.');
        let mut it = after.chars();
        let glued_after = match it.next() {
            Some(c) if c.is_ascii_digit() => true,
            Some('.') => it.next().is_some_and(|c| c.is_ascii_digit()),
            _ => false,
        };
        !glued_before && !glued_after
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cfr_references() {
        let r = CfrRef::parse("31 CFR 1010.311(a)").unwrap();
        assert_eq!(
            (r.title.as_deref(), r.part.as_str(), r.section.as_deref()),
            (Some("31"), "1010", Some("1010.311"))
        );
        let p = CfrRef::parse("31 CFR Part 515").unwrap();
        assert_eq!((p.part.as_str(), p.section), ("515", None));
        assert_eq!(
            CfrRef::parse("31 C.F.R. § 1020.320")
                .unwrap()
                .section
                .as_deref(),
            Some("1020.320")
        );
        assert_eq!(CfrRef::parse("AML 4.2"), None);
        assert_eq!(CfrRef::parse("CFR"), None);
        assert_eq!(CfrRef::parse("31 CFR Part"), None);
    }

    #[test]
    fn section_and_part_matching() {
        let sec = CfrRef::parse("31 CFR 1010.311").unwrap();
        assert!(sec.covers(&CfrRef::parse("31 CFR 1010.311(a)").unwrap()));
        assert!(sec.covers(&CfrRef::parse("31 CFR 1010.311").unwrap()));
        assert!(!sec.covers(&CfrRef::parse("31 CFR 1010.313").unwrap()));
        assert!(!sec.covers(&CfrRef::parse("31 CFR 1010.3110").unwrap()));
        assert!(!sec.covers(&CfrRef::parse("12 CFR 1010.311").unwrap()));
        let part = CfrRef::parse("31 CFR Part 515").unwrap();
        assert!(part.covers(&CfrRef::parse("31 CFR 515.201").unwrap()));
        assert!(part.covers(&CfrRef::parse("31 CFR Part 515").unwrap()));
        assert!(!part.covers(&CfrRef::parse("31 CFR 560.201").unwrap()));
        assert!(!part.covers(&CfrRef::parse("31 CFR 5150.1").unwrap()));

        assert!(sec.mentioned_in("as required (31 CFR 1010.311)."));
        assert!(sec.mentioned_in("see 1010.100 and 1010.311(a)(1); then"));
        assert!(!sec.mentioned_in("see 31 CFR 1010.3110"));
        assert!(!sec.mentioned_in("see 31 CFR 1010.31"));
        assert!(part.mentioned_in("the Cuban regulations (31 CFR Part 515) prohibit"));
        assert!(part.mentioned_in("blocked under 31 CFR 515.201(b)"));
        assert!(!part.mentioned_in("31 CFR Part 5150"));
    }
}
