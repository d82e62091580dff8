//! Owns reading the model's answer: its message text (a JSON object, possibly in a
//! Markdown code fence) against the output schema of [`super::prompt::output_schema`]
//! into a typed [`ModelOutput`]. Citations are still the model's short ids here;
//! [`super::cite`] resolves and verifies them.
//!
//! A message that is not such an object is an [`OutputError`]: the LLM generator asks
//! once more, then fails with `GenerationError::Malformed` carrying its text.

use serde::Deserialize;
use serde_json::error::Category;
use thiserror::Error;

use super::snippet;
use crate::rules::{ActionCode, Severity};

/// The model's object, as the schema states it (unknown fields are a violation).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelOutput {
    pub required_actions: Vec<ModelAction>,
    pub compliance_issues: Vec<ModelIssue>,
    pub recommendations: Vec<ModelRecommendation>,
    #[serde(default)]
    pub answer: Option<String>,
    #[serde(default)]
    pub answer_citations: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelAction {
    pub code: ActionCode,
    pub title: String,
    pub description: String,
    pub citations: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelIssue {
    pub title: String,
    pub severity: Severity,
    pub explanation: String,
    pub citations: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelRecommendation {
    pub text: String,
    pub citations: Vec<String>,
}

/// The model's message is not a guidance object. Displayed as the JSON error, then the
/// start of the text that was read (the reason a `Malformed` error gives).
#[derive(Debug, Error)]
#[error("{source}: {snippet}")]
pub(crate) struct OutputError {
    pub kind: OutputErrorKind,
    source: serde_json::Error,
    snippet: String,
}

/// What was wrong with the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutputErrorKind {
    /// Not JSON: prose, or a syntax error.
    NotJson,
    /// JSON that stops before the object closes (typically cut off at `max_tokens`).
    CutOff,
    /// JSON, but not the schema: a missing or unknown field, an unknown action code or
    /// severity, a value of the wrong type.
    NotSchema,
}

/// Parses the model's message (a JSON object, possibly in a Markdown code fence).
pub(crate) fn parse_output(content: &str) -> Result<ModelOutput, OutputError> {
    let mut text = content.trim();
    if let Some(rest) = text.strip_prefix("```") {
        let rest = rest.strip_prefix("json").unwrap_or(rest);
        text = rest.trim_end().strip_suffix("```").unwrap_or(rest).trim();
    }
    serde_json::from_str::<ModelOutput>(text).map_err(|source| OutputError {
        kind: match source.classify() {
            Category::Eof => OutputErrorKind::CutOff,
            Category::Data => OutputErrorKind::NotSchema,
            Category::Syntax | Category::Io => OutputErrorKind::NotJson,
        },
        source,
        snippet: snippet(text),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(content: &str) -> Option<OutputErrorKind> {
        parse_output(content).err().map(|e| e.kind)
    }

    #[test]
    fn output_parsing_is_strict_about_shape() {
        let ok = r#"```json
{"required_actions":[],"compliance_issues":[],"recommendations":[],"answer":null,"answer_citations":[]}
```"#;
        assert!(parse_output(ok).is_ok());
        assert!(
            parse_output(r#"{"required_actions":[],"compliance_issues":[],"recommendations":[]}"#)
                .is_ok()
        );
        assert!(parse_output(r#"{"required_actions":[{"code":"WIRE_IT","title":"","description":"","citations":[]}],"compliance_issues":[],"recommendations":[]}"#).is_err());
        assert!(
            parse_output(
                r#"{"required_actions":[],"compliance_issues":[],"recommendations":[],"extra":1}"#
            )
            .is_err()
        );
        assert!(parse_output(r#"{"required_actions":["#).is_err());
        assert!(parse_output("Sure! Here is the JSON").is_err());
    }

    #[test]
    fn malformed_messages_get_the_kind_of_their_fault() {
        assert_eq!(
            kind("Sure! Here is the JSON"),
            Some(OutputErrorKind::NotJson)
        );
        assert_eq!(
            kind(r#"{"required_actions": [}"#),
            Some(OutputErrorKind::NotJson)
        );
        assert_eq!(
            kind(r#"{"required_actions":["#),
            Some(OutputErrorKind::CutOff)
        );
        assert_eq!(kind(""), Some(OutputErrorKind::CutOff));
        assert_eq!(
            kind(
                r#"{"required_actions":[],"compliance_issues":[],"recommendations":[],"extra":1}"#
            ),
            Some(OutputErrorKind::NotSchema)
        );
        assert_eq!(
            kind(
                r#"{"required_actions":[{"code":"WIRE_IT","title":"","description":"","citations":[]}],"compliance_issues":[],"recommendations":[]}"#
            ),
            Some(OutputErrorKind::NotSchema)
        );
        assert_eq!(
            kind(
                r#"{"required_actions":[],"compliance_issues":[{"title":"t","severity":"SEVERE","explanation":"e","citations":[]}],"recommendations":[]}"#
            ),
            Some(OutputErrorKind::NotSchema)
        );
        assert_eq!(
            kind(r#"{"required_actions":[]}"#),
            Some(OutputErrorKind::NotSchema)
        );
    }

    #[test]
    fn the_error_text_is_the_json_error_then_the_unfenced_text() {
        let text = format!("{{\"required_actions\": {}", "x".repeat(300));
        let fenced = format!("```json\n{text}\n```");
        let err = parse_output(&fenced)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let json_err = serde_json::from_str::<ModelOutput>(&text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let quoted: String = text.chars().take(200).collect();
        assert_eq!(err, format!("{json_err}: {quoted}…"));
    }

    #[test]
    fn a_fenced_object_is_read_with_its_ids_as_written() {
        let out = parse_output(
            "```json\n{\"required_actions\":[{\"code\":\"CTR_FILING\",\"title\":\"t\",\"description\":\"d\",\"citations\":[\"[c1]\",\"C9\"]}],\
             \"compliance_issues\":[],\"recommendations\":[],\"answer\":\"a\",\"answer_citations\":[\"C2\"]}\n```",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.required_actions[0].code, ActionCode::CtrFiling);
        assert_eq!(out.required_actions[0].citations, vec!["[c1]", "C9"]);
        assert_eq!(out.answer.as_deref(), Some("a"));
        assert_eq!(out.answer_citations, vec!["C2"]);
    }
}
