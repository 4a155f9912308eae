//! The scale searches behind the k-quants (ggml's `make_qx_quants`,
//! `make_q3_quants` and `make_qkx2_quants`).
//!
//! Each one picks a scale (and for the asymmetric formats a minimum) for a small
//! group of values by trying candidate scales and keeping the one with the least
//! weighted error. The sums are accumulated element by element in `f32`, in ggml's
//! order, because the choice between candidates can hinge on the last bit; that
//! makes every group one long chain of dependent additions.
//!
//! To keep the CPU busy anyway, many groups (those of several super-blocks) are
//! searched side by side. The values are transposed so that row `i` holds value `i`
//! of every group, and every step is a loop over the groups, which the compiler
//! turns into SIMD. Each group still sees exactly ggml's sequence of operations; its
//! branches become per-group selects. The one-group-at-a-time ports in `scalar` are
//! the reference the tests compare against.
//!
//! Two details keep that loop fast. The group count reaches the searches through
//! [`std::hint::black_box`]: as a known constant, the optimizer would unroll the
//! short group loops and then vectorize them far worse than it vectorizes a loop.
//! And where every value provably maps into `nearest_int`'s exact range, the level
//! is rounded and clamped in `f32` ([`round_clamp`]), which is bit-identical there
//! and much cheaper than the integer route.

#[cfg(test)]
pub(super) mod scalar;

use std::hint::black_box;

use super::nearest_int;

/// Below this magnitude a group counts as all zeros (ggml's `GROUP_MAX_EPS`).
pub(super) const GROUP_MAX_EPS: f32 = 1e-15;

/// Most groups searched at once: two super-blocks of 16 groups or four of 8.
pub(super) const MAX_GROUPS: usize = 32;

/// Longest group [`make_qkx2_quants`] takes (Q4_K and Q5_K use 32).
const MAX_QKX2_LEN: usize = 32;

/// Parameters of the asymmetric search: candidate inverse scales are
/// `(nmax + rmin + rdelta * k) / (max - min)` for `k` in `0..=nstep`.
#[derive(Clone, Copy)]
pub(super) struct Search {
    pub nmax: i32,
    pub rmin: f32,
    pub rdelta: f32,
    pub nstep: i32,
    /// Minimise the weighted absolute error instead of the squared error.
    pub use_mad: bool,
}

/// Declares zeroed per-group slices of length `g`. Every hot loop indexes slices of
/// exactly that length, which lets the compiler drop the bounds checks.
macro_rules! per_group {
    ($g:expr; $($name:ident),+) => {
        $(
            let mut $name = [0.0f32; MAX_GROUPS];
            let $name = &mut $name[..$g];
        )+
    };
}

/// The group count of a search, hidden from the optimizer (see the module docs).
#[inline(always)]
fn group_count(scales: &[f32]) -> usize {
    black_box(scales.len()).min(MAX_GROUPS)
}

/// `nearest_int(f)` clamped to `lo..=hi`, computed in `f32`.
///
/// Only valid for `|f| < 2^22` (then `f + 1.5 * 2^23` is rounded to an integer half
/// to even, exactly as in `nearest_int`, and subtracting the constant again is
/// exact). It takes a third of the instructions of the integer route, so the
/// searches use it for every step where they can show all values are in range.
#[inline(always)]
fn round_clamp(f: f32, lo: f32, hi: f32) -> f32 {
    let r = (f + 12_582_912.0) - 12_582_912.0;
    let r = if r > lo { r } else { lo };
    if r < hi { r } else { hi }
}

/// Whether every value of a group is finite, per group.
#[inline(always)]
fn finite_groups(x: &[f32], finite: &mut [bool]) {
    let g = finite.len();
    finite.fill(true);
    for row in x.chunks_exact(g) {
        let row = &row[..g];
        for k in 0..g {
            finite[k] &= row[k].is_finite();
        }
    }
}

