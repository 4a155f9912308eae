//! The i-quants: weights come in groups of 4 or 8 that index a fixed grid of
//! magnitudes (see [`crate::quant::tables`]), with separately stored signs.
//!
//! Indices are masked to the size of their table, so every byte value is valid.

use super::{f16_at, u16_at, u32_at};
use crate::quant::tables::{
    IQ1M_DELTA, IQ1S_DELTA, IQ1S_GRID, IQ2S_GRID, IQ2XS_GRID, IQ2XXS_GRID, IQ3S_GRID, IQ3XXS_GRID,
    KMASK_IQ2XS, KSIGNS_IQ2XS, KVALUES_IQ4NL,
};

/// `+1.0` or `-1.0` for element `j` of a sign byte, multiplied in as ggml does.
#[inline(always)]
fn sign(signs: u8, j: usize) -> f32 {
    if signs & KMASK_IQ2XS[j] != 0 {
        -1.0
    } else {
        1.0
    }
}

/// The 8 signs of a group from its 7 stored sign bits.
#[inline(always)]
fn expand_signs(bits: u32) -> u8 {
    KSIGNS_IQ2XS[(bits & 127) as usize]
}

/// Writes 8 weights `db * grid * sign` from one 8-byte grid entry.
#[inline(always)]
fn grid8(out: &mut [f32], db: f32, entry: u64, signs: u8) {
    for (j, (x, g)) in out.iter_mut().zip(entry.to_le_bytes()).enumerate() {
        *x = db * f32::from(g) * sign(signs, j);
    }
}

/// `block_iq2_xxs`: f16 `d`, then per 32 weights two u32: four 8-bit grid indices,
/// and four 7-bit sign fields plus a 4-bit scale in the top bits.
pub(super) fn iq2_xxs(block: &[u8; 66], out: &mut [f32; 256]) {
    let d = f16_at(block, 0);
    for ib in 0..8 {
        let indices = u32_at(block, 2 + 8 * ib).to_le_bytes();
        let aux = u32_at(block, 6 + 8 * ib);
        let db = d * (0.5 + (aux >> 28) as f32) * 0.25;
        for (l, index) in indices.into_iter().enumerate() {
            let signs = expand_signs(aux >> (7 * l));
            let at = 32 * ib + 8 * l;
            grid8(
                &mut out[at..at + 8],
                db,
                IQ2XXS_GRID[usize::from(index)],
                signs,
            );
        }
    }
}

/// `block_iq2_xs`: f16 `d`, 32 u16 of 9-bit grid index and 7 sign bits, then a
/// 4-bit scale per 16 weights.
pub(super) fn iq2_xs(block: &[u8; 74], out: &mut [f32; 256]) {
    let d = f16_at(block, 0);
    for ib in 0..8 {
        let sc = block[66 + ib];
        let db = [
            d * (0.5 + f32::from(sc & 0x0f)) * 0.25,
            d * (0.5 + f32::from(sc >> 4)) * 0.25,
        ];
        for l in 0..4 {
            let q = u16_at(block, 2 + 2 * (4 * ib + l));
            let entry = IQ2XS_GRID[usize::from(q & 511)];
            let signs = expand_signs(u32::from(q >> 9));
            let at = 32 * ib + 8 * l;
            grid8(&mut out[at..at + 8], db[l / 2], entry, signs);
        }
    }
}

/// `block_iq2_s`: f16 `d`, 32 low index bytes, 32 explicit sign bytes, 8 bytes of
/// high index bits (2 per group), 8 bytes of 4-bit scales.
pub(super) fn iq2_s(block: &[u8; 82], out: &mut [f32; 256]) {
    let d = f16_at(block, 0);
    for ib in 0..8 {
        let sc = block[74 + ib];
        let qh = usize::from(block[66 + ib]);
        let db = [
            d * (0.5 + f32::from(sc & 0x0f)) * 0.25,
            d * (0.5 + f32::from(sc >> 4)) * 0.25,
        ];
        for l in 0..4 {
            let index = usize::from(block[2 + 4 * ib + l]) | ((qh << (8 - 2 * l)) & 0x300);
            let signs = block[34 + 4 * ib + l];
            let at = 32 * ib + 8 * l;
            grid8(&mut out[at..at + 8], db[l / 2], IQ2S_GRID[index], signs);
        }
    }
}

