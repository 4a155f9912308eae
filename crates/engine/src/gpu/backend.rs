//! The GPU backend: the execution plan on the device (matrix-vector kernels on
//! the quantized weights, f16 key/value caches on the device, one per sequence),
//! each decode step captured once as a graph and replayed. A decode step takes
//! the next token of one sequence or of several (a server's batch: every weight
//! is read once for all of them). Prompts go in batches through the vendor's
//! BLAS (`prefill`), or token by token where it is missing. The kernel launches
//! live in `kernels`, the per-sequence caches in `slots`.

use rocmforge_hip::{Device, DeviceBuffer, GraphExec, LaunchConfig, Module, PinnedBuffer, Stream};
use rocmforge_kernels::KernelModule;

use super::{GpuWeights, LoadOptions, Residency};
use crate::EngineError;
use crate::kv_cache::KvCache;
use crate::model::Model;
use crate::plan::{Backend, ExecutionPlan, Logits, SequenceBatch, check_batch};

mod kernels;
mod prefill;
mod slots;

use kernels::{Product, matvec_kernel};
use prefill::{ATTEND_DIMS_PER_LANE, Prefill, distinct_bases};
use slots::SequenceSlots;

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

/// Activations of the tokens of one decode step, one row per sequence (up to
/// `rows`).
struct Scratch {
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
    logits: DeviceBuffer<f32>,
    /// Rotation tables, `[layer][row][head_dim]`.
    rope: DeviceBuffer<f32>,
    /// What changes from one step to the next, read by the kernels from device
    /// memory so that a captured step can be replayed: each row's position
    /// (`rows` values), then per layer and row the first attended position and
    /// the count.
    step: DeviceBuffer<u32>,
    /// Per layer the addresses of each row's key cache (`rows` values), then of
    /// its value cache.
    caches: DeviceBuffer<u64>,
    /// What `caches` holds now (uploaded again only when it changes).
    uploaded_caches: Vec<u64>,
    scores: DeviceBuffer<f32>,
    /// The quantized activations of the current matrix-vector products.
    xq: DeviceBuffer<u8>,
    /// The id a greedy step found (`rf_argmax_f32`).
    argmax: DeviceBuffer<u32>,
    /// Page-locked host copies of `x`, `rope` and `step`, which the host
    /// fills for each step: their uploads queue without a wait each.
    x_in: PinnedBuffer<f32>,
    rope_in: PinnedBuffer<f32>,
    step_in: PinnedBuffer<u32>,
}

impl Scratch {
    /// Room for `rows` tokens of `c`'s model attending up to `context` positions.
    fn new(
        device: &Device,
        c: &crate::config::ModelConfig,
        context: usize,
        rows: usize,
    ) -> Result<Self, EngineError> {
        let alloc = |n: usize| device.alloc::<f32>((n * rows).max(1));
        let widest = c.n_embd.max(c.n_ff).max(c.n_head * c.head_dim_v);
        Ok(Scratch {
            rows,
            x: alloc(c.n_embd)?,
            h: alloc(c.n_embd.max(c.n_head * c.head_dim_v))?,
            q: alloc(c.n_head * c.head_dim)?,
            k: alloc(c.n_head_kv * c.head_dim)?,
            v: alloc(c.n_head_kv * c.head_dim_v)?,
            attn: alloc(c.n_head * c.head_dim_v)?,
            o: alloc(c.n_embd)?,
            gate: alloc(c.n_ff)?,
            up: alloc(c.n_ff)?,
            logits: alloc(c.n_vocab)?,
            // Every layer's rotation tables, uploaded together once per step.
            rope: alloc(c.n_layer * c.head_dim)?,
            step: device.alloc::<u32>(rows * (1 + 2 * c.n_layer))?,
            caches: device.alloc::<u64>(rows * 2 * c.n_layer.max(1))?,
            uploaded_caches: Vec::new(),
            scores: alloc(c.n_head * context)?,
            // Widest input: Q8_K (292 bytes per 256 values) is the larger format.
            // Q8_0 activations take 36 bytes per 32 values on the device (ggml's
            // block plus Σq, see rf_quantize_q8_0).
            xq: device.alloc::<u8>(((widest / 32 * 36).max(widest / 256 * 292) * rows).max(1))?,
            argmax: device.alloc::<u32>(1)?,
            x_in: PinnedBuffer::new(device, (c.n_embd * rows).max(1))?,
            rope_in: PinnedBuffer::new(device, (c.n_layer * c.head_dim * rows).max(1))?,
            step_in: PinnedBuffer::new(device, rows * (1 + 2 * c.n_layer))?,
        })
    }

