//! Errors of tokenizer construction and use.

use rocmforge_gguf::MetadataError;

use crate::pretokenize::UnsupportedPreTokenizer;

/// Why a tokenizer could not be built or used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A metadata key is missing or holds the wrong type.
    #[error("tokenizer metadata: {0}")]
    Metadata(#[from] MetadataError),
    /// `tokenizer.ggml.model` names a vocabulary type this crate does not implement.
    #[error(
        "tokenizer model `{model}` is not supported (supported: {})",
        crate::SUPPORTED_MODELS.join(", ")
    )]
    UnsupportedModel {
        /// The value of `tokenizer.ggml.model`.
        model: String,
    },
    /// `tokenizer.ggml.pre` names a pre-tokenizer this crate does not implement.
    #[error("tokenizer metadata: {0}")]
    UnsupportedPreTokenizer(#[from] UnsupportedPreTokenizer),
    /// A per-token array is shorter than the token list.
    #[error("metadata key `{key}` has {found} entries, fewer than the {tokens} tokens")]
    ShortArray {
        /// The key of the array.
        key: &'static str,
        /// Its length.
        found: usize,
        /// The number of tokens.
        tokens: usize,
    },
    /// The vocabulary is empty or larger than token ids can address.
    #[error("the vocabulary has {0} tokens; it must have between 1 and 2^31 - 1")]
    VocabSize(usize),
    /// An entry of `tokenizer.ggml.merges` is not two tokens separated by a space.
    #[error("merge #{index} `{text}` is not of the form `left right`")]
    InvalidMerge {
        /// Position in `tokenizer.ggml.merges`.
        index: usize,
        /// The entry.
        text: String,
    },
    /// A merge names a token that is not in the vocabulary.
    #[error("merge #{index} `{text}` names `{missing}`, which is not a token of the vocabulary")]
    InconsistentMerge {
        /// Position in `tokenizer.ggml.merges`.
        index: usize,
        /// The entry.
        text: String,
        /// The side that is not a token.
        missing: String,
    },
    /// The vocabulary asks for a BOS or EOS token but has none.
    #[error("the vocabulary adds a {which} token but defines none")]
    MissingSpecialToken {
        /// `"BOS"` or `"EOS"`.
        which: &'static str,
    },
    /// A token id is not in the vocabulary.
    #[error("token id {id} is out of range (the vocabulary has {vocab_size} tokens)")]
    TokenOutOfRange {
        /// The id.
        id: u32,
        /// The vocabulary size.
        vocab_size: usize,
    },
}