/// Below this magnitude [`round_clamp`] agrees with `nearest_int`.
const ROUND_LIMIT: f32 = 4_194_304.0;

/// Per group: the value of largest magnitude (the first one on ties) into `max` and
/// that magnitude into `amax`. `x` holds rows of one value per group.
#[inline(always)]
fn signed_absmax(x: &[f32], max: &mut [f32], amax: &mut [f32]) {
    let g = max.len();
    let amax = &mut amax[..g];
    for row in x.chunks_exact(g) {
        let row = &row[..g];
        for k in 0..g {
            // Selects rather than branches, so the loop vectorizes.
            let a = row[k].abs();
            let bigger = a > amax[k];
            amax[k] = if bigger { a } else { amax[k] };
            max[k] = if bigger { row[k] } else { max[k] };
        }
    }
}

/// Symmetric levels in `-nmax..nmax` for each group, weighted by `x^2` (ggml's
/// `make_qx_quants` with `rmse_type == 1` and no importance weights). `x` holds `N`
/// rows of one value per group, `scales.len()` groups; writes `levels` (same layout)
/// offset by `nmax`, and the scales.
///
/// The candidate scales depend only on each group's maximum, so all groups try the
/// same candidates and only each group's winner is tracked; the levels are
/// recomputed from the winning inverse scale at the end.
#[inline(never)]
pub(super) fn make_qx_quants<const N: usize>(
    x: &[f32],
    nmax: i32,
    levels: &mut [u8],
    scales: &mut [f32],
) {
    let g = group_count(scales);
    let (x, levels, scales) = (&x[..N * g], &mut levels[..N * g], &mut scales[..g]);
    per_group!(g; max, amax, best_iscale, iscale, scale, best, sumlx, suml2);
    signed_absmax(x, max, amax);
    let nmax_f = nmax as f32;
    let level = |iscale: f32, v: f32| nearest_int(iscale * v).max(-nmax).min(nmax - 1);
    // In a finite group every `iscale * v` lies within about `nmax + 1` of zero, since
    // no value exceeds the maximum. All-zero groups are dropped at the end anyway.
    let mut finite = [false; MAX_GROUPS];
    let finite = &mut finite[..g];
    finite_groups(x, finite);
    let fast = (0..g).all(|k| finite[k] || amax[k] < GROUP_MAX_EPS);
    let (lo, hi) = (-nmax_f, (nmax - 1) as f32);
    // Per group: sum(w*x*l) and sum(w*l*l) with w = x^2.
    let sums = |iscale: &[f32], sumlx: &mut [f32], suml2: &mut [f32]| {
        if fast {
            qx_sums(x, iscale, sumlx, suml2, |f| round_clamp(f, lo, hi));
        } else {
            qx_sums(x, iscale, sumlx, suml2, |f| {
                nearest_int(f).max(-nmax).min(nmax - 1) as f32
            });
        }
    };

    for k in 0..g {
        best_iscale[k] = -nmax_f / max[k];
    }
    sums(best_iscale, sumlx, suml2);
    for k in 0..g {
        scale[k] = if suml2[k] != 0.0 {
            sumlx[k] / suml2[k]
        } else {
            0.0
        };
        best[k] = scale[k] * sumlx[k];
    }
    for is in (-9..=9).filter(|&is| is != 0) {
        let step = nmax_f + 0.1 * is as f32;
        for k in 0..g {
            iscale[k] = -step / max[k];
        }
        sums(iscale, sumlx, suml2);
        for k in 0..g {
            let candidate = sumlx[k] / suml2[k];
            if suml2[k] > 0.0 && sumlx[k] * sumlx[k] > best[k] * suml2[k] {
                best_iscale[k] = iscale[k];
                scale[k] = candidate;
                best[k] = candidate * sumlx[k];
            }
        }
    }

    // All-zero groups get zero levels and scale, whatever their lanes computed.
    for (out, row) in levels.chunks_exact_mut(g).zip(x.chunks_exact(g)) {
        let (out, row) = (&mut out[..g], &row[..g]);
        for k in 0..g {
            let l = (level(best_iscale[k], row[k]) + nmax) as u8;
            out[k] = if amax[k] < GROUP_MAX_EPS { 0 } else { l };
        }
    }
    for k in 0..g {
        scales[k] = if amax[k] < GROUP_MAX_EPS {
            0.0
        } else {
            scale[k]
        };
    }
}

