//! AVX2 kernels for the most used formats: Q4_0, Q5_0, Q8_0, Q4_K, Q5_K, Q6_K and
//! plain F16.
//!
//! They compute exactly what the scalar kernels compute. SIMD only changes how the
//! integers are unpacked; every float operation is the same IEEE multiply or
//! subtract on the same operands, and scale products such as `d * sc` are still
//! formed one at a time in scalar code. Fused multiply-add is never used: it rounds
//! once where ggml rounds twice. F16C converts f16 to f32 exactly, like the scalar
//! path.

use std::arch::x86_64::*;

use super::float;
use super::kquants::k4_factors;
use crate::types::GgmlType;

/// Whether the CPU has what these kernels need. `is_x86_feature_detected!` caches
/// the CPUID query, so this is two relaxed atomic loads.
fn available() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("f16c")
}

/// Runs the AVX2 kernel for `ty` if there is one and the CPU supports it. Returns
/// whether it did; lengths are as for [`super::dequantize_blocks`].
pub(super) fn dequantize_blocks(ty: GgmlType, src: &[u8], dst: &mut [f32]) -> bool {
    if !available() {
        return false;
    }
    // SAFETY: every kernel below needs AVX2 and F16C, which `available` confirmed.
    unsafe {
        match ty {
            GgmlType::Q4_0 => q4_0(src, dst),
            GgmlType::Q5_0 => q5_0(src, dst),
            GgmlType::Q8_0 => q8_0(src, dst),
            GgmlType::Q4_K => q4_k(src, dst),
            GgmlType::Q5_K => q5_k(src, dst),
            GgmlType::Q6_K => q6_k(src, dst),
            GgmlType::F16 => f16s(src, dst),
            _ => return false,
        }
    }
    true
}

/// Loads the first 8 bytes of `bytes` into the low half of a vector.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn load8(bytes: &[u8]) -> __m128i {
    let bytes = &bytes[..8];
    // SAFETY: `bytes` has 8 readable bytes; the load has no alignment requirement.
    unsafe { _mm_loadl_epi64(bytes.as_ptr().cast()) }
}

/// Loads the first 16 bytes of `bytes`.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn load16(bytes: &[u8]) -> __m128i {
    let bytes = &bytes[..16];
    // SAFETY: `bytes` has 16 readable bytes; the load has no alignment requirement.
    unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) }
}

/// Loads the first 32 bytes of `bytes`.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn load32(bytes: &[u8]) -> __m256i {
    let bytes = &bytes[..32];
    // SAFETY: `bytes` has 32 readable bytes; the load has no alignment requirement.
    unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) }
}

/// Stores 8 floats at the start of `out`.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn store8(out: &mut [f32], values: __m256) {
    let out = &mut out[..8];
    // SAFETY: `out` has room for 8 floats; the store has no alignment requirement.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), values) }
}

/// The little-endian f16 at `at`, converted exactly by F16C.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn f16_at(block: &[u8], at: usize) -> f32 {
    let bits = u16::from_le_bytes([block[at], block[at + 1]]);
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(bits))))
}

/// The 8-byte quarters of a 32-byte vector, in memory order.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn quarters(v: __m256i) -> [__m128i; 4] {
    let (low, high) = (_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    [
        low,
        _mm_srli_si128::<8>(low),
        high,
        _mm_srli_si128::<8>(high),
    ]
}

/// Eight signed bytes (the low half of `v`) as floats; exact.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn i8x8_to_f32(v: __m128i) -> __m256 {
    _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v))
}

/// Eight unsigned bytes (the low half of `v`) as floats; exact.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn u8x8_to_f32(v: __m128i) -> __m256 {
    _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v))
}

/// The low and high nibbles of each byte.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn nibbles(v: __m256i) -> (__m256i, __m256i) {
    let mask = _mm256_set1_epi8(0x0f);
    (
        _mm256_and_si256(v, mask),
        _mm256_and_si256(_mm256_srli_epi16::<4>(v), mask),
    )
}

