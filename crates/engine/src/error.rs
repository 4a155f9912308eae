//! Errors of model loading and execution.

use rocmforge_gguf::{GgmlType, GgufError, MetadataError};

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The file could not be opened or is not valid GGUF.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// A metadata key is missing or holds the wrong type.
    #[error("model metadata: {0}")]
    Metadata(#[from] MetadataError),
    /// The tokenizer could not be built.
    #[error(transparent)]
    Tokenizer(#[from] rocmforge_tokenizer::Error),
    /// `general.architecture` names an architecture the engine does not run.
    #[error("architecture `{arch}` is not supported (supported: {})", crate::config::Architecture::NAMES.join(", "))]
    UnsupportedArchitecture {
        /// The value of `general.architecture`.
        arch: String,
    },
    /// A metadata value is outside what the architecture allows.
    #[error("model metadata: {0}")]
    InvalidConfig(String),
    /// A tensor the architecture needs is absent.
    #[error("tensor `{0}` is missing")]
    MissingTensor(String),
    /// A tensor has another shape than the metadata implies.
    #[error("tensor `{name}` has shape {found:?}, expected {expected:?}")]
    TensorShape {
        /// The tensor.
        name: String,
        /// The shape the metadata implies (ggml order: row length first).
        expected: Vec<u64>,
        /// The shape in the file.
        found: Vec<u64>,
    },
    /// A tensor has a type the CPU kernels cannot multiply with.
    #[error("tensor `{name}` has type {ty}, which the CPU backend does not support")]
    UnsupportedTensorType {
        /// The tensor.
        name: String,
        /// Its type.
        ty: GgmlType,
    },
    /// A GPU operation failed.
    #[error(transparent)]
    Gpu(#[from] rocmforge_hip::Error),
    /// The model (or the key/value caches asked for) does not fit in the
    /// device's free memory.
    #[error("{what} need {needed} bytes of GPU memory, {free} are free")]
    DoesNotFit {
        /// What needs the memory: "the model's weights", "key/value caches".
        what: &'static str,
        /// Bytes needed.
        needed: u64,
        /// Bytes free on the device.
        free: u64,
    },
    /// The sequence would not fit in the context.
    #[error("{needed} tokens do not fit in the context of {context} tokens")]
    ContextFull {
        /// Tokens the sequence would hold.
        needed: usize,
        /// The context size.
        context: usize,
    },
    /// The model's chat template does not compile or render.
    #[error(transparent)]
    Template(#[from] crate::chat::TemplateError),
    /// A token id is outside the vocabulary.
    #[error("token id {id} is outside the vocabulary of {vocab} tokens")]
    TokenOutOfRange {
        /// The id.
        id: u32,
        /// The vocabulary size.
        vocab: usize,
    },
}
