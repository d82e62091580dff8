//! Ingestion end to end: the demo corpus, idempotent re-ingestion, versioning and
//! deletion on both stores (the embedded shard, and Qdrant collections on one node and
//! on the 3-node cluster when test servers are there), and the US regulations when present.

use crate::common;

use std::collections::BTreeSet;

use reagent::services::Services;
use reagent_ingest::pipeline::Outcome;
use reagent_ingest::store::{SearchFilter, VersionStatus};

#[test]
fn corpus_ingests_then_reingests_as_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    for config in common::qdrant::backends(common::config(dir.path())) {
        let services = common::services(config, common::Embedding::Hashing);
        let _cleanup = common::qdrant::cleanup(&services);
        corpus_reingest(&services);
    }
}

fn corpus_reingest(services: &Services) {
    let corpus = common::repo().join("corpus");
    let report = common::ingest(services, std::slice::from_ref(&corpus), &common::options());
    assert_eq!(report.failed(), 0, "{:#?}", report.files);
    assert!(report.ingested() >= 6, "{} documents", report.ingested());

    let versions = services.store.versions(None).unwrap();
    let ids: BTreeSet<_> = versions.iter().map(|v| v.meta.document_id.as_str()).collect();
    assert!(ids.contains("hfb-cash-handling-procedure"), "PDF missing: {ids:?}");
    assert!(versions.iter().all(|v| v.status == VersionStatus::Active));

    // The PDF's chunks know their pages and inherit the manifest's citation prefix.
    let pdf = services.store.chunks("hfb-cash-handling-procedure", &versions.iter().find(|v| v.meta.document_id == "hfb-cash-handling-procedure").unwrap().meta.version).unwrap();
    assert!(pdf.iter().all(|c| c.chunk.pages.is_some()));
    assert!(pdf.iter().map(|c| c.chunk.pages.unwrap().1).max().unwrap() >= 2, "PDF text should span pages");
    assert!(pdf.iter().any(|c| c.chunk.citation.as_deref().is_some_and(|s| s.starts_with("CASH "))));

    // Every chunk fits the token budget and has a citation derived from its section.
    let mut total = 0;
    for v in &versions {
        let chunks = services.store.chunks(&v.meta.document_id, &v.meta.version).unwrap();
        assert_eq!(chunks.len(), v.chunk_count, "{}", v.meta.document_id);
        total += chunks.len();
        for c in &chunks {
            assert!(c.chunk.token_count <= services.config.chunking.max_tokens);
            assert_eq!(services.chunker.count_tokens(&c.chunk.text), c.chunk.token_count);
        }
    }
    assert_eq!(services.store.count().unwrap(), total);

    let again = common::ingest(services, &[corpus], &common::options());
    assert_eq!(again.chunks_written, 0);
    assert_eq!(again.unchanged(), report.ingested(), "{:#?}", again.files);
    assert_eq!(services.store.count().unwrap(), total, "re-ingest must not duplicate");
}

#[test]
fn a_changed_manual_adds_a_version_and_keeps_the_old_one_for_its_dates() {
    let dir = tempfile::tempdir().unwrap();
    for config in common::qdrant::backends(common::config(dir.path())) {
        let services = common::services(config, common::Embedding::Hashing);
        let _cleanup = common::qdrant::cleanup(&services);
        let corpus = dir.path().join(format!("corpus-{:?}", services.config.store.backend));
        versions_and_deletion(&services, &corpus);
    }
}

