//! `cargo xtask bundle`: everything a GPU machine without Rust needs to prove the
//! GPU layers — release builds of the CLI, the GPU test executables and the
//! transfer benchmark (kernels embedded), plus one script that runs them.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::kernels::{self, PlatformArg};

/// The whole bundle must travel to the GPU machine (which takes 64 MiB).
const MAX_BUNDLE_BYTES: u64 = 64 << 20;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output directory [default: <workspace>/target/gpu-bundle].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// (cargo arguments, name in the bundle) of each executable.
const EXECUTABLES: &[(&[&str], &str)] = &[
    (
        &["test", "-p", "rocmforge-hip", "--test", "gpu"],
        "hip-gpu-tests",
    ),
    (
        &[
            "test",
            "-p",
            "rocmforge-integration-tests",
            "--test",
            "gpu_kernels",
        ],
        "kernel-gpu-tests",
    ),
    (
        &["test", "-p", "rocmforge-engine", "--test", "gpu_upload"],
        "engine-gpu-tests",
    ),
    (
        &["test", "-p", "rocmforge-engine", "--test", "gpu_backend"],
        "backend-gpu-tests",
    ),
    (
        &["bench", "-p", "rocmforge-hip", "--bench", "transfers"],
        "transfers-bench",
    ),
];

const RUN_SCRIPT: &str = r#"#!/usr/bin/env bash
# Runs the GPU proof of ROCmForge's HIP layer on this machine; outputs go to
# $OUT (or ./gpu-results). Needs only a GPU driver (NVIDIA) or ROCm (AMD).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${OUT:-$PWD/gpu-results}"
mkdir -p "$out"
status=0
step() {
    local name="$1"; shift
    echo "=== $name"
    "$@" 2>&1 | tee "$out/$name.txt" || status=1
}
step devices "$here/rocmforge" devices
step hip-tests "$here/hip-gpu-tests" --nocapture --test-threads=1
step kernel-tests "$here/kernel-gpu-tests" --nocapture --test-threads=1
step engine-tests "$here/engine-gpu-tests" --nocapture --test-threads=1
step backend-tests "$here/backend-gpu-tests" --nocapture --test-threads=1
if [ "${SKIP_BENCH:-0}" != 1 ]; then
    step bench "$here/transfers-bench" --bench --noplot
fi
echo "=== exit status $status (logs in $out)"
exit $status
"#;

pub fn run(args: &Args) -> anyhow::Result<()> {
    let root = crate::workspace_root();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| root.join("target/gpu-bundle"));
    for platform in [PlatformArg::Amd, PlatformArg::Nvidia] {
        let kernel_args = kernels::Args {
            platform: Some(platform),
            arch: Vec::new(),
            out: None,
            force: false,
        };
        if let Err(err) = kernels::run(&kernel_args) {
            eprintln!("warning: {platform:?} kernels not built, the bundle lacks them: {err:#}");
        }
    }
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("clearing {}", out.display()))?;
    }
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(["build", "--release", "-p", "rocmforge-cli"])
        .current_dir(&root)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build failed ({status})");
    }
    copy_executable(
        &root.join("target/release/rocmforge"),
        &out.join("rocmforge"),
    )?;
    for (cargo_args, name) in EXECUTABLES {
        let executable = build_executable(&cargo, &root, cargo_args)?;
        copy_executable(&executable, &out.join(name))?;
    }
    let script = out.join("run.sh");
    std::fs::write(&script, RUN_SCRIPT).with_context(|| format!("writing {}", script.display()))?;
    make_executable(&script)?;

    let total: u64 = std::fs::read_dir(&out)?
        .filter_map(|entry| entry.ok()?.metadata().ok())
        .map(|meta| meta.len())
        .sum();
    if total > MAX_BUNDLE_BYTES {
        bail!(
            "the bundle is {} MiB, over the 64 MiB a GPU machine accepts",
            total >> 20
        );
    }
    println!("{}", out.display());
    eprintln!(
        "bundle: {} files, {:.1} MiB; run `{}/run.sh` on the GPU machine",
        EXECUTABLES.len() + 2,
        total as f64 / (1 << 20) as f64,
        out.display()
    );
    Ok(())
}

/// Builds one test or bench target and returns its executable's path.
fn build_executable(cargo: &str, root: &Path, cargo_args: &[&str]) -> anyhow::Result<PathBuf> {
    // `cargo bench` builds with the release profile already and takes no flag.
    let release: &[&str] = if cargo_args[0] == "bench" {
        &[]
    } else {
        &["--release"]
    };
    let output = Command::new(cargo)
        .args(cargo_args)
        .args(release)
        .args(["--no-run", "--message-format=json-render-diagnostics"])
        .current_dir(root)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running cargo {}", cargo_args.join(" ")))?;
    if !output.status.success() {
        bail!("cargo {} failed ({})", cargo_args.join(" "), output.status);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .with_context(|| format!("cargo {} built no executable", cargo_args.join(" ")))
}

/// Copies an executable, stripped of debug information where `strip` exists.
fn copy_executable(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    // Debug information is most of the size; without `strip` the copy stays whole.
    let _ = Command::new("strip").arg(to).status();
    make_executable(to)
}

fn make_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut permissions = std::fs::metadata(path)?.permissions();
    permissions.set_mode(0o755);
    std::fs::set_permissions(path, permissions)
        .with_context(|| format!("marking {} executable", path.display()))
}
