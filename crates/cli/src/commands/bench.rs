//! `rocmforge bench -m FILE [-p 512] [-n 128] [-r 5] [--json]`: llama-bench's
//! two tests. `pp N`: N tokens evaluated in one batch from an empty context;
//! `tg N`: N tokens evaluated one at a time. Each test runs once to warm up,
//! then `r` times; the table gives mean ± standard deviation in tokens/s.
//! `--parallel P` adds `tg N xP`: P sequences decoded together for N steps (the
//! server's batched decode), counted as P·N tokens.

use std::io::Write;
use std::time::Instant;

use rocmforge_engine::{Backend, ExecutionPlan, KvCache, Logits, Model, SequenceBatch, Session};
use serde_json::json;

use crate::args::{BenchArgs, ModelArgs, ResidencyArg};
use crate::format::human_bytes;

pub fn run(args: &BenchArgs, out: &mut impl Write) -> anyhow::Result<()> {
    anyhow::ensure!(args.repetitions >= 1, "--repetitions must be at least 1");
    anyhow::ensure!(
        args.n_prompt > 0 || args.n_gen > 0,
        "nothing to measure: -p and -n are both 0"
    );
    let model_args = ModelArgs {
        model: args.model.clone(),
        ctx_size: None,
        threads: args.threads,
        device: args.device,
        residency: ResidencyArg::Eager,
    };
    let (model, _) = super::run::load(&model_args)?;
    let context = args.n_prompt.max(args.n_gen).max(1);
    let threads = rayon::current_num_threads();
    // One session for every test and repetition (emptied before each): a GPU
    // backend uploads the model once.
    let (mut session, backend) = super::session_on(&model, context, &model_args)?;
    let mut rows = Vec::new();
    if args.n_prompt > 0 {
        let speeds = measure(args.repetitions, || {
            prompt_test(&model, &mut session, args.n_prompt)
        })?;
        rows.push((format!("pp{}", args.n_prompt), args.n_prompt, speeds));
    }
    if args.n_gen > 0 {
        let speeds = measure(args.repetitions, || {
            generation_test(&model, &mut session, args.n_gen)
        })?;
        rows.push((format!("tg{}", args.n_gen), args.n_gen, speeds));
    }
    if args.n_gen > 0 && args.parallel > 1 {
        let plan = ExecutionPlan::new(&model);
        let batched = session.backend_mut();
        batched.reserve_sequences(args.parallel)?;
        let speeds = measure(args.repetitions, || {
            parallel_test(&model, batched, &plan, args.n_gen, args.parallel)
        })?;
        let test = format!("tg{} x{}", args.n_gen, args.parallel);
        rows.push((test, args.n_gen * args.parallel, speeds));
    }
    let name = model_name(&model);
    let size = model.file_size();
    let params: usize = model
        .file()
        .tensors()
        .iter()
        .map(|t| t.n_elements() as usize)
        .sum();
    if args.json {
        let tests: Vec<_> = rows
            .iter()
            .map(|(test, tokens, speeds)| {
                let (mean, sd) = mean_sd(speeds);
                json!({"test": test, "n_tokens": tokens, "tokens_per_second": mean, "stddev": sd, "samples": speeds})
            })
            .collect();
        let report = json!({"model": name, "size_bytes": size, "params": params, "backend": backend, "threads": threads, "tests": tests});
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "| model | size | params | backend | threads | test | t/s |"
    )?;
    writeln!(out, "| --- | ---: | ---: | --- | ---: | ---: | ---: |")?;
    for (test, _, speeds) in &rows {
        let (mean, sd) = mean_sd(speeds);
        writeln!(
            out,
            "| {name} | {} | {:.2} M | {backend} | {threads} | {test} | {mean:.2} ± {sd:.2} |",
            human_bytes(size as u64),
            params as f64 / 1e6
        )?;
    }
    Ok(())
}

/// One warm-up run, then `repetitions` timed runs; tokens/s of each.
fn measure(
    repetitions: usize,
    mut test: impl FnMut() -> anyhow::Result<(usize, f64)>,
) -> anyhow::Result<Vec<f64>> {
    test()?;
    (0..repetitions)
        .map(|_| test().map(|(tokens, seconds)| tokens as f64 / seconds))
        .collect()
}

fn prompt_test(model: &Model, session: &mut Session<'_>, n: usize) -> anyhow::Result<(usize, f64)> {
    let tokens = bench_tokens(model, n);
    session.clear();
    let started = Instant::now();
    session.eval(&tokens)?;
    Ok((n, started.elapsed().as_secs_f64()))
}

fn generation_test(
    model: &Model,
    session: &mut Session<'_>,
    n: usize,
) -> anyhow::Result<(usize, f64)> {
    let tokens = bench_tokens(model, n);
    session.clear();
    let started = Instant::now();
    for token in tokens {
        session.eval(&[token])?;
    }
    Ok((n, started.elapsed().as_secs_f64()))
}

/// `parallel` sequences decoded together for `n` steps, each from an empty
/// cache, each step one batched forward pass.
fn parallel_test(
    model: &Model,
    backend: &mut dyn Backend,
    plan: &ExecutionPlan,
    n: usize,
    parallel: usize,
) -> anyhow::Result<(usize, f64)> {
    let tokens = bench_tokens(model, n + parallel);
    let mut caches: Vec<KvCache> = (0..parallel)
        .map(|_| KvCache::new(&model.config, n))
        .collect();
    let mut logits = Vec::new();
    let started = Instant::now();
    for step in 0..n {
        let mut batch: Vec<SequenceBatch> = caches
            .iter_mut()
            .enumerate()
            .map(|(s, kv)| SequenceBatch {
                kv,
                tokens: std::slice::from_ref(&tokens[step + s]),
                which: Logits::Last,
            })
            .collect();
        backend.forward_batch(model, plan, &mut batch, &mut logits)?;
    }
    Ok((n * parallel, started.elapsed().as_secs_f64()))
}

/// Deterministic ordinary tokens spread over the vocabulary.
fn bench_tokens(model: &Model, n: usize) -> Vec<u32> {
    let vocab = model.tokenizer.vocab_size() as u64;
    (0..n as u64)
        .map(|i| ((i * 7919 + 1009) % vocab) as u32)
        .collect()
}

fn mean_sd(values: &[f64]) -> (f64, f64) {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64
    } else {
        0.0
    };
    (mean, var.sqrt())
}

fn model_name(model: &Model) -> String {
    let meta = model.file().metadata();
    let arch = model.config.arch.name();
    let ftype = meta.get_opt::<u32>("general.file_type").ok().flatten();
    let ftype = match ftype {
        Some(0) => "F32",
        Some(1) => "F16",
        Some(2) => "Q4_0",
        Some(7) => "Q8_0",
        Some(15) => "Q4_K - Medium",
        Some(17) => "Q5_K - Medium",
        Some(32) => "BF16",
        _ => "",
    };
    format!("{arch} {ftype}").trim().to_owned()
}
