//! AVX2 kernels (with FMA and F16C) for F32, F16, Q4_0, Q5_0, Q8_0, IQ4_NL, MXFP4,
//! Q4_K, Q5_K and Q6_K weights.
//!
//! Each kernel decodes a weight block into registers once and multiplies it with
//! up to [`super::TILE`] activation rows. The integer sums within a block are the
//! ones ggml forms, so results differ from the scalar kernels only in the order
//! floats are added.

mod interleaved;
mod rows4;
mod rows8_vnni;

use std::arch::x86_64::*;

use rocmforge_gguf::GgmlType;

use super::scalar::{KVALUES_IQ4NL, KVALUES_MXFP4, e8m0_half};
use super::{InterleavedFn, RepackedFn, Rows8Fn, TileFn};

/// The AVX2 kernel for `ty`, if there is one. Only call after
/// [`super::simd_level`] found AVX2, FMA and F16C.
pub(super) fn kernel(ty: GgmlType) -> Option<TileFn> {
    use GgmlType as T;
    Some(match ty {
        T::F32 => tile_f32,
        T::F16 => tile_f16,
        T::Q8_0 => tile_q8_0,
        T::Q4_0 => tile_q4_0,
        T::Q5_0 => tile_q5_0,
        T::IQ4_NL => tile_iq4_nl,
        T::MXFP4 => tile_mxfp4,
        T::Q4_K => tile_q4_k,
        T::Q5_K => tile_q5_k,
        T::Q6_K => tile_q6_k,
        _ => return None,
    })
}

#[cfg(test)]
pub(super) use rows4::avx2_kernel as rows4_avx2_kernel;
pub(super) use rows4::{has_vnni, kernel as rows4_kernel};

/// The kernel that multiplies eight weight rows at once in llama.cpp's repacked
/// order for `ty`, where one exists (see [`Rows8Fn`]).
/// Weights of type `ty` regrouped for [`interleaved_kernel`], where this CPU
/// has such a kernel (Q4_0 with AVX-512 VNNI) and the rows come in eights.
pub(super) fn interleave(ty: GgmlType, data: &[u8], rows: usize, cols: usize) -> Option<Vec<u8>> {
    match ty {
        GgmlType::Q4_0 if has_vnni() => interleaved::interleave_q4_0(data, rows, cols),
        GgmlType::Q4_K if has_vnni() => interleaved::interleave_q4_k(data, rows, cols),
        _ => None,
    }
}

/// The kernel for weights that [`interleave`] regrouped, and the bytes of one
/// group's block.
pub(super) fn interleaved_kernel(ty: GgmlType) -> Option<(InterleavedFn, usize)> {
    match ty {
        GgmlType::Q4_0 if has_vnni() => Some((
            interleaved::q4_0_rows8 as InterleavedFn,
            interleaved::GROUP_BLOCK_BYTES,
        )),
        GgmlType::Q4_K if has_vnni() => Some((
            interleaved::q4_k_rows8_entry as InterleavedFn,
            interleaved::Q4_K_GROUP_BLOCK_BYTES,
        )),
        _ => None,
    }
}

pub(super) fn repacked_rows8_kernel(ty: GgmlType) -> Option<Rows8Fn> {
    if has_vnni()
        && let Some(k) = rows8_vnni::kernel(ty)
    {
        return Some(k);
    }
    avx2_rows8_kernel(ty)
}

/// [`repacked_rows8_kernel`] with AVX2 only.
pub(super) fn avx2_rows8_kernel(ty: GgmlType) -> Option<Rows8Fn> {
    use GgmlType as T;
    Some(match ty {
        T::Q4_0 => rows8_q4_0,
        T::IQ4_NL => rows8_iq4_nl,
        T::MXFP4 => rows8_mxfp4,
        T::Q4_K => rows8_q4_k,
        _ => return None,
    })
}

/// The kernel that sums like llama.cpp's repacked 8-row kernels for `ty`, if
/// llama.cpp repacks that type on x86 (see [`super::repacked_by_llama_cpp`]).
pub(super) fn repacked_kernel(ty: GgmlType) -> Option<RepackedFn> {
    use GgmlType as T;
    Some(match ty {
        T::Q4_0 => repacked_q4_0,
        T::IQ4_NL => repacked_iq4_nl,
        T::MXFP4 => repacked_mxfp4,
        T::Q4_K => repacked_q4_k,
        _ => return None,
    })
}

/// The kernel that sums like llama.cpp's tiled K-quant matrix product for `ty`
/// (ggml-cpu's `tiled/`, which takes over batches of 8 or more tokens), if there
/// is one.
pub(super) fn tiled_kernel(ty: GgmlType) -> Option<TileFn> {
    use GgmlType as T;
    Some(match ty {
        T::Q4_K => tiled_q4_k,
        T::Q5_K => tiled_q5_k,
        T::Q6_K => tiled_q6_k,
        _ => return None,
    })
}

/// Defines a safe [`RepackedFn`] that runs `$kernel::<$kind, N>` for
/// `N = acts.len()`.
macro_rules! repacked_entries {
    ($($name:ident => $kernel:ident, $kind:ident);* $(;)?) => {
        $(
            fn $name(w: &[u8], acts: &[&[u8]], out: &mut [f32], gemm: usize) {
                // SAFETY: `repacked_kernel` hands these functions out only when
                // `simd_level` detected AVX2, FMA and F16C, which is all they need.
                unsafe {
                    match acts.len() {
                        1 => $kernel::<{ $kind }, 1>(w, acts, out, gemm),
                        2 => $kernel::<{ $kind }, 2>(w, acts, out, gemm),
                        3 => $kernel::<{ $kind }, 3>(w, acts, out, gemm),
                        4 => $kernel::<{ $kind }, 4>(w, acts, out, gemm),
                        5 => $kernel::<{ $kind }, 5>(w, acts, out, gemm),
                        6 => $kernel::<{ $kind }, 6>(w, acts, out, gemm),
                        7 => $kernel::<{ $kind }, 7>(w, acts, out, gemm),
                        8 => $kernel::<{ $kind }, 8>(w, acts, out, gemm),
                        n => unreachable!("tile of {n} tokens"),
                    }
                }
            }
        )*
    };
}

