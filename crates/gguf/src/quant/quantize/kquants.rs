//! The k-quants: super-blocks of 256 values split into groups of 16 or 32, each with
//! its own quantized scale (Q2_K … Q6_K), plus the 8-bit Q8_K.
//!
//! The scale searches run over several super-blocks at once (see `kquant_search`);
//! everything after the search works one super-block at a time.

use super::float::{f16_bits, f16_value};
use super::kquant_search::{
    GROUP_MAX_EPS, MAX_GROUPS, Search, make_q3_quants, make_qkx2_quants, make_qx_quants,
};
use super::{nearest_int, put_u16};
use crate::types::QK_K;

/// Values of up to [`MAX_GROUPS`] groups of `N`, transposed for the searches:
/// value `i` of group `k` sits at `i * groups + k`.
struct Regrouped<const N: usize> {
    values: [f32; MAX_GROUPS * 32],
    groups: usize,
}

impl<const N: usize> Regrouped<N> {
    /// Groups per super-block.
    const PER_BLOCK: usize = QK_K / N;
    /// Super-blocks searched together.
    const BATCH: usize = MAX_GROUPS / Self::PER_BLOCK;

    fn new(blocks: &[[f32; QK_K]]) -> Self {
        let groups = blocks.len() * Self::PER_BLOCK;
        let mut values = [0.0; MAX_GROUPS * 32];
        for (k, group) in blocks.as_flattened().chunks_exact(N).enumerate() {
            for (i, &v) in group.iter().enumerate() {
                values[i * groups + k] = v;
            }
        }
        Self { values, groups }
    }

    fn values(&self) -> &[f32] {
        &self.values[..N * self.groups]
    }

    /// The levels of super-block `block` back in value order.
    fn block_levels<T: Copy + Default>(&self, levels: &[T], block: usize) -> [T; QK_K] {
        let mut out = [T::default(); QK_K];
        for (j, group) in out.chunks_exact_mut(N).enumerate() {
            let k = block * Self::PER_BLOCK + j;
            for (i, l) in group.iter_mut().enumerate() {
                *l = levels[i * self.groups + k];
            }
        }
        out
    }
}

/// Runs `quantize` over batches of whole super-blocks of `src` and their `S`-byte
/// outputs in `dst`.
#[inline(always)]
fn in_batches<const S: usize>(
    src: &[f32],
    dst: &mut [u8],
    batch: usize,
    mut quantize: impl FnMut(&[[f32; QK_K]], &mut [[u8; S]]),
) {
    let (blocks, _) = src.as_chunks::<QK_K>();
    let (outs, _) = dst.as_chunks_mut::<S>();
    for (xs, ys) in blocks.chunks(batch).zip(outs.chunks_mut(batch)) {
        quantize(xs, ys);
    }
}

/// Packs four 2-bit levels 32 apart into each byte, 128 values per 32 bytes.
#[inline(always)]
fn pack_2bit(levels: &[u8; QK_K], qs: &mut [u8]) {
    for (half, out) in levels.chunks_exact(128).zip(qs.chunks_exact_mut(32)) {
        for (l, q) in out.iter_mut().enumerate() {
            *q = half[l] | half[l + 32] << 2 | half[l + 64] << 4 | half[l + 96] << 6;
        }
    }
}

/// Q2_K: 16 groups of 16 with 4-bit scales and 4-bit minimums, 2-bit levels.
pub(super) fn q2_k(src: &[f32], dst: &mut [u8]) {
    const SEARCH: Search = Search {
        nmax: 3,
        rmin: -0.5,
        rdelta: 0.1,
        nstep: 15,
        use_mad: true,
    };
    in_batches::<84>(src, dst, Regrouped::<16>::BATCH, |xs, ys| {
        let x = Regrouped::<16>::new(xs);
        let g = x.groups;
        let weights = x.values.map(f32::abs);
        let mut levels = [0u8; MAX_GROUPS * 16];
        let (mut scales, mut mins) = ([0.0f32; MAX_GROUPS], [0.0f32; MAX_GROUPS]);
        make_qkx2_quants::<16>(
            x.values(),
            &weights,
            &mut levels,
            &mut scales[..g],
            &mut mins[..g],
            SEARCH,
        );
        let (scales, mins) = (scales.as_chunks::<16>().0, mins.as_chunks::<16>().0);
        for (b, (block, y)) in xs.iter().zip(ys).enumerate() {
            q2_k_block(block, x.block_levels(&levels, b), &scales[b], &mins[b], y);
        }
    });
}

