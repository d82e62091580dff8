//! Owns the bounds on text extraction: how far a file may expand (decompressed
//! streams, extracted text, pages) and, when extraction runs in a child process
//! ([`super::isolate`]), how long and in how much memory. A file past a bound is
//! refused with a [`super::ParseError::OverLimit`] naming the setting.

use std::io::Read;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ParseError;

/// The bounds on extracting one file's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtractLimits {
    /// Most bytes a PDF's Flate-compressed streams (images aside) may inflate to, in
    /// total. Checked by inflating into nothing before the extractor parses anything, so
    /// a decompression bomb is refused in a fraction of a second.
    pub max_expanded_bytes: u64,
    /// Most bytes of extracted text per file, every format (a text file's own size).
    pub max_text_bytes: u64,
    /// Most pages per PDF.
    pub max_pages: u64,
    /// Wall-clock and CPU time of one extraction (child process only).
    pub timeout: Duration,
    /// Address space of the extraction process (child process only).
    pub max_memory_bytes: u64,
}

impl Default for ExtractLimits {
    fn default() -> Self {
        Self {
            // pdf-extract holds a page's parsed content at 20-60 times its size, so
            // this keeps a legitimate document's extraction well inside the 1 GiB below.
            max_expanded_bytes: 32 * 1024 * 1024,
            max_text_bytes: 16 * 1024 * 1024,
            max_pages: 5_000,
            timeout: Duration::from_secs(60),
            max_memory_bytes: 1024 * 1024 * 1024,
        }
    }
}

/// Which bound a refused file hit; each is one `[ingest]` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    MaxExpandedBytes,
    MaxTextBytes,
    MaxPages,
    ExtractTimeoutSecs,
    ExtractMemoryMb,
}

impl Limit {
    /// The configuration key that sets it.
    pub fn key(self) -> &'static str {
        match self {
            Limit::MaxExpandedBytes => "ingest.max_expanded_bytes",
            Limit::MaxTextBytes => "ingest.max_text_bytes",
            Limit::MaxPages => "ingest.max_pages",
            Limit::ExtractTimeoutSecs => "ingest.extract_timeout_secs",
            Limit::ExtractMemoryMb => "ingest.extract_memory_mb",
        }
    }
}

fn over(limit: Limit, detail: String) -> ParseError {
    ParseError::OverLimit { limit, detail }
}

impl ExtractLimits {
    /// Extracted text of any format: `n_pages` pages (PDF; other formats count none)
    /// and `n_bytes` bytes of text within bounds.
    pub fn check_text(&self, n_pages: u64, n_bytes: u64) -> Result<(), ParseError> {
        if n_pages > self.max_pages {
            return Err(over(Limit::MaxPages, format!("the file has {n_pages} pages, more than {}", self.max_pages)));
        }
        if n_bytes > self.max_text_bytes {
            return Err(over(
                Limit::MaxTextBytes,
                format!("the extracted text is {n_bytes} bytes, more than {}", self.max_text_bytes),
            ));
        }
        Ok(())
    }

    /// A PDF's Flate streams (images aside) inflate to at most `max_expanded_bytes` in
    /// total. Works on the raw bytes, before any PDF parser sees them: each `stream`
    /// keyword whose object dictionary names `FlateDecode` and not `/Image` is inflated
    /// into a counter, stopping at the bound. Streams that do not inflate (encrypted,
    /// other filters, damage) count what they gave before failing; the child process's
    /// memory and time limits are what bound those.
    pub fn check_pdf_expansion(&self, bytes: &[u8]) -> Result<u64, ParseError> {
        let limit = self.max_expanded_bytes;
        let mut total: u64 = 0;
        let mut from = 0;
        let mut buf = vec![0u8; 64 * 1024];
        while let Some(pos) = find(&bytes[from..], b"stream") {
            let at = from + pos;
            from = at + b"stream".len();
            if bytes[..at].ends_with(b"end") {
                continue;
            }
            let mut start = from;
            match bytes.get(start) {
                Some(b'\r') => {
                    start += 1;
                    if bytes.get(start) == Some(&b'\n') {
                        start += 1;
                    }
                }
                Some(b'\n') => start += 1,
                _ => continue,
            }
            // The object's dictionary: back to its `obj` keyword, within a bounded window
            // so the scan stays linear in the file size.
            let window = at.saturating_sub(MAX_DICT_BYTES);
            let header = rfind(&bytes[window..at], b"obj").map_or(window, |i| window + i);
            let dict = &bytes[header..at];
            // `[/FlateDecode /FlateDecode]` nests one compressed stream in another.
            let layers = dict.windows(b"FlateDecode".len()).filter(|w| w == b"FlateDecode").count().min(MAX_LAYERS);
            if layers == 0 || find(dict, b"/Image").is_some() {
                continue;
            }
            let mut inflater = flate2::read::ZlibDecoder::new(&bytes[start..]);
            let mut inner: Box<dyn Read + '_> = Box::new(&mut inflater);
            for _ in 1..layers {
                inner = Box::new(flate2::read::ZlibDecoder::new(inner));
            }
            loop {
                match inner.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        total = total.saturating_add(n as u64);
                        if total > limit {
                            return Err(over(
                                Limit::MaxExpandedBytes,
                                format!("the PDF's compressed streams expand to more than {limit} bytes"),
                            ));
                        }
                    }
                }
            }
            drop(inner);
            from = start.saturating_add(usize::try_from(inflater.total_in()).unwrap_or(0)).max(from);
        }
        Ok(total)
    }
}

