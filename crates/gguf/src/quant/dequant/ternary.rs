//! The ternary formats TQ1_0 and TQ2_0: weights in {-1, 0, 1} times one f16 scale.

use super::f16_at;

/// Writes `(t - 1) * d` for the base-3 digit `digit` of each byte in `bytes`.
///
/// A byte holds five ternary digits as a fixed-point fraction of 3^5: multiplying
/// by 3^digit (wrapping) moves the wanted digit to the top, and `* 3 >> 8` reads it.
#[inline(always)]
fn trits(out: &mut [f32], bytes: &[u8], digit: u32, d: f32) {
    let pow3 = 3u8.pow(digit);
    for (x, &byte) in out.iter_mut().zip(bytes) {
        let q = byte.wrapping_mul(pow3);
        let t = (i16::from(q) * 3) >> 8;
        *x = (t - 1) as f32 * d;
    }
}

/// `block_tq1_0`: 48 bytes of five trits each, 4 bytes of four trits each, f16 `d`.
pub(super) fn tq1_0(block: &[u8; 54], out: &mut [f32; 256]) {
    let d = f16_at(block, 52);
    // Bytes 0..32 give 5 × 32 weights, bytes 32..48 give 5 × 16, then bytes
    // 48..52 give 4 × 4, each digit in turn over the whole run of bytes.
    let mut at = 0;
    for (bytes, digits) in [(&block[0..32], 5), (&block[32..48], 5), (&block[48..52], 4)] {
        for digit in 0..digits {
            trits(&mut out[at..at + bytes.len()], bytes, digit, d);
            at += bytes.len();
        }
    }
}

/// `block_tq2_0`: 64 bytes of four 2-bit values each (`q - 1`), f16 `d`.
pub(super) fn tq2_0(block: &[u8; 66], out: &mut [f32; 256]) {
    let d = f16_at(block, 64);
    for half in 0..2 {
        let qs = &block[32 * half..32 * half + 32];
        for plane in 0..4 {
            let base = 128 * half + 32 * plane;
            for (m, &byte) in qs.iter().enumerate() {
                let q = i32::from((byte >> (2 * plane)) & 3);
                out[base + m] = (q - 1) as f32 * d;
            }
        }
    }
}
