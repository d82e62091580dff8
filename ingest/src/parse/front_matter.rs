//! Owns YAML front matter: splitting it off a Markdown file and reading its fields.

use serde_yaml::Value;

use super::{ParseError, RawMeta, parse_date};

/// Split `---\n…\n---` off the start of `text`; returns the metadata found and the body.
/// A file without front matter gives empty metadata and the whole text.
pub fn split_front_matter(text: &str) -> Result<(RawMeta, &str), ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some(rest) = text.strip_prefix("---\n").or_else(|| text.strip_prefix("---\r\n")) else {
        return Ok((RawMeta::default(), text));
    };
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            let yaml = &rest[..offset];
            let body = &rest[offset + line.len()..];
            return Ok((read_fields(yaml)?, body));
        }
        offset += line.len();
    }
    Err(ParseError::FrontMatter("opening '---' has no closing '---' line".into()))
}

fn read_fields(yaml: &str) -> Result<RawMeta, ParseError> {
    let value: Value =
        serde_yaml::from_str(yaml).map_err(|e| ParseError::FrontMatter(format!("invalid YAML: {e}")))?;
    let map = match value {
        Value::Mapping(m) => m,
        Value::Null => return Ok(RawMeta::default()),
        _ => return Err(ParseError::FrontMatter("must be a mapping of key: value".into())),
    };
    let get = |key: &str| -> Result<Option<String>, ParseError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(ParseError::FrontMatter(format!("{key}: expected a single value"))),
        }
    };
    let date = |key: &str| -> Result<_, ParseError> {
        get(key)?.map(|v| parse_date(key, &v)).transpose().map_err(ParseError::FrontMatter)
    };
    Ok(RawMeta {
        document_id: get("id")?,
        title: get("title")?,
        version: get("version")?,
        document_type: get("document_type")?
            .map(|t| t.parse())
            .transpose()
            .map_err(ParseError::FrontMatter)?,
        jurisdiction: get("jurisdiction")?,
        issuer: get("issuer")?,
        citation: get("citation")?,
        effective_from: date("effective_from")?,
        effective_to: date("effective_to")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_front_matter_keeps_text() {
        let (meta, body) = split_front_matter("# Title\ntext").unwrap();
        assert_eq!(meta, RawMeta::default());
        assert_eq!(body, "# Title\ntext");
    }

    #[test]
    fn reads_fields_and_numbers() {
        let (meta, body) =
            split_front_matter("---\nid: x\nversion: 2\ndocument_type: regulation\n---\nbody").unwrap();
        assert_eq!(meta.document_id.as_deref(), Some("x"));
        assert_eq!(meta.version.as_deref(), Some("2"));
        assert_eq!(body, "body");
    }

    #[test]
    fn errors_name_the_problem() {
        let unclosed = split_front_matter("---\nid: x\nbody").unwrap_err();
        assert!(unclosed.to_string().contains("closing"));
        let bad_type = split_front_matter("---\ndocument_type: memo\n---\n").unwrap_err();
        assert!(bad_type.to_string().contains("memo"));
        let list = split_front_matter("---\ntitle: [a, b]\n---\n").unwrap_err();
        assert!(list.to_string().contains("title"));
    }
}
