//! Matrix products with weights kept in their GGUF format: activations are
//! quantized to the format each weight type multiplies with (as ggml does), then
//! the quantized kernels of [`quant_dot`](super::quant_dot) run over the rows.

use std::cell::RefCell;

use rocmforge_gguf::{GgmlType, quant};

use super::quant_dot::{self, ActFormat, QuantizedActs, Summation, WeightMatrix};
use crate::model::Weight;

/// Whether the CPU backend multiplies with weights of this type.
pub fn supports(ty: GgmlType) -> bool {
    quant_dot::act_format(ty).is_some()
}

thread_local! {
    /// One reusable activation buffer per format, so decoding allocates nothing.
    static ACTS: RefCell<Vec<QuantizedActs>> = const { RefCell::new(Vec::new()) };
}

/// `out[t][r] = Σ_c w[r][c] · x[t][c]` for the `x.len() / w.cols` rows of `x`.
pub fn linear(w: &Weight, bytes: &[u8], x: &[f32], out: &mut [f32]) {
    linear_many(x, &mut [(w, bytes, out)], Summation::Batch);
}

/// Several products of the same input `x` (a layer's Q, K and V; gate and up):
/// `x` is quantized once for each activation format they multiply with.
pub fn linear_many(x: &[f32], products: &mut [(&Weight, &[u8], &mut [f32])], summation: Summation) {
    // The buffers leave the thread-local slot while the products run: a worker
    // thread waiting inside a parallel product may steal and run another
    // session's step, whose products then take buffers of their own.
    let mut quantized: Vec<QuantizedActs> = Vec::new();
    for (w, bytes, out) in products.iter_mut() {
        let format = quant_dot::act_format(w.ty).expect("weight types are checked at load");
        let acts = match quantized
            .iter()
            .position(|a| a.format() == format && a.cols() == w.cols)
        {
            Some(i) => &quantized[i],
            None => {
                let mut acts = ACTS.with_borrow_mut(|buffers| take_buffer(buffers, format));
                acts.quantize(x, w.cols);
                quantized.push(acts);
                &quantized[quantized.len() - 1]
            }
        };
        // Where this CPU has a kernel for regrouped rows (as llama.cpp repacks
        // Q4_0), the weight gets that copy on first use.
        let interleaved = w
            .cpu_rows
            .get_or_make(|| quant_dot::interleave(w.ty, bytes, w.rows, w.cols));
        let matrix = WeightMatrix::new(w.ty, w.rows, w.cols, bytes)
            .expect("weight shapes are checked at load")
            .with_interleaved(interleaved);
        quant_dot::matmul_as(&matrix, acts, out, summation);
    }
    ACTS.with_borrow_mut(|buffers| buffers.extend(quantized));
}

/// The thread's reusable buffer for `format`, or a new one.
fn take_buffer(buffers: &mut Vec<QuantizedActs>, format: ActFormat) -> QuantizedActs {
    match buffers.iter().position(|b| b.format() == format) {
        Some(i) => buffers.swap_remove(i),
        None => QuantizedActs::new(format),
    }
}

/// Row `r` of an embedding matrix, dequantized.
pub fn embedding_row(w: &Weight, bytes: &[u8], r: usize, out: &mut [f32]) {
    let row_bytes = bytes.len() / w.rows;
    quant::dequantize(w.ty, &bytes[r * row_bytes..(r + 1) * row_bytes], out)
        .expect("embedding rows are whole blocks (checked at load)");
}
