//! Owns deterministic chunk ids: the same chunk of the same version always gets the
//! same id, so re-writing it overwrites instead of duplicating.

use uuid::Uuid;

/// Namespace of reagent chunk ids (a fixed random UUID).
const NAMESPACE: Uuid = Uuid::from_u128(0x6c1f_5a0e_93d2_4b7e_a8c4_1f0d_2e6b_9a37);

pub fn chunk_id(document_id: &str, version: &str, chunk_index: usize, content_hash: &str) -> Uuid {
    // The unit separator cannot occur in ids, so distinct tuples give distinct names.
    let name = format!("{document_id}\u{1f}{version}\u{1f}{chunk_index}\u{1f}{content_hash}");
    Uuid::new_v5(&NAMESPACE, name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let a = chunk_id("doc", "v1", 0, "h");
        assert_eq!(a, chunk_id("doc", "v1", 0, "h"));
        assert_ne!(a, chunk_id("doc", "v1", 1, "h"));
        assert_ne!(a, chunk_id("doc", "v2", 0, "h"));
        assert_ne!(a, chunk_id("doc", "v1", 0, "h2"));
        assert_ne!(a, chunk_id("doc2", "v1", 0, "h"));
        // No ambiguity from concatenation.
        assert_ne!(chunk_id("ab", "c", 0, "h"), chunk_id("a", "bc", 0, "h"));
        assert_eq!(a.get_version_num(), 5);
    }
}
