//! Causal attention over the KV cache for a batch of queries, grouped-query
//! native, with an optional sliding window.
//!
//! The cache is f16; the keys and values a layer needs are widened to f32 once
//! per call (each exactly), then every (token, head) pair runs in parallel.
//! Both paths reproduce ggml's CPU flash attention step by step, so results are
//! bit-identical to llama.cpp's: `half_precision` its per-query kernel
//! (`flash_attn_ext_f16_one_chunk`: the query rounded to f16, the weighted
//! values summed in f16), otherwise its tiled kernel for batches of 64 queries
//! and more (`flash_attn_ext_tiled`: f32, keys in tiles of 64 positions with an
//! online softmax per tile).

use half::f16;
use half::slice::HalfFloatSliceExt;
use rayon::prelude::*;

use super::ggml_math::{ggml_v_expf, has_avx2_fma};

/// The geometry of one attention call.
#[derive(Debug, Clone, Copy)]
pub struct Geometry {
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads.
    pub n_head_kv: usize,
    /// Dimension of query/key heads.
    pub head_dim: usize,
    /// Dimension of value heads.
    pub head_dim_v: usize,
    /// Position of the first query.
    pub start: usize,
    /// Attend only to the last `window` positions.
    pub window: Option<usize>,
    /// Multiplies the query·key products.
    pub kq_scale: f32,
}

/// Key positions per tile of ggml's tiled flash attention (`GGML_FA_TILE_KV`).
const KV_TILE: usize = 64;

/// Reusable f32 copies of the cached keys and values.
#[derive(Debug, Default)]
pub struct Scratch {
    keys: Vec<f32>,
    values: Vec<f32>,
}

/// Widens the keys into tiles of [`KV_TILE`] positions per key head, each tile
/// transposed (`[dim][position]`, zero beyond the last position), as ggml packs
/// them for its tiled kernel.
fn widen_key_tiles(keys: &[f16], n_head_kv: usize, head_dim: usize, dst: &mut Vec<f32>) {
    let k_dim = n_head_kv * head_dim;
    let positions = keys.len() / k_dim;
    let tiles = positions.div_ceil(KV_TILE);
    let tile_len = head_dim * KV_TILE;
    dst.clear();
    dst.resize(n_head_kv * tiles * tile_len, 0.0);
    dst.par_chunks_mut(tile_len)
        .enumerate()
        .for_each(|(index, tile)| {
            let (kv_head, b) = (index / tiles, index % tiles);
            for j in 0..KV_TILE.min(positions - b * KV_TILE) {
                let p = b * KV_TILE + j;
                let key = &keys[p * k_dim + kv_head * head_dim..][..head_dim];
                for (d, k) in key.iter().enumerate() {
                    tile[d * KV_TILE + j] = k.to_f32();
                }
            }
        });
}

