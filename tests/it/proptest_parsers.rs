//! Property tests of everything that reads untrusted input: the document parsers (every
//! extension, arbitrary bytes and near-valid files), the chunker (arbitrary documents:
//! offsets always point at the chunk's text in the source), and request decoding
//! (arbitrary bytes and JSON give a 400/422 with a message, a wrong value names its field).
//!
//! Cases per property: `PROPTEST_CASES` (proptest's own variable), default 256; CI runs
//! the default, which takes seconds.

use crate::common;

use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::test_runner::FailurePersistence;
use reagent::api::decode;
use reagent::app::TransactionRequest;
use reagent_ingest::document::{Body, Document};
use reagent_ingest::parse::{EXTENSIONS, ParseSettings, RawMeta, parse_bytes};
use reagent_ingest::embed::load_tokenizer;
use reagent_ingest::{Chunker, ChunkerSettings};
use serde_json::{Value, json};

fn config() -> ProptestConfig {
    // PROPTEST_CASES is read by ProptestConfig::default(); no regression files in the tree.
    ProptestConfig {
        failure_persistence: None::<Box<dyn FailurePersistence>>,
        ..ProptestConfig::default()
    }
}

fn settings() -> ParseSettings {
    ParseSettings {
        max_file_bytes: 64 * 1024,
        ..ParseSettings::default()
    }
}

/// Parse and check the outcome is either documents with an id and title, or an error
/// that says something.
fn check_parse(bytes: &[u8], ext: &str) -> Result<(), TestCaseError> {
    match parse_bytes(bytes, ext, &format!("upload.{ext}"), &RawMeta::default(), &settings()) {
        Ok(docs) => {
            for d in docs {
                prop_assert!(!d.document.meta.document_id.trim().is_empty(), "empty document id");
                prop_assert!(!d.document.meta.title.trim().is_empty(), "empty title");
            }
        }
        Err(e) => prop_assert!(e.to_string().len() > 8, "unclear error {e:?}"),
    }
    Ok(())
}

fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_]{1,14}: ?[ -~]{0,30}",
        Just("---".to_string()),
        "#{1,7} ?[ -~]{0,40}",
        "[0-9]{1,3}(\\.[0-9]{1,2}){0,3}\\.? [A-Za-z ]{0,30}",
        "(effective_from|effective_to|version|id|document_type): ?[-0-9a-zA-Z:]{0,25}",
        "\\PC{0,60}",
        Just(String::new()),
    ]
}

/// Text shaped like a markdown file with front matter, often slightly wrong.
fn markdownish() -> impl Strategy<Value = String> {
    (
        prop::bool::ANY,
        prop::collection::vec(line(), 0..12),
        prop::collection::vec(line(), 0..30),
    )
        .prop_map(|(front, head, body)| {
            let mut s = String::new();
            if front {
                s.push_str("---\n");
                s.push_str(&head.join("\n"));
                s.push_str("\n---\n");
            }
            s.push_str(&body.join("\n"));
            s
        })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,20}".prop_map(Value::from),
        "(19|20|99)[0-9]{2}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)?".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A passage file in the ObliQA layout with arbitrary values in its fields.
fn passage_file() -> impl Strategy<Value = Value> {
    let passage = (json_value(), json_value(), json_value(), prop::bool::ANY).prop_map(|(doc, pid, text, plain)| {
        if plain {
            json!({"ID": "x", "DocumentID": 1, "PassageID": "1.1", "Passage": "Some text of the passage."})
        } else {
            json!({"ID": "x", "DocumentID": doc, "PassageID": pid, "Passage": text})
        }
    });
    prop_oneof![prop::collection::vec(passage, 0..6).prop_map(Value::Array), json_value()]
}

fn minimal_pdf() -> Vec<u8> {
    common::pdf_without_text()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic_any_extension(bytes in prop::collection::vec(any::<u8>(), 0..4096), ext in prop::sample::select(EXTENSIONS.to_vec())) {
        check_parse(&bytes, ext)?;
    }

    #[test]
    fn unknown_extensions_are_refused(bytes in prop::collection::vec(any::<u8>(), 1..64), ext in "[a-z0-9]{0,6}") {
        prop_assume!(!EXTENSIONS.contains(&ext.as_str()));
        // parse_bytes treats unknown extensions as text; the file-level check refuses them.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("f.{ext}"));
        std::fs::write(&path, &bytes).unwrap();
        let err = reagent_ingest::parse::parse_file(&path, None, &RawMeta::default(), &settings()).unwrap_err();
        prop_assert!(err.to_string().contains("extension"), "{err}");
    }

    #[test]
    fn markdown_and_text_with_broken_front_matter(text in markdownish(), ext in prop::sample::select(vec!["md", "markdown", "txt"])) {
        check_parse(text.as_bytes(), ext)?;
    }

    #[test]
    fn passage_json_with_wrong_shapes(file in passage_file()) {
        check_parse(file.to_string().as_bytes(), "json")?;
    }

    #[test]
    fn pdf_with_flipped_bytes_or_truncated(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8), cut in any::<prop::sample::Index>(), truncate in prop::bool::ANY) {
        let mut pdf = minimal_pdf();
        for (at, byte) in flips {
            let i = at.index(pdf.len());
            pdf[i] = byte;
        }
        if truncate {
            pdf.truncate(cut.index(pdf.len()).max(1));
        }
        check_parse(&pdf, "pdf")?;
    }
}