/// Most nested Flate layers inflated (more are left to the child's limits).
const MAX_LAYERS: usize = 4;

/// How far before a `stream` keyword its dictionary is looked for.
const MAX_DICT_BYTES: usize = 64 * 1024;

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write;

    use super::*;

    /// A one-page PDF whose content stream draws `text` and is padded with `padding`
    /// bytes of spaces (Flate-compressed, so a large padding makes a small bomb).
    pub(crate) fn pdf_with_stream(text: &str, padding: usize) -> Vec<u8> {
        let mut content = format!("BT /F1 12 Tf 72 720 Td ({text}) Tj ET\n").into_bytes();
        content.resize(content.len() + padding, b' ');
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&content).unwrap();
        let compressed = z.finish().unwrap();
        crate::testing::one_page_pdf(&compressed, Some("/FlateDecode"))
    }

    fn limits(max_expanded_bytes: u64) -> ExtractLimits {
        ExtractLimits { max_expanded_bytes, ..ExtractLimits::default() }
    }

    #[test]
    fn expansion_is_measured_and_bounded() {
        let pdf = pdf_with_stream("Cash over 10,000 is reported.", 1_000_000);
        assert!(pdf.len() < 10_000, "the padding compresses: {} bytes", pdf.len());
        let expanded = limits(2_000_000).check_pdf_expansion(&pdf).unwrap();
        assert!((1_000_000..1_001_000).contains(&expanded), "{expanded}");
        let err = limits(500_000).check_pdf_expansion(&pdf).unwrap_err();
        assert!(matches!(err, ParseError::OverLimit { limit: Limit::MaxExpandedBytes, .. }), "{err}");
        assert!(err.to_string().contains("ingest.max_expanded_bytes"), "{err}");
    }

    #[test]
    fn nested_flate_layers_are_inflated_through() {
        let deflate = |data: &[u8]| {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
            z.write_all(data).unwrap();
            z.finish().unwrap()
        };
        let twice = deflate(&deflate(&vec![b' '; 5_000_000]));
        let mut pdf = b"%PDF-1.4\n1 0 obj\n<< /Filter [/FlateDecode /FlateDecode] >>\nstream\n".to_vec();
        pdf.extend_from_slice(&twice);
        pdf.extend_from_slice(b"\nendstream\nendobj\n");
        assert!(pdf.len() < 2_000, "{} bytes", pdf.len());
        let err = limits(1_000_000).check_pdf_expansion(&pdf).unwrap_err();
        assert!(matches!(err, ParseError::OverLimit { limit: Limit::MaxExpandedBytes, .. }), "{err}");
    }

    #[test]
    fn image_and_unfiltered_streams_do_not_count() {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&vec![0u8; 1_000_000]).unwrap();
        let image = z.finish().unwrap();
        let mut pdf = b"%PDF-1.4\n1 0 obj\n<< /Type /XObject /Subtype /Image /Filter /FlateDecode >>\nstream\n".to_vec();
        pdf.extend_from_slice(&image);
        pdf.extend_from_slice(b"\nendstream\nendobj\n2 0 obj\n<< /Length 5 >>\nstream\nhello\nendstream\nendobj\n");
        assert_eq!(limits(1000).check_pdf_expansion(&pdf).unwrap(), 0);
    }

    #[test]
    fn text_caps_apply_to_pages_and_bytes() {
        let l = ExtractLimits { max_pages: 2, max_text_bytes: 10, ..ExtractLimits::default() };
        assert!(l.check_text(2, 10).is_ok());
        let err = l.check_text(3, 3).unwrap_err();
        assert!(matches!(err, ParseError::OverLimit { limit: Limit::MaxPages, .. }), "{err}");
        let err = l.check_text(2, 11).unwrap_err();
        assert!(matches!(err, ParseError::OverLimit { limit: Limit::MaxTextBytes, .. }), "{err}");
        assert!(err.to_string().contains("ingest.max_text_bytes"), "{err}");
    }
}
