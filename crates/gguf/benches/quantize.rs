//! Single-thread quantization throughput, in input values per second.
//!
//!     cargo bench -p rocmforge-gguf --bench quantize
//!
//! The input is a fixed pseudo-random tensor shaped like model weights: values
//! near a normal distribution, with the spread changing from row to row.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rocmforge_gguf::GgmlType;
use rocmforge_gguf::quant;

/// Values per benchmark iteration (1 MiB of f32).
const LEN: usize = 1 << 18;

/// Deterministic weight-like values: the sum of four uniforms (close to a normal
/// distribution), scaled per row of 4096 by a factor between 0.01 and 0.1.
fn weights() -> Vec<f32> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u32 << 24) as f32 - 0.5
    };
    (0..LEN)
        .map(|i| {
            let row_scale = 0.01 + 0.09 * ((i / 4096) % 16) as f32 / 15.0;
            let sum: f32 = (0..4).map(|_| uniform()).sum();
            sum * row_scale
        })
        .collect()
}

fn quantize(c: &mut Criterion) {
    let x = weights();
    let mut group = c.benchmark_group("quantize");
    group.throughput(Throughput::Elements(LEN as u64));
    group.sample_size(20);
    for ty in [
        GgmlType::Q4_0,
        GgmlType::Q8_0,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
        GgmlType::MXFP4,
    ] {
        let mut out = vec![0u8; LEN / ty.block_size() * ty.type_size()];
        group.bench_function(ty.name(), |b| {
            b.iter(|| quant::quantize(ty, black_box(&x), black_box(&mut out)).unwrap());
        });
    }
    group.finish();
}

criterion_group!(benches, quantize);
criterion_main!(benches);
