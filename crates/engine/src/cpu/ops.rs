//! Element-wise and per-row operations of the forward pass, computed as ggml's
//! CPU backend computes them (f64 sums in RMS norm, GELU through an f16 table,
//! rotary angles by repeated multiplication).

use std::sync::OnceLock;

use half::f16;
use rayon::prelude::*;

use super::ggml_math::{ggml_silu_scalar, ggml_v_silu};
use crate::config::RopeStyle;

/// Element-wise work over fewer values than this stays on the calling thread
/// (a decode step's rows are too short to pay for the hand-over).
const PARALLEL_MIN_VALUES: usize = 1 << 14;

/// Values per task in the parallel element-wise loops.
const ELEMENT_CHUNK: usize = 1 << 12;

/// Runs `f` on every `row_len`-value row of `x`, on the thread pool when `x` is
/// large. Each row is computed the same way either way.
pub fn for_each_row(x: &mut [f32], row_len: usize, f: impl Fn(&mut [f32]) + Sync + Send) {
    if x.len() < PARALLEL_MIN_VALUES || x.len() == row_len {
        x.chunks_exact_mut(row_len).for_each(f);
    } else {
        x.par_chunks_exact_mut(row_len).for_each(f);
    }
}

/// Runs `f` on matching pieces of `a` and `b` (equal lengths), on the thread
/// pool when they are large.
fn zip_chunks(a: &mut [f32], b: &[f32], f: impl Fn(&mut [f32], &[f32]) + Sync + Send) {
    assert_eq!(a.len(), b.len(), "element-wise operands differ in length");
    if a.len() < PARALLEL_MIN_VALUES {
        f(a, b);
    } else {
        a.par_chunks_mut(ELEMENT_CHUNK)
            .zip(b.par_chunks(ELEMENT_CHUNK))
            .for_each(|(a, b)| f(a, b));
    }
}

/// `x += y`, element by element.
pub fn add_assign(x: &mut [f32], y: &[f32]) {
    zip_chunks(x, y, |x, y| x.iter_mut().zip(y).for_each(|(x, y)| *x += y));
}

/// `out = x / rms(x) * weight` over each row of `weight.len()` values, in place.
pub fn rms_norm(x: &mut [f32], weight: &[f32], eps: f32) {
    for_each_row(x, weight.len(), |row| rms_norm_row(row, weight, eps));
}

/// [`rms_norm`] of one row.
pub fn rms_norm_row(row: &mut [f32], weight: &[f32], eps: f32) {
    let n = weight.len();
    let sum: f64 = row.iter().map(|&v| f64::from(v * v)).sum();
    let mean = (sum / n as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    for (v, w) in row.iter_mut().zip(weight) {
        *v = *v * scale * w;
    }
}

/// `out = norm(x) * weight`, rows of `weight.len()`, into `out`.
pub fn rms_norm_into(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    zip_chunks(out, x, |out, x| out.copy_from_slice(x));
    rms_norm(out, weight, eps);
}

fn gelu_f32(x: f32) -> f32 {
    #[allow(clippy::excessive_precision)]
    const SQRT_2_OVER_PI: f32 = 0.797_884_560_802_865_4;
    const GELU_COEF_A: f32 = 0.044_715;
    // ggml's C is compiled with contraction: `1 + a*x*x` becomes one fused step.
    let inner = (GELU_COEF_A * x).mul_add(x, 1.0);
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * inner).tanh())
}

/// GELU (tanh approximation) of every f16 value, as ggml tabulates it.
fn gelu_table() -> &'static [f16] {
    static TABLE: OnceLock<Vec<f16>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=u16::MAX)
            .map(|bits| f16::from_f32(gelu_f32(f16::from_bits(bits).to_f32())))
            .collect()
    })
}

/// `gate = gelu(gate) * up`, ggml's `geglu`: inputs between -10 and 10 go through
/// the f16 table.
pub fn geglu(gate: &mut [f32], up: &[f32]) {
    let table = gelu_table();
    zip_chunks(gate, up, |gate, up| {
        for (g, &u) in gate.iter_mut().zip(up) {
            let x = *g;
            *g = if x <= -10.0 {
                0.0
            } else if x >= 10.0 {
                x * u
            } else {
                table[f16::from_f32(x).to_bits() as usize].to_f32() * u
            };
        }
    });
}

