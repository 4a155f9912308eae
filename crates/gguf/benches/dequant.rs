//! Dequantization throughput, single-threaded and over rayon's thread pool.
//!
//! ```text
//! cargo bench -p rocmforge-gguf --bench dequant
//! ```
//!
//! Each type decodes about 4M elements of random blocks whose f16 scales are set to
//! ordinary finite values (random bytes would make some scales NaN or subnormal,
//! which real models never contain).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rocmforge_gguf::{GgmlType, quant};

const ELEMENTS: usize = 1 << 22;

/// Byte offsets of the f16 scale fields in one block of `ty`.
fn scale_offsets(ty: GgmlType) -> &'static [usize] {
    use GgmlType::*;
    match ty {
        Q4_0 | Q5_0 | Q8_0 | IQ2_XXS | IQ4_NL | IQ4_XS => &[0],
        Q4_1 | Q5_1 | Q4_K | Q5_K => &[0, 2],
        Q2_K => &[80, 82],
        Q3_K => &[108],
        Q6_K => &[208],
        _ => &[],
    }
}

/// Random blocks of `ty` holding `ELEMENTS` values (SplitMix64, fixed seed).
fn input(ty: GgmlType) -> Vec<u8> {
    let mut state = 0x5eed_u64;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let bytes = ELEMENTS / ty.block_size() * ty.type_size();
    let mut data: Vec<u8> = (0..bytes).map(|_| next() as u8).collect();
    let ordinary_f16 = |r: u64| {
        // Exponents 2^-14 .. 2^-1 with a random mantissa and sign.
        let exp = 1 + (r % 14) as u16;
        ((r >> 8) as u16 & 0x83ff) | (exp << 10)
    };
    match ty {
        GgmlType::F16 => {
            for pair in data.chunks_exact_mut(2) {
                pair.copy_from_slice(&ordinary_f16(next()).to_le_bytes());
            }
        }
        _ => {
            for block in data.chunks_exact_mut(ty.type_size()) {
                for &at in scale_offsets(ty) {
                    block[at..at + 2].copy_from_slice(&ordinary_f16(next()).to_le_bytes());
                }
            }
        }
    }
    data
}

fn dequant(c: &mut Criterion) {
    use GgmlType::*;
    let types = [
        Q4_0, Q5_0, Q8_0, Q4_K, Q5_K, Q6_K, Q4_1, Q2_K, Q3_K, IQ4_XS, IQ2_XXS, MXFP4, F16,
    ];
    for ty in types {
        let src = input(ty);
        let mut dst = vec![0.0f32; ELEMENTS];
        let mut group = c.benchmark_group(format!("dequant/{ty}"));
        group.throughput(Throughput::Elements(ELEMENTS as u64));
        group.bench_function("single_thread", |b| {
            b.iter(|| quant::dequantize(ty, black_box(&src), black_box(&mut dst)))
        });
        group.bench_function("all_threads", |b| {
            b.iter(|| quant::dequantize_parallel(ty, black_box(&src), black_box(&mut dst)))
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = dequant
}
criterion_main!(benches);