/// Defines a safe [`Rows8Fn`] that runs `$kernel::<$kind, N>` for
/// `N = acts.len()`.
macro_rules! rows8_entries {
    ($($name:ident => $kernel:ident, $kind:ident);* $(;)?) => {
        $(
            fn $name(rows: &[&[u8]; 8], acts: &[&[u8]], out: &mut [f32], gemm: usize) {
                // SAFETY: `repacked_rows8_kernel` hands these functions out only
                // when `simd_level` detected AVX2, FMA and F16C, all they need.
                unsafe {
                    match acts.len() {
                        1 => $kernel::<{ $kind }, 1>(rows, acts, out, gemm),
                        2 => $kernel::<{ $kind }, 2>(rows, acts, out, gemm),
                        3 => $kernel::<{ $kind }, 3>(rows, acts, out, gemm),
                        4 => $kernel::<{ $kind }, 4>(rows, acts, out, gemm),
                        5 => $kernel::<{ $kind }, 5>(rows, acts, out, gemm),
                        6 => $kernel::<{ $kind }, 6>(rows, acts, out, gemm),
                        7 => $kernel::<{ $kind }, 7>(rows, acts, out, gemm),
                        8 => $kernel::<{ $kind }, 8>(rows, acts, out, gemm),
                        n => unreachable!("tile of {n} tokens"),
                    }
                }
            }
        )*
    };
}

/// Defines a safe [`TileFn`] that runs `$kernel::<$kind, N>` for `N = acts.len()`.
macro_rules! entries {
    ($($name:ident => $kernel:ident, $kind:ident);* $(;)?) => {
        $(
            fn $name(w: &[u8], acts: &[&[u8]], out: &mut [f32]) {
                // SAFETY: `kernel` hands these functions out only when `simd_level`
                // detected AVX2, FMA and F16C, which is all the kernels need.
                unsafe {
                    match acts.len() {
                        1 => $kernel::<{ $kind }, 1>(w, acts, out),
                        2 => $kernel::<{ $kind }, 2>(w, acts, out),
                        3 => $kernel::<{ $kind }, 3>(w, acts, out),
                        4 => $kernel::<{ $kind }, 4>(w, acts, out),
                        5 => $kernel::<{ $kind }, 5>(w, acts, out),
                        6 => $kernel::<{ $kind }, 6>(w, acts, out),
                        7 => $kernel::<{ $kind }, 7>(w, acts, out),
                        8 => $kernel::<{ $kind }, 8>(w, acts, out),
                        n => unreachable!("tile of {n} tokens"),
                    }
                }
            }
        )*
    };
}

const F32: u8 = 0;
const F16: u8 = 1;
const Q8_0: u8 = 0;
const Q4_0: u8 = 1;
const Q5_0: u8 = 2;
const IQ4_NL: u8 = 3;
const MXFP4: u8 = 4;
const Q4_K: u8 = 0;
const Q5_K: u8 = 1;
const Q6_K: u8 = 2;

/// The order a K-quant kernel sums in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KSum {
    /// `ggml_vec_dot_*_q8_K`: eight lanes, added up at the end.
    VecDot,
    /// ggml-cpu's tiled kernel: one running sum per output, one fused
    /// multiply-add per super-block. (Its AVX-512 VNNI micro-kernel multiplies
    /// and adds with separate intrinsics, which GCC's default
    /// `-ffp-contract=fast` fuses; its AVX2 one fuses them explicitly.)
    Tiled,
}

/// Defines safe [`TileFn`]s for the tiled order of the K-quant kernels.
macro_rules! tiled_entries {
    ($($name:ident => $kind:ident);* $(;)?) => {
        $(
            fn $name(w: &[u8], acts: &[&[u8]], out: &mut [f32]) {
                let order = KSum::Tiled;
                // SAFETY: `tiled_kernel` hands these functions out only when
                // `simd_level` detected AVX2, FMA and F16C, which is all they need.
                unsafe {
                    match acts.len() {
                        1 => q8_k_family::<{ $kind }, 1>(w, acts, out, order),
                        2 => q8_k_family::<{ $kind }, 2>(w, acts, out, order),
                        3 => q8_k_family::<{ $kind }, 3>(w, acts, out, order),
                        4 => q8_k_family::<{ $kind }, 4>(w, acts, out, order),
                        5 => q8_k_family::<{ $kind }, 5>(w, acts, out, order),
                        6 => q8_k_family::<{ $kind }, 6>(w, acts, out, order),
                        7 => q8_k_family::<{ $kind }, 7>(w, acts, out, order),
                        8 => q8_k_family::<{ $kind }, 8>(w, acts, out, order),
                        n => unreachable!("tile of {n} tokens"),
                    }
                }
            }
        )*
    };
}

tiled_entries! {
    tiled_q4_k => Q4_K;
    tiled_q5_k => Q5_K;
    tiled_q6_k => Q6_K;
}

/// [`q8_k_family`] in ggml's `vec_dot` order.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q8_k_vec_dot<const KIND: u8, const N: usize>(w: &[u8], acts: &[&[u8]], out: &mut [f32]) {
    q8_k_family::<KIND, N>(w, acts, out, KSum::VecDot)
}

entries! {
    tile_f32 => float, F32;
    tile_f16 => float, F16;
    tile_q8_0 => q8_0_family, Q8_0;
    tile_q4_0 => q8_0_family, Q4_0;
    tile_q5_0 => q8_0_family, Q5_0;
    tile_iq4_nl => q8_0_family, IQ4_NL;
    tile_mxfp4 => q8_0_family, MXFP4;
    tile_q4_k => q8_k_vec_dot, Q4_K;
    tile_q5_k => q8_k_vec_dot, Q5_K;
    tile_q6_k => q8_k_vec_dot, Q6_K;
}

rows8_entries! {
    rows8_q4_0 => q8_0_family_rows8, Q4_0;
    rows8_iq4_nl => q8_0_family_rows8, IQ4_NL;
    rows8_mxfp4 => q8_0_family_rows8, MXFP4;
    rows8_q4_k => q4_k_rows8, Q4_K;
}