/// `gate = silu(gate) * up` over rows of `row_len` values, as ggml's
/// `ggml_vec_swiglu_f32` on AVX-512: whole 16-value vectors through its
/// vectorized `expf`, a row's last few values through the C library's.
pub fn swiglu(gate: &mut [f32], up: &[f32], row_len: usize) {
    assert_eq!(gate.len(), up.len(), "gate and up differ in length");
    let vectorized = row_len - row_len % 16;
    let run = |g: &mut [f32], u: &[f32]| {
        #[cfg(target_arch = "x86_64")]
        if has_avx512() {
            // SAFETY: the CPU supports AVX-512F (checked above).
            return unsafe { swiglu_row_avx512(g, u, vectorized) };
        }
        swiglu_row(g, u, vectorized);
    };
    if gate.len() < PARALLEL_MIN_VALUES {
        gate.chunks_mut(row_len)
            .zip(up.chunks(row_len))
            .for_each(|(g, u)| run(g, u));
    } else {
        gate.par_chunks_mut(row_len)
            .zip(up.par_chunks(row_len))
            .for_each(|(g, u)| run(g, u));
    }
}

/// One row of [`swiglu`], its first `vectorized` values as ggml's vector code.
#[inline(always)]
fn swiglu_row(gate: &mut [f32], up: &[f32], vectorized: usize) {
    for (i, (g, &u)) in gate.iter_mut().zip(up).enumerate() {
        let silu = if i < vectorized {
            ggml_v_silu(*g)
        } else {
            ggml_silu_scalar(*g)
        };
        *g = silu * u;
    }
}

/// Whether the CPU has AVX-512F (checked once).
#[cfg(target_arch = "x86_64")]
fn has_avx512() -> bool {
    static DETECTED: OnceLock<bool> = OnceLock::new();
    *DETECTED.get_or_init(|| is_x86_feature_detected!("avx512f"))
}

/// [`swiglu_row`] with ggml's own AVX-512 instructions for the whole vectors.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn swiglu_row_avx512(gate: &mut [f32], up: &[f32], vectorized: usize) {
    use std::arch::x86_64::*;
    let vectorized = vectorized.min(gate.len()).min(up.len());
    let mut i = 0;
    while i + 16 <= vectorized {
        // SAFETY: `i + 16 <= vectorized`, which is within both slices.
        unsafe {
            let x = _mm512_loadu_ps(gate.as_ptr().add(i));
            let g = _mm512_loadu_ps(up.as_ptr().add(i));
            let silu = _mm512_div_ps(
                x,
                _mm512_add_ps(
                    _mm512_set1_ps(1.0),
                    ggml_v_expf_avx512(_mm512_sub_ps(_mm512_setzero_ps(), x)),
                ),
            );
            _mm512_storeu_ps(gate.as_mut_ptr().add(i), _mm512_mul_ps(silu, g));
        }
        i += 16;
    }
    for (g, &u) in gate[i..].iter_mut().zip(&up[i..]) {
        *g = ggml_silu_scalar(*g) * u;
    }
}

/// ggml's AVX-512 `ggml_v_expf`, instruction for instruction.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn ggml_v_expf_avx512(x: std::arch::x86_64::__m512) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    let c = |bits: u32| _mm512_set1_ps(f32::from_bits(bits));
    let r = c(0x4b40_0000);
    let z = _mm512_fmadd_ps(x, c(0x3fb8_aa3b), r);
    let n = _mm512_sub_ps(z, r);
    let b = _mm512_fnmadd_ps(n, c(0x35bf_be8e), _mm512_fnmadd_ps(n, c(0x3f31_7200), x));
    let d = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(_mm512_abs_ps(n), _mm512_set1_ps(192.0));
    let u = _mm512_mul_ps(b, b);
    let j = _mm512_fmadd_ps(
        _mm512_fmadd_ps(
            _mm512_fmadd_ps(c(0x3c07_2010), b, c(0x3d2b_9f17)),
            u,
            _mm512_fmadd_ps(c(0x3e2a_af33), b, c(0x3eff_fedb)),
        ),
        u,
        _mm512_fmadd_ps(c(0x3f7f_fff6), b, _mm512_set1_ps(1.0)),
    );
    let res = _mm512_scalef_ps(j, n);
    if d == 0 {
        return res;
    }
    let zero = _mm512_setzero_ps();
    let alt = _mm512_mask_blend_ps(
        _mm512_cmp_ps_mask::<_CMP_LE_OQ>(n, zero),
        _mm512_set1_ps(f32::INFINITY),
        zero,
    );
    _mm512_mask_blend_ps(d, res, alt)
}

