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
    /// Generate text from a prompt, streaming it as it comes.
    Run(RunArgs),
    /// Chat with a model through its chat template.
    Chat(ChatArgs),
    /// Perplexity of a text, as llama.cpp's `llama-perplexity` measures it.
    Perplexity(PerplexityArgs),
    /// Prompt-processing and generation speed, as llama.cpp's `llama-bench`.
    Bench(BenchArgs),
    /// List the GPUs found (platform, name, memory, architecture), or say why
    /// none is usable.
    Devices(DevicesArgs),
    /// Serve the model over an OpenAI-compatible HTTP API, decoding
    /// concurrent requests together.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Port to listen on (0: any free one; the address is printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Requests decoded together at most.
    #[arg(long, default_value_t = 8)]
    pub parallel: usize,
    /// Requests waiting to start at most; more are answered 429.
    #[arg(long, default_value_t = 64)]
    pub queue: usize,
    /// Require `Authorization: Bearer KEY` on /v1/* requests.
    #[arg(long = "api-key")]
    pub api_key: Option<String>,
    /// The model's name in answers (default: the file's name).
    #[arg(long)]
    pub alias: Option<String>,
    /// Defaults for requests that leave sampling fields out.
    #[command(flatten)]
    pub sampling: SamplingArgs,
}

#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
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

/// Model, context and threads, shared by the commands that run a model.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// The GGUF model file.
    #[arg(short = 'm', long = "model")]
    pub model: PathBuf,
    /// Context size in tokens (default: the model's, at most 4096).
    #[arg(short = 'c', long = "ctx-size")]
    pub ctx_size: Option<usize>,
    /// Worker threads (default: all cores).
    #[arg(short = 't', long = "threads")]
    pub threads: Option<usize>,
    /// Where to run: `auto` (a GPU when one is usable, else the CPU), `cpu`,
    /// `gpu` or `gpu:N`.
    #[arg(long, default_value = "auto", value_parser = parse_device)]
    pub device: DeviceChoice,
    /// When the weights reach the GPU: all before the first token, or each layer
    /// on first use.
    #[arg(long, value_enum, default_value_t = ResidencyArg::Eager)]
    pub residency: ResidencyArg,
}

/// The `--device` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    /// A GPU when one is usable, else the CPU.
    Auto,
    /// The CPU.
    Cpu,
    /// The GPU with this index.
    Gpu(usize),
}

fn parse_device(text: &str) -> Result<DeviceChoice, String> {
    match text {
        "auto" => Ok(DeviceChoice::Auto),
        "cpu" => Ok(DeviceChoice::Cpu),
        "gpu" => Ok(DeviceChoice::Gpu(0)),
        other => other
            .strip_prefix("gpu:")
            .and_then(|n| n.parse().ok())
            .map(DeviceChoice::Gpu)
            .ok_or_else(|| format!("`{other}` is not auto, cpu, gpu or gpu:N")),
    }
}

/// The `--residency` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ResidencyArg {
    /// Every layer before the first token.
    Eager,
    /// Each layer on first use.
    Lazy,
}

/// Sampling settings, with llama.cpp's defaults.
#[derive(Debug, Args)]
pub struct SamplingArgs {
    /// Temperature; 0 picks the most likely token every time.
    #[arg(long = "temp", default_value_t = 0.8)]
    pub temp: f32,
    /// Keep the K most likely tokens (0: all).
    #[arg(long = "top-k", default_value_t = 40)]
    pub top_k: i32,
    /// Keep the most likely tokens up to this cumulative probability (1: all).
    #[arg(long = "top-p", default_value_t = 0.95)]
    pub top_p: f32,
    /// Drop tokens less likely than this fraction of the most likely one.
    #[arg(long = "min-p", default_value_t = 0.05)]
    pub min_p: f32,
    /// Penalise tokens of the last 64 by this factor (1: off).
    #[arg(long = "repeat-penalty", default_value_t = 1.0)]
    pub repeat_penalty: f32,
    /// Random seed (default: random).
    #[arg(short = 's', long = "seed")]
    pub seed: Option<u64>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The prompt.
    #[arg(short = 'p', long = "prompt", allow_hyphen_values = true)]
    pub prompt: String,
    /// Tokens to generate (-1: until end of generation or a full context).
    #[arg(short = 'n', long = "n-predict", default_value_t = -1, allow_hyphen_values = true)]
    pub n_predict: i64,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Keep generating past end-of-generation tokens.
    #[arg(long)]
    pub ignore_eos: bool,
}

#[derive(Debug, Args)]
pub struct PerplexityArgs {
    /// The GGUF model file.
    #[arg(short = 'm', long = "model")]
    pub model: PathBuf,
    /// The text to score.
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
    /// Window size in tokens; the second half of each window is scored.
    #[arg(short = 'c', long = "ctx-size", default_value_t = 512)]
    pub ctx_size: usize,
    /// Tokens evaluated per batch.
    #[arg(short = 'b', long = "batch-size", default_value_t = 2048)]
    pub batch_size: usize,
    /// Score only the first N windows.
    #[arg(long = "chunks")]
    pub chunks: Option<usize>,
    /// Worker threads (default: all cores).
    #[arg(short = 't', long = "threads")]
    pub threads: Option<usize>,
    /// Where to run: `auto` (a GPU when one is usable, else the CPU), `cpu`,
    /// `gpu` or `gpu:N`.
    #[arg(long, default_value = "auto", value_parser = parse_device)]
    pub device: DeviceChoice,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The GGUF model file.
    #[arg(short = 'm', long = "model")]
    pub model: PathBuf,
    /// Prompt length of the prompt-processing test (0: skip).
    #[arg(short = 'p', long = "n-prompt", default_value_t = 512)]
    pub n_prompt: usize,
    /// Tokens of the generation test (0: skip).
    #[arg(short = 'n', long = "n-gen", default_value_t = 128)]
    pub n_gen: usize,
    /// Repetitions of each test.
    #[arg(short = 'r', long = "repetitions", default_value_t = 5)]
    pub repetitions: usize,
    /// Also decode this many sequences together (`tg N xP`: P·N tokens in N
    /// batched steps), as a server's continuous batch does (1: skip).
    #[arg(long, default_value_t = 1)]
    pub parallel: usize,
    /// Worker threads (default: all cores).
    #[arg(short = 't', long = "threads")]
    pub threads: Option<usize>,
    /// Where to run: `auto`, `cpu`, `gpu` or `gpu:N` (as for run).
    #[arg(long, default_value = "auto", value_parser = parse_device)]
    pub device: DeviceChoice,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ChatArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// A system message that opens the conversation.
    #[arg(long)]
    pub system: Option<String>,
    /// Most tokens per answer (-1: until end of turn or a full context).
    #[arg(short = 'n', long = "n-predict", default_value_t = -1, allow_hyphen_values = true)]
    pub n_predict: i64,
    #[command(flatten)]
    pub sampling: SamplingArgs,
}
