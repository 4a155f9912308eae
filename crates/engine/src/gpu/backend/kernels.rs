//! The backend's kernel launches: one method per kernel (or fused group), each
//! checking what it can and stating in its `SAFETY:` note what the kernel reads
//! and writes.

use rocmforge_gguf::GgmlType;
use rocmforge_hip::{DeviceBuffer, DeviceView, KernelArg, LaunchConfig};
use rocmforge_kernels::KernelModule;

use super::{BLOCK, GpuBackend};
use crate::EngineError;
use crate::config::{Activation, ModelConfig, RopeStyle};
use crate::gpu::DeviceTensor;
use crate::model::Weight;
use crate::plan::ExecutionPlan;

/// One product `y = W x (+ bias)` of a group that shares its input.
#[derive(Clone, Copy)]
pub(super) struct Product<'a> {
    pub weight: &'a Weight,
    pub out: &'a DeviceBuffer<f32>,
    /// Added to every output; in the product's own launch where it can be.
    pub bias: Option<&'a DeviceBuffer<f32>>,
}

impl<'a> Product<'a> {
    pub fn new(weight: &'a Weight, out: &'a DeviceBuffer<f32>) -> Self {
        Product {
            weight,
            out,
            bias: None,
        }
    }
}

/// Threads per block of the matrix-vector kernels on quantized activations (a
/// warp per row).
const MATVEC_Q8_THREADS: u32 = 128;

/// Input rows one launch of the batched matrix-vector kernels multiplies
/// (`RF_MV_BATCH` in kernels/quant_matvec.hip).
const MATVEC_BATCH: usize = 8;

/// Weights with fewer rows than this take a block of warps per row in the
/// quantized-activation kernels: a warp per row would leave too few warps to
/// keep the GPU's memory busy (an H100 holds 132 × 64 warps; the 4096-row
/// products of an 8B model reached 47 % of its bandwidth with a warp each).
const SPLIT_BELOW_ROWS: usize = 16384;
/// Input rows one warp of those kernels takes (`RF_MV_COLS`): a weight row
/// goes to as many warps as it needs for all the inputs.
const MATVEC_COLS: usize = 2;

/// The matrix-vector kernel for a weight type and the quantizer its activations
/// go through first (name, values per block), chosen as the CPU backend prepares
/// activations, so that both multiply the same numbers: Q8_0 blocks for the
/// Q8_0 family, Q8_K blocks for Q4_K and Q6_K, f16 rounding for F16 weights. The
/// other types multiply f32 activations (kernels for coverage, not yet tuned).
pub(super) fn matvec_kernel(ty: GgmlType) -> Option<(&'static str, Option<(&'static str, usize)>)> {
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
        // f32 activations, the weight decoded four values at a time.
        GgmlType::Q4_1 => ("rf_matvec_q4_1", None),
        GgmlType::Q5_1 => ("rf_matvec_q5_1", None),
        GgmlType::Q2_K => ("rf_matvec_q2_k", None),
        GgmlType::Q3_K => ("rf_matvec_q3_k", None),
        GgmlType::Q5_K => ("rf_matvec_q5_k", None),
        GgmlType::IQ4_NL => ("rf_matvec_iq4_nl", None),
        GgmlType::MXFP4 => ("rf_matvec_mxfp4", None),
        GgmlType::BF16 => ("rf_matvec_bf16", None),
        _ => return None,
    })
}

/// The quantizer (kernel name) that activations for `w` go through, if any.
fn quantizer(w: &Weight) -> Option<&'static str> {
    matvec_kernel(w.ty).and_then(|(_, q)| q.map(|(name, _)| name))
}

/// The activation format a quantizer writes, as the fused kernels name it
/// (`rf_rms_norm_<format>`, `rf_swiglu_<format>`, ...).
fn fused_format(quantizer: &str) -> Result<&'static str, EngineError> {
    match quantizer {
        "rf_quantize_q8_0" => Ok("q8_0"),
        "rf_quantize_q8_k" => Ok("q8_k"),
        other => Err(EngineError::InvalidConfig(format!(
            "no fused kernel quantizes as {other}"
        ))),
    }
}

