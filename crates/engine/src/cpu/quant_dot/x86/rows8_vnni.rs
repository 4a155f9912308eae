//! The eight-row kernels of the Q8_0 family (Q4_0, IQ4_NL, MXFP4, the types
//! llama.cpp repacks) with AVX-512 VNNI.
//!
//! They add exactly what [`super::q8_0_family_rows8`] adds, in the same order
//! (per output one running sum, `acc = fma(Σ q·y, dw·dy, acc)` block by block):
//! only the integer sums are formed differently. `vpdpbusd` wants an unsigned
//! operand, so the weights enter unsigned (Q4_0: the nibble, i.e. the value
//! plus 8; the table types: the value plus 128) and the offset times Σy,
//! formed once per token and block for all eight rows, is taken off again.

use std::arch::x86_64::*;

use rocmforge_gguf::GgmlType;

use super::super::Rows8Fn;
use super::super::scalar::e8m0_half;
use super::{
    IQ4_NL, MXFP4, PREFETCH_BLOCKS, Q4_0, check_rows, f16_at, f16_splat, lanes_f32, nibbles,
    prefetch, q8_0_family_block_bytes, q8_0_family_lut, sum_rows8,
};

/// The VNNI eight-row kernel for `ty`; only hand it out when
/// [`super::has_vnni`] says so.
pub(in super::super) fn kernel(ty: GgmlType) -> Option<Rows8Fn> {
    use GgmlType as T;
    Some(match ty {
        T::Q4_0 => vnni_q4_0,
        T::IQ4_NL => vnni_iq4_nl,
        T::MXFP4 => vnni_mxfp4,
        _ => return None,
    })
}

/// Eight weight rows times `N` tokens; `out` holds `N` tokens × 8 rows.
//
// Plain loops, not closures: a closure would not inherit the target features.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn rows8<const KIND: u8, const N: usize>(rows: &[&[u8]; 8], acts: &[&[u8]], out: &mut [f32]) {
    let wsize = q8_0_family_block_bytes::<KIND>();
    assert_eq!(acts.len(), N, "tile of {N} tokens");
    let nb = check_rows(rows, wsize, acts, 34, out);
    let lut = q8_0_family_lut::<KIND>();
    let offset = _mm256_set1_epi8(if KIND == Q4_0 { 8 } else { i8::MIN });
    let zero = _mm256_setzero_si256();
    let mut acc = [_mm256_setzero_ps(); N];
    let mut y = [zero; N];
    let mut neg = [zero; N];
    let mut dy = [_mm256_setzero_ps(); N];
    for b in 0..nb {
        for row in rows {
            prefetch(row.as_ptr().wrapping_add((b + PREFETCH_BLOCKS) * wsize));
        }
        for t in 0..N {
            let block = &acts[t][b * 34..(b + 1) * 34];
            y[t] = super::load32(&block[2..]);
            neg[t] = _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, offset, y[t]));
            dy[t] = f16_splat(block);
        }
        let mut qu = [zero; 8];
        let mut dw = [0f32; 8];
        for r in 0..8 {
            let x = &rows[r][b * wsize..(b + 1) * wsize];
            qu[r] = match KIND {
                Q4_0 => nibbles(&x[2..]),
                IQ4_NL => _mm256_xor_si256(_mm256_shuffle_epi8(lut, nibbles(&x[2..])), offset),
                _ => _mm256_xor_si256(_mm256_shuffle_epi8(lut, nibbles(&x[1..])), offset),
            };
            dw[r] = if KIND == MXFP4 {
                e8m0_half(x[0])
            } else {
                f16_at(x)
            };
        }
        let dwv = lanes_f32(&dw);
        for t in 0..N {
            let mut p = [zero; 8];
            for r in 0..8 {
                p[r] = _mm256_dpbusd_epi32(neg[t], qu[r], y[t]);
            }
            let sums = _mm256_cvtepi32_ps(sum_rows8(&p));
            acc[t] = _mm256_fmadd_ps(sums, _mm256_mul_ps(dwv, dy[t]), acc[t]);
        }
    }
    for (t, a) in acc.iter().enumerate() {
        let o = &mut out[t * 8..t * 8 + 8];
        // SAFETY: `o` holds eight f32; the store has no alignment requirement.
        unsafe { _mm256_storeu_ps(o.as_mut_ptr(), *a) };
    }
}

/// Defines a safe [`Rows8Fn`] that runs `rows8::<$kind, N>` for `N = acts.len()`.
macro_rules! entries {
    ($($name:ident => $kind:ident);* $(;)?) => {
        $(
            fn $name(rows: &[&[u8]; 8], acts: &[&[u8]], out: &mut [f32], _gemm: usize) {
                // SAFETY: `kernel` hands these functions out only when `has_vnni`
                // found AVX-512 VNNI, VL and BW on top of AVX2, FMA and F16C.
                unsafe {
                    match acts.len() {
                        1 => rows8::<{ $kind }, 1>(rows, acts, out),
                        2 => rows8::<{ $kind }, 2>(rows, acts, out),
                        3 => rows8::<{ $kind }, 3>(rows, acts, out),
                        4 => rows8::<{ $kind }, 4>(rows, acts, out),
                        5 => rows8::<{ $kind }, 5>(rows, acts, out),
                        6 => rows8::<{ $kind }, 6>(rows, acts, out),
                        7 => rows8::<{ $kind }, 7>(rows, acts, out),
                        8 => rows8::<{ $kind }, 8>(rows, acts, out),
                        n => unreachable!("tile of {n} tokens"),
                    }
                }
            }
        )*
    };
}

entries! {
    vnni_q4_0 => Q4_0;
    vnni_iq4_nl => IQ4_NL;
    vnni_mxfp4 => MXFP4;
}
