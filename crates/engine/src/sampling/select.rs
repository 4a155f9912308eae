//! Candidate selection: argmax and the `k` highest logits, in linear time.

use std::cmp::Ordering;

/// A token that is still in the running, with its (penalised) logit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Candidate {
    /// The logit, never NaN, never `-inf` and never `-0.0`.
    pub(crate) logit: f32,
    /// The token id (index into the logits).
    pub(crate) id: u32,
}

/// The ranking order: higher logit first, lower id first among equal logits.
#[inline]
fn rank(a: &Candidate, b: &Candidate) -> Ordering {
    b.logit.total_cmp(&a.logit).then(a.id.cmp(&b.id))
}

/// The index of the highest value, the lowest index among equal ones; NaN never wins.
/// `0` when no value is above `-inf`.
pub(crate) fn argmax(values: &[f32]) -> u32 {
    let mut best = 0usize;
    let mut best_value = f32::NEG_INFINITY;
    for (i, &x) in values.iter().enumerate() {
        if x > best_value {
            best = i;
            best_value = x;
        }
    }
    u32::try_from(best).unwrap_or(u32::MAX)
}

/// Fills `out` with the `k` (at least 1) best-ranked values, sorted by rank.
///
/// NaN and `-inf` values are never candidates (they have no probability), so `out` holds
/// fewer than `k` entries when fewer values are above `-inf`. The scan keeps a buffer of
/// at most `k + max(k, 1024)` candidates: when it is full, `select_nth_unstable` keeps
/// the `k` best and their worst logit becomes the bar every later value must beat, so the
/// cost is linear in `values.len()` plus a sort of the `k` survivors.
pub(crate) fn top_k(values: &[f32], k: usize, out: &mut Vec<Candidate>) {
    out.clear();
    let k = k.max(1);
    let cap = k + k.max(1024);
    out.reserve(cap.min(values.len()));
    let mut bar = f32::NEG_INFINITY;
    for (i, &x) in values.iter().enumerate() {
        // A later value equal to the bar has a higher id, so it ranks below the k kept.
        if x > bar {
            out.push(Candidate {
                // `+ 0.0` turns -0.0 into 0.0, so that `total_cmp` agrees with `>`.
                logit: x + 0.0,
                id: u32::try_from(i).unwrap_or(u32::MAX),
            });
            if out.len() == cap {
                out.select_nth_unstable_by(k - 1, rank);
                out.truncate(k);
                bar = out[k - 1].logit;
            }
        }
    }
    if out.len() > k {
        out.select_nth_unstable_by(k - 1, rank);
        out.truncate(k);
    }
    out.sort_unstable_by(rank);
}
