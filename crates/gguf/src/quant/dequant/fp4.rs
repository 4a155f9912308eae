//! 4-bit float formats: MXFP4 (E8M0 scale per 32) and NVFP4 (UE4M3 scale per 16).
//!
//! Both index [`KVALUES_MXFP4`], the E2M1 values doubled to integers; the scales are
//! halved to compensate, exactly as ggml does, so `x = level * (scale / 2)`.

use crate::quant::fp4_scales::e8m0_half;
use crate::quant::tables::KVALUES_MXFP4;

/// Half of the UE4M3 scale (4 exponent bits with bias 7, 3 mantissa bits; the top
/// bit is ignored). 0x00 and 0x7f decode to zero, as in ggml.
pub(super) const fn ue4m3_half(x: u8) -> f32 {
    if x == 0 || x == 0x7f {
        return 0.0;
    }
    let exp = ((x >> 3) & 0x0f) as u32;
    let man = (x & 0x07) as u32;
    if exp == 0 {
        // Subnormal: man * 2^-9, halved. Exactly representable as a normal f32.
        man as f32 / 1024.0
    } else {
        // (1 + man / 8) * 2^(exp - 7) / 2: exponent field exp - 8 + 127.
        f32::from_bits(((exp + 119) << 23) | (man << 20))
    }
}

/// [`ue4m3_half`] for every byte, so the per-16 scale is one table load.
static UE4M3_HALF: [f32; 256] = {
    let mut table = [0.0; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = ue4m3_half(i as u8);
        i += 1;
    }
    table
};

/// The doubled E2M1 value of a nibble.
#[inline(always)]
fn level(nibble: u8) -> f32 {
    f32::from(KVALUES_MXFP4[usize::from(nibble & 0x0f)])
}

/// `block_mxfp4`: an E8M0 exponent, then 16 bytes of nibbles (weight `j` low,
/// `j + 16` high).
pub(super) fn mxfp4(block: &[u8; 17], out: &mut [f32; 32]) {
    let d = e8m0_half(block[0]);
    for j in 0..16 {
        let byte = block[1 + j];
        out[j] = level(byte) * d;
        out[j + 16] = level(byte >> 4) * d;
    }
}

/// `block_nvfp4`: four UE4M3 scales, then 32 bytes of nibbles; each sub-block of 16
/// weights takes 8 bytes (weight `j` low, `j + 8` high).
pub(super) fn nvfp4(block: &[u8; 36], out: &mut [f32; 64]) {
    for sub in 0..4 {
        let d = UE4M3_HALF[usize::from(block[sub])];
        let out = &mut out[16 * sub..16 * sub + 16];
        for j in 0..8 {
            let byte = block[4 + 8 * sub + j];
            out[j] = level(byte) * d;
            out[j + 8] = level(byte >> 4) * d;
        }
    }
}
