//! Edge cases of the scalar kernels. Bit-exactness against ggml itself is checked by
//! the fixtures in `tests/quant_fixtures.rs`; these tests decode fields
//! independently of the kernels (from the format descriptions) and feed values the
//! random fixtures rarely hit: every index and sign pattern, zero and subnormal
//! scales, every byte value.

use half::f16;
use proptest::prelude::*;

use super::fp4::ue4m3_half;
use super::{dequantize_blocks, dequantize_blocks_scalar};
use crate::quant::fp4_scales::e8m0_half;
use crate::quant::tables::{
    IQ1S_GRID, IQ2S_GRID, IQ2XS_GRID, IQ2XXS_GRID, IQ3S_GRID, IQ3XXS_GRID, KSIGNS_IQ2XS,
    KVALUES_IQ4NL,
};
use crate::types::GgmlType;

/// A small deterministic generator (SplitMix64), enough for test data.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(super) fn fill(&mut self, bytes: &mut [u8]) {
        for chunk in bytes.chunks_mut(8) {
            let n = chunk.len();
            chunk.copy_from_slice(&self.next_u64().to_le_bytes()[..n]);
        }
    }

    pub(super) fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut bytes = vec![0; n];
        self.fill(&mut bytes);
        bytes
    }
}

const ONE: [u8; 2] = f16::ONE.to_bits().to_le_bytes();

fn scalar(ty: GgmlType, src: &[u8]) -> Vec<f32> {
    let mut out = vec![f32::NAN; src.len() / ty.type_size() * ty.block_size()];
    dequantize_blocks_scalar(ty, src, &mut out);
    out
}

fn dispatched(ty: GgmlType, src: &[u8]) -> Vec<f32> {
    let mut out = vec![f32::NAN; src.len() / ty.type_size() * ty.block_size()];
    dequantize_blocks(ty, src, &mut out);
    out
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|x| x.to_bits()).collect()
}

/// Byte offsets of each type's f16 scale fields (the f32 one of Q8_K aside).
fn f16_scale_offsets(ty: GgmlType) -> &'static [usize] {
    use GgmlType::*;
    match ty {
        Q4_0 | Q5_0 | Q8_0 | Q8_1 | IQ2_XXS | IQ2_XS | IQ2_S | IQ3_XXS | IQ3_S | IQ1_S | IQ4_NL
        | IQ4_XS | Q1_0 | Q2_0 => &[0],
        Q4_1 | Q5_1 | Q4_K | Q5_K => &[0, 2],
        Q2_K => &[80, 82],
        Q3_K => &[108],
        Q6_K => &[208],
        TQ1_0 => &[52],
        TQ2_0 => &[64],
        _ => &[],
    }
}

#[test]
fn every_byte_value_is_accepted() {
    // Blocks made of one repeated byte reach every table index and every special
    // scale (NaN and infinite ones included) without panicking.
    for ty in GgmlType::ALL {
        for value in 0..=255u8 {
            let src = vec![value; 2 * ty.type_size()];
            let out = scalar(ty, &src);
            assert_eq!(out.len(), 2 * ty.block_size());
            // The SIMD kernels, where present, must agree bit for bit.
            assert_eq!(
                bits(&dispatched(ty, &src)),
                bits(&out),
                "{ty} byte {value:#x}"
            );
        }
    }
}

#[test]
fn zero_scales_give_zeros() {
    let mut rng = Rng(1);
    for ty in GgmlType::ALL.into_iter().filter(|ty| ty.is_quantized()) {
        let mut src = rng.bytes(4 * ty.type_size());
        for block in src.chunks_exact_mut(ty.type_size()) {
            for &at in f16_scale_offsets(ty) {
                block[at..at + 2].fill(0);
            }
            match ty {
                GgmlType::Q8_K => block[..4].fill(0),
                GgmlType::NVFP4 => block[..4].fill(0),
                // The f16 scale is the top nibble of each of the last four u16.
                GgmlType::IQ1_M => [49, 51, 53, 55]
                    .into_iter()
                    .for_each(|at| block[at] &= 0x0f),
                _ => {}
            }
        }
        if ty == GgmlType::MXFP4 {
            continue; // E8M0 has no zero; its smallest scale is checked below.
        }
        let out = scalar(ty, &src);
        assert!(out.iter().all(|&x| x == 0.0), "{ty}: {out:?}");
    }
}

