//! Opening and validating a real model: header parse only, no tensor data read.
//!
//! Uses Gemma 3 270M Q4_K_M from the model cache (`cargo xtask fetch-models`;
//! `$ROCMFORGE_MODELS` or `~/.cache/rocmforge/models`).

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};
use rocmforge_gguf::GgufFile;

fn gemma_path() -> Option<PathBuf> {
    let dir = std::env::var_os("ROCMFORGE_MODELS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/rocmforge/models"))
        })?;
    Some(dir.join("gemma-3-270m-q4_k_m.gguf")).filter(|p| p.exists())
}

fn open(c: &mut Criterion) {
    let Some(path) = gemma_path() else {
        eprintln!("SKIPPED open benchmark: run `cargo xtask fetch-models` first");
        return;
    };
    let mut group = c.benchmark_group("open");
    group.bench_function("gemma3-270m mmap+validate", |b| {
        b.iter(|| {
            let file = GgufFile::open(black_box(&path)).unwrap();
            assert_eq!(file.tensors().len(), 236);
            file
        })
    });
    group.finish();
}

criterion_group!(benches, open);
criterion_main!(benches);
