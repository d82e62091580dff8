//! Owns how values look on the pages: amounts, dates, risk badges, citation labels.

use crate::guidance::Citation;
use crate::rules::{RiskLevel, Severity};

/// `12,500.00`: the amount's exact decimal (see `domain::Money`), rounded to cents.
pub fn amount(value: f64) -> String {
    crate::domain::Money::from_f64(value).map_or_else(|_| format!("{value:.2}"), crate::domain::Money::grouped)
}

pub fn risk_label(level: RiskLevel) -> &'static str {
    match level {
        RiskLevel::Low => "Low",
        RiskLevel::Medium => "Medium",
        RiskLevel::High => "High",
    }
}

/// CSS class of a risk or severity badge.
pub fn risk_class(level: RiskLevel) -> &'static str {
    match level {
        RiskLevel::Low => "badge-low",
        RiskLevel::Medium => "badge-medium",
        RiskLevel::High => "badge-high",
    }
}

pub fn severity(s: Severity) -> (&'static str, &'static str) {
    match s {
        Severity::Low => ("Low", "badge-low"),
        Severity::Medium => ("Medium", "badge-medium"),
        Severity::High => ("High", "badge-high"),
        Severity::Critical => ("Critical", "badge-critical"),
    }
}

/// A citation as a link text and its details line.
#[derive(Debug, Clone)]
pub struct CitationView {
    pub chunk_id: String,
    pub label: String,
    pub detail: String,
    pub excerpt: String,
}

impl CitationView {
    pub fn of(c: &Citation) -> Self {
        let label = match &c.citation {
            Some(cite) => format!("{cite} — {}", c.document_title),
            None => c.document_title.clone(),
        };
        let mut detail = format!("version {}", c.version);
        if !c.section_path.is_empty() {
            detail.push_str(&format!(" · {}", c.section_path.join(" › ")));
        }
        if let Some(p) = pages(c.pages) {
            detail.push_str(&format!(" · {p}"));
        }
        Self {
            chunk_id: c.chunk_id.to_string(),
            label,
            detail,
            excerpt: c.excerpt.clone(),
        }
    }

    pub fn list(cs: &[Citation]) -> Vec<Self> {
        cs.iter().map(Self::of).collect()
    }
}

/// `p. 3` or `pp. 3–5`.
pub fn pages(p: Option<(u32, u32)>) -> Option<String> {
    p.map(|(a, b)| {
        if a == b {
            format!("p. {a}")
        } else {
            format!("pp. {a}–{b}")
        }
    })
}

/// Percent-encode everything but unreserved characters (for query values).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_grouped() {
        assert_eq!(amount(12500.0), "12,500.00");
        assert_eq!(amount(999.5), "999.50");
        assert_eq!(amount(1234567.891), "1,234,567.89");
        assert_eq!(amount(-1000.0), "-1,000.00");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(url_encode("/a?b=c d"), "/a%3Fb%3Dc%20d");
    }
}
