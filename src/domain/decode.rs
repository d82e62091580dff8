//! Owns reading a JSON document into a request type with the failing field named, for
//! every front door (the API's bodies, the CLI's `--file`, the eval harness's
//! scenarios): the wire format's errors are part of the domain's contract.

use serde::de::DeserializeOwned;

/// Why a JSON document is not a `T`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON at all (syntax, truncation, trailing characters).
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    /// Valid JSON whose value at `path` is wrong; `field` is the request field it names
    /// (see [`super::serde_field`]), when there is one.
    #[error("{message}")]
    Field { field: Option<String>, message: String },
}

impl DecodeError {
    /// The message with the field named, as a command line prints it.
    pub fn with_field(&self) -> String {
        match self {
            DecodeError::Field { field: Some(f), message } => format!("{message} (field {f})"),
            other => other.to_string(),
        }
    }
}

/// Decode `bytes`, naming the field that failed.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    if value.is_ok()
        && let Err(e) = de.end()
    {
        return Err(DecodeError::NotJson(e.to_string()));
    }
    value.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.inner();
        use serde_json::error::Category;
        match inner.classify() {
            // serde_json reports a wrong token for an enum (`null`, a number) as a syntax
            // error; when the body is valid JSON it is the value at `path` that is wrong.
            Category::Syntax if path != "." && !path.is_empty() && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() => {
                DecodeError::Field { message: format!("{path}: wrong type or value ({inner})"), field: Some(path) }
            }
            Category::Syntax | Category::Eof | Category::Io => DecodeError::NotJson(inner.to_string()),
            Category::Data => {
                DecodeError::Field { field: super::serde_field(&path, &inner.to_string()), message: inner.to_string() }
            }
        }
    })
}
