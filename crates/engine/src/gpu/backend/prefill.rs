//! Prompts as batches: every weight product takes all the prompt's rows at once
//! through the vendor's BLAS (rocBLAS, cuBLAS), on the weight's rows dequantized
//! to f16 a chunk at a time and the activations rounded to f16, as llama.cpp's
//! BLAS path does; the other steps are the decode kernels over many rows, and
//! attention is causal over the cache. A backend whose BLAS library does not
//! load runs prompts token by token instead.

use rocmforge_gguf::GgmlType;
use rocmforge_hip::{Blas, Device, DeviceBuffer, DeviceView, LaunchConfig};
use rocmforge_kernels::KernelModule;

use super::{BLOCK, GpuBackend, rope_table};
use crate::EngineError;
use crate::config::ModelConfig;
use crate::model::{Model, Weight};
use crate::plan::ExecutionPlan;

/// Most prompt rows in one pass; longer prompts take several.
pub(super) const PREFILL_ROWS: usize = 512;
/// Most weight values dequantized at once (128 MiB of f16): a larger matrix is
/// multiplied in chunks of rows.
const DEQUANT_VALUES: usize = 64 << 20;
/// Head dimensions one lane of the attention kernels holds (`RF_ATTEND_DIMS` in
/// kernels/transformer.hip).
pub(super) const ATTEND_DIMS_PER_LANE: usize = 8;

/// The dequantizing kernel of a weight type (`None`: F16, used as it is).
fn dequant_kernel(ty: GgmlType) -> Option<(KernelModule, &'static str)> {
    let quant = |name| Some((KernelModule::QuantMatvec, name));
    match ty {
        GgmlType::Q8_0 => quant("rf_dequant_q8_0_f16"),
        GgmlType::Q4_0 => quant("rf_dequant_q4_0_f16"),
        GgmlType::Q5_0 => quant("rf_dequant_q5_0_f16"),
        GgmlType::Q4_K => quant("rf_dequant_q4_k_f16"),
        GgmlType::Q6_K => quant("rf_dequant_q6_k_f16"),
        GgmlType::Q4_1 => quant("rf_dequant_q4_1_f16"),
        GgmlType::Q5_1 => quant("rf_dequant_q5_1_f16"),
        GgmlType::Q2_K => quant("rf_dequant_q2_k_f16"),
        GgmlType::Q3_K => quant("rf_dequant_q3_k_f16"),
        GgmlType::Q5_K => quant("rf_dequant_q5_k_f16"),
        GgmlType::IQ4_NL => quant("rf_dequant_iq4_nl_f16"),
        GgmlType::MXFP4 => quant("rf_dequant_mxfp4_f16"),
        GgmlType::BF16 => quant("rf_dequant_bf16_f16"),
        GgmlType::F32 => Some((KernelModule::Elementwise, "rf_f32_to_f16")),
        _ => None,
    }
}

/// Device buffers of one pass of up to `rows` prompt rows, and the BLAS handle.
pub(super) struct Prefill {
    blas: Blas,
    rows: usize,
    x: DeviceBuffer<f32>,
    h: DeviceBuffer<f32>,
    q: DeviceBuffer<f32>,
    k: DeviceBuffer<f32>,
    v: DeviceBuffer<f32>,
    attn: DeviceBuffer<f32>,
    o: DeviceBuffer<f32>,
    gate: DeviceBuffer<f32>,
    up: DeviceBuffer<f32>,
    /// The input of the current products, rounded to f16.
    x16: DeviceBuffer<u16>,
    /// A chunk of dequantized weight rows.
    w16: DeviceBuffer<u16>,
    /// Rotation tables, `[distinct base][row][head_dim]`.
    rope: DeviceBuffer<f32>,
    /// Logits of several rows (perplexity), allocated on first use.
    logits: Option<DeviceBuffer<f32>>,
}

