//! reagent: cited compliance guidance for bank transactions.
//!
//! Transaction side of the data flow: `domain` (typed requests) → `rules`
//! (deterministic obligations) → `retrieval` (evidence chunks from the store). The
//! document side (parse → chunk → embed → store) lives in the `reagent-ingest` crate.
//! `config` and `services` wire both sides together at start-up.

pub mod config;
pub mod domain;
pub mod retrieval;
pub mod rules;
pub mod services;
