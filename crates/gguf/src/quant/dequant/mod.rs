//! Dequantization kernels, one module per format family.
//!
//! Every kernel mirrors the order of float operations of ggml's reference
//! `dequantize_row_*` (ggml is built without floating-point contraction for the
//! reference, so neither side uses fused multiply-add). The results are therefore
//! bit-identical to ggml's. Where an output is NaN (a NaN or infinite scale), the
//! payload comes from the hardware's NaN propagation, as in ggml; it matches on
//! x86-64, but Rust does not promise NaN payloads, so only NaN-ness is guaranteed.
//!
//! Kernels read blocks as plain bytes with little-endian field reads, so the input
//! needs no alignment. Every byte value is valid input: table indices are masked to
//! the table size, so no input can make a kernel panic.

#[cfg(target_arch = "x86_64")]
mod avx2;
mod float;
mod fp4;
mod iquants;
mod kquants;
mod legacy;
mod low_bit;
mod ternary;

#[cfg(test)]
mod tests;

use half::f16;

use crate::types::GgmlType;

/// Dequantizes whole blocks. Lengths were checked by the caller:
/// `src.len() == n * ty.type_size()` and `dst.len() == n * ty.block_size()`.
pub(crate) fn dequantize_blocks(ty: GgmlType, src: &[u8], dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx2::dequantize_blocks(ty, src, dst) {
        return;
    }
    dequantize_blocks_scalar(ty, src, dst);
}

/// The portable kernels, used where no SIMD kernel applies (and as the reference
/// that the SIMD kernels are tested against).
pub(crate) fn dequantize_blocks_scalar(ty: GgmlType, src: &[u8], dst: &mut [f32]) {
    debug_assert_eq!(src.len() / ty.type_size(), dst.len() / ty.block_size());
    use GgmlType::*;
    match ty {
        F32 => float::f32s(src, dst),
        F16 => float::f16s(src, dst),
        BF16 => float::bf16s(src, dst),
        F64 => float::f64s(src, dst),
        I8 => float::i8s(src, dst),
        I16 => float::i16s(src, dst),
        I32 => float::i32s(src, dst),
        I64 => float::i64s(src, dst),
        Q4_0 => each_block(src, dst, legacy::q4_0),
        Q4_1 => each_block(src, dst, legacy::q4_1),
        Q5_0 => each_block(src, dst, legacy::q5_0),
        Q5_1 => each_block(src, dst, legacy::q5_1),
        Q8_0 => each_block(src, dst, legacy::q8_0),
        Q8_1 => each_block(src, dst, legacy::q8_1),
        Q2_K => each_block(src, dst, kquants::q2_k),
        Q3_K => each_block(src, dst, kquants::q3_k),
        Q4_K => each_block(src, dst, kquants::q4_k),
        Q5_K => each_block(src, dst, kquants::q5_k),
        Q6_K => each_block(src, dst, kquants::q6_k),
        Q8_K => each_block(src, dst, kquants::q8_k),
        IQ2_XXS => each_block(src, dst, iquants::iq2_xxs),
        IQ2_XS => each_block(src, dst, iquants::iq2_xs),
        IQ2_S => each_block(src, dst, iquants::iq2_s),
        IQ3_XXS => each_block(src, dst, iquants::iq3_xxs),
        IQ3_S => each_block(src, dst, iquants::iq3_s),
        IQ1_S => each_block(src, dst, iquants::iq1_s),
        IQ1_M => each_block(src, dst, iquants::iq1_m),
        IQ4_NL => each_block(src, dst, iquants::iq4_nl),
        IQ4_XS => each_block(src, dst, iquants::iq4_xs),
        TQ1_0 => each_block(src, dst, ternary::tq1_0),
        TQ2_0 => each_block(src, dst, ternary::tq2_0),
        MXFP4 => each_block(src, dst, fp4::mxfp4),
        NVFP4 => each_block(src, dst, fp4::nvfp4),
        Q1_0 => each_block(src, dst, low_bit::q1_0),
        Q2_0 => each_block(src, dst, low_bit::q2_0),
    }
}

/// Calls `kernel` on every block of `BYTES` bytes and its `N` outputs.
///
/// Fixed-size arrays let the kernels index without run-time bounds checks.
#[inline(always)]
fn each_block<const BYTES: usize, const N: usize>(
    src: &[u8],
    dst: &mut [f32],
    kernel: impl Fn(&[u8; BYTES], &mut [f32; N]),
) {
    let (blocks, rest) = src.as_chunks::<BYTES>();
    let (outs, out_rest) = dst.as_chunks_mut::<N>();
    debug_assert!(rest.is_empty() && out_rest.is_empty() && blocks.len() == outs.len());
    for (block, out) in blocks.iter().zip(outs) {
        kernel(block, out);
    }
}

/// Reads the little-endian f16 at `at` as `f32` (exact, like `GGML_FP16_TO_FP32`).
#[inline(always)]
fn f16_at<const N: usize>(block: &[u8; N], at: usize) -> f32 {
    f16::from_bits(u16_at(block, at)).to_f32()
}

/// Reads the little-endian `u16` at `at`.
#[inline(always)]
fn u16_at<const N: usize>(block: &[u8; N], at: usize) -> u16 {
    u16::from_le_bytes([block[at], block[at + 1]])
}

/// Reads the little-endian `u32` at `at`.
#[inline(always)]
fn u32_at<const N: usize>(block: &[u8; N], at: usize) -> u32 {
    u32::from_le_bytes([block[at], block[at + 1], block[at + 2], block[at + 3]])
}
