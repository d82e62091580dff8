//! reagent: cited compliance guidance for bank transactions.
//!
//! Transaction side of the data flow: `domain` (typed requests) → `rules`
//! (deterministic obligations) → `query` → retrieval (evidence chunks from the store,
//! ranked by the `reagent-retrieval` crate). The document side (parse → chunk → embed →
//! store) lives in the `reagent-ingest` crate.
//! `app` holds the use-cases that the two front doors, `api` (JSON) and `web` (pages),
//! call; `server` merges their routers and serves them. `config` and `services` wire
//! everything together at start-up. `tests/it/layering.rs` enforces the layers.

pub mod analysis;
pub mod app;
pub mod audit;
pub mod auth;
pub mod batch;
pub mod config;
pub mod db;
pub mod decision;
pub mod domain;
pub mod feedback;
pub mod guidance;
pub mod monitoring;
pub mod query;
pub mod review;
pub mod rules;
pub mod sanctions;
pub mod api;
pub mod server;
pub mod services;
pub mod web;
pub mod generation;