fn q2_k_block(
    x: &[f32; QK_K],
    mut levels: [u8; QK_K],
    scales: &[f32; 16],
    mins: &[f32; 16],
    y: &mut [u8; 84],
) {
    let (mut max_scale, mut max_min) = (0f32, 0f32);
    for (&scale, &min) in scales.iter().zip(mins) {
        if scale > max_scale {
            max_scale = scale;
        }
        if min > max_min {
            max_min = min;
        }
    }

    let mut packed = [0u8; QK_K / 16];
    let mut d = 0;
    if max_scale > 0.0 {
        let iscale = 15.0 / max_scale;
        for (p, &s) in packed.iter_mut().zip(scales) {
            *p = nearest_int(iscale * s) as u8;
        }
        d = f16_bits(max_scale / 15.0);
    }
    let mut dmin = 0;
    if max_min > 0.0 {
        let iscale = 15.0 / max_min;
        for (p, &m) in packed.iter_mut().zip(mins) {
            *p |= (nearest_int(iscale * m) << 4) as u8;
        }
        dmin = f16_bits(max_min / 15.0);
    }

    // Requantize against the rounded scales; groups with a zero scale keep the
    // search's levels.
    for (j, group) in x.as_chunks::<16>().0.iter().enumerate() {
        let d = f16_value(d) * f32::from(packed[j] & 0x0f);
        if d == 0.0 {
            continue;
        }
        let dm = f16_value(dmin) * f32::from(packed[j] >> 4);
        for (q, &v) in levels[16 * j..16 * j + 16].iter_mut().zip(group) {
            *q = nearest_int((v + dm) / d).clamp(0, 3) as u8;
        }
    }

    y[..16].copy_from_slice(&packed);
    pack_2bit(&levels, &mut y[16..80]);
    put_u16(y, 80, d);
    put_u16(y, 82, dmin);
}

/// Q3_K: 16 groups of 16 with signed 6-bit scales, 3-bit levels stored as 2 low
/// bits plus a high-bit mask.
pub(super) fn q3_k(src: &[f32], dst: &mut [u8]) {
    in_batches::<110>(src, dst, Regrouped::<16>::BATCH, |xs, ys| {
        let x = Regrouped::<16>::new(xs);
        let g = x.groups;
        let mut levels = [0i8; MAX_GROUPS * 16];
        let mut scales = [0.0f32; MAX_GROUPS];
        make_q3_quants::<16>(x.values(), 4, &mut levels, &mut scales[..g]);
        let scales = scales.as_chunks::<16>().0;
        for (b, (block, y)) in xs.iter().zip(ys).enumerate() {
            let found = x.block_levels(&levels, b).map(|l| l as u8);
            q3_k_block(block, found, &scales[b], y);
        }
    });
}

