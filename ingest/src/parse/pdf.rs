//! Owns PDF text extraction, page by page, so chunks can say which pages they span.

use super::ParseError;
use super::limits::ExtractLimits;

/// Extract the text of each page within `limits`: the compressed streams' expansion is
/// measured before the extractor runs, the pages and text after. The extractor is
/// third-party code that can panic on malformed files; a panic becomes a
/// [`ParseError`], never a crash of the batch.
pub fn extract_pages(bytes: &[u8], limits: &ExtractLimits) -> Result<Vec<String>, ParseError> {
    if !bytes.starts_with(b"%PDF-") {
        return Err(ParseError::NotPdf("file does not start with a %PDF- header".into()));
    }
    limits.check_pdf_expansion(bytes)?;
    let owned = bytes.to_vec();
    let result = std::panic::catch_unwind(move || pdf_extract::extract_text_from_mem_by_pages(&owned));
    let pages = match result {
        Ok(Ok(pages)) => pages,
        Ok(Err(e)) => return Err(ParseError::NotPdf(e.to_string())),
        Err(_) => return Err(ParseError::NotPdf("the PDF structure could not be read".into())),
    };
    if pages.iter().all(|p| p.trim().is_empty()) {
        return Err(ParseError::PdfNoText);
    }
    limits.check_text(pages.len() as u64, pages.iter().map(|p| p.len() as u64).sum())?;
    Ok(pages)
}
