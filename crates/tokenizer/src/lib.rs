//! Tokenizers built from a GGUF file's own metadata, producing exactly the token ids
//! llama.cpp produces.
//!
//! - `llama` vocabularies (SentencePiece-style BPE by scores, byte fallback);
//! - `gpt2` vocabularies (byte-level BPE with merges) and llama.cpp's pre-tokenizers.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod pretokenize;
