//! The inference engine: model configurations per architecture, the execution plan,
//! the CPU backend, the KV cache, sampling and generation.
#![deny(missing_docs)]

pub mod chat;
pub mod cpu;
pub mod sampling;
