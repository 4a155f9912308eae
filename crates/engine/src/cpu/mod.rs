//! The CPU backend: executes an [`ExecutionPlan`] with quantized matrix
//! products on the memory-mapped weights.

pub mod attention;
mod ggml_math;
pub mod linear;
pub mod ops;
pub mod quant_dot;

use rayon::prelude::*;

use crate::EngineError;
use crate::config::Activation;
use crate::kv_cache::KvCache;
use crate::model::{LayerWeights, Model};
use crate::plan::{Backend, ExecutionPlan, LayerPlan, Logits, check_batch};

/// How attention rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttentionPrecision {
    /// As ggml's CPU flash attention: f16 queries and value sums for batches of
    /// fewer than 64 tokens, f32 otherwise. Keeps results closest to llama.cpp.
    #[default]
    LlamaCpp,
    /// f32 throughout.
    F32,
}

/// The CPU backend and its scratch buffers (reused between calls).
#[derive(Debug, Default)]
pub struct CpuBackend {
    precision: AttentionPrecision,
    attention_scratch: attention::Scratch,
    x: Vec<f32>,
    h: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    attn: Vec<f32>,
    o: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
}

impl CpuBackend {
    /// A backend with empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// A backend whose attention rounds as `precision` says.
    pub fn with_precision(precision: AttentionPrecision) -> Self {
        Self {
            precision,
            ..Self::default()
        }
    }
}

impl Backend for CpuBackend {
    fn forward(
        &mut self,
        model: &Model,
        plan: &ExecutionPlan,
        kv: &mut KvCache,
        tokens: &[u32],
        which: Logits,
        logits: &mut Vec<f32>,
    ) -> Result<(), EngineError> {
        // A decode step runs on a worker of the thread pool: its many small
        // parallel products then start from inside the pool instead of each
        // handing its work over from the calling thread and sleeping until it
        // is done (Gemma 3 270M: 77 -> 99 tokens/s on two cores). Prompts, whose
        // products are large, measured faster when started from outside
        // (~550 against ~455 tokens/s), so they keep that.
        if tokens.len() == 1 {
            rayon::scope(|_| self.forward_tokens(model, plan, kv, tokens, which, logits))
        } else {
            self.forward_tokens(model, plan, kv, tokens, which, logits)
        }
    }
}

impl CpuBackend {
    fn forward_tokens(
        &mut self,
        model: &Model,
        plan: &ExecutionPlan,
        kv: &mut KvCache,
        tokens: &[u32],
        which: Logits,
        logits: &mut Vec<f32>,
    ) -> Result<(), EngineError> {
        let c = &model.config;
        let n = tokens.len();
        if n == 0 {
            logits.clear();
            return Ok(());
        }
        let start = kv.len();
        check_batch(model, start, kv.capacity(), tokens)?;
        let e = c.n_embd;
        resize(&mut self.x, n * e);
        for (&token, row) in tokens.iter().zip(self.x.chunks_exact_mut(e)) {
            plan.embed(model, token, row);
        }
        // Tokens whose logits are wanted: a suffix of the batch.
        let first_out = which.first_output(n);
        let n_out = n - first_out;
        let last = plan.layers.len().saturating_sub(1);
        let mut rows = n;
        for (il, (layer, w)) in plan.layers.iter().zip(&model.layers).enumerate() {
            self.attention(model, plan, layer, w, il, kv, start, n);
            if il == last && n_out < n {
                // As llama.cpp: the last layer's feed-forward runs only for the
                // tokens whose logits are wanted.
                self.x.copy_within(first_out * e..n * e, 0);
                self.x.truncate(n_out * e);
                rows = n_out;
            }
            self.feed_forward(model, layer, w, rows);
        }
        kv.set_len(start + n);

        resize(&mut self.h, n_out * e);
        for t in 0..n_out {
            let at = (rows - n_out + t) * e;
            ops::rms_norm_into(
                &self.x[at..at + e],
                &model.output_norm,
                c.rms_eps,
                &mut self.h[t * e..(t + 1) * e],
            );
        }
        resize(logits, n_out * c.n_vocab);
        linear::linear(&model.output, model.bytes(&model.output), &self.h, logits);
        if let Some(cap) = plan.final_logit_softcap {
            logits.iter_mut().for_each(|l| *l = cap * (*l / cap).tanh());
        }
        Ok(())
    }
}