    /// Bytes these buffers take for `rows` rows (to check they fit first).
    fn bytes(c: &crate::config::ModelConfig, context: usize, rows: usize) -> u64 {
        let floats = c.n_embd * 3
            + c.n_head * c.head_dim_v * 2
            + c.n_head * c.head_dim
            + c.n_head_kv * (c.head_dim + c.head_dim_v)
            + c.n_ff * 2
            + c.n_vocab
            + c.n_layer * c.head_dim
            + c.n_head * context;
        let widest = c.n_embd.max(c.n_ff).max(c.n_head * c.head_dim_v);
        ((floats * 4
            + (1 + 2 * c.n_layer) * 4
            + 2 * c.n_layer * 8
            + widest / 256 * 292
            + widest / 32 * 36)
            * rows) as u64
    }
}

/// Runs a model on one GPU.
pub struct GpuBackend<'m> {
    stream: Stream,
    weights: GpuWeights<'m>,
    modules: Vec<Module>,
    layers: Vec<LayerVectors>,
    output_norm: DeviceBuffer<f32>,
    /// The sequences' key/value caches on the device.
    slots: SequenceSlots,
    context: usize,
    scratch: Scratch,
    /// The device's warp size, read once.
    warp_size: usize,
    /// The layers of a decode step of `n` rows at index `n`, captured once all
    /// layers are resident and replayed for every later step of as many rows
    /// (`None` until then, or when `ROCMFORGE_NO_GRAPHS` is set).
    step_graphs: Vec<Option<GraphExec>>,
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
        let slots = SequenceSlots::new(device, c, context, 1)?;
        let scratch = Scratch::new(device, c, context, 1)?;
        Ok(GpuBackend {
            output_norm: upload(device, &stream, &model.output_norm)?,
            stream,
            weights,
            modules,
            layers,
            slots,
            context,
            scratch,
            warp_size,
            step_graphs: Vec::new(),
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
    /// Runs the layers for the prepared tokens (`rows` of them, one per
    /// sequence): by replaying the step captured for that many rows where there
    /// is one, else capturing it once every layer is resident (a lazy layer's
    /// first use uploads, which a capture cannot hold), else launching the
    /// kernels one by one.
    fn step(
        &mut self,
        model: &Model,
        plan: &ExecutionPlan,
        rows: usize,
    ) -> Result<(), EngineError> {
        if self.step_graphs.len() <= rows {
            self.step_graphs.resize_with(rows + 1, || None);
        }
        if self.step_graphs[rows].is_none()
            && self.use_graphs
            && self.weights.resident_layers() == model.layers.len()
        {
            match self.capture_step(model, plan, rows) {
                Ok(graph) => self.step_graphs[rows] = Some(graph),
                // A runtime that cannot capture some launch still runs them one
                // by one.
                Err(error) => {
                    tracing::warn!("decode steps run without a graph: capture failed: {error}");
                    self.use_graphs = false;
                }
            }
        }
        match &self.step_graphs[rows] {
            // SAFETY: the graph uses the scratch buffers, caches and weights of
            // this backend, which live as long as it (and the graph) does: the
            // graphs are dropped whenever scratch buffers or caches are replaced.
            Some(graph) => unsafe { graph.launch(&self.stream) }?,
            None => self.run_layers(model, plan, rows)?,
        }
        Ok(())
    }

    /// Records the layers' launches for `rows` rows as a graph, ready to replay.
    fn capture_step(
        &self,
        model: &Model,
        plan: &ExecutionPlan,
        rows: usize,
    ) -> Result<GraphExec, EngineError> {
        let capture = self.stream.begin_capture()?;
        let recorded = self.run_layers(model, plan, rows);
        let graph = capture.end()?;
        recorded?;
        Ok(graph.instantiate()?)
    }

    /// Puts what a decode step needs on the device, one row per `(token,
    /// position, slot)`: the tokens' embeddings in `scratch.x`, the rotation
    /// tables, the positions and attended spans, and the addresses of the
    /// sequences' caches.
    fn prepare_step(
        &mut self,
        model: &Model,
        plan: &ExecutionPlan,
        tokens: &[(u32, usize, usize)],
    ) -> Result<(), EngineError> {
        let c = &model.config;
        let (e, hd, n) = (c.n_embd, c.head_dim, tokens.len());
        let rows = self.scratch.rows;
        debug_assert!(n <= rows);
        let s = &mut self.scratch;
        for (&(token, _, _), row) in tokens.iter().zip(s.x_in.chunks_exact_mut(e)) {
            plan.embed(model, token, row);
        }
        // Every layer's rotation tables, each distinct base's computed once.
        let (bases, table_of_layer) = distinct_bases(plan);
        for (r, &(_, pos, _)) in tokens.iter().enumerate() {
            let tables: Vec<Vec<f32>> = bases
                .iter()
                .map(|&base| {
                    rope_table(
                        pos,
                        plan.rope_dims,
                        base,
                        plan.rope_freq_scale,
                        model.rope_freqs.as_deref(),
                    )
                })
                .collect();
            for (il, &t) in table_of_layer.iter().enumerate() {
                let at = (il * rows + r) * hd;
                s.rope_in[at..at + tables[t].len()].copy_from_slice(&tables[t]);
            }
        }
        for (r, &(_, pos, _)) in tokens.iter().enumerate() {
            s.step_in[r] = pos as u32;
            let total = pos + 1;
            for (il, layer) in plan.layers.iter().enumerate() {
                let first = layer
                    .attention
                    .window
                    .map_or(0, |w| total.saturating_sub(w));
                let at = rows + 2 * (il * rows + r);
                s.step_in[at] = first as u32;
                s.step_in[at + 1] = total as u32;
            }
        }
        // Queued together, waited for once (the last copy's completion implies
        // the others': one stream).
        let uploads = [
            self.stream.upload_async(s.x.as_view_mut(), &s.x_in)?,
            self.stream.upload_async(s.rope.as_view_mut(), &s.rope_in)?,
            self.stream.upload_async(s.step.as_view_mut(), &s.step_in)?,
        ];
        for upload in uploads.into_iter().rev() {
            upload.wait()?;
        }
        let mut caches = vec![0u64; 2 * rows * plan.layers.len()];
        for (r, &(_, _, slot)) in tokens.iter().enumerate() {
            for (il, (keys, values)) in self.slots.caches(slot).iter().enumerate() {
                caches[2 * rows * il + r] = keys.device_address();
                caches[2 * rows * il + rows + r] = values.device_address();
            }
        }
        if caches != self.scratch.uploaded_caches {
            self.stream
                .upload(&mut self.scratch.caches.slice_mut(..caches.len())?, &caches)?;
            self.scratch.uploaded_caches = caches;
        }
        Ok(())
    }

    /// One token of each of `rows` sequences through every layer (kernel
    /// launches only, so that it can be captured); their final hidden states
    /// stay in `scratch.x`.
    fn run_layers(
        &self,
        model: &Model,
        plan: &ExecutionPlan,
        rows: usize,
    ) -> Result<(), EngineError> {
        let c = &model.config;
        let e = c.n_embd;
        let hd = c.head_dim;
        let all = self.scratch.rows;
        for (il, (layer, w)) in plan.layers.iter().zip(&model.layers).enumerate() {
            let s = &self.scratch;
            let table = s.rope.slice(il * all * hd..(il * all + rows) * hd)?;
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
            self.norm_then_matvecs(il, (&s.x, residual), &v.attn_norm, &s.h, &qkv, rows, c)?;
            if let (Some(qn), Some(kn)) = (&v.q_norm, &v.k_norm) {
                self.rms_norm(&s.q, qn, &s.q, rows * c.n_head, hd, c.rms_eps)?;
                self.rms_norm(&s.k, kn, &s.k, rows * c.n_head_kv, hd, c.rms_eps)?;
            }
            self.rope_store_seqs((&s.q, &s.k, &s.v), rows, &table, il, plan, c)?;
            let attn_q = self.attention_quantizer(&w.wo, c);
            self.attend_seqs(rows, il, plan, c, attn_q)?;
            let output = [Product::new(&w.wo, &s.o)];
            self.matvecs_quantized(Some(il), &s.attn, &output, attn_q, rows)?;
            if let Some(norm) = &v.post_attn_norm {
                self.rms_norm(&s.o, norm, &s.o, rows, e, c.rms_eps)?;
            }
            let gate_up = [Product::new(&w.gate, &s.gate), Product::new(&w.up, &s.up)];
            self.norm_then_matvecs(il, (&s.x, Some(&s.o)), &v.ffn_norm, &s.h, &gate_up, rows, c)?;
            let down = [Product::new(&w.down, &s.o)];
            let n = rows * c.n_ff;
            match self.glu_quantizer(&w.down) {
                Some(q) => {
                    self.activation_quantized(layer.activation, (&s.gate, &s.up), n, q)?;
                    self.matvecs_quantized(Some(il), &s.gate, &down, Some(q), rows)?;
                }
                None => {
                    self.activation(layer.activation, (&s.gate, &s.up), n)?;
                    self.matvecs_quantized(Some(il), &s.gate, &down, None, rows)?;
                }
            }
            if let Some(norm) = &v.post_ffn_norm {
                self.rms_norm(&s.o, norm, &s.o, rows, e, c.rms_eps)?;
            }
            // The residual add goes with the next layer's norm; after the last
            // layer it stands alone.
        }
        if !plan.layers.is_empty() {
            self.add(&self.scratch.x, &self.scratch.o, &self.scratch.x, rows * e)?;
        }
        Ok(())
    }
}

impl GpuBackend<'_> {
    /// Logits of the `rows` hidden states in `scratch.x`, appended to `logits`.
    fn output_logits(
        &self,
        model: &Model,
        plan: &ExecutionPlan,
        rows: usize,
        logits: &mut Vec<f32>,
    ) -> Result<(), EngineError> {
        let c = &model.config;
        let s = &self.scratch;
        self.rms_norm(&s.x, &self.output_norm, &s.h, rows, c.n_embd, c.rms_eps)?;
        self.matvecs(None, &s.h, &[(&model.output, &s.logits)], rows)?;
        let first = logits.len();
        logits.resize(first + rows * c.n_vocab, 0.0);
        let host = &mut logits[first..];
        self.stream
            .download(&s.logits.slice(..rows * c.n_vocab)?, host)?;
        if let Some(cap) = plan.final_logit_softcap {
            host.iter_mut().for_each(|l| *l = cap * (*l / cap).tanh());
        }
        Ok(())
    }

    /// The id of the largest logit of the hidden state in the first row of
    /// `scratch.x` (as [`Self::output_logits`] computes the logits, without the
    /// cap), found on the device.
    fn output_argmax(&self, model: &Model) -> Result<u32, EngineError> {
        let c = &model.config;
        let s = &self.scratch;
        self.rms_norm(&s.x, &self.output_norm, &s.h, 1, c.n_embd, c.rms_eps)?;
        self.matvecs(None, &s.h, &[(&model.output, &s.logits)], 1)?;
        let function = self
            .module(KernelModule::Reduce)
            .function("rf_argmax_f32")?;
        let n = c.n_vocab as u32;
        // SAFETY: rf_argmax_f32(x, index, n) reads the n_vocab logits just
        // written and writes one u32 into the step's id buffer.
        unsafe {
            self.stream
                .launch(&function)
                .arg(&s.logits)
                .arg(&s.argmax)
                .arg(&n)
                .run(LaunchConfig::per_row(1, 1024)?)
        }?;
        let mut id = [0u32];
        self.stream.download(&s.argmax.slice(..1)?, &mut id)?;
        Ok(id[0])
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

    /// `tokens` of the sequence in `slot` from position `start` in passes of up
    /// to `p.rows()` rows; logits of the batch positions from `first_out` on.
    #[allow(clippy::too_many_arguments)]
    fn forward_batched(
        &mut self,
        p: &mut Prefill,
        model: &Model,
        plan: &ExecutionPlan,
        tokens: &[u32],
        (start, slot): (usize, usize),
        first_out: usize,
        logits: &mut Vec<f32>,
    ) -> Result<(), EngineError> {
        let e = model.config.n_embd;
        let rows = p.rows();
        for (i, chunk) in tokens.chunks(rows).enumerate() {
            let offset = i * rows;
            let len = chunk.len();
            self.prefill_rows(p, model, plan, chunk, (start + offset, slot))?;
            let first = first_out.max(offset) - offset;
            if first + 1 == len {
                // One row: the decode step's output kernels.
                self.stream
                    .copy(&p.x_row(len - 1, e)?, &mut self.scratch.x.slice_mut(..e)?)?;
                self.output_logits(model, plan, 1, logits)?;
            } else if first < len {
                self.prefill_logits(p, model, plan, (first, len), logits)?;
            }
        }
        Ok(())
    }
}

impl GpuBackend<'_> {
    /// `x += o` (when given), `h = rms_norm(x) * norm`, then the products of
    /// layer `il` on `h`, for `rows` rows: the norm quantizes `h` for them in
    /// the same launch where it can.
    #[allow(clippy::too_many_arguments)]
    fn norm_then_matvecs(
        &self,
        il: usize,
        (x, o): (&DeviceBuffer<f32>, Option<&DeviceBuffer<f32>>),
        norm: &DeviceBuffer<f32>,
        h: &DeviceBuffer<f32>,
        products: &[Product<'_>],
        rows: usize,
        c: &crate::config::ModelConfig,
    ) -> Result<(), EngineError> {
        let e = c.n_embd;
        let quantized = self.norm_quantizer(products, e);
        match (quantized, o) {
            (Some(q), _) => self.rms_norm_quantized(x, o, norm, h, (rows, e), c.rms_eps, q)?,
            (None, Some(o)) => self.add_rms_norm(x, o, norm, h, rows, e, c.rms_eps)?,
            (None, None) => self.rms_norm(x, norm, h, rows, e, c.rms_eps)?,
        }
        self.matvecs_quantized(Some(il), h, products, quantized, rows)
    }
}

impl GpuBackend<'_> {
    /// Makes room for `rows` sequences in one decode step: their caches and
    /// the step's buffers (the captured steps go, as they point at the old
    /// buffers).
    fn reserve(&mut self, model: &Model, rows: usize) -> Result<(), EngineError> {
        let c = &model.config;
        let device = self.stream.device().clone();
        self.slots.reserve(&device, c, self.context, rows)?;
        if rows > self.scratch.rows {
            super::upload::check_fits_for(
                &device,
                "the decode step's buffers",
                Scratch::bytes(c, self.context, rows),
            )?;
            self.step_graphs.clear();
            self.scratch = Scratch::new(&device, c, self.context, rows)?;
        }
        Ok(())
    }

    /// One decode step of one token per sequence: `(token, position, slot)`,
    /// at most `scratch.rows` of them; their logits appended to `logits`.
    fn decode(
        &mut self,
        model: &Model,
        plan: &ExecutionPlan,
        tokens: &[(u32, usize, usize)],
        logits: &mut Vec<f32>,
    ) -> Result<(), EngineError> {
        self.prepare_step(model, plan, tokens)?;
        self.step(model, plan, tokens.len())?;
        self.output_logits(model, plan, tokens.len(), logits)
    }
}

