//! Dot products of quantized weight rows with quantized activations.
//!
//! This follows ggml's CPU matrix multiplication: activations are first quantized to
//! the weight type's "vec_dot type" ([`act_format`]), then every output is an
//! integer dot product per block, scaled by the block scales exactly as ggml's
//! `ggml_vec_dot_*` functions do. Results therefore agree with llama.cpp up to the
//! order in which floats are summed.
//!
//! [`matmul`] splits the weight rows over rayon's thread pool. With several
//! activation rows (prefill) each weight row is decoded once per tile of up to
//! [`TILE`] tokens. AVX2 kernels (with FMA and F16C) are used when the CPU has them;
//! a portable scalar path gives the same results up to float rounding.

mod act;
mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(test)]
mod tests;

use std::ops::Range;
use std::sync::OnceLock;

use rayon::prelude::*;
use rocmforge_gguf::GgmlType;

/// Tokens processed together against one decoded weight block.
pub const TILE: usize = 8;

/// The format activations are quantized to before multiplying with a weight type
/// (ggml's `vec_dot_type`).
#[allow(non_camel_case_types)] // ggml's names, kept verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActFormat {
    /// Plain `f32` values.
    F32,
    /// IEEE half precision, rounded to nearest even.
    F16,
    /// bfloat16, rounded to nearest even.
    BF16,
    /// `block_q8_0`: 32 values, an f16 scale.
    Q8_0,
    /// `block_q8_1`: 32 values, an f16 scale and the f16 scaled sum.
    Q8_1,
    /// `block_q8_K`: 256 values, an f32 scale and sums per 16 values.
    Q8_K,
}

impl ActFormat {
    /// The ggml type whose blocks hold activations of this format.
    pub const fn ggml_type(self) -> GgmlType {
        match self {
            Self::F32 => GgmlType::F32,
            Self::F16 => GgmlType::F16,
            Self::BF16 => GgmlType::BF16,
            Self::Q8_0 => GgmlType::Q8_0,
            Self::Q8_1 => GgmlType::Q8_1,
            Self::Q8_K => GgmlType::Q8_K,
        }
    }

    /// Values per block (1 for the float formats).
    pub const fn block_size(self) -> usize {
        self.ggml_type().block_size()
    }
}

/// The activation format that weights of type `weight` multiply with, or `None` when
/// matrix multiplication with `weight` is not supported here.
pub fn act_format(weight: GgmlType) -> Option<ActFormat> {
    use GgmlType as T;
    Some(match weight {
        T::F32 => ActFormat::F32,
        T::F16 => ActFormat::F16,
        T::BF16 => ActFormat::BF16,
        T::Q4_0 | T::Q5_0 | T::Q8_0 | T::IQ4_NL | T::MXFP4 => ActFormat::Q8_0,
        T::Q4_1 | T::Q5_1 => ActFormat::Q8_1,
        T::Q2_K | T::Q3_K | T::Q4_K | T::Q5_K | T::Q6_K | T::IQ4_XS => ActFormat::Q8_K,
        _ => return None,
    })
}

/// Activations: `rows` vectors (tokens) of `cols` values, quantized to a format.
///
/// The buffer is kept between calls to [`QuantizedActs::quantize`], so one value per
/// format can be reused for every token without allocating.
#[derive(Debug, Clone)]
pub struct QuantizedActs {
    format: ActFormat,
    rows: usize,
    cols: usize,
    /// Bytes per row.
    row_bytes: usize,
    /// The rows, back to back; `u32` storage aligns every block type's fields.
    buf: Vec<u32>,
}

impl QuantizedActs {
    /// An empty buffer for activations of `format`.
    pub fn new(format: ActFormat) -> Self {
        Self {
            format,
            rows: 0,
            cols: 0,
            row_bytes: 0,
            buf: Vec::new(),
        }
    }

