//! Owns citation strings: deriving `31 CFR 1010.410(e)(1)`, `31 CFR 560.201` or `AML 4.2`
//! from a document's citation and the headings above a chunk.

/// The citation of a chunk under `headings` (outermost first) in a document cited as
/// `doc_citation`. The deepest heading that carries a section marker decides; without
/// one the document's own citation applies.
pub fn derive(doc_citation: Option<&str>, headings: &[String]) -> Option<String> {
    let doc = doc_citation.map(str::trim).filter(|c| !c.is_empty());
    headings
        .iter()
        .rev()
        .find_map(|h| from_heading(doc, h))
        .or_else(|| doc.map(str::to_string))
}

fn from_heading(doc: Option<&str>, heading: &str) -> Option<String> {
    let h = heading.trim();
    // `§ 560.201 — Prohibited ...` → `31 CFR 560.201`
    if let Some(rest) = h.strip_prefix('§') {
        let section = leading_token(rest.trim_start(), |c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if !section.is_empty() {
            let title = doc.and_then(cfr_title).unwrap_or("");
            return Some(format!("{title}{section}").trim().to_string());
        }
    }
    // `(e)(1) Recordkeeping …` → `31 CFR 1010.410(e)(1)`
    if h.starts_with('(') {
        let para = paragraph_marker(h);
        if !para.is_empty() {
            let base = doc.filter(|d| !d.contains("Part "))?;
            return Some(format!("{base}{para}"));
        }
    }
    // `4.2 Aggregation` or `4. Scope` → `AML 4.2` / `AML 4`
    let token = leading_token(h, |c| c.is_ascii_digit() || c == '.');
    let number = token.trim_end_matches('.');
    let numbered = token.contains('.') && !number.is_empty() && !number.contains("..");
    if numbered && number.starts_with(|c: char| c.is_ascii_digit()) {
        let rest = &h[number.len()..];
        let rest = rest.strip_prefix('.').unwrap_or(rest);
        if rest.starts_with(char::is_whitespace) {
            return Some(match doc {
                Some(prefix) => format!("{prefix} {number}"),
                None => number.to_string(),
            });
        }
    }
    None
}

/// `31 CFR Part 560` → `31 CFR `; `31 CFR 1010.311` → `31 CFR `.
fn cfr_title(doc: &str) -> Option<&str> {
    let idx = doc.find("CFR ")?;
    Some(&doc[..idx + 4])
}

fn leading_token(s: &str, ok: impl Fn(char) -> bool) -> &str {
    let end = s.find(|c: char| !ok(c)).unwrap_or(s.len());
    &s[..end]
}

/// `(e)(1)(ii) text` → `(e)(1)(ii)`.
fn paragraph_marker(s: &str) -> &str {
    let mut end = 0;
    let bytes = s.as_bytes();
    while end < bytes.len() && bytes[end] == b'(' {
        let Some(close) = s[end..].find(')') else { break };
        let inner = &s[end + 1..end + close];
        if inner.is_empty() || inner.len() > 4 || !inner.chars().all(|c| c.is_ascii_alphanumeric()) {
            break;
        }
        end += close + 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cfr_paragraphs() {
        let heads = h(&["31 CFR 1010.410 — Records", "(e) Non-bank", "(e)(1) Recordkeeping by role"]);
        assert_eq!(derive(Some("31 CFR 1010.410"), &heads).as_deref(), Some("31 CFR 1010.410(e)(1)"));
        let heads = h(&["31 CFR 1010.311 — Filing", "(a) General"]);
        assert_eq!(derive(Some("31 CFR 1010.311"), &heads).as_deref(), Some("31 CFR 1010.311(a)"));
    }

    #[test]
    fn unlettered_heading_inherits_from_parent_or_document() {
        let heads = h(&["31 CFR 1010.410 — Records", "(f) Travel rule", "Fedwire format safe harbor"]);
        assert_eq!(derive(Some("31 CFR 1010.410"), &heads).as_deref(), Some("31 CFR 1010.410(f)"));
        let heads = h(&["31 CFR 1010.311 — Filing", "Related requirements"]);
        assert_eq!(derive(Some("31 CFR 1010.311"), &heads).as_deref(), Some("31 CFR 1010.311"));
    }

    #[test]
    fn sections_of_a_part() {
        let heads = h(&["31 CFR Part 560 — ITSR", "§ 560.204 — Prohibited exportation"]);
        assert_eq!(derive(Some("31 CFR Part 560"), &heads).as_deref(), Some("31 CFR 560.204"));
        // A paragraph marker does not attach to a whole part.
        let heads = h(&["(a) Something"]);
        assert_eq!(derive(Some("31 CFR Part 560"), &heads).as_deref(), Some("31 CFR Part 560"));
    }

    #[test]
    fn numbered_policy_sections() {
        let heads = h(&["AML Policy", "4. Currency transactions", "4.2 Aggregation"]);
        assert_eq!(derive(Some("AML"), &heads).as_deref(), Some("AML 4.2"));
        let heads = h(&["AML Policy", "14. Records"]);
        assert_eq!(derive(Some("AML"), &heads).as_deref(), Some("AML 14"));
        assert_eq!(derive(None, &h(&["2.3.1 Steps"])).as_deref(), Some("2.3.1"));
        // Numbers that are not section markers.
        assert_eq!(derive(Some("AML"), &h(&["2025 changes"])).as_deref(), Some("AML"));
        assert_eq!(derive(None, &h(&["10,000 threshold"])), None);
    }
}
