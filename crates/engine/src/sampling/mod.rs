//! Sampling: choosing the next token from logits.
//!
//! [`Sampler`] follows llama.cpp's default `common_sampler` chain: repetition, frequency
//! and presence penalties over the last `repeat_last_n` accepted tokens, top-k, top-p,
//! min-p, temperature, then a random draw from the softmax of the surviving tokens; a
//! temperature `<= 0` takes the argmax of the penalised logits instead.
//!
//! Ties between equal logits are broken towards the lower token id everywhere, so the
//! survivors of every stage are fully determined by the logits. The random draw uses
//! xoshiro256++ seeded through SplitMix64 (`rand`'s `Xoshiro256PlusPlus::seed_from_u64`):
//! the same seed and the same sequence of logits and accepted tokens give the same tokens.

mod config;
mod penalties;
mod select;
#[cfg(test)]
mod tests;

pub use config::{SamplerConfig, SamplerError};
pub(crate) use select::argmax;

use penalties::PenaltyWindow;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, SeedableRng, TryRng};
use select::Candidate;

/// Chooses next tokens from logits; see the [module documentation](self).
///
/// It keeps the penalty window (fed by [`accept`](Self::accept)), the random generator
/// and scratch buffers, which grow on the first call and are reused afterwards.
#[derive(Debug, Clone)]
pub struct Sampler {
    config: SamplerConfig,
    seed: u64,
    rng: Xoshiro256PlusPlus,
    window: PenaltyWindow,
    /// The penalised copy of the logits, when penalties are active.
    work: Vec<f32>,
    /// Survivors of the filters, sorted by rank.
    candidates: Vec<Candidate>,
    /// Unnormalised probabilities of the survivors, for the draw.
    weights: Vec<f32>,
}

/// The tokens left after the filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Survivors {
    /// Every token of the logits (no filter is active).
    All,
    /// The first `n` entries of `Sampler::candidates`.
    Prefix(usize),
}

impl Sampler {
    /// A sampler with the given settings, after [`SamplerConfig::validate`].
    ///
    /// Without a seed in `config` one is taken from the operating system (or, should that
    /// fail, from the clock); [`seed`](Self::seed) tells which.
    pub fn new(config: SamplerConfig) -> Result<Self, SamplerError> {
        config.validate()?;
        let seed = config.seed.unwrap_or_else(entropy_seed);
        Ok(Self {
            window: PenaltyWindow::new(config.repeat_last_n),
            seed,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            config,
            work: Vec::new(),
            candidates: Vec::new(),
            weights: Vec::new(),
        })
    }

    /// The settings this sampler was made with.
    pub fn config(&self) -> &SamplerConfig {
        &self.config
    }

    /// The seed the random generator was last seeded with (the configured one, or the one
    /// drawn from the operating system).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Picks the next token from `logits` (one per vocabulary entry).
    ///
    /// `logits` is only read; penalties work on an internal copy. NaN and `-inf` logits
    /// are never chosen while some logit is above `-inf`; when none is (or `logits` is
    /// empty) the answer is `0`. Every non-greedy call advances the random generator by
    /// exactly one draw.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        let logits = &logits[..logits.len().min(MAX_VOCAB)];
        let values: &[f32] = if self.config.penalties_active() && !self.window.is_empty() {
            self.work.clear();
            self.work.extend_from_slice(logits);
            self.window.apply(
                &mut self.work,
                self.config.repeat_penalty,
                self.config.frequency_penalty,
                self.config.presence_penalty,
            );
            &self.work
        } else {
            logits
        };

        if self.config.is_greedy() {
            return argmax(values);
        }
        let survivors = filter(values, &self.config, &mut self.candidates);
        let u = unit_f64(&mut self.rng);
        let temperature = self.config.temperature;
        match survivors {
            Survivors::All => draw(values.iter().copied(), temperature, u, &mut self.weights)
                .map_or(0, |i| u32::try_from(i).unwrap_or(u32::MAX)),
            Survivors::Prefix(n) => {
                let survivors = &self.candidates[..n];
                draw(
                    survivors.iter().map(|c| c.logit),
                    temperature,
                    u,
                    &mut self.weights,
                )
                .map_or(0, |i| survivors[i].id)
            }
        }
    }

    /// Records a token of the context (prompt tokens and generated ones) for the penalties.
    pub fn accept(&mut self, token: u32) {
        self.window.push(token);
    }

    /// Forgets the accepted tokens and reseeds the random generator: with the configured
    /// seed when there is one (so the same tokens come again), else with a fresh one.
    pub fn reset(&mut self) {
        self.window.clear();
        self.seed = self.config.seed.unwrap_or_else(entropy_seed);
        self.rng = Xoshiro256PlusPlus::seed_from_u64(self.seed);
    }

    /// The token ids that survive the penalties and filters for `logits`, best first.
    /// Advances no random state.
    #[cfg(test)]
    pub(crate) fn survivors(&mut self, logits: &[f32]) -> Vec<u32> {
        let values: Vec<f32> = if self.config.penalties_active() {
            let mut v = logits.to_vec();
            self.window.apply(
                &mut v,
                self.config.repeat_penalty,
                self.config.frequency_penalty,
                self.config.presence_penalty,
            );
            v
        } else {
            logits.to_vec()
        };
        match filter(&values, &self.config, &mut self.candidates) {
            Survivors::All => {
                select::top_k(&values, values.len(), &mut self.candidates);
                self.candidates.iter().map(|c| c.id).collect()
            }
            Survivors::Prefix(n) => self.candidates[..n].iter().map(|c| c.id).collect(),
        }
    }
}

