//! Which tensor gets which type: the choices `llama-quantize` makes for the same
//! file type when no importance matrix is given.
//!
//! - 1-D tensors (norms, biases) stay F32.
//! - The output projection (or the token embedding when it doubles as the output)
//!   becomes Q6_K in quantized files, Q8_0 in Q8_0 files.
//! - Q4_K_M: `attn_v` and `ffn_down` become Q6_K on the layers where llama.cpp
//!   "uses more bits" (the first and last eighth, and every third layer between);
//!   everything else Q4_K.
//! - Rows whose length is not a multiple of a k-quant's 256 fall back as llama.cpp
//!   does: Q4_K → Q5_0, Q6_K → Q8_0.

use clap::ValueEnum;
use rocmforge_gguf::GgmlType;

use super::family::{Hparams, Role, TensorPlan};

/// The file types `gen-model` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FileType {
    F16,
    #[value(name = "q8_0")]
    Q8_0,
    #[value(name = "q4_0")]
    Q4_0,
    #[value(name = "q4_k_m")]
    Q4KM,
}

impl FileType {
    /// `general.file_type`, as llama.cpp's `llama_ftype` numbers it.
    pub fn llama_ftype(self) -> u32 {
        match self {
            FileType::F16 => 1,
            FileType::Q4_0 => 2,
            FileType::Q8_0 => 7,
            FileType::Q4KM => 15,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            FileType::F16 => "F16",
            FileType::Q8_0 => "Q8_0",
            FileType::Q4_0 => "Q4_0",
            FileType::Q4KM => "Q4_K_M",
        }
    }
}

/// llama.cpp's rule for the layers that get more bits in *_K_M mixes.
fn use_more_bits(layer: u64, n_layer: u64) -> bool {
    layer < n_layer / 8
        || layer >= 7 * n_layer / 8
        || (layer as i64 - (n_layer / 8) as i64) % 3 == 2
}

/// Replaces a type that does not fit the row length, as llama.cpp does.
fn fit_row(ty: GgmlType, row: u64) -> GgmlType {
    if row.is_multiple_of(ty.block_size() as u64) {
        return ty;
    }
    let fallback = match ty {
        GgmlType::Q4_K => GgmlType::Q5_0,
        GgmlType::Q6_K => GgmlType::Q8_0,
        other => other,
    };
    if row.is_multiple_of(fallback.block_size() as u64) {
        fallback
    } else {
        GgmlType::F16
    }
}

/// The type of one tensor in a file of type `file_type`.
pub fn tensor_type(file_type: FileType, tensor: &TensorPlan, h: &Hparams) -> GgmlType {
    if tensor.role == Role::Vector {
        return GgmlType::F32;
    }
    let base = match file_type {
        FileType::F16 => return GgmlType::F16,
        FileType::Q8_0 => GgmlType::Q8_0,
        FileType::Q4_0 => GgmlType::Q4_0,
        FileType::Q4KM => GgmlType::Q4_K,
    };
    let is_output =
        tensor.role == Role::Output || (h.tied_embeddings && tensor.role == Role::TokenEmbedding);
    let row = tensor.shape[0];
    let ty = if is_output {
        if !row.is_multiple_of(256) || base == GgmlType::Q8_0 {
            GgmlType::Q8_0
        } else {
            GgmlType::Q6_K
        }
    } else if file_type == FileType::Q4KM && matches!(tensor.role, Role::AttnV | Role::FfnDown) {
        let more = tensor
            .layer
            .is_some_and(|layer| use_more_bits(layer, h.n_layer));
        if more { GgmlType::Q6_K } else { GgmlType::Q4_K }
    } else {
        base
    };
    fit_row(ty, row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen_model::family::{Arch, Shape};

    #[test]
    fn more_bits_layers_match_llama_cpp() {
        // 18 layers (Gemma 3 270M): 9 layers get Q6_K ffn_down there.
        let layers: Vec<u64> = (0..18).filter(|&i| use_more_bits(i, 18)).collect();
        assert_eq!(layers, [0, 1, 4, 7, 10, 13, 15, 16, 17]);
    }

    #[test]
    fn q4_k_m_mix_of_a_gemma_like_model() {
        let h = Hparams {
            n_embd: 640,
            n_ff: 2048,
            n_vocab: 262_144,
            n_layer: 18,
            ..Hparams::new(Arch::Gemma3, Shape::Tiny)
        };
        let plan = Arch::Gemma3.tensors(&h);
        let ty = |name: &str| {
            tensor_type(
                FileType::Q4KM,
                plan.iter().find(|t| t.name == name).unwrap(),
                &h,
            )
        };
        // As in the published Gemma 3 270M Q4_K_M file.
        assert_eq!(ty("token_embd.weight"), GgmlType::Q8_0);
        assert_eq!(ty("blk.0.attn_q.weight"), GgmlType::Q5_0);
        assert_eq!(ty("blk.0.attn_v.weight"), GgmlType::Q8_0);
        assert_eq!(ty("blk.2.attn_v.weight"), GgmlType::Q5_0);
        assert_eq!(ty("blk.0.attn_output.weight"), GgmlType::Q4_K);
        assert_eq!(ty("blk.0.ffn_down.weight"), GgmlType::Q6_K);
        assert_eq!(ty("blk.2.ffn_down.weight"), GgmlType::Q4_K);
        assert_eq!(ty("blk.0.attn_norm.weight"), GgmlType::F32);
    }
}