    /// Quantizes `x`, rows of `cols` values each, replacing the previous contents.
    ///
    /// Quantization follows ggml-cpu on x86 with AVX2: Q8_0 and Q8_1 round to nearest
    /// even with the scale `127 / max|x|`, Q8_K is ggml's reference quantizer, the
    /// half formats round to nearest even.
    ///
    /// # Panics
    /// If `cols` is zero, not a multiple of the format's block size, or does not
    /// divide `x.len()`. These are programming errors of the caller.
    pub fn quantize(&mut self, x: &[f32], cols: usize) {
        let bs = self.format.block_size();
        assert!(
            cols > 0 && cols.is_multiple_of(bs),
            "activation width {cols} is not a positive multiple of the block size {bs}"
        );
        assert!(
            x.len().is_multiple_of(cols),
            "{} activation values are not whole rows of {cols}",
            x.len()
        );
        let ty = self.format.ggml_type();
        let rows = x.len() / cols;
        let row_bytes = cols / bs * ty.type_size();
        self.rows = rows;
        self.cols = cols;
        self.row_bytes = row_bytes;
        self.buf.clear();
        self.buf.resize((rows * row_bytes).div_ceil(4), 0);
        let format = self.format;
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut self.buf);
        let bytes = &mut bytes[..rows * row_bytes];
        if rows > 1 && x.len() >= 8192 {
            bytes
                .par_chunks_mut(row_bytes)
                .zip(x.par_chunks(cols))
                .for_each(|(dst, src)| act::quantize_row(format, src, dst));
        } else {
            for (dst, src) in bytes.chunks_exact_mut(row_bytes).zip(x.chunks_exact(cols)) {
                act::quantize_row(format, src, dst);
            }
        }
    }

    /// Number of activation vectors (tokens).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Values per activation vector.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The format the values are stored in.
    pub fn format(&self) -> ActFormat {
        self.format
    }

    /// The quantized bytes of row `t` (ggml's block layout for the format).
    ///
    /// # Panics
    /// If `t >= self.rows()`.
    pub fn row(&self, t: usize) -> &[u8] {
        assert!(t < self.rows, "activation row {t} of {}", self.rows);
        let bytes: &[u8] = bytemuck::cast_slice(&self.buf);
        &bytes[t * self.row_bytes..(t + 1) * self.row_bytes]
    }
}

/// Why a [`WeightMatrix`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatrixError {
    /// No kernel multiplies weights of this type.
    #[error("matrix multiplication with {0} weights is not supported")]
    UnsupportedType(GgmlType),
    /// The row length is not a whole number of blocks.
    #[error("{ty}: {cols} columns is not a multiple of the block size {block_size}")]
    NotBlockMultiple {
        /// The weight type.
        ty: GgmlType,
        /// Columns given.
        cols: usize,
        /// Elements per block of `ty`.
        block_size: usize,
    },
    /// The data does not hold exactly `rows * cols` elements.
    #[error("{ty}: {rows}x{cols} matrix needs {expected} bytes, got {actual}")]
    LengthMismatch {
        /// The weight type.
        ty: GgmlType,
        /// Rows given.
        rows: usize,
        /// Columns given.
        cols: usize,
        /// Bytes the shape needs.
        expected: usize,
        /// Bytes given.
        actual: usize,
    },
}

/// A weight matrix as stored in GGUF: `rows` rows of `cols` elements of type `ty`,
/// row-major and contiguous.
#[derive(Debug, Clone, Copy)]
pub struct WeightMatrix<'a> {
    /// Element type.
    pub ty: GgmlType,
    /// Number of rows (outputs).
    pub rows: usize,
    /// Elements per row (inputs).
    pub cols: usize,
    /// The raw bytes, `rows * row_bytes`.
    pub data: &'a [u8],
    /// The same rows regrouped by [`interleave`], where that was done.
    pub interleaved: Option<&'a [u8]>,
}