repacked_entries! {
    repacked_q4_0 => q8_0_family_repacked, Q4_0;
    repacked_iq4_nl => q8_0_family_repacked, IQ4_NL;
    repacked_mxfp4 => q8_0_family_repacked, MXFP4;
    repacked_q4_k => q4_k_repacked, Q4_K;
}

/// Checks the shapes every kernel relies on; returns the block count.
///
/// # Panics
/// If the tile sizes differ from `n` or a row length is not `blocks * size`.
#[inline]
fn check(w: &[u8], wsize: usize, acts: &[&[u8]], asize: usize, out: &[f32], n: usize) -> usize {
    let nb = w.len() / wsize;
    assert!(acts.len() == n && out.len() == n, "tile of {n} tokens");
    assert_eq!(w.len(), nb * wsize, "weight row length");
    for a in acts {
        assert_eq!(a.len(), nb * asize, "activation row length");
    }
    nb
}

/// Checks the shapes the multi-row kernels rely on (`rows` weight rows of
/// `wsize`-byte blocks, `acts.len()` tokens of `asize`-byte blocks, `out` one
/// value per token and row); returns the block count.
///
/// # Panics
/// If the shapes disagree.
#[inline]
fn check_rows(rows: &[&[u8]], wsize: usize, acts: &[&[u8]], asize: usize, out: &[f32]) -> usize {
    let nb = rows[0].len() / wsize;
    assert!(
        rows.iter().all(|r| r.len() == nb * wsize),
        "weight row length"
    );
    assert_eq!(out.len(), acts.len() * rows.len(), "tokens x rows");
    assert!(
        acts.iter().all(|a| a.len() == nb * asize),
        "activation row length"
    );
    nb
}

/// The lookup table a Q8_0-family type decodes its nibbles with (IQ4_NL's, or
/// MXFP4's for the other types, which do not use it).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q8_0_family_lut<const KIND: u8>() -> __m256i {
    match KIND {
        IQ4_NL => table(&KVALUES_IQ4NL),
        _ => table(&KVALUES_MXFP4),
    }
}

/// Loads 16 bytes from the start of `b`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load16(b: &[u8]) -> __m128i {
    let b = &b[..16];
    // SAFETY: `b` has 16 readable bytes; the load has no alignment requirement.
    unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
}

/// Loads 32 bytes from the start of `b`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load32(b: &[u8]) -> __m256i {
    let b = &b[..32];
    // SAFETY: `b` has 32 readable bytes; the load has no alignment requirement.
    unsafe { _mm256_loadu_si256(b.as_ptr().cast()) }
}

/// The f16 at the start of `b` as f32 (exact).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16_at(b: &[u8]) -> f32 {
    let bits = u16::from_le_bytes([b[0], b[1]]);
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(bits))))
}

/// The f16 at the start of `b` in all eight lanes, as f32 (exact). Unlike
/// [`f16_at`] this needs every lane of a conversion: when only lane 0 is used,
/// LLVM loads the half with `vpinsrw`, which merges into whatever register it
/// picks, and when that holds a running sum each block's scale waits for the
/// previous block's sum.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16_splat(b: &[u8]) -> __m256 {
    let bits = u16::from_le_bytes([b[0], b[1]]);
    _mm256_cvtph_ps(_mm_set1_epi16(bits as i16))
}

/// The f16 at the start of each of `b`'s eight slices, one per lane, as f32
/// (exact), gathered into one register before a single conversion.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16_lanes(b: &[&[u8]; 8]) -> __m256 {
    let h = |r: usize| i16::from_le_bytes([b[r][0], b[r][1]]);
    _mm256_cvtph_ps(_mm_setr_epi16(
        h(0),
        h(1),
        h(2),
        h(3),
        h(4),
        h(5),
        h(6),
        h(7),
    ))
}

/// The f32 at the start of `b`.
#[inline]
fn f32_at(b: &[u8]) -> f32 {
    f32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Sum of the eight i32 lanes (exact for the block sums here).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum_i32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01>(s));
    _mm_cvtsi128_si32(s)
}

/// Sum of the eight lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// Eight values of the float format `KIND` (F32 or F16) as f32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load_floats<const KIND: u8>(b: &[u8]) -> __m256 {
    if KIND == F32 {
        let b = &b[..32];
        // SAFETY: `b` has 32 readable bytes; the load has no alignment requirement.
        unsafe { _mm256_loadu_ps(b.as_ptr().cast()) }
    } else {
        _mm256_cvtph_ps(load16(b))
    }
}

/// Plain float dot products, 16 values per step in two accumulators per token.
#[target_feature(enable = "avx2,fma,f16c")]
fn float<const KIND: u8, const N: usize>(w: &[u8], acts: &[&[u8]], out: &mut [f32]) {
    let es = if KIND == F32 { 4 } else { 2 };
    let n = check(w, es, acts, es, out, N);
    let mut acc0 = [_mm256_setzero_ps(); N];
    let mut acc1 = [_mm256_setzero_ps(); N];
    let main = n / 16 * 16;
    for i in (0..main).step_by(16) {
        let w0 = load_floats::<KIND>(&w[i * es..]);
        let w1 = load_floats::<KIND>(&w[(i + 8) * es..]);
        for t in 0..N {
            let a = acts[t];
            acc0[t] = _mm256_fmadd_ps(w0, load_floats::<KIND>(&a[i * es..]), acc0[t]);
            acc1[t] = _mm256_fmadd_ps(w1, load_floats::<KIND>(&a[(i + 8) * es..]), acc1[t]);
        }
    }
    let value = |b: &[u8], i: usize| {
        if KIND == F32 {
            f32_at(&b[i * 4..])
        } else {
            f16_at(&b[i * 2..])
        }
    };
    for t in 0..N {
        let mut s = hsum(_mm256_add_ps(acc0[t], acc1[t]));
        for i in main..n {
            s += value(w, i) * value(acts[t], i);
        }
        out[t] = s;
    }
}

