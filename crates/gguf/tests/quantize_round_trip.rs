//! Quantize, dequantize, compare: every quantizable type must give back weight-like
//! data within the error its format allows.

use proptest::prelude::*;
use rocmforge_gguf::GgmlType;
use rocmforge_gguf::quant;

/// Largest RMS error, relative to the RMS of the values, over one 256-value span of
/// near-normal data; about twice what each format shows in practice (for the float
/// formats, the rounding bound).
fn tolerance(ty: GgmlType) -> f64 {
    match ty {
        GgmlType::F32 => 0.0,
        GgmlType::F16 => 0.0005,
        GgmlType::BF16 => 0.004,
        GgmlType::Q8_0 | GgmlType::Q8_1 => 0.012,
        GgmlType::Q8_K => 0.016,
        GgmlType::Q6_K => 0.045,
        GgmlType::Q5_0 | GgmlType::Q5_1 | GgmlType::Q5_K => 0.09,
        GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q4_K => 0.18,
        GgmlType::MXFP4 => 0.26,
        GgmlType::Q3_K => 0.34,
        GgmlType::Q2_K => 0.7,
        other => panic!("no tolerance for {other}"),
    }
}

/// Sums of four uniforms (close to normal), 256 values per power-of-two scale.
fn weights(seed: u64, spans: usize, exponent: i32) -> Vec<f32> {
    let mut state = seed | 1;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u32 << 24) as f32 - 0.5
    };
    (0..spans * 256)
        .map(|i| {
            let scale = 2f32.powi(exponent + (i / 256 % 5) as i32 - 2);
            (0..4).map(|_| uniform()).sum::<f32>() * scale
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn quantized_values_come_back_close(
        seed in any::<u64>(),
        spans in 1usize..8,
        // Scales whose quantization steps stay in f16's normal range.
        exponent in -5i32..10,
    ) {
        let x = weights(seed, spans, exponent);
        for ty in quant::QUANTIZABLE {
            let q = quant::quantize_to_vec(ty, &x).unwrap();
            let back = quant::dequantize_to_vec(ty, &q, x.len()).unwrap();
            for (span, (xs, bs)) in x.chunks(256).zip(back.chunks(256)).enumerate() {
                let energy: f64 = xs.iter().map(|&v| f64::from(v).powi(2)).sum();
                let error: f64 = xs.iter().zip(bs).map(|(&v, &b)| f64::from(v - b).powi(2)).sum();
                let ratio = (error / energy).sqrt();
                prop_assert!(
                    ratio <= tolerance(ty),
                    "{ty} span {span}: relative RMS error {ratio:.5} > {}",
                    tolerance(ty)
                );
            }
        }
    }
}

#[test]
fn finite_blocks_dequantize_to_finite_values() {
    // Values up to 2^14 keep every scale inside f16's range.
    let x = weights(7, 16, 12);
    for ty in quant::QUANTIZABLE {
        let q = quant::quantize_to_vec(ty, &x).unwrap();
        let back = quant::dequantize_to_vec(ty, &q, x.len()).unwrap();
        assert!(back.iter().all(|v| v.is_finite()), "{ty}");
    }
}