fn q3_k_block(x: &[f32; QK_K], mut levels: [u8; QK_K], scales: &[f32; 16], y: &mut [u8; 110]) {
    let (mut max_scale, mut amax) = (0f32, 0f32);
    for &scale in scales {
        if scale.abs() > amax {
            amax = scale.abs();
            max_scale = scale;
        }
    }

    // Six bits per scale: the low four in bytes 0..8 (two per byte), the high two
    // in bytes 8..12.
    let mut packed = [0u8; 12];
    let mut d = 0;
    if max_scale != 0.0 {
        let iscale = -32.0 / max_scale;
        for (j, &s) in scales.iter().enumerate() {
            let l = ((nearest_int(iscale * s) as i8).clamp(-32, 31) + 32) as u8;
            if j < 8 {
                packed[j] = l & 0x0f;
            } else {
                packed[j - 8] |= (l & 0x0f) << 4;
            }
            packed[8 + j % 4] |= (l >> 4) << (2 * (j / 4));
        }
        d = f16_bits(1.0 / iscale);
    }

    for (j, group) in x.as_chunks::<16>().0.iter().enumerate() {
        let low = if j < 8 {
            packed[j] & 0x0f
        } else {
            packed[j - 8] >> 4
        };
        let high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
        let sc = (low | high << 4) as i8 - 32;
        let d = f16_value(d) * f32::from(sc);
        if d == 0.0 {
            continue;
        }
        for (q, &v) in levels[16 * j..16 * j + 16].iter_mut().zip(group) {
            *q = (nearest_int(v / d).clamp(-4, 3) + 4) as u8;
        }
    }

    // Bit `j / 32` of mask byte `j % 32` holds bit 2 of level `j`.
    let mut hmask = [0u8; QK_K / 8];
    for (j, l) in levels.iter_mut().enumerate() {
        if *l > 3 {
            hmask[j % 32] |= 1 << (j / 32);
            *l -= 4;
        }
    }
    y[..32].copy_from_slice(&hmask);
    pack_2bit(&levels, &mut y[32..96]);
    y[96..108].copy_from_slice(&packed);
    put_u16(y, 108, d);
}

/// Packs 6-bit scales and minimums of eight groups into 12 bytes (the layout that
/// ggml's `get_scale_min_k4` reads).
#[inline(always)]
fn pack_scale_min_k4(ls: &[u8; 8], lm: &[u8; 8]) -> [u8; 12] {
    let mut p = [0u8; 12];
    for j in 0..4 {
        p[j] = ls[j] | (ls[j + 4] >> 4) << 6;
        p[j + 4] = lm[j] | (lm[j + 4] >> 4) << 6;
        p[j + 8] = (ls[j + 4] & 0x0f) | (lm[j + 4] & 0x0f) << 4;
    }
    p
}

/// Scale and minimum of group `j` from the 12-byte layout.
#[inline(always)]
fn scale_min_k4(j: usize, q: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0x0f) | (q[j - 4] >> 6) << 4,
            (q[j + 4] >> 4) | (q[j] >> 6) << 4,
        )
    }
}

/// A Q4_K/Q5_K super-block before bit packing: levels in `0..=nmax` and the header.
struct ScaleMinBlock {
    levels: [u8; QK_K],
    d: u16,
    dmin: u16,
    scales: [u8; 12],
}

/// The shared part of Q4_K and Q5_K: eight groups of 32 per super-block with 6-bit
/// scales and minimums. Hands each super-block's result to `write`.
#[inline(always)]
fn scale_min_k<const S: usize>(
    src: &[f32],
    dst: &mut [u8],
    search: Search,
    write: impl Fn(&ScaleMinBlock, &mut [u8; S]),
) {
    in_batches::<S>(src, dst, Regrouped::<32>::BATCH, |xs, ys| {
        let x = Regrouped::<32>::new(xs);
        let g = x.groups;
        // Weights: each group's RMS plus the value's magnitude.
        let mut sum_x2 = [0.0f32; MAX_GROUPS];
        for row in x.values().chunks_exact(g) {
            for (s, &v) in sum_x2.iter_mut().zip(row) {
                *s += v * v;
            }
        }
        let av_x = sum_x2.map(|s| (s / 32.0).sqrt());
        let mut weights = [0.0f32; MAX_GROUPS * 32];
        for (wrow, row) in weights.chunks_exact_mut(g).zip(x.values().chunks_exact(g)) {
            for ((w, &v), &a) in wrow.iter_mut().zip(row).zip(&av_x) {
                *w = a + v.abs();
            }
        }
        let mut levels = [0u8; MAX_GROUPS * 32];
        let (mut scales, mut mins) = ([0.0f32; MAX_GROUPS], [0.0f32; MAX_GROUPS]);
        let (sc, mn) = (&mut scales[..g], &mut mins[..g]);
        make_qkx2_quants::<32>(x.values(), &weights, &mut levels, sc, mn, search);
        let (scales, mins) = (scales.as_chunks::<8>().0, mins.as_chunks::<8>().0);
        for (b, (block, y)) in xs.iter().zip(ys).enumerate() {
            let found = x.block_levels(&levels, b);
            write(
                &scale_min_k_block(block, found, &scales[b], &mins[b], search.nmax),
                y,
            );
        }
    });
}