#[test]
fn subnormal_scales_are_exact() {
    // Every value here is a small integer times a power of two, so f64 arithmetic
    // gives the exact result that f32 must reproduce.
    let mut rng = Rng(2);
    for d_bits in [0x0001u16, 0x0200, 0x03ff, 0x8001] {
        let d = f64::from(f16::from_bits(d_bits).to_f32());
        let mut src = rng.bytes(18);
        src[..2].copy_from_slice(&d_bits.to_le_bytes());
        let out = scalar(GgmlType::Q4_0, &src);
        for j in 0..16 {
            let (lo, hi) = (
                f64::from(src[2 + j] & 15) - 8.0,
                f64::from(src[2 + j] >> 4) - 8.0,
            );
            assert_eq!(out[j], (lo * d) as f32);
            assert_eq!(out[j + 16], (hi * d) as f32);
        }

        let mut src = rng.bytes(34);
        src[..2].copy_from_slice(&d_bits.to_le_bytes());
        let out = scalar(GgmlType::Q8_0, &src);
        for j in 0..32 {
            assert_eq!(out[j], (f64::from(src[2 + j] as i8) * d) as f32);
        }

        let mut src = rng.bytes(18);
        src[..2].copy_from_slice(&d_bits.to_le_bytes());
        let out = scalar(GgmlType::IQ4_NL, &src);
        for j in 0..16 {
            let level = |n: u8| f64::from(KVALUES_IQ4NL[usize::from(n)]);
            assert_eq!(out[j], (level(src[2 + j] & 15) * d) as f32);
            assert_eq!(out[j + 16], (level(src[2 + j] >> 4) * d) as f32);
        }

        // Q4_K with subnormal d and dmin: the first four sub-blocks keep their
        // 6-bit scale and minimum in the low bits of bytes 4..12.
        let mut src = rng.bytes(144);
        src[..2].copy_from_slice(&d_bits.to_le_bytes());
        src[2..4].copy_from_slice(&d_bits.to_le_bytes());
        let out = scalar(GgmlType::Q4_K, &src);
        for sub in 0..4 {
            let sc = f64::from(src[4 + sub] & 63);
            let m = f64::from(src[8 + sub] & 63);
            let byte = |l: usize| src[16 + 32 * (sub / 2) + l];
            for l in 0..32 {
                let q = if sub % 2 == 0 {
                    byte(l) & 15
                } else {
                    byte(l) >> 4
                };
                let want = (d * sc * f64::from(q) - d * m) as f32;
                assert_eq!(out[32 * sub + l], want, "Q4_K sub-block {sub} weight {l}");
            }
        }
    }
}

/// E2M1 decoded from its bits: sign, 2 exponent bits (bias 1), 1 mantissa bit.
fn e2m1(nibble: u8) -> f64 {
    let sign = if nibble & 8 != 0 { -1.0 } else { 1.0 };
    let (exp, man) = (i32::from((nibble >> 1) & 3), f64::from(nibble & 1));
    let magnitude = if exp == 0 {
        man * 0.5
    } else {
        (1.0 + man / 2.0) * 2f64.powi(exp - 1)
    };
    sign * magnitude
}

#[test]
fn fp4_scales_decode_exactly() {
    for e in 0..=255u8 {
        assert_eq!(
            e8m0_half(e),
            2f64.powi(i32::from(e) - 128) as f32,
            "E8M0 {e}"
        );
    }
    for x in 0..=255u8 {
        let (exp, man) = (i32::from((x >> 3) & 15), f64::from(x & 7));
        let value = if x == 0 || x == 0x7f {
            0.0
        } else if exp == 0 {
            man * 2f64.powi(-9)
        } else {
            (1.0 + man / 8.0) * 2f64.powi(exp - 7)
        };
        assert_eq!(ue4m3_half(x), (value / 2.0) as f32, "UE4M3 {x:#x}");
    }
}