/// Values per block of the fused activation-and-quantize kernels
/// (`RF_GLU_CHUNK` in kernels/quant_matvec.hip).
const GLU_CHUNK: usize = 1024;

/// Largest row the fused norm-and-quantize kernels take: its values sit in
/// shared memory (48 KiB, the limit every GPU grants without opting in).
const NORM_QUANTIZE_MAX_COLS: usize = 12 * 1024;

/// Threads per row for an RMS norm over `cols` values: about four values each
/// (a decode step normalises one row, which one block must not crawl through),
/// 64 to 1024 threads.
fn norm_threads(cols: usize) -> u32 {
    (cols.div_ceil(4).next_multiple_of(64)).clamp(64, 1024) as u32
}

impl GpuBackend<'_> {
    /// The device copy of `weight` (`layer`: where it lives, `None` outside the
    /// layers); a lazy layer is uploaded on first use.
    pub(super) fn tensor(
        &self,
        layer: Option<usize>,
        weight: &Weight,
    ) -> Result<&DeviceTensor, EngineError> {
        match layer {
            Some(il) => self.weights.layer(il)?.get(&weight.name),
            None => self.weights.global(&weight.name),
        }
        .ok_or_else(|| EngineError::MissingTensor(weight.name.clone()))
    }

    /// `y = W x` for `rows` input rows of `x` (each product's `y` taking `rows`
    /// rows of `W.rows`), several products on the same `x`, quantized once per
    /// activation format (the products are grouped by format); `layer` says
    /// where the tensors live (`None`: outside the layers).
    pub(super) fn matvecs(
        &self,
        layer: Option<usize>,
        x: &DeviceBuffer<f32>,
        products: &[(&Weight, &DeviceBuffer<f32>)],
        rows: usize,
    ) -> Result<(), EngineError> {
        let products: Vec<Product> = products.iter().map(|&(w, y)| Product::new(w, y)).collect();
        self.matvecs_quantized(layer, x, &products, None, rows)
    }

    /// [`Self::matvecs`] for products with biases, when `scratch.xq` may already
    /// hold `x` as the quantizer `quantized` writes it (the products needing that
    /// format go first).
    pub(super) fn matvecs_quantized(
        &self,
        layer: Option<usize>,
        x: &DeviceBuffer<f32>,
        products: &[Product<'_>],
        quantized: Option<&'static str>,
        rows: usize,
    ) -> Result<(), EngineError> {
        let mut order: Vec<usize> = (0..products.len()).collect();
        order.sort_by_key(|&i| {
            let q = quantizer(products[i].weight);
            (q != quantized || q.is_none(), q)
        });
        let mut in_scratch = quantized;
        let mut rest = &order[..];
        while let Some(&first) = rest.first() {
            // Products of one quantized type after each other go in one launch;
            // with several rows, so does a quantized product alone.
            let ty = products[first].weight.ty;
            let same = rest
                .iter()
                .take(3)
                .take_while(|&&i| products[i].weight.ty == ty)
                .count();
            let quantized_type = quantizer(products[first].weight).is_some();
            let done = if quantized_type && (same > 1 || rows > 1) {
                let group: Vec<_> = rest[..same].iter().map(|&i| products[i]).collect();
                self.matvec_group(layer, x, &group, &mut in_scratch, rows)?;
                same
            } else {
                let p = products[first];
                self.matvec_once(layer, p.weight, x, p.out, &mut in_scratch, rows)?;
                if let Some(bias) = p.bias {
                    self.add_bias(p.out, bias, p.weight.rows, rows * p.weight.rows)?;
                }
                1
            };
            rest = &rest[done..];
        }
        Ok(())
    }

    /// One to three products of one quantized type on one input of `rows` rows,
    /// in one launch of `rf_matvec3_<type>_q8` per row, or of
    /// `rf_matvec3x8_<type>_q8` per eight rows.
    fn matvec_group(
        &self,
        layer: Option<usize>,
        x: &DeviceBuffer<f32>,
        group: &[Product<'_>],
        in_scratch: &mut Option<&'static str>,
        rows: usize,
    ) -> Result<(), EngineError> {
        let first = group[0].weight;
        let Some((name, Some((quantize, block)))) = matvec_kernel(first.ty) else {
            return Err(EngineError::UnsupportedTensorType {
                name: first.name.clone(),
                ty: first.ty,
            });
        };
        self.quantize_input(x, first.cols, (quantize, block), in_scratch, rows)?;
        let kind = if rows > 1 {
            "rf_matvec3x8_"
        } else {
            "rf_matvec3_"
        };
        let name = name.replacen("rf_matvec_", kind, 1);
        let function = self.module(KernelModule::QuantMatvec).function(&name)?;
        let tensors = group
            .iter()
            .map(|p| self.tensor(layer, p.weight))
            .collect::<Result<Vec<_>, _>>()?;
        let outputs: Vec<usize> = (0..3)
            .map(|i| group.get(i).map_or(0, |p| p.weight.rows))
            .collect();
        let cols = first.cols as u32;
        let weight_rows: usize = outputs.iter().sum();
        // Bytes of one row's quantized activations.
        let row_bytes = first.cols / block * if block == 32 { 36 } else { 292 };
        debug_assert!(row_bytes * rows <= self.scratch.xq.len());
        // A null pointer: no bias for that product.
        let no_bias = 0u64;
        for first_row in (0..rows).step_by(MATVEC_BATCH) {
            let n = (rows - first_row).min(MATVEC_BATCH);
            let warps_per_row = if rows > 1 { n.div_ceil(MATVEC_COLS) } else { 1 };
            let (config, split) = self.matvec_q8_launch(weight_rows, warps_per_row);
            let xq = self.scratch.xq.slice(first_row * row_bytes..)?;
            let ys = (0..3)
                .map(|i| {
                    let p = group[i.min(group.len() - 1)];
                    let at = if i < group.len() {
                        first_row * p.weight.rows
                    } else {
                        0
                    };
                    p.out.slice(at..)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let counts: Vec<u32> = outputs.iter().map(|&r| r as u32).collect();
            let n32 = n as u32;
            // Kernel: rf_matvec3[x8]_<type>_q8(w0, w1, w2, xq, y0, y1, y2, b0, b1, b2,
            // rows0, rows1, rows2, cols[, n], split); an absent product has 0 rows and repeats
            // the first's pointers (never read).
            // SAFETY: every tensor holds its rows x cols values of the one type (checked
            // at load, same cols), xq from `first_row` on the n rows' blocks (quantized
            // above), each y from there n x its rows floats, each bias (or null) its
            // rows floats; n <= 8 (RF_MV_BATCH), 1 for the one-row kernel.
            unsafe {
                let mut launch = self.stream.launch(&function);
                for i in 0..3 {
                    launch = launch.arg(&tensors[i.min(tensors.len() - 1)].data);
                }
                launch = launch.arg(&xq);
                for y in &ys {
                    launch = launch.arg(y);
                }
                for i in 0..3 {
                    launch = match group.get(i).and_then(|p| p.bias) {
                        Some(bias) => launch.arg(bias),
                        None => launch.arg(&no_bias),
                    };
                }
                for r in &counts {
                    launch = launch.arg(r);
                }
                launch = launch.arg(&cols);
                if rows > 1 {
                    launch = launch.arg(&n32);
                }
                launch.arg(&split).run(config)
            }?;
        }
        Ok(())
    }

    /// The launch of a `_q8` kernel over `weight_rows` rows, each taken by
    /// `warps_per_row` warps' worth of inputs, and its `split` argument: a
    /// weight with fewer than [`SPLIT_BELOW_ROWS`] rows gets a block per row
    /// (and input group), its warps splitting the row; a larger one a warp.
    /// The choice depends on the weight alone, so a sequence's products sum in
    /// the same order in any batch.
    fn matvec_q8_launch(&self, weight_rows: usize, warps_per_row: usize) -> (LaunchConfig, u32) {
        let warps = weight_rows * warps_per_row;
        let split = weight_rows < SPLIT_BELOW_ROWS;
        let per_block = (MATVEC_Q8_THREADS as usize / self.warp_size).max(1);
        let blocks = if split {
            warps
        } else {
            warps.div_ceil(per_block)
        };
        let config = LaunchConfig {
            grid: (blocks as u32, 1, 1),
            block: (MATVEC_Q8_THREADS, 1, 1),
            shared_bytes: 0,
        };
        (config, u32::from(split))
    }

    /// Quantizes `rows` rows of `x` (`cols` values each) into `scratch.xq` with
    /// `quantize` (kernel, values per block) unless `in_scratch` says it already
    /// holds that.
    fn quantize_input(
        &self,
        x: &DeviceBuffer<f32>,
        cols: usize,
        (quantize, block): (&'static str, usize),
        in_scratch: &mut Option<&'static str>,
        rows: usize,
    ) -> Result<(), EngineError> {
        if *in_scratch == Some(quantize) {
            return Ok(());
        }
        *in_scratch = Some(quantize);
        let blocks = (rows * cols / block) as u32;
        let function = self.module(KernelModule::QuantMatvec).function(quantize)?;
        // One warp per block.
        let config = LaunchConfig::for_elements(blocks as usize * self.warp_size, BLOCK)?;
        // SAFETY: rf_quantize_q8_{0,k}(const float* x, u8* out, u32 blocks): x holds
        // rows x cols floats, xq room for the blocks of the widest input of every row
        // (sized with the scratch).
        unsafe {
            self.stream
                .launch(&function)
                .arg(x)
                .arg(&self.scratch.xq)
                .arg(&blocks)
                .run(config)
        }?;
        Ok(())
    }

    /// One product of [`Self::matvecs`] for `rows` rows; `in_scratch` names the
    /// quantizer whose output `scratch.xq` holds for this `x`, if any. Kernels on
    /// f32 activations take the rows one launch each.
    pub(super) fn matvec_once(
        &self,
        layer: Option<usize>,
        weight: &Weight,
        x: &DeviceBuffer<f32>,
        y: &DeviceBuffer<f32>,
        in_scratch: &mut Option<&'static str>,
        rows: usize,
    ) -> Result<(), EngineError> {
        let tensor = self.tensor(layer, weight)?;
        let (name, quantizer) =
            matvec_kernel(weight.ty).ok_or_else(|| EngineError::UnsupportedTensorType {
                name: weight.name.clone(),
                ty: weight.ty,
            })?;
        if let Some(quantize) = quantizer {
            if rows > 1 {
                let product = Product::new(weight, y);
                return self.matvec_group(layer, x, &[product], in_scratch, rows);
            }
            self.quantize_input(x, weight.cols, quantize, in_scratch, 1)?;
        }
        let function = self.module(KernelModule::QuantMatvec).function(name)?;
        let (config, split) = if quantizer.is_some() {
            self.matvec_q8_launch(weight.rows, 1)
        } else {
            // One warp per row.
            let rows_per_block = BLOCK as usize / self.warp_size;
            let config = LaunchConfig {
                grid: (weight.rows.div_ceil(rows_per_block) as u32, 1, 1),
                block: (BLOCK, 1, 1),
                shared_bytes: 0,
            };
            (config, 0)
        };
        let (w_rows, cols) = (weight.rows as u32, weight.cols as u32);
        for row in 0..rows {
            let x_row = x.slice(row * weight.cols..(row + 1) * weight.cols)?;
            let y_row = y.slice(row * weight.rows..(row + 1) * weight.rows)?;
            // Kernel: rf_matvec_<type>(const u8* w, const float* x, float* y, u32 rows,
            // u32 cols) or rf_matvec_<type>_q8(w, const u8* xq, y, rows, cols, u32 split).
            // SAFETY: the tensor holds rows x cols values of its type (checked at load),
            // x_row cols floats or xq their blocks (quantized above, one row), y_row rows
            // floats (scratch).
            unsafe {
                let launch = self.stream.launch(&function).arg(&tensor.data);
                match quantizer {
                    Some(_) => launch
                        .arg(&self.scratch.xq)
                        .arg(&y_row)
                        .arg(&w_rows)
                        .arg(&cols)
                        .arg(&split),
                    None => launch.arg(&x_row).arg(&y_row).arg(&w_rows).arg(&cols),
                }
                .run(config)
            }?;
        }
        Ok(())
    }

    /// `x += o`, then `y = x / rms(x) * w`, for `rows` rows of `cols` (y apart
    /// from x and o): a residual add and the next norm in one launch.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn add_rms_norm(
        &self,
        x: &DeviceBuffer<f32>,
        o: &DeviceBuffer<f32>,
        w: &DeviceBuffer<f32>,
        y: &DeviceBuffer<f32>,
        rows: usize,
        cols: usize,
        eps: f32,
    ) -> Result<(), EngineError> {
        self.norm_rows(x, Some(o), w, y, (rows, cols), eps)
    }

    /// `y = x / rms(x) * w` for `rows` rows of `cols` (y may be x).
    pub(super) fn rms_norm(
        &self,
        x: &DeviceBuffer<f32>,
        w: &DeviceBuffer<f32>,
        y: &DeviceBuffer<f32>,
        rows: usize,
        cols: usize,
        eps: f32,
    ) -> Result<(), EngineError> {
        self.norm_rows(x, None, w, y, (rows, cols), eps)
    }

    /// [`Self::rms_norm`], after `x += o` when `o` is given.
    fn norm_rows(
        &self,
        x: &DeviceBuffer<f32>,
        o: Option<&DeviceBuffer<f32>>,
        w: &DeviceBuffer<f32>,
        y: &DeviceBuffer<f32>,
        (rows, cols): (usize, usize),
        eps: f32,
    ) -> Result<(), EngineError> {
        let name = match o {
            Some(_) => "rf_add_rms_norm_f32",
            None => "rf_rms_norm_f32",
        };
        let function = self.module(KernelModule::Reduce).function(name)?;
        let (r, c) = (rows as u32, cols as u32);
        // SAFETY: rf_add_rms_norm_f32(float* x, const float* o, const float* w, float* y,
        // float eps, u32 rows, u32 cols) and rf_rms_norm_f32 without o; x, o, y hold rows x
        // cols floats, w cols; with o, y is another buffer than x and o.
        unsafe {
            let mut launch = self.stream.launch(&function).arg(x);
            if let Some(o) = o {
                launch = launch.arg(o);
            }
            launch
                .arg(w)
                .arg(y)
                .arg(&eps)
                .arg(&r)
                .arg(&c)
                .run(LaunchConfig::per_row(rows, norm_threads(cols))?)
        }?;
        Ok(())
    }

    /// The quantizer that a norm's output should go through in the norm's own
    /// launch, for the products that read it (`None`: norm and quantize apart).
    pub(super) fn norm_quantizer(
        &self,
        products: &[Product<'_>],
        cols: usize,
    ) -> Option<&'static str> {
        if cols > NORM_QUANTIZE_MAX_COLS {
            return None;
        }
        products.first().and_then(|p| quantizer(p.weight))
    }

    /// Each of `rows` rows of `cols`: `x += o` when `o` is given, `y = x /
    /// rms(x) * w`, and `y` quantized into `scratch.xq` as `quantizer` would, in
    /// one launch (`quantizer` from [`Self::norm_quantizer`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn rms_norm_quantized(
        &self,
        x: &DeviceBuffer<f32>,
        o: Option<&DeviceBuffer<f32>>,
        w: &DeviceBuffer<f32>,
        y: &DeviceBuffer<f32>,
        (rows, cols): (usize, usize),
        eps: f32,
        quantizer: &'static str,
    ) -> Result<(), EngineError> {
        let function = self
            .module(KernelModule::QuantMatvec)
            .function(&format!("rf_rms_norm_{}", fused_format(quantizer)?))?;
        let c = cols as u32;
        // A null pointer: the kernel skips the residual add.
        let no_residual = 0u64;
        let mut config = LaunchConfig::per_row(rows, norm_threads(cols))?;
        config.shared_bytes = (cols * size_of::<f32>()) as u32;
        // Kernel: rf_rms_norm_q8_{0,k}(float* x, const float* o, const float* w, float* y,
        // u8* q, float eps, u32 cols), a block per row; shared memory at most
        // NORM_QUANTIZE_MAX_COLS floats (checked by the caller through `norm_quantizer`).
        // SAFETY: x, o (or null) and y hold rows x cols floats, w cols, y apart from x
        // and o; xq has room for the blocks of the widest input of every row; cols
        // floats of shared memory are given.
        unsafe {
            let launch = self.stream.launch(&function).arg(x);
            let launch = match o {
                Some(o) => launch.arg(o),
                None => launch.arg(&no_residual),
            };
            launch
                .arg(w)
                .arg(y)
                .arg(&self.scratch.xq)
                .arg(&eps)
                .arg(&c)
                .run(config)
        }?;
        Ok(())
    }

    /// `y = a + b` over `n` floats (y may be a or b).
    pub(super) fn add(
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

    /// `y[i] += bias[i % cols]` over `n` floats: a bias on every row.
    pub(super) fn add_bias(
        &self,
        y: &DeviceBuffer<f32>,
        bias: &DeviceBuffer<f32>,
        cols: usize,
        n: usize,
    ) -> Result<(), EngineError> {
        let function = self
            .module(KernelModule::Elementwise)
            .function("rf_add_bias_f32")?;
        let (c, count) = (cols as u64, n as u64);
        // SAFETY: rf_add_bias_f32(float* y, const float* bias, u64 cols, u64 n); y holds
        // n floats, bias cols.
        unsafe {
            self.stream
                .launch(&function)
                .arg(y)
                .arg(bias)
                .arg(&c)
                .arg(&count)
                .run(LaunchConfig::for_elements(n, BLOCK)?)
        }?;
        Ok(())
    }

    /// `x *= alpha` over `n` floats.
    pub(super) fn scale(
        &self,
        x: &DeviceBuffer<f32>,
        alpha: f32,
        n: usize,
    ) -> Result<(), EngineError> {
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

    /// Rotates the query heads in `q` and the key heads in `k` of `rows` tokens
    /// of one sequence with `table` (cos, sin pairs; `head_dim` floats per
    /// token), and stores the keys and the values `v` as f16 into `caches` (layer
    /// `il`'s) from the position in `scratch.step[0]` on, in one launch; then
    /// scales the queries where the plan applies the attention scale to them.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn rope_store(
        &self,
        (q, k, v): (&DeviceBuffer<f32>, &DeviceBuffer<f32>, &DeviceBuffer<f32>),
        rows: usize,
        table: &DeviceView<'_, f32>,
        (keys, values): (&DeviceBuffer<u16>, &DeviceBuffer<u16>),
        plan: &ExecutionPlan,
        c: &ModelConfig,
    ) -> Result<(), EngineError> {
        let pos = self.scratch.step.slice(0..1)?;
        // Kernel: rf_rope_store_f32(q, k, v, cs, k_cache, v_cache, pos, n_head_q, n_head_k,
        // head_dim, head_dim_v, rope_dims, neox).
        // SAFETY: q, k and v hold `rows` tokens' heads, cs rows x head_dim floats; the
        // caches hold `context` positions of n_head_kv heads and pos[0] + rows <=
        // `context` (checked by `forward`).
        self.rope_launch(
            "rf_rope_store_f32",
            (q, k, v),
            rows,
            table,
            [keys, values],
            &pos,
            plan,
            c,
        )
    }

    /// [`Self::rope_store`] for one token of each of `rows` sequences (a decode
    /// step): row r's keys and values go to its own sequence's caches of layer
    /// `il` at its own position, all read from the step's buffers.
    pub(super) fn rope_store_seqs(
        &self,
        (q, k, v): (&DeviceBuffer<f32>, &DeviceBuffer<f32>, &DeviceBuffer<f32>),
        rows: usize,
        table: &DeviceView<'_, f32>,
        il: usize,
        plan: &ExecutionPlan,
        c: &ModelConfig,
    ) -> Result<(), EngineError> {
        let all = self.scratch.rows;
        let keys = self
            .scratch
            .caches
            .slice(2 * all * il..2 * all * il + rows)?;
        let values = self
            .scratch
            .caches
            .slice(2 * all * il + all..2 * all * il + all + rows)?;
        let pos = self.scratch.step.slice(0..rows)?;
        // Kernel: rf_rope_store_seqs_f32(q, k, v, cs, k_caches, v_caches, pos, n_head_q,
        // n_head_k, head_dim, head_dim_v, rope_dims, neox).
        // SAFETY: q, k and v hold `rows` tokens' heads, cs rows x head_dim floats; the
        // step's addresses are those of live caches of `context` positions of n_head_kv
        // heads (the slots, written by prepare_step) and each pos[r] < `context`
        // (checked by `forward_batch`).
        self.rope_launch(
            "rf_rope_store_seqs_f32",
            (q, k, v),
            rows,
            table,
            [&keys, &values],
            &pos,
            plan,
            c,
        )
    }

    /// The launch of either rope-and-store kernel (`caches`: the caches or the
    /// tables of their addresses), then the query scale.
    #[allow(clippy::too_many_arguments)]
    fn rope_launch(
        &self,
        name: &str,
        (q, k, v): (&DeviceBuffer<f32>, &DeviceBuffer<f32>, &DeviceBuffer<f32>),
        rows: usize,
        table: &DeviceView<'_, f32>,
        caches: [&dyn KernelArg; 2],
        pos: &DeviceView<'_, u32>,
        plan: &ExecutionPlan,
        c: &ModelConfig,
    ) -> Result<(), EngineError> {
        let (dims, style) = (plan.rope_dims, plan.rope_style);
        let function = self.module(KernelModule::Transformer).function(name)?;
        let heads = [c.n_head, c.n_head_kv, c.head_dim, c.head_dim_v, dims].map(|n| n as u32);
        let neox = u32::from(style == RopeStyle::Neox);
        let config = LaunchConfig {
            grid: ((c.n_head + 2 * c.n_head_kv) as u32, rows as u32, 1),
            block: (64, 1, 1),
            shared_bytes: 0,
        };
        // SAFETY: see the callers.
        unsafe {
            let mut launch = self
                .stream
                .launch(&function)
                .arg(q)
                .arg(k)
                .arg(v)
                .arg(table)
                .arg(caches[0])
                .arg(caches[1])
                .arg(pos);
            for n in &heads {
                launch = launch.arg(n);
            }
            launch.arg(&neox).run(config)
        }?;
        if plan.scale_queries {
            self.scale(q, plan.attn_scale, rows * c.n_head * c.head_dim)?;
        }
        Ok(())
    }

    /// Attention of one query token of each of `rows` sequences (`scratch.q`)
    /// over its own caches of layer `il`, into `scratch.attn`; spans and cache
    /// addresses come from the step's buffers.
    pub(super) fn attend_seqs(
        &self,
        rows: usize,
        il: usize,
        plan: &ExecutionPlan,
        c: &ModelConfig,
        quantized: Option<&'static str>,
    ) -> Result<(), EngineError> {
        let s = &self.scratch;
        let all = s.rows;
        let keys = s.caches.slice(2 * all * il..2 * all * il + rows)?;
        let values = s
            .caches
            .slice(2 * all * il + all..2 * all * il + all + rows)?;
        let spans = s
            .step
            .slice(all + 2 * all * il..all + 2 * all * il + 2 * rows)?;
        let scale = if plan.scale_queries {
            1.0
        } else {
            plan.attn_scale
        };
        let function = self
            .module(KernelModule::Transformer)
            .function("rf_attend_f16_seqs")?;
        let heads = [c.n_head, c.n_head_kv, c.head_dim, c.head_dim_v].map(|n| n as u32);
        let stride = self.context as u32;
        let config = LaunchConfig {
            grid: (c.n_head as u32, rows as u32, 1),
            block: (BLOCK, 1, 1),
            shared_bytes: 0,
        };
        // Kernel: rf_attend_f16_seqs(q, k_caches, v_caches, out, scores, n_head, n_head_kv,
        // head_dim, head_dim_v, spans, stride, scale, q8).
        // SAFETY: q holds rows x n_head x head_dim floats, out rows x n_head x head_dim_v
        // and scores rows x n_head x context; the addresses are those of live caches of
        // `context` positions (the slots, written by prepare_step) and each span ends at
        // most at `context` (checked by `forward_batch`); xq has room for every row's
        // n_head x head_dim_v values as Q8_0 blocks (its widest input).
        unsafe {
            let mut launch = self
                .stream
                .launch(&function)
                .arg(&s.q)
                .arg(&keys)
                .arg(&values)
                .arg(&s.attn)
                .arg(&s.scores);
            for a in &heads {
                launch = launch.arg(a);
            }
            let launch = launch.arg(&spans).arg(&stride).arg(&scale);
            match quantized {
                Some(_) => launch.arg(&s.xq),
                // A null pointer: no quantized copy.
                None => launch.arg(&0u64),
            }
            .run(config)
        }?;
        Ok(())
    }

    /// The quantizer that the output product's input goes through, applied by
    /// the attention launch itself: Q8_0 blocks, which a head's outputs fill
    /// whole (`None`: quantized apart, or not at all).
    pub(super) fn attention_quantizer(&self, wo: &Weight, c: &ModelConfig) -> Option<&'static str> {
        quantizer(wo).filter(|&q| q == "rf_quantize_q8_0" && c.head_dim_v.is_multiple_of(32))
    }

    /// The quantizer that the down product's input goes through, applied by the
    /// activation's own launch (`None`: activation and quantization apart).
    pub(super) fn glu_quantizer(&self, down: &Weight) -> Option<&'static str> {
        quantizer(down)
    }

    /// `gate = act(gate) * up` over `n` floats, then `gate` quantized into
    /// `scratch.xq` as `quantizer` would (from [`Self::glu_quantizer`]): one launch.
    pub(super) fn activation_quantized(
        &self,
        activation: Activation,
        (gate, up): (&DeviceBuffer<f32>, &DeviceBuffer<f32>),
        n: usize,
        quantizer: &'static str,
    ) -> Result<(), EngineError> {
        let act = match activation {
            Activation::Silu => "swiglu",
            Activation::GeluTanh => "geglu",
        };
        let function = self
            .module(KernelModule::QuantMatvec)
            .function(&format!("rf_{act}_{}", fused_format(quantizer)?))?;
        let count = n as u32;
        let config = LaunchConfig::per_row(n.div_ceil(GLU_CHUNK), BLOCK)?;
        // SAFETY: rf_{swi,ge}glu_q8_{0,k}(float* gate, const float* up, u8* q, u32 n);
        // gate and up hold n floats (a multiple of the format's block), xq room for
        // the blocks of the widest input.
        unsafe {
            self.stream
                .launch(&function)
                .arg(gate)
                .arg(up)
                .arg(&self.scratch.xq)
                .arg(&count)
                .run(config)
        }?;
        Ok(())
    }

    /// `gate = act(gate) * up` over `n` floats.
    pub(super) fn activation(
        &self,
        activation: Activation,
        (gate, up): (&DeviceBuffer<f32>, &DeviceBuffer<f32>),
        n: usize,
    ) -> Result<(), EngineError> {
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
                .arg(gate)
                .arg(up)
                .arg(&count)
                .run(LaunchConfig::for_elements(n, BLOCK)?)
        }?;
        Ok(())
    }
}
