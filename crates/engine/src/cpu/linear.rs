//! Matrix products with weights kept in their GGUF format.

use rayon::prelude::*;
use rocmforge_gguf::{GgmlType, quant};

use crate::model::Weight;

/// Whether the CPU backend multiplies with weights of this type.
pub fn supports(ty: GgmlType) -> bool {
    !matches!(
        ty,
        GgmlType::I8 | GgmlType::I16 | GgmlType::I32 | GgmlType::I64 | GgmlType::F64
    )
}

/// `out[t][r] = Σ_c w[r][c] · x[t][c]` for the `x.len() / w.cols` rows of `x`.
pub fn linear(w: &Weight, bytes: &[u8], x: &[f32], out: &mut [f32]) {
    let n_tokens = x.len() / w.cols;
    let row_bytes = bytes.len() / w.rows;
    let rows_per_task = 16;
    let mut transposed = vec![0.0f32; w.rows * n_tokens];
    transposed
        .par_chunks_mut(rows_per_task * n_tokens)
        .enumerate()
        .for_each(|(chunk, dst)| {
            let mut row = vec![0.0f32; w.cols];
            for (i, dst) in dst.chunks_mut(n_tokens).enumerate() {
                let r = chunk * rows_per_task + i;
                quant::dequantize(w.ty, &bytes[r * row_bytes..(r + 1) * row_bytes], &mut row)
                    .expect("weight rows are whole blocks (checked at load)");
                for (t, d) in dst.iter_mut().enumerate() {
                    let xt = &x[t * w.cols..(t + 1) * w.cols];
                    *d = row.iter().zip(xt).map(|(a, b)| a * b).sum();
                }
            }
        });
    for t in 0..n_tokens {
        for r in 0..w.rows {
            out[t * w.rows + r] = transposed[r * n_tokens + t];
        }
    }
}

/// Row `r` of an embedding matrix, dequantized.
pub fn embedding_row(w: &Weight, bytes: &[u8], r: usize, out: &mut [f32]) {
    let row_bytes = bytes.len() / w.rows;
    quant::dequantize(w.ty, &bytes[r * row_bytes..(r + 1) * row_bytes], out)
        .expect("embedding rows are whole blocks (checked at load)");
}
