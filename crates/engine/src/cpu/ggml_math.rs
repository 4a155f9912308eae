//! Single values computed as ggml's vectorized CPU math computes them (as built
//! for the reference machine, AVX-512), so results round as llama.cpp's do.

/// ggml's AVX-512 `ggml_v_expf` for one value: a degree-5 polynomial after
/// range reduction, with ggml's constants and operation order.
#[inline(always)]
pub(crate) fn ggml_v_expf(x: f32) -> f32 {
    let c = f32::from_bits;
    let r = c(0x4b40_0000);
    let z = x.mul_add(c(0x3fb8_aa3b), r);
    let n = z - r;
    let b = (-n).mul_add(c(0x35bf_be8e), (-n).mul_add(c(0x3f31_7200), x));
    if n.abs() > 192.0 {
        return if n <= 0.0 { 0.0 } else { f32::INFINITY };
    }
    let u = b * b;
    let j = c(0x3c07_2010)
        .mul_add(b, c(0x3d2b_9f17))
        .mul_add(u, c(0x3e2a_af33).mul_add(b, c(0x3eff_fedb)))
        .mul_add(u, c(0x3f7f_fff6).mul_add(b, 1.0));
    // `_mm512_scalef_ps(j, n)`: j · 2^n rounded once (exact in f64); |n| <= 192
    // here (`powi` would be a libcall loop in the hot path).
    (f64::from(j) * pow2(n as i32)) as f32
}

/// 2^n for a normal f64 exponent (−1022 ≤ n ≤ 1023), from its exponent bits.
#[inline(always)]
fn pow2(n: i32) -> f64 {
    f64::from_bits(((i64::from(n) + 1023) as u64) << 52)
}

/// Whether AVX2 and FMA are available (checked once).
pub(crate) fn has_avx2_fma() -> bool {
    static DETECTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    #[cfg(target_arch = "x86_64")]
    {
        *DETECTED
            .get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        *DETECTED.get_or_init(|| false)
    }
}

/// `x / (1 + e^-x)`, as ggml's `ggml_v_silu`.
#[inline(always)]
pub(crate) fn ggml_v_silu(x: f32) -> f32 {
    x / (1.0 + ggml_v_expf(-x))
}

/// `x / (1 + e^-x)` with the C library's `expf`, as ggml's scalar `ggml_silu_f32`
/// (the values past the last whole vector of a row).
pub(crate) fn ggml_silu_scalar(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

#[cfg(test)]
mod tests {
    #[test]
    fn pow2_is_exact_over_the_range_expf_uses() {
        for n in -192..=192 {
            assert_eq!(super::pow2(n), 2f64.powi(n), "2^{n}");
        }
    }

    #[test]
    fn silu_is_close_to_the_exact_formula() {
        for i in -2000..=2000 {
            let x = i as f32 / 50.0;
            let exact = f64::from(x) / (1.0 + (-f64::from(x)).exp());
            let got = f64::from(super::ggml_v_silu(x));
            assert!(
                (got - exact).abs() <= 1e-6 * exact.abs().max(1e-3),
                "silu({x}) = {got}, not {exact}"
            );
        }
    }
}
