//! Prompts longer than a micro-batch (512 tokens) run in passes of 512, as
//! llama.cpp splits them: the logits equal those of evaluating the same passes
//! one call at a time, for every token or the last one only.

mod common;

use rocmforge_engine::cpu::CpuBackend;
use rocmforge_engine::{Backend, ExecutionPlan, KvCache, Logits};
use xtask::gen_model::{Arch, FileType};

#[test]
fn long_prompts_run_in_passes_of_512() {
    let model = common::tiny_model(Arch::Llama, FileType::Q4KM, 21);
    let plan = ExecutionPlan::new(&model);
    let vocab = model.config.n_vocab;
    let tokens: Vec<u32> = (0..1100u32).map(|i| (i * 7 + 3) % vocab as u32).collect();

    let mut backend = CpuBackend::new();
    for first in [0, 700, 1099] {
        // By hand: pass by pass, asking each pass for the rows wanted from it
        // (a pass with none asks for its last row, which is then dropped).
        let mut by_hand = Vec::new();
        let mut kv = KvCache::new(&model.config, 1200);
        let mut pass = Vec::new();
        for (i, chunk) in tokens.chunks(512).enumerate() {
            let (start, end) = (i * 512, i * 512 + chunk.len());
            let from = first.clamp(start, end) - start;
            let which = if from < chunk.len() {
                Logits::From(from)
            } else {
                Logits::Last
            };
            backend
                .forward(&model, &plan, &mut kv, chunk, which, &mut pass)
                .unwrap();
            if from < chunk.len() {
                by_hand.extend_from_slice(&pass);
            }
        }
        let which = match first {
            0 => Logits::All,
            1099 => Logits::Last,
            n => Logits::From(n),
        };
        let mut kv = KvCache::new(&model.config, 1200);
        let mut logits = Vec::new();
        backend
            .forward(&model, &plan, &mut kv, &tokens, which, &mut logits)
            .unwrap();
        assert_eq!(kv.len(), tokens.len());
        assert_eq!(logits.len(), (tokens.len() - first) * vocab, "{which:?}");
        assert!(
            logits
                .iter()
                .zip(&by_hand)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{which:?}: logits differ from pass-by-pass evaluation"
        );
    }
}
