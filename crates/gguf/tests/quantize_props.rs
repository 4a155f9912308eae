//! Properties of the quantizers that hold for any input, checked without a
//! dequantizer (the byte-exact comparison with ggml is in `quant_fixtures.rs`).

use half::f16;
use proptest::prelude::*;
use rocmforge_gguf::GgmlType;
use rocmforge_gguf::quant::{self, QUANTIZABLE};

/// Unusual values the quantizers must survive.
const SPECIAL: [f32; 14] = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    f32::MIN_POSITIVE,
    1e-45,
    -1e-40,
    1e-20,
    f32::MAX,
    f32::MIN,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::NAN,
    -f32::NAN,
];

/// A small deterministic generator, so that large inputs cost nothing to shrink.
struct Values(u64);

impl Values {
    fn next_u64(&mut self) -> u64 {
        // SplitMix64.
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `[-1, 1)`.
    fn unit(&mut self) -> f32 {
        (self.next_u64() >> 41) as f32 / (1u32 << 23) as f32 * 2.0 - 1.0
    }

    /// A value in `[-1, 1)` times a power of two in `2^-20 ..= 2^20`, or with
    /// probability `special` one of [`SPECIAL`].
    fn value(&mut self, special: f64) -> f32 {
        let r = self.next_u64();
        if ((r >> 11) as f64 / (1u64 << 53) as f64) < special {
            return SPECIAL[(r % SPECIAL.len() as u64) as usize];
        }
        self.unit() * 2f32.powi((r % 41) as i32 - 20)
    }

    fn fill(&mut self, n: usize, special: f64) -> Vec<f32> {
        (0..n).map(|_| self.value(special)).collect()
    }
}

fn quantized(ty: GgmlType, x: &[f32]) -> Vec<u8> {
    let mut out = vec![0u8; x.len() / ty.block_size() * ty.type_size()];
    quant::quantize(ty, x, &mut out).unwrap();
    out
}

#[test]
fn zeros_give_the_zero_block() {
    for ty in QUANTIZABLE {
        let out = quantized(ty, &vec![0.0; 512]);
        let mut want = vec![0u8; ty.type_size()];
        // ggml's Q4_0 and Q5_0 store d = 0 / -8 = -0.0 and the middle level, which
        // still decodes to zero.
        match ty {
            GgmlType::Q4_0 => {
                want = [0x00, 0x80].into_iter().chain([0x88; 16]).collect();
            }
            GgmlType::Q5_0 => {
                want = [0x00, 0x80, 0xff, 0xff, 0xff, 0xff]
                    .into_iter()
                    .chain([0; 16])
                    .collect();
            }
            _ => {}
        }
        for (i, block) in out.chunks_exact(ty.type_size()).enumerate() {
            assert_eq!(block, want.as_slice(), "{ty} block {i}");
        }
    }
}

fn quantizable() -> impl Strategy<Value = GgmlType> {
    prop::sample::select(QUANTIZABLE.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn parallel_gives_the_same_bytes(
        ty in quantizable(),
        // Multiples of 256 values (every block size divides 256), up to about
        // three of quantize_parallel's tasks of 16 Ki values.
        len_256 in 0usize..200,
        seed in any::<u64>(),
        special in prop::sample::select(vec![0.0, 0.001, 0.3]),
    ) {
        let n = len_256 * 256;
        let x = Values(seed).fill(n, special);
        let mut parallel = vec![0u8; n / ty.block_size() * ty.type_size()];
        quant::quantize_parallel(ty, &x, &mut parallel).unwrap();
        prop_assert!(parallel == quantized(ty, &x), "{}", ty);
    }

    #[test]
    fn any_values_quantize_deterministically(
        ty in quantizable(),
        blocks in 1usize..6,
        seed in any::<u64>(),
        special in prop::sample::select(vec![0.05, 0.5, 1.0]),
    ) {
        // NaN, infinities, extremes and subnormals: no panic, and the same bytes
        // every time.
        let x = Values(seed).fill(blocks * 256, special);
        let first = quantized(ty, &x);
        prop_assert_eq!(first, quantized(ty, &x), "{}", ty);
    }

    #[test]
    fn q8_0_scale_is_amax_over_127(seed in any::<u64>(), special in prop::sample::select(vec![0.0, 0.2])) {
        let x = Values(seed).fill(32 * 8, special);
        let out = quantized(GgmlType::Q8_0, &x);
        for (block, y) in x.chunks_exact(32).zip(out.chunks_exact(34)) {
            let amax = block.iter().fold(0.0f32, |m, v| if m > v.abs() { m } else { v.abs() });
            let d = u16::from_le_bytes([y[0], y[1]]);
            prop_assert_eq!(d, f16::from_f32(amax / 127.0).to_bits(), "{:?}", block);
        }
    }

    #[test]
    fn q4_0_scale_is_max_over_minus_8(seed in any::<u64>(), special in prop::sample::select(vec![0.0, 0.2])) {
        let x = Values(seed).fill(32 * 8, special);
        let out = quantized(GgmlType::Q4_0, &x);
        for (block, y) in x.chunks_exact(32).zip(out.chunks_exact(18)) {
            // The first value of largest magnitude, sign included.
            let (mut amax, mut max) = (0.0f32, 0.0f32);
            for &v in block {
                if amax < v.abs() {
                    amax = v.abs();
                    max = v;
                }
            }
            let d = u16::from_le_bytes([y[0], y[1]]);
            prop_assert_eq!(d, f16::from_f32(max / -8.0).to_bits(), "{:?}", block);
        }
    }

    #[test]
    fn q8_0_and_q4_0_round_trip_closely(seed in any::<u64>()) {
        // Ordinary values, each block scaled by 2^-4 ..= 2^10 so the scales stay in
        // f16's normal range.
        let mut values = Values(seed);
        let x: Vec<f32> = (0..32 * 16)
            .map(|i: i32| values.unit() * 2f32.powi(i / 32 - 4))
            .collect();
        for (ty, size, levels) in [(GgmlType::Q8_0, 34, 127.0f32), (GgmlType::Q4_0, 18, 8.0)] {
            let out = quantized(ty, &x);
            for (block, y) in x.chunks_exact(32).zip(out.chunks_exact(size)) {
                let amax = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                if amax / levels < 1e-3 {
                    continue; // scale in f16's subnormal range
                }
                let d = f16::from_bits(u16::from_le_bytes([y[0], y[1]])).to_f32();
                for (i, &v) in block.iter().enumerate() {
                    let back = if ty == GgmlType::Q8_0 {
                        d * f32::from(y[2 + i] as i8)
                    } else {
                        let byte = y[2 + i % 16];
                        let q = if i < 16 { byte & 0x0f } else { byte >> 4 };
                        d * (f32::from(q) - 8.0)
                    };
                    // Half a step, plus the f16 rounding of the scale; Q4_0 clamps
                    // the far end of its range by a full step.
                    let step = amax / levels;
                    let bound = if ty == GgmlType::Q8_0 { 0.57 * step } else { 1.01 * step };
                    prop_assert!((v - back).abs() <= bound, "{ty} value {i}: {v} -> {back}");
                }
            }
        }
    }
}
