//! Several sessions decoding at once on different threads (as a server runs
//! them) share the CPU's thread pool: a worker waiting inside one session's
//! parallel product may run a step of another. Their logits must equal those of
//! the same sessions run one after the other.

mod common;

use std::thread;

use rocmforge_engine::{Model, Session};
use xtask::gen_model::{Arch, FileType};

/// Every position's logits of `prompt` and then `steps` greedy tokens.
fn decode(model: &Model, prompt: &[u32], steps: usize) -> Vec<Vec<f32>> {
    let mut session = Session::new(model, 64);
    session.eval(prompt).unwrap();
    let mut all = vec![session.logits().to_vec()];
    for _ in 0..steps {
        let logits = session.logits();
        let next = (0..logits.len())
            .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
            .unwrap() as u32;
        session.eval(&[next]).unwrap();
        all.push(session.logits().to_vec());
    }
    all
}

#[test]
fn concurrent_sessions_decode_as_sequential_ones() {
    // Q4_0 (regrouped rows) and Q4_K_M (regrouped Q4_K, other types as they are).
    for file_type in [FileType::Q4_0, FileType::Q4KM] {
        let model = common::tiny_model(Arch::Llama, file_type, 5);
        let vocab = model.config.n_vocab as u32;
        let prompts: Vec<Vec<u32>> = (0..6)
            .map(|s| (0..5 + s).map(|i| (i * 31 + s * 7 + 3) % vocab).collect())
            .collect();
        let sequential: Vec<_> = prompts.iter().map(|p| decode(&model, p, 12)).collect();
        let concurrent: Vec<_> = thread::scope(|scope| {
            let handles: Vec<_> = prompts
                .iter()
                .map(|p| scope.spawn(|| decode(&model, p, 12)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (s, (a, b)) in sequential.iter().zip(&concurrent).enumerate() {
            assert_eq!(a, b, "{file_type:?} session {s}: concurrent logits differ");
        }
    }
}
