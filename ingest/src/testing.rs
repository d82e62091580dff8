//! Owns the fixtures that this crate's tests and its dependents' tests share: a
//! deterministic [`HashingEmbedder`] (no model file, no ONNX Runtime) and a minimal PDF
//! writer. They live in the library, not under `#[cfg(test)]`, because a dependent
//! crate's integration tests cannot see another crate's test-only items; nothing in the
//! library calls them.

use crate::embed::{EmbedError, Embedder};

/// A deterministic [`Embedder`] for tests that do not measure retrieval quality: every
/// lowercased alphanumeric term of a text is hashed (FNV-1a, 64 bits) into one of
/// `dimension` buckets with a sign from another bit of the hash (feature hashing), and the
/// sum is L2-normalised. Texts that share terms get close vectors, so searches still find
/// lexically related chunks. Its fingerprint is derived from its id, so a store written
/// with it refuses the real model and the other way round.
pub struct HashingEmbedder {
    dimension: usize,
    model_id: String,
}

impl HashingEmbedder {
    pub fn new(dimension: usize) -> Self {
        let dimension = dimension.max(1);
        Self { dimension, model_id: format!("test-hashing-{dimension}") }
    }

    fn vector(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0.0f32; self.dimension];
        let terms = text.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty());
        for term in terms {
            let hash = fnv1a(term.to_lowercase().as_bytes());
            let bucket = (hash % self.dimension as u64) as usize;
            v[bucket] += if hash >> 63 == 0 { 1.0 } else { -1.0 };
        }
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|x| *x /= norm);
        } else {
            // No terms (or terms that cancelled out): a unit vector all the same, since
            // a zero vector has no cosine.
            v[0] = 1.0;
        }
        v
    }
}

impl Embedder for HashingEmbedder {
    fn dimension(&self) -> usize {
        self.dimension
    }

    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts.iter().map(|t| self.vector(t)).collect())
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// A PDF file of `objects` (object 1 the catalog, numbered in order), with its
/// cross-reference table and trailer.
pub fn pdf_from_objects(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes());
    out
}

/// A one-page PDF whose page draws `content` (a content stream, filtered by `filter`
/// when given, e.g. `/FlateDecode`) in Helvetica.
pub fn one_page_pdf(content: &[u8], filter: Option<&str>) -> Vec<u8> {
    let filter = filter.map(|f| format!(" /Filter {f}")).unwrap_or_default();
    let mut stream = format!("<< /Length {}{filter} >>\nstream\n", content.len()).into_bytes();
    stream.extend_from_slice(content);
    stream.extend_from_slice(b"\nendstream");
    pdf_from_objects(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>"
            .to_vec(),
        stream,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn hashing_vectors_are_unit_length_deterministic_and_closer_for_shared_terms() {
        let e = HashingEmbedder::new(64);
        let v = e.embed(&["Cash deposits over $10,000", "cash DEPOSITS over 10,000", "wire transfer to Cuba", ""]).unwrap();
        for x in &v {
            assert_eq!(x.len(), 64);
            assert!((cosine(x, x) - 1.0).abs() < 1e-5);
        }
        assert_eq!(v[0], e.embed(&["Cash deposits over $10,000"]).unwrap()[0]);
        assert!(cosine(&v[0], &v[1]) > 0.99, "case and punctuation do not matter");
        assert!(cosine(&v[0], &v[1]) > cosine(&v[0], &v[2]));
        assert_ne!(e.fingerprint(), HashingEmbedder::new(32).fingerprint());
    }

    #[test]
    fn the_pdf_writer_points_the_cross_references_at_the_objects() {
        let pdf = one_page_pdf(b"BT ET", None);
        let text = String::from_utf8(pdf).unwrap();
        let xref = text.find("xref\n").unwrap();
        let offsets: Vec<usize> = text[xref..].lines().skip(3).take(5).map(|l| l[..10].parse().unwrap()).collect();
        for (i, at) in offsets.iter().enumerate() {
            assert!(text[*at..].starts_with(&format!("{} 0 obj", i + 1)), "object {}", i + 1);
        }
    }
}
