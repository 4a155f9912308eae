//! `cargo xtask`: project automation.
//!
//! - `cargo xtask test`: everything the test suite needs, then `cargo test`.
//! - `cargo xtask fetch-models`: Gemma 3 270M Q4_K_M into the model cache.
//! - `cargo xtask gen-model`: random-weight models with real shapes and metadata.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use xtask::{fetch, gen_model, test};

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Task::Test { cargo_args } => test::run(&cargo_args),
        Task::FetchModels => fetch::fetch_models().map(|path| println!("{}", path.display())),
        Task::GenModel(args) => gen_model::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
