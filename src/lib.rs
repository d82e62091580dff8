//! reagent: cited compliance guidance for bank transactions.
//!
//! Transaction side of the data flow: `domain` (typed requests) → `rules`
//! (deterministic obligations) → `retrieval` (evidence chunks from the store). The
//! document side (parse → chunk → embed → store) lives in the `reagent-ingest` crate.
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
pub mod retrieval;
pub mod review;
pub mod rules;
pub mod sanctions;
pub mod api;
pub mod services;
pub mod web;
pub mod generation;