impl Backend for GpuBackend<'_> {
    /// Runs a prompt of two tokens or more in batches (token by token without a
    /// BLAS library), a single token through the captured decode step; the keys
    /// and values live in the device cache of `kv`'s sequence (`kv` only tracks
    /// the length).
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
        let slot = self.slots.slot_of(kv)?;
        let first_out = which.first_output(n);
        if n > 1
            && let Some(mut prefill) = self.take_prefill(model, plan)
        {
            let result = self.forward_batched(
                &mut prefill,
                model,
                plan,
                tokens,
                (start, slot),
                first_out,
                logits,
            );
            self.prefill = PrefillState::Ready(prefill);
            result?;
        } else {
            for (t, &token) in tokens.iter().enumerate() {
                self.prepare_step(model, plan, &[(token, start + t, slot)])?;
                self.step(model, plan, 1)?;
                if t >= first_out {
                    self.output_logits(model, plan, 1, logits)?;
                }
            }
        }
        kv.set_len(start + n);
        Ok(())
    }

    /// One token through the captured decode step, its argmax found on the
    /// device (one id copied back); anything else, or a plan that caps the
    /// logits (the cap's rounding can make ties), as the default does.
    fn forward_greedy(
        &mut self,
        model: &Model,
        plan: &ExecutionPlan,
        kv: &mut KvCache,
        tokens: &[u32],
        logits: &mut Vec<f32>,
    ) -> Result<u32, EngineError> {
        let &[token] = tokens else {
            self.forward(model, plan, kv, tokens, Logits::Last, logits)?;
            return Ok(crate::sampling::argmax(logits));
        };
        if plan.final_logit_softcap.is_some() {
            self.forward(model, plan, kv, tokens, Logits::Last, logits)?;
            return Ok(crate::sampling::argmax(logits));
        }
        let start = kv.len();
        check_batch(model, start, kv.capacity().min(self.context), tokens)?;
        let slot = self.slots.slot_of(kv)?;
        self.prepare_step(model, plan, &[(token, start, slot)])?;
        self.step(model, plan, 1)?;
        let id = self.output_argmax(model)?;
        kv.set_len(start + 1);
        Ok(id)
    }

    fn batches_sequences(&self) -> bool {
        true
    }

    fn reserve_sequences(&mut self, sequences: usize) -> Result<(), EngineError> {
        let model = self.weights.model();
        self.reserve(model, sequences.max(1))
    }

    /// Sequences that each bring one token (a server's decode step) run
    /// together, every weight read once for all of them; anything else runs
    /// sequence by sequence.
    fn forward_batch(
        &mut self,
        model: &Model,
        plan: &ExecutionPlan,
        batch: &mut [SequenceBatch<'_>],
        logits: &mut Vec<f32>,
    ) -> Result<(), EngineError> {
        logits.clear();
        let active: Vec<usize> = (0..batch.len())
            .filter(|&i| !batch[i].tokens.is_empty())
            .collect();
        if active.iter().any(|&i| batch[i].tokens.len() != 1) || active.len() < 2 {
            let mut all = Vec::new();
            for &i in &active {
                let seq = &mut batch[i];
                self.forward(model, plan, seq.kv, seq.tokens, seq.which, logits)?;
                all.extend_from_slice(logits);
            }
            *logits = all;
            return Ok(());
        }
        if active.len() > self.scratch.rows || active.len() > self.slots.len() {
            self.reserve(model, active.len())?;
        }
        let mut tokens = Vec::with_capacity(active.len());
        for &i in &active {
            let seq = &batch[i];
            let start = seq.kv.len();
            check_batch(
                model,
                start,
                seq.kv.capacity().min(self.context),
                seq.tokens,
            )?;
            tokens.push((seq.tokens[0], start, self.slots.slot_of(seq.kv)?));
        }
        self.decode(model, plan, &tokens, logits)?;
        for &i in &active {
            let kv = &mut batch[i].kv;
            let len = kv.len();
            kv.set_len(len + 1);
        }
        Ok(())
    }
}
