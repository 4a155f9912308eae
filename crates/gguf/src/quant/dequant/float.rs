//! Plain scalar types: floats widened or narrowed to `f32`, integers converted with
//! `as f32` (round to nearest, ties to even).

use half::f16;

/// Converts each little-endian `W`-byte value with `convert`.
#[inline(always)]
fn each_value<const W: usize>(src: &[u8], dst: &mut [f32], convert: impl Fn([u8; W]) -> f32) {
    let (values, rest) = src.as_chunks::<W>();
    debug_assert!(rest.is_empty() && values.len() == dst.len());
    for (bytes, out) in values.iter().zip(dst) {
        *out = convert(*bytes);
    }
}

pub(super) fn f32s(src: &[u8], dst: &mut [f32]) {
    each_value(src, dst, f32::from_le_bytes);
}

pub(super) fn f16s(src: &[u8], dst: &mut [f32]) {
    each_value(src, dst, |b| f16::from_bits(u16::from_le_bytes(b)).to_f32());
}

pub(super) fn bf16s(src: &[u8], dst: &mut [f32]) {
    // bfloat16 is the top half of an f32, so widening is a shift (NaNs included).
    each_value(src, dst, |b| {
        f32::from_bits(u32::from(u16::from_le_bytes(b)) << 16)
    });
}

pub(super) fn f64s(src: &[u8], dst: &mut [f32]) {
    each_value(src, dst, |b| f64::from_le_bytes(b) as f32);
}

pub(super) fn i8s(src: &[u8], dst: &mut [f32]) {
    each_value(src, dst, |b| f32::from(i8::from_le_bytes(b)));
}

pub(super) fn i16s(src: &[u8], dst: &mut [f32]) {
    each_value(src, dst, |b| f32::from(i16::from_le_bytes(b)));
}

pub(super) fn i32s(src: &[u8], dst: &mut [f32]) {
    each_value(src, dst, |b| i32::from_le_bytes(b) as f32);
}

pub(super) fn i64s(src: &[u8], dst: &mut [f32]) {
    each_value(src, dst, |b| i64::from_le_bytes(b) as f32);
}