/// Writes 8 weights from two 4-value grid entries and one sign byte.
#[inline(always)]
fn grid4x2(out: &mut [f32], db: f32, first: u32, second: u32, signs: u8) {
    let (g1, g2) = (first.to_le_bytes(), second.to_le_bytes());
    for j in 0..4 {
        out[j] = db * f32::from(g1[j]) * sign(signs, j);
        out[j + 4] = db * f32::from(g2[j]) * sign(signs, j + 4);
    }
}

/// `block_iq3_xxs`: f16 `d`, 64 grid index bytes, then per 32 weights a u32 of four
/// 7-bit sign fields and a 4-bit scale.
pub(super) fn iq3_xxs(block: &[u8; 98], out: &mut [f32; 256]) {
    let d = f16_at(block, 0);
    for ib in 0..8 {
        let aux = u32_at(block, 66 + 4 * ib);
        let db = d * (0.5 + (aux >> 28) as f32) * 0.5;
        for l in 0..4 {
            let signs = expand_signs(aux >> (7 * l));
            let first = IQ3XXS_GRID[usize::from(block[2 + 8 * ib + 2 * l])];
            let second = IQ3XXS_GRID[usize::from(block[3 + 8 * ib + 2 * l])];
            let at = 32 * ib + 8 * l;
            grid4x2(&mut out[at..at + 8], db, first, second, signs);
        }
    }
}

/// `block_iq3_s`: f16 `d`, 64 low index bytes, 8 bytes of ninth index bits, 32 sign
/// bytes, 4 bytes of 4-bit scales (one per 32 weights). `db = d * (1 + 2 * sc)`.
pub(super) fn iq3_s(block: &[u8; 110], out: &mut [f32; 256]) {
    let d = f16_at(block, 0);
    for ib in 0..8 {
        let sc = (block[106 + ib / 2] >> (4 * (ib % 2))) & 0x0f;
        let db = d * (1 + 2 * i32::from(sc)) as f32;
        let qh = usize::from(block[66 + ib]);
        for l in 0..4 {
            let i1 = usize::from(block[2 + 8 * ib + 2 * l]) | ((qh << (8 - 2 * l)) & 256);
            let i2 = usize::from(block[3 + 8 * ib + 2 * l]) | ((qh << (7 - 2 * l)) & 256);
            let signs = block[74 + 4 * ib + l];
            let at = 32 * ib + 8 * l;
            grid4x2(
                &mut out[at..at + 8],
                db,
                IQ3S_GRID[i1],
                IQ3S_GRID[i2],
                signs,
            );
        }
    }
}

/// Writes 8 weights `dl * (grid + delta)` from one IQ1 grid entry (values -1, 0, 1).
#[inline(always)]
fn iq1_grid8(out: &mut [f32], dl: f32, index: usize, delta: f32) {
    for (x, g) in out.iter_mut().zip(IQ1S_GRID[index & 2047].to_le_bytes()) {
        *x = dl * (f32::from(g as i8) + delta);
    }
}

