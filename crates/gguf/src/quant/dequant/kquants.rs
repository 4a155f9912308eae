//! The k-quants: super-blocks of 256 weights with quantized sub-block scales.
//!
//! Sub-block scales are combined with the super-block scale first, as ggml does
//! (`d * sc` in f32), and that product then multiplies each quantized value.

use super::{f16_at, u32_at};

/// `block_q2_K`: 16 bytes of 4-bit scale/min pairs, 64 bytes of 2-bit values, f16
/// `d` and `dmin`. `x = d * sc * q - dmin * m` per 16 weights.
pub(super) fn q2_k(block: &[u8; 84], out: &mut [f32; 256]) {
    let d = f16_at(block, 80);
    let dmin = f16_at(block, 82);
    // Each 32-byte half of `qs` holds 128 weights as four 2-bit planes; each plane
    // is two sub-blocks of 16 with their own scale byte.
    for half in 0..2 {
        let qs = &block[16 + 32 * half..48 + 32 * half];
        for plane in 0..4 {
            let shift = 2 * plane;
            for sub in 0..2 {
                let sc = block[8 * half + 2 * plane + sub];
                let dl = d * f32::from(sc & 0x0f);
                let ml = dmin * f32::from(sc >> 4);
                let base = 128 * half + 32 * plane + 16 * sub;
                for l in 0..16 {
                    let q = (qs[16 * sub + l] >> shift) & 3;
                    out[base + l] = dl * f32::from(q) - ml;
                }
            }
        }
    }
}

/// Unpacks Q3_K's sixteen 6-bit scales from their 12-byte packing (low nibbles in
/// bytes 0–7, the two high bits of each in bytes 8–11).
fn q3_k_scales(packed: [u32; 3]) -> [u8; 16] {
    const LOW: u32 = 0x0f0f_0f0f;
    const HIGH: u32 = 0x0303_0303;
    let [a0, a1, hi] = packed;
    let words = [
        (a0 & LOW) | ((hi & HIGH) << 4),
        (a1 & LOW) | (((hi >> 2) & HIGH) << 4),
        ((a0 >> 4) & LOW) | (((hi >> 4) & HIGH) << 4),
        ((a1 >> 4) & LOW) | (((hi >> 6) & HIGH) << 4),
    ];
    let mut scales = [0; 16];
    for (chunk, word) in scales.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    scales
}

/// `block_q3_K`: 32 bytes of high bits, 64 bytes of 2-bit values, 12 bytes of 6-bit
/// scales, f16 `d`. `x = d * (sc - 32) * q` with `q` in `-4..=3` per 16 weights.
pub(super) fn q3_k(block: &[u8; 110], out: &mut [f32; 256]) {
    let d = f16_at(block, 108);
    let scales = q3_k_scales([u32_at(block, 96), u32_at(block, 100), u32_at(block, 104)]);
    let hmask = &block[..32];
    for half in 0..2 {
        let qs = &block[32 + 32 * half..64 + 32 * half];
        for plane in 0..4 {
            let shift = 2 * plane;
            // The high-bit planes run over all 256 weights: bit `4 * half + plane`.
            let high = 1u8 << (4 * half + plane);
            for sub in 0..2 {
                let sc = scales[8 * half + 2 * plane + sub];
                let dl = d * (i32::from(sc) - 32) as f32;
                let base = 128 * half + 32 * plane + 16 * sub;
                for l in 0..16 {
                    let i = 16 * sub + l;
                    let low = i32::from((qs[i] >> shift) & 3);
                    let q = if hmask[i] & high != 0 { low } else { low - 4 };
                    out[base + l] = dl * q as f32;
                }
            }
        }
    }
}

/// The 6-bit scale and minimum of sub-block `j` (0..8) of Q4_K and Q5_K: the first
/// four sit in the low 6 bits of bytes 0–7, the last four are split between the
/// nibbles of bytes 8–11 and the top 2 bits of bytes 0–7.
#[inline(always)]
pub(super) fn scale_min_k4(j: usize, scales: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (scales[j] & 63, scales[j + 4] & 63)
    } else {
        let sc = (scales[j + 4] & 0x0f) | ((scales[j - 4] >> 6) << 4);
        let m = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
        (sc, m)
    }
}

/// The 12 packed scale bytes of a Q4_K or Q5_K block (at offset 4).
#[inline(always)]
pub(super) fn k4_scales<const N: usize>(block: &[u8; N]) -> [u8; 12] {
    let mut scales = [0; 12];
    scales.copy_from_slice(&block[4..16]);
    scales
}

