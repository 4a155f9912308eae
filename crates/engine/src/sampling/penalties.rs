//! The window of recently accepted tokens and the penalties computed from it.

use std::collections::{HashMap, VecDeque};

/// The last `capacity` accepted tokens, with a count per distinct token.
#[derive(Debug, Clone, Default)]
pub(crate) struct PenaltyWindow {
    capacity: usize,
    tokens: VecDeque<u32>,
    counts: HashMap<u32, u32>,
}

impl PenaltyWindow {
    /// An empty window that remembers at most `capacity` tokens (`0`: none).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            tokens: VecDeque::new(),
            counts: HashMap::new(),
        }
    }

    /// Appends `token`, forgetting the oldest one when the window is full.
    pub(crate) fn push(&mut self, token: u32) {
        if self.capacity == 0 {
            return;
        }
        if self.tokens.len() >= self.capacity
            && let Some(old) = self.tokens.pop_front()
            && let Some(count) = self.counts.get_mut(&old)
        {
            *count -= 1;
            if *count == 0 {
                self.counts.remove(&old);
            }
        }
        self.tokens.push_back(token);
        *self.counts.entry(token).or_insert(0) += 1;
    }

    /// Whether no token is remembered.
    pub(crate) fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Forgets every token.
    pub(crate) fn clear(&mut self) {
        self.tokens.clear();
        self.counts.clear();
    }

    /// Applies llama.cpp's `penalties` sampler to `logits`: for every token of the window
    /// that indexes `logits`, a positive logit is divided by `repeat`, any other multiplied
    /// by it, then `count * frequency + presence` is subtracted.
    pub(crate) fn apply(&self, logits: &mut [f32], repeat: f32, frequency: f32, presence: f32) {
        for (&token, &count) in &self.counts {
            let Some(logit) = usize::try_from(token).ok().and_then(|i| logits.get_mut(i)) else {
                continue;
            };
            if *logit <= 0.0 {
                *logit *= repeat;
            } else {
                *logit /= repeat;
            }
            *logit -= count as f32 * frequency + presence;
        }
    }

    /// How often `token` occurs in the window.
    #[cfg(test)]
    pub(crate) fn count(&self, token: u32) -> u32 {
        self.counts.get(&token).copied().unwrap_or(0)
    }
}