fn scale_min_k_block(
    x: &[f32; QK_K],
    mut levels: [u8; QK_K],
    scales: &[f32; 8],
    mins: &[f32; 8],
    nmax: i32,
) -> ScaleMinBlock {
    let (mut max_scale, mut max_min) = (0f32, 0f32);
    for (&scale, &min) in scales.iter().zip(mins) {
        if scale > max_scale {
            max_scale = scale;
        }
        if min > max_min {
            max_min = min;
        }
    }

    let inv_scale = if max_scale > 0.0 {
        63.0 / max_scale
    } else {
        0.0
    };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let ls = scales.map(|s| (nearest_int(inv_scale * s) as u8).min(63));
    let lm = mins.map(|m| (nearest_int(inv_min * m) as u8).min(63));
    let packed = pack_scale_min_k4(&ls, &lm);
    let d = f16_bits(max_scale / 63.0);
    let dmin = f16_bits(max_min / 63.0);

    // Requantize against the rounded scales; groups with a zero scale keep the
    // search's levels.
    for (j, group) in x.as_chunks::<32>().0.iter().enumerate() {
        let (sc, m) = scale_min_k4(j, &packed);
        let d = f16_value(d) * f32::from(sc);
        if d == 0.0 {
            continue;
        }
        let dm = f16_value(dmin) * f32::from(m);
        for (q, &v) in levels[32 * j..32 * j + 32].iter_mut().zip(group) {
            *q = nearest_int((v + dm) / d).clamp(0, nmax) as u8;
        }
    }
    ScaleMinBlock {
        levels,
        d,
        dmin,
        scales: packed,
    }
}

/// Q4_K: eight groups of 32, 4-bit levels.
pub(super) fn q4_k(src: &[f32], dst: &mut [u8]) {
    const SEARCH: Search = Search {
        nmax: 15,
        rmin: -1.0,
        rdelta: 0.1,
        nstep: 20,
        use_mad: false,
    };
    scale_min_k::<144>(src, dst, SEARCH, |b, y| {
        put_u16(y, 0, b.d);
        put_u16(y, 2, b.dmin);
        y[4..16].copy_from_slice(&b.scales);
        // Each 32 bytes hold 64 values: the first 32 in the low nibbles.
        for (chunk, out) in b.levels.chunks_exact(64).zip(y[16..].chunks_exact_mut(32)) {
            for (l, q) in out.iter_mut().enumerate() {
                *q = chunk[l] | chunk[l + 32] << 4;
            }
        }
    });
}

/// Q5_K: eight groups of 32, 5-bit levels (fifth bits in `qh`).
pub(super) fn q5_k(src: &[f32], dst: &mut [u8]) {
    const SEARCH: Search = Search {
        nmax: 31,
        rmin: -0.5,
        rdelta: 0.1,
        nstep: 15,
        use_mad: false,
    };
    scale_min_k::<176>(src, dst, SEARCH, |b, y| {
        put_u16(y, 0, b.d);
        put_u16(y, 2, b.dmin);
        y[4..16].copy_from_slice(&b.scales);
        let mut qh = [0u8; QK_K / 8];
        let qs = y[48..].chunks_exact_mut(32);
        for (n, (chunk, out)) in b.levels.chunks_exact(64).zip(qs).enumerate() {
            let (m1, m2) = (1u8 << (2 * n), 2u8 << (2 * n));
            for (j, q) in out.iter_mut().enumerate() {
                let (lo, hi) = (chunk[j], chunk[j + 32]);
                if lo > 15 {
                    qh[j] |= m1;
                }
                if hi > 15 {
                    qh[j] |= m2;
                }
                *q = (lo & 0x0f) | (hi & 0x0f) << 4;
            }
        }
        y[16..48].copy_from_slice(&qh);
    });
}

