//! Owns upgrades of the embedded store's on-disk layout, run by `EdgeStore::open`.
//!
//! Layout 1 → 2: every chunk keeps its id, payload and dense vector; its BM25 vector is
//! recomputed from the stored text by the current tokenizer and the term-pair vector is
//! added. The new shard is built beside the old one and swapped in at the end, so an
//! interrupted upgrade starts over from the untouched old shard; the old shard is then
//! kept as `shard.layout1` for the operator to remove.

use std::path::Path;

use qdrant_edge::{
    EdgeShard, PointInsertOperations, PointOperations, PointStruct, ScrollRequest, UpdateOperation, VectorInternal,
    WithPayloadInterface, WithVector,
};

use super::StoreError;
use super::edge::{DENSE, SHARD_DIR, backend, named_vector, point_vectors, shard_config};
use super::payload::ChunkPayload;
use crate::lexical::Lexical;

/// Where layout 1's shard is kept after the upgrade.
pub(super) const LAYOUT_1_BACKUP: &str = "shard.layout1";
const NEXT_DIR: &str = "shard.next";

/// Rebuild the shard under `root` in layout 2; returns the chunks carried over.
pub(super) fn layout_1_to_2(root: &Path, dimension: usize, lexical: &Lexical) -> Result<usize, StoreError> {
    let io = |e: std::io::Error| StoreError::Open { path: root.display().to_string(), reason: e.to_string() };
    let (shard_dir, backup, next) = (root.join(SHARD_DIR), root.join(LAYOUT_1_BACKUP), root.join(NEXT_DIR));
    if !shard_dir.join("edge_config.json").exists() && backup.join("edge_config.json").exists() {
        // Interrupted between the two renames below: put the old shard back and redo.
        std::fs::rename(&backup, &shard_dir).map_err(io)?;
    }
    if next.exists() {
        std::fs::remove_dir_all(&next).map_err(io)?;
    }
    std::fs::create_dir_all(&next).map_err(io)?;
    let old = EdgeShard::load(&shard_dir, None).map_err(backend)?;
    let new = EdgeShard::new(&next, shard_config(dimension)).map_err(backend)?;
    let mut offset = None;
    let mut moved = 0;
    loop {
        let (records, next_offset) = old
            .scroll(ScrollRequest {
                offset,
                limit: Some(256),
                filter: None,
                with_payload: Some(WithPayloadInterface::Bool(true)),
                with_vector: WithVector::Selector(vec![DENSE.to_string()]),
                order_by: None,
            })
            .map_err(backend)?;
        let points = records
            .into_iter()
            .map(|r| {
                let payload = r.payload.ok_or_else(|| StoreError::Payload(format!("point {:?} has no payload", r.id)))?;
                let Some(VectorInternal::Dense(dense)) = named_vector(r.vector, DENSE) else {
                    return Err(StoreError::Payload(format!("point {:?} has no dense vector", r.id)));
                };
                let record = ChunkPayload::from_map(payload.0.clone())?.into_record();
                let vectors = point_vectors(dense, &lexical.document(&record.chunk.lexical_text(&record.meta)))?;
                Ok(PointStruct::new(r.id, vectors, serde_json::Value::Object(payload.0)).into())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        moved += points.len();
        if !points.is_empty() {
            new.update(UpdateOperation::PointOperation(PointOperations::UpsertPoints(
                PointInsertOperations::PointsList(points),
            )))
            .map_err(backend)?;
        }
        match next_offset {
            Some(n) => offset = Some(n),
            None => break,
        }
    }
    new.flush();
    drop(new);
    drop(old);
    std::fs::rename(&shard_dir, &backup).map_err(io)?;
    std::fs::rename(&next, &shard_dir).map_err(io)?;
    Ok(moved)
}

#[cfg(test)]
pub(super) mod tests {
    use qdrant_edge::{Distance, EdgeConfig, EdgeSparseVectorParams, EdgeVectorParamsBuilder, Modifier, PointId};

    use qdrant_edge::Vectors;

    use super::super::edge::BM25;
    use super::*;
    use crate::chunk::Chunk;
    use crate::document::{DocumentMeta, DocumentType};
    use crate::store::{ChunkStore, EdgeStore, SearchFilter, SparseVector, StoreSettings, StoredChunk, VectorQuery};

    const TEXTS: [&str; 2] = [
        "Tellers count banknotes at the end of every shift.",
        "File a currency transaction report for cash over ten thousand dollars.",
    ];

    fn stored(index: usize) -> StoredChunk {
        cash_chunk(index, TEXTS[index], vec![0.5; 4], 2)
    }

    /// Chunk `index` of version v1 of the "cash" policy, with `text` and `dense`.
    pub(in crate::store) fn cash_chunk(index: usize, text: &str, dense: Vec<f32>, version_chunks: usize) -> StoredChunk {
        let meta = DocumentMeta {
            document_id: "cash".into(),
            title: "Cash handling".into(),
            version: "v1".into(),
            document_type: DocumentType::Policy,
            jurisdiction: "US".into(),
            issuer: "bank".into(),
            citation: Some("CASH".into()),
            effective_from: "2024-01-01".parse().unwrap(),
            effective_to: None,
            source_path: "cash.md".into(),
            content_hash: "0".repeat(64),
        };
        let text = text.to_string();
        let chunk = Chunk {
            index,
            char_end: text.len(),
            text,
            section_path: vec![format!("{}. Section", index + 1)],
            citation: Some(format!("CASH {}", index + 1)),
            pages: None,
            char_start: 0,
            passage_id: None,
            token_count: 12,
        };
        let id = uuid::Uuid::from_u128(index as u128 + 1);
        let lexical = Lexical::new(StoreSettings::default().bm25()).document(&chunk.lexical_text(&meta));
        StoredChunk { id, lexical, meta, chunk, dense, version_chunks }
    }

    /// A store as layout 1 wrote it: dense and one BM25 vector, active chunks.
    fn layout_1_store(root: &Path) {
        std::fs::write(root.join("reagent-store.json"), r#"{"schema":1,"dimension":4,"model_id":"m"}"#).unwrap();
        let shard_dir = root.join(SHARD_DIR);
        std::fs::create_dir_all(&shard_dir).unwrap();
        let config = EdgeConfig {
            vectors: [(DENSE.to_string(), EdgeVectorParamsBuilder::new(4, Distance::Cosine).build())].into(),
            sparse_vectors: [(
                BM25.to_string(),
                EdgeSparseVectorParams { modifier: Some(Modifier::Idf), ..Default::default() },
            )]
            .into(),
            ..Default::default()
        };
        let shard = EdgeShard::new(&shard_dir, config).unwrap();
        let points = (0..2)
            .map(|i| {
                let c = stored(i);
                let mut payload = ChunkPayload::pending(&c, chrono::Utc::now()).to_json().unwrap();
                payload["status"] = "active".into();
                let vectors = Vectors::new_named([
                    (DENSE, qdrant_edge::Vector::new_dense(c.dense.clone())),
                    (BM25, qdrant_edge::Vector::new_sparse(vec![7u32], vec![1.0]).unwrap()),
                ]);
                PointStruct::new(PointId::Uuid(c.id), vectors, payload).into()
            })
            .collect();
        shard
            .update(UpdateOperation::PointOperation(PointOperations::UpsertPoints(PointInsertOperations::PointsList(
                points,
            ))))
            .unwrap();
        shard.flush();
    }

    /// The texts that BM25 over terms, then over pairs, ranks first for "currency transaction report".
    fn search_cash_report(store: &EdgeStore) -> Vec<String> {
        let query = Lexical::new(StoreSettings::default().bm25()).query("currency transaction report");
        [VectorQuery::Sparse(SparseVector::Terms, &query.terms), VectorQuery::Sparse(SparseVector::Pairs, &query.pairs)]
            .into_iter()
            .map(|q| {
                let best = store.candidates(q, &SearchFilter::default(), 2).unwrap()[0].chunk_id;
                store.records(&[best]).unwrap().remove(0).chunk.text
            })
            .collect()
    }

    #[test]
    fn layout_1_is_upgraded_in_place_and_keeps_every_chunk() {
        let dir = tempfile::tempdir().unwrap();
        layout_1_store(dir.path());
        let settings = StoreSettings { data_dir: dir.path().to_path_buf(), ..Default::default() };
        {
            let store = EdgeStore::open(&settings, 4, &crate::embed::ModelFingerprint::of_id("m")).unwrap();
            assert_eq!(store.count().unwrap(), 2);
            // The old BM25 vectors matched nothing; the rebuilt ones find the report.
            assert_eq!(search_cash_report(&store), [TEXTS[1]; 2]);
            let record = store.get(stored(0).id).unwrap().expect("chunk kept");
            assert_eq!(record.chunk.citation.as_deref(), Some("CASH 1"));
            assert_eq!(store.chunks("cash", "v1").unwrap().len(), 2, "payload indexes rebuilt");
        }
        assert!(dir.path().join(LAYOUT_1_BACKUP).join("edge_config.json").exists(), "old shard kept");
        let info = std::fs::read_to_string(dir.path().join("reagent-store.json")).unwrap();
        assert!(info.contains("\"schema\": 2"), "{info}");
        // Opening again is an ordinary open.
        let store = EdgeStore::open(&settings, 4, &crate::embed::ModelFingerprint::of_id("m")).unwrap();
        assert_eq!(store.count().unwrap(), 2);
    }

    #[test]
    fn an_upgrade_interrupted_between_the_renames_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        layout_1_store(dir.path());
        // As if the process died after moving the old shard aside, with a half-built
        // new one left behind.
        std::fs::rename(dir.path().join(SHARD_DIR), dir.path().join(LAYOUT_1_BACKUP)).unwrap();
        std::fs::create_dir_all(dir.path().join(NEXT_DIR).join("junk")).unwrap();
        let settings = StoreSettings { data_dir: dir.path().to_path_buf(), ..Default::default() };
        let store = EdgeStore::open(&settings, 4, &crate::embed::ModelFingerprint::of_id("m")).unwrap();
        assert_eq!(store.count().unwrap(), 2);
        assert_eq!(search_cash_report(&store), [TEXTS[1]; 2]);
        assert!(!dir.path().join(NEXT_DIR).exists());
    }

    #[test]
    fn a_newer_layout_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("reagent-store.json"), r#"{"schema":9,"dimension":4,"model_id":"m"}"#).unwrap();
        let settings = StoreSettings { data_dir: dir.path().to_path_buf(), ..Default::default() };
        let err = EdgeStore::open(&settings, 4, &crate::embed::ModelFingerprint::of_id("m")).err().expect("refused");
        assert!(matches!(err, StoreError::Layout { stored: 9, expected: 2, .. }), "{err}");
        assert!(!dir.path().join(SHARD_DIR).exists());
    }
}
