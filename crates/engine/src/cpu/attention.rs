//! Causal attention over the KV cache for a batch of queries, grouped-query
//! native, with an optional sliding window.
//!
//! The cache is f16; the keys and values a layer needs are widened to f32 once
//! per call (each exactly), then every (token, head) pair runs in parallel.
//! `half_precision` reproduces ggml's single-query flash attention: the query
//! rounded to f16 and the weighted values summed in f16 (each step rounded).

use half::f16;
use half::slice::HalfFloatSliceExt;
use rayon::prelude::*;

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
}

/// Reusable f32 copies of the cached keys and values.
#[derive(Debug, Default)]
pub struct Scratch {
    keys: Vec<f32>,
    values: Vec<f32>,
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
    let (hd, hdv) = (g.head_dim, g.head_dim_v);
    let (q_dim, k_dim, v_dim) = (g.n_head * hd, g.n_head_kv * hd, g.n_head_kv * hdv);
    widen(keys, &mut scratch.keys);
    widen(values, &mut scratch.values);
    let (keys, values) = (&scratch.keys[..], &scratch.values[..]);
    let group = g.n_head / g.n_head_kv;
    out.par_chunks_mut(hdv)
        .enumerate()
        .for_each_init(Buffers::default, |buffers, (index, out)| {
            let (t, head) = (index / g.n_head, index % g.n_head);
            let kv_head = head / group;
            let pos = g.start + t;
            let first = g.window.map_or(0, |w| (pos + 1).saturating_sub(w));
            let query = &q[t * q_dim + head * hd..t * q_dim + (head + 1) * hd];
            let key = |p: usize| &keys[p * k_dim + kv_head * hd..p * k_dim + (kv_head + 1) * hd];
            let value =
                |p: usize| &values[p * v_dim + kv_head * hdv..p * v_dim + (kv_head + 1) * hdv];
            if half_precision {
                attend_f16(query, first..pos + 1, key, value, buffers, out);
            } else {
                let scores = &mut buffers.scores;
                scores.clear();
                scores.extend((first..=pos).map(|p| dot(query, key(p))));
                super::ops::softmax(scores);
                out.fill(0.0);
                for (i, &s) in scores.iter().enumerate() {
                    axpy(s, value(first + i), out);
                }
            }
        });
}

#[derive(Default)]
struct Buffers {
    scores: Vec<f32>,
    query: Vec<f32>,
    acc16: Vec<f16>,
    acc: Vec<f32>,
}

/// ggml's `flash_attn_ext_f16_one_chunk` for an f16 cache.
fn attend_f16<'a>(
    query: &[f32],
    range: std::ops::Range<usize>,
    key: impl Fn(usize) -> &'a [f32],
    value: impl Fn(usize) -> &'a [f32],
    b: &mut Buffers,
    out: &mut [f32],
) {
    b.query.clear();
    b.query
        .extend(query.iter().map(|&x| f16::from_f32(x).to_f32()));
    b.acc.clear();
    b.acc.resize(out.len(), 0.0);
    b.acc16.clear();
    b.acc16.resize(out.len(), f16::ZERO);
    let (mut max, mut sum) = (f32::NEG_INFINITY, 0.0f32);
    for p in range {
        let s = dot_ggml_order(&b.query, key(p));
        let (mut ms, mut vs) = (1.0f32, 1.0f32);
        if s > max {
            ms = (max - s).exp();
            max = s;
            b.acc.iter_mut().for_each(|a| *a *= ms);
            round_to_f16(&mut b.acc, &mut b.acc16);
        } else {
            vs = (s - max).exp();
        }
        axpy(vs, value(p), &mut b.acc);
        round_to_f16(&mut b.acc, &mut b.acc16);
        sum = sum.mul_add(ms, vs);
    }
    let inv = if sum == 0.0 { 0.0 } else { 1.0 / sum };
    for (o, a) in out.iter_mut().zip(&b.acc) {
        *o = a * inv;
    }
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

/// Rounds every value to the nearest f16 (through `tmp`).
fn round_to_f16(values: &mut [f32], tmp: &mut [f16]) {
    tmp.convert_from_f32_slice(values);
    tmp.convert_to_f32_slice(values);
}

fn widen(src: &[f16], dst: &mut Vec<f32>) {
    dst.clear();
    dst.resize(src.len(), 0.0);
    dst.par_chunks_mut(1 << 14)
        .zip(src.par_chunks(1 << 14))
        .for_each(|(d, s)| s.convert_to_f32_slice(d));
}

/// Whether AVX2 and FMA are available (checked once).
fn has_avx2_fma() -> bool {
    static DETECTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    #[cfg(target_arch = "x86_64")]
    {
        *DETECTED
            .get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        *DETECTED.get_or_init(|| false)
    }
}

/// Dot product with eight independent sums.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA (checked above).
        return unsafe { dot_avx2(a, b) };
    }
    dot_portable(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_portable(a, b)
}

#[inline(always)]
fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] = x[i].mul_add(y[i], acc[i]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `out += s · v`, fused multiply-adds as ggml's `vec_mad`.
fn axpy(s: f32, v: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA (checked above).
        return unsafe { axpy_avx2(s, v, out) };
    }
    axpy_portable(s, v, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn axpy_avx2(s: f32, v: &[f32], out: &mut [f32]) {
    axpy_portable(s, v, out);
}

#[inline(always)]
fn axpy_portable(s: f32, v: &[f32], out: &mut [f32]) {
    for (o, &x) in out.iter_mut().zip(v) {
        *o = x.mul_add(s, *o);
    }
}