/// 32 values from 16 bytes of nibbles: low nibbles, then high nibbles.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn nibbles(qs: &[u8]) -> __m256i {
    let q = load16(qs);
    let both = _mm256_set_m128i(_mm_srli_epi16::<4>(q), q);
    _mm256_and_si256(both, _mm256_set1_epi8(0x0f))
}

/// 0xFF in byte `j` where bit `j` of the 32-bit field at `b` is set (ggml's
/// `bytes_from_bits_32`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn bytes_from_bits_32(b: &[u8]) -> __m256i {
    let x = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let shuf = _mm256_set_epi64x(
        0x0303_0303_0303_0303,
        0x0202_0202_0202_0202,
        0x0101_0101_0101_0101,
        0,
    );
    let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(x), shuf);
    let bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe));
    _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1))
}

/// A 16-entry i8 table in both lanes, for `_mm256_shuffle_epi8` lookups.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn table(values: &[i8; 16]) -> __m256i {
    let t = load16(bytemuck::cast_slice(values.as_slice()));
    _mm256_set_m128i(t, t)
}

/// Bytes per weight block of the Q8_0-family type `KIND`.
const fn q8_0_family_block_bytes<const KIND: u8>() -> usize {
    match KIND {
        Q8_0 => 34,
        Q4_0 | IQ4_NL => 18,
        Q5_0 => 22,
        _ => 17,
    }
}

/// The 32 values of one weight block of the Q8_0 family as signed bytes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q8_0_family_values<const KIND: u8>(x: &[u8], lut: __m256i) -> __m256i {
    match KIND {
        Q8_0 => load32(&x[2..]),
        Q4_0 => _mm256_sub_epi8(nibbles(&x[2..]), _mm256_set1_epi8(8)),
        Q5_0 => {
            // Values without their high bit become nibble - 16 by setting the
            // top nibble; values with it are the nibble + 16 - 16.
            let high = _mm256_andnot_si256(bytes_from_bits_32(&x[2..]), _mm256_set1_epi8(-16));
            _mm256_or_si256(nibbles(&x[6..]), high)
        }
        _ => _mm256_shuffle_epi8(lut, nibbles(&x[if KIND == IQ4_NL { 2 } else { 1 }..])),
    }
}

/// The scale of one weight block of the Q8_0 family in all eight lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q8_0_family_scale<const KIND: u8>(x: &[u8]) -> __m256 {
    if KIND == MXFP4 {
        _mm256_set1_ps(e8m0_half(x[0]))
    } else {
        f16_splat(x)
    }
}

/// Decodes one weight block of the Q8_0 family to 32 signed bytes and its scale.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn decode_q8_0_family<const KIND: u8>(x: &[u8], lut: __m256i) -> (__m256i, f32) {
    let d = if KIND == MXFP4 {
        e8m0_half(x[0])
    } else {
        f16_at(x)
    };
    (q8_0_family_values::<KIND>(x, lut), d)
}

/// Adds `dw * dy * Σ q·y` for one block to `acc` (`dw` in every lane).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q8_0_block(q: __m256i, dw: __m256, y: &[u8], acc: __m256) -> __m256 {
    // maddubs needs an unsigned operand: |q| times y with q's sign.
    let aq = _mm256_sign_epi8(q, q);
    let sy = _mm256_sign_epi8(load32(&y[2..]), q);
    let p = _mm256_madd_epi16(_mm256_maddubs_epi16(aq, sy), _mm256_set1_epi16(1));
    let d = _mm256_mul_ps(dw, f16_splat(y));
    _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc)
}

/// Weight types whose activations are Q8_0 blocks of 32: the block is decoded to
/// 32 signed bytes and a scale, then multiplied with each token's block.
#[target_feature(enable = "avx2,fma,f16c")]
fn q8_0_family<const KIND: u8, const N: usize>(w: &[u8], acts: &[&[u8]], out: &mut [f32]) {
    let wsize = q8_0_family_block_bytes::<KIND>();
    let nb = check(w, wsize, acts, 34, out, N);
    let lut = q8_0_family_lut::<KIND>();
    if N == 1 {
        // Decode: one accumulator as ggml, no index arithmetic.
        let mut acc = _mm256_setzero_ps();
        for (x, y) in w.chunks_exact(wsize).zip(acts[0].chunks_exact(34)) {
            let q = q8_0_family_values::<KIND>(x, lut);
            acc = q8_0_block(q, q8_0_family_scale::<KIND>(x), y, acc);
        }
        out[0] = hsum(acc);
        return;
    }
    let mut acc = [_mm256_setzero_ps(); N];
    for b in 0..nb {
        let x = &w[b * wsize..(b + 1) * wsize];
        let (q, dw) = (
            q8_0_family_values::<KIND>(x, lut),
            q8_0_family_scale::<KIND>(x),
        );
        for t in 0..N {
            acc[t] = q8_0_block(q, dw, &acts[t][b * 34..(b + 1) * 34], acc[t]);
        }
    }
    for t in 0..N {
        out[t] = hsum(acc[t]);
    }
}

/// The Q8_0-family weights as llama.cpp's `gemv/gemm_q4_b32_8x8_q8_0` sum them:
/// per output one running sum, `acc = fma(Σ q·y, dw·dy, acc)` block by block.
/// Both kernels sum alike, so `_gemm` (the tokens of the tile in a 4-row group)
/// does not matter here.
#[target_feature(enable = "avx2,fma,f16c")]
fn q8_0_family_repacked<const KIND: u8, const N: usize>(
    w: &[u8],
    acts: &[&[u8]],
    out: &mut [f32],
    _gemm: usize,
) {
    let wsize = if KIND == MXFP4 { 17 } else { 18 };
    let nb = check(w, wsize, acts, 34, out, N);
    let lut = q8_0_family_lut::<KIND>();
    if N == 1 {
        // Decode: no index arithmetic.
        let mut acc = 0f32;
        for (x, y) in w.chunks_exact(wsize).zip(acts[0].chunks_exact(34)) {
            let (q, dw) = decode_q8_0_family::<KIND>(x, lut);
            let sy = _mm256_sign_epi8(load32(&y[2..]), q);
            let p = _mm256_madd_epi16(
                _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), sy),
                _mm256_set1_epi16(1),
            );
            acc = (hsum_i32(p) as f32).mul_add(dw * f16_at(y), acc);
        }
        out[0] = acc;
        return;
    }
    let mut acc = [0f32; N];
    for b in 0..nb {
        let (q, dw) = decode_q8_0_family::<KIND>(&w[b * wsize..(b + 1) * wsize], lut);
        let aq = _mm256_sign_epi8(q, q);
        for t in 0..N {
            let y = &acts[t][b * 34..(b + 1) * 34];
            let sy = _mm256_sign_epi8(load32(&y[2..]), q);
            let p = _mm256_madd_epi16(_mm256_maddubs_epi16(aq, sy), _mm256_set1_epi16(1));
            acc[t] = (hsum_i32(p) as f32).mul_add(dw * f16_at(y), acc[t]);
        }
    }
    out.copy_from_slice(&acc);
}

