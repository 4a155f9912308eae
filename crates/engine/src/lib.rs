//! The inference engine: model configurations per architecture, the execution plan,
//! the CPU backend, the KV cache, sampling and generation.
#![deny(missing_docs)]

pub mod chat;
pub mod config;
pub mod cpu;
mod error;
pub mod generate;
pub mod gpu;
pub mod kv_cache;
pub mod model;
pub mod perplexity;
pub mod plan;
pub mod reference;
pub mod sampling;
pub mod scheduler;

pub use config::{Architecture, ModelConfig};
pub use error::EngineError;
pub use generate::{GenerateOptions, GenerationStats, Session, StopReason};
pub use kv_cache::KvCache;
pub use model::Model;
pub use plan::{Backend, ExecutionPlan, Logits, SequenceBatch};
