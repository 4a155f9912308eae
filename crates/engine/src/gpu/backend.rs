//! The GPU backend: the execution plan on the device (matrix-vector kernels on
//! the quantized weights, f16 key/value cache on the device), each decode step
//! captured once as a graph and replayed. Prompts go in batches through the
//! vendor's BLAS (`prefill`), or token by token where it is missing. The kernel
//! launches live in `kernels`.

use rocmforge_hip::{Device, DeviceBuffer, GraphExec, LaunchConfig, Module, Stream};
use rocmforge_kernels::KernelModule;

use super::{GpuWeights, LoadOptions, Residency};
use crate::EngineError;
use crate::kv_cache::KvCache;
use crate::model::Model;
use crate::plan::{Backend, ExecutionPlan, Logits, check_batch};

mod kernels;
mod prefill;

use kernels::{Product, matvec_kernel};
use prefill::{ATTEND_DIMS_PER_LANE, Prefill};

/// Threads per block of the kernels that take any 1-D block.
const BLOCK: u32 = 256;

/// Norm and bias vectors of one layer, as f32 on the device (`Model` already
/// holds them in the form the plan uses).
struct LayerVectors {
    attn_norm: DeviceBuffer<f32>,
    ffn_norm: DeviceBuffer<f32>,
    biases: [Option<DeviceBuffer<f32>>; 3],
    q_norm: Option<DeviceBuffer<f32>>,
    k_norm: Option<DeviceBuffer<f32>>,
    post_attn_norm: Option<DeviceBuffer<f32>>,
    post_ffn_norm: Option<DeviceBuffer<f32>>,
}

/// Activations of one token.
struct Scratch {
    x: DeviceBuffer<f32>,
    h: DeviceBuffer<f32>,
    q: DeviceBuffer<f32>,
    k: DeviceBuffer<f32>,
    v: DeviceBuffer<f32>,
    attn: DeviceBuffer<f32>,
    o: DeviceBuffer<f32>,
    gate: DeviceBuffer<f32>,
    up: DeviceBuffer<f32>,
    logits: DeviceBuffer<f32>,
    rope: DeviceBuffer<f32>,
    /// What changes from one position to the next, read by the kernels from
    /// device memory so that a captured step can be replayed: the position, then
    /// per layer the first attended position and the count.
    step: DeviceBuffer<u32>,
    scores: DeviceBuffer<f32>,
    /// The quantized activations of the current matrix-vector product.
    xq: DeviceBuffer<u8>,
}

/// Runs a model on one GPU.
pub struct GpuBackend<'m> {
    stream: Stream,
    weights: GpuWeights<'m>,
    modules: Vec<Module>,
    layers: Vec<LayerVectors>,
    output_norm: DeviceBuffer<f32>,
    /// Per layer: keys and values as f16 bits, `[context][n_head_kv][head_dim]`.
    cache: Vec<(DeviceBuffer<u16>, DeviceBuffer<u16>)>,
    context: usize,
    scratch: Scratch,
    /// The device's warp size, read once.
    warp_size: usize,
    /// The layers of one decode step, captured once all layers are resident
    /// and replayed for every later token (`None` until then, or when
    /// `ROCMFORGE_NO_GRAPHS` is set).
    step_graph: Option<GraphExec>,
    use_graphs: bool,
    prefill: PrefillState,
}

/// Whether prompts can go in batches.
enum PrefillState {
    /// Not set up yet (it is on the first prompt of two tokens or more).
    Untried,
    Ready(Box<Prefill>),
    /// No BLAS library, or a model the batched path does not cover (see the log),
    /// or `ROCMFORGE_NO_BLAS` is set: prompts run token by token.
    Unavailable,
}

fn upload(
    device: &Device,
    stream: &Stream,
    values: &[f32],
) -> Result<DeviceBuffer<f32>, EngineError> {
    let mut buffer = device.alloc::<f32>(values.len())?;
    stream.upload(&mut buffer.as_view_mut(), values)?;
    Ok(buffer)
}

fn upload_opt(
    device: &Device,
    stream: &Stream,
    values: &Option<Vec<f32>>,
) -> Result<Option<DeviceBuffer<f32>>, EngineError> {
    values
        .as_ref()
        .map(|v| upload(device, stream, v))
        .transpose()
}