/// Token ids are `u32`: logits past this many are ignored.
const MAX_VOCAB: usize = if usize::BITS > 32 {
    (u32::MAX as usize).wrapping_add(1)
} else {
    usize::MAX
};

/// A seed from the operating system, or from the clock if that fails.
fn entropy_seed() -> u64 {
    rand::rngs::SysRng.try_next_u64().unwrap_or_else(|_| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        // Fold the 128-bit count and mix in an address, so two samplers made in the same
        // clock tick still differ.
        let local = 0u8;
        (nanos as u64) ^ ((nanos >> 64) as u64) ^ (std::ptr::from_ref(&local) as usize as u64)
    })
}

/// A uniform number in `[0, 1)` with 53 random bits.
fn unit_f64(rng: &mut Xoshiro256PlusPlus) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// llama.cpp's softmax weight of a logit relative to the highest one, `exp(x/t - max/t)`.
/// The highest logit itself weighs exactly 1, which also keeps `+inf` logits meaningful.
#[inline]
fn weight(x: f32, max: f32, t: f32) -> f32 {
    if x == max {
        1.0
    } else {
        (x / t - max / t).exp()
    }
}

/// Applies top-k, top-p and min-p to `values`, leaving the survivors in `candidates`.
///
/// Top-p and min-p each keep a prefix of the candidates in rank order (top-p's
/// probabilities are those after top-k, min-p's bar is relative to the best logit, which
/// top-p never removes), so the survivors are the shorter of the two prefixes and the
/// order between them does not matter.
fn filter(values: &[f32], config: &SamplerConfig, candidates: &mut Vec<Candidate>) -> Survivors {
    let top_p = config.top_p_active();
    let min_p = config.min_p_active();
    if let Some(k) = config.top_k_for(values.len()) {
        select::top_k(values, k, candidates);
        let Some(max) = candidates.first().map(|c| c.logit) else {
            return Survivors::Prefix(0);
        };
        let sum = if top_p {
            candidates.iter().map(|c| weight(c.logit, max, 1.0)).sum()
        } else {
            0.0
        };
        return Survivors::Prefix(
            prefix_len(candidates, max, sum, config).unwrap_or(candidates.len()),
        );
    }
    if !top_p && !min_p {
        return Survivors::All;
    }
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        candidates.clear();
        return Survivors::Prefix(0);
    }
    let sum = if top_p {
        values
            .iter()
            .filter(|x| !x.is_nan())
            .map(|&x| weight(x, max, 1.0))
            .sum()
    } else {
        0.0
    };
    // Sort only as many of the best tokens as the filters may keep: start with 256 and
    // widen while the prefix is not settled.
    let mut k = 256.min(values.len());
    loop {
        select::top_k(values, k, candidates);
        if let Some(n) = prefix_len(candidates, max, sum, config) {
            return Survivors::Prefix(n);
        }
        if candidates.len() < k || k == values.len() {
            return Survivors::Prefix(candidates.len());
        }
        k = k.saturating_mul(8).min(values.len());
    }
}

/// Where top-p or min-p cut `candidates` (sorted by rank, headed by the best logit `max`
/// of all tokens still in the running, whose softmax weights add up to `sum`), or `None`
/// if neither cuts within `candidates`.
///
/// Top-p keeps tokens up to and including the one whose cumulative probability reaches
/// `top_p`; min-p keeps the best token and every following one whose logit is at least
/// `max + ln(min_p)`. Both use llama.cpp's `f32` arithmetic.
fn prefix_len(
    candidates: &[Candidate],
    max: f32,
    sum: f32,
    config: &SamplerConfig,
) -> Option<usize> {
    let top_p = config.top_p_active();
    let min_logit = if config.min_p_active() {
        max + config.min_p.ln()
    } else {
        f32::NEG_INFINITY
    };
    let mut cumulative = 0.0f32;
    for (i, c) in candidates.iter().enumerate() {
        if i > 0 && c.logit < min_logit {
            return Some(i);
        }
        if top_p {
            cumulative += weight(c.logit, max, 1.0) / sum;
            if cumulative >= config.top_p {
                return Some(i + 1);
            }
        }
    }
    None
}

/// Draws an index from the softmax of `logits / temperature` with the uniform number `u`
/// in `[0, 1)`, as llama.cpp's `dist` sampler does: the first index at which the running
/// sum of weights reaches `u` times their total. Indices of zero weight are never drawn;
/// `None` when every weight is zero or there are no logits.
fn draw(
    logits: impl Iterator<Item = f32> + Clone,
    temperature: f32,
    u: f64,
    weights: &mut Vec<f32>,
) -> Option<usize> {
    let max = logits.clone().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return None;
    }
    weights.clear();
    weights.extend(logits.map(|x| {
        if x.is_nan() {
            0.0
        } else {
            weight(x, max, temperature)
        }
    }));
    let total: f64 = weights.iter().map(|&w| f64::from(w)).sum();
    let target = total * u;
    let mut running = 0.0f64;
    let mut last = None;
    for (i, &w) in weights.iter().enumerate() {
        if w > 0.0 {
            running += f64::from(w);
            last = Some(i);
            if running > target {
                return Some(i);
            }
        }
    }
    last
}
