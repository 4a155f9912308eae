//! The original 32-value block formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1.

use super::float::f16_bits;
use super::{put_u16, trunc_i32};

/// Block length of every format here.
const QK: usize = 32;
const HALF: usize = QK / 2;

/// The value of largest magnitude (the first one on ties), and that magnitude.
#[inline(always)]
fn signed_absmax(x: &[f32; QK]) -> (f32, f32) {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    (max, amax)
}

/// Smallest and largest value; NaN never wins a comparison, so it is skipped.
#[inline(always)]
fn min_max(x: &[f32; QK]) -> (f32, f32) {
    let (mut min, mut max) = (f32::MAX, -f32::MAX);
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

/// The reciprocal scale, or 0 for a zero scale (NaN counts as non-zero, as in C).
#[inline(always)]
fn inverse(d: f32) -> f32 {
    if d != 0.0 { 1.0 / d } else { 0.0 }
}

/// ggml's `MIN(hi, (int8_t)v)` stored into a `uint8_t`.
#[inline(always)]
fn capped_i8(v: f32, hi: i32) -> u8 {
    (trunc_i32(v) as i8 as i32).min(hi) as u8
}

/// Q4_0: `x = d * (q - 8)` with `d = max / -8`, so the largest magnitude maps to -8.
pub(super) fn q4_0(x: &[f32; QK], y: &mut [u8; 18]) {
    let (max, _) = signed_absmax(x);
    let d = max / -8.0;
    let id = inverse(d);
    put_u16(y, 0, f16_bits(d));
    for j in 0..HALF {
        let lo = capped_i8(x[j] * id + 8.5, 15);
        let hi = capped_i8(x[j + HALF] * id + 8.5, 15);
        y[2 + j] = lo | hi << 4;
    }
}

/// Q4_1: `x = d * q + m` over the block's range.
pub(super) fn q4_1(x: &[f32; QK], y: &mut [u8; 20]) {
    let (min, max) = min_max(x);
    let d = (max - min) / 15.0;
    let id = inverse(d);
    put_u16(y, 0, f16_bits(d));
    put_u16(y, 2, f16_bits(min));
    for j in 0..HALF {
        let lo = capped_i8((x[j] - min) * id + 0.5, 15);
        let hi = capped_i8((x[j + HALF] - min) * id + 0.5, 15);
        y[4 + j] = lo | hi << 4;
    }
}

/// Q5_0: like Q4_0 with 5 bits; the fifth bits go to the 32-bit mask `qh`.
pub(super) fn q5_0(x: &[f32; QK], y: &mut [u8; 22]) {
    let (max, _) = signed_absmax(x);
    let d = max / -16.0;
    let id = inverse(d);
    let mut qh = 0u32;
    for j in 0..HALF {
        let lo = capped_i8(x[j] * id + 16.5, 31);
        let hi = capped_i8(x[j + HALF] * id + 16.5, 31);
        y[6 + j] = (lo & 0x0f) | (hi & 0x0f) << 4;
        qh |= u32::from(lo & 0x10) >> 4 << j;
        qh |= u32::from(hi & 0x10) >> 4 << (j + HALF);
    }
    put_u16(y, 0, f16_bits(d));
    y[2..6].copy_from_slice(&qh.to_le_bytes());
}

/// Q5_1: like Q4_1 with 5 bits.
pub(super) fn q5_1(x: &[f32; QK], y: &mut [u8; 24]) {
    let (min, max) = min_max(x);
    let d = (max - min) / 31.0;
    let id = inverse(d);
    let mut qh = 0u32;
    for j in 0..HALF {
        // A plain `(uint8_t)` cast in ggml, without the cap of the other formats.
        let lo = trunc_i32((x[j] - min) * id + 0.5) as u8;
        let hi = trunc_i32((x[j + HALF] - min) * id + 0.5) as u8;
        y[8 + j] = (lo & 0x0f) | (hi & 0x0f) << 4;
        qh |= u32::from(lo & 0x10) >> 4 << j;
        qh |= u32::from(hi & 0x10) >> 4 << (j + HALF);
    }
    put_u16(y, 0, f16_bits(d));
    put_u16(y, 2, f16_bits(min));
    y[4..8].copy_from_slice(&qh.to_le_bytes());
}

/// Largest magnitude with C's `MAX(a, b)`, `a > b ? a : b`: a NaN is taken when it
/// is the second operand and dropped again by the next comparison.
#[inline(always)]
fn absmax_c(x: &[f32; QK]) -> f32 {
    x.iter().fold(
        0.0f32,
        |amax, v| if amax > v.abs() { amax } else { v.abs() },
    )
}

/// `roundf` (half away from zero) stored into an `int8_t`: `trunc_i32(v.round())`,
/// without the call to `roundf` that blocks vectorization on baseline x86-64.
#[inline(always)]
fn round_i8(v: f32) -> i8 {
    let t = trunc_i32(v);
    // Exact: below 2^23 both `t` and the fraction are representable, and above
    // it `v` is an integer. Out of range, `t` is i32::MIN and must stay so.
    let frac = v - t as f32;
    let in_range = (-2_147_483_648.0..2_147_483_648.0).contains(&v);
    let step = if frac >= 0.5 {
        1
    } else if frac <= -0.5 {
        -1
    } else {
        0
    };
    (if in_range { t + step } else { t }) as i8
}

/// Q8_0: `x = d * q` with `d = amax / 127`.
pub(super) fn q8_0(x: &[f32; QK], y: &mut [u8; 34]) {
    let d = absmax_c(x) / 127.0;
    let id = inverse(d);
    put_u16(y, 0, f16_bits(d));
    for (q, &v) in y[2..].iter_mut().zip(x) {
        *q = round_i8(v * id) as u8;
    }
}

/// Q8_1: Q8_0 plus `s = d * sum(q)`.
pub(super) fn q8_1(x: &[f32; QK], y: &mut [u8; 36]) {
    let d = absmax_c(x) / 127.0;
    let id = inverse(d);
    let mut sum = 0i32;
    for (q, &v) in y[4..].iter_mut().zip(x) {
        let l = round_i8(v * id);
        *q = l as u8;
        sum += i32::from(l);
    }
    put_u16(y, 0, f16_bits(d));
    put_u16(y, 2, f16_bits(sum as f32 * d));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_i8_is_roundf_then_the_cast() {
        let special = [
            0.5f32,
            -0.5,
            1.5,
            -2.5,
            0.499_999_97,
            -0.499_999_97,
            8_388_607.5,
        ];
        let sweep = (0..=u32::MAX / 97).map(|i| f32::from_bits(i * 97));
        for v in special.into_iter().chain(sweep) {
            assert_eq!(
                round_i8(v),
                trunc_i32(v.round()) as i8,
                "{v} ({:#010x})",
                v.to_bits()
            );
        }
    }
}
