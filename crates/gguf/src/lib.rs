//! Read, validate and write GGUF files, and convert ggml's tensor formats to and from
//! `f32`.
//!
//! GGUF is the single-file model format of llama.cpp and ggml. This crate knows
//! nothing about GPUs or model architectures: it is useful to anyone who reads GGUF
//! files.
//!
//! - [`GgmlType`]: every current ggml tensor type with its id and block geometry.
//! - [`blocks`]: the block layouts as `#[repr(C)]` structs for zero-copy views.
//! - [`quant`]: dequantization of every type (bit-identical to ggml's reference) and
//!   quantization for the common ones.
#![deny(missing_docs)]

pub mod blocks;
pub mod quant;
mod types;

pub use types::{GgmlType, QK_K, UnknownTypeId};
