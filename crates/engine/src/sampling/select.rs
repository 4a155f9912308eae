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

/// Lanes of the vectorisable maximum.
const LANES: usize = 16;

/// Values per block of the scans: a block whose maximum cannot matter is skipped whole.
const BLOCK: usize = 256;

/// The highest value of `block`, ignoring NaN (`-inf` when there is none). Written as
/// independent lanes of compare-and-select so that the compiler vectorises it.
#[inline]
fn block_max(block: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    for chunk in block.chunks_exact(LANES) {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane = if x > *lane { x } else { *lane };
        }
    }
    let mut max = f32::NEG_INFINITY;
    for &x in lanes.iter().chain(block.chunks_exact(LANES).remainder()) {
        max = if x > max { x } else { max };
    }
    max
}

/// The index of the highest value, the lowest index among equal ones; NaN never wins.
/// `0` when no value is above `-inf`.
pub(crate) fn argmax(values: &[f32]) -> u32 {
    // The first block holding the maximum, then the first position of it in that block.
    let mut best_block = 0;
    let mut max = f32::NEG_INFINITY;
    for (b, block) in values.chunks(BLOCK).enumerate() {
        let m = block_max(block);
        if m > max {
            max = m;
            best_block = b;
        }
    }
    if max == f32::NEG_INFINITY {
        return 0;
    }
    let start = best_block * BLOCK;
    let offset = values[start..].iter().position(|&x| x == max).unwrap_or(0);
    u32::try_from(start + offset).unwrap_or(u32::MAX)
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
    for (b, block) in values.chunks(BLOCK).enumerate() {
        // Most blocks hold nothing above the bar once it has risen: skip them whole.
        if block_max(block) <= bar {
            continue;
        }
        for (j, &x) in block.iter().enumerate() {
            // A later value equal to the bar has a higher id, so it ranks below the k kept.
            if x > bar {
                out.push(Candidate {
                    // `+ 0.0` turns -0.0 into 0.0, so that `total_cmp` agrees with `>`.
                    logit: x + 0.0,
                    id: u32::try_from(b * BLOCK + j).unwrap_or(u32::MAX),
                });
                if out.len() == cap {
                    out.select_nth_unstable_by(k - 1, rank);
                    out.truncate(k);
                    bar = out[k - 1].logit;
                }
            }
        }
    }
    if out.len() > k {
        out.select_nth_unstable_by(k - 1, rank);
        out.truncate(k);
    }
    out.sort_unstable_by(rank);
}
