//! MXFP4: 32 E2M1 values sharing an E8M0 (power of two) scale.

use super::trunc_i32;
use crate::quant::fp4_scales::e8m0_half;
use crate::quant::tables::KVALUES_MXFP4 as E2M1_X2;

/// Index of the code point nearest to `v` at scale `d`; the first one wins ties, and
/// a NaN `v` gets index 0.
#[inline(always)]
fn nearest_code(v: f32, d: f32) -> u8 {
    let mut best = 0;
    let mut best_err = (f32::from(E2M1_X2[0]) * d - v).abs();
    for (i, &k) in E2M1_X2.iter().enumerate().skip(1) {
        let err = (f32::from(k) * d - v).abs();
        if err < best_err {
            best = i as u8;
            best_err = err;
        }
    }
    best
}

/// `floorf(log2f(v))` for positive `v`, independent of the platform's `log2f`.
///
/// Only values a few dozen ulps below a power of two round up to the next integer,
/// and there libms may differ. `log2` in `f64` rounded to `f32` is the correctly
/// rounded `log2f`; its floor equals that of glibc's `log2f` (which the reference
/// ggml build uses) for every positive `f32`, checked exhaustively.
#[inline(always)]
fn floor_log2(v: f32) -> f32 {
    (f64::from(v).log2() as f32).floor()
}

/// MXFP4 block: the scale exponent puts the largest magnitude in the top binade of
/// E2M1 (values up to 6), then each value takes its nearest code point.
pub(super) fn mxfp4(x: &[f32; 32], y: &mut [u8; 17]) {
    let mut amax = 0.0f32;
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
        }
    }
    // Tiny maxima give a negative exponent and infinity none at all; the byte is then
    // the low bits of the x86 conversion, as in ggml (see `trunc_i32`).
    let e = if amax > 0.0 {
        trunc_i32(floor_log2(amax) - 2.0 + 127.0) as u8
    } else {
        0
    };
    let d = e8m0_half(e);
    y[0] = e;
    for j in 0..16 {
        y[1 + j] = nearest_code(x[j], d) | nearest_code(x[j + 16], d) << 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The claim is about glibc's log2f; other libms may round differently.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn floor_log2_matches_log2f_near_powers_of_two_and_on_a_sweep() {
        let below_powers = (1..255u32).flat_map(|e| (1..=64).map(move |k| (e << 23) - k));
        let sweep = (1..0x7f80_0000u32 / 1021).map(|i| i * 1021);
        for bits in below_powers.chain(sweep).chain([1, 0x7f7f_ffff]) {
            let v = f32::from_bits(bits);
            assert_eq!(floor_log2(v), v.log2().floor(), "{v:e} ({bits:#010x})");
        }
        assert_eq!(floor_log2(f32::INFINITY), f32::INFINITY);
    }
}
