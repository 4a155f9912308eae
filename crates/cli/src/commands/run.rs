//! `rocmforge run -m FILE -p PROMPT [-n N] [sampling]`: streams generated text to
//! stdout; load and speed figures go to stderr at the end.

use std::io::Write;
use std::time::Instant;

use anyhow::Context;
use rocmforge_engine::sampling::{Sampler, SamplerConfig};
use rocmforge_engine::{GenerateOptions, Model};

use crate::args::{ModelArgs, RunArgs, SamplingArgs};

pub fn run(args: &RunArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let (model, load_time) = load(&args.model)?;
    let context = context_size(&args.model, &model)?;
    let mut sampler = Sampler::new(sampler_config(&args.sampling))?;
    let prompt = model
        .tokenizer
        .encode(&args.prompt, model.tokenizer.add_bos(), true);
    if prompt.len() >= context {
        anyhow::bail!(
            "the prompt has {} tokens, more than the context of {context} leaves room for (use -c)",
            prompt.len()
        );
    }
    for &token in &prompt {
        sampler.accept(token);
    }
    let options = GenerateOptions {
        max_tokens: usize::try_from(args.n_predict).ok(),
        stop: Vec::new(),
        ignore_eos: args.ignore_eos,
        // `--temp 0` without penalties: the backend picks the tokens (on a GPU
        // one id per token comes back instead of the logits).
        greedy: sampler.config().is_plain_argmax(),
        ..GenerateOptions::default()
    };
    let mut session = super::session(&model, context, &args.model)?;
    let mut write_error = None;
    let stats = session.generate(
        &prompt,
        &options,
        |logits| {
            let token = sampler.sample(logits);
            sampler.accept(token);
            token
        },
        |text| {
            if write_error.is_none()
                && let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush())
            {
                write_error = Some(e);
            }
        },
    )?;
    if let Some(e) = write_error {
        return Err(e.into());
    }
    writeln!(out)?;
    eprintln!();
    eprintln!("load:       {:8.1} ms", load_time * 1e3);
    eprintln!(
        "prompt:     {:8.1} ms for {:5} tokens ({:7.2} tokens/s)",
        stats.prompt_time.as_secs_f64() * 1e3,
        stats.prompt_tokens,
        stats.prompt_tokens as f64 / stats.prompt_time.as_secs_f64()
    );
    eprintln!(
        "generation: {:8.1} ms for {:5} tokens ({:7.2} tokens/s)",
        stats.generation_time.as_secs_f64() * 1e3,
        stats.generated_tokens,
        stats.generated_tokens as f64 / stats.generation_time.as_secs_f64().max(1e-9)
    );
    Ok(())
}

/// Sets the thread count and loads the model; returns it with the load time in seconds.
pub fn load(args: &ModelArgs) -> anyhow::Result<(Model, f64)> {
    if let Some(threads) = args.threads {
        anyhow::ensure!(threads > 0, "--threads must be at least 1");
        // Fails only if the pool was already built, which nothing else does.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global();
    }
    let started = Instant::now();
    let file = super::open_gguf(&args.model)?;
    let model = Model::from_file(file).with_context(|| args.model.display().to_string())?;
    Ok((model, started.elapsed().as_secs_f64()))
}

/// `-c`, or the model's trained context capped at 4096.
pub fn context_size(args: &ModelArgs, model: &Model) -> anyhow::Result<usize> {
    match args.ctx_size {
        Some(0) => anyhow::bail!("--ctx-size must be at least 1"),
        Some(n) => Ok(n),
        None => Ok(model.config.n_ctx_train.clamp(1, 4096)),
    }
}

pub fn sampler_config(args: &SamplingArgs) -> SamplerConfig {
    SamplerConfig {
        temperature: args.temp,
        top_k: args.top_k,
        top_p: args.top_p,
        min_p: args.min_p,
        repeat_penalty: args.repeat_penalty,
        seed: args.seed,
        ..SamplerConfig::default()
    }
}
