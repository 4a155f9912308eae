//! The execution plan: what each layer of a model does, derived once from the
//! configuration and weights, and the backend interface that executes it.

use crate::EngineError;
use crate::config::{Activation, Architecture, ModelConfig, RopeStyle};
use crate::kv_cache::KvCache;
use crate::model::Model;

/// The attention of one layer.
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionPlan {
    /// Rotary base frequency of this layer.
    pub rope_base: f32,
    /// Attend only to the last `window` positions (sliding-window layers).
    pub window: Option<usize>,
    /// Add biases after the Q/K/V projections.
    pub qkv_bias: bool,
    /// RMS-normalise each query and key head before the rotation.
    pub qk_norm: bool,
}

/// One transformer block.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerPlan {
    /// Pre-norm → Q/K/V → (norms) → RoPE → attention → output projection.
    pub attention: AttentionPlan,
    /// Normalise the attention output before adding it to the residual stream.
    pub post_attention_norm: bool,
    /// The gated feed-forward activation.
    pub activation: Activation,
    /// Normalise the FFN output before adding it to the residual stream.
    pub post_ffn_norm: bool,
}

/// Everything a backend needs to run a model, layer by layer.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionPlan {
    /// Multiply embeddings by this.
    pub embed_scale: f32,
    /// Scale of query·key products.
    pub attn_scale: f32,
    /// Apply `attn_scale` to the queries before attention rather than to the
    /// scores (llama.cpp does so for Gemma 3; the rounding differs).
    pub scale_queries: bool,
    /// Rotated dimensions per head, pairing and linear position scale.
    pub rope_dims: usize,
    /// How rotary dimensions pair up.
    pub rope_style: RopeStyle,
    /// Linear position scaling.
    pub rope_freq_scale: f32,
    /// Per-layer steps.
    pub layers: Vec<LayerPlan>,
    /// `cap * tanh(logit / cap)` on the logits.
    pub final_logit_softcap: Option<f32>,
}

impl ExecutionPlan {
    /// The plan of a loaded model.
    pub fn new(model: &Model) -> Self {
        let c: &ModelConfig = &model.config;
        let layers = model
            .layers
            .iter()
            .enumerate()
            .map(|(il, w)| {
                let (rope_base, window) = c.layer_attention(il);
                LayerPlan {
                    attention: AttentionPlan {
                        rope_base,
                        window,
                        qkv_bias: w.bq.is_some(),
                        qk_norm: w.q_norm.is_some(),
                    },
                    post_attention_norm: w.post_attn_norm.is_some(),
                    activation: c.activation,
                    post_ffn_norm: w.post_ffn_norm.is_some(),
                }
            })
            .collect();
        Self {
            embed_scale: c.embed_scale,
            attn_scale: c.attn_scale,
            scale_queries: c.arch == Architecture::Gemma3,
            rope_dims: c.rope_dims,
            rope_style: c.rope_style,
            rope_freq_scale: c.rope_freq_scale,
            layers,
            final_logit_softcap: c.final_logit_softcap,
        }
    }

    /// The input vector of `token`: its embedding row, dequantized and scaled as
    /// the architecture wants (`out` holds `n_embd` values).
    pub fn embed(&self, model: &Model, token: u32, out: &mut [f32]) {
        crate::cpu::linear::embedding_row(
            &model.token_embd,
            model.bytes(&model.token_embd),
            token as usize,
            out,
        );
        if self.embed_scale != 1.0 {
            out.iter_mut().for_each(|v| *v *= self.embed_scale);
        }
    }
}

/// Which positions of a batch produce logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logits {
    /// Only the last token (generation).
    Last,
    /// Every token.
    All,
    /// The tokens from this index of the batch on (perplexity scores the second
    /// half of each window).
    From(usize),
}

impl Logits {
    /// The first of `n` (≥ 1) batch positions whose logits are wanted: they form
    /// a suffix of the batch.
    pub fn first_output(self, n: usize) -> usize {
        match self {
            Logits::Last => n - 1,
            Logits::All => 0,
            Logits::From(first) => first.min(n - 1),
        }
    }
}

