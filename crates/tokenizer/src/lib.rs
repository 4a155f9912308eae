//! Tokenizers built from a GGUF file's own metadata (SentencePiece-style and
//! byte-level BPE), producing the same ids as llama.cpp.
//!
//! This crate is a placeholder in the workspace layout and exports nothing yet.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
