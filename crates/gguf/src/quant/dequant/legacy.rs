//! The original 32-weight block formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1.
//!
//! Nibble formats store weight `j` in the low nibble of byte `j` and weight `j + 16`
//! in its high nibble. Values are `q * d` (symmetric) or `q * d + m` (with minimum),
//! where `q` is converted to `f32` first.

use super::{f16_at, u32_at};

/// `block_q4_0`: f16 `d`, then 16 bytes of nibbles. `x = (q - 8) * d`.
pub(super) fn q4_0(block: &[u8; 18], out: &mut [f32; 32]) {
    let d = f16_at(block, 0);
    for j in 0..16 {
        let byte = block[2 + j];
        out[j] = (i32::from(byte & 0x0f) - 8) as f32 * d;
        out[j + 16] = (i32::from(byte >> 4) - 8) as f32 * d;
    }
}

/// `block_q4_1`: f16 `d`, f16 `m`, then 16 bytes of nibbles. `x = q * d + m`.
pub(super) fn q4_1(block: &[u8; 20], out: &mut [f32; 32]) {
    let d = f16_at(block, 0);
    let m = f16_at(block, 2);
    for j in 0..16 {
        let byte = block[4 + j];
        out[j] = f32::from(byte & 0x0f) * d + m;
        out[j + 16] = f32::from(byte >> 4) * d + m;
    }
}

/// The fifth bits of weights `j` and `j + 16`, already shifted to bit 4.
#[inline(always)]
fn fifth_bits(qh: u32, j: usize) -> (u8, u8) {
    let low = ((qh >> j) << 4) & 0x10;
    let high = (qh >> (j + 12)) & 0x10;
    (low as u8, high as u8)
}

/// `block_q5_0`: f16 `d`, a u32 of fifth bits, 16 bytes of nibbles. `x = (q - 16) * d`.
pub(super) fn q5_0(block: &[u8; 22], out: &mut [f32; 32]) {
    let d = f16_at(block, 0);
    let qh = u32_at(block, 2);
    for j in 0..16 {
        let byte = block[6 + j];
        let (h0, h1) = fifth_bits(qh, j);
        out[j] = (i32::from((byte & 0x0f) | h0) - 16) as f32 * d;
        out[j + 16] = (i32::from((byte >> 4) | h1) - 16) as f32 * d;
    }
}

/// `block_q5_1`: f16 `d`, f16 `m`, fifth bits, nibbles. `x = q * d + m`.
pub(super) fn q5_1(block: &[u8; 24], out: &mut [f32; 32]) {
    let d = f16_at(block, 0);
    let m = f16_at(block, 2);
    let qh = u32_at(block, 4);
    for j in 0..16 {
        let byte = block[8 + j];
        let (h0, h1) = fifth_bits(qh, j);
        out[j] = f32::from((byte & 0x0f) | h0) * d + m;
        out[j + 16] = f32::from((byte >> 4) | h1) * d + m;
    }
}

/// `block_q8_0`: f16 `d`, then 32 signed bytes. `x = q * d`.
pub(super) fn q8_0(block: &[u8; 34], out: &mut [f32; 32]) {
    let d = f16_at(block, 0);
    for (j, x) in out.iter_mut().enumerate() {
        *x = f32::from(block[2 + j] as i8) * d;
    }
}

/// `block_q8_1`: f16 `d`, f16 `s` (a sum only used by dot products), then 32 signed
/// bytes. `x = q * d`.
pub(super) fn q8_1(block: &[u8; 36], out: &mut [f32; 32]) {
    let d = f16_at(block, 0);
    for (j, x) in out.iter_mut().enumerate() {
        *x = f32::from(block[4 + j] as i8) * d;
    }
}