/// Writes `q * d` for 32 signed bytes.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn scale_i8x32(out: &mut [f32], q: __m256i, d: f32) {
    let d = _mm256_set1_ps(d);
    for (k, part) in quarters(q).into_iter().enumerate() {
        store8(&mut out[8 * k..], _mm256_mul_ps(i8x8_to_f32(part), d));
    }
}

/// Writes `d * q - m` (a multiply, then a subtract) for 32 unsigned bytes.
#[inline]
#[target_feature(enable = "avx2,f16c")]
fn scale_sub_u8x32(out: &mut [f32], q: __m256i, d: f32, m: f32) {
    let (d, m) = (_mm256_set1_ps(d), _mm256_set1_ps(m));
    for (k, part) in quarters(q).into_iter().enumerate() {
        let product = _mm256_mul_ps(d, u8x8_to_f32(part));
        store8(&mut out[8 * k..], _mm256_sub_ps(product, m));
    }
}

/// Q4_0: nibbles minus 8, times `d`.
#[target_feature(enable = "avx2,f16c")]
fn q4_0(src: &[u8], dst: &mut [f32]) {
    let (blocks, _) = src.as_chunks::<18>();
    let (outs, _) = dst.as_chunks_mut::<32>();
    for (block, out) in blocks.iter().zip(outs) {
        let d = f16_at(block, 0);
        let qs = load16(&block[2..]);
        // Low nibbles are weights 0..16, high nibbles 16..32.
        let (low, high) = nibbles(_mm256_set_m128i(qs, qs));
        let q = _mm256_blend_epi32::<0xf0>(low, high);
        scale_i8x32(out, _mm256_sub_epi8(q, _mm256_set1_epi8(8)), d);
    }
}

/// Q5_0: nibbles plus a fifth bit from `qh`, minus 16, times `d`.
#[target_feature(enable = "avx2,f16c")]
fn q5_0(src: &[u8], dst: &mut [f32]) {
    // Byte `i` of the spread vector is byte `i / 8` of `qh`; ANDed with the bit
    // pattern below it isolates bit `i % 8`, i.e. bit `i` of `qh`.
    let spread = _mm256_setr_epi8(
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, //
        2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3,
    );
    let bit = _mm256_set1_epi64x(0x8040_2010_0804_0201_u64 as i64);
    let (blocks, _) = src.as_chunks::<22>();
    let (outs, _) = dst.as_chunks_mut::<32>();
    for (block, out) in blocks.iter().zip(outs) {
        let d = f16_at(block, 0);
        let qh = i32::from_le_bytes([block[2], block[3], block[4], block[5]]);
        let qh = _mm256_shuffle_epi8(_mm256_set1_epi32(qh), spread);
        let set = _mm256_cmpeq_epi8(_mm256_and_si256(qh, bit), bit);
        let fifth = _mm256_and_si256(set, _mm256_set1_epi8(0x10));

        let qs = load16(&block[6..]);
        let (low, high) = nibbles(_mm256_set_m128i(qs, qs));
        let q = _mm256_or_si256(_mm256_blend_epi32::<0xf0>(low, high), fifth);
        scale_i8x32(out, _mm256_sub_epi8(q, _mm256_set1_epi8(16)), d);
    }
}

/// Q8_0: signed bytes times `d`.
#[target_feature(enable = "avx2,f16c")]
fn q8_0(src: &[u8], dst: &mut [f32]) {
    let (blocks, _) = src.as_chunks::<34>();
    let (outs, _) = dst.as_chunks_mut::<32>();
    for (block, out) in blocks.iter().zip(outs) {
        let d = _mm256_set1_ps(f16_at(block, 0));
        for k in 0..4 {
            let q = i8x8_to_f32(load8(&block[2 + 8 * k..]));
            store8(&mut out[8 * k..], _mm256_mul_ps(q, d));
        }
    }
}