impl<'m> GpuBackend<'m> {
    /// Uploads `model` to `device` (as `residency` says) with room for
    /// `context` positions in the key/value cache.
    pub fn new(
        device: &Device,
        model: &'m Model,
        context: usize,
        residency: Residency,
    ) -> Result<Self, EngineError> {
        let c = &model.config;
        for w in model
            .layers
            .iter()
            .flat_map(|l| [&l.wq, &l.wk, &l.wv, &l.wo, &l.gate, &l.up, &l.down])
            .chain([&model.output])
        {
            // Every kernel takes rows in whole runs of 32 values.
            if matvec_kernel(w.ty).is_none() || !w.cols.is_multiple_of(32) {
                return Err(EngineError::UnsupportedTensorType {
                    name: w.name.clone(),
                    ty: w.ty,
                });
            }
        }
        let warp_size = device.warp_size()?.max(1);
        // The attention kernels keep a head in registers, a few values per lane.
        let head = c.head_dim.max(c.head_dim_v);
        if head > ATTEND_DIMS_PER_LANE * warp_size {
            return Err(EngineError::InvalidConfig(format!(
                "head dimension {head}: the GPU attention kernels take at most {}",
                ATTEND_DIMS_PER_LANE * warp_size
            )));
        }
        let stream = Stream::new(device)?;
        let arch = device.arch()?;
        let modules = KernelModule::ALL
            .iter()
            .map(|&m| {
                let image = rocmforge_kernels::image(&arch, m)
                    .map_err(|e| EngineError::InvalidConfig(e.to_string()))?;
                Ok(Module::load(device, &image)?)
            })
            .collect::<Result<Vec<_>, EngineError>>()?;
        let weights = GpuWeights::new(device, model, residency, LoadOptions::default())?;
        let layers = model
            .layers
            .iter()
            .map(|w| {
                Ok(LayerVectors {
                    attn_norm: upload(device, &stream, &w.attn_norm)?,
                    ffn_norm: upload(device, &stream, &w.ffn_norm)?,
                    biases: [
                        upload_opt(device, &stream, &w.bq)?,
                        upload_opt(device, &stream, &w.bk)?,
                        upload_opt(device, &stream, &w.bv)?,
                    ],
                    q_norm: upload_opt(device, &stream, &w.q_norm)?,
                    k_norm: upload_opt(device, &stream, &w.k_norm)?,
                    post_attn_norm: upload_opt(device, &stream, &w.post_attn_norm)?,
                    post_ffn_norm: upload_opt(device, &stream, &w.post_ffn_norm)?,
                })
            })
            .collect::<Result<Vec<_>, EngineError>>()?;
        let (k_len, v_len) = (c.n_head_kv * c.head_dim, c.n_head_kv * c.head_dim_v);
        let cache = (0..c.n_layer)
            .map(|_| {
                Ok((
                    device.alloc::<u16>(context * k_len)?,
                    device.alloc::<u16>(context * v_len)?,
                ))
            })
            .collect::<Result<Vec<_>, EngineError>>()?;
        let alloc = |n: usize| device.alloc::<f32>(n.max(1));
        let scratch = Scratch {
            x: alloc(c.n_embd)?,
            h: alloc(c.n_embd.max(c.n_head * c.head_dim_v))?,
            q: alloc(c.n_head * c.head_dim)?,
            k: alloc(k_len)?,
            v: alloc(v_len)?,
            attn: alloc(c.n_head * c.head_dim_v)?,
            o: alloc(c.n_embd)?,
            gate: alloc(c.n_ff)?,
            up: alloc(c.n_ff)?,
            logits: alloc(c.n_vocab)?,
            // One rotation table per layer, uploaded together once per token.
            rope: alloc(c.n_layer * c.head_dim)?,
            step: device.alloc::<u32>(1 + 2 * c.n_layer)?,
            scores: alloc(c.n_head * context)?,
            // Widest input: Q8_K (292 bytes per 256 values) is the larger format.
            // Q8_0 activations take 36 bytes per 32 values on the device (ggml's
            // block plus Σq, see rf_quantize_q8_0).
            xq: device.alloc::<u8>(
                (c.n_embd.max(c.n_ff).max(c.n_head * c.head_dim_v) / 32 * 36)
                    .max(c.n_embd.max(c.n_ff).max(c.n_head * c.head_dim_v) / 256 * 292)
                    .max(1),
            )?,
        };
        Ok(GpuBackend {
            output_norm: upload(device, &stream, &model.output_norm)?,
            stream,
            weights,
            modules,
            layers,
            cache,
            context,
            scratch,
            warp_size,
            step_graph: None,
            use_graphs: std::env::var_os("ROCMFORGE_NO_GRAPHS").is_none(),
            prefill: if std::env::var_os("ROCMFORGE_NO_BLAS").is_some() {
                PrefillState::Unavailable
            } else {
                PrefillState::Untried
            },
        })
    }

