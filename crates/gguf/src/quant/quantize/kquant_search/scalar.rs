//! One group at a time, straight from ggml's C: the reference that the side-by-side
//! searches in the parent module are tested against.

use super::{GROUP_MAX_EPS, Search};
use crate::quant::quantize::nearest_int;

/// The value of largest magnitude (the first one on ties), and that magnitude.
#[inline(always)]
fn signed_absmax(x: &[f32]) -> (f32, f32) {
    let (mut max, mut amax) = (0.0f32, 0.0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    (max, amax)
}

/// Symmetric levels in `-nmax..nmax`, weighted by `x^2` (ggml's `make_qx_quants` with
/// `rmse_type == 1` and no importance weights). Writes `levels` offset by `nmax` and
/// returns the scale.
pub(crate) fn make_qx_quants<const N: usize>(x: &[f32; N], nmax: i32, levels: &mut [u8; N]) -> f32 {
    let (max, amax) = signed_absmax(x);
    if amax < GROUP_MAX_EPS {
        *levels = [0; N];
        return 0.0;
    }
    let nmax_f = nmax as f32;
    let level = |iscale: f32, v: f32| nearest_int(iscale * v).clamp(-nmax, nmax - 1);
    // Weighted sums sum(w*x*l) and sum(w*l*l) for one inverse scale.
    let sums = |iscale: f32| {
        let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
        for &v in x {
            let l = level(iscale, v) as f32;
            let w = v * v;
            sumlx += w * v * l;
            suml2 += w * l * l;
        }
        (sumlx, suml2)
    };
    let set_levels = |levels: &mut [u8; N], iscale: f32| {
        for (q, &v) in levels.iter_mut().zip(x) {
            *q = (level(iscale, v) + nmax) as u8;
        }
    };

    let iscale = -nmax_f / max;
    set_levels(levels, iscale);
    let (sumlx, suml2) = sums(iscale);
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for is in (-9..=9).filter(|&is| is != 0) {
        let iscale = -(nmax_f + 0.1 * is as f32) / max;
        let (sumlx, suml2) = sums(iscale);
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            set_levels(levels, iscale);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// Symmetric levels in `-nmax..nmax` refined one value at a time to maximise
/// `sum(w*x*l)^2 / sum(w*l*l)` with `w = x^2` (ggml's `make_q3_quants` with
/// `do_rmse`). Writes `levels` offset by `nmax` and returns the scale.
pub(crate) fn make_q3_quants<const N: usize>(x: &[f32; N], nmax: i32, levels: &mut [i8; N]) -> f32 {
    let (max, amax) = signed_absmax(x);
    if amax < GROUP_MAX_EPS {
        *levels = [0; N];
        return 0.0;
    }
    let iscale = -(nmax as f32) / max;
    let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
    for (q, &v) in levels.iter_mut().zip(x) {
        let l = nearest_int(iscale * v).clamp(-nmax, nmax - 1);
        *q = l as i8;
        let (l, w) = (l as f32, v * v);
        sumlx += w * v * l;
        suml2 += w * l * l;
    }
    for _ in 0..5 {
        let mut changed = false;
        for (q, &v) in levels.iter_mut().zip(x) {
            let w = v * v;
            let old = f32::from(*q);
            let mut slx = sumlx - w * v * old;
            if slx > 0.0 {
                let mut sl2 = suml2 - w * old * old;
                let new = nearest_int(v * sl2 / slx).clamp(-nmax, nmax - 1);
                if new != i32::from(*q) {
                    let new_f = new as f32;
                    slx += w * v * new_f;
                    sl2 += w * new_f * new_f;
                    if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                        *q = new as i8;
                        sumlx = slx;
                        suml2 = sl2;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    for q in levels.iter_mut() {
        *q += nmax as i8;
    }
    if suml2 > 0.0 { sumlx / suml2 } else { 0.0 }
}

/// Asymmetric levels `x ~ scale * l - min_out` with `l` in `0..=nmax`, minimising the
/// weighted error over a sweep of candidate scales, each refined by weighted least
/// squares (ggml's `make_qkx2_quants`). Returns `(scale, min_out)`, `min_out >= 0`.
pub(crate) fn make_qkx2_quants<const N: usize>(
    x: &[f32; N],
    weights: &[f32; N],
    levels: &mut [u8; N],
    p: Search,
) -> (f32, f32) {
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for (&v, &w) in x.iter().zip(weights).skip(1) {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
        sum_w += w;
        sum_x += w * v;
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        *levels = [0; N];
        return (0.0, -min);
    }
    let nmax_f = p.nmax as f32;
    let error = |scale: f32, min: f32, levels: &[u8; N]| {
        let mut err = 0.0f32;
        for ((&v, &w), &l) in x.iter().zip(weights).zip(levels) {
            let diff = scale * f32::from(l) + min - v;
            err += w * if p.use_mad { diff.abs() } else { diff * diff };
        }
        err
    };

    let iscale = nmax_f / (max - min);
    let mut scale = 1.0 / iscale;
    for (q, &v) in levels.iter_mut().zip(x) {
        *q = nearest_int(iscale * (v - min)).clamp(0, p.nmax) as u8;
    }
    let mut best_error = error(scale, min, levels);
    if p.nstep < 1 {
        return (scale, -min);
    }
    let mut aux = [0u8; N];
    for is in 0..=p.nstep {
        // `min` moves whenever a candidate wins, and later candidates start from it.
        let iscale = (p.rmin + p.rdelta * is as f32 + nmax_f) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0.0f32, 0.0f32, 0.0f32);
        for ((q, &v), &w) in aux.iter_mut().zip(x).zip(weights) {
            let l = nearest_int(iscale * (v - min)).clamp(0, p.nmax);
            *q = l as u8;
            let l = l as f32;
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * v;
        }
        let det = sum_w * sum_l2 - sum_l * sum_l;
        if det > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let cur_error = error(this_scale, this_min, &aux);
            if cur_error < best_error {
                *levels = aux;
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}