/// Per group: `sum(w*x*l)` and `sum(w*l*l)` with `w = x^2` and `l = level(iscale * x)`.
#[inline(always)]
fn qx_sums(
    x: &[f32],
    iscale: &[f32],
    sumlx: &mut [f32],
    suml2: &mut [f32],
    level: impl Fn(f32) -> f32,
) {
    let g = iscale.len();
    let (sumlx, suml2) = (&mut sumlx[..g], &mut suml2[..g]);
    sumlx.fill(0.0);
    suml2.fill(0.0);
    for row in x.chunks_exact(g) {
        let row = &row[..g];
        for k in 0..g {
            let (v, l) = (row[k], level(iscale[k] * row[k]));
            let w = v * v;
            sumlx[k] += w * v * l;
            suml2[k] += w * l * l;
        }
    }
}

/// Symmetric levels in `-nmax..nmax` for each group, refined one value at a time to
/// maximise `sum(w*x*l)^2 / sum(w*l*l)` with `w = x^2` (ggml's `make_q3_quants` with
/// `do_rmse`). Layout as for [`make_qx_quants`]; `levels` are offset by `nmax`.
///
/// ggml stops refining a group after a pass without changes. Such a pass leaves the
/// group's state as it was, so further passes would change nothing either, and the
/// groups can share one loop that ends once no group changed.
#[inline(never)]
pub(super) fn make_q3_quants<const N: usize>(
    x: &[f32],
    nmax: i32,
    levels: &mut [i8],
    scales: &mut [f32],
) {
    let g = group_count(scales);
    let (x, levels, scales) = (&x[..N * g], &mut levels[..N * g], &mut scales[..g]);
    per_group!(g; max, amax, iscale, sumlx, suml2);
    signed_absmax(x, max, amax);
    let clamp = |l: i32| l.max(-nmax).min(nmax - 1);
    for k in 0..g {
        iscale[k] = -(nmax as f32) / max[k];
    }
    for (out, row) in levels.chunks_exact_mut(g).zip(x.chunks_exact(g)) {
        let (out, row) = (&mut out[..g], &row[..g]);
        for k in 0..g {
            let v = row[k];
            let l = clamp(nearest_int(iscale[k] * v));
            out[k] = l as i8;
            let (l, w) = (l as f32, v * v);
            sumlx[k] += w * v * l;
            suml2[k] += w * l * l;
        }
    }
    let mut changed = [false; MAX_GROUPS];
    let changed = &mut changed[..g];
    for _ in 0..5 {
        changed.fill(false);
        for (out, row) in levels.chunks_exact_mut(g).zip(x.chunks_exact(g)) {
            let (out, row) = (&mut out[..g], &row[..g]);
            for k in 0..g {
                let v = row[k];
                let w = v * v;
                let old = f32::from(out[k]);
                let slx = sumlx[k] - w * v * old;
                let sl2 = suml2[k] - w * old * old;
                let new = clamp(nearest_int(v * sl2 / slx));
                let new_f = new as f32;
                let slx_new = slx + w * v * new_f;
                let sl2_new = sl2 + w * new_f * new_f;
                let better = slx > 0.0
                    && new != i32::from(out[k])
                    && sl2_new > 0.0
                    && slx_new * slx_new * suml2[k] > sumlx[k] * sumlx[k] * sl2_new;
                out[k] = if better { new as i8 } else { out[k] };
                sumlx[k] = if better { slx_new } else { sumlx[k] };
                suml2[k] = if better { sl2_new } else { suml2[k] };
                changed[k] |= better;
            }
        }
        if !changed.contains(&true) {
            break;
        }
    }

    // All-zero groups get zero levels and scale, whatever their lanes computed.
    for out in levels.chunks_exact_mut(g) {
        let out = &mut out[..g];
        for k in 0..g {
            out[k] = if amax[k] < GROUP_MAX_EPS {
                0
            } else {
                out[k] + nmax as i8
            };
        }
    }
    for k in 0..g {
        let fit = amax[k] >= GROUP_MAX_EPS && suml2[k] > 0.0;
        scales[k] = if fit { sumlx[k] / suml2[k] } else { 0.0 };
    }
}

