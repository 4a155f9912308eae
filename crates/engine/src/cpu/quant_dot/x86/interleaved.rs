//! Q4_0 and Q4_K rows regrouped eight at a time (as llama.cpp repacks them for
//! its CPU kernels) and their AVX-512 VNNI kernels.
//!
//! Q4_0 layout, per group of eight rows and per block of 32 values: the eight
//! rows' f16 scales (16 bytes), then for `j` in 0..4 the nibble bytes `4j..4j + 4`
//! of each of the eight rows (128 bytes). One 32-byte load then holds four bytes
//! of every row, one row per 32-bit lane, so `vpdpbusd` with a broadcast of four
//! activation bytes forms each row's sum in its own lane: no transposition, and
//! one stream of weights instead of eight. Q4_K likewise per super-block: the
//! eight `d`, the eight `dmin`, the 6-bit scales and mins unpacked (sub-block
//! by sub-block, a byte per row), then the nibbles four bytes per row at a time.
//! The integer sums equal the eight-row kernels' and are scaled and added in
//! the same order, so the outputs are bit-identical (tested).

use std::arch::x86_64::*;

use super::{Q4kSums, f16_splat, hsum_i32, load16, load32, prefetch_ahead, scales_mins_k4};

/// Bytes of one group's block: eight scales and eight rows of nibbles.
pub(in super::super) const GROUP_BLOCK_BYTES: usize = 8 * 18;

/// Bytes of one Q4_K group's super-block: `d` and `dmin` (32), scales and mins
/// (128), nibbles (1024).
pub(in super::super) const Q4_K_GROUP_BLOCK_BYTES: usize = 32 + 128 + 1024;

/// The interleaved copy of `rows` Q4_K rows of `cols` values; `None` unless the
/// rows come in whole groups of eight.
pub(in super::super) fn interleave_q4_k(data: &[u8], rows: usize, cols: usize) -> Option<Vec<u8>> {
    let nb = cols / 256;
    if rows == 0 || !rows.is_multiple_of(8) || data.len() != rows * nb * 144 {
        return None;
    }
    let mut out = vec![0u8; rows / 8 * nb * Q4_K_GROUP_BLOCK_BYTES];
    for (g, group) in out
        .chunks_exact_mut(nb * Q4_K_GROUP_BLOCK_BYTES)
        .enumerate()
    {
        for (b, dst) in group.chunks_exact_mut(Q4_K_GROUP_BLOCK_BYTES).enumerate() {
            for r in 0..8 {
                let src = &data[((8 * g + r) * nb + b) * 144..][..144];
                dst[2 * r..2 * r + 2].copy_from_slice(&src[..2]);
                dst[16 + 2 * r..18 + 2 * r].copy_from_slice(&src[2..4]);
                let sm = scales_mins_k4(&src[4..16]);
                for k in 0..8 {
                    dst[32 + 8 * k + r] = sm[k];
                    dst[96 + 8 * k + r] = sm[8 + k];
                }
                for quad in 0..32 {
                    let at = 160 + 32 * quad + 4 * r;
                    dst[at..at + 4].copy_from_slice(&src[16 + 4 * quad..20 + 4 * quad]);
                }
            }
        }
    }
    Some(out)
}

/// Eight bytes (one per row) widened to the eight i32 lanes.
#[inline]
#[target_feature(enable = "avx2")]
fn lanes_u8(b: &[u8]) -> __m256i {
    let bytes: [u8; 8] = b[..8].try_into().expect("eight bytes");
    _mm256_cvtepu8_epi32(_mm_set_epi64x(0, i64::from_le_bytes(bytes)))
}

