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
use crate::plan::{Backend, ExecutionPlan, LayerPlan, Logits, SequenceBatch, check_batch};
use quant_dot::Summation;

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
        let mut batch = [SequenceBatch { kv, tokens, which }];
        self.forward_batch(model, plan, &mut batch, logits)
    }

    fn batches_sequences(&self) -> bool {
        true
    }

    fn forward_batch(
        &mut self,
        model: &Model,
        plan: &ExecutionPlan,
        batch: &mut [SequenceBatch<'_>],
        logits: &mut Vec<f32>,
    ) -> Result<(), EngineError> {
        // One sequence sums as llama.cpp sums a batch; tokens of several
        // sequences each as if alone, so no sequence depends on the others.
        let summation = if batch.len() == 1 {
            Summation::Batch
        } else {
            Summation::PerToken
        };
        let firsts: Vec<usize> = batch
            .iter()
            .map(|s| match s.tokens.len() {
                0 => 0,
                n => s.which.first_output(n),
            })
            .collect();
        let rows: usize = batch.iter().map(|s| s.tokens.len()).sum();
        if let [seq] = batch
            && rows > UBATCH
        {
            return self.forward_in_ubatches(model, plan, seq, firsts[0], logits);
        }
        // A decode step runs on a worker of the thread pool: its many small
        // parallel products then start from inside the pool instead of each
        // handing its work over from the calling thread and sleeping until it
        // is done (Gemma 3 270M: 77 -> 99 tokens/s on two cores). Prompts, whose
        // products are large, measured no faster so, and keep starting outside.
        if rows <= DECODE_ROWS {
            rayon::scope(|_| self.forward_rows(model, plan, batch, &firsts, logits, summation))
        } else {
            self.forward_rows(model, plan, batch, &firsts, logits, summation)
        }
    }
}

/// Where one sequence's tokens sit in a batch's rows.
#[derive(Debug, Clone, Copy)]
struct Span {
    /// Positions already in its cache.
    start: usize,
    /// Its first row.
    offset: usize,
    /// Its tokens.
    n: usize,
}

/// What a layer's steps share.
struct Step<'a> {
    model: &'a Model,
    plan: &'a ExecutionPlan,
    layer: &'a LayerPlan,
    w: &'a LayerWeights,
    il: usize,
    summation: Summation,
}

impl CpuBackend {
    /// A long prompt in passes of [`UBATCH`] tokens, as llama.cpp splits a
    /// batch into micro-batches: activations stay small (a 4k prompt would
    /// otherwise hold about 120 MB of them at once) and every pass rounds as
    /// llama.cpp's does. `first_out`: the first token whose logits are wanted.
    fn forward_in_ubatches(
        &mut self,
        model: &Model,
        plan: &ExecutionPlan,
        seq: &mut SequenceBatch<'_>,
        first_out: usize,
        logits: &mut Vec<f32>,
    ) -> Result<(), EngineError> {
        check_batch(model, seq.kv.len(), seq.kv.capacity(), seq.tokens)?;
        logits.clear();
        let mut pass_logits = Vec::new();
        for (i, tokens) in seq.tokens.chunks(UBATCH).enumerate() {
            let start = i * UBATCH;
            let first = first_out.clamp(start, start + tokens.len()) - start;
            let mut pass = [SequenceBatch {
                kv: &mut *seq.kv,
                tokens,
                which: seq.which,
            }];
            let firsts = [first];
            self.forward_rows(
                model,
                plan,
                &mut pass,
                &firsts,
                &mut pass_logits,
                Summation::Batch,
            )?;
            logits.extend_from_slice(&pass_logits);
        }
        Ok(())
    }