    /// The uploaded weights (residency, statistics, preloading).
    pub fn weights(&self) -> &GpuWeights<'m> {
        &self.weights
    }

    fn module(&self, which: KernelModule) -> &Module {
        &self.modules[which.index()]
    }
}

/// `cos, sin` of every rotated pair at `pos`, the CPU backend's angles
/// (`cpu::ops::RotaryAngles`).
fn rope_table(
    pos: usize,
    dims: usize,
    base: f32,
    freq_scale: f32,
    factors: Option<&[f32]>,
) -> Vec<f32> {
    crate::cpu::ops::RotaryAngles::at(pos, dims, base, freq_scale, factors)
        .pairs()
        .iter()
        .flat_map(|&(sin, cos)| [cos, sin])
        .collect()
}

impl GpuBackend<'_> {
    /// Runs the layers for the prepared token: by replaying the captured step
    /// where there is one, else capturing it once every layer is resident (a
    /// lazy layer's first use uploads, which a capture cannot hold), else
    /// launching the kernels one by one.
    fn step(&mut self, model: &Model, plan: &ExecutionPlan) -> Result<(), EngineError> {
        if self.step_graph.is_none()
            && self.use_graphs
            && self.weights.resident_layers() == model.layers.len()
        {
            match self.capture_step(model, plan) {
                Ok(graph) => self.step_graph = Some(graph),
                // A runtime that cannot capture some launch still runs them one
                // by one.
                Err(error) => {
                    tracing::warn!("decode steps run without a graph: capture failed: {error}");
                    self.use_graphs = false;
                }
            }
        }
        match &self.step_graph {
            // SAFETY: the graph uses the scratch buffers, caches and weights of
            // this backend, which live as long as it (and the graph) does.
            Some(graph) => unsafe { graph.launch(&self.stream) }?,
            None => self.run_layers(model, plan)?,
        }
        Ok(())
    }

    /// Records the layers' launches as a graph, ready to replay.
    fn capture_step(&self, model: &Model, plan: &ExecutionPlan) -> Result<GraphExec, EngineError> {
        let capture = self.stream.begin_capture()?;
        let recorded = self.run_layers(model, plan);
        let graph = capture.end()?;
        recorded?;
        Ok(graph.instantiate()?)
    }

    /// Puts what one token at `pos` needs on the device: its embedding in
    /// `scratch.x`, the rotation tables and the step parameters.
    fn prepare_step(
        &mut self,
        model: &Model,
        plan: &ExecutionPlan,
        token: u32,
        pos: usize,
    ) -> Result<(), EngineError> {
        let c = &model.config;
        let e = c.n_embd;
        let mut row = vec![0f32; e];
        plan.embed(model, token, &mut row);
        self.stream
            .upload(&mut self.scratch.x.slice_mut(..e)?, &row)?;
        let hd = c.head_dim;
        // Every layer's rotation table in one upload: an upload waits for the
        // stream, so one per layer would stall the GPU once per layer.
        let mut tables = vec![0f32; plan.layers.len() * hd];
        for (layer, table) in plan.layers.iter().zip(tables.chunks_exact_mut(hd)) {
            let t = rope_table(
                pos,
                plan.rope_dims,
                layer.attention.rope_base,
                plan.rope_freq_scale,
                model.rope_freqs.as_deref(),
            );
            table[..t.len()].copy_from_slice(&t);
        }
        self.stream
            .upload(&mut self.scratch.rope.slice_mut(..tables.len())?, &tables)?;
        let total = pos + 1;
        let mut step = vec![pos as u32];
        for layer in &plan.layers {
            let first = layer
                .attention
                .window
                .map_or(0, |w| total.saturating_sub(w));
            step.extend([first as u32, total as u32]);
        }
        self.stream
            .upload(&mut self.scratch.step.slice_mut(..step.len())?, &step)?;
        Ok(())
    }

    /// One token through every layer (kernel launches only, so that it can be
    /// captured); its final hidden state stays in `scratch.x`.
    fn run_layers(&self, model: &Model, plan: &ExecutionPlan) -> Result<(), EngineError> {
        let c = &model.config;
        let e = c.n_embd;
        let (hd, hdv) = (c.head_dim, c.head_dim_v);
        for (il, (layer, w)) in plan.layers.iter().zip(&model.layers).enumerate() {
            let s = &self.scratch;
            let table = s.rope.slice(il * hd..(il + 1) * hd)?;
            let v = &self.layers[il];
            // The previous layer's residual add goes with this norm.
            let residual = (il > 0).then_some(&s.o);
            let qkv: Vec<Product> = [(&w.wq, &s.q), (&w.wk, &s.k), (&w.wv, &s.v)]
                .into_iter()
                .zip(&v.biases)
                .map(|((weight, out), bias)| Product {
                    weight,
                    out,
                    bias: bias.as_ref(),
                })
                .collect();
            self.norm_then_matvecs(il, (&s.x, residual), &v.attn_norm, &s.h, &qkv, c)?;
            if let (Some(qn), Some(kn)) = (&v.q_norm, &v.k_norm) {
                self.rms_norm(&s.q, qn, &s.q, c.n_head, hd, c.rms_eps)?;
                self.rms_norm(&s.k, kn, &s.k, c.n_head_kv, hd, c.rms_eps)?;
            }
            self.rope_store((&s.q, &s.k, &s.v), 1, &table, il, plan, c)?;
            let (keys, values) = &self.cache[il];

            let span = s.step.slice(1 + 2 * il..3 + 2 * il)?;
            let scale = if plan.scale_queries {
                1.0
            } else {
                plan.attn_scale
            };
            let attend = self
                .module(KernelModule::Transformer)
                .function("rf_attend_f16_at")?;
            let heads = [c.n_head, c.n_head_kv, hd, hdv].map(|n| n as u32);
            let stride = self.context as u32;
            let config = LaunchConfig {
                grid: (c.n_head as u32, 1, 1),
                block: (BLOCK, 1, 1),
                shared_bytes: 0,
            };
            // Kernel: rf_attend_f16_at(q, k, v, out, scores, n_head, n_head_kv, head_dim,
            // head_dim_v, span, stride, scale), span = [first, total] of this layer.
            // SAFETY: q holds n_head x head_dim, the caches `context` positions (the
            // step's total <= context, checked by `forward`), out n_head x head_dim_v
            // and scores n_head x context floats; span two u32.
            unsafe {
                let mut launch = self
                    .stream
                    .launch(&attend)
                    .arg(&s.q)
                    .arg(keys)
                    .arg(values)
                    .arg(&s.attn)
                    .arg(&s.scores);
                for a in &heads {
                    launch = launch.arg(a);
                }
                launch.arg(&span).arg(&stride).arg(&scale).run(config)
            }?;
            self.matvec(Some(il), &w.wo, &s.attn, &s.o)?;
            if let Some(norm) = &v.post_attn_norm {
                self.rms_norm(&s.o, norm, &s.o, 1, e, c.rms_eps)?;
            }
            let gate_up = [Product::new(&w.gate, &s.gate), Product::new(&w.up, &s.up)];
            self.norm_then_matvecs(il, (&s.x, Some(&s.o)), &v.ffn_norm, &s.h, &gate_up, c)?;
            let down = [Product::new(&w.down, &s.o)];
            match self.glu_quantizer(&w.down) {
                Some(q) => {
                    self.activation_quantized(layer.activation, (&s.gate, &s.up), c.n_ff, q)?;
                    self.matvecs_quantized(Some(il), &s.gate, &down, Some(q))?;
                }
                None => {
                    self.activation(layer.activation, (&s.gate, &s.up), c.n_ff)?;
                    self.matvecs_quantized(Some(il), &s.gate, &down, None)?;
                }
            }
            if let Some(norm) = &v.post_ffn_norm {
                self.rms_norm(&s.o, norm, &s.o, 1, e, c.rms_eps)?;
            }
            // The residual add goes with the next layer's norm; after the last
            // layer it stands alone.
        }
        if !plan.layers.is_empty() {
            self.add(&self.scratch.x, &self.scratch.o, &self.scratch.x, e)?;
        }
        Ok(())
    }
}

