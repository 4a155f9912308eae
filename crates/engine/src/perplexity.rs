//! Perplexity as llama.cpp's `llama-perplexity` computes it: the text is cut into
//! windows of `n_ctx` tokens, each evaluated from an empty cache with its first
//! token replaced by BOS (when the vocabulary adds one), and the second half of
//! each window is scored.

use crate::EngineError;
use crate::generate::Session;
use crate::model::Model;

/// The running or final result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Perplexity {
    /// Windows scored so far.
    pub chunks: usize,
    /// Tokens scored so far.
    pub count: usize,
    /// exp(mean negative log-likelihood).
    pub ppl: f64,
    /// Standard error of `ppl` (llama.cpp's estimate).
    pub error: f64,
}

/// Scores `tokens` in windows of `n_ctx`, evaluated `n_batch` tokens at a time on
/// the CPU backend; `on_chunk` sees the running estimate after each window. Needs
/// at least `2 * n_ctx` tokens.
pub fn perplexity(
    model: &Model,
    tokens: &[u32],
    n_ctx: usize,
    n_batch: usize,
    on_chunk: impl FnMut(&Perplexity, usize),
) -> Result<Perplexity, EngineError> {
    let mut session = Session::new(model, n_ctx);
    perplexity_in(&mut session, tokens, n_ctx, n_batch, on_chunk)
}

/// [`perplexity`] on the backend of `session` (whose context holds at least
/// `n_ctx` positions; it is cleared before each window).
pub fn perplexity_in(
    session: &mut Session<'_>,
    tokens: &[u32],
    n_ctx: usize,
    n_batch: usize,
    mut on_chunk: impl FnMut(&Perplexity, usize),
) -> Result<Perplexity, EngineError> {
    let model = session.model();
    if n_ctx > session.context() {
        return Err(EngineError::InvalidConfig(format!(
            "perplexity windows of {n_ctx} tokens need a session of that context; it has {}",
            session.context()
        )));
    }
    if n_ctx < 2 || tokens.len() < 2 * n_ctx {
        return Err(EngineError::InvalidConfig(format!(
            "perplexity needs at least {} tokens for a context of {n_ctx}; the text has {}",
            2 * n_ctx,
            tokens.len()
        )));
    }
    let n_batch = n_batch.clamp(1, n_ctx);
    let n_chunk = tokens.len() / n_ctx;
    let first = n_ctx / 2;
    let bos = if model.tokenizer.add_bos() {
        model.tokenizer.bos()
    } else {
        None
    };
    let n_vocab = model.config.n_vocab;
    let mut window = Vec::with_capacity(n_ctx);
    let mut scores = Vec::with_capacity(n_ctx * n_vocab / 2);
    let (mut nll, mut nll2, mut count) = (0.0f64, 0.0f64, 0usize);
    let mut result = Perplexity {
        chunks: 0,
        count: 0,
        ppl: f64::NAN,
        error: f64::NAN,
    };
    for chunk in 0..n_chunk {
        let start = chunk * n_ctx;
        window.clear();
        window.extend_from_slice(&tokens[start..start + n_ctx]);
        if let Some(bos) = bos {
            window[0] = bos;
        }
        session.clear();
        scores.clear();
        for batch_start in (0..n_ctx).step_by(n_batch) {
            let batch = &window[batch_start..(batch_start + n_batch).min(n_ctx)];
            let from = first.saturating_sub(batch_start);
            if from >= batch.len() {
                session.eval(batch)?;
            } else {
                let logits = session.eval_from(batch, from)?;
                scores.extend_from_slice(logits);
            }
        }
        // Logits at positions first..n_ctx-1 predict the next token of the text.
        for i in 0..n_ctx - 1 - first {
            let logits = &scores[i * n_vocab..(i + 1) * n_vocab];
            let target = tokens[start + first + i + 1] as usize;
            let value = -log_softmax(logits, target);
            nll += value;
            nll2 += value * value;
        }
        count += n_ctx - 1 - first;
        result = estimate(chunk + 1, count, nll, nll2);
        on_chunk(&result, n_chunk);
    }
    Ok(result)
}

fn estimate(chunks: usize, count: usize, nll: f64, nll2: f64) -> Perplexity {
    let mean = nll / count as f64;
    let ppl = mean.exp();
    let var = nll2 / count as f64 - mean * mean;
    let error = if var > 0.0 && count > 1 {
        (var / (count - 1) as f64).sqrt() * ppl
    } else {
        0.0
    };
    Perplexity {
        chunks,
        count,
        ppl,
        error,
    }
}

/// `log softmax(logits)[target]`, as llama.cpp computes it (f32 max and
/// exponentials, f64 sum).
fn log_softmax(logits: &[f32], target: usize) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| f64::from((l - max).exp())).sum();
    f64::from(logits[target] - max) - sum.ln()
}
