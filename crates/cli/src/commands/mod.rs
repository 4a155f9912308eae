//! One module per subcommand.

pub mod inspect;
pub mod tokenize;

use std::path::Path;

use rocmforge_gguf::{GgufError, GgufFile};

/// Opens a GGUF file; errors name the file once.
pub fn open_gguf(path: &Path) -> anyhow::Result<GgufFile> {
    GgufFile::open(path).map_err(|err| match err {
        // I/O errors already name the file.
        GgufError::Io { .. } => anyhow::Error::new(err),
        other => anyhow::Error::new(other).context(path.display().to_string()),
    })
}
pub mod bench;
pub mod chat;
pub mod devices;
pub mod perplexity;
pub mod run;