/// Q6_K: 16 groups of 16 with signed 8-bit scales, 6-bit levels.
pub(super) fn q6_k(src: &[f32], dst: &mut [u8]) {
    in_batches::<210>(src, dst, Regrouped::<16>::BATCH, |xs, ys| {
        let x = Regrouped::<16>::new(xs);
        let g = x.groups;
        let mut levels = [0u8; MAX_GROUPS * 16];
        let mut scales = [0.0f32; MAX_GROUPS];
        make_qx_quants::<16>(x.values(), 32, &mut levels, &mut scales[..g]);
        let scales = scales.as_chunks::<16>().0;
        for (b, (block, y)) in xs.iter().zip(ys).enumerate() {
            q6_k_block(block, x.block_levels(&levels, b), &scales[b], y);
        }
    });
}

fn q6_k_block(x: &[f32; QK_K], mut levels: [u8; QK_K], scales: &[f32; 16], y: &mut [u8; 210]) {
    let (mut max_scale, mut max_abs_scale) = (0f32, 0f32);
    for &scale in scales {
        if scale.abs() > max_abs_scale {
            max_abs_scale = scale.abs();
            max_scale = scale;
        }
    }
    if max_abs_scale < GROUP_MAX_EPS {
        y.fill(0);
        return;
    }

    let iscale = -128.0 / max_scale;
    let d = f16_bits(1.0 / iscale);
    let packed = scales.map(|s| nearest_int(iscale * s).min(127) as i8);
    for (j, group) in x.as_chunks::<16>().0.iter().enumerate() {
        let d = f16_value(d) * f32::from(packed[j]);
        if d == 0.0 {
            continue;
        }
        for (q, &v) in levels[16 * j..16 * j + 16].iter_mut().zip(group) {
            *q = (nearest_int(v / d).clamp(-32, 31) + 32) as u8;
        }
    }

    // Per 128 values: low nibbles in 64 bytes of `ql` (values 32 apart share a
    // byte), the top two bits of four values 32 apart in 32 bytes of `qh`.
    let (ql, rest) = y.split_at_mut(128);
    let (qh, tail) = rest.split_at_mut(64);
    let halves = levels
        .chunks_exact(128)
        .zip(ql.chunks_exact_mut(64))
        .zip(qh.chunks_exact_mut(32));
    for ((chunk, ql), qh) in halves {
        for l in 0..32 {
            let [a, b, c, e] = [chunk[l], chunk[l + 32], chunk[l + 64], chunk[l + 96]];
            ql[l] = (a & 0x0f) | (c & 0x0f) << 4;
            ql[l + 32] = (b & 0x0f) | (e & 0x0f) << 4;
            qh[l] = a >> 4 | (b >> 4) << 2 | (c >> 4) << 4 | (e >> 4) << 6;
        }
    }
    for (t, &s) in tail[..16].iter_mut().zip(&packed) {
        *t = s as u8;
    }
    put_u16(tail, 16, d);
}

/// Q8_K: `x = d * q` with an `f32` scale mapping the largest magnitude to -127, and
/// the sum of each 16 levels.
pub(super) fn q8_k(x: &[f32; QK_K], y: &mut [u8; 292]) {
    let (mut max, mut amax) = (0f32, 0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax == 0.0 {
        // ggml leaves the block sums untouched here; zeros keep the output defined.
        y.fill(0);
        return;
    }
    let iscale = -127.0 / max;
    let mut qs = [0i8; QK_K];
    for (q, &v) in qs.iter_mut().zip(x) {
        *q = nearest_int(iscale * v).min(127) as i8;
    }
    y[..4].copy_from_slice(&(1.0 / iscale).to_le_bytes());
    for (out, &q) in y[4..260].iter_mut().zip(&qs) {
        *out = q as u8;
    }
    for (j, group) in qs.chunks_exact(16).enumerate() {
        let sum: i16 = group.iter().map(|&q| i16::from(q)).sum();
        y[260 + 2 * j..262 + 2 * j].copy_from_slice(&sum.to_le_bytes());
    }
}
