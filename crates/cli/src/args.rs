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
    /// Turn text into token ids with a model's own tokenizer, as llama.cpp's
    /// `llama-tokenize` does.
    Tokenize(TokenizeArgs),
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

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["prompt", "file", "stdin"])))]
pub struct TokenizeArgs {
    /// The GGUF file (a full model or a vocabulary-only file).
    #[arg(short = 'm', long = "model")]
    pub model: PathBuf,
    /// The text to tokenize.
    #[arg(short = 'p', long = "prompt", allow_hyphen_values = true)]
    pub prompt: Option<String>,
    /// Read the text from this file, byte for byte.
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Read the text from standard input.
    #[arg(long)]
    pub stdin: bool,
    /// Print the ids as one list, `[2, 9259, 1902]` (the default).
    #[arg(long, conflicts_with = "show")]
    pub ids: bool,
    /// Print one `id -> 'piece'` line per token instead of the list.
    #[arg(long)]
    pub show: bool,
    /// Do not add the BOS token even if the model asks for it.
    #[arg(long)]
    pub no_bos: bool,
    /// Treat special-token text such as `<start_of_turn>` as plain text.
    #[arg(long)]
    pub no_parse_special: bool,
    /// Do not process escapes (`\\n`, `\\t`, `\\xNN`, ...) in the text.
    #[arg(long)]
    pub no_escape: bool,
    /// Also print the number of tokens.
    #[arg(long)]
    pub show_count: bool,
}
