//! Encoding throughput on 1 MiB of mixed text (English prose, Rust code and the
//! multilingual reference corpus), for the Gemma 3 SentencePiece vocabulary and
//! the llama3 and qwen2 byte-level BPE vocabularies of the model cache.
//!
//!     cargo bench -p rocmforge-tokenizer --bench encode
//!
//! The same text for llama.cpp's `llama-tokenize` comes from `bench_text.py`.

use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rocmforge_gguf::GgufFile;
use rocmforge_tokenizer::Tokenizer;

const TEXT_BYTES: usize = 1 << 20;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The text of `bench_text.py`, cut to `TEXT_BYTES`.
fn bench_text() -> String {
    let root = root();
    let mut files: Vec<PathBuf> = Vec::new();
    let mut glob = |dir: &Path, ext: &str, recurse: bool| {
        let mut found = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() && recurse {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == ext) {
                    found.push(path);
                }
            }
        }
        found.sort();
        files.extend(found);
    };
    glob(&root.join("docs"), "md", false);
    let mut readmes: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("README.md"))
        .filter(|p| p.exists())
        .collect();
    readmes.sort();
    let mut parts: Vec<String> = Vec::new();
    for f in &files {
        parts.push(std::fs::read_to_string(f).unwrap());
    }
    for f in readmes.iter().chain([&root.join("README.md")]) {
        parts.push(std::fs::read_to_string(f).unwrap());
    }
    let mut sources = Vec::new();
    let mut stack = vec![root.join("crates/gguf/src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && !path.to_string_lossy().contains("tables")
            {
                sources.push(path);
            }
        }
    }
    sources.sort();
    for f in &sources {
        parts.push(std::fs::read_to_string(f).unwrap());
    }
    let corpus: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            root.join("crates/tokenizer/tests/fixtures/gemma3-270m.refs.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut seen: Vec<&str> = Vec::new();
    for case in corpus["cases"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        if !seen.contains(&text) {
            seen.push(text);
        }
    }
    parts.push(seen.join("\n"));
    let unit = parts.join("\n");
    let mut text = String::with_capacity(TEXT_BYTES + unit.len());
    while text.len() < TEXT_BYTES {
        text.push_str(&unit);
    }
    let mut cut = TEXT_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text
}

fn tokenizer(relative: &str) -> Option<Tokenizer> {
    let models = std::env::var_os("ROCMFORGE_MODELS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/rocmforge/models"))
        })?;
    let path = models.join(relative);
    if !path.exists() {
        eprintln!("skipping {relative}: not in the model cache (cargo xtask fetch-models)");
        return None;
    }
    let file = GgufFile::open(&path).unwrap();
    Some(Tokenizer::from_gguf(&file).unwrap())
}

fn encode(c: &mut Criterion) {
    let text = bench_text();
    let mut group = c.benchmark_group("encode_1MiB");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(text.len() as u64));
    for (name, file) in [
        ("gemma3-270m", "gemma-3-270m-q4_k_m.gguf"),
        ("llama-bpe", "llama.cpp-vocab/ggml-vocab-llama-bpe.gguf"),
        ("qwen2", "llama.cpp-vocab/ggml-vocab-qwen2.gguf"),
    ] {
        let Some(tokenizer) = tokenizer(file) else {
            continue;
        };
        group.bench_function(name, |b| b.iter(|| tokenizer.encode(&text, true, true)));
    }
    group.finish();
}

fn load(c: &mut Criterion) {
    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    for (name, file) in [
        ("gemma3-270m", "gemma-3-270m-q4_k_m.gguf"),
        ("llama-bpe", "llama.cpp-vocab/ggml-vocab-llama-bpe.gguf"),
    ] {
        if tokenizer(file).is_none() {
            continue;
        }
        group.bench_function(name, |b| b.iter(|| tokenizer(file).unwrap()));
    }
    group.finish();
}

criterion_group!(benches, encode, load);
criterion_main!(benches);
