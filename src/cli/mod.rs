//! The `reagent` command's groups, one module each; `main.rs` parses and dispatches.

pub mod batch;
pub mod eval;
pub mod eval_embedding;
pub mod feedback;
pub mod reembed;
pub mod report;
pub mod sanctions;
