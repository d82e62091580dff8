//! reagent's integration tests, in one binary: one module per feature (each was its own
//! `tests/*.rs` binary, every one linking the Qdrant shard) and the shared fixtures in
//! `common/` (configuration and embedders, the in-process and the spawned server, the
//! fake LLM, evidence chunks, multipart bodies, PDFs, PostgreSQL databases); the
//! persistence suite both backends run is `db_common/`.
//!
//! One module: `cargo test --test it -- server_crash::`; one test: its full name.

mod common;
#[macro_use]
mod db_common;

mod api_scenarios;
mod audit_chain;
mod bad_input_corpus;
mod batch;
mod cancel_storm;
mod db_postgres;
mod db_sqlite;
mod eval_ci;
mod feedback_api;
mod feedback_db;
mod feedback_loop;
mod generation_fake;
mod generation_real;
mod graceful_shutdown;
mod ingest_bad_input;
mod ingest_corpus;
mod ingest_crash;
mod jobs_replicas;
mod layering;
mod limits;
mod model_change;
mod monitoring;
mod proptest_parsers;
mod qdrant_faults;
mod replicas;
mod review_queue;
mod rules_engine;
mod rules_examples;
mod sanctions_real_list;
mod security_api;
mod server_crash;
mod store_backends;
mod upload_limits;
mod web;