#[test]
fn fp4_levels_are_doubled_e2m1() {
    // E8M0 128 and UE4M3 0x40 both give a (halved) scale of exactly 1.
    let mut mx = vec![128u8; 17 * 16];
    let mut nv = vec![0x40u8; 36 * 8];
    for byte in 0..=255u8 {
        let i = usize::from(byte);
        mx[17 * (i / 16) + 1 + i % 16] = byte;
        nv[36 * (i / 32) + 4 + i % 32] = byte;
    }
    let (mx_out, nv_out) = (scalar(GgmlType::MXFP4, &mx), scalar(GgmlType::NVFP4, &nv));
    for byte in 0..=255u8 {
        let i = usize::from(byte);
        let (lo, hi) = (
            (2.0 * e2m1(byte & 15)) as f32,
            (2.0 * e2m1(byte >> 4)) as f32,
        );
        let (block, j) = (i / 16, i % 16);
        assert_eq!(
            (mx_out[32 * block + j], mx_out[32 * block + j + 16]),
            (lo, hi)
        );
        let (block, sub, j) = (i / 32, (i % 32) / 8, i % 8);
        let at = 64 * block + 16 * sub + j;
        assert_eq!(
            (nv_out[at], nv_out[at + 8]),
            (lo, hi),
            "NVFP4 byte {byte:#x}"
        );
    }
}

/// Checks that the 8 weights at `out` are `db * grid * sign`, for an 8-byte entry.
fn assert_group(out: &[f32], db: f32, entry: [u8; 8], signs: u8, what: &str) {
    for j in 0..8 {
        let magnitude = db * f32::from(entry[j]);
        let want = if signs >> j & 1 != 0 {
            -magnitude
        } else {
            magnitude
        };
        assert_eq!(out[j], want, "{what}, weight {j}");
    }
}

fn grid_u32_pair(grid: &[u32], first: usize, second: usize) -> [u8; 8] {
    let mut entry = [0; 8];
    entry[..4].copy_from_slice(&grid[first].to_le_bytes());
    entry[4..].copy_from_slice(&grid[second].to_le_bytes());
    entry
}

#[test]
fn iq2_xxs_every_index_and_sign_pattern() {
    // Block b, group g (0..32) takes index (8b + g) % 256 and sign field
    // (5b + g) % 128; scale nibble of each 32-weight part is its number.
    let blocks = 32;
    let mut src = vec![0u8; 66 * blocks];
    for (b, block) in src.chunks_exact_mut(66).enumerate() {
        block[..2].copy_from_slice(&ONE);
        for ib in 0..8 {
            let mut aux = (ib as u32) << 28;
            for l in 0..4 {
                let g = 4 * ib + l;
                block[2 + 8 * ib + l] = ((8 * b + g) % 256) as u8;
                aux |= (((5 * b + g) % 128) as u32) << (7 * l);
            }
            block[6 + 8 * ib..10 + 8 * ib].copy_from_slice(&aux.to_le_bytes());
        }
    }
    let out = scalar(GgmlType::IQ2_XXS, &src);
    for b in 0..blocks {
        for g in 0..32 {
            let db = (0.5 + (g / 4) as f32) * 0.25;
            let entry = IQ2XXS_GRID[(8 * b + g) % 256].to_le_bytes();
            let signs = KSIGNS_IQ2XS[(5 * b + g) % 128];
            let at = 256 * b + 8 * g;
            assert_group(
                &out[at..at + 8],
                db,
                entry,
                signs,
                &format!("block {b} group {g}"),
            );
        }
    }
}