/// `data` (`rows` rows of `cols` values of `ty`) regrouped eight rows at a time
/// for the interleaved kernel of this CPU, as llama.cpp repacks such weights;
/// `None` where there is no such kernel (the plain rows are used).
pub fn interleave(ty: GgmlType, data: &[u8], rows: usize, cols: usize) -> Option<Vec<u8>> {
    #[cfg(target_arch = "x86_64")]
    if simd_level() == Level::Avx2 {
        return x86::interleave(ty, data, rows, cols);
    }
    let _ = (ty, data, rows, cols);
    None
}

impl<'a> WeightMatrix<'a> {
    /// Checks the type and shape against the data.
    pub fn new(
        ty: GgmlType,
        rows: usize,
        cols: usize,
        data: &'a [u8],
    ) -> Result<Self, MatrixError> {
        if act_format(ty).is_none() {
            return Err(MatrixError::UnsupportedType(ty));
        }
        let block_size = ty.block_size();
        if !cols.is_multiple_of(block_size) {
            return Err(MatrixError::NotBlockMultiple {
                ty,
                cols,
                block_size,
            });
        }
        let expected = (cols / block_size)
            .checked_mul(ty.type_size())
            .and_then(|b| b.checked_mul(rows));
        if expected != Some(data.len()) {
            return Err(MatrixError::LengthMismatch {
                ty,
                rows,
                cols,
                expected: expected.unwrap_or(usize::MAX),
                actual: data.len(),
            });
        }
        Ok(Self {
            ty,
            rows,
            cols,
            data,
            interleaved: None,
        })
    }

    /// The same matrix with its rows also regrouped (`interleaved`, from
    /// [`interleave`] on the same data), which the kernels then read instead.
    pub fn with_interleaved(mut self, interleaved: Option<&'a [u8]>) -> Self {
        self.interleaved = interleaved;
        self
    }

    /// Bytes per row.
    pub fn row_bytes(&self) -> usize {
        self.cols / self.ty.block_size() * self.ty.type_size()
    }

    /// The bytes of row `r`.
    ///
    /// # Panics
    /// If `r >= self.rows`.
    pub fn row(&self, r: usize) -> &'a [u8] {
        assert!(r < self.rows, "weight row {r} of {}", self.rows);
        let rb = self.row_bytes();
        &self.data[r * rb..(r + 1) * rb]
    }
}

/// `out[t * w.rows + r] = dot(row r of w, activation row t)` for every token
/// `t < acts.rows()` and weight row `r < w.rows`.
///
/// # Panics
/// If `acts.format()` is not `act_format(w.ty)`, `acts.cols() != w.cols`, or
/// `out.len() != acts.rows() * w.rows` (programming errors of the caller).
pub fn matmul(w: &WeightMatrix, acts: &QuantizedActs, out: &mut [f32]) {
    matmul_rows(w, acts, 0..w.rows, out);
}

/// How the activation rows of a product relate, which decides the order its
/// sums are added in (each order is llama.cpp's for that case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Summation {
    /// Consecutive tokens of one sequence: llama.cpp's batch kernels (4-token
    /// groups of its repacked kernels, its tiled K-quant product from 8 tokens).
    #[default]
    Batch,
    /// Tokens of different sequences decoded together: each result equals the
    /// one-token product's bit for bit, so a sequence's tokens do not depend on
    /// what else is in the batch.
    PerToken,
}

/// [`matmul`] with the summation order chosen by the caller.
pub fn matmul_as(w: &WeightMatrix, acts: &QuantizedActs, out: &mut [f32], summation: Summation) {
    matmul_with(w, acts, 0..w.rows, out, simd_level(), summation);
}

/// Like [`matmul`] for the weight rows `rows` only:
/// `out[t * rows.len() + (r - rows.start)]`.
///
/// # Panics
/// As [`matmul`], and if `rows` is not within `0..w.rows` or
/// `out.len() != acts.rows() * rows.len()`.
pub fn matmul_rows(w: &WeightMatrix, acts: &QuantizedActs, rows: Range<usize>, out: &mut [f32]) {
    matmul_with(w, acts, rows, out, simd_level(), Summation::Batch);
}

