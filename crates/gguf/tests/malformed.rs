//! Every file in `malformed/` must be rejected with a clear error, never a panic.
//! `malformed/expected.txt` pairs each file with a fragment of its error message.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rocmforge_gguf::GgufFile;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed")
}

fn expectations() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(corpus_dir().join("expected.txt")).unwrap();
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (file, fragment) = line.split_once('\t').expect("file<TAB>fragment");
            (file.to_owned(), fragment.to_owned())
        })
        .collect()
}

#[test]
fn every_malformed_file_is_listed() {
    let listed: BTreeSet<String> = expectations().into_iter().map(|(file, _)| file).collect();
    let present: BTreeSet<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".gguf"))
        .collect();
    assert_eq!(listed, present);
    assert!(
        present.len() >= 30,
        "the corpus shrank to {}",
        present.len()
    );
}

#[test]
fn malformed_files_give_the_expected_errors() {
    let mut failures = Vec::new();
    for (file, fragment) in expectations() {
        let path = corpus_dir().join(&file);
        let bytes = std::fs::read(&path).unwrap();
        // Both the in-memory and the memory-mapped paths must agree.
        for (how, result) in [
            ("from_bytes", GgufFile::from_bytes(&bytes)),
            ("open", GgufFile::open(&path)),
        ] {
            match result {
                Ok(_) => failures.push(format!("{file} ({how}): accepted")),
                Err(err) if !err.to_string().contains(&fragment) => {
                    failures.push(format!("{file} ({how}): `{err}` lacks `{fragment}`"))
                }
                Err(_) => {}
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_prefix_of_a_valid_file_is_rejected_cleanly() {
    let mut builder = rocmforge_gguf::GgufBuilder::new();
    builder
        .add_metadata("general.architecture", "llama")
        .unwrap();
    builder
        .add_metadata("tokenizer.ggml.tokens", vec!["a", "bb", "ccc"])
        .unwrap();
    builder
        .add_metadata(
            "nested",
            vec![
                rocmforge_gguf::Array::U32(vec![1, 2]),
                rocmforge_gguf::Array::String(vec!["x".into()]),
            ],
        )
        .unwrap();
    builder
        .add_tensor("w", &[32, 2], rocmforge_gguf::GgmlType::Q8_0)
        .unwrap();
    let bytes = builder.to_bytes(&[&[0u8; 68]]).unwrap();
    let file = GgufFile::from_bytes(&bytes).unwrap();
    // Padding after the last tensor is optional; anything shorter than its data is not.
    let data_end = (file.data_offset() + 68) as usize;
    for len in 0..data_end {
        let err = GgufFile::from_bytes(&bytes[..len]).expect_err("a prefix must not parse");
        assert!(err.offset().is_some(), "prefix {len}: {err}");
    }
}

#[test]
fn fuzz_seeds_are_valid_files() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let mut count = 0;
    for entry in std::fs::read_dir(seeds).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "gguf") {
            let file =
                GgufFile::open(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            assert!(!file.metadata().is_empty());
            count += 1;
        }
    }
    assert_eq!(count, 3);
}