impl Prefill {
    /// Sets up batched prompts for `model` with room for `context` positions, or
    /// says why they are not available.
    pub(super) fn new(
        device: &Device,
        model: &Model,
        plan: &ExecutionPlan,
        context: usize,
    ) -> Result<Prefill, String> {
        let c = &model.config;
        let weights = || {
            model
                .layers
                .iter()
                .flat_map(|l| [&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down])
                .chain([&model.output])
        };
        if let Some(w) = weights().find(|w| w.ty != GgmlType::F16 && dequant_kernel(w.ty).is_none())
        {
            return Err(format!("no dequantizing kernel for {} ({})", w.name, w.ty));
        }
        let blas = Blas::new(device).map_err(|e| e.to_string())?;
        let largest = weights().map(|w| w.rows * w.cols).max().unwrap_or(1);
        let widest = weights().map(|w| w.cols).max().unwrap_or(1);
        let rows = PREFILL_ROWS.min(context).max(1);
        let (q_dim, q_dim_v) = (c.n_head * c.head_dim, c.n_head * c.head_dim_v);
        let alloc = |n: usize| device.alloc::<f32>(n.max(1));
        let build = || -> Result<Prefill, rocmforge_hip::Error> {
            Ok(Prefill {
                rows,
                x: alloc(rows * c.n_embd)?,
                h: alloc(rows * c.n_embd)?,
                q: alloc(rows * q_dim)?,
                k: alloc(rows * c.n_head_kv * c.head_dim)?,
                v: alloc(rows * c.n_head_kv * c.head_dim_v)?,
                attn: alloc(rows * q_dim_v)?,
                o: alloc(rows * c.n_embd)?,
                gate: alloc(rows * c.n_ff)?,
                up: alloc(rows * c.n_ff)?,
                x16: device.alloc::<u16>(rows * c.n_embd.max(c.n_ff).max(q_dim_v))?,
                w16: device.alloc::<u16>(largest.min(DEQUANT_VALUES.max(widest)))?,
                rope: alloc(distinct_bases(plan).0.len() * rows * c.head_dim)?,
                logits: None,
                blas,
            })
        };
        build().map_err(|e| e.to_string())
    }

    /// Rows one pass takes.
    pub(super) fn rows(&self) -> usize {
        self.rows
    }

    /// The final hidden state of row `row` (of `width` values) of the last pass.
    pub(super) fn x_row(
        &self,
        row: usize,
        width: usize,
    ) -> Result<DeviceView<'_, f32>, rocmforge_hip::Error> {
        self.x.slice(row * width..(row + 1) * width)
    }
}

/// The layers' distinct rope bases, and each layer's index into them.
pub(super) fn distinct_bases(plan: &ExecutionPlan) -> (Vec<f32>, Vec<usize>) {
    let mut bases: Vec<f32> = Vec::new();
    let index = plan
        .layers
        .iter()
        .map(|layer| {
            let base = layer.attention.rope_base;
            match bases.iter().position(|&b| b == base) {
                Some(i) => i,
                None => {
                    bases.push(base);
                    bases.len() - 1
                }
            }
        })
        .collect();
    (bases, index)
}