/// Which kernels run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// Portable Rust.
    Scalar,
    /// AVX2 with FMA and F16C.
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

/// The best kernels this CPU runs, detected once.
pub(crate) fn simd_level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c")
        {
            return Level::Avx2;
        }
        Level::Scalar
    })
}

/// Computes `out[i] = dot(w, acts[i])` for up to [`TILE`] activation rows.
/// All slices have the lengths of whole rows; `out.len() == acts.len()`.
pub(crate) type TileFn = fn(w: &[u8], acts: &[&[u8]], out: &mut [f32]);

/// Like [`TileFn`], summing as llama.cpp's repacked 8-row kernels do; the first
/// `gemm` tokens of the tile belong to 4-token groups (its GEMM kernel), the
/// others are single rows (its GEMV kernel).
pub(crate) type RepackedFn = fn(w: &[u8], acts: &[&[u8]], out: &mut [f32], gemm: usize);

/// Like [`RepackedFn`] for eight weight rows at once, one row per SIMD lane;
/// `out` holds `acts.len()` tokens × 8 rows.
pub(crate) type Rows8Fn = fn(rows: &[&[u8]; 8], acts: &[&[u8]], out: &mut [f32], gemm: usize);

/// Like [`Rows8Fn`] for eight rows regrouped by [`interleave`] (`group`: the
/// group's blocks), summing as the eight-row kernel does.
pub(crate) type InterleavedFn = fn(group: &[u8], acts: &[&[u8]], out: &mut [f32], gemm: usize);

/// Like [`TileFn`] for four weight rows at once, each output summed exactly as
/// the one-row kernel sums it; `out` holds `acts.len()` tokens × 4 rows.
pub(crate) type Rows4Fn = fn(rows: &[&[u8]; 4], acts: &[&[u8]], out: &mut [f32]);

/// A kernel and the summation order it follows.
#[derive(Clone, Copy)]
enum Kernel {
    /// Any other order (ggml's `vec_dot`, its tiled K-quant kernel, or plain
    /// scalar order), with a four-row variant where there is one.
    Tile(TileFn, Option<Rows4Fn>),
    /// The order of llama.cpp's repacked kernels, with an eight-row variant
    /// where there is one.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    Repacked(RepackedFn, Option<Rows8Fn>),
}

#[cfg(target_arch = "x86_64")]
/// Whether llama.cpp's x86 build (AVX2) repacks weights of type `ty` with `rows`
/// rows into 8-row interleaved blocks, which changes the order its matrix
/// products add floats in (`ggml_repack_get_optimal_repack_type`).
fn repacked_by_llama_cpp(ty: GgmlType, rows: usize) -> bool {
    use GgmlType as T;
    matches!(ty, T::Q4_0 | T::IQ4_NL | T::MXFP4 | T::Q4_K) && rows.is_multiple_of(8)
}

#[cfg(target_arch = "x86_64")]
/// Batches of at least this many tokens take ggml-cpu's tiled K-quant matrix
/// product (`ggml_tiled_min_batch`), which sums in another order.
const LLAMA_CPP_TILED_MIN_TOKENS: usize = 8;

/// The kernel for a `rows`-row matrix of type `ty` multiplied with `tokens`
/// activation rows at `level`.
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
fn kernel(ty: GgmlType, rows: usize, tokens: usize, level: Level) -> Kernel {
    match level {
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => {
            if repacked_by_llama_cpp(ty, rows) {
                if let Some(k) = x86::repacked_kernel(ty) {
                    return Kernel::Repacked(k, x86::repacked_rows8_kernel(ty));
                }
            } else if tokens >= LLAMA_CPP_TILED_MIN_TOKENS
                && let Some(k) = x86::tiled_kernel(ty)
            {
                return Kernel::Tile(k, None);
            }
            match x86::kernel(ty) {
                Some(k) => Kernel::Tile(k, x86::rows4_kernel(ty)),
                None => Kernel::Tile(scalar::kernel(ty), None),
            }
        }
        Level::Scalar => Kernel::Tile(scalar::kernel(ty), None),
    }
}