/// Eight interleaved Q4_K rows times `N` tokens, in the order of
/// [`super::q4_k_rows8`]: per pair of sub-blocks for the first `gemm` tokens,
/// per super-block for the others; `out` holds `N` tokens × 8 rows.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn q4_k_rows8<const N: usize>(group: &[u8], acts: &[&[u8]], out: &mut [f32], gemm: usize) {
    let nb = group.len() / Q4_K_GROUP_BLOCK_BYTES;
    assert!(
        group.len() == nb * Q4_K_GROUP_BLOCK_BYTES && acts.len() == N && out.len() == N * 8,
        "interleaved Q4_K group of {nb} blocks, {N} tokens"
    );
    assert!(
        acts.iter().all(|a| a.len() == nb * 292),
        "activation row length"
    );
    let m4 = _mm256_set1_epi8(0x0f);
    let zero = _mm256_setzero_si256();
    let mut sums = Q4kSums::<N>::new(gemm);
    for b in 0..nb {
        let x = &group[b * Q4_K_GROUP_BLOCK_BYTES..(b + 1) * Q4_K_GROUP_BLOCK_BYTES];
        // One token keeps pace with the hardware prefetcher; several do not.
        if N > 1 {
            prefetch_ahead(x.as_ptr(), x.len());
        }
        let dv = _mm256_cvtph_ps(load16(x));
        let dminv = _mm256_cvtph_ps(load16(&x[16..]));
        let y = sums.start_block(acts, b, dv, dminv);
        for j in 0..4 {
            let (k0, k1) = (2 * j, 2 * j + 1);
            let (sc0, sc1) = (lanes_u8(&x[32 + 8 * k0..]), lanes_u8(&x[32 + 8 * k1..]));
            let (mn0, mn1) = (lanes_u8(&x[96 + 8 * k0..]), lanes_u8(&x[96 + 8 * k1..]));
            let mut low = [zero; 8];
            let mut high = [zero; 8];
            for quad in 0..8 {
                let q = load32(&x[160 + 32 * (8 * j + quad)..]);
                low[quad] = _mm256_and_si256(q, m4);
                high[quad] = _mm256_and_si256(_mm256_srli_epi16::<4>(q), m4);
            }
            for (t, &yt) in y.iter().enumerate() {
                let ys = &yt[4..260];
                let (mut p0, mut p1) = (zero, zero);
                for quad in 0..8 {
                    let (a, c) = (64 * j + 4 * quad, 64 * j + 32 + 4 * quad);
                    let lo = i32::from_le_bytes([ys[a], ys[a + 1], ys[a + 2], ys[a + 3]]);
                    let hi = i32::from_le_bytes([ys[c], ys[c + 1], ys[c + 2], ys[c + 3]]);
                    p0 = _mm256_dpbusd_epi32(p0, low[quad], _mm256_set1_epi32(lo));
                    p1 = _mm256_dpbusd_epi32(p1, high[quad], _mm256_set1_epi32(hi));
                }
                let s = _mm256_add_epi32(_mm256_mullo_epi32(p0, sc0), _mm256_mullo_epi32(p1, sc1));
                let bsum =
                    |i: usize| i32::from(i16::from_le_bytes([yt[260 + 2 * i], yt[261 + 2 * i]]));
                let m = _mm256_add_epi32(
                    _mm256_mullo_epi32(mn0, _mm256_set1_epi32(bsum(2 * k0) + bsum(2 * k0 + 1))),
                    _mm256_mullo_epi32(mn1, _mm256_set1_epi32(bsum(2 * k1) + bsum(2 * k1 + 1))),
                );
                sums.add(t, s, m);
            }
        }
        sums.end_block();
    }
    sums.store(out);
}

/// [`q4_k_rows8`] for `acts.len()` tokens (1 to 8). Only call it when
/// [`super::rows4::has_vnni`] says so.
pub(in super::super) fn q4_k_rows8_entry(
    group: &[u8],
    acts: &[&[u8]],
    out: &mut [f32],
    gemm: usize,
) {
    // SAFETY: handed out only after `has_vnni` found AVX-512 VNNI, VL and BW on
    // top of the AVX2, FMA and F16C that `simd_level` found.
    unsafe {
        match acts.len() {
            1 => q4_k_rows8::<1>(group, acts, out, gemm),
            2 => q4_k_rows8::<2>(group, acts, out, gemm),
            3 => q4_k_rows8::<3>(group, acts, out, gemm),
            4 => q4_k_rows8::<4>(group, acts, out, gemm),
            5 => q4_k_rows8::<5>(group, acts, out, gemm),
            6 => q4_k_rows8::<6>(group, acts, out, gemm),
            7 => q4_k_rows8::<7>(group, acts, out, gemm),
            8 => q4_k_rows8::<8>(group, acts, out, gemm),
            n => unreachable!("tile of {n} tokens"),
        }
    }
}

/// The interleaved copy of `rows` Q4_0 rows of `cols` values (`data` as in the
/// file); `None` unless the rows come in whole groups of eight.
pub(in super::super) fn interleave_q4_0(data: &[u8], rows: usize, cols: usize) -> Option<Vec<u8>> {
    let nb = cols / 32;
    if rows == 0 || !rows.is_multiple_of(8) || data.len() != rows * nb * 18 {
        return None;
    }
    let mut out = vec![0u8; data.len()];
    for (g, group) in out.chunks_exact_mut(nb * GROUP_BLOCK_BYTES).enumerate() {
        for (b, dst) in group.chunks_exact_mut(GROUP_BLOCK_BYTES).enumerate() {
            for r in 0..8 {
                let src = &data[((8 * g + r) * nb + b) * 18..][..18];
                dst[2 * r..2 * r + 2].copy_from_slice(&src[..2]);
                for j in 0..4 {
                    let at = 16 + 32 * j + 4 * r;
                    dst[at..at + 4].copy_from_slice(&src[2 + 4 * j..6 + 4 * j]);
                }
            }
        }
    }
    Some(out)
}

