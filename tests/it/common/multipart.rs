//! One multipart/form-data encoder for the upload tests (documents, batches, the
//! malformed-request corpus). The server reads a part's name, file name and bytes, so
//! every file part is sent as `application/octet-stream`.

/// The boundary of [`form`]'s bodies.
pub const BOUNDARY: &str = "reagent-test-boundary-7d1c";

/// `parts` (field name, file name for a file part, bytes) under `boundary`, closed by
/// the final boundary line.
pub fn encode(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file, content) in parts {
        let disposition = match file {
            Some(f) => format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream"
            ),
            None => format!("Content-Disposition: form-data; name=\"{name}\""),
        };
        body.extend_from_slice(format!("--{boundary}\r\n{disposition}\r\n\r\n").as_bytes());
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

/// An upload form: text `fields` first, then one `file` part per (file name, bytes).
/// Returns the `Content-Type` header value and the body.
pub fn form(files: &[(&str, &[u8])], fields: &[(&str, &str)]) -> (String, Vec<u8>) {
    let parts: Vec<(&str, Option<&str>, &[u8])> = fields
        .iter()
        .map(|(name, value)| (*name, None, value.as_bytes()))
        .chain(files.iter().map(|(file, bytes)| ("file", Some(*file), *bytes)))
        .collect();
    (content_type(BOUNDARY), encode(BOUNDARY, &parts))
}

/// The `Content-Type` of a multipart body under `boundary`.
pub fn content_type(boundary: &str) -> String {
    format!("multipart/form-data; boundary={boundary}")
}
