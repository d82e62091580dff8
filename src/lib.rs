//! reagent: cited compliance guidance for bank transactions.
//!
//! Transaction side of the data flow: `domain` (typed requests) → `rules`
//! (deterministic obligations) → `query` → retrieval (evidence chunks from the store,
//! ranked by the `reagent-retrieval` crate). The document side (parse → chunk → embed →
//! store) lives in the `reagent-ingest` crate.
//! `config` and `services` wire both sides together at start-up.

pub mod analysis;
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
pub mod services;
pub mod web;
pub mod generation;