/// `out[t][head]` = softmax(q·Kᵀ) V for each query `t` of `q` (`n × n_head ×
/// head_dim`), over positions `..=start + t` of `keys`/`values`.
pub fn attend(
    g: Geometry,
    q: &[f32],
    keys: &[f16],
    values: &[f16],
    half_precision: bool,
    scratch: &mut Scratch,
    out: &mut [f32],
) {
    let (hd, hdv, kq_scale) = (g.head_dim, g.head_dim_v, g.kq_scale);
    let (q_dim, k_dim, v_dim) = (g.n_head * hd, g.n_head_kv * hd, g.n_head_kv * hdv);
    // Only the positions some query sees are widened: from the first query's
    // window on (a sliding-window layer deep in a long context sees a small
    // part of its cache), from the start of that position's tile for the
    // tiled kernel, whose tiles stay where ggml's are.
    let total = keys.len() / k_dim;
    let first_seen = g.window.map_or(0, |w| (g.start + 1).saturating_sub(w));
    let base = if half_precision {
        first_seen
    } else {
        first_seen / KV_TILE * KV_TILE
    };
    let (keys, values) = (&keys[base * k_dim..], &values[base * v_dim..]);
    if half_precision {
        widen(keys, &mut scratch.keys);
    } else {
        widen_key_tiles(keys, g.n_head_kv, hd, &mut scratch.keys);
    }
    // The f16 kernel reads the values as they are cached (converting them in
    // its accumulation loop, as ggml's `vec_mad_f16` does); the tiled one
    // wants them widened.
    let values16 = values;
    if !half_precision {
        widen(values, &mut scratch.values);
    }
    let values = &scratch.values[..if half_precision { 0 } else { values.len() }];
    let keys = if half_precision {
        &scratch.keys[..keys.len()]
    } else {
        &scratch.keys[..]
    };
    let tiles = (total - base).div_ceil(KV_TILE).max(1);
    let group = g.n_head / g.n_head_kv;
    out.par_chunks_mut(hdv)
        .enumerate()
        .for_each_init(Buffers::default, |buffers, (index, out)| {
            let (t, head) = (index / g.n_head, index % g.n_head);
            let kv_head = head / group;
            let pos = g.start + t;
            let first = g.window.map_or(0, |w| (pos + 1).saturating_sub(w));
            let query = &q[t * q_dim + head * hd..t * q_dim + (head + 1) * hd];
            // The copies start at position `base`.
            let value = |p: usize| {
                let p = p - base;
                &values[p * v_dim + kv_head * hdv..p * v_dim + (kv_head + 1) * hdv]
            };
            if half_precision {
                let key = |p: usize| {
                    let p = p - base;
                    &keys[p * k_dim + kv_head * hd..p * k_dim + (kv_head + 1) * hd]
                };
                let value16 = |p: usize| {
                    let p = p - base;
                    &values16[p * v_dim + kv_head * hdv..p * v_dim + (kv_head + 1) * hdv]
                };
                attend_f16(query, kq_scale, first..pos + 1, key, value16, buffers, out);
            } else {
                let key_tile = |b: usize| {
                    let len = hd * KV_TILE;
                    &keys[(kv_head * tiles + b - base / KV_TILE) * len..][..len]
                };
                attend_tiled(query, kq_scale, first..pos + 1, key_tile, value, out);
            }
        });
}

#[derive(Default)]
struct Buffers {
    query: Vec<f32>,
    acc16: Vec<f16>,
}

/// ggml's `flash_attn_ext_f16_one_chunk` for an f16 cache: the query rounded to
/// f16, the weighted values summed in f16 (`vec_scale_f16`, `vec_mad_f16`).
fn attend_f16<'a>(
    query: &[f32],
    kq_scale: f32,
    range: std::ops::Range<usize>,
    key: impl Fn(usize) -> &'a [f32],
    value: impl Fn(usize) -> &'a [f16],
    b: &mut Buffers,
    out: &mut [f32],
) {
    b.query.clear();
    b.query
        .extend(query.iter().map(|&x| f16::from_f32(x).to_f32()));
    b.acc16.clear();
    b.acc16.resize(out.len(), f16::ZERO);
    let (mut max, mut sum) = (f32::NEG_INFINITY, 0.0f32);
    for p in range {
        let s = dot_ggml_order(&b.query, key(p)) * kq_scale;
        let (mut ms, mut vs) = (1.0f32, 1.0f32);
        if s > max {
            ms = (max - s).exp();
            max = s;
            scale_f16(&mut b.acc16, ms);
        } else {
            vs = (s - max).exp();
        }
        mad_f16(&mut b.acc16, value(p), vs);
        sum = sum.mul_add(ms, vs);
    }
    let inv = if sum == 0.0 { 0.0 } else { 1.0 / sum };
    for (o, a) in out.iter_mut().zip(&b.acc16) {
        *o = a.to_f32() * inv;
    }
}

/// `acc = f16(acc · s)`, ggml's `vec_scale_f16`.
fn scale_f16(acc: &mut [f16], s: f32) {
    #[cfg(target_arch = "x86_64")]
    if super::quant_dot::simd_level() == super::quant_dot::Level::Avx2 {
        // SAFETY: `simd_level` found AVX2, FMA and F16C on this CPU.
        return unsafe { f16_avx2::scale(acc, s) };
    }
    for a in acc {
        *a = f16::from_f32(a.to_f32() * s);
    }
}

