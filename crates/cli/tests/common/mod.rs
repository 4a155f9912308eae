//! Shared by the command line's integration tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The model from `cargo xtask fetch-models`; `None`, with a message, when it
/// has not been fetched (a failure on CI, which fetches it first).
pub fn cached_gemma(test: &str) -> Option<PathBuf> {
    let models = std::env::var_os("ROCMFORGE_MODELS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache/rocmforge/models"))
        });
    let path = models
        .map(|dir| dir.join("gemma-3-270m-q4_k_m.gguf"))
        .filter(|p| p.exists());
    if path.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must fetch the model first (cargo xtask fetch-models)"
        );
        eprintln!("SKIPPED {test}: run `cargo xtask fetch-models` first");
    }
    path
}
