//! An OpenAI-compatible HTTP server on top of the engine.
//!
//! This crate is a placeholder in the workspace layout and exports nothing yet.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