/// How many blocks ahead the eight-row kernels prefetch each row.
const PREFETCH_BLOCKS: usize = 8;

/// Asks for the cache line at `p` (a hint that never faults: an address past
/// the end of a buffer is allowed).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn prefetch(p: *const u8) {
    _mm_prefetch::<_MM_HINT_T0>(p.cast());
}

/// How far ahead of the weights being read the multi-token kernels prefetch.
/// With several tokens per weight block they spend long enough on each block
/// that the hardware prefetcher alone falls behind (qwen2-0.5B Q8_0, eight
/// tokens per step: 96 -> 152 tokens/s against 8 blocks ahead).
const PREFETCH_BYTES: usize = 4096;

/// Prefetches every cache line of `len` bytes starting [`PREFETCH_BYTES`] past
/// `p` (addresses past the data are harmless: prefetches do not fault).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn prefetch_ahead(p: *const u8, len: usize) {
    let ahead = p.wrapping_add(PREFETCH_BYTES);
    for line in (0..len).step_by(64) {
        prefetch(ahead.wrapping_add(line));
    }
}

/// Eight values as lanes, built in registers (a vector load right after eight
/// scalar stores would stall on store forwarding).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn lanes_f32(v: &[f32; 8]) -> __m256 {
    _mm256_setr_ps(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7])
}

/// Eight `Σ q·y` vectors (one per weight row, eight partial sums each) reduced
/// to one vector whose lane `r` holds row `r`'s total. Integer sums are exact in
/// any order.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn sum_rows8(p: &[__m256i; 8]) -> __m256i {
    let h01 = _mm256_hadd_epi32(p[0], p[1]);
    let h23 = _mm256_hadd_epi32(p[2], p[3]);
    let h45 = _mm256_hadd_epi32(p[4], p[5]);
    let h67 = _mm256_hadd_epi32(p[6], p[7]);
    // Per 128-bit half: rows 0..3 (or 4..7), each the sum of that half's lanes.
    let h0123 = _mm256_hadd_epi32(h01, h23);
    let h4567 = _mm256_hadd_epi32(h45, h67);
    let low = _mm256_permute2x128_si256::<0x20>(h0123, h4567);
    let high = _mm256_permute2x128_si256::<0x31>(h0123, h4567);
    _mm256_add_epi32(low, high)
}

/// [`q8_0_family_repacked`] for eight weight rows at once, one row per lane:
/// each lane adds exactly what the single-row kernel adds, in the same order
/// (`acc = fma(Σ q·y, dw·dy, acc)` block by block), without a horizontal sum
/// per block. `out` holds `N` tokens × 8 rows.
#[target_feature(enable = "avx2,fma,f16c")]
fn q8_0_family_rows8<const KIND: u8, const N: usize>(
    rows: &[&[u8]; 8],
    acts: &[&[u8]],
    out: &mut [f32],
    _gemm: usize,
) {
    let wsize = q8_0_family_block_bytes::<KIND>();
    assert_eq!(acts.len(), N, "tile of {N} tokens");
    let nb = check_rows(rows, wsize, acts, 34, out);
    let lut = q8_0_family_lut::<KIND>();
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_setzero_ps(); N];
    for b in 0..nb {
        // Eight row streams are more than the hardware prefetcher follows well.
        for row in rows {
            prefetch(row.as_ptr().wrapping_add((b + PREFETCH_BLOCKS) * wsize));
        }
        let mut q = [_mm256_setzero_si256(); 8];
        let mut aq = [_mm256_setzero_si256(); 8];
        let mut dw = [0f32; 8];
        for r in 0..8 {
            let (qr, d) = decode_q8_0_family::<KIND>(&rows[r][b * wsize..(b + 1) * wsize], lut);
            q[r] = qr;
            aq[r] = _mm256_sign_epi8(qr, qr);
            dw[r] = d;
        }
        let dwv = lanes_f32(&dw);
        for t in 0..N {
            let y = &acts[t][b * 34..(b + 1) * 34];
            let yv = load32(&y[2..]);
            let mut p = [_mm256_setzero_si256(); 8];
            for r in 0..8 {
                let sy = _mm256_sign_epi8(yv, q[r]);
                p[r] = _mm256_madd_epi16(_mm256_maddubs_epi16(aq[r], sy), ones);
            }
            let sums = _mm256_cvtepi32_ps(sum_rows8(&p));
            let d = _mm256_mul_ps(dwv, f16_splat(y));
            acc[t] = _mm256_fmadd_ps(sums, d, acc[t]);
        }
    }
    for (t, a) in acc.iter().enumerate() {
        let o = &mut out[t * 8..t * 8 + 8];
        // SAFETY: `o` holds eight f32; the store has no alignment requirement.
        unsafe { _mm256_storeu_ps(o.as_mut_ptr(), *a) };
    }
}

