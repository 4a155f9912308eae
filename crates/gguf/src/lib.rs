//! Read, validate and write GGUF files, and convert ggml's tensor formats to and from
//! `f32`.
//!
//! GGUF is the single-file model format of llama.cpp and ggml. This crate knows
//! nothing about GPUs or model architectures: it is useful to anyone who reads GGUF
//! files.
//!
//! - [`GgufFile`]: open (memory-mapped) or read a file; the whole header is validated
//!   up front, tensor data is borrowed without copying ([`TensorView`]).
//! - [`Metadata`]: typed accessors (`get_u32("llama.block_count")`) whose errors name
//!   the key and the type found.
//! - [`GgufBuilder`]: write files, tensor by tensor.
//! - [`GgmlType`]: every current ggml tensor type with its id and block geometry.
//! - [`blocks`]: the block layouts as `#[repr(C)]` structs for zero-copy typed views.
//! - [`quant`]: dequantization of every type (bit-identical to ggml's reference) and
//!   quantization for the common ones.
//!
//! Files are untrusted input: every count, length and offset is checked before use,
//! and a malformed file is a [`GgufError`] naming what is wrong and at which byte.
#![deny(missing_docs)]

pub mod blocks;
mod error;
mod file;
pub mod quant;
mod reader;
mod tensor;
mod types;
mod value;
mod writer;

pub use error::{GgufError, InvalidKind, MetadataError, TensorError, WriteError};
pub use file::{FromValue, GgufFile, Metadata};
pub use reader::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, GGUF_MAGIC, MAX_ARRAY_DEPTH, MAX_DIMS};
pub use tensor::{TensorInfo, TensorView};
pub use types::{GgmlType, QK_K, UnknownTypeId};
pub use value::{Array, ArrayElement, ArrayIter, ArrayRef, Value, ValueRef, ValueType};
pub use writer::{GgufBuilder, TensorDataWriter, TensorSpec};
