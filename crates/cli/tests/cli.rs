//! End-to-end tests of the `rocmforge` binary.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::cached_gemma;
use rocmforge_gguf::{GgmlType, GgufBuilder};

fn rocmforge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rocmforge"))
        .args(args)
        .output()
        .unwrap()
}

fn temp_model(name: &str) -> PathBuf {
    let mut b = GgufBuilder::new();
    b.add_metadata("general.architecture", "llama").unwrap();
    b.add_metadata("llama.block_count", 2u32).unwrap();
    let tokens: Vec<String> = (0..100).map(|i| format!("tok{i}")).collect();
    b.add_metadata("tokenizer.ggml.tokens", rocmforge_gguf::Value::from(tokens))
        .unwrap();
    b.add_tensor("token_embd.weight", &[64, 4], GgmlType::Q8_0)
        .unwrap();
    b.add_tensor("output_norm.weight", &[64], GgmlType::F32)
        .unwrap();
    let path =
        std::env::temp_dir().join(format!("rocmforge-cli-{}-{name}.gguf", std::process::id()));
    std::fs::write(&path, b.to_bytes(&[&[0; 8 * 34], &[0; 256]]).unwrap()).unwrap();
    path
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn inspect_prints_header_metadata_tensors_and_totals() {
    let path = temp_model("text");
    let out = rocmforge(&["inspect", path.to_str().unwrap()]);
    std::fs::remove_file(&path).unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for expected in [
        "GGUF version:  3",
        "architecture:  llama",
        "metadata (3 entries):",
        "llama.block_count",
        "… 92 more] (100 items)",
        "tensors (2):",
        "token_embd.weight",
        "Q8_0",
        "[64, 4]",
        "totals by type:",
        "total          2",
    ] {
        assert!(
            stdout.contains(expected),
            "missing `{expected}` in:\n{stdout}"
        );
    }
}

#[test]
fn inspect_json_has_the_same_content() {
    let path = temp_model("json");
    let out = rocmforge(&["inspect", "--json", path.to_str().unwrap()]);
    std::fs::remove_file(&path).unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["version"], 3);
    assert_eq!(json["architecture"], "llama");
    assert_eq!(json["metadata"].as_array().unwrap().len(), 3);
    let tokens = &json["metadata"][2]["value"];
    assert_eq!(tokens["len"], 100);
    assert_eq!(tokens["truncated"], true);
    assert_eq!(tokens["items"].as_array().unwrap().len(), 8);
    assert_eq!(json["tensors"][0]["name"], "token_embd.weight");
    assert_eq!(json["tensors"][0]["type"], "Q8_0");
    assert_eq!(json["tensors"][0]["shape"], serde_json::json!([64, 4]));
    assert_eq!(json["total"]["tensors"], 2);
}