#[test]
fn iq2_xs_and_iq2_s_every_index() {
    // IQ2_XS: u16 = index (9 bits) | sign field << 9.
    let blocks = 16;
    let mut src = vec![0u8; 74 * blocks];
    for (b, block) in src.chunks_exact_mut(74).enumerate() {
        block[..2].copy_from_slice(&ONE);
        for g in 0..32 {
            let q = ((32 * b + g) % 512) as u16 | ((((3 * b + g) % 128) as u16) << 9);
            block[2 + 2 * g..4 + 2 * g].copy_from_slice(&q.to_le_bytes());
        }
        for ib in 0..8 {
            block[66 + ib] = (ib as u8) | ((15 - ib as u8) << 4);
        }
    }
    let out = scalar(GgmlType::IQ2_XS, &src);
    for b in 0..blocks {
        for g in 0..32 {
            let ib = g / 4;
            let nibble = if g % 4 < 2 { ib } else { 15 - ib };
            let db = (0.5 + nibble as f32) * 0.25;
            let entry = IQ2XS_GRID[(32 * b + g) % 512].to_le_bytes();
            let signs = KSIGNS_IQ2XS[(3 * b + g) % 128];
            let at = 256 * b + 8 * g;
            assert_group(
                &out[at..at + 8],
                db,
                entry,
                signs,
                &format!("IQ2_XS {b}/{g}"),
            );
        }
    }

    // IQ2_S: index low byte in qs, two high bits per group in qh; explicit signs.
    let blocks = 32;
    let mut src = vec![0u8; 82 * blocks];
    for (b, block) in src.chunks_exact_mut(82).enumerate() {
        block[..2].copy_from_slice(&ONE);
        for g in 0..32 {
            let index = (32 * b + g) % 1024;
            block[2 + g] = index as u8;
            block[66 + g / 4] |= ((index >> 8) as u8) << (2 * (g % 4));
            block[34 + g] = (7 * b + 3 * g) as u8;
        }
        block[74..82].fill(0x21);
    }
    let out = scalar(GgmlType::IQ2_S, &src);
    for b in 0..blocks {
        for g in 0..32 {
            let db = (0.5 + if g % 4 < 2 { 1.0 } else { 2.0 }) * 0.25;
            let entry = IQ2S_GRID[(32 * b + g) % 1024].to_le_bytes();
            let signs = (7 * b + 3 * g) as u8;
            let at = 256 * b + 8 * g;
            assert_group(
                &out[at..at + 8],
                db,
                entry,
                signs,
                &format!("IQ2_S {b}/{g}"),
            );
        }
    }
}

#[test]
fn iq3_every_index() {
    // IQ3_XXS: 64 index bytes, then per 32 weights sign fields and a 4-bit scale.
    let blocks = 8;
    let mut src = vec![0u8; 98 * blocks];
    for (b, block) in src.chunks_exact_mut(98).enumerate() {
        block[..2].copy_from_slice(&ONE);
        for k in 0..64 {
            block[2 + k] = (64 * b + k) as u8;
        }
        for ib in 0..8 {
            let mut aux = 3u32 << 28;
            for l in 0..4 {
                aux |= (((11 * b + 4 * ib + l) % 128) as u32) << (7 * l);
            }
            block[66 + 4 * ib..70 + 4 * ib].copy_from_slice(&aux.to_le_bytes());
        }
    }
    let out = scalar(GgmlType::IQ3_XXS, &src);
    for b in 0..blocks {
        for g in 0..32 {
            let first = (64 * b + 2 * g) % 256;
            let entry = grid_u32_pair(&IQ3XXS_GRID, first, first + 1);
            let signs = KSIGNS_IQ2XS[(11 * b + g) % 128];
            let at = 256 * b + 8 * g;
            assert_group(
                &out[at..at + 8],
                1.75,
                entry,
                signs,
                &format!("IQ3_XXS {b}/{g}"),
            );
        }
    }

    // IQ3_S: 9-bit indices (ninth bit in qh), explicit signs, db = 1 + 2 * sc.
    let blocks = 8;
    let mut src = vec![0u8; 110 * blocks];
    for (b, block) in src.chunks_exact_mut(110).enumerate() {
        block[..2].copy_from_slice(&ONE);
        for k in 0..64 {
            let index = 64 * b + k;
            block[2 + k] = index as u8;
            block[66 + k / 8] |= ((index >> 8) as u8) << (k % 8);
        }
        for g in 0..32 {
            block[74 + g] = (13 * b + 5 * g) as u8;
        }
        block[106..110].copy_from_slice(&[0x10, 0x32, 0x54, 0x76]);
    }
    let out = scalar(GgmlType::IQ3_S, &src);
    for b in 0..blocks {
        for g in 0..32 {
            let first = 64 * b + 2 * g;
            let entry = grid_u32_pair(&IQ3S_GRID, first, first + 1);
            let db = (1 + 2 * (g / 4)) as f32;
            let signs = (13 * b + 5 * g) as u8;
            let at = 256 * b + 8 * g;
            assert_group(
                &out[at..at + 8],
                db,
                entry,
                signs,
                &format!("IQ3_S {b}/{g}"),
            );
        }
    }
}