/// `acc = f16(fma(v, s, acc))`, ggml's `vec_mad_f16`.
fn mad_f16(acc: &mut [f16], v: &[f16], s: f32) {
    #[cfg(target_arch = "x86_64")]
    if super::quant_dot::simd_level() == super::quant_dot::Level::Avx2 {
        // SAFETY: `simd_level` found AVX2, FMA and F16C on this CPU.
        return unsafe { f16_avx2::mad(acc, v, s) };
    }
    for (a, x) in acc.iter_mut().zip(v) {
        *a = f16::from_f32(x.to_f32().mul_add(s, a.to_f32()));
    }
}

/// The f16 accumulation steps with F16C conversions, eight values at a time
/// (each value computed as the scalar forms compute it).
#[cfg(target_arch = "x86_64")]
mod f16_avx2 {
    use std::arch::x86_64::*;

    use half::f16;

    /// Round to nearest, ties to even, as `f16::from_f32` and ggml's conversions.
    const ROUND: i32 = _MM_FROUND_TO_NEAREST_INT;

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn scale(acc: &mut [f16], s: f32) {
        let sv = _mm256_set1_ps(s);
        let mut chunks = acc.chunks_exact_mut(8);
        for a in &mut chunks {
            let a: &mut [f16; 8] = a.try_into().expect("chunks of eight");
            // SAFETY: `a` is eight f16 values, 16 bytes, read and written whole.
            unsafe {
                let x = _mm256_cvtph_ps(_mm_loadu_si128(a.as_ptr().cast()));
                let y = _mm256_cvtps_ph::<ROUND>(_mm256_mul_ps(x, sv));
                _mm_storeu_si128(a.as_mut_ptr().cast(), y);
            }
        }
        for a in chunks.into_remainder() {
            *a = f16::from_f32(a.to_f32() * s);
        }
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn mad(acc: &mut [f16], v: &[f16], s: f32) {
        let sv = _mm256_set1_ps(s);
        let n = acc.len().min(v.len()) / 8 * 8;
        for (a, x) in acc[..n].chunks_exact_mut(8).zip(v[..n].chunks_exact(8)) {
            let a: &mut [f16; 8] = a.try_into().expect("chunks of eight");
            let x: &[f16; 8] = x.try_into().expect("chunks of eight");
            // SAFETY: `a` and `x` are eight f16 values each, 16 bytes.
            unsafe {
                let xv = _mm256_cvtph_ps(_mm_loadu_si128(x.as_ptr().cast()));
                let av = _mm256_cvtph_ps(_mm_loadu_si128(a.as_ptr().cast()));
                let y = _mm256_cvtps_ph::<ROUND>(_mm256_fmadd_ps(xv, sv, av));
                _mm_storeu_si128(a.as_mut_ptr().cast(), y);
            }
        }
        for (a, x) in acc[n..].iter_mut().zip(&v[n..]) {
            *a = f16::from_f32(x.to_f32().mul_add(s, a.to_f32()));
        }
    }
}

/// ggml's `flash_attn_ext_tiled` for one query over the positions `range`.
/// `key_tile(b)` is the transposed tile of positions `b * KV_TILE..`.
fn attend_tiled<'a>(
    query: &[f32],
    kq_scale: f32,
    range: std::ops::Range<usize>,
    key_tile: impl Fn(usize) -> &'a [f32],
    value: impl Fn(usize) -> &'a [f32],
    out: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA (checked above).
        return unsafe { attend_tiled_avx2(query, kq_scale, range, key_tile, value, out) };
    }
    attend_tiled_portable(query, kq_scale, range, key_tile, value, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn attend_tiled_avx2<'a>(
    query: &[f32],
    kq_scale: f32,
    range: std::ops::Range<usize>,
    key_tile: impl Fn(usize) -> &'a [f32],
    value: impl Fn(usize) -> &'a [f32],
    out: &mut [f32],
) {
    attend_tiled_portable(query, kq_scale, range, key_tile, value, out)
}

