//! Bad files are reported with their reasons, the rest of the batch is ingested, the
//! exit code says some failed, and nothing already stored is lost.

use crate::common;

use std::process::Command;

use reagent_ingest::pipeline::Outcome;
use reagent_ingest::store::SearchFilter;

fn write_bad_inputs(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("empty.md"), "").unwrap();
    std::fs::write(dir.join("image.pdf"), [0x89, b'P', b'N', b'G', 0, 0, 1, 2, 3]).unwrap();
    std::fs::write(dir.join("scanned.pdf"), common::pdf_without_text()).unwrap();
    std::fs::write(dir.join("latin1.txt"), b"Caf\xe9 policy text").unwrap();
    std::fs::write(dir.join("huge.txt"), "word ".repeat(40_000)).unwrap();
    std::fs::write(dir.join("bad-date.md"), "---\nid: bad\neffective_from: 2025-02-30\n---\n# Bad\n\ntext\n").unwrap();
    std::fs::write(dir.join("truncated.pdf"), b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog").unwrap();
    std::fs::write(dir.join("passages.json"), b"{\"not\": \"a list\"}").unwrap();
    std::fs::write(
        dir.join("good.md"),
        "---\nid: good-doc\ntitle: Good\neffective_from: 2025-01-01\n---\n# Good\n\nThe quarterly vault audit is signed by two officers.\n",
    )
    .unwrap();
}

#[test]
fn bad_files_fail_alone_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.ingest.max_file_bytes = 100_000;
    let services = common::services(config, common::Embedding::Hashing);
    let inputs = dir.path().join("inputs");
    write_bad_inputs(&inputs);
    let mut options = common::options();
    options.parse.max_file_bytes = 100_000;
    let report = common::ingest(&services, &[inputs], &options);

    let reason = |name: &str| -> String {
        let f = report.files.iter().find(|f| f.path.ends_with(name)).unwrap_or_else(|| panic!("{name} not reported"));
        match &f.outcome {
            Outcome::Failed { reason } => reason.clone(),
            other => panic!("{name} should fail, got {other:?}"),
        }
    };
    assert!(reason("empty.md").contains("empty"));
    assert!(reason("image.pdf").contains("not a PDF"));
    assert!(reason("scanned.pdf").contains("no extractable text"));
    assert!(reason("latin1.txt").contains("UTF-8"));
    assert!(reason("huge.txt").contains("limit"));
    assert!(reason("bad-date.md").contains("effective_from"));
    assert!(reason("truncated.pdf").contains("PDF"));
    assert!(reason("passages.json").contains("DocumentID"));
    assert_eq!(report.failed(), 8);
    assert_eq!(report.ingested(), 1);
    let hits = services.retriever().search("vault audit signatures", SearchFilter::default(), None, Some(1)).unwrap();
    assert_eq!(hits[0].record.meta.document_id, "good-doc");
}

#[test]
fn cli_reports_failures_in_its_exit_code_and_keeps_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(dir.path());
    let inputs = dir.path().join("inputs");
    write_bad_inputs(&inputs);
    let reagent = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_reagent"))
            .args(args)
            .env("REAGENT_STORE_DATA_DIR", &config.store.data_dir)
            .env("REAGENT_EMBEDDING_MODEL_DIR", &config.embedding.model_dir)
            .env("REAGENT_EMBEDDING_ORT_DYLIB_PATH", &config.embedding.ort_dylib_path)
            .env("REAGENT_INGEST_MAX_FILE_BYTES", "100000")
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let good = reagent(&["ingest", inputs.join("good.md").to_str().unwrap()]);
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));

    let out = reagent(&["ingest", inputs.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("FAILED") && stdout.contains("scanned.pdf"), "{stdout}");
    assert!(stdout.contains("unchanged") && stdout.contains("good-doc"), "{stdout}");

    let missing = reagent(&["ingest", "no/such/path"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no/such/path"));

    let list = reagent(&["docs", "list", "--json"]);
    let versions: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(versions.as_array().unwrap().len(), 1, "{versions}");

    let services = reagent::services::Services::start(config).unwrap();
    assert_eq!(services.store.versions(Some("good-doc")).unwrap().len(), 1);
}

#[test]
fn any_model_directory_works_and_a_broken_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let base = common::config(dir.path());
    // The same model under another name and place: what a bank's approved model looks like.
    let other = dir.path().join("approved-model");
    common::copy_tree(&base.embedding.model_dir, &other);
    let mut config = base.clone();
    config.embedding.model_dir = other.clone();
    let services = reagent::services::Services::start(config).expect("a copied model directory works");
    assert!(reagent_ingest::Embedder::model_id(services.embedder.as_ref()).starts_with("approved-model:"));
    drop(services);

    std::fs::remove_file(other.join("tokenizer.json")).unwrap();
    let mut broken = base.clone();
    broken.embedding.model_dir = other;
    broken.store.data_dir = dir.path().join("store2");
    let err = reagent::services::Services::start(broken).err().expect("missing tokenizer must fail").to_string();
    assert!(err.contains("tokenizer.json") && err.contains("setup-models"), "{err}");

    let mut wrong_dim = base;
    wrong_dim.embedding.dimension = 768;
    wrong_dim.store.data_dir = dir.path().join("store3");
    let err = reagent::services::Services::start(wrong_dim).err().expect("dimension mismatch must fail").to_string();
    assert!(err.contains("384") && err.contains("768"), "{err}");
}
