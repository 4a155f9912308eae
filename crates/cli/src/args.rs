//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Run and inspect large language models stored as GGUF files.
#[derive(Debug, Parser)]
#[command(name = "rocmforge", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a GGUF file's header: version, metadata, tensors and totals by type.
    Inspect(InspectArgs),
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The GGUF file.
    pub file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Show long arrays in full instead of summarising them.
    #[arg(long)]
    pub full: bool,
}