/// Q4_K: per 32 weights `d1 * q - m1`, with `d1 = d * sc` and `m1 = dmin * m`.
#[target_feature(enable = "avx2,f16c")]
fn q4_k(src: &[u8], dst: &mut [f32]) {
    let (blocks, _) = src.as_chunks::<144>();
    let (outs, _) = dst.as_chunks_mut::<256>();
    for (block, out) in blocks.iter().zip(outs) {
        let factors = k4_factors(block);
        for pair in 0..4 {
            let (low, high) = nibbles(load32(&block[16 + 32 * pair..]));
            let ((d1, m1), (d2, m2)) = (factors[2 * pair], factors[2 * pair + 1]);
            scale_sub_u8x32(&mut out[64 * pair..], low, d1, m1);
            scale_sub_u8x32(&mut out[64 * pair + 32..], high, d2, m2);
        }
    }
}

/// Q5_K: Q4_K plus a fifth bit per weight from `qh`.
#[target_feature(enable = "avx2,f16c")]
fn q5_k(src: &[u8], dst: &mut [f32]) {
    let sixteen = _mm256_set1_epi8(16);
    // 16 where bit `mask` of the byte is set, else 0.
    let fifth = |qh: __m256i, mask: u8| {
        let mask = _mm256_set1_epi8(mask as i8);
        let set = _mm256_cmpeq_epi8(_mm256_and_si256(qh, mask), mask);
        _mm256_and_si256(set, sixteen)
    };
    let (blocks, _) = src.as_chunks::<176>();
    let (outs, _) = dst.as_chunks_mut::<256>();
    for (block, out) in blocks.iter().zip(outs) {
        let factors = k4_factors(block);
        let qh = load32(&block[16..]);
        for pair in 0..4 {
            let (low, high) = nibbles(load32(&block[48 + 32 * pair..]));
            let low = _mm256_or_si256(low, fifth(qh, 1 << (2 * pair)));
            let high = _mm256_or_si256(high, fifth(qh, 2 << (2 * pair)));
            let ((d1, m1), (d2, m2)) = (factors[2 * pair], factors[2 * pair + 1]);
            scale_sub_u8x32(&mut out[64 * pair..], low, d1, m1);
            scale_sub_u8x32(&mut out[64 * pair + 32..], high, d2, m2);
        }
    }
}

/// Q6_K: 4 low bits from `ql`, 2 high bits from `qh`, minus 32, times `d * sc` per
/// 16 weights.
#[target_feature(enable = "avx2,f16c")]
fn q6_k(src: &[u8], dst: &mut [f32]) {
    let high_bits = _mm256_set1_epi8(0x30);
    let (blocks, _) = src.as_chunks::<210>();
    let (outs, _) = dst.as_chunks_mut::<256>();
    for (block, out) in blocks.iter().zip(outs) {
        let d = f16_at(block, 208);
        for half in 0..2 {
            let (ql0_low, ql0_high) = nibbles(load32(&block[64 * half..]));
            let (ql1_low, ql1_high) = nibbles(load32(&block[64 * half + 32..]));
            let qh = load32(&block[128 + 32 * half..]);
            // Bits 2k and 2k+1 of each qh byte, moved to bits 4 and 5. The 16-bit
            // shifts carry bits across bytes, but only into bits the mask clears.
            let qs = [
                _mm256_or_si256(
                    ql0_low,
                    _mm256_and_si256(_mm256_slli_epi16::<4>(qh), high_bits),
                ),
                _mm256_or_si256(
                    ql1_low,
                    _mm256_and_si256(_mm256_slli_epi16::<2>(qh), high_bits),
                ),
                _mm256_or_si256(ql0_high, _mm256_and_si256(qh, high_bits)),
                _mm256_or_si256(
                    ql1_high,
                    _mm256_and_si256(_mm256_srli_epi16::<2>(qh), high_bits),
                ),
            ];
            for (k, q) in qs.into_iter().enumerate() {
                let q = _mm256_sub_epi8(q, _mm256_set1_epi8(32));
                let out = &mut out[128 * half + 32 * k..];
                let sc = 192 + 8 * half + 2 * k;
                let scales = [
                    d * f32::from(block[sc] as i8),
                    d * f32::from(block[sc + 1] as i8),
                ];
                let parts = quarters(q);
                for (p, part) in parts.into_iter().enumerate() {
                    let scale = _mm256_set1_ps(scales[p / 2]);
                    store8(&mut out[8 * p..], _mm256_mul_ps(scale, i8x8_to_f32(part)));
                }
            }
        }
    }
}