/// Asymmetric levels `x ~ scale * l - min_out` with `l` in `0..=nmax` for each group,
/// minimising the weighted error over a sweep of candidate scales, each refined by
/// weighted least squares (ggml's `make_qkx2_quants`). Layout as for
/// [`make_qx_quants`]; writes the scales and the minimums `min_out >= 0`.
///
/// A winning candidate moves its group's minimum, which later candidates start
/// from, so each group keeps its own running state. The levels are recomputed at the
/// end from the winner's inverse scale and the minimum it started from, which gives
/// back exactly the levels the winner had.
pub(super) fn make_qkx2_quants<const N: usize>(
    x: &[f32],
    weights: &[f32],
    levels: &mut [u8],
    scales: &mut [f32],
    mins: &mut [f32],
    p: Search,
) {
    const { assert!(N <= MAX_QKX2_LEN) };
    if p.use_mad {
        qkx2_search::<N, true>(x, weights, levels, scales, mins, p);
    } else {
        qkx2_search::<N, false>(x, weights, levels, scales, mins, p);
    }
}

/// [`make_qkx2_quants`] with the weighted absolute error (`MAD`) or the weighted
/// squared error.
#[inline(never)]
fn qkx2_search<const N: usize, const MAD: bool>(
    x: &[f32],
    weights: &[f32],
    levels: &mut [u8],
    scales: &mut [f32],
    mins: &mut [f32],
    p: Search,
) {
    let g = group_count(scales);
    let (x, weights) = (&x[..N * g], &weights[..N * g]);
    let levels = &mut levels[..N * g];
    let nmax = p.nmax;
    let level = |iscale: f32, v: f32, min: f32| nearest_int(iscale * (v - min)).max(0).min(nmax);
    let weighted_error = |diff: f32, w: f32| w * if MAD { diff.abs() } else { diff * diff };
    let rows = || {
        x.chunks_exact(g)
            .zip(weights.chunks_exact(g))
            .map(|(r, w)| (&r[..g], &w[..g]))
    };

    per_group!(g; min, max, sum_w, sum_x);
    min.copy_from_slice(&x[..g]);
    max.copy_from_slice(&x[..g]);
    sum_w.copy_from_slice(&weights[..g]);
    for k in 0..g {
        sum_x[k] = sum_w[k] * x[k];
    }
    for (row, wrow) in rows().skip(1) {
        for k in 0..g {
            let (v, w) = (row[k], wrow[k]);
            min[k] = if v < min[k] { v } else { min[k] };
            max[k] = if v > max[k] { v } else { max[k] };
            sum_w[k] += w;
            sum_x[k] += w * v;
        }
    }
    let mut lowest = [0.0f32; MAX_GROUPS];
    let lowest = &mut lowest[..g];
    lowest.copy_from_slice(min);
    for m in min.iter_mut() {
        if *m > 0.0 {
            *m = 0.0;
        }
    }
    let mut finite = [false; MAX_GROUPS];
    let finite = &mut finite[..g];
    finite_groups(x, finite);
    // Groups of one repeated value get zero levels; their lanes run along unused.
    per_group!(g; flat_min, best_iscale, best_from, scale, best_error);
    flat_min.copy_from_slice(min);
    let mut flat = [false; MAX_GROUPS];
    let flat = &mut flat[..g];
    for k in 0..g {
        flat[k] = max[k] == min[k];
    }
    best_from.copy_from_slice(min);
    let nmax_f = nmax as f32;
    for k in 0..g {
        best_iscale[k] = nmax_f / (max[k] - min[k]);
        scale[k] = 1.0 / best_iscale[k];
    }
    for (row, wrow) in rows() {
        for k in 0..g {
            let l = level(best_iscale[k], row[k], min[k]) as f32;
            best_error[k] += weighted_error(scale[k] * l + min[k] - row[k], wrow[k]);
        }
    }

    let mut aux = [0.0f32; MAX_QKX2_LEN * MAX_GROUPS];
    let aux = &mut aux[..N * g];
    per_group!(g; iscale, sum_l, sum_l2, sum_xl, this_scale, this_min, cur_error);
    let mut solved = [false; MAX_GROUPS];
    let solved = &mut solved[..g];
    for is in 0..=p.nstep {
        let step = p.rmin + p.rdelta * is as f32 + nmax_f;
        for k in 0..g {
            iscale[k] = step / (max[k] - min[k]);
        }
        // The values map into `iscale * (lowest - min) ..= iscale * (max - min)`; when
        // that range is small for every group the float rounding is exact.
        let fast = (0..g).all(|k| {
            let (lo, hi) = (
                iscale[k] * (lowest[k] - min[k]),
                iscale[k] * (max[k] - min[k]),
            );
            flat[k] || (finite[k] && iscale[k] >= 0.0 && lo > -ROUND_LIMIT && hi < ROUND_LIMIT)
        });
        let sums = (&mut *sum_l, &mut *sum_l2, &mut *sum_xl);
        if fast {
            qkx2_sums(x, weights, aux, iscale, min, sums, |f| {
                round_clamp(f, 0.0, nmax_f)
            });
        } else {
            qkx2_sums(x, weights, aux, iscale, min, sums, |f| {
                nearest_int(f).max(0).min(nmax) as f32
            });
        }
        for k in 0..g {
            let det = sum_w[k] * sum_l2[k] - sum_l[k] * sum_l[k];
            solved[k] = det > 0.0;
            let fit_scale = (sum_w[k] * sum_xl[k] - sum_x[k] * sum_l[k]) / det;
            let fit_min = (sum_l2[k] * sum_x[k] - sum_l[k] * sum_xl[k]) / det;
            // A positive minimum is pinned to zero and the scale refitted alone.
            let pinned = fit_min > 0.0;
            this_scale[k] = if pinned {
                sum_xl[k] / sum_l2[k]
            } else {
                fit_scale
            };
            this_min[k] = if pinned { 0.0 } else { fit_min };
        }
        cur_error.fill(0.0);
        for (arow, (row, wrow)) in aux.chunks_exact(g).zip(rows()) {
            let arow = &arow[..g];
            for k in 0..g {
                let diff = this_scale[k] * arow[k] + this_min[k] - row[k];
                cur_error[k] += weighted_error(diff, wrow[k]);
            }
        }
        for k in 0..g {
            if solved[k] && cur_error[k] < best_error[k] {
                best_error[k] = cur_error[k];
                best_iscale[k] = iscale[k];
                best_from[k] = min[k];
                scale[k] = this_scale[k];
                min[k] = this_min[k];
            }
        }
    }

    for (out, (row, _)) in levels.chunks_exact_mut(g).zip(rows()) {
        let out = &mut out[..g];
        for k in 0..g {
            let l = level(best_iscale[k], row[k], best_from[k]) as u8;
            out[k] = if flat[k] { 0 } else { l };
        }
    }
    let (scales, mins) = (&mut scales[..g], &mut mins[..g]);
    for k in 0..g {
        scales[k] = if flat[k] { 0.0 } else { scale[k] };
        mins[k] = if flat[k] { -flat_min[k] } else { -min[k] };
    }
}

