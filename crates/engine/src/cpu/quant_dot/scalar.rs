//! Portable kernels for every supported weight type: ggml's generic `vec_dot`
//! arithmetic, written so the compiler can vectorize the integer loops.
//!
//! Each `dot_*` takes one weight row and one activation row (whole rows, in bytes);
//! the block count comes from the weight row's length.

use half::{bf16, f16};
use rocmforge_gguf::{GgmlType, QK_K};

use super::TileFn;

/// ggml's `kvalues_iq4nl`.
pub(super) const KVALUES_IQ4NL: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// ggml's `kvalues_mxfp4`: E2M1 values, doubled.
pub(super) const KVALUES_MXFP4: [i8; 16] =
    [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/// Half of the E8M0 scale `2^(e - 127)`, as ggml's `GGML_E8M0_TO_FP32_HALF`.
#[inline]
pub(super) fn e8m0_half(e: u8) -> f32 {
    let bits = if e < 2 {
        0x0020_0000u32 << e
    } else {
        u32::from(e - 1) << 23
    };
    f32::from_bits(bits)
}

/// The f16 at `b[i..i + 2]` as f32.
#[inline]
pub(super) fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// The f32 at `b[i..i + 4]`.
#[inline]
pub(super) fn f32_at(b: &[u8], i: usize) -> f32 {
    f32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Number of blocks in a weight row, checking the activation row's length.
///
/// # Panics
/// If the lengths do not describe the same number of blocks.
#[inline]
fn blocks(w: &[u8], wsize: usize, a: &[u8], asize: usize) -> usize {
    let nb = w.len() / wsize;
    assert!(
        w.len() == nb * wsize && a.len() == nb * asize,
        "row lengths {} and {} do not match",
        w.len(),
        a.len()
    );
    nb
}

macro_rules! tiles {
    ($($tile:ident => $dot:ident),* $(,)?) => {
        $(
            fn $tile(w: &[u8], acts: &[&[u8]], out: &mut [f32]) {
                for (o, a) in out.iter_mut().zip(acts) {
                    *o = $dot(w, a);
                }
            }
        )*
    };
}

tiles! {
    tile_f32 => dot_f32, tile_f16 => dot_f16, tile_bf16 => dot_bf16,
    tile_q4_0 => dot_q4_0, tile_q4_1 => dot_q4_1, tile_q5_0 => dot_q5_0,
    tile_q5_1 => dot_q5_1, tile_q8_0 => dot_q8_0, tile_iq4_nl => dot_iq4_nl,
    tile_mxfp4 => dot_mxfp4, tile_q2_k => dot_q2_k, tile_q3_k => dot_q3_k,
    tile_q4_k => dot_q4_k, tile_q5_k => dot_q5_k, tile_q6_k => dot_q6_k,
    tile_iq4_xs => dot_iq4_xs,
}

/// The portable kernel for `ty`.
///
/// # Panics
/// If `ty` has no activation format ([`super::act_format`] is `None`); callers
/// check that first.
pub(super) fn kernel(ty: GgmlType) -> TileFn {
    use GgmlType as T;
    match ty {
        T::F32 => tile_f32,
        T::F16 => tile_f16,
        T::BF16 => tile_bf16,
        T::Q4_0 => tile_q4_0,
        T::Q4_1 => tile_q4_1,
        T::Q5_0 => tile_q5_0,
        T::Q5_1 => tile_q5_1,
        T::Q8_0 => tile_q8_0,
        T::IQ4_NL => tile_iq4_nl,
        T::MXFP4 => tile_mxfp4,
        T::Q2_K => tile_q2_k,
        T::Q3_K => tile_q3_k,
        T::Q4_K => tile_q4_k,
        T::Q5_K => tile_q5_k,
        T::Q6_K => tile_q6_k,
        T::IQ4_XS => tile_iq4_xs,
        _ => unreachable!("{ty} weights are rejected by WeightMatrix::new"),
    }
}

fn dot_f32(w: &[u8], a: &[u8]) -> f32 {
    blocks(w, 4, a, 4);
    let mut acc = [0f32; 8];
    for (wc, ac) in w.chunks_exact(32).zip(a.chunks_exact(32)) {
        for (l, s) in acc.iter_mut().enumerate() {
            *s += f32_at(wc, 4 * l) * f32_at(ac, 4 * l);
        }
    }
    let mut sum: f32 = acc.iter().sum();
    let tail = w.len() / 32 * 32;
    for i in (tail..w.len()).step_by(4) {
        sum += f32_at(w, i) * f32_at(a, i);
    }
    sum
}

fn dot_f16(w: &[u8], a: &[u8]) -> f32 {
    blocks(w, 2, a, 2);
    let mut sum = 0f32;
    for (wc, ac) in w.chunks_exact(2).zip(a.chunks_exact(2)) {
        sum += f16_at(wc, 0) * f16_at(ac, 0);
    }
    sum
}

fn dot_bf16(w: &[u8], a: &[u8]) -> f32 {
    blocks(w, 2, a, 2);
    let mut sum = 0f32;
    for (wc, ac) in w.chunks_exact(2).zip(a.chunks_exact(2)) {
        let x = bf16::from_le_bytes([wc[0], wc[1]]).to_f32();
        let y = bf16::from_le_bytes([ac[0], ac[1]]).to_f32();
        sum += x * y;
    }
    sum
}

/// Integer dot product of 32 weights with the 32 values of a Q8_0 block.
#[inline]
fn idot32(v: &[i8; 32], q: &[u8]) -> i32 {
    v.iter()
        .zip(&q[..32])
        .map(|(&x, &y)| i32::from(x) * i32::from(y as i8))
        .sum()
}

/// Unpacks 16 bytes of nibbles to ggml's order: low nibbles first, then high.
#[inline]
fn nibbles(qs: &[u8], map: impl Fn(u8) -> i8) -> [i8; 32] {
    let mut v = [0i8; 32];
    for j in 0..16 {
        v[j] = map(qs[j] & 0xf);
        v[j + 16] = map(qs[j] >> 4);
    }
    v
}

/// Q5's 32-bit high-bit field, applied to 4-bit values.
#[inline]
fn with_high_bits(mut v: [i8; 32], qh: &[u8]) -> [i8; 32] {
    let h = u32::from_le_bytes([qh[0], qh[1], qh[2], qh[3]]);
    for (j, x) in v.iter_mut().enumerate() {
        *x |= (((h >> j) & 1) << 4) as i8;
    }
    v
}

fn dot_q4_0(w: &[u8], a: &[u8]) -> f32 {
    blocks(w, 18, a, 34);
    let mut sum = 0f32;
    for (x, y) in w.chunks_exact(18).zip(a.chunks_exact(34)) {
        let v = nibbles(&x[2..], |n| n as i8 - 8);
        sum += idot32(&v, &y[2..]) as f32 * (f16_at(x, 0) * f16_at(y, 0));
    }
    sum
}

fn dot_q4_1(w: &[u8], a: &[u8]) -> f32 {
    blocks(w, 20, a, 36);
    let mut sum = 0f32;
    for (x, y) in w.chunks_exact(20).zip(a.chunks_exact(36)) {
        let v = nibbles(&x[4..], |n| n as i8);
        let isum = idot32(&v, &y[4..]) as f32;
        sum += (f16_at(x, 0) * f16_at(y, 0)) * isum + f16_at(x, 2) * f16_at(y, 2);
    }
    sum
}

fn dot_q5_0(w: &[u8], a: &[u8]) -> f32 {
    blocks(w, 22, a, 34);
    let mut sum = 0f32;
    for (x, y) in w.chunks_exact(22).zip(a.chunks_exact(34)) {
        let mut v = with_high_bits(nibbles(&x[6..], |n| n as i8), &x[2..6]);
        for q in &mut v {
            *q -= 16;
        }
        sum += idot32(&v, &y[2..]) as f32 * (f16_at(x, 0) * f16_at(y, 0));
    }
    sum
}

fn dot_q5_1(w: &[u8], a: &[u8]) -> f32 {
    blocks(w, 24, a, 36);
    let mut sum = 0f32;
    for (x, y) in w.chunks_exact(24).zip(a.chunks_exact(36)) {
        let v = with_high_bits(nibbles(&x[8..], |n| n as i8), &x[4..8]);
        let isum = idot32(&v, &y[4..]) as f32;
        sum += (f16_at(x, 0) * f16_at(y, 0)) * isum + f16_at(x, 2) * f16_at(y, 2);
    }
    sum
}

fn dot_q8_0(w: &[u8], a: &[u8]) -> f32 {
    blocks(w, 34, a, 34);
    let mut sum = 0f32;
    for (x, y) in w.chunks_exact(34).zip(a.chunks_exact(34)) {
        let isum: i32 = x[2..34]
            .iter()
            .zip(&y[2..34])
            .map(|(&p, &q)| i32::from(p as i8) * i32::from(q as i8))
            .sum();
        sum += isum as f32 * (f16_at(x, 0) * f16_at(y, 0));
    }
    sum
}

fn dot_iq4_nl(w: &[u8], a: &[u8]) -> f32 {
    blocks(w, 18, a, 34);
    let mut sum = 0f32;
    for (x, y) in w.chunks_exact(18).zip(a.chunks_exact(34)) {
        let v = nibbles(&x[2..], |n| KVALUES_IQ4NL[usize::from(n)]);
        sum += (f16_at(y, 0) * f16_at(x, 0)) * idot32(&v, &y[2..]) as f32;
    }
    sum
}

fn dot_mxfp4(w: &[u8], a: &[u8]) -> f32 {
    blocks(w, 17, a, 34);
    let mut sum = 0f32;
    for (x, y) in w.chunks_exact(17).zip(a.chunks_exact(34)) {
        let v = nibbles(&x[1..], |n| KVALUES_MXFP4[usize::from(n)]);
        sum += (f16_at(y, 0) * e8m0_half(x[0])) * idot32(&v, &y[2..]) as f32;
    }
    sum
}

/// `Σ_j sc[j] · Σ_{l<16} v[16j + l] · q8[16j + l]` over a super-block.
#[inline]
fn kdot(v: &[i8; QK_K], sc: &[i32; 16], q8: &[u8]) -> i32 {
    let mut isum = 0i32;
    for ((vs, qs), &s) in v.chunks_exact(16).zip(q8[..QK_K].chunks_exact(16)).zip(sc) {
        let d: i32 = vs
            .iter()
            .zip(qs)
            .map(|(&x, &y)| i32::from(x) * i32::from(y as i8))
            .sum();
        isum += s * d;
    }
    isum
}

/// The Q8_K block's sums per 16 values.
#[inline]
fn bsums(y: &[u8]) -> [i32; 16] {
    let mut b = [0i32; 16];
    for (j, s) in b.iter_mut().enumerate() {
        *s = i32::from(i16::from_le_bytes([y[260 + 2 * j], y[261 + 2 * j]]));
    }
    b
}

fn dot_q2_k(w: &[u8], a: &[u8]) -> f32 {
    blocks(w, 84, a, 292);
    let mut sum = 0f32;
    for (x, y) in w.chunks_exact(84).zip(a.chunks_exact(292)) {
        let scales = &x[0..16];
        let qs = &x[16..80];
        let mut v = [0i8; QK_K];
        for half in 0..2 {
            for j in 0..4 {
                for l in 0..32 {
                    v[128 * half + 32 * j + l] = ((qs[32 * half + l] >> (2 * j)) & 3) as i8;
                }
            }
        }
        let sc: [i32; 16] = std::array::from_fn(|j| i32::from(scales[j] & 0xf));
        let bs = bsums(y);
        let summs: i32 = (0..16).map(|j| bs[j] * i32::from(scales[j] >> 4)).sum();
        let yd = f32_at(y, 0);
        let dall = yd * f16_at(x, 80);
        let dmin = yd * f16_at(x, 82);
        sum += dall * kdot(&v, &sc, &y[4..]) as f32 - dmin * summs as f32;
    }
    sum
}

/// Q3_K's sixteen 6-bit scales, offset by -32.
#[inline]
pub(super) fn q3_k_scales(s: &[u8]) -> [i32; 16] {
    let mut out = [0i32; 16];
    for (j, o) in out.iter_mut().enumerate() {
        let low = if j < 8 { s[j] & 0xf } else { s[j - 8] >> 4 };
        let high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        *o = i32::from(low | (high << 4)) - 32;
    }
    out
}

fn dot_q3_k(w: &[u8], a: &[u8]) -> f32 {
    blocks(w, 110, a, 292);
    let mut sum = 0f32;
    for (x, y) in w.chunks_exact(110).zip(a.chunks_exact(292)) {
        let hmask = &x[0..32];
        let qs = &x[32..96];
        let mut v = [0i8; QK_K];
        for half in 0..2 {
            for j in 0..4 {
                let bit = 4 * half + j;
                for l in 0..32 {
                    let low = ((qs[32 * half + l] >> (2 * j)) & 3) as i8;
                    let high = if hmask[l] & (1 << bit) != 0 { 0 } else { 4 };
                    v[128 * half + 32 * j + l] = low - high;
                }
            }
        }
        let sc = q3_k_scales(&x[96..108]);
        let d = f16_at(x, 108) * f32_at(y, 0);
        sum += d * kdot(&v, &sc, &y[4..]) as f32;
    }
    sum
}

/// Q4_K/Q5_K's eight 6-bit (scale, min) pairs (ggml's `get_scale_min_k4`).
#[inline]
pub(super) fn scale_min_k4(q: &[u8]) -> ([u8; 8], [u8; 8]) {
    let mut sc = [0u8; 8];
    let mut m = [0u8; 8];
    for j in 0..8 {
        if j < 4 {
            sc[j] = q[j] & 63;
            m[j] = q[j + 4] & 63;
        } else {
            sc[j] = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
            m[j] = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
    }
    (sc, m)
}

/// Result of a Q4_K/Q5_K super-block given its unpacked values.
#[inline]
fn q45_k_block(x: &[u8], y: &[u8], v: &[i8; QK_K]) -> f32 {
    let (sc8, m8) = scale_min_k4(&x[4..16]);
    let sc: [i32; 16] = std::array::from_fn(|j| i32::from(sc8[j / 2]));
    let bs = bsums(y);
    let summs: i32 = (0..16).map(|j| bs[j] * i32::from(m8[j / 2])).sum();
    let yd = f32_at(y, 0);
    let d = f16_at(x, 0) * yd;
    let dmin = f16_at(x, 2) * yd;
    d * kdot(v, &sc, &y[4..]) as f32 - dmin * summs as f32
}

fn dot_q4_k(w: &[u8], a: &[u8]) -> f32 {
    blocks(w, 144, a, 292);
    let mut sum = 0f32;
    for (x, y) in w.chunks_exact(144).zip(a.chunks_exact(292)) {
        let qs = &x[16..144];
        let mut v = [0i8; QK_K];
        for j in 0..4 {
            for l in 0..32 {
                v[64 * j + l] = (qs[32 * j + l] & 0xf) as i8;
                v[64 * j + 32 + l] = (qs[32 * j + l] >> 4) as i8;
            }
        }
        sum += q45_k_block(x, y, &v);
    }
    sum
}

fn dot_q5_k(w: &[u8], a: &[u8]) -> f32 {
    blocks(w, 176, a, 292);
    let mut sum = 0f32;
    for (x, y) in w.chunks_exact(176).zip(a.chunks_exact(292)) {
        let qh = &x[16..48];
        let qs = &x[48..176];
        let mut v = [0i8; QK_K];
        for j in 0..4 {
            for l in 0..32 {
                let h0 = ((qh[l] >> (2 * j)) & 1) << 4;
                let h1 = ((qh[l] >> (2 * j + 1)) & 1) << 4;
                v[64 * j + l] = ((qs[32 * j + l] & 0xf) | h0) as i8;
                v[64 * j + 32 + l] = ((qs[32 * j + l] >> 4) | h1) as i8;
            }
        }
        sum += q45_k_block(x, y, &v);
    }
    sum
}

fn dot_q6_k(w: &[u8], a: &[u8]) -> f32 {
    blocks(w, 210, a, 292);
    let mut sum = 0f32;
    for (x, y) in w.chunks_exact(210).zip(a.chunks_exact(292)) {
        let mut v = [0i8; QK_K];
        for half in 0..2 {
            let ql = &x[64 * half..64 * half + 64];
            let qh = &x[128 + 32 * half..128 + 32 * half + 32];
            let o = 128 * half;
            for l in 0..32 {
                v[o + l] = ((ql[l] & 0xf) | ((qh[l] & 3) << 4)) as i8 - 32;
                v[o + l + 32] = ((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) as i8 - 32;
                v[o + l + 64] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i8 - 32;
                v[o + l + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i8 - 32;
            }
        }
        let sc: [i32; 16] = std::array::from_fn(|j| i32::from(x[192 + j] as i8));
        let d = f16_at(x, 208) * f32_at(y, 0);
        sum += d * kdot(&v, &sc, &y[4..]) as f32;
    }
    sum
}

fn dot_iq4_xs(w: &[u8], a: &[u8]) -> f32 {
    blocks(w, 136, a, 292);
    let mut sum = 0f32;
    for (x, y) in w.chunks_exact(136).zip(a.chunks_exact(292)) {
        let sh = u16::from_le_bytes([x[2], x[3]]);
        let sl = &x[4..8];
        let qs = &x[8..136];
        let mut v = [0i8; QK_K];
        let mut sc = [0i32; 16];
        for ib in 0..8 {
            let low = (sl[ib / 2] >> (4 * (ib % 2))) & 0xf;
            let high = ((sh >> (2 * ib)) & 3) as u8;
            let ls = i32::from(low | (high << 4)) - 32;
            sc[2 * ib] = ls;
            sc[2 * ib + 1] = ls;
            let nib = nibbles(&qs[16 * ib..], |n| KVALUES_IQ4NL[usize::from(n)]);
            v[32 * ib..32 * ib + 32].copy_from_slice(&nib);
        }
        let d = f16_at(x, 0) * f32_at(y, 0);
        sum += d * kdot(&v, &sc, &y[4..]) as f32;
    }
    sum
}
