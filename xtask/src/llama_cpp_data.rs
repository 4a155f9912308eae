//! Test data that ships with llama.cpp: vocabulary-only GGUF files with tokenizer
//! test vectors (`models/ggml-vocab-*.gguf` + `.inp`/`.out`) and real chat templates
//! (`models/templates/*.jinja`).
//!
//! They come from the `llama-cpp-python` source distribution (which vendors
//! llama.cpp), downloaded with pip, checked by sha256 and unpacked into the model
//! cache: `llama.cpp-vocab/` and `llama.cpp-templates/`. The version is pinned so the
//! vectors do not move under the tests.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

const PACKAGE: &str = "llama-cpp-python";
const VERSION: &str = "0.3.36";
const SDIST_SHA256: &str = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e";
/// Marks a complete unpacking (written last).
const STAMP: &str = ".complete";

/// Where the vocabulary files land.
pub fn vocab_dir(models: &Path) -> PathBuf {
    models.join("llama.cpp-vocab")
}

/// Where the chat templates land.
pub fn templates_dir(models: &Path) -> PathBuf {
    models.join("llama.cpp-templates")
}

/// Makes sure the vocabularies and templates are in the model cache.
pub fn fetch(models: &Path) -> anyhow::Result<()> {
    let (vocab, templates) = (vocab_dir(models), templates_dir(models));
    let stamp = format!("{PACKAGE} {VERSION}\n");
    if std::fs::read_to_string(vocab.join(STAMP)).is_ok_and(|s| s == stamp)
        && std::fs::read_to_string(templates.join(STAMP)).is_ok_and(|s| s == stamp)
    {
        eprintln!("llama.cpp test data ({PACKAGE} {VERSION}) is up to date");
        return Ok(());
    }
    let download = models.join(format!(".download-{}", std::process::id()));
    std::fs::create_dir_all(&download)?;
    let result = download_and_unpack(&download, &vocab, &templates, &stamp);
    let _ = std::fs::remove_dir_all(&download);
    result
}

fn download_and_unpack(
    download: &Path,
    vocab: &Path,
    templates: &Path,
    stamp: &str,
) -> anyhow::Result<()> {
    eprintln!("downloading the {PACKAGE} {VERSION} source distribution (llama.cpp test data)");
    // Only this package as source: its build requirements may come as wheels.
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            PACKAGE,
            "--dest",
        ])
        .arg(download)
        .arg(format!("{PACKAGE}=={VERSION}"))
        .status()
        .context("running python3 -m pip (is Python 3 with pip installed?)")?;
    if !status.success() {
        bail!("pip download {PACKAGE}=={VERSION} failed ({status})");
    }
    let sdist = download.join(format!("llama_cpp_python-{VERSION}.tar.gz"));
    let digest = crate::fetch::sha256_file(&sdist)?;
    if digest != SDIST_SHA256 {
        bail!(
            "{} has sha256 {digest}, expected {SDIST_SHA256}",
            sdist.display()
        );
    }

    for dir in [vocab, templates] {
        if dir.exists() {
            std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        std::fs::create_dir_all(dir)?;
    }
    let prefix = format!("llama_cpp_python-{VERSION}/vendor/llama.cpp/models/");
    let file = File::open(&sdist)?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(file)));
    let (mut n_vocab, mut n_templates) = (0, 0);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        let Some(rest) = path.strip_prefix(&prefix) else {
            continue;
        };
        let target = if let Some(name) = rest.strip_prefix("templates/") {
            if !name.ends_with(".jinja") || name.contains('/') {
                continue;
            }
            n_templates += 1;
            templates.join(name)
        } else if rest.starts_with("ggml-vocab-") && !rest.contains('/') {
            n_vocab += 1;
            vocab.join(rest)
        } else {
            continue;
        };
        entry
            .unpack(&target)
            .with_context(|| format!("unpacking {}", target.display()))?;
    }
    if n_vocab == 0 || n_templates == 0 {
        bail!(
            "{} holds no vocabularies or templates under {prefix}",
            sdist.display()
        );
    }
    std::fs::write(vocab.join(STAMP), stamp)?;
    std::fs::write(templates.join(STAMP), stamp)?;
    eprintln!(
        "unpacked {n_vocab} vocabulary files into {}",
        vocab.display()
    );
    eprintln!(
        "unpacked {n_templates} chat templates into {}",
        templates.display()
    );
    Ok(())
}
