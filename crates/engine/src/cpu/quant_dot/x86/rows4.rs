//! Four weight rows of the Q8_0 family (Q8_0, Q4_0, Q5_0, IQ4_NL, MXFP4) times a
//! few tokens, as llama.cpp's x86 `tinyBLAS_Q0_AVX` blocks its loops.
//!
//! Every output keeps the one-row kernel's single eight-lane running sum
//! (`acc = fma(dw·dy, Σ q·y, acc)` block by block, one horizontal sum at the
//! end), so the results are bit-identical to [`super::q8_0_family`]. What changes
//! is the work per block: each weight block is decoded once for up to four
//! tokens, each activation scale converted once for four rows, and the sixteen
//! running sums are independent, so no multiply-add waits for the previous one.
//!
//! With AVX-512 VNNI (with VL and BW) the weights enter `vpdpbusd` offset by 128
//! (unsigned) and 128·Σy is taken off again, which gives exactly the per-lane
//! sums of the AVX2 body's `vpmaddubsw` + `vpmaddwd` (whose 16-bit pairs cannot
//! saturate at these magnitudes).

use std::arch::x86_64::*;
use std::sync::OnceLock;

use rocmforge_gguf::GgmlType;

use super::super::Rows4Fn;
use super::{
    IQ4_NL, MXFP4, Q4_0, Q5_0, Q8_0, check_rows, f16_splat, hsum, load32, nibbles, prefetch_ahead,
    q8_0_family_block_bytes as block_bytes, q8_0_family_lut, q8_0_family_scale, q8_0_family_values,
};

/// Tokens per pass: four rows × four tokens are sixteen running sums.
const TOKENS: usize = 4;

/// The four-row kernel for `ty`, if it belongs to the Q8_0 family. Only call
/// after [`super::super::simd_level`] found AVX2, FMA and F16C.
pub(in super::super) fn kernel(ty: GgmlType) -> Option<Rows4Fn> {
    if has_vnni() {
        vnni_kernel(ty)
    } else {
        avx2_kernel(ty)
    }
}

/// The variant that needs AVX2, FMA and F16C only.
pub(in super::super) fn avx2_kernel(ty: GgmlType) -> Option<Rows4Fn> {
    use GgmlType as T;
    Some(match ty {
        T::Q8_0 => avx2_q8_0,
        T::Q4_0 => avx2_q4_0,
        T::Q5_0 => avx2_q5_0,
        T::IQ4_NL => avx2_iq4_nl,
        T::MXFP4 => avx2_mxfp4,
        _ => return None,
    })
}

/// The variant that also uses AVX-512 VNNI; only hand it out when
/// [`has_vnni`] says so.
fn vnni_kernel(ty: GgmlType) -> Option<Rows4Fn> {
    use GgmlType as T;
    Some(match ty {
        T::Q8_0 => vnni_q8_0,
        T::Q4_0 => vnni_q4_0,
        T::Q5_0 => vnni_q5_0,
        T::IQ4_NL => vnni_iq4_nl,
        T::MXFP4 => vnni_mxfp4,
        _ => return None,
    })
}

/// Whether this CPU has AVX-512 VNNI with 256-bit (VL) and byte (BW) forms,
/// detected once.
pub(in super::super) fn has_vnni() -> bool {
    static VNNI: OnceLock<bool> = OnceLock::new();
    *VNNI.get_or_init(|| {
        is_x86_feature_detected!("avx512vnni")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512bw")
    })
}

/// Four weight rows times `N ≤ TOKENS` tokens with AVX2: the unsigned operand
/// of `vpmaddubsw` is |q|, and y takes q's sign instead. `out` holds `N` tokens
/// × 4 rows.
//
// Plain loops, not closures, here and below: a closure would not inherit the
// target features, and the helpers would not be inlined into it.
#[target_feature(enable = "avx2,fma,f16c")]
fn rows4_avx2<const KIND: u8, const N: usize>(rows: &[&[u8]; 4], acts: &[&[u8]], out: &mut [f32]) {
    let wsize = block_bytes::<KIND>();
    assert_eq!(acts.len(), N, "{N} tokens");
    let nb = check_rows(rows, wsize, acts, 34, out);
    let lut = q8_0_family_lut::<KIND>();
    let ones = _mm256_set1_epi16(1);
    let mut acc = [[_mm256_setzero_ps(); N]; 4];
    let mut ys: [&[u8]; N] = [&[]; N];
    let mut dy = [_mm256_setzero_ps(); N];
    for b in 0..nb {
        for t in 0..N {
            ys[t] = &acts[t][b * 34..(b + 1) * 34];
            dy[t] = f16_splat(ys[t]);
        }
        prefetch_rows(rows, b * wsize);
        for (row, acc) in rows.iter().zip(acc.iter_mut()) {
            let x = &row[b * wsize..(b + 1) * wsize];
            let q = q8_0_family_values::<KIND>(x, lut);
            let dw = q8_0_family_scale::<KIND>(x);
            let aq = _mm256_sign_epi8(q, q);
            for t in 0..N {
                let sy = _mm256_sign_epi8(load32(&ys[t][2..]), q);
                let p = _mm256_madd_epi16(_mm256_maddubs_epi16(aq, sy), ones);
                let d = _mm256_mul_ps(dw, dy[t]);
                acc[t] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc[t]);
            }
        }
    }
    store_sums(&acc, out);
}

