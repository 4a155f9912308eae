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
        ActFormat::Q8_0 => q8_0_blocks(src, dst, false),
        ActFormat::Q8_1 => q8_0_blocks(src, dst, true),
        ActFormat::Q8_K => {
            for (d, x) in dst.chunks_exact_mut(292).zip(src.chunks_exact(QK_K)) {
                q8_k_block(x, d);
            }
        }
    }
}

/// [`q8_0_block`] over a row, compiled for AVX2 where the CPU has it (the same
/// arithmetic, vectorized by the compiler: a row of prompt activations is
/// quantized for every product).
fn q8_0_blocks(src: &[f32], dst: &mut [u8], with_sum: bool) {
    #[cfg(target_arch = "x86_64")]
    if super::simd_level() == super::Level::Avx2 {
        // SAFETY: `simd_level` found AVX2, FMA and F16C on this CPU.
        return unsafe { q8_0_blocks_avx2(src, dst, with_sum) };
    }
    q8_0_blocks_portable(src, dst, with_sum);
}

/// [`q8_0_block`] with ggml's AVX2 steps: the same maximum, multiplier and
/// rounding (to nearest, ties to even), so the same bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
fn q8_0_blocks_avx2(src: &[f32], dst: &mut [u8], with_sum: bool) {
    use std::arch::x86_64::*;
    let size = if with_sum { 36 } else { 34 };
    let qs_at = size - 32;
    for (d, x) in dst.chunks_exact_mut(size).zip(src.chunks_exact(32)) {
        let x: &[f32; 32] = x.try_into().expect("blocks of 32");
        // SAFETY: `x` holds 32 values: four loads of eight.
        let v: [__m256; 4] =
            std::array::from_fn(|j| unsafe { _mm256_loadu_ps(x.as_ptr().add(8 * j)) });
        let sign = _mm256_set1_ps(-0.0);
        let mut max = _mm256_andnot_ps(sign, v[0]);
        for vj in &v[1..] {
            max = _mm256_max_ps(max, _mm256_andnot_ps(sign, *vj));
        }
        let m4 = _mm_max_ps(_mm256_extractf128_ps::<1>(max), _mm256_castps256_ps128(max));
        let m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        let amax = _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
        let scale = amax / 127.0;
        let inv = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let mul = _mm256_set1_ps(inv);
        let q: [__m256i; 4] = std::array::from_fn(|j| {
            let r = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
                _mm256_mul_ps(v[j], mul),
            );
            _mm256_cvtps_epi32(r)
        });
        let sum = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        let packed = _mm256_packs_epi16(
            _mm256_packs_epi32(q[0], q[1]),
            _mm256_packs_epi32(q[2], q[3]),
        );
        let ordered =
            _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        let out: &mut [u8; 32] = (&mut d[qs_at..]).try_into().expect("32 quants");
        // SAFETY: `out` has 32 writable bytes.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), ordered) };
        d[0..2].copy_from_slice(&f16::from_f32(scale).to_le_bytes());
        if with_sum {
            let s4 = _mm_add_epi32(
                _mm256_castsi256_si128(sum),
                _mm256_extracti128_si256::<1>(sum),
            );
            let s2 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
            let total = _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32::<1>(s2)));
            d[2..4].copy_from_slice(&f16::from_f32(scale * total as f32).to_le_bytes());
        }
    }
}

#[inline(always)]
fn q8_0_blocks_portable(src: &[f32], dst: &mut [u8], with_sum: bool) {
    let size = if with_sum { 36 } else { 34 };
    for (d, x) in dst.chunks_exact_mut(size).zip(src.chunks_exact(32)) {
        q8_0_block(x, d, with_sum);
    }
}

/// ggml's x86 `quantize_row_q8_0` / `quantize_row_q8_1` for one block of 32: the
/// multiplier is `127 / max|x|` and values round to nearest, ties to even. With
/// `with_sum`, writes the Q8_1 layout (`d`, `s = d * sum(q)`, `qs`).
#[inline(always)]
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

#[cfg(test)]
mod tests {
    #[test]
    fn vector_q8_quantization_writes_the_same_bytes() {
        #[cfg(target_arch = "x86_64")]
        if super::super::simd_level() == super::super::Level::Avx2 {
            // Random rows, an all-zero block, and blocks whose scaled values
            // fall exactly halfway between integers (ties go to even).
            let mut seed = 99u64;
            let mut x: Vec<f32> = (0..32 * 64)
                .map(|_| {
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    ((seed >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 20.0
                })
                .collect();
            x[..32].fill(0.0);
            for (i, v) in x[32..64].iter_mut().enumerate() {
                *v = if i == 0 { 127.0 } else { i as f32 + 0.5 };
            }
            for with_sum in [false, true] {
                let size = if with_sum { 36 } else { 34 };
                let mut want = vec![0u8; 64 * size];
                let mut got = vec![1u8; 64 * size];
                super::q8_0_blocks_portable(&x, &mut want, with_sum);
                // SAFETY: the CPU supports AVX2, FMA and F16C (checked above).
                unsafe { super::q8_0_blocks_avx2(&x, &mut got, with_sum) };
                assert_eq!(got, want, "with_sum {with_sum}");
            }
        }
    }
}