/// [`q4_k_repacked`] for eight weight rows at once, one row per lane: each lane
/// adds what the one-row kernel adds, in the same order (per pair of sub-blocks
/// for the first `gemm` tokens, per super-block for the others), without a
/// horizontal sum per step. `out` holds `N` tokens × 8 rows.
#[target_feature(enable = "avx2,fma,f16c")]
fn q4_k_rows8<const KIND: u8, const N: usize>(
    rows: &[&[u8]; 8],
    acts: &[&[u8]],
    out: &mut [f32],
    gemm: usize,
) {
    let nb = rows[0].len() / 144;
    assert!(
        rows.iter().all(|r| r.len() == nb * 144),
        "weight row length"
    );
    assert!(acts.len() == N && out.len() == N * 8, "tile of {N} tokens");
    assert!(
        acts.iter().all(|a| a.len() == nb * 292),
        "activation row length"
    );
    let m4 = _mm256_set1_epi8(0x0f);
    let mut sums = Q4kSums::<N>::new(gemm);
    for b in 0..nb {
        let mut x: [&[u8]; 8] = [&[]; 8];
        let mut x_dmin: [&[u8]; 8] = [&[]; 8];
        let mut sm = [[0u8; 16]; 8];
        for r in 0..8 {
            x[r] = &rows[r][b * 144..(b + 1) * 144];
            x_dmin[r] = &x[r][2..];
            sm[r] = scales_mins_k4(&x[r][4..16]);
        }
        let (dv, dminv) = (f16_lanes(&x), f16_lanes(&x_dmin));
        // Plain loops, not `array::from_fn` closures: a closure does not inherit
        // the target features, so its intrinsics became calls.
        // Sub-block k's min of each row, one per lane.
        let mut mins = [_mm256_setzero_si256(); 8];
        for (k, m) in mins.iter_mut().enumerate() {
            let lane = |r: usize| i32::from(sm[r][8 + k]);
            *m = _mm256_setr_epi32(
                lane(0),
                lane(1),
                lane(2),
                lane(3),
                lane(4),
                lane(5),
                lane(6),
                lane(7),
            );
        }
        let y = sums.start_block(acts, b, dv, dminv);
        for j in 0..4 {
            let mut v = [[_mm256_setzero_si256(); 2]; 8];
            let mut sc = [[_mm256_setzero_si256(); 2]; 8];
            for r in 0..8 {
                let q = load32(&x[r][16 + 32 * j..]);
                v[r] = [
                    _mm256_and_si256(q, m4),
                    _mm256_and_si256(_mm256_srli_epi16::<4>(q), m4),
                ];
                sc[r] = [
                    _mm256_set1_epi16(i16::from(sm[r][2 * j])),
                    _mm256_set1_epi16(i16::from(sm[r][2 * j + 1])),
                ];
            }
            for (t, &yt) in y.iter().enumerate() {
                let (y0, y1) = (load32(&yt[4 + 64 * j..]), load32(&yt[36 + 64 * j..]));
                let mut p = [_mm256_setzero_si256(); 8];
                for r in 0..8 {
                    let a = _mm256_madd_epi16(_mm256_maddubs_epi16(v[r][0], y0), sc[r][0]);
                    let b = _mm256_madd_epi16(_mm256_maddubs_epi16(v[r][1], y1), sc[r][1]);
                    p[r] = _mm256_add_epi32(a, b);
                }
                let s = sum_rows8(&p);
                let bsum =
                    |i: usize| i32::from(i16::from_le_bytes([yt[260 + 2 * i], yt[261 + 2 * i]]));
                let (k0, k1) = (2 * j, 2 * j + 1);
                let m = _mm256_add_epi32(
                    _mm256_mullo_epi32(
                        mins[k0],
                        _mm256_set1_epi32(bsum(2 * k0) + bsum(2 * k0 + 1)),
                    ),
                    _mm256_mullo_epi32(
                        mins[k1],
                        _mm256_set1_epi32(bsum(2 * k1) + bsum(2 * k1 + 1)),
                    ),
                );
                sums.add(t, s, m);
            }
        }
        sums.end_block();
    }
    sums.store(out);
}

/// The running sums of eight Q4_K rows times `N` tokens, added as llama.cpp's
/// repacked kernels add them: tokens of 4-token groups (the first `gemm`) per
/// pair of sub-blocks, the others per super-block; the mins' share apart and
/// subtracted at the end. Shared by the plain and the interleaved kernels.
struct Q4kSums<const N: usize> {
    gemm: usize,
    acc: [__m256; N],
    acc_min: [__m256; N],
    /// The current super-block's d·dy and dmin·dy per token.
    dd: [__m256; N],
    dm: [__m256; N],
    /// The current super-block's integer totals of the per-super-block tokens.
    s_block: [__m256i; N],
    m_block: [__m256i; N],
}

impl<const N: usize> Q4kSums<N> {
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn new(gemm: usize) -> Self {
        Self {
            gemm,
            acc: [_mm256_setzero_ps(); N],
            acc_min: [_mm256_setzero_ps(); N],
            dd: [_mm256_setzero_ps(); N],
            dm: [_mm256_setzero_ps(); N],
            s_block: [_mm256_setzero_si256(); N],
            m_block: [_mm256_setzero_si256(); N],
        }
    }

    /// Starts super-block `b` with the rows' scales `dv` and mins `dminv`;
    /// returns each token's Q8_K block.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn start_block<'a>(
        &mut self,
        acts: &[&'a [u8]],
        b: usize,
        dv: __m256,
        dminv: __m256,
    ) -> [&'a [u8]; N] {
        let mut y: [&[u8]; N] = [&[]; N];
        for t in 0..N {
            y[t] = &acts[t][b * 292..(b + 1) * 292];
            let dy = _mm256_set1_ps(f32_at(y[t]));
            self.dd[t] = _mm256_mul_ps(dv, dy);
            self.dm[t] = _mm256_mul_ps(dminv, dy);
            self.s_block[t] = _mm256_setzero_si256();
            self.m_block[t] = _mm256_setzero_si256();
        }
        y
    }