fn chunker() -> &'static Chunker {
    static CHUNKER: OnceLock<Chunker> = OnceLock::new();
    CHUNKER.get_or_init(|| {
        let dir = std::env::temp_dir();
        let tokenizer = load_tokenizer(&common::config(&dir).embedding).expect("embedding model (scripts/setup-models.sh)");
        Chunker::new(
            tokenizer,
            &ChunkerSettings {
                max_tokens: 32,
                overlap_tokens: 4,
            },
        )
        .unwrap()
    })
}

/// A document around `body`, with metadata as the parser would give it.
fn document(body: Body) -> Document {
    let parsed = parse_bytes(b"placeholder", "txt", "p.txt", &RawMeta::default(), &settings()).unwrap();
    let mut doc = parsed.into_iter().next().unwrap().document;
    doc.body = body;
    doc.source_offset = 0;
    doc
}

fn check_chunks(source: &str, doc: &Document) -> Result<(), TestCaseError> {
    let chunks = chunker().chunk(doc);
    let chars: Vec<char> = source.chars().collect();
    for (i, c) in chunks.iter().enumerate() {
        prop_assert_eq!(c.index, i);
        prop_assert!(!c.text.trim().is_empty(), "blank chunk {i}");
        prop_assert!(
            c.char_start <= c.char_end && c.char_end <= chars.len(),
            "offsets {}..{} of {}",
            c.char_start,
            c.char_end,
            chars.len()
        );
        let at: String = chars[c.char_start..c.char_end].iter().collect();
        prop_assert_eq!(&at, &c.text, "chunk {} offsets do not point at its text", i);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn chunker_offsets_point_at_the_text_markdown(text in markdownish()) {
        check_chunks(&text, &document(Body::Markdown(text.clone())))?;
    }

    #[test]
    fn chunker_offsets_point_at_the_text_plain(text in prop::collection::vec(line(), 0..40).prop_map(|l| l.join("\n"))) {
        check_chunks(&text, &document(Body::Text(text.clone())))?;
    }

    #[test]
    fn chunker_pages_stay_in_range(pages in prop::collection::vec("\\PC{0,200}", 1..6)) {
        let n = pages.len() as u32;
        for c in chunker().chunk(&document(Body::Pages(pages))) {
            let (first, last) = c.pages.expect("paginated chunks carry pages");
            prop_assert!(1 <= first && first <= last && last <= n, "pages {first}..{last} of {n}");
        }
    }
}

fn valid_request() -> Value {
    json!({
        "transaction": {"transaction_id": "T1", "customer_id": "C1", "amount": 100.0, "currency": "USD",
            "transaction_type": "WIRE", "direction": "OUTBOUND", "origin_country": "US", "destination_country": "US",
            "timestamp": "2026-03-10T14:20:00Z"},
        "customer": {"customer_id": "C1", "name": "A", "customer_type": "INDIVIDUAL", "risk_rating": "LOW",
            "kyc_status": "COMPLETE", "is_pep": false, "country": "US"}
    })
}

/// Request paths a mutation may replace.
const PATHS: [&str; 14] = [
    "/transaction_id",
    "/question",
    "/as_of",
    "/recent_transactions",
    "/transaction",
    "/customer",
    "/transaction/amount",
    "/transaction/timestamp",
    "/transaction/transaction_type",
    "/transaction/currency",
    "/customer/kyc_status",
    "/customer/is_pep",
    "/customer/risk_rating",
    "/transaction/destination_country",
];

fn check_decode(bytes: &[u8]) -> Result<Option<reagent::api::ApiError>, TestCaseError> {
    match decode::<TransactionRequest>(bytes) {
        Ok(_) => Ok(None),
        Err(e) => {
            prop_assert!(
                e.status == 400 || e.status == 422,
                "status {} for {:?}",
                e.status,
                String::from_utf8_lossy(bytes)
            );
            prop_assert!(!e.message.trim().is_empty());
            // The wire form is a JSON object with an error code and message.
            let body = json!({"code": e.code, "message": e.message});
            prop_assert!(body["code"].as_str().is_some_and(|c| !c.is_empty()));
            Ok(Some(e))
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn request_decoding_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        check_decode(&bytes)?;
    }

    #[test]
    fn request_decoding_arbitrary_json(value in json_value()) {
        check_decode(value.to_string().as_bytes())?;
    }

    #[test]
    fn a_wrong_value_names_its_field(path in prop::sample::select(PATHS.to_vec()), value in json_value()) {
        let mut request = valid_request();
        let (parent, key) = path.rsplit_once('/').unwrap();
        let target = if parent.is_empty() { &mut request } else { request.pointer_mut(parent).unwrap() };
        target.as_object_mut().unwrap().insert(key.to_string(), value.clone());
        if let Some(e) = check_decode(request.to_string().as_bytes())? {
            prop_assert_eq!(e.status, 422, "{:?}", e);
            let field = e.field.clone().unwrap_or_default();
            let dotted = path.trim_start_matches('/').replace('/', ".");
            prop_assert!(field.starts_with(&dotted) || dotted.starts_with(&field) && !field.is_empty(),
                "error for {dotted} = {value} names field {field:?}: {}", e.message);
        }
    }

    #[test]
    fn cut_requests_are_400(cut in any::<prop::sample::Index>()) {
        let text = valid_request().to_string();
        let bytes = &text.as_bytes()[..cut.index(text.len())];
        let e = check_decode(bytes)?.expect("a cut request does not decode");
        prop_assert_eq!(e.status, 400);
    }
}