/// `(d * sc, dmin * m)` for each of the eight sub-blocks of 32 weights.
#[inline(always)]
pub(super) fn k4_factors<const N: usize>(block: &[u8; N]) -> [(f32, f32); 8] {
    let d = f16_at(block, 0);
    let dmin = f16_at(block, 2);
    let scales = k4_scales(block);
    std::array::from_fn(|j| {
        let (sc, m) = scale_min_k4(j, &scales);
        (d * f32::from(sc), dmin * f32::from(m))
    })
}

/// `block_q4_K`: f16 `d` and `dmin`, 12 bytes of scales, 128 bytes of nibbles.
/// Each 32 bytes hold two sub-blocks (low nibbles, then high). `x = d1 * q - m1`.
pub(super) fn q4_k(block: &[u8; 144], out: &mut [f32; 256]) {
    let factors = k4_factors(block);
    for pair in 0..4 {
        let qs = &block[16 + 32 * pair..48 + 32 * pair];
        let (d1, m1) = factors[2 * pair];
        let (d2, m2) = factors[2 * pair + 1];
        let out = &mut out[64 * pair..64 * pair + 64];
        for l in 0..32 {
            out[l] = d1 * f32::from(qs[l] & 0x0f) - m1;
            out[l + 32] = d2 * f32::from(qs[l] >> 4) - m2;
        }
    }
}

/// `block_q5_K`: like Q4_K plus 32 bytes of fifth bits, where bit `2 * pair` of
/// byte `l` belongs to the low-nibble sub-block and bit `2 * pair + 1` to the high.
pub(super) fn q5_k(block: &[u8; 176], out: &mut [f32; 256]) {
    let factors = k4_factors(block);
    let qh = &block[16..48];
    for pair in 0..4 {
        let qs = &block[48 + 32 * pair..80 + 32 * pair];
        let (d1, m1) = factors[2 * pair];
        let (d2, m2) = factors[2 * pair + 1];
        let (u1, u2) = (1u8 << (2 * pair), 2u8 << (2 * pair));
        let out = &mut out[64 * pair..64 * pair + 64];
        for l in 0..32 {
            let h1 = if qh[l] & u1 != 0 { 16 } else { 0 };
            let h2 = if qh[l] & u2 != 0 { 16 } else { 0 };
            out[l] = d1 * f32::from((qs[l] & 0x0f) + h1) - m1;
            out[l + 32] = d2 * f32::from((qs[l] >> 4) + h2) - m2;
        }
    }
}

/// `block_q6_K`: 128 bytes of low nibbles, 64 bytes of 2-bit high parts, 16 signed
/// 8-bit scales, f16 `d`. `x = (d * sc) * (q - 32)` per 16 weights.
pub(super) fn q6_k(block: &[u8; 210], out: &mut [f32; 256]) {
    let d = f16_at(block, 208);
    for half in 0..2 {
        let ql = &block[64 * half..64 * half + 64];
        let qh = &block[128 + 32 * half..160 + 32 * half];
        let sc = &block[192 + 8 * half..200 + 8 * half];
        let out = &mut out[128 * half..128 * half + 128];
        for l in 0..32 {
            let is = l / 16;
            let h = qh[l];
            let q1 = i32::from((ql[l] & 0x0f) | ((h & 3) << 4)) - 32;
            let q2 = i32::from((ql[l + 32] & 0x0f) | (((h >> 2) & 3) << 4)) - 32;
            let q3 = i32::from((ql[l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
            let q4 = i32::from((ql[l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32;
            let scale = |k: usize| d * f32::from(sc[is + k] as i8);
            out[l] = scale(0) * q1 as f32;
            out[l + 32] = scale(2) * q2 as f32;
            out[l + 64] = scale(4) * q3 as f32;
            out[l + 96] = scale(6) * q4 as f32;
        }
    }
}

/// `block_q8_K`: f32 `d`, 256 signed bytes, 16 i16 block sums (unused here).
/// `x = d * q`.
pub(super) fn q8_k(block: &[u8; 292], out: &mut [f32; 256]) {
    let d = f32::from_bits(u32_at(block, 0));
    for (j, x) in out.iter_mut().enumerate() {
        *x = d * f32::from(block[4 + j] as i8);
    }
}
