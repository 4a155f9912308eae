//! Activation quantization, as ggml-cpu does it on x86 with AVX2.

use half::{bf16, f16};
use rocmforge_gguf::QK_K;

use super::ActFormat;

/// Quantizes one row `src` into `dst` (exactly one row of `format` blocks).
pub(super) fn quantize_row(format: ActFormat, src: &[f32], dst: &mut [u8]) {
    match format {
        ActFormat::F32 => {
            for (d, &x) in dst.chunks_exact_mut(4).zip(src) {
                d.copy_from_slice(&x.to_le_bytes());
            }
        }
        ActFormat::F16 => {
            for (d, &x) in dst.chunks_exact_mut(2).zip(src) {
                d.copy_from_slice(&f16::from_f32(x).to_le_bytes());
            }
        }
        ActFormat::BF16 => {
            for (d, &x) in dst.chunks_exact_mut(2).zip(src) {
                d.copy_from_slice(&bf16::from_f32(x).to_le_bytes());
            }
        }
        ActFormat::Q8_0 => {
            for (d, x) in dst.chunks_exact_mut(34).zip(src.chunks_exact(32)) {
                q8_0_block(x, d, false);
            }
        }
        ActFormat::Q8_1 => {
            for (d, x) in dst.chunks_exact_mut(36).zip(src.chunks_exact(32)) {
                q8_0_block(x, d, true);
            }
        }
        ActFormat::Q8_K => {
            for (d, x) in dst.chunks_exact_mut(292).zip(src.chunks_exact(QK_K)) {
                q8_k_block(x, d);
            }
        }
    }
}

/// ggml's x86 `quantize_row_q8_0` / `quantize_row_q8_1` for one block of 32: the
/// multiplier is `127 / max|x|` and values round to nearest, ties to even. With
/// `with_sum`, writes the Q8_1 layout (`d`, `s = d * sum(q)`, `qs`).
fn q8_0_block(x: &[f32], dst: &mut [u8], with_sum: bool) {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
    let qs_at = if with_sum { 4 } else { 2 };
    let mut sum = 0i32;
    for (q, &v) in dst[qs_at..qs_at + 32].iter_mut().zip(x) {
        // |v * id| <= 127, so the clamp only matters for NaN or infinite input.
        let i = nearest_int(v * id).clamp(-128, 127);
        sum += i;
        *q = i as i8 as u8;
    }
    dst[0..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
    if with_sum {
        dst[2..4].copy_from_slice(&f16::from_f32(d * sum as f32).to_le_bytes());
    }
}

/// ggml's `quantize_row_q8_K_ref` (x86 uses it too) for one block of 256.
fn q8_k_block(x: &[f32], dst: &mut [u8]) {
    let mut max = 0f32;
    let mut amax = 0f32;
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax == 0.0 {
        dst.fill(0);
        return;
    }
    let iscale = -127.0 / max;
    let (head, bsums) = dst.split_at_mut(4 + QK_K);
    let qs = &mut head[4..];
    for (q, &v) in qs.iter_mut().zip(x) {
        let i = nearest_int(iscale * v).min(127);
        *q = i as i8 as u8;
    }
    for (b, group) in bsums.chunks_exact_mut(2).zip(qs.chunks_exact(16)) {
        let s: i32 = group.iter().map(|&q| i32::from(q as i8)).sum();
        b.copy_from_slice(&(s as i16).to_le_bytes());
    }
    head[0..4].copy_from_slice(&(1.0 / iscale).to_le_bytes());
}

/// Rounds to the nearest integer, ties to even, for `|v| < 2^22` (ggml's
/// `nearest_int`; the x86 kernels' `_mm256_round_ps` gives the same there).
#[inline]
fn nearest_int(v: f32) -> i32 {
    let f = v + 12_582_912.0;
    (f.to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}
