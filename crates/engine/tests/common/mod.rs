//! Shared by the engine's integration tests: the model cache, skipping (visibly)
//! when it has not been fetched.

#![allow(dead_code)]

pub mod batching;

use std::path::PathBuf;

/// The model cache of `cargo xtask fetch-models`.
pub fn models_dir() -> Option<PathBuf> {
    std::env::var_os("ROCMFORGE_MODELS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/rocmforge/models"))
        })
}

/// A file or folder of the model cache; `None` (with a message) when it is not there.
/// On CI a missing one is a failure: CI fetches the models first.
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

/// The Gemma 3 270M Q4_K_M file.
pub const GEMMA: &str = "gemma-3-270m-q4_k_m.gguf";

/// A tiny random-weight model of `arch` stored as `file_type` (as `cargo xtask
/// gen-model --shape tiny` writes it), opened from a temporary file that is
/// removed again.
pub fn tiny_model(
    arch: xtask::gen_model::Arch,
    file_type: xtask::gen_model::FileType,
    seed: u64,
) -> rocmforge_engine::Model {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "rocmforge-test-{}-{}-{arch:?}-{file_type:?}.gguf",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    xtask::gen_model::run(&xtask::gen_model::Args {
        arch,
        shape: xtask::gen_model::Shape::Tiny,
        file_type,
        out: path.clone(),
        seed,
    })
    .unwrap();
    let model = rocmforge_engine::Model::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    model
}