/// A Q5_0 block's 32 values plus 128, as unsigned bytes: the nibble plus 128
/// where the fifth bit is set, plus 112 where it is not (value − 16 + 128). An
/// AVX-512 mask register takes the fifth bits as they are stored.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn q5_0_offset(x: &[u8]) -> __m256i {
    let high: __mmask32 = u32::from_le_bytes([x[2], x[3], x[4], x[5]]);
    let offset = _mm256_mask_blend_epi8(high, _mm256_set1_epi8(112), _mm256_set1_epi8(i8::MIN));
    _mm256_add_epi8(nibbles(&x[6..]), offset)
}

/// Four weight rows times `N ≤ TOKENS` tokens with AVX-512 VNNI. `vpdpbusd`
/// wants an unsigned operand, so the weights are offset by 128 and 128·Σy,
/// formed once per token and block, is taken off again: the per-lane integer
/// sums equal the AVX2 body's, so the outputs do too.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn rows4_vnni<const KIND: u8, const N: usize>(rows: &[&[u8]; 4], acts: &[&[u8]], out: &mut [f32]) {
    let wsize = block_bytes::<KIND>();
    assert_eq!(acts.len(), N, "{N} tokens");
    let nb = check_rows(rows, wsize, acts, 34, out);
    let lut = q8_0_family_lut::<KIND>();
    let bias = _mm256_set1_epi8(i8::MIN);
    let zero = _mm256_setzero_si256();
    let mut acc = [[_mm256_setzero_ps(); N]; 4];
    let mut qu = [zero; 4];
    let mut dw = [_mm256_setzero_ps(); 4];
    for b in 0..nb {
        prefetch_rows(rows, b * wsize);
        // The four rows' blocks first, then token by token: one token's
        // activation terms are live at a time, so all of it stays in registers.
        for ((row, qu), dw) in rows.iter().zip(qu.iter_mut()).zip(dw.iter_mut()) {
            let x = &row[b * wsize..(b + 1) * wsize];
            *qu = if KIND == Q5_0 {
                q5_0_offset(x)
            } else {
                _mm256_xor_si256(q8_0_family_values::<KIND>(x, lut), bias)
            };
            *dw = q8_0_family_scale::<KIND>(x);
        }
        for t in 0..N {
            let block = &acts[t][b * 34..(b + 1) * 34];
            let y = load32(&block[2..]);
            // −128·Σy per lane, so that `vpdpbusd` of (q + 128) with y, added to
            // it, lands on Σ q·y exactly.
            let neg = _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, bias, y));
            let dy = f16_splat(block);
            for r in 0..4 {
                let p = _mm256_dpbusd_epi32(neg, qu[r], y);
                let d = _mm256_mul_ps(dw[r], dy);
                acc[r][t] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc[r][t]);
            }
        }
    }
    store_sums(&acc, out);
}

/// Prefetches the weights [`super::PREFETCH_BYTES`] past offset `at` of each
/// row: the rows follow each other, so this reaches into the next groups.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn prefetch_rows(rows: &[&[u8]; 4], at: usize) {
    for row in rows {
        prefetch_ahead(row.as_ptr().wrapping_add(at), 1);
    }
}

/// `out[t * 4 + r]` = the horizontal sum of `acc[r][t]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn store_sums<const N: usize>(acc: &[[__m256; N]; 4], out: &mut [f32]) {
    for (r, acc) in acc.iter().enumerate() {
        for (t, a) in acc.iter().enumerate() {
            out[t * 4 + r] = hsum(*a);
        }
    }
}

/// Defines a safe [`Rows4Fn`] that runs `$body::<$kind, N>` on the tile's
/// tokens, [`TOKENS`] at a time.
macro_rules! rows4_entries {
    ($body:ident: $($name:ident => $kind:ident);* $(;)?) => {
        $(
            fn $name(rows: &[&[u8]; 4], acts: &[&[u8]], out: &mut [f32]) {
                assert_eq!(out.len(), acts.len() * 4, "tokens x 4 rows");
                for (acts, out) in acts.chunks(TOKENS).zip(out.chunks_mut(TOKENS * 4)) {
                    // SAFETY: AVX2 variants are handed out after `simd_level` found
                    // AVX2, FMA and F16C, VNNI ones only when `has_vnni` also found
                    // AVX-512 VNNI, VL and BW: the CPU runs all the body uses.
                    unsafe {
                        match acts.len() {
                            1 => $body::<{ $kind }, 1>(rows, acts, out),
                            2 => $body::<{ $kind }, 2>(rows, acts, out),
                            3 => $body::<{ $kind }, 3>(rows, acts, out),
                            4 => $body::<{ $kind }, 4>(rows, acts, out),
                            n => unreachable!("{n} tokens per pass"),
                        }
                    }
                }
            }
        )*
    };
}

rows4_entries! {
    rows4_avx2:
    avx2_q8_0 => Q8_0;
    avx2_q4_0 => Q4_0;
    avx2_q5_0 => Q5_0;
    avx2_iq4_nl => IQ4_NL;
    avx2_mxfp4 => MXFP4;
}

rows4_entries! {
    rows4_vnni:
    vnni_q8_0 => Q8_0;
    vnni_q4_0 => Q4_0;
    vnni_q5_0 => Q5_0;
    vnni_iq4_nl => IQ4_NL;
    vnni_mxfp4 => MXFP4;
}
