//! Sequences decoded together in one batch (a server's continuous batching) get
//! exactly the logits they get decoded alone, whatever else is in the batch,
//! while sequences join and leave it.

mod common;

use rocmforge_engine::cpu::CpuBackend;
use rocmforge_engine::{Backend, ExecutionPlan, KvCache, Logits, Model, SequenceBatch};
use xtask::gen_model::{Arch, FileType};

fn argmax(logits: &[f32]) -> u32 {
    (0..logits.len())
        .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
        .unwrap() as u32
}

/// The logits after `prompt` and after each of `steps` greedy tokens, alone.
fn alone(model: &Model, plan: &ExecutionPlan, prompt: &[u32], steps: usize) -> Vec<Vec<f32>> {
    let mut backend = CpuBackend::new();
    let mut kv = KvCache::new(&model.config, 64);
    let mut logits = Vec::new();
    backend
        .forward(model, plan, &mut kv, prompt, Logits::Last, &mut logits)
        .unwrap();
    let mut all = vec![logits.clone()];
    for _ in 0..steps {
        let next = argmax(&logits);
        backend
            .forward(model, plan, &mut kv, &[next], Logits::Last, &mut logits)
            .unwrap();
        all.push(logits.clone());
    }
    all
}

struct Running {
    id: usize,
    kv: KvCache,
    logits: Vec<Vec<f32>>,
}

#[test]
fn batched_sequences_decode_as_they_do_alone() {
    for (arch, file_type) in [
        (Arch::Llama, FileType::Q4_0),
        (Arch::Llama, FileType::Q4KM),
        (Arch::Qwen2, FileType::Q8_0),
        (Arch::Qwen3, FileType::Q4KM),
        (Arch::Gemma3, FileType::Q4KM),
    ] {
        let model = common::tiny_model(arch, file_type, 11);
        let plan = ExecutionPlan::new(&model);
        let vocab = model.config.n_vocab as u32;
        let steps = 10;
        let prompts: Vec<Vec<u32>> = (0..9)
            .map(|s| {
                (0..3 + 2 * s)
                    .map(|i| (i * 17 + s * 5 + 1) % vocab)
                    .collect()
            })
            .collect();
        let want: Vec<_> = prompts
            .iter()
            .map(|p| alone(&model, &plan, p, steps))
            .collect();

        // One backend runs everything: two sequences join at each step (each
        // prompt evaluated alone, as the scheduler does), then decode in the
        // batch (up to nine together) until they have their `steps` tokens.
        let mut backend = CpuBackend::new();
        let mut running: Vec<Running> = Vec::new();
        let mut done: Vec<Option<Vec<Vec<f32>>>> = vec![None; prompts.len()];
        let mut joined = 0;
        let mut logits = Vec::new();
        for step in 0.. {
            while joined < prompts.len() && joined <= 2 * step + 1 {
                let mut kv = KvCache::new(&model.config, 64);
                backend
                    .forward(
                        &model,
                        &plan,
                        &mut kv,
                        &prompts[joined],
                        Logits::Last,
                        &mut logits,
                    )
                    .unwrap();
                running.push(Running {
                    id: joined,
                    kv,
                    logits: vec![logits.clone()],
                });
                joined += 1;
            }
            if running.is_empty() {
                break;
            }
            let next: Vec<u32> = running
                .iter()
                .map(|r| argmax(r.logits.last().unwrap()))
                .collect();
            let mut batch: Vec<SequenceBatch> = running
                .iter_mut()
                .zip(&next)
                .map(|(r, t)| SequenceBatch {
                    kv: &mut r.kv,
                    tokens: std::slice::from_ref(t),
                    which: Logits::Last,
                })
                .collect();
            backend
                .forward_batch(&model, &plan, &mut batch, &mut logits)
                .unwrap();
            let n_vocab = model.config.n_vocab;
            for (r, l) in running.iter_mut().zip(logits.chunks_exact(n_vocab)) {
                r.logits.push(l.to_vec());
            }
            running.retain_mut(|r| {
                if r.logits.len() > steps {
                    done[r.id] = Some(std::mem::take(&mut r.logits));
                    false
                } else {
                    true
                }
            });
        }
        for (s, (want, got)) in want.iter().zip(&done).enumerate() {
            let got = got.as_ref().expect("every sequence finished");
            for (i, (a, b)) in want.iter().zip(got).enumerate() {
                let same = a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
                assert!(
                    same,
                    "{arch:?} {file_type:?}: sequence {s}, step {i} differs in a batch"
                );
            }
        }
    }
}