/// The interleaved kernel, the bytes of one group's block, and the regrouped rows.
type Interleaved<'a> = (InterleavedFn, usize, &'a [u8]);

/// The interleaved kernel for `w` at `level`, where `w` carries regrouped rows.
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
fn interleaved_kernel<'a>(w: &WeightMatrix<'a>, level: Level) -> Option<Interleaved<'a>> {
    #[cfg(target_arch = "x86_64")]
    if level == Level::Avx2
        && let Some(bytes) = w.interleaved
    {
        return x86::interleaved_kernel(w.ty).map(|(k, block_bytes)| (k, block_bytes, bytes));
    }
    None
}

/// Below this many multiply-adds a call runs on the calling thread.
const PARALLEL_MIN_MACS: usize = 1 << 17;

/// Target bytes of weights per task when several tokens reuse them (fits in L2).
const PREFILL_CHUNK_BYTES: usize = 96 * 1024;

/// [`matmul_rows`] with an explicit kernel level.
pub(crate) fn matmul_with(
    w: &WeightMatrix,
    acts: &QuantizedActs,
    rows: Range<usize>,
    out: &mut [f32],
    level: Level,
    summation: Summation,
) {
    assert_eq!(
        Some(acts.format()),
        act_format(w.ty),
        "{} weights need other activations",
        w.ty
    );
    assert_eq!(acts.cols(), w.cols, "activation width vs weight columns");
    assert!(
        rows.start <= rows.end && rows.end <= w.rows,
        "rows {rows:?} outside 0..{}",
        w.rows
    );
    let nr = rows.len();
    let nt = acts.rows();
    assert_eq!(
        out.len(),
        nr * nt,
        "output length vs {nt} tokens x {nr} rows"
    );
    if nr == 0 || nt == 0 {
        return;
    }
    // Per-token sums are those of a one-token product.
    let (kernel_tokens, grouped) = match summation {
        Summation::Batch => (nt, nt - nt % 4),
        Summation::PerToken => (1, 0),
    };
    let k = kernel(w.ty, w.rows, kernel_tokens, level);
    let interleaved = interleaved_kernel(w, level);
    let threads = rayon::current_num_threads();
    let sequential = threads == 1 || nr * w.cols * nt < PARALLEL_MIN_MACS;

    if nt == 1 {
        if sequential {
            run_chunk(
                w,
                acts,
                (k, interleaved),
                grouped,
                rows.start,
                out.len(),
                |_, i, v| out[i] = v,
            );
            return;
        }
        // Multiples of eight rows suit the eight-row kernels.
        let chunk = nr.div_ceil(threads * 8).clamp(16, 1024).next_multiple_of(8);
        out.par_chunks_mut(chunk).enumerate().for_each(|(c, o)| {
            run_chunk(
                w,
                acts,
                (k, interleaved),
                grouped,
                rows.start + c * chunk,
                o.len(),
                |_, i, v| o[i] = v,
            );
        });
        return;
    }

    if sequential {
        run_chunk(
            w,
            acts,
            (k, interleaved),
            grouped,
            rows.start,
            nr,
            |t, i, v| out[t * nr + i] = v,
        );
        return;
    }
    let by_bytes = (PREFILL_CHUNK_BYTES / w.row_bytes().max(1)).max(4);
    let chunk = nr
        .div_ceil(threads * 4)
        .clamp(4, by_bytes.max(4))
        .next_multiple_of(8);
    let nchunks = nr.div_ceil(chunk);
    let mut pieces: Vec<Vec<&mut [f32]>> = (0..nchunks).map(|_| Vec::with_capacity(nt)).collect();
    for token_out in out.chunks_mut(nr) {
        for (c, piece) in token_out.chunks_mut(chunk).enumerate() {
            pieces[c].push(piece);
        }
    }
    pieces
        .into_par_iter()
        .enumerate()
        .for_each(|(c, mut outs)| {
            let n = outs[0].len();
            run_chunk(
                w,
                acts,
                (k, interleaved),
                grouped,
                rows.start + c * chunk,
                n,
                |t, i, v| outs[t][i] = v,
            );
        });
}

