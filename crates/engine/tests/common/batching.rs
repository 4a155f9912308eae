//! Sequences decoded alone and in a server-like batch, for the tests that
//! compare the two on each backend.

use rocmforge_engine::{Backend, ExecutionPlan, KvCache, Logits, Model, SequenceBatch};
use xtask::gen_model::{Arch, FileType};

/// Positions of every sequence's cache.
pub const CONTEXT: usize = 64;

pub fn argmax(logits: &[f32]) -> u32 {
    (0..logits.len())
        .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
        .unwrap() as u32
}

/// The logits after `prompt` and after each of `steps` greedy tokens, alone.
pub fn alone(
    backend: &mut dyn Backend,
    model: &Model,
    plan: &ExecutionPlan,
    prompt: &[u32],
    steps: usize,
) -> Vec<Vec<f32>> {
    let mut kv = KvCache::new(&model.config, CONTEXT);
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

pub(crate) struct Running {
    id: usize,
    kv: KvCache,
    logits: Vec<Vec<f32>>,
}

/// The architectures and weight types the tests run.
pub const CASES: [(Arch, FileType); 5] = [
    (Arch::Llama, FileType::Q4_0),
    (Arch::Llama, FileType::Q4KM),
    (Arch::Qwen2, FileType::Q8_0),
    (Arch::Qwen3, FileType::Q4KM),
    (Arch::Gemma3, FileType::Q4KM),
];

/// Nine prompts of different lengths.
pub fn prompts(model: &Model) -> Vec<Vec<u32>> {
    let vocab = model.config.n_vocab as u32;
    (0..9)
        .map(|s| {
            (0..3 + 2 * s)
                .map(|i| (i * 17 + s * 5 + 1) % vocab)
                .collect()
        })
        .collect()
}

/// Runs `prompts` on one backend as a server does: two sequences join at each
/// step (each prompt evaluated alone), then decode in the batch (up to nine
/// together) until they have `steps` tokens; the logits of each sequence.
pub fn batched(
    backend: &mut dyn Backend,
    model: &Model,
    plan: &ExecutionPlan,
    prompts: &[Vec<u32>],
    steps: usize,
) -> Vec<Vec<Vec<f32>>> {
    backend.reserve_sequences(prompts.len()).unwrap();
    let mut running: Vec<Running> = Vec::new();
    let mut done: Vec<Option<Vec<Vec<f32>>>> = vec![None; prompts.len()];
    let mut joined = 0;
    let mut logits = Vec::new();
    for step in 0.. {
        while joined < prompts.len() && joined <= 2 * step + 1 {
            let mut kv = KvCache::new(&model.config, CONTEXT);
            backend
                .forward(
                    model,
                    plan,
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
            .forward_batch(model, plan, &mut batch, &mut logits)
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
    done.into_iter()
        .map(|d| d.expect("every sequence finished"))
        .collect()
}

/// Fails unless every sequence's logits in the batch are bit for bit those
/// it got alone.
pub fn assert_same(what: &str, want: &[Vec<Vec<f32>>], got: &[Vec<Vec<f32>>]) {
    for (s, (want, got)) in want.iter().zip(got).enumerate() {
        assert_eq!(want.len(), got.len(), "{what}: sequence {s}");
        for (i, (a, b)) in want.iter().zip(got).enumerate() {
            let same = a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
            let worst = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert!(
                same,
                "{what}: sequence {s}, step {i} differs in a batch (largest difference {worst:e})"
            );
        }
    }
}