    /// One forward pass over every sequence's tokens; `firsts[i]`: sequence
    /// `i`'s first token whose logits are wanted (its length for none).
    fn forward_rows(
        &mut self,
        model: &Model,
        plan: &ExecutionPlan,
        batch: &mut [SequenceBatch<'_>],
        firsts: &[usize],
        logits: &mut Vec<f32>,
        summation: Summation,
    ) -> Result<(), EngineError> {
        let c = &model.config;
        let e = c.n_embd;
        let mut spans = Vec::with_capacity(batch.len());
        // The rows whose logits are wanted (a suffix of each sequence's rows)
        // and each row's position.
        let mut outputs = Vec::new();
        let mut positions = Vec::new();
        for (seq, &first) in batch.iter().zip(firsts) {
            let start = seq.kv.len();
            check_batch(model, start, seq.kv.capacity(), seq.tokens)?;
            let (offset, n) = (positions.len(), seq.tokens.len());
            outputs.extend(offset + first.min(n)..offset + n);
            positions.extend(start..start + n);
            spans.push(Span { start, offset, n });
        }
        let n = positions.len();
        if n == 0 {
            logits.clear();
            return Ok(());
        }
        resize(&mut self.x, n * e);
        let tokens = batch.iter().flat_map(|s| s.tokens.iter());
        for (&token, row) in tokens.zip(self.x.chunks_exact_mut(e)) {
            plan.embed(model, token, row);
        }
        let last = plan.layers.len().saturating_sub(1);
        let mut rows = n;
        for (il, (layer, w)) in plan.layers.iter().zip(&model.layers).enumerate() {
            let step = Step {
                model,
                plan,
                layer,
                w,
                il,
                summation,
            };
            self.attention(&step, batch, &spans, &positions);
            if il == last && outputs.len() < n {
                // As llama.cpp: the last layer's feed-forward runs only for the
                // tokens whose logits are wanted.
                for (i, &row) in outputs.iter().enumerate() {
                    self.x.copy_within(row * e..(row + 1) * e, i * e);
                }
                rows = outputs.len();
                self.x.truncate(rows * e);
            }
            self.feed_forward(&step, rows);
        }
        for (seq, span) in batch.iter_mut().zip(&spans) {
            seq.kv.set_len(span.start + span.n);
        }

        let n_out = outputs.len();
        resize(&mut self.h, n_out * e);
        ops::rms_norm_into(&self.x, &model.output_norm, c.rms_eps, &mut self.h);
        // Every logit is written below: no need to clear the old ones first.
        logits.truncate(n_out * c.n_vocab);
        logits.resize(n_out * c.n_vocab, 0.0);
        linear::linear_many(
            &self.h,
            &mut [(&model.output, model.bytes(&model.output), logits)],
            summation,
        );
        if let Some(cap) = plan.final_logit_softcap {
            logits.iter_mut().for_each(|l| *l = cap * (*l / cap).tanh());
        }
        Ok(())
    }

    fn attention(
        &mut self,
        step: &Step,
        batch: &mut [SequenceBatch<'_>],
        spans: &[Span],
        positions: &[usize],
    ) {
        let Step {
            model,
            plan,
            layer,
            w,
            il,
            summation,
        } = *step;
        let c = &model.config;
        let n = positions.len();
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
            summation,
        );
        if let Some(bias) = &w.bv {
            ops::for_each_row(&mut self.v, v_dim, |row| {
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
            );
            for head in q.chunks_exact_mut(hd) {
                angles.apply(head, plan.rope_style);
                if plan.scale_queries {
                    head.iter_mut().for_each(|v| *v *= plan.attn_scale);
                }
            }
            k.chunks_exact_mut(hd)
                .for_each(|head| angles.apply(head, plan.rope_style));
        };
        if n == 1 {
            prepare(positions[0], &mut self.q, &mut self.k);
        } else {
            self.q
                .par_chunks_exact_mut(q_dim)
                .zip(self.k.par_chunks_exact_mut(k_dim))
                .zip(positions)
                .for_each(|((q, k), &pos)| prepare(pos, q, k));
        }
        resize(&mut self.attn, n * c.n_head * hdv);
        for (seq, span) in batch.iter_mut().zip(spans) {
            let rows = span.offset..span.offset + span.n;
            for (t, row) in rows.enumerate() {
                seq.kv.store(
                    il,
                    span.start + t,
                    &self.k[row * k_dim..(row + 1) * k_dim],
                    &self.v[row * v_dim..(row + 1) * v_dim],
                );
            }
        }
        if let [seq] = batch {
            let attend = Self::attend_fn(self.precision, step, spans[0]);
            attend(seq.kv, &self.q, &mut self.attention_scratch, &mut self.attn);
        } else {
            // Several sequences: each on its own task (a decode step's single
            // query per sequence leaves too little to split by heads).
            let attn_dim = c.n_head * hdv;
            let mut outs: Vec<&mut [f32]> = Vec::with_capacity(spans.len());
            let mut rest = &mut self.attn[..];
            for span in spans {
                let (out, tail) = rest.split_at_mut(span.n * attn_dim);
                outs.push(out);
                rest = tail;
            }
            let (q, precision) = (&self.q, self.precision);
            batch
                .par_iter()
                .zip(spans)
                .zip(outs)
                .filter(|((_, span), _)| span.n > 0)
                .for_each_init(
                    attention::Scratch::default,
                    |scratch, ((seq, &span), out)| {
                        Self::attend_fn(precision, step, span)(seq.kv, q, scratch, out);
                    },
                );
        }
        resize(&mut self.o, n * e);
        linear::linear_many(
            &self.attn,
            &mut [(&w.wo, model.bytes(&w.wo), &mut self.o)],
            summation,
        );
        if let Some(norm) = &w.post_attn_norm {
            ops::rms_norm(&mut self.o, norm, c.rms_eps);
        }
        ops::add_assign(&mut self.x, &self.o);
    }

    /// Attention of one sequence's tokens (rows `span` of the queries) over
    /// its cache, their keys and values already stored: a function of the
    /// cache, all queries, scratch space and the sequence's output rows.
    fn attend_fn(
        precision: AttentionPrecision,
        step: &Step,
        span: Span,
    ) -> impl Fn(&KvCache, &[f32], &mut attention::Scratch, &mut [f32]) + use<> {
        let Step {
            model,
            plan,
            layer,
            il,
            ..
        } = *step;
        let c = &model.config;
        let (hd, hdv) = (c.head_dim, c.head_dim_v);
        let q_dim = c.n_head * hd;
        let Span { start, offset, n } = span;
        // Attention of every (token, head) pair over the cached positions.
        // ggml's CPU flash attention: batches of fewer than 64 queries take its
        // f16 path, larger ones its f32 tiled path. Following it keeps logits
        // close to llama.cpp's.
        let total = start + n;
        let half_precision = precision == AttentionPrecision::LlamaCpp && n < FLASH_ATTN_TILE;
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
        move |kv, q, scratch, out| {
            attention::attend(
                geometry,
                &q[offset * q_dim..(offset + n) * q_dim],
                kv.keys(il, total),
                kv.values(il, total),
                half_precision,
                scratch,
                &mut out[..n * geometry.n_head * hdv],
            );
        }
    }

    fn feed_forward(&mut self, step: &Step, n: usize) {
        let Step {
            model,
            layer,
            w,
            summation,
            ..
        } = *step;
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
            summation,
        );
        match layer.activation {
            Activation::GeluTanh => ops::geglu(&mut self.gate, &self.up),
            Activation::Silu => ops::swiglu(&mut self.gate, &self.up, c.n_ff),
        }
        resize(&mut self.o, n * e);
        linear::linear_many(
            &self.gate,
            &mut [(&w.down, model.bytes(&w.down), &mut self.o)],
            summation,
        );
        if let Some(norm) = &w.post_ffn_norm {
            ops::rms_norm(&mut self.o, norm, c.rms_eps);
        }
        ops::add_assign(&mut self.x, &self.o);
    }
}

/// Tokens per pass of a long prompt (llama.cpp's default `n_ubatch`).
const UBATCH: usize = 512;

/// Steps of at most this many rows (decode steps, also of several sequences)
/// run on a worker of the thread pool.
const DECODE_ROWS: usize = 16;

/// Query batches at least this large take ggml's f32 tiled attention.
const FLASH_ATTN_TILE: usize = 64;

fn resize(buf: &mut Vec<f32>, len: usize) {
    buf.clear();
    buf.resize(len, 0.0);
}
