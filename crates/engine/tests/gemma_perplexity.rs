//! Perplexity of Gemma 3 270M Q4_K_M on `fixtures/perplexity.txt` within 1% of
//! llama.cpp's `llama-perplexity` on the same text and settings (the command is
//! in `fixtures/gemma3-270m.perplexity.json`). Four windows of 256 tokens keep
//! the test short; the reference has the running estimate after each window.

mod common;

use rocmforge_engine::Model;
use rocmforge_engine::perplexity::perplexity;
use serde_json::Value;

const WINDOWS: usize = 4;

#[test]
fn perplexity_within_one_percent_of_llama_cpp() {
    let Some(path) = common::cached(common::GEMMA, "perplexity_within_one_percent_of_llama_cpp")
    else {
        return;
    };
    let root = env!("CARGO_MANIFEST_DIR");
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/tests/fixtures/gemma3-270m.perplexity.json"))
            .unwrap(),
    )
    .unwrap();
    let mut text =
        std::fs::read_to_string(format!("{root}/tests/fixtures/perplexity.txt")).unwrap();
    if text.ends_with('\n') {
        text.pop();
    }
    let model = Model::open(&path).unwrap();
    let ctx = reference["ctx"].as_u64().unwrap() as usize;
    let tokens = model.tokenizer.encode(&text, true, false);
    let result = perplexity(
        &model,
        &tokens[..WINDOWS * ctx],
        ctx,
        reference["batch"].as_u64().unwrap() as usize,
        |_, _| {},
    )
    .unwrap();
    let expected = reference["running"][WINDOWS - 1].as_f64().unwrap();
    let difference = (result.ppl / expected - 1.0).abs();
    eprintln!(
        "perplexity over {WINDOWS} windows: {:.4} (llama.cpp {expected:.4}, {:.2}% apart)",
        result.ppl,
        difference * 100.0
    );
    // With the kernels that sum in llama.cpp's order (x86 with AVX2, FMA and
    // F16C) the logits are bit-identical, so only rounding in the last printed
    // digit remains.
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
    {
        assert!(
            difference < 1e-5,
            "perplexity {:.4} differs from llama.cpp's {expected:.4}",
            result.ppl
        );
    }
    assert!(
        difference < 0.01,
        "perplexity {:.4} is more than 1% from llama.cpp's {expected:.4}",
        result.ppl
    );
}
