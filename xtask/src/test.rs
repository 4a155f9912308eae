//! `cargo xtask test`: the project's test command.
//!
//! Prepares what the test suite needs on a fresh machine, then runs it:
//! 1. the `gguf` Python package, with which tests check that our files are read by
//!    the reference reader, and the `openai` package, with which they drive
//!    `rocmforge serve` (both installed with pip when missing);
//! 2. the Gemma 3 270M model in the model cache (`fetch-models`);
//! 3. the HIP kernels for every default AMD and NVIDIA target (`build-kernels`),
//!    which the tests embed and check; a missing compiler skips a platform with a
//!    message, except in CI (`CI=true`), where every kernel must compile;
//! 4. `cargo test --workspace`, plus any arguments given, showing what passing
//!    tests print: which vocabularies were checked and which tests were skipped.

use std::process::Command;

use anyhow::{Context, bail};

use crate::kernels::{self, PlatformArg};

/// The `gguf` release whose reader the tests run against.
const PYTHON_GGUF: (&str, &str) = ("gguf", "gguf==0.19.0");

/// The official OpenAI client release the server tests use.
const PYTHON_OPENAI: (&str, &str) = ("openai", "openai==3.22.1");

pub fn run(cargo_args: &[String]) -> anyhow::Result<()> {
    ensure_python_package(PYTHON_GGUF, "reference GGUF reader for the tests")?;
    ensure_python_package(PYTHON_OPENAI, "client for the server tests")?;
    crate::fetch::fetch_models()?;
    let all_kernels_built = build_kernels()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut args: Vec<String> = vec!["test".into(), "--workspace".into()];
    args.extend(cargo_args.iter().cloned());
    if !cargo_args.iter().any(|a| a == "--") {
        args.push("--".into());
    }
    args.push("--show-output".into());
    let mut command = Command::new(cargo);
    if all_kernels_built {
        // Lets the kernels crate's tests require every default target.
        let archs = [kernels::AMD_DEFAULT_ARCHS, kernels::NVIDIA_DEFAULT_ARCHS].concat();
        command.env(EXPECTED_KERNELS, archs.join(","));
    }
    let status = command.args(&args).status().context("running cargo test")?;
    if !status.success() {
        bail!("cargo test failed ({status})");
    }
    Ok(())
}

/// Set for `cargo test` to the targets built, when every default one was.
const EXPECTED_KERNELS: &str = "ROCMFORGE_EXPECTED_KERNELS";

/// Builds the kernels for both platforms; returns whether both succeeded.
fn build_kernels() -> anyhow::Result<bool> {
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let mut all = true;
    for platform in [PlatformArg::Amd, PlatformArg::Nvidia] {
        let args = kernels::Args {
            platform: Some(platform),
            arch: Vec::new(),
            out: None,
            force: false,
        };
        if let Err(err) = kernels::run(&args) {
            if in_ci {
                return Err(err.context(format!("building the {platform:?} kernels")));
            }
            eprintln!("skipped: {platform:?} kernels not built ({err:#})");
            all = false;
        }
    }
    Ok(all)
}

fn importable(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Installs `requirement` with pip unless `module` imports already.
fn ensure_python_package((module, requirement): (&str, &str), why: &str) -> anyhow::Result<()> {
    if importable(module) {
        return Ok(());
    }
    eprintln!("installing the Python package {requirement} ({why})");
    // A plain install works in virtual environments and pyenv; a user install where
    // the system Python refuses to be changed.
    for extra in [&[][..], &["--user"][..]] {
        let status = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet"])
            .args(extra)
            .arg(requirement)
            .status()
            .context("running python3 -m pip (is Python 3 with pip installed?)")?;
        if status.success() && importable(module) {
            return Ok(());
        }
    }
    bail!("could not install {requirement} with pip")
}
