//! Shared by the tokenizer's integration tests: where the model cache is, and
//! skipping (visibly) when it has not been fetched.

#![allow(dead_code)]

use std::path::PathBuf;

use rocmforge_gguf::GgufFile;
use rocmforge_tokenizer::Tokenizer;

/// The model cache of `cargo xtask fetch-models`.
pub fn models_dir() -> Option<PathBuf> {
    std::env::var_os("ROCMFORGE_MODELS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/rocmforge/models"))
        })
}

/// A file of the model cache; `None` (with a message) when it is not there.
/// On CI a missing file is a failure: CI fetches the models first.
pub fn cached(relative: &str, test: &str) -> Option<PathBuf> {
    let path = models_dir()
        .map(|dir| dir.join(relative))
        .filter(|p| p.exists());
    if path.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must fetch the models first (cargo xtask fetch-models): {relative} is missing"
        );
        eprintln!(
            "SKIPPED {test}: {relative} is not in the model cache; run `cargo xtask fetch-models`"
        );
    }
    path
}

/// The tokenizer of a GGUF file.
pub fn tokenizer(path: &std::path::Path) -> Tokenizer {
    let file = GgufFile::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Tokenizer::from_gguf(&file).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