#[inline(always)]
fn attend_tiled_portable<'a>(
    query: &[f32],
    kq_scale: f32,
    range: std::ops::Range<usize>,
    key_tile: impl Fn(usize) -> &'a [f32],
    value: impl Fn(usize) -> &'a [f32],
    out: &mut [f32],
) {
    let (mut max, mut sum) = (f32::NEG_INFINITY, 0.0f32);
    out.fill(0.0);
    for b in range.start / KV_TILE..range.end.div_ceil(KV_TILE) {
        let tile_start = b * KV_TILE;
        let valid = range.start.max(tile_start) - tile_start
            ..range.end.min(tile_start + KV_TILE) - tile_start;
        // Scores: one fused multiply-add chain over the dimensions per position
        // (ggml's `simd_gemm`), then the scale; masked positions are -inf.
        let tile = key_tile(b);
        let mut scores = [0.0f32; KV_TILE];
        for (d, &qd) in query.iter().enumerate() {
            let row = &tile[d * KV_TILE..(d + 1) * KV_TILE];
            for (s, &k) in scores.iter_mut().zip(row) {
                *s = k.mul_add(qd, *s);
            }
        }
        for (j, s) in scores.iter_mut().enumerate() {
            *s = if valid.contains(&j) {
                *s * kq_scale
            } else {
                f32::NEG_INFINITY
            };
        }
        let tile_max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let new_max = max.max(tile_max);
        if new_max > max {
            let ms = (max - new_max).exp();
            out.iter_mut().for_each(|o| *o *= ms);
            sum *= ms;
        }
        max = new_max;
        // ggml_vec_soft_max_f32: 16 exponentials at a time, each group summed
        // in its lanes' order and added in double precision.
        let mut tile_sum = 0.0f64;
        for group in scores.chunks_exact_mut(16) {
            for s in group.iter_mut() {
                *s = ggml_v_expf(*s - new_max);
            }
            tile_sum += f64::from(reduce_add_16(group));
        }
        sum = (f64::from(sum) + tile_sum) as f32;
        // Weighted values: one fused multiply-add chain over the positions.
        for j in valid {
            let p = scores[j];
            for (o, &v) in out.iter_mut().zip(value(tile_start + j)) {
                *o = v.mul_add(p, *o);
            }
        }
    }
    let inv = if sum == 0.0 { 0.0 } else { 1.0 / sum };
    out.iter_mut().for_each(|o| *o *= inv);
}

/// GCC's `_mm512_reduce_add_ps` order for 16 values.
#[inline(always)]
fn reduce_add_16(v: &[f32]) -> f32 {
    let t8: [f32; 8] = std::array::from_fn(|l| v[l + 8] + v[l]);
    let t4: [f32; 4] = std::array::from_fn(|l| t8[l + 4] + t8[l]);
    (t4[0] + t4[2]) + (t4[1] + t4[3])
}

/// The summation order of ggml's `vec_dot_f16` as built for the reference
/// machine (AVX-512: four 16-lane fused accumulators over 64 values at a time,
/// added pairwise, then the lanes folded 8, 4, 2, 1), so scores round as there.
fn dot_ggml_order(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA (checked above).
        return unsafe { dot_ggml_order_avx2(a, b) };
    }
    dot_ggml_order_portable(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_ggml_order_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_ggml_order_portable(a, b)
}

