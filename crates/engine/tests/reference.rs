//! The CPU backend against the plain f64 reference forward, on tiny random
//! models of every architecture written by `cargo xtask gen-model`: all prompt
//! positions in one batch, and the same positions fed one at a time through the
//! KV cache. The reference runs on the dequantized weights, so quantized files
//! are compared on the same weights; what remains is the backend's own rounding
//! (f16 KV cache, f16 GELU table, activations quantized to 8 bits for quantized
//! weights, f16 for f16 weights).

use std::path::PathBuf;

use rocmforge_engine::cpu::{AttentionPrecision, CpuBackend};
use rocmforge_engine::{Backend, ExecutionPlan, KvCache, Logits, Model, reference};
use xtask::gen_model::{self, Arch, FileType, Shape};

fn tiny_model(arch: Arch, file_type: FileType) -> PathBuf {
    let out = std::env::temp_dir().join(format!(
        "rocmforge-engine-{}-{arch:?}-{file_type:?}.gguf",
        std::process::id()
    ));
    gen_model::run(&gen_model::Args {
        arch,
        shape: Shape::Tiny,
        file_type,
        out: out.clone(),
        seed: 7,
    })
    .unwrap();
    out
}

/// ‖got − reference‖₂ / ‖reference‖₂ over one position's logits.
fn relative_error(got: &[f32], reference: &[f64]) -> f64 {
    let diff: f64 = got
        .iter()
        .zip(reference)
        .map(|(a, b)| (f64::from(*a) - b).powi(2))
        .sum();
    let norm: f64 = reference.iter().map(|b| b * b).sum();
    (diff / norm).sqrt()
}

fn check(arch: Arch, file_type: FileType, tolerance: f64) {
    let path = tiny_model(arch, file_type);
    let model = Model::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let plan = ExecutionPlan::new(&model);
    let n_vocab = model.config.n_vocab;
    let tokens: Vec<u32> = (0..12).map(|i| (i * 37 + 5) % n_vocab as u32).collect();
    let expected = reference::forward(&model, &tokens);

    // f32 attention: the llama.cpp-like f16 path is checked against llama.cpp itself.
    let mut backend = CpuBackend::with_precision(AttentionPrecision::F32);
    let mut logits = Vec::new();
    let mut kv = KvCache::new(&model.config, 64);
    backend
        .forward(&model, &plan, &mut kv, &tokens, Logits::All, &mut logits)
        .unwrap();
    for (pos, reference) in expected.iter().enumerate() {
        let err = relative_error(&logits[pos * n_vocab..(pos + 1) * n_vocab], reference);
        assert!(
            err <= tolerance,
            "{arch:?} {file_type:?} batch position {pos}: relative error {err:.2e}"
        );
    }

    let batch_error = (0..tokens.len())
        .map(|pos| relative_error(&logits[pos * n_vocab..(pos + 1) * n_vocab], &expected[pos]))
        .fold(0.0, f64::max);
    eprintln!(
        "{arch:?} {file_type:?}: largest relative logit error {batch_error:.2e} (tolerance {tolerance:.0e})"
    );

    let mut kv = KvCache::new(&model.config, 64);
    backend
        .forward(
            &model,
            &plan,
            &mut kv,
            &tokens[..5],
            Logits::Last,
            &mut logits,
        )
        .unwrap();
    let err = relative_error(&logits, &expected[4]);
    assert!(
        err <= tolerance,
        "{arch:?} {file_type:?} prefill: relative error {err:.2e}"
    );
    for pos in 5..tokens.len() {
        backend
            .forward(
                &model,
                &plan,
                &mut kv,
                &tokens[pos..=pos],
                Logits::Last,
                &mut logits,
            )
            .unwrap();
        let err = relative_error(&logits, &expected[pos]);
        assert!(
            err <= tolerance,
            "{arch:?} {file_type:?} step at {pos}: relative error {err:.2e}"
        );
    }
}

/// F16 weights: activations rounded to f16 for the products (as ggml), f16 KV.
const F16_TOLERANCE: f64 = 1e-3;
/// Quantized weights: activations quantized to 8-bit blocks (as ggml's
/// vec_dot); on random-weight models that error is about 1-2% of the logits.
const QUANTIZED_TOLERANCE: f64 = 3e-2;

#[test]
fn llama_matches_reference() {
    check(Arch::Llama, FileType::F16, F16_TOLERANCE);
    check(Arch::Llama, FileType::Q8_0, QUANTIZED_TOLERANCE);
    check(Arch::Llama, FileType::Q4KM, QUANTIZED_TOLERANCE);
}

#[test]
fn qwen2_matches_reference() {
    check(Arch::Qwen2, FileType::F16, F16_TOLERANCE);
    check(Arch::Qwen2, FileType::Q4_0, QUANTIZED_TOLERANCE);
}

#[test]
fn qwen3_matches_reference() {
    check(Arch::Qwen3, FileType::F16, F16_TOLERANCE);
    check(Arch::Qwen3, FileType::Q4KM, QUANTIZED_TOLERANCE);
}

#[test]
fn gemma3_matches_reference() {
    check(Arch::Gemma3, FileType::F16, F16_TOLERANCE);
    check(Arch::Gemma3, FileType::Q8_0, QUANTIZED_TOLERANCE);
    check(Arch::Gemma3, FileType::Q4KM, QUANTIZED_TOLERANCE);
}
