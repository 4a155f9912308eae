//! llama.cpp's own tokenizer test vectors: the `ggml-vocab-*.gguf` vocabulary
//! files with `.gguf.inp`/`.gguf.out` pairs that llama.cpp's `test-tokenizer-0`
//! checks (text in, ids out, no BOS/EOS, special tokens not parsed). They come
//! from the llama.cpp that the llama-cpp-python source distribution vendors,
//! fetched by `cargo xtask fetch-models` into `llama.cpp-vocab/`.

mod common;

use std::path::Path;

use rocmforge_gguf::GgufFile;
use rocmforge_tokenizer::{Error, Tokenizer};

const SEPARATOR: &str = "\n__ggml_vocab_test__\n";

/// Reads the test pairs of a vocabulary, as `test-tokenizer-0` does.
fn read_vectors(vocab: &Path) -> Option<Vec<(String, Vec<u32>)>> {
    let inp = std::fs::read_to_string(format!("{}.inp", vocab.display())).ok()?;
    let out = std::fs::read_to_string(format!("{}.out", vocab.display())).ok()?;
    let mut texts = Vec::new();
    let mut rest = inp.as_str();
    while !rest.is_empty() {
        match rest.find(SEPARATOR) {
            Some(at) => {
                texts.push(rest[..at].to_owned());
                rest = &rest[at + SEPARATOR.len()..];
            }
            None => {
                texts.push(rest.to_owned());
                break;
            }
        }
    }
    let ids: Vec<Vec<u32>> = out
        .lines()
        .map(|line| {
            line.split_whitespace()
                .map(|id| id.parse().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(
        texts.len(),
        ids.len(),
        "{}: input and output counts differ",
        vocab.display()
    );
    Some(texts.into_iter().zip(ids).collect())
}

#[test]
fn every_vector_of_every_supported_vocab() {
    let Some(dir) = common::cached("llama.cpp-vocab", "every_vector_of_every_supported_vocab")
    else {
        return;
    };
    let mut vocabs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "gguf"))
        .collect();
    vocabs.sort();
    assert!(
        vocabs.len() >= 15,
        "expected llama.cpp's vocab files in {}",
        dir.display()
    );

    let mut passed = Vec::new();
    let mut unsupported = Vec::new();
    let mut without_vectors = Vec::new();
    let mut failures = Vec::new();
    let mut total_cases = 0;
    for path in &vocabs {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let file = GgufFile::open(path).unwrap();
        let tokenizer = match Tokenizer::from_gguf(&file) {
            Ok(t) => t,
            Err(e @ (Error::UnsupportedModel { .. } | Error::UnsupportedPreTokenizer(_))) => {
                unsupported.push(format!("{name}: {e}"));
                continue;
            }
            Err(e) => panic!("{name}: {e}"),
        };
        let Some(vectors) = read_vectors(path) else {
            without_vectors.push(name);
            continue;
        };
        let mut failed = 0;
        for (text, expected) in &vectors {
            let ids = tokenizer.encode(text, false, false);
            if &ids != expected {
                failed += 1;
                if failures.len() < 20 {
                    failures.push(format!(
                        "{name}: {text:?}\n  expected {expected:?}\n  got      {ids:?}"
                    ));
                }
            }
        }
        total_cases += vectors.len();
        if failed == 0 {
            passed.push(format!("{name} ({} cases)", vectors.len()));
        } else {
            failures.push(format!(
                "{name}: {failed} of {} cases differ",
                vectors.len()
            ));
        }
    }
    eprintln!(
        "llama.cpp vocab vectors: {} vocabularies, {total_cases} cases",
        passed.len()
    );
    for p in &passed {
        eprintln!("  pass        {p}");
    }
    for u in &unsupported {
        eprintln!("  unsupported {u}");
    }
    for w in &without_vectors {
        eprintln!("  no vectors  {w}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        passed.len() >= 12,
        "too few vocabularies passed: {passed:?}"
    );
}
