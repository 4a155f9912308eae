//! The inference engine: model configurations per architecture, the execution plan,
//! the CPU and HIP backends, the KV cache, sampling and generation.
//!
//! This crate is a placeholder in the workspace layout and exports nothing yet.
#![deny(missing_docs)]