    /// Adds token `t`'s integer sums of one pair of sub-blocks: `s` of
    /// scale·q·y, `m` of min·Σy, one row per lane.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn add(&mut self, t: usize, s: __m256i, m: __m256i) {
        if t < self.gemm {
            self.acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), self.dd[t], self.acc[t]);
            self.acc_min[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(m), self.dm[t], self.acc_min[t]);
        } else {
            self.s_block[t] = _mm256_add_epi32(self.s_block[t], s);
            self.m_block[t] = _mm256_add_epi32(self.m_block[t], m);
        }
    }

    /// Ends the super-block: the per-super-block tokens add their totals.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn end_block(&mut self) {
        for t in self.gemm.min(N)..N {
            let (s, m) = (self.s_block[t], self.m_block[t]);
            self.acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), self.dd[t], self.acc[t]);
            self.acc_min[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(m), self.dm[t], self.acc_min[t]);
        }
    }

    /// `out[t * 8 + r]`: row `r`'s result for token `t`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn store(&self, out: &mut [f32]) {
        for t in 0..N {
            let o = &mut out[t * 8..t * 8 + 8];
            // SAFETY: `o` holds eight f32; the store has no alignment requirement.
            unsafe {
                _mm256_storeu_ps(o.as_mut_ptr(), _mm256_sub_ps(self.acc[t], self.acc_min[t]))
            };
        }
    }
}

/// Q4_K weights as llama.cpp's repacked kernels sum them: per output one running
/// sum for the scales' share and one for the mins' share, subtracted at the end.
/// `ggml_gemm_q4_K_8x8_q8_K` (the first `gemm` tokens of the tile) adds per pair
/// of sub-blocks (64 values), `ggml_gemv_q4_K_8x8_q8_K` (the others) per
/// super-block of 256.
#[target_feature(enable = "avx2,fma,f16c")]
fn q4_k_repacked<const KIND: u8, const N: usize>(
    w: &[u8],
    acts: &[&[u8]],
    out: &mut [f32],
    gemm: usize,
) {
    let nb = check(w, 144, acts, 292, out, N);
    let m4 = _mm256_set1_epi8(0x0f);
    let mut acc = [0f32; N];
    let mut acc_min = [0f32; N];
    for b in 0..nb {
        let x = &w[b * 144..(b + 1) * 144];
        let (d, dmin) = (f16_at(x), f16_at(&x[2..]));
        let sm = scales_mins_k4(&x[4..16]);
        let mut v = [_mm256_setzero_si256(); 8];
        for j in 0..4 {
            let q = load32(&x[16 + 32 * j..]);
            v[2 * j] = _mm256_and_si256(q, m4);
            v[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16::<4>(q), m4);
        }
        let mut sc = [_mm256_setzero_si256(); 8];
        for (k, sc) in sc.iter_mut().enumerate() {
            *sc = _mm256_set1_epi16(i16::from(sm[k]));
        }
        for t in 0..N {
            let y = &acts[t][b * 292..(b + 1) * 292];
            let yd = f32_at(y);
            let (dd, dm) = (d * yd, dmin * yd);
            // Σ q·y of sub-block k times its scale, in eight lanes (formed in a
            // plain loop: a closure would not inherit the target features).
            let mut dots = [_mm256_setzero_si256(); 8];
            for (k, dot) in dots.iter_mut().enumerate() {
                let p = _mm256_maddubs_epi16(v[k], load32(&y[4 + 32 * k..]));
                *dot = _mm256_madd_epi16(p, sc[k]);
            }
            let dot = |k: usize| dots[k];
            // Sub-block k's activation sum times its min.
            let min = |k: usize| {
                let bsum =
                    |i: usize| i32::from(i16::from_le_bytes([y[260 + 2 * i], y[261 + 2 * i]]));
                i32::from(sm[8 + k]) * (bsum(2 * k) + bsum(2 * k + 1))
            };
            if t < gemm {
                for j in 0..4 {
                    let s = hsum_i32(_mm256_add_epi32(dot(2 * j), dot(2 * j + 1)));
                    acc[t] = (s as f32).mul_add(dd, acc[t]);
                    let m = min(2 * j) + min(2 * j + 1);
                    acc_min[t] = (m as f32).mul_add(dm, acc_min[t]);
                }
            } else {
                let mut s = dot(0);
                for k in 1..8 {
                    s = _mm256_add_epi32(s, dot(k));
                }
                acc[t] = (hsum_i32(s) as f32).mul_add(dd, acc[t]);
                let m: i32 = (0..8).map(min).sum();
                acc_min[t] = (m as f32).mul_add(dm, acc_min[t]);
            }
        }
    }
    for t in 0..N {
        out[t] = acc[t] - acc_min[t];
    }
}

/// A vector of 16 i16: `lo` in the low lane, `hi` in the high lane.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn scale_pair(lo: i16, hi: i16) -> __m256i {
    _mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo))
}

/// ggml's `utmp` unpacking of Q4_K/Q5_K scales: eight 6-bit scales, then the eight
/// 6-bit mins.
#[inline]
fn scales_mins_k4(s: &[u8]) -> [u8; 16] {
    const KMASK1: u32 = 0x3f3f_3f3f;
    const KMASK2: u32 = 0x0f0f_0f0f;
    const KMASK3: u32 = 0x0303_0303;
    let u = |i: usize| u32::from_le_bytes([s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]]);
    let (u0, u1, u2) = (u(0), u(1), u(2));
    let out = [
        u0 & KMASK1,
        (u2 & KMASK2) | (((u0 >> 6) & KMASK3) << 4),
        u1 & KMASK1,
        ((u2 >> 4) & KMASK2) | (((u1 >> 6) & KMASK3) << 4),
    ];
    bytemuck::cast(out.map(u32::to_le))
}

