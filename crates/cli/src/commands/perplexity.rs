//! `rocmforge perplexity -m FILE -f TEXT [-c 512] [-b 2048] [--device D]`: llama.cpp's
//! perplexity, with the running `[i]value` estimates on stdout, a progress bar
//! on stderr and `Final estimate: PPL = X +/- Y` last.

use std::io::Write;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use rocmforge_engine::perplexity::perplexity_in;

use crate::args::{ModelArgs, PerplexityArgs, ResidencyArg};

pub fn run(args: &PerplexityArgs, out: &mut impl Write) -> anyhow::Result<()> {
    anyhow::ensure!(args.ctx_size >= 2, "--ctx-size must be at least 2");
    anyhow::ensure!(args.batch_size >= 1, "--batch-size must be at least 1");
    let model_args = ModelArgs {
        model: args.model.clone(),
        ctx_size: Some(args.ctx_size),
        threads: args.threads,
        device: args.device,
        residency: ResidencyArg::Eager,
    };
    let (model, _) = super::run::load(&model_args)?;
    let mut session = super::session(&model, args.ctx_size, &model_args)?;
    let mut text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {} as UTF-8 text", args.file.display()))?;
    // As llama.cpp's -f: one trailing newline is not part of the text.
    if text.ends_with('\n') {
        text.pop();
    }
    let tokens = model.tokenizer.encode(&text, true, false);
    let mut tokens_needed = tokens.len();
    if let Some(chunks) = args.chunks {
        tokens_needed = tokens_needed.min(chunks.saturating_mul(args.ctx_size));
    }
    let bar = ProgressBar::new((tokens_needed / args.ctx_size) as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} windows, {eta} left")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut write_error = None;
    let result = perplexity_in(
        &mut session,
        &tokens[..tokens_needed],
        args.ctx_size,
        args.batch_size,
        |running, _| {
            bar.inc(1);
            if write_error.is_none()
                && let Err(e) = write!(out, "[{}]{:.4},", running.chunks, running.ppl)
                    .and_then(|()| out.flush())
            {
                write_error = Some(e);
            }
        },
    )?;
    bar.finish_and_clear();
    if let Some(e) = write_error {
        return Err(e.into());
    }
    writeln!(out)?;
    writeln!(
        out,
        "Final estimate: PPL = {:.4} +/- {:.5}",
        result.ppl, result.error
    )?;
    Ok(())
}