/// Computes weight rows `r0..r0 + n` against every activation row, token tile by
/// token tile, handing each result to `sink(token, row - r0, value)`.
#[inline]
fn run_chunk(
    w: &WeightMatrix,
    acts: &QuantizedActs,
    (k, interleaved): (Kernel, Option<Interleaved>),
    grouped: usize,
    r0: usize,
    n: usize,
    mut sink: impl FnMut(usize, usize, f32),
) {
    let nt = acts.rows();
    let mut t0 = 0;
    while t0 < nt {
        let tn = (nt - t0).min(TILE);
        let mut tile: [&[u8]; TILE] = [&[]; TILE];
        for (j, slot) in tile.iter_mut().enumerate().take(tn) {
            *slot = acts.row(t0 + j);
        }
        let mut i = 0;
        // Four or eight rows at a time where the kernel has that variant. The
        // four-row kernels pay off from two tokens on; for one token the single
        // sequential row stream the one-row kernel reads is faster.
        if let Kernel::Tile(_, Some(k4)) = k
            && tn > 1
        {
            let mut res = [0f32; TILE * 4];
            while i + 4 <= n {
                let rows: [&[u8]; 4] = std::array::from_fn(|r| w.row(r0 + i + r));
                k4(&rows, &tile[..tn], &mut res[..tn * 4]);
                for (j, values) in res[..tn * 4].chunks_exact(4).enumerate() {
                    for (r, &v) in values.iter().enumerate() {
                        sink(t0 + j, i + r, v);
                    }
                }
                i += 4;
            }
        }
        if let Some((k8, block_bytes, bytes)) = interleaved
            && (r0 + i).is_multiple_of(8)
        {
            let group_bytes = w.cols / w.ty.block_size() * block_bytes;
            let gemm = grouped.saturating_sub(t0).min(tn);
            let mut res = [0f32; TILE * 8];
            while i + 8 <= n {
                let g = (r0 + i) / 8;
                let group = &bytes[g * group_bytes..(g + 1) * group_bytes];
                k8(group, &tile[..tn], &mut res[..tn * 8], gemm);
                for (j, values) in res[..tn * 8].chunks_exact(8).enumerate() {
                    for (r, &v) in values.iter().enumerate() {
                        sink(t0 + j, i + r, v);
                    }
                }
                i += 8;
            }
        }
        if let Kernel::Repacked(_, Some(k8)) = k {
            let gemm = grouped.saturating_sub(t0).min(tn);
            let mut res = [0f32; TILE * 8];
            while i + 8 <= n {
                let rows: [&[u8]; 8] = std::array::from_fn(|r| w.row(r0 + i + r));
                k8(&rows, &tile[..tn], &mut res[..tn * 8], gemm);
                for (j, values) in res[..tn * 8].chunks_exact(8).enumerate() {
                    for (r, &v) in values.iter().enumerate() {
                        sink(t0 + j, i + r, v);
                    }
                }
                i += 8;
            }
        }
        let mut res = [0f32; TILE];
        for i in i..n {
            match k {
                Kernel::Tile(k, _) => k(w.row(r0 + i), &tile[..tn], &mut res[..tn]),
                Kernel::Repacked(k, _) => {
                    let gemm = grouped.saturating_sub(t0).min(tn);
                    k(w.row(r0 + i), &tile[..tn], &mut res[..tn], gemm)
                }
            }
            for (j, &v) in res[..tn].iter().enumerate() {
                sink(t0 + j, i, v);
            }
        }
        t0 += tn;
    }
}
