//! Model families and sizes: hyperparameters, metadata keys and tensor lists.
//!
//! The big shapes use the dimensions of published models (Qwen2-0.5B, Llama-3-8B) so
//! that benchmarks on these files move the same bytes as the real ones; the tiny
//! shape keeps every tensor of the family at a few MB in all.

use clap::ValueEnum;
use rocmforge_gguf::Value;

/// A model architecture as named by `general.architecture`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Arch {
    Llama,
    Qwen2,
    Qwen3,
    Gemma3,
}

/// A set of dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shape {
    /// A few MB: for tests.
    Tiny,
    /// Qwen2-0.5B's dimensions.
    #[value(name = "0.5b")]
    Half,
    /// Llama-3-8B's dimensions.
    #[value(name = "8b")]
    Eight,
}

/// The numbers that decide every tensor's shape.
#[derive(Debug, Clone, Copy)]
pub struct Hparams {
    pub n_vocab: u64,
    pub n_embd: u64,
    pub n_layer: u64,
    pub n_head: u64,
    pub n_head_kv: u64,
    pub head_dim: u64,
    pub n_ff: u64,
    pub n_ctx: u64,
    pub rope_base: f32,
    pub rms_eps: f32,
    pub tied_embeddings: bool,
}

impl Hparams {
    pub fn new(arch: Arch, shape: Shape) -> Self {
        let mut h = match shape {
            Shape::Tiny => Hparams {
                n_vocab: 1024,
                n_embd: 256,
                n_layer: 2,
                n_head: 4,
                n_head_kv: 2,
                head_dim: 64,
                n_ff: 512,
                n_ctx: 4096,
                rope_base: 10_000.0,
                rms_eps: 1e-5,
                tied_embeddings: false,
            },
            Shape::Half => Hparams {
                n_vocab: 151_936,
                n_embd: 896,
                n_layer: 24,
                n_head: 14,
                n_head_kv: 2,
                head_dim: 64,
                n_ff: 4864,
                n_ctx: 32_768,
                rope_base: 1_000_000.0,
                rms_eps: 1e-6,
                tied_embeddings: true,
            },
            Shape::Eight => Hparams {
                n_vocab: 128_256,
                n_embd: 4096,
                n_layer: 32,
                n_head: 32,
                n_head_kv: 8,
                head_dim: 128,
                n_ff: 14_336,
                n_ctx: 8192,
                rope_base: 500_000.0,
                rms_eps: 1e-5,
                tied_embeddings: false,
            },
        };
        if arch == Arch::Gemma3 {
            // Gemma ties its output projection to the token embedding.
            h.tied_embeddings = true;
            h.rms_eps = 1e-6;
        }
        h
    }
}

/// What a tensor is for; decides its type in a quantization mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    TokenEmbedding,
    Output,
    AttnV,
    FfnDown,
    /// Any other matrix.
    Matrix,
    /// Norm weights and biases: kept in F32.
    Vector,
}

/// One tensor to generate.
#[derive(Debug, Clone)]
pub struct TensorPlan {
    pub name: String,
    /// ggml order: row length first.
    pub shape: Vec<u64>,
    pub role: Role,
    pub layer: Option<u64>,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
            Arch::Qwen3 => "qwen3",
            Arch::Gemma3 => "gemma3",
        }
    }

    /// The tensors of the family, in the order llama.cpp's converter writes them.
    pub fn tensors(self, h: &Hparams) -> Vec<TensorPlan> {
        let q_dim = h.n_head * h.head_dim;
        let kv_dim = h.n_head_kv * h.head_dim;
        let global = |name: &str, shape: Vec<u64>, role| TensorPlan {
            name: name.into(),
            shape,
            role,
            layer: None,
        };
        let mut out = vec![global(
            "token_embd.weight",
            vec![h.n_embd, h.n_vocab],
            Role::TokenEmbedding,
        )];
        for i in 0..h.n_layer {
            let t = |suffix: &str, shape: Vec<u64>, role| TensorPlan {
                name: format!("blk.{i}.{suffix}"),
                shape,
                role,
                layer: Some(i),
            };
            out.push(t("attn_norm.weight", vec![h.n_embd], Role::Vector));
            out.push(t("attn_q.weight", vec![h.n_embd, q_dim], Role::Matrix));
            out.push(t("attn_k.weight", vec![h.n_embd, kv_dim], Role::Matrix));
            out.push(t("attn_v.weight", vec![h.n_embd, kv_dim], Role::AttnV));
            if self == Arch::Qwen2 {
                out.push(t("attn_q.bias", vec![q_dim], Role::Vector));
                out.push(t("attn_k.bias", vec![kv_dim], Role::Vector));
                out.push(t("attn_v.bias", vec![kv_dim], Role::Vector));
            }
            if matches!(self, Arch::Qwen3 | Arch::Gemma3) {
                out.push(t("attn_q_norm.weight", vec![h.head_dim], Role::Vector));
                out.push(t("attn_k_norm.weight", vec![h.head_dim], Role::Vector));
            }
            out.push(t("attn_output.weight", vec![q_dim, h.n_embd], Role::Matrix));
            if self == Arch::Gemma3 {
                out.push(t(
                    "post_attention_norm.weight",
                    vec![h.n_embd],
                    Role::Vector,
                ));
            }
            out.push(t("ffn_norm.weight", vec![h.n_embd], Role::Vector));
            out.push(t("ffn_gate.weight", vec![h.n_embd, h.n_ff], Role::Matrix));
            out.push(t("ffn_up.weight", vec![h.n_embd, h.n_ff], Role::Matrix));
            out.push(t("ffn_down.weight", vec![h.n_ff, h.n_embd], Role::FfnDown));
            if self == Arch::Gemma3 {
                out.push(t("post_ffw_norm.weight", vec![h.n_embd], Role::Vector));
            }
        }
        out.push(global("output_norm.weight", vec![h.n_embd], Role::Vector));
        if !h.tied_embeddings {
            out.push(global(
                "output.weight",
                vec![h.n_embd, h.n_vocab],
                Role::Output,
            ));
        }
        out
    }

    /// The architecture's hyperparameter metadata, under its own key prefix.
    pub fn metadata(self, h: &Hparams) -> Vec<(String, Value)> {
        let a = self.name();
        let key = |k: &str| format!("{a}.{k}");
        let mut m: Vec<(String, Value)> = vec![
            (key("context_length"), Value::U32(h.n_ctx as u32)),
            (key("embedding_length"), Value::U32(h.n_embd as u32)),
            (key("block_count"), Value::U32(h.n_layer as u32)),
            (key("feed_forward_length"), Value::U32(h.n_ff as u32)),
            (key("attention.head_count"), Value::U32(h.n_head as u32)),
            (
                key("attention.head_count_kv"),
                Value::U32(h.n_head_kv as u32),
            ),
            (key("rope.freq_base"), Value::F32(h.rope_base)),
            (
                key("attention.layer_norm_rms_epsilon"),
                Value::F32(h.rms_eps),
            ),
        ];
        match self {
            Arch::Llama => {
                m.push((key("rope.dimension_count"), Value::U32(h.head_dim as u32)));
                m.push((key("vocab_size"), Value::U32(h.n_vocab as u32)));
            }
            Arch::Qwen2 => {}
            Arch::Qwen3 | Arch::Gemma3 => {
                m.push((key("attention.key_length"), Value::U32(h.head_dim as u32)));
                m.push((key("attention.value_length"), Value::U32(h.head_dim as u32)));
            }
        }
        if self == Arch::Gemma3 {
            m.push((key("attention.sliding_window"), Value::U32(512)));
        }
        m
    }
}