/// The rotation of every dimension pair at one position, as ggml's `rope_ext`
/// without YaRN computes it: formed once per token, applied to all its heads
/// (the GPU backend uploads the same angles).
#[derive(Debug, Clone)]
pub struct RotaryAngles {
    /// `(sin, cos)` of each pair's angle.
    pairs: Vec<(f32, f32)>,
}

impl RotaryAngles {
    /// The angles of `dims` rotated dimensions at position `pos`.
    pub fn at(
        pos: usize,
        dims: usize,
        base: f32,
        freq_scale: f32,
        freq_factors: Option<&[f32]>,
    ) -> Self {
        let theta_scale = base.powf(-2.0 / dims as f32);
        let mut theta = pos as f32;
        let mut pairs = Vec::with_capacity(dims / 2);
        for i in 0..dims / 2 {
            let factor = freq_factors.map_or(1.0, |f| f[i]);
            let angle = freq_scale * theta / factor;
            pairs.push(angle.sin_cos());
            theta *= theta_scale;
        }
        Self { pairs }
    }

    /// `(sin, cos)` of each rotated pair.
    pub fn pairs(&self) -> &[(f32, f32)] {
        &self.pairs
    }

    /// Rotates one head vector `x` (at least as long as the rotated dimensions),
    /// pairing dimensions as `style` says.
    pub fn apply(&self, x: &mut [f32], style: RopeStyle) {
        let half = self.pairs.len();
        for (i, &(sin, cos)) in self.pairs.iter().enumerate() {
            let (a, b) = match style {
                RopeStyle::Interleaved => (2 * i, 2 * i + 1),
                RopeStyle::Neox => (i, i + half),
            };
            let (x0, x1) = (x[a], x[b]);
            // As ggml's C compiles with contraction: the first product fused.
            x[a] = x0.mul_add(cos, -(x1 * sin));
            x[b] = x0.mul_add(sin, x1 * cos);
        }
    }
}

/// Softmax of `x` in place (max-subtracted, f64 sum as ggml).
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f64;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += f64::from(*v);
    }
    let inv = (1.0 / sum) as f32;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_norm_of_constant_row_is_weight() {
        let mut x = vec![3.0f32; 4];
        rms_norm(&mut x, &[1.0, 2.0, 3.0, 4.0], 0.0);
        assert_eq!(x, vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn rope_at_position_zero_is_identity() {
        let mut x = vec![1.0, 2.0, 3.0, 4.0];
        RotaryAngles::at(0, 4, 10_000.0, 1.0, None).apply(&mut x, RopeStyle::Neox);
        assert_eq!(x, vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn swiglu_vectors_round_as_the_one_value_form() {
        // Rows of 35: two whole vectors of 16 and a tail of three, over a range
        // that includes ggml's overflow and underflow cut-offs.
        let row = 35;
        let gate: Vec<f32> = (0..row * 40).map(|i| (i as f32 - 700.0) * 0.173).collect();
        let up: Vec<f32> = (0..row * 40).map(|i| 1.0 + (i % 7) as f32 * 0.25).collect();
        let mut got = gate.clone();
        swiglu(&mut got, &up, row);
        for (i, ((&g, &u), &v)) in gate.iter().zip(&up).zip(&got).enumerate() {
            let silu = if i % row < 32 {
                ggml_v_silu(g)
            } else {
                ggml_silu_scalar(g)
            };
            assert_eq!(v.to_bits(), (silu * u).to_bits(), "swiglu({g}, {u})");
        }
    }

    #[test]
    fn geglu_matches_formula_within_f16() {
        let mut g = vec![-11.0, -1.0, 0.0, 0.5, 2.0, 11.0];
        let u = vec![1.0; 6];
        let expected: Vec<f32> = g
            .iter()
            .map(|&x| {
                if x <= -10.0 {
                    0.0
                } else if x >= 10.0 {
                    x
                } else {
                    gelu_f32(x)
                }
            })
            .collect();
        geglu(&mut g, &u);
        for (a, b) in g.iter().zip(&expected) {
            assert!((a - b).abs() <= 2e-3 * b.abs().max(1.0), "{a} vs {b}");
        }
    }
}
