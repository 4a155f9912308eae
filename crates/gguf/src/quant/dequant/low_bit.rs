//! The 1- and 2-bit formats Q1_0 (signs) and Q2_0 (four levels), one f16 scale each.

use super::f16_at;

/// `block_q1_0`: f16 `d`, then 128 sign bits (bit `j % 8` of byte `j / 8`):
/// set is `+d`, clear is `-d`.
pub(super) fn q1_0(block: &[u8; 18], out: &mut [f32; 128]) {
    let d = f16_at(block, 0);
    let neg_d = -d;
    for (j, x) in out.iter_mut().enumerate() {
        let bit = (block[2 + j / 8] >> (j % 8)) & 1;
        *x = if bit != 0 { d } else { neg_d };
    }
}

/// `block_q2_0`: f16 `d`, then 64 2-bit values (bits `2 * (j % 4)` of byte `j / 4`)
/// standing for -1, 0, 1, 2. `x = (q - 1) * d`.
pub(super) fn q2_0(block: &[u8; 18], out: &mut [f32; 64]) {
    let d = f16_at(block, 0);
    for (j, x) in out.iter_mut().enumerate() {
        let q = (block[2 + j / 4] >> (2 * (j % 4))) & 3;
        *x = (i32::from(q) - 1) as f32 * d;
    }
}