impl CpuBackend {
    #[allow(clippy::too_many_arguments)]
    fn attention(
        &mut self,
        model: &Model,
        plan: &ExecutionPlan,
        layer: &LayerPlan,
        w: &LayerWeights,
        il: usize,
        kv: &mut KvCache,
        start: usize,
        n: usize,
    ) {
        let c = &model.config;
        let e = c.n_embd;
        let (hd, hdv) = (c.head_dim, c.head_dim_v);
        let (q_dim, k_dim, v_dim) = (c.n_head * hd, c.n_head_kv * hd, c.n_head_kv * hdv);
        resize(&mut self.h, n * e);
        ops::rms_norm_into(&self.x, &w.attn_norm, c.rms_eps, &mut self.h);
        resize(&mut self.q, n * q_dim);
        resize(&mut self.k, n * k_dim);
        resize(&mut self.v, n * v_dim);
        linear::linear_many(
            &self.h,
            &mut [
                (&w.wq, model.bytes(&w.wq), &mut self.q),
                (&w.wk, model.bytes(&w.wk), &mut self.k),
                (&w.wv, model.bytes(&w.wv), &mut self.v),
            ],
        );
        if let Some(bias) = &w.bv {
            ops::for_each_row(&mut self.v, v_dim, |_, row| {
                row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
            });
        }
        // Each token's queries and keys: biases, Q/K norms, rotation (its angles
        // formed once for all heads), query scaling.
        let freq_factors = model.rope_freqs.as_deref();
        let base = layer.attention.rope_base;
        let qk_norms = w.q_norm.as_ref().zip(w.k_norm.as_ref());
        let prepare = |pos: usize, q: &mut [f32], k: &mut [f32]| {
            for (buf, bias) in [(&mut *q, &w.bq), (&mut *k, &w.bk)] {
                if let Some(bias) = bias {
                    buf.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
                }
            }
            if let Some((qn, kn)) = qk_norms {
                q.chunks_exact_mut(hd)
                    .for_each(|head| ops::rms_norm_row(head, qn, c.rms_eps));
                k.chunks_exact_mut(hd)
                    .for_each(|head| ops::rms_norm_row(head, kn, c.rms_eps));
            }
            let angles = ops::RotaryAngles::at(
                pos,
                plan.rope_dims,
                base,
                plan.rope_freq_scale,
                freq_factors,
                plan.rope_style,
            );
            for head in q.chunks_exact_mut(hd) {
                angles.apply(head);
                if plan.scale_queries {
                    head.iter_mut().for_each(|v| *v *= plan.attn_scale);
                }
            }
            k.chunks_exact_mut(hd).for_each(|head| angles.apply(head));
        };
        if n == 1 {
            prepare(start, &mut self.q, &mut self.k);
        } else {
            self.q
                .par_chunks_exact_mut(q_dim)
                .zip(self.k.par_chunks_exact_mut(k_dim))
                .enumerate()
                .for_each(|(t, (q, k))| prepare(start + t, q, k));
        }
        for t in 0..n {
            kv.store(
                il,
                start + t,
                &self.k[t * k_dim..(t + 1) * k_dim],
                &self.v[t * v_dim..(t + 1) * v_dim],
            );
        }

        // Attention of every (token, head) pair over the cached positions.
        // ggml's CPU flash attention: batches of fewer than 64 queries take its
        // f16 path, larger ones its f32 tiled path. Following it keeps logits
        // close to llama.cpp's.
        let total = start + n;
        let half_precision = self.precision == AttentionPrecision::LlamaCpp && n < FLASH_ATTN_TILE;
        let geometry = attention::Geometry {
            n_head: c.n_head,
            n_head_kv: c.n_head_kv,
            head_dim: hd,
            head_dim_v: hdv,
            start,
            window: layer.attention.window,
            kq_scale: if plan.scale_queries {
                1.0
            } else {
                plan.attn_scale
            },
        };
        resize(&mut self.attn, n * c.n_head * hdv);
        attention::attend(
            geometry,
            &self.q,
            kv.keys(il, total),
            kv.values(il, total),
            half_precision,
            &mut self.attention_scratch,
            &mut self.attn,
        );
        resize(&mut self.o, n * e);
        linear::linear(&w.wo, model.bytes(&w.wo), &self.attn, &mut self.o);
        if let Some(norm) = &w.post_attn_norm {
            ops::rms_norm(&mut self.o, norm, c.rms_eps);
        }
        ops::add_assign(&mut self.x, &self.o);
    }

    fn feed_forward(&mut self, model: &Model, layer: &LayerPlan, w: &LayerWeights, n: usize) {
        let c = &model.config;
        let e = c.n_embd;
        resize(&mut self.h, n * e);
        ops::rms_norm_into(&self.x[..n * e], &w.ffn_norm, c.rms_eps, &mut self.h);
        resize(&mut self.gate, n * c.n_ff);
        resize(&mut self.up, n * c.n_ff);
        linear::linear_many(
            &self.h,
            &mut [
                (&w.gate, model.bytes(&w.gate), &mut self.gate),
                (&w.up, model.bytes(&w.up), &mut self.up),
            ],
        );
        match layer.activation {
            Activation::GeluTanh => ops::geglu(&mut self.gate, &self.up),
            Activation::Silu => ops::swiglu(&mut self.gate, &self.up, c.n_ff),
        }
        resize(&mut self.o, n * e);
        linear::linear(&w.down, model.bytes(&w.down), &self.gate, &mut self.o);
        if let Some(norm) = &w.post_ffn_norm {
            ops::rms_norm(&mut self.o, norm, c.rms_eps);
        }
        ops::add_assign(&mut self.x, &self.o);
    }
}

/// Query batches at least this large take ggml's f32 tiled attention.
const FLASH_ATTN_TILE: usize = 64;

fn resize(buf: &mut Vec<f32>, len: usize) {
    buf.clear();
    buf.resize(len, 0.0);
}
