//! `rocmforge`: the command line of ROCmForge.
//!
//! Thin by design: argument parsing and printing only; the work happens in the
//! library crates.

mod args;
mod commands;
mod format;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version go to stdout and succeed; usage errors fail with 1.
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = writeln!(io::stderr(), "error: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match cli.command {
        Command::Inspect(args) => commands::inspect::run(&args, &mut out)?,
        Command::Tokenize(args) => commands::tokenize::run(&args, &mut out)?,
        Command::Run(args) => commands::run::run(&args, &mut out)?,
        Command::Chat(args) => commands::chat::run(&args, &mut out)?,
        Command::Perplexity(args) => commands::perplexity::run(&args, &mut out)?,
        Command::Bench(args) => commands::bench::run(&args, &mut out)?,
        Command::Devices(args) => commands::devices::run(&args, &mut out)?,
        Command::Serve(args) => commands::serve::run(&args)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// A closed pipe (`rocmforge inspect m.gguf | head`) is a normal way to stop.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|cause| cause.downcast_ref::<io::Error>())
        .any(|io| io.kind() == io::ErrorKind::BrokenPipe)
}
