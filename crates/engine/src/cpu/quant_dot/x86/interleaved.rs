//! Q4_0 rows regrouped eight at a time (as llama.cpp repacks them for its CPU
//! kernels) and their AVX-512 VNNI kernel.
//!
//! Layout, per group of eight rows and per block of 32 values: the eight rows'
//! f16 scales (16 bytes), then for `j` in 0..4 the nibble bytes `4j..4j + 4` of
//! each of the eight rows (128 bytes). One 32-byte load then holds four bytes of
//! every row, one row per 32-bit lane, so `vpdpbusd` with a broadcast of four
//! activation bytes forms each row's sum in its own lane: no transposition, and
//! one stream of weights instead of eight. The sums equal the eight-row
//! kernel's and are scaled and added in the same order, so the outputs are
//! bit-identical (tested).

use std::arch::x86_64::*;

use super::{f16_splat, hsum_i32, load32};

/// Bytes of one group's block: eight scales and eight rows of nibbles.
pub(in super::super) const GROUP_BLOCK_BYTES: usize = 8 * 18;

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
pub(in super::super) fn q4_0_rows8(group: &[u8], acts: &[&[u8]], out: &mut [f32]) {
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