/// Pass one of a [`make_qkx2_quants`] candidate: per group the levels
/// `l = level(iscale * (x - min))` into `aux`, and `sum(w*l)`, `sum(w*l*l)`,
/// `sum(w*l*x)`.
#[inline(always)]
fn qkx2_sums(
    x: &[f32],
    weights: &[f32],
    aux: &mut [f32],
    iscale: &[f32],
    min: &[f32],
    (sum_l, sum_l2, sum_xl): (&mut [f32], &mut [f32], &mut [f32]),
    level: impl Fn(f32) -> f32,
) {
    let g = iscale.len();
    let (min, sum_l, sum_l2, sum_xl) = (
        &min[..g],
        &mut sum_l[..g],
        &mut sum_l2[..g],
        &mut sum_xl[..g],
    );
    sum_l.fill(0.0);
    sum_l2.fill(0.0);
    sum_xl.fill(0.0);
    let rows = x.chunks_exact(g).zip(weights.chunks_exact(g));
    for (arow, (row, wrow)) in aux.chunks_exact_mut(g).zip(rows) {
        let (arow, row, wrow) = (&mut arow[..g], &row[..g], &wrow[..g]);
        for k in 0..g {
            let (v, w) = (row[k], wrow[k]);
            let l = level(iscale[k] * (v - min[k]));
            arow[k] = l;
            sum_l[k] += w * l;
            sum_l2[k] += w * l * l;
            sum_xl[k] += w * l * v;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Mostly ordinary values, with ties, zeros, subnormals, extremes and non-finite
    /// values mixed in.
    fn value() -> impl Strategy<Value = f32> {
        let special = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            f32::MIN_POSITIVE,
            1e-40,
            -1e-20,
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
        ];
        prop_oneof![
            8 => -1.0f32..1.0,
            2 => (-1.0f32..1.0, -60i32..60).prop_map(|(v, e)| v * 2f32.powi(e)),
            1 => prop::sample::select(special.to_vec()),
        ]
    }

    /// Ordinary finite values only, so the searches take their fast route.
    fn tame_value() -> impl Strategy<Value = f32> {
        (-1.0f32..1.0, -8i32..8).prop_map(|(v, e)| v * 2f32.powi(e))
    }

    /// Between 1 and `MAX_GROUPS` groups of `n` values; some constant.
    fn groups(n: usize, value: BoxedStrategy<f32>) -> impl Strategy<Value = Vec<Vec<f32>>> {
        let group = prop_oneof![
            6 => prop::collection::vec(value.clone(), n),
            1 => value.prop_map(move |v| vec![v; n]),
        ];
        prop::collection::vec(group, 1..=MAX_GROUPS)
    }

    fn any_groups(n: usize) -> impl Strategy<Value = Vec<Vec<f32>>> {
        prop_oneof![groups(n, value().boxed()), groups(n, tame_value().boxed())]
    }

    /// Row `i` holds value `i` of every group.
    fn transpose(groups: &[Vec<f32>]) -> Vec<f32> {
        let n = groups[0].len();
        (0..n)
            .flat_map(|i| groups.iter().map(move |g| g[i]))
            .collect()
    }

    fn same(a: f32, b: f32) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn qx_matches_one_group_at_a_time(groups in any_groups(16)) {
            let g = groups.len();
            let mut levels = vec![0u8; 16 * g];
            let mut scales = vec![0.0f32; g];
            make_qx_quants::<16>(&transpose(&groups), 32, &mut levels, &mut scales);
            for (k, group) in groups.iter().enumerate() {
                let mut want = [0u8; 16];
                let scale = scalar::make_qx_quants(group.as_slice().try_into().unwrap(), 32, &mut want);
                prop_assert!(same(scales[k], scale), "group {k}: {} vs {scale}", scales[k]);
                for i in 0..16 {
                    prop_assert_eq!(levels[i * g + k], want[i], "group {}, value {}", k, i);
                }
            }
        }

        #[test]
        fn q3_matches_one_group_at_a_time(groups in any_groups(16)) {
            let g = groups.len();
            let mut levels = vec![0i8; 16 * g];
            let mut scales = vec![0.0f32; g];
            make_q3_quants::<16>(&transpose(&groups), 4, &mut levels, &mut scales);
            for (k, group) in groups.iter().enumerate() {
                let mut want = [0i8; 16];
                let scale = scalar::make_q3_quants(group.as_slice().try_into().unwrap(), 4, &mut want);
                prop_assert!(same(scales[k], scale), "group {k}: {} vs {scale}", scales[k]);
                for i in 0..16 {
                    prop_assert_eq!(levels[i * g + k], want[i], "group {}, value {}", k, i);
                }
            }
        }

        #[test]
        fn qkx2_matches_one_group_at_a_time(
            groups in any_groups(32),
            mad in any::<bool>(),
            (nmax, rmin, nstep) in prop::sample::select(vec![(15, -1.0f32, 20), (31, -0.5, 15), (3, -0.5, 15)]),
        ) {
            let p = Search { nmax, rmin, rdelta: 0.1, nstep, use_mad: mad };
            let g = groups.len();
            // The Q4_K weights: each group's RMS plus the value's magnitude.
            let weights: Vec<Vec<f32>> = groups
                .iter()
                .map(|group| {
                    let mut sum_x2 = 0.0f32;
                    for &v in group {
                        sum_x2 += v * v;
                    }
                    let av_x = (sum_x2 / 32.0).sqrt();
                    group.iter().map(|v| av_x + v.abs()).collect()
                })
                .collect();
            let mut levels = vec![0u8; 32 * g];
            let (mut scales, mut mins) = (vec![0.0f32; g], vec![0.0f32; g]);
            let (x, w) = (transpose(&groups), transpose(&weights));
            make_qkx2_quants::<32>(&x, &w, &mut levels, &mut scales, &mut mins, p);
            for (k, (group, weights)) in groups.iter().zip(&weights).enumerate() {
                let mut want = [0u8; 32];
                let (scale, min) = scalar::make_qkx2_quants(
                    group.as_slice().try_into().unwrap(),
                    weights.as_slice().try_into().unwrap(),
                    &mut want,
                    p,
                );
                prop_assert!(same(scales[k], scale), "group {k}: scale {} vs {scale}", scales[k]);
                prop_assert!(same(mins[k], min), "group {k}: min {} vs {min}", mins[k]);
                for i in 0..32 {
                    prop_assert_eq!(levels[i * g + k], want[i], "group {}, value {}", k, i);
                }
            }
        }
    }

    #[test]
    fn round_clamp_agrees_with_nearest_int_in_range() {
        // Every half-integer and a spread of fractions near zero, then a sweep of
        // magnitudes up to the limit.
        let near =
            (-400..=400).flat_map(|i| [i as f32 * 0.5, i as f32 * 0.5 + 0.2, i as f32 * 0.37]);
        let far = (0..4000).flat_map(|i| {
            let v = ROUND_LIMIT * (i as f32 / 4000.0);
            [v, -v, v + 0.5, -v - 0.5]
        });
        for f in near.chain(far).filter(|f| f.abs() < ROUND_LIMIT) {
            let want = nearest_int(f).clamp(-7, 40) as f32;
            assert_eq!(round_clamp(f, -7.0, 40.0).to_bits(), want.to_bits(), "{f}");
            let want = nearest_int(f) as f32;
            let got = round_clamp(f, -ROUND_LIMIT, ROUND_LIMIT);
            assert_eq!(got.to_bits(), want.to_bits(), "{f}");
        }
    }
}
