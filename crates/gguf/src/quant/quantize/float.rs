//! Plain float formats (F32, F16, BF16) and the f16 conversions the block
//! quantizers share.

use half::f16;

/// F32: the values' little-endian bytes.
pub(super) fn f32_le(src: &[f32], dst: &mut [u8]) {
    let (out, _) = dst.as_chunks_mut::<4>();
    for (v, y) in src.iter().zip(out) {
        *y = v.to_le_bytes();
    }
}

/// F16, rounding to nearest even like ggml's `GGML_FP32_TO_FP16`.
pub(super) fn f16(src: &[f32], dst: &mut [u8]) {
    let (out, _) = dst.as_chunks_mut::<2>();
    for (&v, y) in src.iter().zip(out) {
        *y = f16_bits(v).to_le_bytes();
    }
}

/// BF16 as ggml's `ggml_compute_fp32_to_bf16`.
pub(super) fn bf16(src: &[f32], dst: &mut [u8]) {
    let (out, _) = dst.as_chunks_mut::<2>();
    for (&v, y) in src.iter().zip(out) {
        *y = bf16_bits(v).to_le_bytes();
    }
}

/// `f32` to IEEE half, round to nearest even, overflowing to infinity.
///
/// ggml turns every NaN into the quiet NaN `0x7e00` (keeping the sign) where `half`
/// would keep payload bits, so NaN is handled here.
#[inline(always)]
pub(super) fn f16_bits(v: f32) -> u16 {
    if v.is_nan() {
        ((v.to_bits() >> 16) as u16 & 0x8000) | 0x7e00
    } else {
        f16::from_f32(v).to_bits()
    }
}

/// The exact `f32` value of half-precision bits.
#[inline(always)]
pub(super) fn f16_value(bits: u16) -> f32 {
    f16::from_bits(bits).to_f32()
}

/// `f32` to bfloat16: round to nearest even on the raw bits; NaN keeps its top bits
/// and is forced quiet.
#[inline(always)]
fn bf16_bits(v: f32) -> u16 {
    let u = v.to_bits();
    if u & 0x7fff_ffff > 0x7f80_0000 {
        ((u >> 16) | 0x40) as u16
    } else {
        // No overflow: the largest non-NaN pattern is -inf, 0xff80_0000.
        ((u + 0x7fff + ((u >> 16) & 1)) >> 16) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ggml's bit-twiddling `ggml_compute_fp32_to_fp16`, kept as an independent check
    /// on `half`.
    fn ggml_fp32_to_fp16(f: f32) -> u16 {
        let scale_to_inf = f32::from_bits(0x7780_0000);
        let scale_to_zero = f32::from_bits(0x0880_0000);
        let mut base = (f.abs() * scale_to_inf) * scale_to_zero;
        let w = f.to_bits();
        let shl1_w = w.wrapping_add(w);
        let sign = w & 0x8000_0000;
        let bias = (shl1_w & 0xff00_0000).max(0x7100_0000);
        base += f32::from_bits((bias >> 1) + 0x0780_0000);
        let bits = base.to_bits();
        let exp_bits = (bits >> 13) & 0x0000_7c00;
        let mantissa_bits = bits & 0x0000_0fff;
        let nonsign = exp_bits + mantissa_bits;
        ((sign >> 16)
            | if shl1_w > 0xff00_0000 {
                0x7e00
            } else {
                nonsign
            }) as u16
    }

    #[test]
    fn f16_matches_ggml_on_a_sweep_of_bit_patterns() {
        // Every 251st pattern hits every exponent with varied mantissas; the listed
        // patterns cover the rounding, subnormal, overflow and NaN boundaries.
        let special = [
            0x0000_0000u32,
            0x8000_0000,
            0x3380_0000, // 2^-24: smallest f16 subnormal
            0x3300_0000, // 2^-25: halfway to zero, rounds to even (zero)
            0x3300_0001,
            0x3880_0000, // 2^-14: smallest f16 normal
            0x477f_efff,
            0x477f_f000, // 65520: rounds up to infinity
            0x7f80_0000,
            0xff80_0000,
            0x7f80_0001,
            0xffc0_0000,
            0x7fff_ffff,
        ];
        let sweep = (0..=u32::MAX / 251).map(|i| i * 251);
        for bits in special.into_iter().chain(sweep) {
            let v = f32::from_bits(bits);
            assert_eq!(f16_bits(v), ggml_fp32_to_fp16(v), "{bits:#010x}");
        }
    }

    #[test]
    fn bf16_rounds_to_nearest_even_and_quiets_nan() {
        assert_eq!(bf16_bits(1.0), 0x3f80);
        assert_eq!(bf16_bits(f32::from_bits(0x3f80_8000)), 0x3f80); // tie, even stays
        assert_eq!(bf16_bits(f32::from_bits(0x3f81_8000)), 0x3f82); // tie, odd rounds up
        assert_eq!(bf16_bits(f32::from_bits(0x3f80_8001)), 0x3f81);
        assert_eq!(bf16_bits(f32::from_bits(0x7f7f_ffff)), 0x7f80); // to infinity
        assert_eq!(bf16_bits(f32::NEG_INFINITY), 0xff80);
        assert_eq!(bf16_bits(f32::from_bits(0x7f80_0001)), 0x7fc0);
        assert_eq!(bf16_bits(f32::from_bits(0xff81_2345)), 0xffc1);
    }
}