/// F16: eight values per F16C conversion; any remainder goes to the scalar path.
#[target_feature(enable = "avx2,f16c")]
fn f16s(src: &[u8], dst: &mut [f32]) {
    let (chunks, rest) = src.as_chunks::<16>();
    let (outs, out_rest) = dst.as_chunks_mut::<8>();
    for (chunk, out) in chunks.iter().zip(outs) {
        store8(out, _mm256_cvtph_ps(load16(chunk)));
    }
    float::f16s(rest, out_rest);
}

#[cfg(test)]
mod tests {
    use super::super::dequantize_blocks_scalar;
    use super::super::tests::Rng;
    use super::*;

    const TYPES: [GgmlType; 7] = [
        GgmlType::Q4_0,
        GgmlType::Q5_0,
        GgmlType::Q8_0,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
        GgmlType::F16,
    ];

    /// Asserts that the AVX2 and scalar kernels give the same bits for `src`.
    fn assert_same(ty: GgmlType, src: &[u8], what: &str) {
        let n = src.len() / ty.type_size() * ty.block_size();
        let (mut simd, mut scalar) = (vec![0.0f32; n], vec![0.0f32; n]);
        assert!(
            dequantize_blocks(ty, src, &mut simd),
            "{ty}: no AVX2 kernel"
        );
        dequantize_blocks_scalar(ty, src, &mut scalar);
        for (i, (a, b)) in simd.iter().zip(&scalar).enumerate() {
            assert_eq!(
                a.to_bits(),
                b.to_bits(),
                "{ty} {what}: element {i}: {a} vs {b}"
            );
        }
    }

    fn f16_fields(ty: GgmlType) -> &'static [usize] {
        match ty {
            GgmlType::Q4_K | GgmlType::Q5_K => &[0, 2],
            GgmlType::Q6_K => &[208],
            _ => &[0],
        }
    }

    #[test]
    fn every_f16_scale_matches_scalar() {
        if !available() {
            return;
        }
        let mut rng = Rng(11);
        for ty in TYPES {
            // 65536 blocks, block `i` carrying f16 bits `i` in each scale field
            // (NaNs, infinities and subnormals included), random elsewhere.
            let size = ty.type_size();
            let mut src = rng.bytes(65536 * size);
            for (i, block) in src.chunks_exact_mut(size).enumerate() {
                for (k, &at) in f16_fields(ty).iter().enumerate() {
                    let bits = (i as u16).rotate_left(5 * k as u32);
                    block[at..at + 2].copy_from_slice(&bits.to_le_bytes());
                }
            }
            assert_same(ty, &src, "f16 sweep");
        }
    }

    #[test]
    fn every_byte_at_every_position_matches_scalar() {
        if !available() {
            return;
        }
        let mut rng = Rng(12);
        for ty in TYPES {
            let size = ty.type_size();
            let mut src = rng.bytes(256 * size * size);
            for (i, block) in src.chunks_exact_mut(size).enumerate() {
                block[i / 256] = i as u8;
            }
            assert_same(ty, &src, "byte sweep");
            for value in 0..=255u8 {
                assert_same(ty, &vec![value; 3 * size], "repeated byte");
            }
        }
    }

    #[test]
    fn fixtures_and_odd_lengths_match_scalar() {
        if !available() {
            return;
        }
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        for ty in TYPES {
            let path = dir.join(format!("dequantize-{ty}.fixture"));
            let bytes = std::fs::read(&path).expect("fixture is readable");
            let start = bytes
                .windows(5)
                .position(|w| w == b"\n---\n")
                .expect("header")
                + 5;
            let header = String::from_utf8_lossy(&bytes[..start]);
            let len: usize = header
                .lines()
                .find_map(|line| line.strip_prefix("input-bytes: "))
                .and_then(|n| n.parse().ok())
                .expect("input-bytes line");
            assert_same(ty, &bytes[start..start + len], "fixture");
        }
        // F16 works element by element: every length, including a partial vector.
        let mut rng = Rng(13);
        for n in 0..40 {
            assert_same(GgmlType::F16, &rng.bytes(2 * n), "short F16 run");
        }
    }
}
