//! `cargo xtask`: project automation.
//!
//! - `cargo xtask test`: everything the test suite needs, then `cargo test`.
//! - `cargo xtask fetch-models`: Gemma 3 270M Q4_K_M into the model cache.
//! - `cargo xtask gen-model`: random-weight models with real shapes and metadata.
//! - `cargo xtask build-kernels`: `kernels/*.hip` into code objects, cubins and PTX.
//! - `cargo xtask bundle`: release GPU tests, CLI and `run.sh` for a GPU machine.
//! - `cargo xtask load-test`: the server's load test, with throughput figures.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use xtask::{bundle, fetch, gen_model, kernels, load_test, test};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "ROCmForge project automation")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Prepare what the tests need (Python `gguf`, the Gemma model), then run
    /// `cargo test --workspace` with any extra arguments given.
    Test {
        /// Extra arguments for `cargo test`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        cargo_args: Vec<String>,
    },
    /// Download Gemma 3 270M Q4_K_M into the model cache ($ROCMFORGE_MODELS, default
    /// ~/.cache/rocmforge/models), checked by sha256.
    FetchModels,
    /// Write a random-weight model with the real metadata and shapes of a family.
    GenModel(gen_model::Args),
    /// Compile kernels/*.hip for AMD (clang, code objects) and NVIDIA (nvcc, cubin and
    /// PTX) into target/kernels, which rocmforge-kernels embeds.
    BuildKernels(kernels::Args),
    /// Build what a GPU machine without Rust runs to prove the GPU layers: the
    /// CLI, the GPU tests and the transfer benchmark (kernels embedded) and
    /// `run.sh`, into target/gpu-bundle.
    Bundle(bundle::Args),
    /// Start `rocmforge serve` and run the bounded load test against it: one
    /// client against eight (tokens/s), then many requests at once (errors,
    /// memory).
    LoadTest(load_test::Args),
    /// Regenerate the checked-in raw bindings of rocmforge-hip-sys with bindgen
    /// (`--hip-include DIR --cuda-include DIR`; needs libclang).
    Bindgen {
        /// Arguments for the generator (see `cargo xtask bindgen --help`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// Runs the generator, which is compiled only with the `bindgen` feature (libclang
/// and bindgen are not needed for anything else): without it, runs itself again
/// through cargo with the feature on.
fn bindgen(args: &[String]) -> anyhow::Result<()> {
    #[cfg(feature = "bindgen")]
    {
        xtask::bindgen::run_from(args)
    }
    #[cfg(not(feature = "bindgen"))]
    {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args([
                "run",
                "--quiet",
                "--package",
                "xtask",
                "--features",
                "bindgen",
                "--",
                "bindgen",
            ])
            .args(args)
            .status()?;
        anyhow::ensure!(status.success(), "the bindings generator failed ({status})");
        Ok(())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Task::Test { cargo_args } => test::run(&cargo_args),
        Task::FetchModels => fetch::fetch_models().map(|path| println!("{}", path.display())),
        Task::GenModel(args) => gen_model::run(&args),
        Task::BuildKernels(args) => kernels::run(&args),
        Task::Bundle(args) => bundle::run(&args),
        Task::LoadTest(args) => load_test::run(&args),
        Task::Bindgen { args } => bindgen(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