impl GpuBackend<'_> {
    /// Logits of the hidden state in `scratch.x` (one token), appended to `logits`.
    fn output_logits(
        &self,
        model: &Model,
        plan: &ExecutionPlan,
        logits: &mut Vec<f32>,
    ) -> Result<(), EngineError> {
        let c = &model.config;
        let s = &self.scratch;
        self.rms_norm(&s.x, &self.output_norm, &s.h, 1, c.n_embd, c.rms_eps)?;
        self.matvec(None, &model.output, &s.h, &s.logits)?;
        let mut row = vec![0f32; c.n_vocab];
        self.stream
            .download(&s.logits.slice(..c.n_vocab)?, &mut row)?;
        if let Some(cap) = plan.final_logit_softcap {
            row.iter_mut().for_each(|l| *l = cap * (*l / cap).tanh());
        }
        logits.extend_from_slice(&row);
        Ok(())
    }

    /// The batched prompt path, set up on first use; `None` when unavailable.
    fn take_prefill(&mut self, model: &Model, plan: &ExecutionPlan) -> Option<Box<Prefill>> {
        if let PrefillState::Untried = self.prefill {
            let device = self.stream.device().clone();
            self.prefill = match Prefill::new(&device, model, plan, self.context) {
                Ok(prefill) => PrefillState::Ready(Box::new(prefill)),
                Err(reason) => {
                    tracing::info!("prompts run token by token on the GPU: {reason}");
                    PrefillState::Unavailable
                }
            };
        }
        match std::mem::replace(&mut self.prefill, PrefillState::Unavailable) {
            PrefillState::Ready(prefill) => Some(prefill),
            other => {
                self.prefill = other;
                None
            }
        }
    }

    /// `tokens` from position `start` in passes of up to `p.rows()` rows; logits
    /// of the batch positions from `first_out` on.
    #[allow(clippy::too_many_arguments)]
    fn forward_batched(
        &mut self,
        p: &mut Prefill,
        model: &Model,
        plan: &ExecutionPlan,
        tokens: &[u32],
        start: usize,
        first_out: usize,
        logits: &mut Vec<f32>,
    ) -> Result<(), EngineError> {
        let e = model.config.n_embd;
        let rows = p.rows();
        for (i, chunk) in tokens.chunks(rows).enumerate() {
            let offset = i * rows;
            let len = chunk.len();
            self.prefill_rows(p, model, plan, chunk, start + offset)?;
            let first = first_out.max(offset) - offset;
            if first + 1 == len {
                // One row: the decode step's output kernels.
                self.stream
                    .copy(&p.x_row(len - 1, e)?, &mut self.scratch.x.slice_mut(..e)?)?;
                self.output_logits(model, plan, logits)?;
            } else if first < len {
                self.prefill_logits(p, model, plan, (first, len), logits)?;
            }
        }
        Ok(())
    }
}

