//! Generation: a sequence's state (KV cache, logits), prompt prefill in one
//! batch, then one token at a time with a caller-chosen sampler, streaming text
//! that never splits a character or shows part of a stop string.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::EngineError;
use crate::cpu::CpuBackend;
use crate::kv_cache::KvCache;
use crate::model::Model;
use crate::plan::{Backend, ExecutionPlan, Logits};

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The model produced an end-of-generation token.
    EndOfGeneration,
    /// The token limit was reached.
    MaxTokens,
    /// A stop string appeared in the text.
    StopString,
    /// The context is full.
    ContextFull,
    /// The caller's cancel flag was set.
    Cancelled,
}

/// Limits of one generation.
#[derive(Debug, Clone, Default)]
pub struct GenerateOptions {
    /// Most tokens to generate (`None`: until the context is full).
    pub max_tokens: Option<usize>,
    /// Stop when any of these appears; it is not part of the output.
    pub stop: Vec<String>,
    /// Keep going past end-of-generation tokens.
    pub ignore_eos: bool,
    /// Stops generation when set (checked before each token).
    pub cancel: Option<Arc<AtomicBool>>,
    /// `choose` is a plain argmax (greedy sampling without penalties, see
    /// [`SamplerConfig::is_plain_argmax`](crate::sampling::SamplerConfig::is_plain_argmax)):
    /// after the first token the backend picks each next token itself
    /// ([`Backend::forward_greedy`](crate::Backend::forward_greedy); on a GPU one
    /// id comes back instead of the logits) and `choose` is not called for it.
    pub greedy: bool,
}

/// What a generation did and how long it took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenerationStats {
    /// Tokens of the prompt evaluated.
    pub prompt_tokens: usize,
    /// Time to evaluate them.
    pub prompt_time: Duration,
    /// Tokens generated.
    pub generated_tokens: usize,
    /// Time spent generating them (after the prompt).
    pub generation_time: Duration,
    /// Why it ended.
    pub stop: StopReason,
}

/// One sequence being evaluated by a backend (the CPU unless told otherwise).
pub struct Session<'m> {
    model: &'m Model,
    plan: ExecutionPlan,
    backend: Box<dyn Backend + 'm>,
    kv: KvCache,
    logits: Vec<f32>,
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("len", &self.kv.len())
            .field("context", &self.kv.capacity())
            .finish_non_exhaustive()
    }
}

impl<'m> Session<'m> {
    /// A session on the CPU backend with room for `context` positions.
    pub fn new(model: &'m Model, context: usize) -> Self {
        Self::with_backend(model, context, Box::new(CpuBackend::new()))
    }

    /// A session on `backend` (e.g. a [`crate::gpu::GpuBackend`] made for at
    /// least `context` positions).
    pub fn with_backend(model: &'m Model, context: usize, backend: Box<dyn Backend + 'm>) -> Self {
        Self {
            model,
            plan: ExecutionPlan::new(model),
            backend,
            kv: KvCache::new(&model.config, context),
            logits: Vec::new(),
        }
    }