#[test]
fn iq1_every_index() {
    let grid = |index: usize| IQ1S_GRID[index].to_le_bytes().map(|v| f32::from(v as i8));
    // IQ1_S: 11-bit indices; the u16 per 32 weights also holds scale and delta sign.
    let blocks = 64;
    let mut src = vec![0u8; 50 * blocks];
    for (b, block) in src.chunks_exact_mut(50).enumerate() {
        block[..2].copy_from_slice(&ONE);
        for ib in 0..8 {
            let mut qh = ((ib as u16) << 12) | (u16::from(b % 2 == 1) << 15);
            for l in 0..4 {
                let index = 32 * b + 4 * ib + l;
                block[2 + 4 * ib + l] = index as u8;
                qh |= ((index >> 8) as u16) << (3 * l);
            }
            block[34 + 2 * ib..36 + 2 * ib].copy_from_slice(&qh.to_le_bytes());
        }
    }
    let out = scalar(GgmlType::IQ1_S, &src);
    for b in 0..blocks {
        let delta = if b % 2 == 1 { -0.125 } else { 0.125 };
        for g in 0..32 {
            let dl = (2 * (g / 4) + 1) as f32;
            for (j, v) in grid(32 * b + g).into_iter().enumerate() {
                assert_eq!(
                    out[256 * b + 8 * g + j],
                    dl * (v + delta),
                    "IQ1_S {b}/{g}/{j}"
                );
            }
        }
    }

    // IQ1_M: 3 high index bits and a delta sign per group in qh nibbles; 3-bit
    // scales per 16 weights; f16 scale 1.0 in the top nibbles of the scale words.
    let mut src = vec![0u8; 56 * blocks];
    for (b, block) in src.chunks_exact_mut(56).enumerate() {
        for g in 0..32 {
            let index = 32 * b + g;
            block[g] = index as u8;
            let negative = u8::from((b + g) % 3 == 0) << 3;
            block[32 + g / 2] |= (((index >> 8) as u8) | negative) << (4 * (g % 2));
        }
        let one = f16::ONE.to_bits();
        for k in 0..4 {
            // Sub-block scales 2k, 2k+1 (3 bits each, two per 16 weights).
            let s = 2 * k as u16;
            let scales = s | ((s + 1) << 3) | ((7 - s) << 6) | ((6 - s) << 9);
            let word = scales | (((one >> (4 * k)) & 0xf) << 12);
            block[48 + 2 * k..50 + 2 * k].copy_from_slice(&word.to_le_bytes());
        }
    }
    let out = scalar(GgmlType::IQ1_M, &src);
    for b in 0..blocks {
        for g in 0..32 {
            let (ib, second) = (g / 4, g % 4 >= 2);
            let s = 2 * (ib / 2);
            let sc = match (ib % 2, second) {
                (0, false) => s,
                (0, true) => s + 1,
                (_, false) => 7 - s,
                (_, true) => 6 - s,
            };
            let dl = (2 * sc + 1) as f32;
            let delta = if (b + g) % 3 == 0 { -0.125 } else { 0.125 };
            for (j, v) in grid(32 * b + g).into_iter().enumerate() {
                assert_eq!(
                    out[256 * b + 8 * g + j],
                    dl * (v + delta),
                    "IQ1_M {b}/{g}/{j}"
                );
            }
        }
    }
}

