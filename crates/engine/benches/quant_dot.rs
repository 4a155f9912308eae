//! Matrix-vector (decode, 1 token) and matrix-matrix (prefill, 128 tokens) products
//! for Gemma 3 270M's weight shapes plus two 4096x4096 matrices.
//!
//! Decode cases report the weight bytes streamed per second; prefill cases report
//! multiply-adds per second ("elements" in criterion's output).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rocmforge_engine::cpu::quant_dot::{
    ActFormat, QuantizedActs, WeightMatrix, act_format, matmul,
};
use rocmforge_gguf::{GgmlType, quant};

/// (type, rows, cols, label)
const CASES: [(GgmlType, usize, usize, &str); 6] = [
    (GgmlType::Q8_0, 262_144, 640, "output"),
    (GgmlType::Q5_0, 2048, 640, "ffn_up"),
    (GgmlType::Q4_K, 640, 1024, "attn_out"),
    (GgmlType::Q6_K, 640, 2048, "ffn_down"),
    (GgmlType::Q4_0, 4096, 4096, "square"),
    (GgmlType::Q8_0, 4096, 4096, "square"),
];

/// Deterministic values in about [-2, 2].
fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s as f32 / u32::MAX as f32) * 4.0 - 2.0
        })
        .collect()
}

/// A `rows x cols` matrix of `ty`: 64 quantized random rows, repeated.
fn weights(ty: GgmlType, rows: usize, cols: usize) -> Vec<u8> {
    let base_rows = rows.min(64);
    let base = quant::quantize_to_vec(ty, &values(base_rows * cols, 7)).unwrap();
    let mut out = Vec::with_capacity(base.len() * rows / base_rows);
    while out.len() < base.len() * rows / base_rows {
        out.extend_from_slice(&base);
    }
    out
}

fn bench(c: &mut Criterion) {
    for (ty, rows, cols, label) in CASES {
        let data = weights(ty, rows, cols);
        let w = WeightMatrix::new(ty, rows, cols, &data).unwrap();
        let fmt = act_format(ty).unwrap();
        let mut group = c.benchmark_group(format!("{ty}_{rows}x{cols}_{label}"));

        let mut acts = QuantizedActs::new(fmt);
        acts.quantize(&values(cols, 1), cols);
        let mut out = vec![0f32; rows];
        group.throughput(Throughput::Bytes(data.len() as u64));
        group.bench_function("decode_1", |b| {
            b.iter(|| matmul(black_box(&w), black_box(&acts), &mut out))
        });

        let tokens = 128;
        let mut acts = QuantizedActs::new(fmt);
        acts.quantize(&values(tokens * cols, 2), cols);
        let mut out = vec![0f32; rows * tokens];
        group.throughput(Throughput::Elements((rows * cols * tokens) as u64));
        group.bench_function("prefill_128", |b| {
            b.iter(|| matmul(black_box(&w), black_box(&acts), &mut out))
        });
        group.finish();
    }

    let mut group = c.benchmark_group("quantize_acts");
    for (fmt, cols) in [(ActFormat::Q8_0, 640), (ActFormat::Q8_K, 1024)] {
        let x = values(cols * 128, 3);
        let mut acts = QuantizedActs::new(fmt);
        group.bench_function(format!("{fmt:?}_{cols}x1"), |b| {
            b.iter(|| acts.quantize(black_box(&x[..cols]), cols))
        });
        group.bench_function(format!("{fmt:?}_{cols}x128"), |b| {
            b.iter(|| acts.quantize(black_box(&x), cols))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
