//! Reference quantizers, one module per format family.
//!
//! Each quantizer reproduces ggml's `quantize_row_*_ref` byte for byte. That rules out
//! any rewriting of the float arithmetic: every `f32` operation happens in ggml's
//! order and precision (no fused multiply-add, no reassociation, no `f64`), and the
//! float-to-integer conversions follow ggml's own rounding tricks. Where C leaves a
//! conversion undefined (NaN or out-of-range values cast to an integer), the result is
//! what ggml's x86-64 build produces; see [`trunc_i32`].
//!
//! Blocks are written straight into the output bytes, little-endian, so the output
//! needs no particular alignment.
//!
//! Any input is accepted: infinities, NaN, subnormals and values near `f32::MAX`
//! quantize without panicking, deterministically, and to ggml's bytes, as far as
//! ggml's own result is determined. Two cases are not:
//!
//! - NaN payloads. Neither C nor Rust fixes which NaN an operation returns when two
//!   operands are NaN, and compilers may swap the operands of `+` and `*`. A block
//!   holding NaNs other than the canonical quiet NaN (`0x7fc0_0000`, with either
//!   sign) can therefore get different levels than a given ggml build. The
//!   canonical NaN, which is what arithmetic produces, matches.
//! - Q8_K blocks of zeros, whose block sums ggml leaves unwritten; they are zero
//!   here.

mod float;
mod fp4;
mod kquant_search;
mod kquants;
mod legacy;

use crate::types::GgmlType;

/// Quantizes whole blocks. The caller checked that `ty` is quantizable and that
/// `src.len() == n * ty.block_size()` and `dst.len() == n * ty.type_size()`.
pub(crate) fn quantize_blocks(ty: GgmlType, src: &[f32], dst: &mut [u8]) {
    match ty {
        GgmlType::F32 => float::f32_le(src, dst),
        GgmlType::F16 => float::f16(src, dst),
        GgmlType::BF16 => float::bf16(src, dst),
        GgmlType::Q4_0 => each_block(src, dst, legacy::q4_0),
        GgmlType::Q4_1 => each_block(src, dst, legacy::q4_1),
        GgmlType::Q5_0 => each_block(src, dst, legacy::q5_0),
        GgmlType::Q5_1 => each_block(src, dst, legacy::q5_1),
        GgmlType::Q8_0 => each_block(src, dst, legacy::q8_0),
        GgmlType::Q8_1 => each_block(src, dst, legacy::q8_1),
        GgmlType::Q2_K => kquants::q2_k(src, dst),
        GgmlType::Q3_K => kquants::q3_k(src, dst),
        GgmlType::Q4_K => kquants::q4_k(src, dst),
        GgmlType::Q5_K => kquants::q5_k(src, dst),
        GgmlType::Q6_K => kquants::q6_k(src, dst),
        GgmlType::Q8_K => each_block(src, dst, kquants::q8_k),
        GgmlType::MXFP4 => each_block(src, dst, fp4::mxfp4),
        _ => unreachable!("{ty} has no quantizer; the caller checks can_quantize"),
    }
}

/// Runs a block quantizer over matching runs of `N` values and `S` bytes.
#[inline(always)]
fn each_block<const N: usize, const S: usize>(
    src: &[f32],
    dst: &mut [u8],
    quantize: impl Fn(&[f32; N], &mut [u8; S]),
) {
    let (blocks_in, _) = src.as_chunks::<N>();
    let (blocks_out, _) = dst.as_chunks_mut::<S>();
    for (x, y) in blocks_in.iter().zip(blocks_out) {
        quantize(x, y);
    }
}

/// ggml's `nearest_int`: adding 1.5 * 2^23 makes the FPU round to an integer (half to
/// even), which is then read back from the low mantissa bits.
///
/// Exact for `|v| < 2^22`. Larger values, infinities and NaN give whatever those
/// mantissa bits say, exactly as in ggml; callers clamp the result.
#[inline(always)]
fn nearest_int(v: f32) -> i32 {
    let bits = (v + 12_582_912.0).to_bits();
    (bits & 0x007f_ffff) as i32 - 0x0040_0000
}

/// A C float-to-integer cast as ggml's x86-64 build executes it (`cvttss2si`):
/// truncation toward zero, and `i32::MIN` for NaN and values outside `i32`.
///
/// C leaves those cases undefined; following the hardware keeps the output identical
/// to the reference build for any input. Casts to narrower C types keep the low bits
/// of this value (`as i8` / `as u8` on the result).
#[inline(always)]
fn trunc_i32(v: f32) -> i32 {
    if (-2_147_483_648.0..2_147_483_648.0).contains(&v) {
        v as i32
    } else {
        i32::MIN
    }
}

/// Writes `v` little-endian at byte `at`.
#[inline(always)]
fn put_u16(y: &mut [u8], at: usize, v: u16) {
    y[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_int_rounds_half_to_even() {
        let cases = [
            (0.5, 0),
            (1.5, 2),
            (2.5, 2),
            (-0.5, 0),
            (-1.5, -2),
            (-2.5, -2),
            (0.49999997, 0),
            (3.7, 4),
            (-3.7, -4),
            (4_194_303.0, 4_194_303),
            (-4_194_303.0, -4_194_303),
        ];
        for (v, want) in cases {
            assert_eq!(nearest_int(v), want, "{v}");
        }
        // Outside its range it is still a plain bit computation (NaN reads as 0).
        assert_eq!(nearest_int(f32::NAN), 0);
        let _ = (
            nearest_int(f32::INFINITY),
            nearest_int(-1e30),
            nearest_int(f32::MAX),
        );
    }

    #[test]
    fn trunc_follows_cvttss2si() {
        assert_eq!(trunc_i32(2.9), 2);
        assert_eq!(trunc_i32(-2.9), -2);
        assert_eq!(trunc_i32(-2_147_483_648.0), i32::MIN);
        assert_eq!(trunc_i32(2_147_483_520.0), 2_147_483_520);
        for v in [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            2_147_483_648.0,
            -3e9,
            1e30,
        ] {
            assert_eq!(trunc_i32(v), i32::MIN, "{v}");
        }
        // Narrow casts keep the low bits: 200 as int8_t is -56.
        assert_eq!(trunc_i32(200.5) as i8, -56);
        assert_eq!(trunc_i32(f32::INFINITY) as u8, 0);
    }
}