#[test]
fn inspect_of_a_bad_file_fails_with_one_line() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../gguf/tests/malformed");
    for (file, fragment) in [
        ("tensors_overlap.gguf", "tensors `a` and `b` overlap"),
        ("bad_magic.gguf", "not a GGUF file"),
        ("empty.gguf", "not a GGUF file"),
    ] {
        let out = rocmforge(&["inspect", corpus.join(file).to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{file}");
        let stderr = text(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(fragment),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let out = rocmforge(&["inspect", "/definitely/not/here.gguf"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        "error: cannot read /definitely/not/here.gguf: No such file or directory (os error 2)"
    );
}

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    assert_eq!(rocmforge(&["inspect"]).status.code(), Some(1));
    assert_eq!(rocmforge(&["frobnicate"]).status.code(), Some(1));
    let help = rocmforge(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(text(&help.stdout).contains("inspect"));
}

/// The real model from `cargo xtask fetch-models`.
#[test]
fn inspect_gemma_3_270m() {
    let Some(path) = cached_gemma("inspect_gemma_3_270m") else {
        return;
    };
    let out = rocmforge(&["inspect", "--json", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["architecture"], "gemma3");
    assert_eq!(json["tensors"].as_array().unwrap().len(), 236);
    assert_eq!(json["total"]["tensors"], 236);
}

/// A vocabulary-only GGUF file with the given tokenizer metadata.
fn temp_vocab(name: &str, model: &str, tokens: &[&str], merges: Option<&[&str]>) -> PathBuf {
    let mut b = GgufBuilder::new();
    b.add_metadata("general.architecture", "llama").unwrap();
    b.add_metadata("tokenizer.ggml.model", model).unwrap();
    let tokens: Vec<String> = tokens.iter().map(|t| t.to_string()).collect();
    let scores: Vec<f32> = (0..tokens.len()).map(|i| -(i as f32)).collect();
    b.add_metadata("tokenizer.ggml.tokens", rocmforge_gguf::Value::from(tokens))
        .unwrap();
    b.add_metadata("tokenizer.ggml.scores", rocmforge_gguf::Value::from(scores))
        .unwrap();
    if let Some(merges) = merges {
        let merges: Vec<String> = merges.iter().map(|m| m.to_string()).collect();
        b.add_metadata("tokenizer.ggml.merges", rocmforge_gguf::Value::from(merges))
            .unwrap();
    }
    let path =
        std::env::temp_dir().join(format!("rocmforge-cli-{}-{name}.gguf", std::process::id()));
    std::fs::write(&path, b.to_bytes(&[]).unwrap()).unwrap();
    path
}

const SPM_TOKENS: &[&str] = &["<unk>", "<s>", "</s>", "▁", "a", "b", "▁a", "ab", "▁ab"];

#[test]
fn tokenize_prints_ids_and_pieces() {
    let path = temp_vocab("spm", "llama", SPM_TOKENS, None);
    let model = path.to_str().unwrap();
    let ids = rocmforge(&["tokenize", "-m", model, "-p", "ab a"]);
    let no_bos = rocmforge(&["tokenize", "-m", model, "-p", "ab a", "--no-bos"]);
    let show = rocmforge(&[
        "tokenize",
        "-m",
        model,
        "-p",
        "ab",
        "--show",
        "--show-count",
    ]);
    std::fs::remove_file(&path).unwrap();
    assert!(ids.status.success(), "{}", text(&ids.stderr));
    assert_eq!(text(&ids.stdout), "[1, 8, 6]\n");
    assert_eq!(text(&no_bos.stdout), "[8, 6]\n");
    assert_eq!(
        text(&show.stdout),
        "     1 -> '<s>'\n     8 -> ' ab'\nTotal number of tokens: 2\n"
    );
}

#[test]
fn tokenize_rejects_bad_vocabularies_with_exit_1() {
    let not_gguf =
        std::env::temp_dir().join(format!("rocmforge-cli-{}-not.gguf", std::process::id()));
    std::fs::write(&not_gguf, b"plain text, not a model").unwrap();
    let bert = temp_vocab("bert", "bert", SPM_TOKENS, None);
    let no_merges = temp_vocab("nomerges", "gpt2", &["a", "b"], None);
    let bad_merge = temp_vocab("badmerge", "gpt2", &["a", "b", "ab"], Some(&["a c"]));
    let mut cases = vec![
        (not_gguf, "not a GGUF file"),
        (bert, "tokenizer model `bert` is not supported"),
        (no_merges, "tokenizer.ggml.merges"),
        (bad_merge, "merge #0 `a c` names `c`"),
    ];
    // A file without any tokenizer metadata.
    let no_vocab = temp_model("novocab");
    cases.push((no_vocab, "tokenizer.ggml.model"));
    for (path, message) in cases {
        let out = rocmforge(&["tokenize", "-m", path.to_str().unwrap(), "-p", "ab"]);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", path.display());
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(message),
            "expected `{message}` in: {stderr}"
        );
    }
}

/// The real model: the ids llama-tokenize prints for it.
#[test]
fn tokenize_gemma_3_270m() {
    let Some(path) = cached_gemma("tokenize_gemma_3_270m") else {
        return;
    };
    let model = path.to_str().unwrap();
    let out = rocmforge(&["tokenize", "-m", model, "-p", "Hello world"]);
    assert_eq!(text(&out.stdout), "[2, 9259, 1902]\n");
    let out = rocmforge(&["tokenize", "-m", model, "-p", "<start_of_turn>user\\nHi"]);
    assert_eq!(text(&out.stdout), "[2, 105, 2364, 107, 10979]\n");
    let out = rocmforge(&[
        "tokenize",
        "-m",
        model,
        "-p",
        "<start_of_turn>",
        "--no-parse-special",
    ]);
    assert_ne!(text(&out.stdout), "[2, 105]\n");
}

#[test]
fn run_bench_and_perplexity_reject_bad_input_with_exit_1() {
    let missing = "/nonexistent/model.gguf";
    for args in [
        vec!["run", "-m", missing, "-p", "hi"],
        vec!["bench", "-m", missing],
        vec!["perplexity", "-m", missing, "-f", "/nonexistent.txt"],
        vec!["run", "-m", missing, "-p", "hi", "--top-p", "abc"],
    ] {
        let out = rocmforge(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(stderr.lines().count() <= 3, "{stderr}");
    }
    // A file that is GGUF but not a model of a supported architecture.
    let vocab = temp_vocab("notmodel", "llama", SPM_TOKENS, None);
    let out = rocmforge(&["run", "-m", vocab.to_str().unwrap(), "-p", "hi"]);
    std::fs::remove_file(&vocab).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("architecture `llama`") || text(&out.stderr).contains("missing"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn run_gemma_3_270m_greedy() {
    let Some(path) = cached_gemma("run_gemma_3_270m_greedy") else {
        return;
    };
    let model = path.to_str().unwrap();
    let out = rocmforge(&[
        "run",
        "-m",
        model,
        "-p",
        "The capital of France is",
        "-n",
        "8",
        "--temp",
        "0",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // llama.cpp's greedy continuation starts " the capital of the country".
    assert!(
        text(&out.stdout).starts_with(" the capital of the"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stderr).contains("tokens/s"));
    let out = rocmforge(&[
        "run",
        "-m",
        model,
        "-p",
        "word word word word word",
        "-c",
        "4",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("context"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn chat_answers_each_line_until_end_of_input() {
    let Some(path) = cached_gemma("chat_answers_each_line_until_end_of_input") else {
        return;
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_rocmforge"))
        .args([
            "chat",
            "-m",
            path.to_str().unwrap(),
            "-n",
            "8",
            "--temp",
            "0",
            "--system",
            "Be brief.",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"Hello!\nWhat is two plus two?\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // One answer line per question, each followed by the next prompt.
    assert_eq!(
        text(&out.stderr).matches("> ").count(),
        3,
        "{}",
        text(&out.stderr)
    );
    assert!(!text(&out.stdout).trim().is_empty());
}

#[test]
fn devices_without_a_runtime_explains_and_succeeds() {
    let output = Command::new(env!("CARGO_BIN_EXE_rocmforge"))
        .arg("devices")
        .env("ROCMFORGE_HIP_LIB", "/nonexistent/libamdhip64.so")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(stdout.contains("No usable GPU"), "{stdout}");
    assert!(stdout.contains("/nonexistent/libamdhip64.so"), "{stdout}");
    assert!(stdout.contains("CPU backend"), "{stdout}");

    let json = Command::new(env!("CARGO_BIN_EXE_rocmforge"))
        .args(["devices", "--json"])
        .env("ROCMFORGE_HIP_LIB", "/nonexistent/libcuda.so.1")
        .output()
        .unwrap();
    assert!(json.status.success());
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["devices"], serde_json::json!([]));
    assert!(value["reason"].as_str().unwrap().contains("libcuda.so.1"));
}

#[test]
fn devices_lists_or_explains() {
    // Whatever this machine has: a table of GPUs, or the reason there is none.
    let output = rocmforge(&["devices"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout.starts_with("GPU runtime:")
            || stdout.starts_with("No usable GPU")
            || stdout.starts_with("No GPU found"),
        "{stdout}"
    );
    eprintln!("{}", stdout.trim());
}
