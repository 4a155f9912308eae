//! `rocmforge chat -m FILE [--system TEXT]`: an interactive conversation through
//! the model's chat template (ChatML when it has none). Each answer streams as it
//! comes; Ctrl-C stops the current answer, Ctrl-C at the prompt or Ctrl-D quits.
//! The KV cache keeps the conversation: each turn evaluates only what is new.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rocmforge_engine::chat::{ChatFormat, Message};
use rocmforge_engine::sampling::Sampler;
use rocmforge_engine::{GenerateOptions, StopReason};

use crate::args::ChatArgs;

pub fn run(args: &ChatArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let (model, _) = super::run::load(&args.model)?;
    let context = super::run::context_size(&args.model, &model)?;
    let format = ChatFormat::of(&model)?;
    if !format.from_model() {
        eprintln!("the model has no chat template; using ChatML");
    }
    let tokenizer = &model.tokenizer;
    let mut sampler = Sampler::new(super::run::sampler_config(&args.sampling))?;

    let generating = Arc::new(AtomicBool::new(false));
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let (generating, cancel) = (generating.clone(), cancel.clone());
        ctrlc::set_handler(move || {
            if generating.load(Ordering::Relaxed) {
                cancel.store(true, Ordering::Relaxed);
            } else {
                std::process::exit(130);
            }
        })?;
    }

    let mut messages: Vec<Message> = args.system.iter().map(Message::system).collect();
    let mut session = super::session(&model, context, &args.model)?;
    let mut evaluated: Vec<u32> = Vec::new();
    let stdin = std::io::stdin();
    let mut line = String::new();
    loop {
        eprint!("> ");
        line.clear();
        if stdin.lock().read_line(&mut line)? == 0 {
            break;
        }
        let input = line.trim_end_matches(['\n', '\r']);
        if input.is_empty() {
            continue;
        }
        messages.push(Message::user(input));
        let tokens = format.tokens(tokenizer, &messages)?;
        // Reuse what the cache already holds of this conversation.
        let common = evaluated
            .iter()
            .zip(&tokens)
            .take_while(|(a, b)| a == b)
            .count()
            .min(tokens.len() - 1);
        session.truncate(common);
        evaluated.truncate(common);
        if tokens.len() >= context {
            anyhow::bail!(
                "the conversation has {} tokens, more than the context of {context} (use -c)",
                tokens.len()
            );
        }
        let options = GenerateOptions {
            max_tokens: usize::try_from(args.n_predict).ok(),
            cancel: Some(cancel.clone()),
            ..GenerateOptions::default()
        };
        cancel.store(false, Ordering::Relaxed);
        generating.store(true, Ordering::Relaxed);
        sampler.reset();
        for &t in &tokens {
            sampler.accept(t);
        }
        let mut answer = String::new();
        let mut generated = Vec::new();
        let stats = session.generate(
            &tokens[common..],
            &options,
            |logits| {
                let token = sampler.sample(logits);
                sampler.accept(token);
                generated.push(token);
                token
            },
            |text| {
                answer.push_str(text);
                let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
            },
        );
        generating.store(false, Ordering::Relaxed);
        let stats = stats?;
        writeln!(out)?;
        if stats.stop == StopReason::Cancelled {
            eprintln!("(stopped)");
        }
        evaluated.extend_from_slice(&tokens[common..]);
        evaluated.extend(generated);
        evaluated.truncate(session.len());
        messages.push(Message::assistant(answer.trim()));
    }
    Ok(())
}
