//! The GPU backend, first form: the execution plan run token by token on the
//! device (matrix-vector kernels on the quantized weights, f16 key/value cache
//! on the device). Correct rather than fast: prompts are fed one token at a time,
//! kernels are looked up per launch and nothing is fused or captured yet.

use rocmforge_gguf::GgmlType;
use rocmforge_hip::{Device, DeviceBuffer, DeviceView, GraphExec, LaunchConfig, Module, Stream};
use rocmforge_kernels::KernelModule;

use super::{GpuWeights, LoadOptions, Residency};
use crate::EngineError;
use crate::config::{Activation, RopeStyle};
use crate::cpu::linear;
use crate::kv_cache::KvCache;
use crate::model::{Model, Weight};
use crate::plan::{Backend, ExecutionPlan, Logits, check_batch};

const BLOCK: u32 = 256;

/// Threads per row of the matrix-vector kernels on quantized activations.
const MATVEC_Q8_THREADS: u32 = 128;

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

/// The matrix-vector kernel for a weight type and the quantizer its activations
/// go through first (name, values per block), chosen as the CPU backend prepares
/// activations, so that both multiply the same numbers: Q8_0 blocks for the
/// Q8_0 family, Q8_K blocks for K-quants, f16 rounding for F16 weights.
fn matvec_kernel(ty: GgmlType) -> Option<(&'static str, Option<(&'static str, usize)>)> {
    const Q8_0: Option<(&str, usize)> = Some(("rf_quantize_q8_0", 32));
    const Q8_K: Option<(&str, usize)> = Some(("rf_quantize_q8_k", 256));
    Some(match ty {
        GgmlType::Q8_0 => ("rf_matvec_q8_0_q8", Q8_0),
        GgmlType::Q4_0 => ("rf_matvec_q4_0_q8", Q8_0),
        GgmlType::Q5_0 => ("rf_matvec_q5_0_q8", Q8_0),
        GgmlType::Q4_K => ("rf_matvec_q4_k_q8", Q8_K),
        GgmlType::Q6_K => ("rf_matvec_q6_k_q8", Q8_K),
        GgmlType::F16 => ("rf_matvec_f16_x16", None),
        GgmlType::F32 => ("rf_matvec_f32", None),
        _ => return None,
    })
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
            if matvec_kernel(w.ty).is_none() {
                return Err(EngineError::UnsupportedTensorType {
                    name: w.name.clone(),
                    ty: w.ty,
                });
            }
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
            warp_size: device.warp_size()?.max(1),
            step_graph: None,
            use_graphs: std::env::var_os("ROCMFORGE_NO_GRAPHS").is_none(),
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

/// Threads per row for an RMS norm over `cols` values: about four values each
/// (a decode step normalises one row, which one block must not crawl through),
/// 64 to 1024 threads.
fn norm_threads(cols: usize) -> u32 {
    (cols.div_ceil(4).next_multiple_of(64)).clamp(64, 1024) as u32
}

/// `cos, sin` of every rotated pair at `pos`, exactly as the CPU backend computes
/// them (`cpu::ops::rope`).
fn rope_table(
    pos: usize,
    dims: usize,
    base: f32,
    freq_scale: f32,
    factors: Option<&[f32]>,
) -> Vec<f32> {
    let theta_scale = base.powf(-2.0 / dims as f32);
    let mut theta = pos as f32;
    let mut table = Vec::with_capacity(dims);
    for i in 0..dims / 2 {
        let factor = factors.map_or(1.0, |f| f[i]);
        let (sin, cos) = (freq_scale * theta / factor).sin_cos();
        table.extend([cos, sin]);
        theta *= theta_scale;
    }
    table
}

impl GpuBackend<'_> {
    /// `y = W x` with the kernel for `weight`'s type; `layer` says where the
    /// tensor lives (`None`: outside the layers).
    fn matvec(
        &self,
        layer: Option<usize>,
        weight: &Weight,
        x: &DeviceBuffer<f32>,
        y: &DeviceBuffer<f32>,
    ) -> Result<(), EngineError> {
        self.matvecs(layer, x, &[(weight, y)])
    }

    /// Several `y = W x` with the same `x`, quantized once per activation format
    /// (the products are grouped by format).
    fn matvecs(
        &self,
        layer: Option<usize>,
        x: &DeviceBuffer<f32>,
        products: &[(&Weight, &DeviceBuffer<f32>)],
    ) -> Result<(), EngineError> {
        let quantizer = |w: &Weight| matvec_kernel(w.ty).and_then(|(_, q)| q.map(|(name, _)| name));
        let mut order: Vec<usize> = (0..products.len()).collect();
        order.sort_by_key(|&i| quantizer(products[i].0));
        let mut in_scratch = None;
        for i in order {
            let (weight, y) = products[i];
            self.matvec_once(layer, weight, x, y, &mut in_scratch)?;
        }
        Ok(())
    }

    /// One product of [`Self::matvecs`]; `in_scratch` names the quantizer whose
    /// output `scratch.xq` holds for this `x`, if any.
    fn matvec_once(
        &self,
        layer: Option<usize>,
        weight: &Weight,
        x: &DeviceBuffer<f32>,
        y: &DeviceBuffer<f32>,
        in_scratch: &mut Option<&'static str>,
    ) -> Result<(), EngineError> {
        let tensor = match layer {
            Some(il) => self.weights.layer(il)?.get(&weight.name),
            None => self.weights.global(&weight.name),
        }
        .ok_or_else(|| EngineError::MissingTensor(weight.name.clone()))?;
        let (name, quantizer) =
            matvec_kernel(weight.ty).ok_or_else(|| EngineError::UnsupportedTensorType {
                name: weight.name.clone(),
                ty: weight.ty,
            })?;
        let module = self.module(KernelModule::QuantMatvec);
        let function = module.function(name)?;
        if let Some((quantize, block)) = quantizer
            && *in_scratch != Some(quantize)
        {
            *in_scratch = Some(quantize);
            let blocks = (weight.cols / block) as u32;
            let quantize = module.function(quantize)?;
            // One warp per block.
            let config = LaunchConfig::for_elements(blocks as usize * self.warp_size, BLOCK)?;
            // SAFETY: rf_quantize_q8_{0,k}(const float* x, u8* out, u32 blocks): x holds
            // cols floats, xq room for the blocks of the widest input (sized at new).
            unsafe {
                self.stream
                    .launch(&quantize)
                    .arg(x)
                    .arg(&self.scratch.xq)
                    .arg(&blocks)
                    .run(config)
            }?;
        }
        let config = if quantizer.is_some() {
            // The _q8 kernels: one block per row.
            LaunchConfig {
                grid: (weight.rows as u32, 1, 1),
                block: (MATVEC_Q8_THREADS, 1, 1),
                shared_bytes: 0,
            }
        } else {
            // One warp per row.
            let rows_per_block = BLOCK as usize / self.warp_size;
            LaunchConfig {
                grid: (weight.rows.div_ceil(rows_per_block) as u32, 1, 1),
                block: (BLOCK, 1, 1),
                shared_bytes: 0,
            }
        };
        let (rows, cols) = (weight.rows as u32, weight.cols as u32);
        // Kernel: rf_matvec_<type>[_q8](const u8* w, const float* x | const u8* xq,
        // float* y, u32 rows, u32 cols).
        // SAFETY: the tensor holds rows x cols values of its type (checked at load), x
        // cols floats or xq their blocks (quantized above), y rows floats (scratch).
        unsafe {
            let launch = self.stream.launch(&function).arg(&tensor.data);
            let launch = if quantizer.is_some() {
                launch.arg(&self.scratch.xq)
            } else {
                launch.arg(x)
            };
            launch.arg(y).arg(&rows).arg(&cols).run(config)
        }?;
        Ok(())
    }

    /// `x += o`, then `y = x / rms(x) * w`, for one row of `cols` (y apart from x
    /// and o): a residual add and the next norm in one launch.
    fn add_rms_norm(
        &self,
        x: &DeviceBuffer<f32>,
        o: &DeviceBuffer<f32>,
        w: &DeviceBuffer<f32>,
        y: &DeviceBuffer<f32>,
        cols: usize,
        eps: f32,
    ) -> Result<(), EngineError> {
        let function = self
            .module(KernelModule::Reduce)
            .function("rf_add_rms_norm_f32")?;
        let (r, c) = (1u32, cols as u32);
        // SAFETY: rf_add_rms_norm_f32(float* x, const float* o, const float* w, float* y,
        // float eps, u32 rows, u32 cols); x, o, y hold cols floats, w cols; y is
        // another buffer than x and o.
        unsafe {
            self.stream
                .launch(&function)
                .arg(x)
                .arg(o)
                .arg(w)
                .arg(y)
                .arg(&eps)
                .arg(&r)
                .arg(&c)
                .run(LaunchConfig::per_row(1, norm_threads(cols))?)
        }?;
        Ok(())
    }

    /// `y = x / rms(x) * w` for `rows` rows of `cols` (y may be x).
    fn rms_norm(
        &self,
        x: &DeviceBuffer<f32>,
        w: &DeviceBuffer<f32>,
        y: &DeviceBuffer<f32>,
        rows: usize,
        cols: usize,
        eps: f32,
    ) -> Result<(), EngineError> {
        let function = self
            .module(KernelModule::Reduce)
            .function("rf_rms_norm_f32")?;
        let (r, c) = (rows as u32, cols as u32);
        // SAFETY: rf_rms_norm_f32(const float* x, const float* w, float* y, float eps,
        // u32 rows, u32 cols); x and y hold rows x cols floats, w cols.
        unsafe {
            self.stream
                .launch(&function)
                .arg(x)
                .arg(w)
                .arg(y)
                .arg(&eps)
                .arg(&r)
                .arg(&c)
                .run(LaunchConfig::per_row(rows, norm_threads(cols))?)
        }?;
        Ok(())
    }

    /// `y = a + b` over `n` floats (y may be a or b).
    fn add(
        &self,
        a: &DeviceBuffer<f32>,
        b: &DeviceBuffer<f32>,
        y: &DeviceBuffer<f32>,
        n: usize,
    ) -> Result<(), EngineError> {
        let function = self
            .module(KernelModule::Elementwise)
            .function("rf_add_f32")?;
        let count = n as u64;
        // SAFETY: rf_add_f32(const float* a, const float* b, float* y, u64 n); all hold n.
        unsafe {
            self.stream
                .launch(&function)
                .arg(a)
                .arg(b)
                .arg(y)
                .arg(&count)
                .run(LaunchConfig::for_elements(n, BLOCK)?)
        }?;
        Ok(())
    }

    /// `x *= alpha` over `n` floats.
    fn scale(&self, x: &DeviceBuffer<f32>, alpha: f32, n: usize) -> Result<(), EngineError> {
        let function = self
            .module(KernelModule::Elementwise)
            .function("rf_scale_f32")?;
        let count = n as u64;
        // SAFETY: rf_scale_f32(const float* x, float* y, float alpha, u64 n), in place.
        unsafe {
            self.stream
                .launch(&function)
                .arg(x)
                .arg(x)
                .arg(&alpha)
                .arg(&count)
                .run(LaunchConfig::for_elements(n, BLOCK)?)
        }?;
        Ok(())
    }

    /// Rotates the `n_head_q` query heads in `scratch.q` and the `n_head_k` key
    /// heads in `scratch.k` with `table` (cos, sin pairs), in one launch.
    fn rope_qk(
        &self,
        table: &DeviceView<'_, f32>,
        n_head_q: usize,
        n_head_k: usize,
        head_dim: usize,
        dims: usize,
        style: RopeStyle,
    ) -> Result<(), EngineError> {
        let function = self
            .module(KernelModule::Transformer)
            .function("rf_rope2_f32")?;
        let (hq, hk) = (n_head_q as u32, n_head_k as u32);
        let (hd, d) = (head_dim as u32, dims as u32);
        let neox = u32::from(style == RopeStyle::Neox);
        let config = LaunchConfig {
            grid: (hq + hk, 1, 1),
            block: (64, 1, 1),
            shared_bytes: 0,
        };
        // SAFETY: rf_rope2_f32(float* q, float* k, const float* cs, u32 n_head_q,
        // u32 n_head_k, u32 head_dim, u32 rope_dims, u32 neox); q holds n_head_q and k
        // n_head_k heads of head_dim floats, cs dims floats.
        unsafe {
            self.stream
                .launch(&function)
                .arg(&self.scratch.q)
                .arg(&self.scratch.k)
                .arg(table)
                .arg(&hq)
                .arg(&hk)
                .arg(&hd)
                .arg(&d)
                .arg(&neox)
                .run(config)
        }?;
        Ok(())
    }

    /// Stores the token's keys (`scratch.k`, `nk` floats) and values
    /// (`scratch.v`, `nv`) as f16 at the step's position of the two caches.
    fn store_kv(
        &self,
        keys: &DeviceBuffer<u16>,
        values: &DeviceBuffer<u16>,
        nk: usize,
        nv: usize,
    ) -> Result<(), EngineError> {
        let function = self
            .module(KernelModule::Transformer)
            .function("rf_store_kv_f16_at")?;
        let pos = self.scratch.step.slice(0..1)?;
        let (k_count, v_count) = (nk as u64, nv as u64);
        // SAFETY: rf_store_kv_f16_at(k, v, k_cache, v_cache, pos, nk, nv): k holds nk and
        // v nv floats, the caches `context` rows of nk and nv halves, and the position
        // in `pos` is below `context` (checked by `forward`).
        unsafe {
            self.stream
                .launch(&function)
                .arg(&self.scratch.k)
                .arg(&self.scratch.v)
                .arg(keys)
                .arg(values)
                .arg(&pos)
                .arg(&k_count)
                .arg(&v_count)
                .run(LaunchConfig::for_elements(nk + nv, BLOCK)?)
        }?;
        Ok(())
    }

    fn activation(&self, activation: Activation, n: usize) -> Result<(), EngineError> {
        let name = match activation {
            Activation::Silu => "rf_swiglu_f32",
            Activation::GeluTanh => "rf_geglu_f32",
        };
        let function = self.module(KernelModule::Transformer).function(name)?;
        let count = n as u64;
        // SAFETY: rf_{swi,ge}glu_f32(float* gate, const float* up, u64 n); both hold n.
        unsafe {
            self.stream
                .launch(&function)
                .arg(&self.scratch.gate)
                .arg(&self.scratch.up)
                .arg(&count)
                .run(LaunchConfig::for_elements(n, BLOCK)?)
        }?;
        Ok(())
    }

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
        linear::embedding_row(
            &model.token_embd,
            model.bytes(&model.token_embd),
            token as usize,
            &mut row,
        );
        if plan.embed_scale != 1.0 {
            row.iter_mut().for_each(|v| *v *= plan.embed_scale);
        }
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
        let (q_dim, k_dim, v_dim) = (c.n_head * hd, c.n_head_kv * hd, c.n_head_kv * hdv);
        for (il, (layer, w)) in plan.layers.iter().zip(&model.layers).enumerate() {
            let s = &self.scratch;
            let table = s.rope.slice(il * hd..(il + 1) * hd)?;
            let v = &self.layers[il];
            // The previous layer's residual add goes with this norm.
            if il == 0 {
                self.rms_norm(&s.x, &v.attn_norm, &s.h, 1, e, c.rms_eps)?;
            } else {
                self.add_rms_norm(&s.x, &s.o, &v.attn_norm, &s.h, e, c.rms_eps)?;
            }
            self.matvecs(
                Some(il),
                &s.h,
                &[(&w.wq, &s.q), (&w.wk, &s.k), (&w.wv, &s.v)],
            )?;
            for ((bias, out), n) in v
                .biases
                .iter()
                .zip([&s.q, &s.k, &s.v])
                .zip([q_dim, k_dim, v_dim])
            {
                if let Some(bias) = bias {
                    self.add(out, bias, out, n)?;
                }
            }
            if let (Some(qn), Some(kn)) = (&v.q_norm, &v.k_norm) {
                self.rms_norm(&s.q, qn, &s.q, c.n_head, hd, c.rms_eps)?;
                self.rms_norm(&s.k, kn, &s.k, c.n_head_kv, hd, c.rms_eps)?;
            }
            self.rope_qk(
                &table,
                c.n_head,
                c.n_head_kv,
                hd,
                plan.rope_dims,
                plan.rope_style,
            )?;
            if plan.scale_queries {
                self.scale(&s.q, plan.attn_scale, q_dim)?;
            }
            let (keys, values) = &self.cache[il];
            self.store_kv(keys, values, k_dim, v_dim)?;

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
            self.add_rms_norm(&s.x, &s.o, &v.ffn_norm, &s.h, e, c.rms_eps)?;
            self.matvecs(Some(il), &s.h, &[(&w.gate, &s.gate), (&w.up, &s.up)])?;
            self.activation(layer.activation, c.n_ff)?;
            self.matvec(Some(il), &w.down, &s.gate, &s.o)?;
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

impl Backend for GpuBackend<'_> {
    /// Runs the tokens one by one; `kv` only tracks the length (the keys and
    /// values live on the device, for one sequence).
    fn forward(
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
        logits.clear();
        if n == 0 {
            return Ok(());
        }
        let start = kv.len();
        check_batch(model, start, kv.capacity().min(self.context), tokens)?;
        let first_out = which.first_output(n);
        let mut row = vec![0f32; c.n_vocab];
        for (t, &token) in tokens.iter().enumerate() {
            self.prepare_step(model, plan, token, start + t)?;
            self.step(model, plan)?;
            if t >= first_out {
                let s = &self.scratch;
                self.rms_norm(&s.x, &self.output_norm, &s.h, 1, c.n_embd, c.rms_eps)?;
                self.matvec(None, &model.output, &s.h, &s.logits)?;
                self.stream
                    .download(&s.logits.slice(..c.n_vocab)?, &mut row)?;
                if let Some(cap) = plan.final_logit_softcap {
                    row.iter_mut().for_each(|l| *l = cap * (*l / cap).tanh());
                }
                logits.extend_from_slice(&row);
            }
        }
        kv.set_len(start + n);
        Ok(())
    }
}