    /// The model this session runs.
    pub fn model(&self) -> &'m Model {
        self.model
    }

    /// The backend it evaluates on (to run other sequences on the same one,
    /// as `rocmforge bench --parallel` does).
    pub fn backend_mut(&mut self) -> &mut (dyn Backend + 'm) {
        &mut *self.backend
    }

    /// Positions evaluated so far.
    pub fn len(&self) -> usize {
        self.kv.len()
    }

    /// Whether nothing has been evaluated.
    pub fn is_empty(&self) -> bool {
        self.kv.is_empty()
    }

    /// The context size.
    pub fn context(&self) -> usize {
        self.kv.capacity()
    }

    /// Forgets everything evaluated.
    pub fn clear(&mut self) {
        self.kv.clear();
    }

    /// Forgets positions from `len` on.
    pub fn truncate(&mut self, len: usize) {
        self.kv.truncate(len);
    }

    /// Evaluates `tokens` in one batch; afterwards [`logits`](Self::logits) are
    /// those of the last one.
    pub fn eval(&mut self, tokens: &[u32]) -> Result<(), EngineError> {
        if tokens.is_empty() {
            return Ok(());
        }
        self.backend.forward(
            self.model,
            &self.plan,
            &mut self.kv,
            tokens,
            Logits::Last,
            &mut self.logits,
        )
    }

    /// Evaluates `tokens` and returns the logits of every one of them
    /// (`n_vocab` each), for scoring text.
    pub fn eval_all(&mut self, tokens: &[u32]) -> Result<&[f32], EngineError> {
        self.backend.forward(
            self.model,
            &self.plan,
            &mut self.kv,
            tokens,
            Logits::All,
            &mut self.logits,
        )?;
        Ok(&self.logits)
    }

    /// Evaluates `tokens` and returns the logits of those from index `from` on.
    pub fn eval_from(&mut self, tokens: &[u32], from: usize) -> Result<&[f32], EngineError> {
        self.backend.forward(
            self.model,
            &self.plan,
            &mut self.kv,
            tokens,
            Logits::From(from),
            &mut self.logits,
        )?;
        Ok(&self.logits)
    }

    /// Logits after the last evaluated token.
    pub fn logits(&self) -> &[f32] {
        &self.logits
    }

    /// Evaluates `prompt`, then generates: `choose` picks each token from the
    /// logits (and sees every chosen token through its own state), `on_text`
    /// receives the text as it becomes final.
    pub fn generate(
        &mut self,
        prompt: &[u32],
        options: &GenerateOptions,
        mut choose: impl FnMut(&[f32]) -> u32,
        mut on_text: impl FnMut(&str),
    ) -> Result<GenerationStats, EngineError> {
        let needed = self.kv.len() + prompt.len();
        if needed > self.kv.capacity() || prompt.is_empty() {
            return Err(EngineError::ContextFull {
                needed: needed.max(1),
                context: self.kv.capacity(),
            });
        }
        let started = Instant::now();
        self.eval(prompt)?;
        let prompt_time = started.elapsed();
        let started = Instant::now();
        let tokenizer = &self.model.tokenizer;
        let mut stream = tokenizer.stream_decoder(false);
        let mut text = StopFilter::new(options.stop.clone());
        let mut generated = 0;
        // The next token when the backend already picked it (`options.greedy`).
        let mut picked = None;
        let stop = loop {
            if options.max_tokens.is_some_and(|max| generated >= max) {
                break StopReason::MaxTokens;
            }
            if options
                .cancel
                .as_ref()
                .is_some_and(|c| c.load(Ordering::Relaxed))
            {
                break StopReason::Cancelled;
            }
            let token = match picked.take() {
                Some(token) => token,
                None => choose(&self.logits),
            };
            if !options.ignore_eos && tokenizer.is_eog(token) {
                break StopReason::EndOfGeneration;
            }
            generated += 1;
            let piece = stream.push(token)?;
            if text.push(&piece, &mut on_text) {
                break StopReason::StopString;
            }
            if self.kv.len() >= self.kv.capacity() {
                break StopReason::ContextFull;
            }
            if options.greedy {
                picked = Some(self.backend.forward_greedy(
                    self.model,
                    &self.plan,
                    &mut self.kv,
                    &[token],
                    &mut self.logits,
                )?);
            } else {
                self.eval(&[token])?;
            }
        };
        if stop != StopReason::StopString {
            let rest = stream.finish();
            text.push(&rest, &mut on_text);
            text.flush(&mut on_text);
        }
        Ok(GenerationStats {
            prompt_tokens: prompt.len(),
            prompt_time,
            generated_tokens: generated,
            generation_time: started.elapsed(),
            stop,
        })
    }
}

/// Holds back text that could be the start of a stop string.
pub(crate) struct StopFilter {
    stops: Vec<String>,
    pending: String,
}

impl StopFilter {
    pub(crate) fn new(stops: Vec<String>) -> Self {
        Self {
            stops,
            pending: String::new(),
        }
    }

    /// Adds text; emits what is final. True when a stop string was found (the
    /// text before it has been emitted).
    pub(crate) fn push(&mut self, text: &str, emit: &mut impl FnMut(&str)) -> bool {
        self.pending.push_str(text);
        if let Some(at) = self
            .stops
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| self.pending.find(s.as_str()))
            .min()
        {
            if at > 0 {
                emit(&self.pending[..at]);
            }
            self.pending.clear();
            return true;
        }
        // Keep the longest tail that is a prefix of a stop string.
        let keep = self
            .stops
            .iter()
            .map(|stop| {
                (1..stop.len().min(self.pending.len() + 1))
                    .rev()
                    .find(|&n| stop.is_char_boundary(n) && self.pending.ends_with(&stop[..n]))
                    .unwrap_or(0)
            })
            .max()
            .unwrap_or(0);
        let cut = self.pending.len() - keep;
        if cut > 0 {
            emit(&self.pending[..cut]);
            self.pending.drain(..cut);
        }
        false
    }

    pub(crate) fn flush(&mut self, emit: &mut impl FnMut(&str)) {
        if !self.pending.is_empty() {
            emit(&self.pending);
            self.pending.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StopFilter;

    fn run(stops: &[&str], pieces: &[&str]) -> (String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut filter = StopFilter::new(stops);
        let mut out = String::new();
        for piece in pieces {
            if filter.push(piece, &mut |t| out.push_str(t)) {
                return (out, true);
            }
        }
        filter.flush(&mut |t| out.push_str(t));
        (out, false)
    }

    #[test]
    fn stop_strings_are_cut_even_across_pieces() {
        assert_eq!(
            run(&["</s>"], &["Hello", " wor", "ld</", "s> more"]),
            ("Hello world".into(), true)
        );
        assert_eq!(run(&["STOP"], &["no ST", "OPE"]), ("no ".into(), true));
        assert_eq!(run(&["STOP"], &["ST", "ay"]), ("STay".into(), false));
        assert_eq!(run(&[], &["a", "b"]), ("ab".into(), false));
    }
}