/// K-quants, whose activations are Q8_K blocks of 256: each super-block is decoded
/// to 256 unsigned bytes with an i16 scale per 16 values, and a correction per 16
/// values (mins, or Q6_K's offset of 32) that multiplies the activations' sums.
#[target_feature(enable = "avx2,fma,f16c")]
fn q8_k_family<const KIND: u8, const N: usize>(
    w: &[u8],
    acts: &[&[u8]],
    out: &mut [f32],
    order: KSum,
) {
    let wsize = match KIND {
        Q4_K => 144,
        Q5_K => 176,
        _ => 210,
    };
    let nb = check(w, wsize, acts, 292, out, N);
    let m4 = _mm256_set1_epi8(0x0f);
    let m3 = _mm256_set1_epi8(3);
    let one = _mm256_set1_epi8(1);
    let mut acc = [_mm256_setzero_ps(); N];
    // The mins' share, summed as ggml does: four lanes for Q4_K, one scalar for Q5_K.
    let mut acc_min4 = [_mm_setzero_ps(); N];
    let mut acc_min1 = [0.0f32; N];
    let mut acc_tiled = [0.0f32; N];
    for b in 0..nb {
        let x = &w[b * wsize..(b + 1) * wsize];
        let mut mins16 = _mm_setzero_si128();
        let mut v = [_mm256_setzero_si256(); 8];
        let mut sc = [_mm256_setzero_si256(); 8];
        // Per 16 values: what multiplies the activations' sums.
        let corr: __m256i;
        let (d, dmin);
        if KIND == Q6_K {
            let (ql, qh) = (&x[..128], &x[128..192]);
            for h in 0..2 {
                let l0 = load32(&ql[64 * h..]);
                let l1 = load32(&ql[64 * h + 32..]);
                let hb = load32(&qh[32 * h..]);
                let hi = |s: i32| {
                    let bits = _mm256_and_si256(_mm256_srl_epi16(hb, _mm_cvtsi32_si128(s)), m3);
                    _mm256_slli_epi16::<4>(bits)
                };
                v[4 * h] = _mm256_or_si256(_mm256_and_si256(l0, m4), hi(0));
                v[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(l1, m4), hi(2));
                v[4 * h + 2] =
                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(l0), m4), hi(4));
                v[4 * h + 3] =
                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16::<4>(l1), m4), hi(6));
            }
            let s = &x[192..208];
            for (k, sk) in sc.iter_mut().enumerate() {
                *sk = scale_pair(i16::from(s[2 * k] as i8), i16::from(s[2 * k + 1] as i8));
            }
            // Values are stored + 32: subtract 32 * scale * sum(y) per 16.
            corr = _mm256_slli_epi16::<5>(_mm256_cvtepi8_epi16(load16(s)));
            d = f16_at(&x[208..]);
            dmin = 0.0;
        } else {
            let sm = scales_mins_k4(&x[4..16]);
            for (k, sk) in sc.iter_mut().enumerate() {
                let s = i16::from(sm[k]);
                *sk = scale_pair(s, s);
            }
            let mins = load16(&sm);
            let dup = _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
            corr = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(mins, dup));
            mins16 = _mm_cvtepu8_epi16(_mm_srli_si128::<8>(mins));
            let qs = if KIND == Q4_K {
                &x[16..144]
            } else {
                &x[48..176]
            };
            for j in 0..4 {
                let q = load32(&qs[32 * j..]);
                v[2 * j] = _mm256_and_si256(q, m4);
                v[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16::<4>(q), m4);
            }
            if KIND == Q5_K {
                let hb = load32(&x[16..48]);
                for (k, vk) in v.iter_mut().enumerate() {
                    let bit =
                        _mm256_and_si256(_mm256_srl_epi16(hb, _mm_cvtsi32_si128(k as i32)), one);
                    *vk = _mm256_or_si256(*vk, _mm256_slli_epi16::<4>(bit));
                }
            }
            d = f16_at(x);
            dmin = f16_at(&x[2..]);
        }
        for t in 0..N {
            let y = &acts[t][b * 292..(b + 1) * 292];
            let yq = &y[4..260];
            let mut isum = _mm256_setzero_si256();
            for k in 0..8 {
                let p = _mm256_maddubs_epi16(v[k], load32(&yq[32 * k..]));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, sc[k]));
            }
            let bsums = load32(&y[260..]);
            let yd = f32_at(y);
            if KIND == Q6_K {
                isum = _mm256_sub_epi32(isum, _mm256_madd_epi16(bsums, corr));
            }
            if order == KSum::Tiled {
                // (Σ scale·q·y · d − Σ min·sum(y) · dmin) · dy, added to one sum.
                let mut r = hsum_i32(isum) as f32 * d;
                if KIND != Q6_K {
                    let sums = _mm_hadd_epi16(
                        _mm256_castsi256_si128(bsums),
                        _mm256_extracti128_si256::<1>(bsums),
                    );
                    let s2 = hsum_i32(_mm256_set_m128i(
                        _mm_setzero_si128(),
                        _mm_madd_epi16(mins16, sums),
                    ));
                    r = (-dmin).mul_add(s2 as f32, r);
                }
                acc_tiled[t] = r.mul_add(yd, acc_tiled[t]);
                continue;
            }
            if KIND != Q6_K {
                // Sums of 32 activations per sub-block, times that sub-block's min.
                let sums = _mm_hadd_epi16(
                    _mm256_castsi256_si128(bsums),
                    _mm256_extracti128_si256::<1>(bsums),
                );
                let prod = _mm_madd_epi16(mins16, sums);
                let dmin_neg = -yd * dmin;
                if KIND == Q4_K {
                    acc_min4[t] =
                        _mm_fmadd_ps(_mm_set1_ps(dmin_neg), _mm_cvtepi32_ps(prod), acc_min4[t]);
                } else {
                    let zero = _mm_setzero_si128();
                    let total = _mm_cvtsi128_si32(_mm_hadd_epi32(_mm_hadd_epi32(prod, zero), zero));
                    acc_min1[t] = dmin_neg.mul_add(total as f32, acc_min1[t]);
                }
            }
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(yd * d), _mm256_cvtepi32_ps(isum), acc[t]);
        }
    }
    if order != KSum::VecDot {
        out.copy_from_slice(&acc_tiled);
        return;
    }
    for t in 0..N {
        let m = acc_min4[t];
        let m = _mm_add_ps(m, _mm_movehl_ps(m, m));
        let m = _mm_cvtss_f32(_mm_add_ss(m, _mm_movehdup_ps(m)));
        out[t] = match KIND {
            Q4_K => hsum(acc[t]) + m,
            Q5_K => hsum(acc[t]) + acc_min1[t],
            _ => hsum(acc[t]),
        };
    }
}
