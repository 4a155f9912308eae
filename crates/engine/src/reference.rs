//! A plain f64 forward pass: every weight dequantized, every position recomputed,
//! no cache, no SIMD, no threads. Slow and simple on purpose: the CPU backend is
//! checked against it on tiny models.

use rocmforge_gguf::quant;

use crate::config::{Activation, RopeStyle};
use crate::model::{Model, Weight};
use crate::plan::ExecutionPlan;

fn matrix(model: &Model, w: &Weight) -> Vec<f64> {
    let values = quant::dequantize_to_vec(w.ty, model.bytes(w), w.rows * w.cols)
        .expect("weights are whole blocks (checked at load)");
    values.into_iter().map(f64::from).collect()
}

fn vector(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| f64::from(x)).collect()
}

/// `w · x` for a `rows × cols` matrix.
fn matvec(w: &[f64], x: &[f64]) -> Vec<f64> {
    w.chunks_exact(x.len())
        .map(|row| row.iter().zip(x).map(|(a, b)| a * b).sum())
        .collect()
}

fn rms_norm(x: &[f64], weight: &[f64], eps: f64) -> Vec<f64> {
    let mean = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
    let scale = 1.0 / (mean + eps).sqrt();
    x.iter().zip(weight).map(|(v, w)| v * scale * w).collect()
}

fn rope(
    x: &mut [f64],
    pos: usize,
    dims: usize,
    base: f64,
    freq_scale: f64,
    factors: Option<&[f32]>,
    style: RopeStyle,
) {
    for i in 0..dims / 2 {
        let factor = factors.map_or(1.0, |f| f64::from(f[i]));
        let angle = freq_scale * pos as f64 * base.powf(-2.0 * i as f64 / dims as f64) / factor;
        let (a, b) = match style {
            RopeStyle::Interleaved => (2 * i, 2 * i + 1),
            RopeStyle::Neox => (i, i + dims / 2),
        };
        let (x0, x1) = (x[a], x[b]);
        x[a] = x0 * angle.cos() - x1 * angle.sin();
        x[b] = x0 * angle.sin() + x1 * angle.cos();
    }
}

fn activation(kind: Activation, x: f64) -> f64 {
    match kind {
        Activation::Silu => x / (1.0 + (-x).exp()),
        Activation::GeluTanh => {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            0.5 * x * (1.0 + (c * (x + 0.044_715 * x * x * x)).tanh())
        }
    }
}

/// Logits (`n_vocab` per position) of every position of `tokens`.
pub fn forward(model: &Model, tokens: &[u32]) -> Vec<Vec<f64>> {
    let c = &model.config;
    let plan = ExecutionPlan::new(model);
    let eps = f64::from(c.rms_eps);
    let embd = matrix(model, &model.token_embd);
    let mut xs: Vec<Vec<f64>> = tokens
        .iter()
        .map(|&t| {
            let t = t as usize;
            embd[t * c.n_embd..(t + 1) * c.n_embd]
                .iter()
                .map(|v| v * f64::from(plan.embed_scale))
                .collect()
        })
        .collect();
    for ((layer, w), _) in plan.layers.iter().zip(&model.layers).zip(0..) {
        let (wq, wk, wv, wo) = (
            matrix(model, &w.wq),
            matrix(model, &w.wk),
            matrix(model, &w.wv),
            matrix(model, &w.wo),
        );
        let (mut qs, mut ks, mut vs) = (Vec::new(), Vec::new(), Vec::new());
        for (pos, x) in xs.iter().enumerate() {
            let h = rms_norm(x, &vector(&w.attn_norm), eps);
            let (mut q, mut k, mut v) = (matvec(&wq, &h), matvec(&wk, &h), matvec(&wv, &h));
            for (out, bias) in [(&mut q, &w.bq), (&mut k, &w.bk), (&mut v, &w.bv)] {
                if let Some(bias) = bias {
                    out.iter_mut()
                        .zip(bias)
                        .for_each(|(o, b)| *o += f64::from(*b));
                }
            }
            for (out, norm) in [(&mut q, &w.q_norm), (&mut k, &w.k_norm)] {
                if let Some(norm) = norm {
                    let norm = vector(norm);
                    for head in out.chunks_exact_mut(c.head_dim) {
                        let normed = rms_norm(head, &norm, eps);
                        head.copy_from_slice(&normed);
                    }
                }
            }
            for head in q
                .chunks_exact_mut(c.head_dim)
                .chain(k.chunks_exact_mut(c.head_dim))
            {
                rope(
                    head,
                    pos,
                    plan.rope_dims,
                    f64::from(layer.attention.rope_base),
                    f64::from(plan.rope_freq_scale),
                    model.rope_freqs.as_deref(),
                    plan.rope_style,
                );
            }
            qs.push(q);
            ks.push(k);
            vs.push(v);
        }
        let group = c.n_head / c.n_head_kv;
        let post_attn = w.post_attn_norm.as_deref().map(vector);
        for (pos, x) in xs.iter_mut().enumerate() {
            let first = layer
                .attention
                .window
                .map_or(0, |win| (pos + 1).saturating_sub(win));
            let mut attn = vec![0.0; c.n_head * c.head_dim_v];
            for head in 0..c.n_head {
                let kvh = head / group;
                let q = &qs[pos][head * c.head_dim..(head + 1) * c.head_dim];
                let scores: Vec<f64> = (first..=pos)
                    .map(|p| {
                        let k = &ks[p][kvh * c.head_dim..(kvh + 1) * c.head_dim];
                        q.iter().zip(k).map(|(a, b)| a * b).sum::<f64>()
                            * f64::from(plan.attn_scale)
                    })
                    .collect();
                let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let sum: f64 = exps.iter().sum();
                for (i, e) in exps.iter().enumerate() {
                    let v = &vs[first + i][kvh * c.head_dim_v..(kvh + 1) * c.head_dim_v];
                    for (o, vv) in attn[head * c.head_dim_v..(head + 1) * c.head_dim_v]
                        .iter_mut()
                        .zip(v)
                    {
                        *o += e / sum * vv;
                    }
                }
            }
            let mut o = matvec(&wo, &attn);
            if let Some(norm) = &post_attn {
                o = rms_norm(&o, norm, eps);
            }
            x.iter_mut().zip(&o).for_each(|(a, b)| *a += b);
        }
        let (gate, up, down) = (
            matrix(model, &w.gate),
            matrix(model, &w.up),
            matrix(model, &w.down),
        );
        let post_ffn = w.post_ffn_norm.as_deref().map(vector);
        for x in xs.iter_mut() {
            let h = rms_norm(x, &vector(&w.ffn_norm), eps);
            let (g, u) = (matvec(&gate, &h), matvec(&up, &h));
            let a: Vec<f64> = g
                .iter()
                .zip(&u)
                .map(|(g, u)| activation(layer.activation, *g) * u)
                .collect();
            let mut d = matvec(&down, &a);
            if let Some(norm) = &post_ffn {
                d = rms_norm(&d, norm, eps);
            }
            x.iter_mut().zip(&d).for_each(|(a, b)| *a += b);
        }
    }
    let output = matrix(model, &model.output);
    let norm = vector(&model.output_norm);
    xs.iter()
        .map(|x| {
            let mut logits = matvec(&output, &rms_norm(x, &norm, eps));
            if let Some(cap) = plan.final_logit_softcap {
                let cap = f64::from(cap);
                logits.iter_mut().for_each(|l| *l = cap * (*l / cap).tanh());
            }
            logits
        })
        .collect()
}