fn versions_and_deletion(services: &Services, corpus: &std::path::Path) {
    std::fs::create_dir_all(&corpus).unwrap();
    let v1 = "---\nid: cash-limits\ntitle: Cash limits\ndocument_type: policy\ncitation: CL\neffective_from: 2024-01-01\n---\n# Cash limits\n\n## 1. Teller limit\n\nTellers may pay out at most 5,000 dollars in banknotes per visit without a supervisor.\n";
    std::fs::write(corpus.join("limits.md"), v1).unwrap();
    let first = common::ingest(services, &[corpus.to_path_buf()], &common::options());
    assert_eq!(first.ingested(), 1, "{:#?}", first.files);

    let v2 = v1.replace("2024-01-01", "2025-06-01").replace("5,000 dollars", "7,500 dollars");
    std::fs::write(corpus.join("limits.md"), v2).unwrap();
    let second = common::ingest(services, &[corpus.to_path_buf()], &common::options());
    let Outcome::Ingested { version, closed, .. } = &second.files[0].outcome else {
        panic!("expected a new version: {:#?}", second.files)
    };
    assert_eq!(version, "2025-06-01");
    assert_eq!(closed, &vec!["2024-01-01".to_string()]);

    let versions = services.store.versions(Some("cash-limits")).unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0].meta.effective_to, Some("2025-06-01".parse().unwrap()));
    assert_eq!(versions[1].meta.effective_to, None);

    let retriever = services.retriever();
    let as_of = |date: &str| {
        let filter = SearchFilter { as_of: Some(date.parse().unwrap()), ..Default::default() };
        retriever.search("teller payout limit banknotes", filter, None, Some(3)).unwrap()
    };
    let old = as_of("2024-08-01");
    assert!(old[0].record.chunk.text.contains("5,000"), "{:?}", old[0].record.chunk.text);
    assert!(old.iter().all(|h| h.record.meta.version == "2024-01-01"));
    let new = as_of("2026-01-01");
    assert!(new[0].record.chunk.text.contains("7,500"));
    assert!(as_of("2023-01-01").is_empty(), "nothing was in force in 2023");

    // Same version label, different text: refused unless --replace.
    std::fs::write(corpus.join("limits.md"), v1.replace("2024-01-01", "2025-06-01")).unwrap();
    let clash = common::ingest(services, &[corpus.to_path_buf()], &common::options());
    assert!(matches!(&clash.files[0].outcome, Outcome::Failed { reason } if reason.contains("--replace")));
    let mut replace = common::options();
    replace.replace = true;
    let replaced = common::ingest(services, &[corpus.to_path_buf()], &replace);
    assert!(matches!(&replaced.files[0].outcome, Outcome::Ingested { deleted, .. } if *deleted > 0), "{:#?}", replaced.files);
    let left = services.store.versions(Some("cash-limits")).unwrap();
    assert_eq!(left.len(), 1, "--replace deletes the other versions");
    assert_eq!(services.store.delete("cash-limits", None).unwrap(), left[0].chunk_count);
    assert!(services.store.versions(Some("cash-limits")).unwrap().is_empty(), "deleted");
    assert!(as_of("2026-01-01").is_empty(), "a deleted document is not found");
}

#[test]
fn us_regulations_are_cited_and_dated() {
    let Some(regs) = common::shared("us-regulations") else { return };
    let dir = tempfile::tempdir().unwrap();
    let services = common::start(dir.path());
    let report = common::ingest(&services, std::slice::from_ref(&regs), &common::options());
    assert_eq!(report.failed(), 0, "{:#?}", report.files);
    let files = walk_md(&regs);
    assert_eq!(report.ingested(), files, "every digest becomes one version");
    assert!(report.chunks_written >= files * 3, "{} chunks", report.chunks_written);

    let ctr = services.store.versions(Some("31-cfr-1010-311")).unwrap();
    assert_eq!(ctr.len(), 1);
    assert_eq!(ctr[0].meta.issuer, "FinCEN");
    assert_eq!(ctr[0].meta.citation.as_deref(), Some("31 CFR 1010.311"));
    let chunks = services.store.chunks("31-cfr-1010-311", &ctr[0].meta.version).unwrap();
    assert!(chunks.iter().all(|c| c.chunk.citation.as_deref().is_some_and(|s| s.starts_with("31 CFR 1010.311"))));

    let travel = services.store.versions(Some("31-cfr-1010-410")).unwrap();
    let travel_chunks = services.store.chunks("31-cfr-1010-410", &travel[0].meta.version).unwrap();
    assert!(travel_chunks.iter().any(|c| c.chunk.citation.as_deref() == Some("31 CFR 1010.410(f)(1)")));

    let retriever = services.retriever();
    let top = retriever
        .search("A transaction in currency of exactly $10,000 is not reportable", SearchFilter::default(), None, Some(3))
        .unwrap();
    assert_eq!(top[0].record.meta.document_id, "31-cfr-1010-311", "{:?}", top[0].record.chunk.citation);

    // OFAC recordkeeping changed on 2025-03-21: each date sees its own version.
    let retention = |date: &str| {
        let filter = SearchFilter {
            as_of: Some(date.parse().unwrap()),
            document_ids: vec!["31-cfr-501-601".into()],
            ..Default::default()
        };
        let hits = retriever.search("how long must OFAC records be kept", filter, None, Some(5)).unwrap();
        hits.iter().map(|h| h.record.meta.version.clone()).collect::<BTreeSet<_>>()
    };
    let (old, new) = (retention("2024-06-01"), retention("2026-01-01"));
    assert_eq!(old.len(), 1, "{old:?}");
    assert_eq!(new.len(), 1, "{new:?}");
    assert_ne!(old, new);

    // The Syria program ended on 2025-07-01.
    let syria = |date: &str| {
        let filter = SearchFilter { as_of: Some(date.parse().unwrap()), ..Default::default() };
        retriever
            .search("Syrian Sanctions Regulations prohibited transactions Syria", filter, None, Some(10))
            .unwrap()
            .iter()
            .any(|h| h.record.meta.document_id == "31-cfr-part-542")
    };
    assert!(syria("2025-03-15"));
    assert!(!syria("2026-03-15"));
}

fn walk_md(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            if p.is_dir() {
                walk_md(&p)
            } else {
                usize::from(p.extension().is_some_and(|e| e == "md") && !p.ends_with("README.md"))
            }
        })
        .sum()
}
