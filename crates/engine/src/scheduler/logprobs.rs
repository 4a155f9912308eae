//! Log-probabilities of the model's distribution (the raw logits, before
//! penalties and temperature), as OpenAI's `logprobs` report them.

/// The chosen token's log-probability and the most likely alternatives.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    /// `ln p(token)`.
    pub logprob: f32,
    /// The `n` most likely tokens with their log-probabilities, best first.
    pub top: Vec<(u32, f32)>,
}

/// `ln p(token)` under `softmax(logits)`, and the `top` most likely tokens.
pub fn token_logprob(logits: &[f32], token: u32, top: usize) -> TokenLogprob {
    let max = logits
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits
        .iter()
        .filter(|v| v.is_finite())
        .map(|&v| f64::from(v - max).exp())
        .sum();
    let log_norm = f64::from(max) + sum.ln();
    let logprob_of = |v: f32| (f64::from(v) - log_norm) as f32;
    let mut best: Vec<(u32, f32)> = Vec::with_capacity(top + 1);
    if top > 0 {
        for (id, &v) in logits.iter().enumerate() {
            if !v.is_finite() || (best.len() == top && v <= best[top - 1].1) {
                continue;
            }
            let at = best.partition_point(|&(_, b)| b >= v);
            best.insert(at, (id as u32, v));
            best.truncate(top);
        }
    }
    TokenLogprob {
        logprob: logits
            .get(token as usize)
            .map_or(f32::NEG_INFINITY, |&v| logprob_of(v)),
        top: best
            .into_iter()
            .map(|(id, v)| (id, logprob_of(v)))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::token_logprob;

    #[test]
    fn logprobs_are_the_log_softmax() {
        let logits = [1.0f32, 3.0, 2.0, f32::NEG_INFINITY];
        let z: f64 = [1.0f64, 3.0, 2.0].iter().map(|v| v.exp()).sum();
        let lp = token_logprob(&logits, 2, 2);
        assert!((f64::from(lp.logprob) - (2.0 - z.ln())).abs() < 1e-6);
        assert_eq!(lp.top.len(), 2);
        assert_eq!((lp.top[0].0, lp.top[1].0), (1, 2));
        assert!((f64::from(lp.top[0].1) - (3.0 - z.ln())).abs() < 1e-6);
        assert_eq!(token_logprob(&logits, 3, 0).logprob, f32::NEG_INFINITY);
        assert!(token_logprob(&logits, 0, 0).top.is_empty());
    }
}