#[inline(always)]
fn dot_ggml_order_portable(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    const STEP: usize = 4 * LANES;
    let mut acc = [[0.0f32; LANES]; 4];
    let whole = a.len() / STEP * STEP;
    for (x, y) in a[..whole]
        .chunks_exact(STEP)
        .zip(b[..whole].chunks_exact(STEP))
    {
        for j in 0..4 {
            for l in 0..LANES {
                acc[j][l] = x[j * LANES + l].mul_add(y[j * LANES + l], acc[j][l]);
            }
        }
    }
    let mut v = [0.0f32; LANES];
    for l in 0..LANES {
        v[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
    }
    let t8: [f32; 8] = std::array::from_fn(|l| v[l] + v[l + 8]);
    let t4: [f32; 4] = std::array::from_fn(|l| t8[l] + t8[l + 4]);
    let mut sum = f64::from((t4[0] + t4[2]) + (t4[1] + t4[3]));
    for (x, y) in a[whole..].iter().zip(&b[whole..]) {
        sum += f64::from(x * y);
    }
    sum as f32
}

/// `src` widened into the first `src.len()` values of `dst` (which only grows:
/// what lies beyond is stale and unused).
fn widen(src: &[f16], dst: &mut Vec<f32>) {
    if dst.len() < src.len() {
        dst.resize(src.len(), 0.0);
    }
    dst[..src.len()]
        .par_chunks_mut(1 << 14)
        .zip(src.par_chunks(1 << 14))
        .for_each(|(d, s)| s.convert_to_f32_slice(d));
}

#[cfg(test)]
mod tests {
    use half::f16;

    use super::{Geometry, Scratch, attend};

    /// Softmax attention in f64 over positions `first..=pos`.
    fn reference(q: &[f32], keys: &[f16], values: &[f16], g: Geometry, t: usize) -> Vec<f64> {
        let (hd, hdv) = (g.head_dim, g.head_dim_v);
        let (k_dim, v_dim) = (g.n_head_kv * hd, g.n_head_kv * hdv);
        let pos = g.start + t;
        let first = g.window.map_or(0, |w| (pos + 1).saturating_sub(w));
        let mut out = Vec::new();
        for head in 0..g.n_head {
            let kv = head / (g.n_head / g.n_head_kv);
            let query = &q[(t * g.n_head + head) * hd..][..hd];
            let scores: Vec<f64> = (first..=pos)
                .map(|p| {
                    let key = &keys[p * k_dim + kv * hd..][..hd];
                    let dot: f64 = query
                        .iter()
                        .zip(key)
                        .map(|(a, b)| f64::from(*a) * f64::from(b.to_f32()))
                        .sum();
                    dot * f64::from(g.kq_scale)
                })
                .collect();
            let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
            let sum: f64 = weights.iter().sum();
            for d in 0..hdv {
                let v: f64 = (first..=pos)
                    .zip(&weights)
                    .map(|(p, w)| w * f64::from(values[p * v_dim + kv * hdv + d].to_f32()))
                    .sum();
                out.push(v / sum);
            }
        }
        out
    }

    #[test]
    fn f16_accumulation_steps_round_as_the_scalar_forms() {
        // 37 values: four vectors of eight and a tail, over a range of sizes.
        let acc: Vec<f16> = (0..37)
            .map(|i| f16::from_f32((i as f32 - 18.0) * 0.731))
            .collect();
        let v: Vec<f16> = (0..37)
            .map(|i| f16::from_f32(1.0 / (i as f32 + 0.37)))
            .collect();
        for s in [0.0f32, 0.3, 1.0, 7.77e-3, 123.4] {
            let mut got = acc.clone();
            super::scale_f16(&mut got, s);
            let want: Vec<f16> = acc.iter().map(|a| f16::from_f32(a.to_f32() * s)).collect();
            assert_eq!(got, want, "scale by {s}");
            let mut got = acc.clone();
            super::mad_f16(&mut got, &v, s);
            let want: Vec<f16> = acc
                .iter()
                .zip(&v)
                .map(|(a, x)| f16::from_f32(x.to_f32().mul_add(s, a.to_f32())))
                .collect();
            assert_eq!(got, want, "multiply-add by {s}");
        }
    }

    #[test]
    fn sliding_windows_deep_in_the_cache_attend_to_their_positions() {
        // 200 cached positions, windows of 5 and 100 (neither starting on a
        // tile boundary), one query (f16 path) and 70 queries (tiled path).
        let mut seed = 7u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % 2001) as f32 / 1000.0 - 1.0
        };
        let (n_head, n_head_kv, hd) = (4, 2, 32);
        let total = 200;
        let keys: Vec<f16> = (0..total * n_head_kv * hd)
            .map(|_| f16::from_f32(next()))
            .collect();
        let values: Vec<f16> = (0..total * n_head_kv * hd)
            .map(|_| f16::from_f32(next()))
            .collect();
        for (n, window) in [(1, 5), (70, 5), (1, 100), (70, 100)] {
            let g = Geometry {
                n_head,
                n_head_kv,
                head_dim: hd,
                head_dim_v: hd,
                start: total - n,
                window: Some(window),
                kq_scale: 0.5,
            };
            let q: Vec<f32> = (0..n * n_head * hd).map(|_| next()).collect();
            let mut out = vec![f32::NAN; n * n_head * hd];
            attend(
                g,
                &q,
                &keys,
                &values,
                n < 64,
                &mut Scratch::default(),
                &mut out,
            );
            for t in 0..n {
                let want = reference(&q, &keys, &values, g, t);
                let got = &out[t * n_head * hd..][..n_head * hd];
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (f64::from(*g) - w).abs() < 5e-3,
                        "n {n}, window {window}, query {t}, value {i}: {g} vs {w}"
                    );
                }
            }
        }
    }
}