/// Checks a batch before a backend runs it: it fits after the `start` positions
/// already cached in a context of `capacity`, and every token is in the vocabulary.
pub(crate) fn check_batch(
    model: &Model,
    start: usize,
    capacity: usize,
    tokens: &[u32],
) -> Result<(), EngineError> {
    if start + tokens.len() > capacity {
        return Err(EngineError::ContextFull {
            needed: start + tokens.len(),
            context: capacity,
        });
    }
    let vocab = model.config.n_vocab;
    if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= vocab) {
        return Err(EngineError::TokenOutOfRange { id: bad, vocab });
    }
    Ok(())
}

/// One sequence's share of a batch: its cache, the tokens that follow what the
/// cache holds, and which of them produce logits.
#[derive(Debug)]
pub struct SequenceBatch<'a> {
    /// The sequence's keys and values; the tokens' are appended.
    pub kv: &'a mut KvCache,
    /// Its next tokens.
    pub tokens: &'a [u32],
    /// Which of them produce logits.
    pub which: Logits,
}

/// Executes a plan: the CPU and GPU backends implement it.
pub trait Backend {
    /// Runs `tokens` at the positions after those already in `kv`, appends their
    /// keys and values to `kv`, and writes `n_vocab` logits per requested token
    /// into `logits` (resized).
    fn forward(
        &mut self,
        model: &Model,
        plan: &ExecutionPlan,
        kv: &mut KvCache,
        tokens: &[u32],
        which: Logits,
        logits: &mut Vec<f32>,
    ) -> Result<(), EngineError>;

    /// Runs `tokens` as [`forward`](Self::forward) does and returns the id of
    /// the last one's largest logit (the lowest id among equal ones, NaN never;
    /// `0` when none is above `-inf`): greedy decoding. A GPU backend finds it
    /// on the device and hands back one id instead of the logits. `logits` is
    /// scratch space, its contents unspecified afterwards.
    fn forward_greedy(
        &mut self,
        model: &Model,
        plan: &ExecutionPlan,
        kv: &mut KvCache,
        tokens: &[u32],
        logits: &mut Vec<f32>,
    ) -> Result<u32, EngineError> {
        self.forward(model, plan, kv, tokens, Logits::Last, logits)?;
        Ok(crate::sampling::argmax(logits))
    }

    /// Whether [`forward_batch`](Self::forward_batch) takes several sequences,
    /// each with its own [`KvCache`] in one pass. A backend that says no runs
    /// them one after another (the default `forward_batch`), and a scheduler
    /// gives it one sequence at a time.
    fn batches_sequences(&self) -> bool {
        false
    }

    /// Makes room for `sequences` sequences decoded together (a server's
    /// parallel slots): a backend that keeps keys and values itself allocates
    /// them here, so that a shortage shows before the first request. Others
    /// need nothing.
    fn reserve_sequences(&mut self, sequences: usize) -> Result<(), EngineError> {
        let _ = sequences;
        Ok(())
    }

    /// Runs several sequences in one step (a server's running batch). `logits`
    /// receives, sequence by sequence, `n_vocab` values per requested token; each
    /// sequence's logits equal those [`forward`](Self::forward) gives it alone.
    ///
    /// The default runs the sequences one after another.
    fn forward_batch(
        &mut self,
        model: &Model,
        plan: &ExecutionPlan,
        batch: &mut [SequenceBatch<'_>],
        logits: &mut Vec<f32>,
    ) -> Result<(), EngineError> {
        let mut all = Vec::new();
        for seq in batch.iter_mut() {
            if seq.tokens.is_empty() {
                continue;
            }
            self.forward(model, plan, seq.kv, seq.tokens, seq.which, logits)?;
            all.extend_from_slice(logits);
        }
        *logits = all;
        Ok(())
    }
}
