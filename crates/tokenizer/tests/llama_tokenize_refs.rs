//! Ids identical to llama.cpp's `llama-tokenize` on a varied corpus (scripts,
//! emoji, digits, whitespace runs, code, special-token text), for the real
//! Gemma 3 270M model and two `gpt2` vocabularies. The references were made by
//! the command in each fixture's header; see `fixtures/gen/llama_tokenize_refs.py`.

mod common;

use serde_json::Value;

fn check(fixture: &str, model: &str, test: &str) {
    let path = format!("{}/tests/fixtures/{fixture}", env!("CARGO_MANIFEST_DIR"));
    let refs: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let Some(model_path) = common::cached(model, test) else {
        return;
    };
    let tokenizer = common::tokenizer(&model_path);
    let cases = refs["cases"].as_array().unwrap();
    assert!(cases.len() >= 100, "{fixture}: too few cases");
    let mut failures = Vec::new();
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let add_special = case["add_special"].as_bool().unwrap();
        let parse_special = case["parse_special"].as_bool().unwrap();
        let expected: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| id.as_u64().unwrap() as u32)
            .collect();
        let ids = tokenizer.encode(text, add_special, parse_special);
        if ids != expected {
            failures.push(format!(
                "{text:?} ({}):\n  expected {expected:?}\n  got      {ids:?}",
                case["variant"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{fixture}: {} of {} cases differ from llama-tokenize:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn gemma3_270m_matches_llama_tokenize() {
    check(
        "gemma3-270m.refs.json",
        "gemma-3-270m-q4_k_m.gguf",
        "gemma3_270m_matches_llama_tokenize",
    );
}

#[test]
fn llama_bpe_vocab_matches_llama_tokenize() {
    check(
        "vocab-llama-bpe.refs.json",
        "llama.cpp-vocab/ggml-vocab-llama-bpe.gguf",
        "llama_bpe_vocab_matches_llama_tokenize",
    );
}

#[test]
fn qwen2_vocab_matches_llama_tokenize() {
    check(
        "vocab-qwen2.refs.json",
        "llama.cpp-vocab/ggml-vocab-qwen2.gguf",
        "qwen2_vocab_matches_llama_tokenize",
    );
}