impl GpuBackend<'_> {
    /// Runs `tokens` (at most `p.rows()`, at positions `start..` of the
    /// sequence in `slot`) through every layer; their final hidden states stay
    /// in `p.x`.
    pub(super) fn prefill_rows(
        &mut self,
        p: &mut Prefill,
        model: &Model,
        plan: &ExecutionPlan,
        tokens: &[u32],
        (start, slot): (usize, usize),
    ) -> Result<(), EngineError> {
        let c = &model.config;
        let (n, e, hd) = (tokens.len(), c.n_embd, c.head_dim);
        let mut rows = vec![0f32; n * e];
        for (&token, row) in tokens.iter().zip(rows.chunks_exact_mut(e)) {
            plan.embed(model, token, row);
        }
        self.stream.upload(&mut p.x.slice_mut(..n * e)?, &rows)?;
        let (bases, table_of_layer) = distinct_bases(plan);
        let mut tables = vec![0f32; bases.len() * p.rows * hd];
        for (base, block) in bases.iter().zip(tables.chunks_exact_mut(p.rows * hd)) {
            for (t, table) in block.chunks_exact_mut(hd).take(n).enumerate() {
                let cs = rope_table(
                    start + t,
                    plan.rope_dims,
                    *base,
                    plan.rope_freq_scale,
                    model.rope_freqs.as_deref(),
                );
                table[..cs.len()].copy_from_slice(&cs);
            }
        }
        self.stream.upload(&mut p.rope.as_view_mut(), &tables)?;
        // The first position, where rf_store_kv_f16_at puts the rows.
        self.stream
            .upload(&mut self.scratch.step.slice_mut(..1)?, &[start as u32])?;
        self.prefill_layers(p, model, plan, (n, start, slot), &table_of_layer)
    }

    fn prefill_layers(
        &self,
        p: &Prefill,
        model: &Model,
        plan: &ExecutionPlan,
        (n, start, slot): (usize, usize, usize),
        table_of_layer: &[usize],
    ) -> Result<(), EngineError> {
        let c = &model.config;
        let (e, hd, hdv) = (c.n_embd, c.head_dim, c.head_dim_v);
        let (q_dim, k_dim, v_dim) = (c.n_head * hd, c.n_head_kv * hd, c.n_head_kv * hdv);
        for (il, (layer, w)) in plan.layers.iter().zip(&model.layers).enumerate() {
            let v = &self.layers[il];
            if il == 0 {
                self.rms_norm(&p.x, &v.attn_norm, &p.h, n, e, c.rms_eps)?;
            } else {
                self.add_rms_norm(&p.x, &p.o, &v.attn_norm, &p.h, n, e, c.rms_eps)?;
            }
            self.matmuls(
                p,
                Some(il),
                (p.h.slice(..n * e)?, n),
                &[(&w.wq, &p.q), (&w.wk, &p.k), (&w.wv, &p.v)],
            )?;
            for ((bias, out), dim) in v
                .biases
                .iter()
                .zip([&p.q, &p.k, &p.v])
                .zip([q_dim, k_dim, v_dim])
            {
                if let Some(bias) = bias {
                    self.add_bias(out, bias, dim, n * dim)?;
                }
            }
            if let (Some(qn), Some(kn)) = (&v.q_norm, &v.k_norm) {
                self.rms_norm(&p.q, qn, &p.q, n * c.n_head, hd, c.rms_eps)?;
                self.rms_norm(&p.k, kn, &p.k, n * c.n_head_kv, hd, c.rms_eps)?;
            }
            let first = table_of_layer[il] * p.rows * hd;
            let table = p.rope.slice(first..first + n * hd)?;
            let (keys, values) = &self.slots.caches(slot)[il];
            self.rope_store((&p.q, &p.k, &p.v), n, &table, (keys, values), plan, c)?;
            let scale = if plan.scale_queries {
                1.0
            } else {
                plan.attn_scale
            };
            let window = layer.attention.window.unwrap_or(0) as u32;
            self.attend_rows(p, (keys, values), [start, n], window, scale, c)?;
            self.matmuls(
                p,
                Some(il),
                (p.attn.slice(..n * c.n_head * hdv)?, n),
                &[(&w.wo, &p.o)],
            )?;
            if let Some(norm) = &v.post_attn_norm {
                self.rms_norm(&p.o, norm, &p.o, n, e, c.rms_eps)?;
            }
            self.add_rms_norm(&p.x, &p.o, &v.ffn_norm, &p.h, n, e, c.rms_eps)?;
            self.matmuls(
                p,
                Some(il),
                (p.h.slice(..n * e)?, n),
                &[(&w.gate, &p.gate), (&w.up, &p.up)],
            )?;
            self.activation(layer.activation, (&p.gate, &p.up), n * c.n_ff)?;
            self.matmuls(
                p,
                Some(il),
                (p.gate.slice(..n * c.n_ff)?, n),
                &[(&w.down, &p.o)],
            )?;
            if let Some(norm) = &v.post_ffn_norm {
                self.rms_norm(&p.o, norm, &p.o, n, e, c.rms_eps)?;
            }
        }
        if !plan.layers.is_empty() {
            self.add(&p.x, &p.o, &p.x, n * e)?;
        }
        Ok(())
    }

    /// Causal attention of the pass's `n` query rows (`p.q`) at positions
    /// `start..start + n` over the layer's caches, into `p.attn`.
    fn attend_rows(
        &self,
        p: &Prefill,
        (keys, values): (&DeviceBuffer<u16>, &DeviceBuffer<u16>),
        [start, n]: [usize; 2],
        window: u32,
        scale: f32,
        c: &ModelConfig,
    ) -> Result<(), EngineError> {
        let function = self
            .module(KernelModule::Transformer)
            .function("rf_attend_rows_f16")?;
        let dims = [c.n_head, c.n_head_kv, c.head_dim, c.head_dim_v, start, n].map(|v| v as u32);
        let warps = (BLOCK as usize / self.warp_size).max(1);
        let config = LaunchConfig::per_row((n * c.n_head).div_ceil(warps), BLOCK)?;
        // Kernel: rf_attend_rows_f16(q, k, v, out, n_head, n_head_kv, head_dim, head_dim_v,
        // start, rows, window, scale).
        // SAFETY: q holds n rows of n_head x head_dim floats, out n rows of n_head x
        // head_dim_v; the caches hold `context` >= start + n positions (checked by
        // `forward`), the pass's own keys and values stored before this launch.
        unsafe {
            let mut launch = self
                .stream
                .launch(&function)
                .arg(&p.q)
                .arg(keys)
                .arg(values)
                .arg(&p.attn);
            for d in &dims {
                launch = launch.arg(d);
            }
            launch.arg(&window).arg(&scale).run(config)
        }?;
        Ok(())
    }

    /// `y[r] = W x[r]` for the `rows` rows of `x` and each product's weight
    /// (`y` holding rows of `W.rows`): `x` rounded to f16 once, each weight
    /// dequantized a chunk of rows at a time and multiplied by BLAS.
    pub(super) fn matmuls(
        &self,
        p: &Prefill,
        layer: Option<usize>,
        (x, rows): (DeviceView<'_, f32>, usize),
        products: &[(&Weight, &DeviceBuffer<f32>)],
    ) -> Result<(), EngineError> {
        let Some(cols) = products.first().map(|(w, _)| w.cols) else {
            return Ok(());
        };
        self.to_f16(&x, &p.x16, rows * cols)?;
        let x16 = p.x16.slice(..rows * cols)?;
        for &(weight, y) in products {
            let tensor = self.tensor(layer, weight)?;
            let row_bytes = weight.ty.bytes_for(weight.cols as u64).ok_or_else(|| {
                EngineError::UnsupportedTensorType {
                    name: weight.name.clone(),
                    ty: weight.ty,
                }
            })? as usize;
            let chunk = (p.w16.len() / weight.cols).max(1);
            for first in (0..weight.rows).step_by(chunk) {
                let count = chunk.min(weight.rows - first);
                let bytes = tensor
                    .data
                    .slice(first * row_bytes..(first + count) * row_bytes)?;
                let values = count * weight.cols;
                let a = match dequant_kernel(weight.ty) {
                    None => bytes.reinterpret::<u16>()?,
                    Some((module, name)) => {
                        self.dequantize(module, name, &bytes, &p.w16, values)?;
                        p.w16.slice(..values)?
                    }
                };
                let c = y.slice(first..first + (rows - 1) * weight.rows + count)?;
                // SAFETY: every buffer belongs to this backend and outlives the stream's
                // work; `c` is written only by this product, on the backend's stream.
                unsafe {
                    p.blas.gemm_nt_f16_f32(
                        &self.stream,
                        (count, rows, weight.cols),
                        &a,
                        &x16,
                        &c,
                        weight.rows,
                    )
                }?;
            }
        }
        Ok(())
    }

    /// `values` weight values from `bytes` (whole blocks) into `out` as f16.
    fn dequantize(
        &self,
        module: KernelModule,
        name: &str,
        bytes: &DeviceView<'_, u8>,
        out: &DeviceBuffer<u16>,
        values: usize,
    ) -> Result<(), EngineError> {
        let function = self.module(module).function(name)?;
        // The block kernels write four values per thread; rf_f32_to_f16 one.
        let count = if module == KernelModule::Elementwise {
            values
        } else {
            values / 4
        };
        let n = count as u64;
        // SAFETY: rf_dequant_<type>_f16(const u8* w, u16* out, u64 quads) and
        // rf_f32_to_f16(const float* x, u16* y, u64 n): `bytes` holds whole rows of the
        // weight (`values` values, a multiple of 4), `out` at least `values` halves.
        unsafe {
            self.stream
                .launch(&function)
                .arg(bytes)
                .arg(out)
                .arg(&n)
                .run(LaunchConfig::for_elements(count, BLOCK)?)
        }?;
        Ok(())
    }

    /// `out[i] = f16(x[i])` for `n` values.
    fn to_f16(
        &self,
        x: &DeviceView<'_, f32>,
        out: &DeviceBuffer<u16>,
        n: usize,
    ) -> Result<(), EngineError> {
        let function = self
            .module(KernelModule::Elementwise)
            .function("rf_f32_to_f16")?;
        let count = n as u64;
        // SAFETY: rf_f32_to_f16(const float* x, u16* y, u64 n); x holds n floats and out
        // at least n halves (sized for the widest input of a pass).
        unsafe {
            self.stream
                .launch(&function)
                .arg(x)
                .arg(out)
                .arg(&count)
                .run(LaunchConfig::for_elements(n, BLOCK)?)
        }?;
        Ok(())
    }

    /// Logits of rows `first..n` of the pass into `logits` (host), through the
    /// output norm and one batched product.
    pub(super) fn prefill_logits(
        &self,
        p: &mut Prefill,
        model: &Model,
        plan: &ExecutionPlan,
        (first, n): (usize, usize),
        logits: &mut Vec<f32>,
    ) -> Result<(), EngineError> {
        let c = &model.config;
        let (e, vocab, count) = (c.n_embd, c.n_vocab, n - first);
        // Kept for the next pass; put back below (an error drops it).
        let out = match p.logits.take() {
            Some(buffer) if buffer.len() >= count * vocab => buffer,
            _ => self.stream.device().alloc::<f32>(p.rows * vocab)?,
        };
        self.rms_norm(&p.x, &self.output_norm, &p.h, n, e, c.rms_eps)?;
        self.matmuls(
            p,
            None,
            (p.h.slice(first * e..n * e)?, count),
            &[(&model.output, &out)],
        )?;
        let mut host = vec![0f32; count * vocab];
        self.stream
            .download(&out.slice(..count * vocab)?, &mut host)?;
        p.logits = Some(out);
        if let Some(cap) = plan.final_logit_softcap {
            host.iter_mut().for_each(|l| *l = cap * (*l / cap).tanh());
        }
        logits.extend_from_slice(&host);
        Ok(())
    }
}