#[test]
fn iq4_every_nibble() {
    let mut nl = vec![0u8; 18 * 16];
    for (b, block) in nl.chunks_exact_mut(18).enumerate() {
        block[..2].copy_from_slice(&ONE);
        for j in 0..16 {
            block[2 + j] = (16 * b + j) as u8;
        }
    }
    let out = scalar(GgmlType::IQ4_NL, &nl);
    for byte in 0..256 {
        let (b, j) = (byte / 16, byte % 16);
        assert_eq!(out[32 * b + j], f32::from(KVALUES_IQ4NL[byte & 15]));
        assert_eq!(out[32 * b + j + 16], f32::from(KVALUES_IQ4NL[byte >> 4]));
    }

    // IQ4_XS: 6-bit scale ls per 32 weights (low 4 bits in scales_l, high 2 in
    // scales_h), multiplier ls - 32; cover every ls over 8 blocks.
    let mut xs = vec![0u8; 136 * 8];
    for (b, block) in xs.chunks_exact_mut(136).enumerate() {
        block[..2].copy_from_slice(&ONE);
        let mut scales_h = 0u16;
        for ib in 0..8 {
            let ls = 8 * b + ib;
            block[4 + ib / 2] |= ((ls & 15) as u8) << (4 * (ib % 2));
            scales_h |= ((ls >> 4) as u16) << (2 * ib);
            for j in 0..16 {
                block[8 + 16 * ib + j] = (16 * ib + j) as u8;
            }
        }
        block[2..4].copy_from_slice(&scales_h.to_le_bytes());
    }
    let out = scalar(GgmlType::IQ4_XS, &xs);
    for b in 0..8 {
        for ib in 0..8 {
            let dl = (8 * b + ib) as f32 - 32.0;
            for j in 0..16 {
                let byte = 16 * ib + j;
                let at = 256 * b + 32 * ib + j;
                assert_eq!(out[at], dl * f32::from(KVALUES_IQ4NL[byte & 15]));
                assert_eq!(out[at + 16], dl * f32::from(KVALUES_IQ4NL[byte >> 4]));
            }
        }
    }
}

#[test]
fn ternary_digits_cover_every_byte() {
    // TQ1_0 packs t0 * 81 + t1 * 27 + t2 * 9 + t3 * 3 + t4 as ceil(n * 256 / 243);
    // every byte must decode to digits in 0..3, and the packed encodings of all 243
    // digit strings must decode back to themselves.
    let mut src = vec![0u8; 54 * 6];
    for (b, block) in src.chunks_exact_mut(54).enumerate() {
        for (k, byte) in block[..48].iter_mut().enumerate() {
            *byte = (48 * b + k).min(255) as u8;
        }
        block[52..54].copy_from_slice(&ONE);
    }
    let out = scalar(GgmlType::TQ1_0, &src);
    assert!(out.iter().all(|&x| x == -1.0 || x == 0.0 || x == 1.0));

    for n in 0..243u32 {
        let packed = ((n * 256).div_ceil(243)) as u8;
        let mut block = [0u8; 54];
        block[0] = packed;
        block[52..54].copy_from_slice(&ONE);
        let out = scalar(GgmlType::TQ1_0, &block);
        let digits: Vec<f32> = (0..5).map(|i| out[32 * i]).collect();
        let want: Vec<f32> = (0..5)
            .rev()
            .map(|i| (n / 3u32.pow(i) % 3) as f32 - 1.0)
            .collect();
        assert_eq!(digits, want, "TQ1_0 value {n}");
    }
}

#[test]
fn plain_conversions_round_like_as() {
    let i32s = [16_777_217i32, -16_777_219, i32::MAX, i32::MIN];
    let src: Vec<u8> = i32s.iter().flat_map(|v| v.to_le_bytes()).collect();
    let want: Vec<f32> = i32s.iter().map(|&v| v as f32).collect();
    assert_eq!(scalar(GgmlType::I32, &src), want);

    let f64s = [1e300, -1e-300, 0.1, f64::NEG_INFINITY];
    let src: Vec<u8> = f64s.iter().flat_map(|v| v.to_le_bytes()).collect();
    let want = [f32::INFINITY, -0.0, 0.1, f32::NEG_INFINITY];
    assert_eq!(bits(&scalar(GgmlType::F64, &src)), bits(&want));

    // bfloat16 keeps NaN payloads and signed zeros: it is the top half of an f32.
    let bf16s = [0x7fc1u16, 0x8000, 0x3f80, 0xff80];
    let src: Vec<u8> = bf16s.iter().flat_map(|v| v.to_le_bytes()).collect();
    let want: Vec<u32> = bf16s.iter().map(|&v| u32::from(v) << 16).collect();
    assert_eq!(bits(&scalar(GgmlType::BF16, &src)), want);
}

proptest! {
    #[test]
    fn any_bytes_decode_without_panic(
        index in 0..GgmlType::ALL.len(),
        blocks in 0usize..4,
        seed: u64,
    ) {
        let ty = GgmlType::ALL[index];
        let src = Rng(seed).bytes(blocks * ty.type_size());
        let out = scalar(ty, &src);
        prop_assert_eq!(out.len(), blocks * ty.block_size());
        prop_assert_eq!(bits(&dispatched(ty, &src)), bits(&out));
    }
}