/// `block_iq1_s`: f16 `d`, 32 low index bytes, then per 32 weights a u16 with four
/// 3-bit high index parts, a 3-bit scale and the sign of the shared offset.
pub(super) fn iq1_s(block: &[u8; 50], out: &mut [f32; 256]) {
    let d = f16_at(block, 0);
    for ib in 0..8 {
        let qh = u16_at(block, 34 + 2 * ib);
        let dl = d * (2 * i32::from((qh >> 12) & 7) + 1) as f32;
        let delta = if qh & 0x8000 != 0 {
            -IQ1S_DELTA
        } else {
            IQ1S_DELTA
        };
        for l in 0..4 {
            let index =
                usize::from(block[2 + 4 * ib + l]) | (usize::from((qh >> (3 * l)) & 7) << 8);
            let at = 32 * ib + 8 * l;
            iq1_grid8(&mut out[at..at + 8], dl, index, delta);
        }
    }
}

/// `block_iq1_m`: 32 low index bytes, 16 bytes each holding two 3-bit high index
/// parts and two offset signs, 8 bytes of 3-bit scales whose spare top nibbles
/// together form the f16 super-block scale.
pub(super) fn iq1_m(block: &[u8; 56], out: &mut [f32; 256]) {
    let sc: [u16; 4] = std::array::from_fn(|k| u16_at(block, 48 + 2 * k));
    let d_bits =
        (sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000);
    let d = half::f16::from_bits(d_bits).to_f32();
    for ib in 0..8 {
        let s = sc[ib / 2] >> (6 * (ib % 2));
        let dl1 = d * (2 * i32::from(s & 7) + 1) as f32;
        let dl2 = d * (2 * i32::from((s >> 3) & 7) + 1) as f32;
        let qs = &block[4 * ib..4 * ib + 4];
        let (h0, h1) = (
            usize::from(block[32 + 2 * ib]),
            usize::from(block[33 + 2 * ib]),
        );
        let index = [
            usize::from(qs[0]) | ((h0 << 8) & 0x700),
            usize::from(qs[1]) | ((h0 << 4) & 0x700),
            usize::from(qs[2]) | ((h1 << 8) & 0x700),
            usize::from(qs[3]) | ((h1 << 4) & 0x700),
        ];
        let delta = |bits: usize| if bits != 0 { -IQ1M_DELTA } else { IQ1M_DELTA };
        let deltas = [
            delta(h0 & 0x08),
            delta(h0 & 0x80),
            delta(h1 & 0x08),
            delta(h1 & 0x80),
        ];
        for l in 0..4 {
            let dl = if l < 2 { dl1 } else { dl2 };
            let at = 32 * ib + 8 * l;
            iq1_grid8(&mut out[at..at + 8], dl, index[l], deltas[l]);
        }
    }
}

/// `block_iq4_nl`: f16 `d`, 16 bytes of 4-bit indices into the non-linear levels.
pub(super) fn iq4_nl(block: &[u8; 18], out: &mut [f32; 32]) {
    let d = f16_at(block, 0);
    for j in 0..16 {
        let byte = block[2 + j];
        out[j] = d * f32::from(KVALUES_IQ4NL[usize::from(byte & 0x0f)]);
        out[j + 16] = d * f32::from(KVALUES_IQ4NL[usize::from(byte >> 4)]);
    }
}

/// `block_iq4_xs`: f16 `d`, a u16 and 4 bytes holding eight 6-bit scales, then 128
/// bytes of 4-bit indices. `x = (d * (ls - 32)) * level`.
pub(super) fn iq4_xs(block: &[u8; 136], out: &mut [f32; 256]) {
    let d = f16_at(block, 0);
    let scales_h = u16_at(block, 2);
    for ib in 0..8 {
        let low = (block[4 + ib / 2] >> (4 * (ib % 2))) & 0x0f;
        let high = ((scales_h >> (2 * ib)) & 3) as u8;
        let dl = d * (i32::from(low | (high << 4)) - 32) as f32;
        for j in 0..16 {
            let byte = block[8 + 16 * ib + j];
            out[32 * ib + j] = dl * f32::from(KVALUES_IQ4NL[usize::from(byte & 0x0f)]);
            out[32 * ib + j + 16] = dl * f32::from(KVALUES_IQ4NL[usize::from(byte >> 4)]);
        }
    }
}