/// Eight interleaved rows (`group`: one group's blocks) times `N` tokens; `out`
/// holds `N` tokens × 8 rows.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")]
fn rows8<const N: usize>(group: &[u8], acts: &[&[u8]], out: &mut [f32]) {
    let nb = group.len() / GROUP_BLOCK_BYTES;
    assert!(
        group.len() == nb * GROUP_BLOCK_BYTES && acts.len() == N && out.len() == N * 8,
        "interleaved group of {nb} blocks, {N} tokens"
    );
    assert!(
        acts.iter().all(|a| a.len() == nb * 34),
        "activation row length"
    );
    let m4 = _mm256_set1_epi8(0x0f);
    let ones = _mm256_set1_epi8(1);
    let zero = _mm256_setzero_si256();
    let mut acc = [_mm256_setzero_ps(); N];
    for b in 0..nb {
        let x = &group[b * GROUP_BLOCK_BYTES..(b + 1) * GROUP_BLOCK_BYTES];
        // One token keeps pace with the hardware prefetcher; several do not.
        if N > 1 {
            prefetch_ahead(x.as_ptr(), x.len());
        }
        // SAFETY: `x` has 16 readable bytes for the eight f16 scales.
        let dw = _mm256_cvtph_ps(unsafe { _mm_loadu_si128(x.as_ptr().cast()) });
        // Nibbles j·4.. (low: values 4j..4j+4, high: 16 + 4j..) of every row.
        let mut low = [zero; 4];
        let mut high = [zero; 4];
        for j in 0..4 {
            let q = load32(&x[16 + 32 * j..]);
            low[j] = _mm256_and_si256(q, m4);
            high[j] = _mm256_and_si256(_mm256_srli_epi16::<4>(q), m4);
        }
        for t in 0..N {
            let y = &acts[t][b * 34..(b + 1) * 34];
            let ys = &y[2..];
            // The nibbles are the values plus 8: start from −8·Σy.
            let sum_y = hsum_i32(_mm256_dpbusd_epi32(zero, ones, load32(ys)));
            let mut s = _mm256_set1_epi32(-8 * sum_y);
            for j in 0..4 {
                let (lo, hi) = (&ys[4 * j..4 * j + 4], &ys[16 + 4 * j..20 + 4 * j]);
                let lo = i32::from_le_bytes([lo[0], lo[1], lo[2], lo[3]]);
                let hi = i32::from_le_bytes([hi[0], hi[1], hi[2], hi[3]]);
                s = _mm256_dpbusd_epi32(s, low[j], _mm256_set1_epi32(lo));
                s = _mm256_dpbusd_epi32(s, high[j], _mm256_set1_epi32(hi));
            }
            let d = _mm256_mul_ps(dw, f16_splat(y));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), d, acc[t]);
        }
    }
    for (t, a) in acc.iter().enumerate() {
        let o = &mut out[t * 8..t * 8 + 8];
        // SAFETY: `o` holds eight f32; the store has no alignment requirement.
        unsafe { _mm256_storeu_ps(o.as_mut_ptr(), *a) };
    }
}

/// [`rows8`] for `acts.len()` tokens (1 to 8). Only call it when
/// [`super::rows4::has_vnni`] says so.
pub(in super::super) fn q4_0_rows8(group: &[u8], acts: &[&[u8]], out: &mut [f32], _gemm: usize) {
    // SAFETY: handed out only after `has_vnni` found AVX-512 VNNI, VL and BW on
    // top of the AVX2, FMA and F16C that `simd_level` found.
    unsafe {
        match acts.len() {
            1 => rows8::<1>(group, acts, out),
            2 => rows8::<2>(group, acts, out),
            3 => rows8::<3>(group, acts, out),
            4 => rows8::<4>(group, acts, out),
            5 => rows8::<5>(group, acts, out),
            6 => rows8::<6>(group, acts, out),
            7 => rows8::<7>(group, acts, out),
            8 => rows8::<8>(group, acts, out),
            n => unreachable!("tile of {n} tokens"),
        }
    }
}