impl GpuBackend<'_> {
    /// `x += o` (when given), `h = rms_norm(x) * norm`, then the products of
    /// layer `il` on `h`: the norm quantizes `h` for them in the same launch
    /// where it can.
    fn norm_then_matvecs(
        &self,
        il: usize,
        (x, o): (&DeviceBuffer<f32>, Option<&DeviceBuffer<f32>>),
        norm: &DeviceBuffer<f32>,
        h: &DeviceBuffer<f32>,
        products: &[Product<'_>],
        c: &crate::config::ModelConfig,
    ) -> Result<(), EngineError> {
        let e = c.n_embd;
        let quantized = self.norm_quantizer(products, e);
        match (quantized, o) {
            (Some(q), _) => self.rms_norm_quantized(x, o, norm, h, e, c.rms_eps, q)?,
            (None, Some(o)) => self.add_rms_norm(x, o, norm, h, 1, e, c.rms_eps)?,
            (None, None) => self.rms_norm(x, norm, h, 1, e, c.rms_eps)?,
        }
        self.matvecs_quantized(Some(il), h, products, quantized)
    }
}

impl Backend for GpuBackend<'_> {
    /// Runs a prompt of two tokens or more in batches (token by token without a
    /// BLAS library), a single token through the captured decode step; `kv` only
    /// tracks the length (the keys and values live on the device, for one
    /// sequence).
    fn forward(
        &mut self,
        model: &Model,
        plan: &ExecutionPlan,
        kv: &mut KvCache,
        tokens: &[u32],
        which: Logits,
        logits: &mut Vec<f32>,
    ) -> Result<(), EngineError> {
        let n = tokens.len();
        logits.clear();
        if n == 0 {
            return Ok(());
        }
        let start = kv.len();
        check_batch(model, start, kv.capacity().min(self.context), tokens)?;
        let first_out = which.first_output(n);
        if n > 1
            && let Some(mut prefill) = self.take_prefill(model, plan)
        {
            let result =
                self.forward_batched(&mut prefill, model, plan, tokens, start, first_out, logits);
            self.prefill = PrefillState::Ready(prefill);
            result?;
        } else {
            for (t, &token) in tokens.iter().enumerate() {
                self.prepare_step(model, plan, token, start + t)?;
                self.step(model, plan)?;
                if t >= first_out {
                    self.output_logits(model, plan, logits)?;
                }
            }
        }
        kv.set_len(start + n);
        Ok(())
    }
}
