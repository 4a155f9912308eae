//! Project automation behind `cargo xtask`, also used by the integration tests
//! (which generate their tiny models with [`gen_model`]).

#[cfg(feature = "bindgen")]
pub mod bindgen;
pub mod bundle;
pub mod fetch;
pub mod gen_model;
pub mod kernels;
pub mod llama_cpp_data;
pub mod load_test;
pub mod test;

use std::path::PathBuf;

/// The model cache: `$ROCMFORGE_MODELS`, or `~/.cache/rocmforge/models`.
pub fn models_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("ROCMFORGE_MODELS") {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME")
        .ok_or_else(|| anyhow::anyhow!("neither ROCMFORGE_MODELS nor HOME is set"))?;
    Ok(PathBuf::from(home).join(".cache/rocmforge/models"))
}

/// The workspace root (the parent of the `xtask` package).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}
