//! Model hyper-parameters read from GGUF metadata, per architecture, with the
//! defaults llama.cpp applies where a key is absent.

use rocmforge_gguf::Metadata;

use crate::EngineError;

/// The architectures the engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// Llama 1/2/3 and Mistral-style files.
    Llama,
    /// Qwen2: biases on Q, K and V.
    Qwen2,
    /// Qwen3: RMS norms on Q and K per head.
    Qwen3,
    /// Gemma 3: scaled embeddings, GELU, pre- and post-norms, Q/K norms,
    /// interleaved sliding-window layers.
    Gemma3,
}

impl Architecture {
    /// `general.architecture` values of the supported architectures.
    pub const NAMES: &'static [&'static str] = &["llama", "qwen2", "qwen3", "gemma3"];

    /// The architecture of a `general.architecture` value.
    pub fn from_name(name: &str) -> Result<Self, EngineError> {
        Ok(match name {
            "llama" => Self::Llama,
            "qwen2" => Self::Qwen2,
            "qwen3" => Self::Qwen3,
            "gemma3" => Self::Gemma3,
            _ => {
                return Err(EngineError::UnsupportedArchitecture {
                    arch: name.to_owned(),
                });
            }
        })
    }

    /// The metadata key prefix.
    pub fn name(self) -> &'static str {
        match self {
            Self::Llama => "llama",
            Self::Qwen2 => "qwen2",
            Self::Qwen3 => "qwen3",
            Self::Gemma3 => "gemma3",
        }
    }
}

/// How rotary embeddings pair the dimensions of a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    /// Adjacent pairs (2i, 2i+1): llama.
    Interleaved,
    /// Halves (i, i + d/2): GPT-NeoX style, used by qwen2, qwen3 and gemma3.
    Neox,
}

/// The activation of the gated feed-forward network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// SiLU (`x * sigmoid(x)`).
    Silu,
    /// GELU, tanh approximation.
    GeluTanh,
}

/// Hyper-parameters of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// The architecture.
    pub arch: Architecture,
    /// Number of transformer blocks.
    pub n_layer: usize,
    /// Width of the residual stream.
    pub n_embd: usize,
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads (grouped-query attention when fewer than `n_head`).
    pub n_head_kv: usize,
    /// Dimension of a query/key head.
    pub head_dim: usize,
    /// Dimension of a value head.
    pub head_dim_v: usize,
    /// Hidden width of the feed-forward network.
    pub n_ff: usize,
    /// Vocabulary size (rows of the embedding).
    pub n_vocab: usize,
    /// The context length the model was trained with.
    pub n_ctx_train: usize,
    /// Epsilon of the RMS norms.
    pub rms_eps: f32,
    /// Rotary embedding: dimensions rotated per head.
    pub rope_dims: usize,
    /// Rotary embedding base frequency of full-attention layers.
    pub rope_base: f32,
    /// Rotary embedding base frequency of sliding-window layers.
    pub rope_base_swa: f32,
    /// Linear position scaling (1 / `rope.scaling.factor` when the scaling type is linear).
    pub rope_freq_scale: f32,
    /// How rotary dimensions are paired.
    pub rope_style: RopeStyle,
    /// Sliding attention window, for the layers marked in `swa_layers`.
    pub sliding_window: Option<usize>,
    /// Which layers use the sliding window.
    pub swa_layers: Vec<bool>,
    /// Scale of query·key products.
    pub attn_scale: f32,
    /// Embeddings are multiplied by this (Gemma: √n_embd).
    pub embed_scale: f32,
    /// Logits pass through `cap * tanh(logit / cap)` when set.
    pub final_logit_softcap: Option<f32>,
    /// The feed-forward activation.
    pub activation: Activation,
}

impl ModelConfig {
    /// Reads the configuration of the model in `meta`.
    pub fn from_metadata(meta: &Metadata<'_>, n_vocab: usize) -> Result<Self, EngineError> {
        let arch = Architecture::from_name(meta.get_str("general.architecture")?)?;
        let key = |k: &str| format!("{}.{k}", arch.name());
        let usize_key =
            |k: &str| -> Result<usize, EngineError> { Ok(meta.get_u64(&key(k))? as usize) };
        let opt_usize = |k: &str| -> Result<Option<usize>, EngineError> {
            Ok(meta.get_opt::<u64>(&key(k))?.map(|v| v as usize))
        };
        let n_layer = usize_key("block_count")?;
        let n_embd = usize_key("embedding_length")?;
        let n_head = usize_key("attention.head_count")?;
        let n_head_kv = opt_usize("attention.head_count_kv")?.unwrap_or(n_head);
        let n_ff = usize_key("feed_forward_length")?;
        let n_ctx_train = usize_key("context_length")?;
        if n_layer == 0 || n_embd == 0 || n_head == 0 || n_head_kv == 0 || n_ff == 0 {
            return Err(EngineError::InvalidConfig(format!(
                "block_count {n_layer}, embedding_length {n_embd}, head_count {n_head}, head_count_kv {n_head_kv} and feed_forward_length {n_ff} must all be positive"
            )));
        }
        if !n_head.is_multiple_of(n_head_kv) {
            return Err(EngineError::InvalidConfig(format!(
                "head_count {n_head} is not a multiple of head_count_kv {n_head_kv}"
            )));
        }
        let head_dim = opt_usize("attention.key_length")?.unwrap_or(n_embd / n_head);
        let head_dim_v = opt_usize("attention.value_length")?.unwrap_or(head_dim);
        if head_dim == 0 || !head_dim.is_multiple_of(2) {
            return Err(EngineError::InvalidConfig(format!(
                "attention head dimension {head_dim} must be positive and even"
            )));
        }
        let rope_dims = opt_usize("rope.dimension_count")?.unwrap_or(head_dim);
        if rope_dims > head_dim || !rope_dims.is_multiple_of(2) {
            return Err(EngineError::InvalidConfig(format!(
                "rope.dimension_count {rope_dims} must be even and at most the head dimension {head_dim}"
            )));
        }
        let rms_eps = meta.get_f32(&key("attention.layer_norm_rms_epsilon"))?;
        let rope_base = meta
            .get_opt::<f32>(&key("rope.freq_base"))?
            .unwrap_or(10_000.0);
        let rope_freq_scale = match meta.get_opt::<&str>(&key("rope.scaling.type"))? {
            Some("linear") => {
                let factor = meta
                    .get_opt::<f32>(&key("rope.scaling.factor"))?
                    .unwrap_or(1.0);
                if factor > 0.0 { 1.0 / factor } else { 1.0 }
            }
            Some("none") | None => 1.0,
            // llama3-style scaling comes as the `rope_freqs.weight` tensor.
            Some(_) => 1.0,
        };

        let (rope_style, activation) = match arch {
            Architecture::Llama => (RopeStyle::Interleaved, Activation::Silu),
            Architecture::Qwen2 | Architecture::Qwen3 => (RopeStyle::Neox, Activation::Silu),
            Architecture::Gemma3 => (RopeStyle::Neox, Activation::GeluTanh),
        };
        let mut config = Self {
            arch,
            n_layer,
            n_embd,
            n_head,
            n_head_kv,
            head_dim,
            head_dim_v,
            n_ff,
            n_vocab,
            n_ctx_train,
            rms_eps,
            rope_dims,
            rope_base,
            rope_base_swa: rope_base,
            rope_freq_scale,
            rope_style,
            sliding_window: None,
            swa_layers: vec![false; n_layer],
            attn_scale: 1.0 / (head_dim as f32).sqrt(),
            embed_scale: 1.0,
            final_logit_softcap: None,
            activation,
        };
        if arch == Architecture::Gemma3 {
            config.embed_scale = (n_embd as f32).sqrt();
            config.final_logit_softcap = meta
                .get_opt::<f32>(&key("final_logit_softcapping"))?
                .filter(|&c| c != 0.0);
            // As llama.cpp: Gemma 3 27B scales by n_embd / n_head, the others by
            // the head dimension.
            if n_layer == 62 {
                config.attn_scale = 1.0 / ((n_embd / n_head) as f32).sqrt();
            }
            if let Some(window) = opt_usize("attention.sliding_window")?.filter(|&w| w > 0) {
                config.sliding_window = Some(window);
                // llama.cpp's default: five sliding-window layers, then one global.
                let pattern = opt_usize("attention.sliding_window_pattern")?.unwrap_or(6);
                config.swa_layers = (0..n_layer)
                    .map(|il| pattern == 0 || il % pattern < pattern - 1)
                    .collect();
                config.rope_base_swa = meta
                    .get_opt::<f32>(&key("rope.freq_base_swa"))?
                    .unwrap_or(10_000.0);
            }
        }
        Ok(config)
    }

    /// Width of the key/value projections.
    pub fn kv_dim(&self) -> usize {
        self.n_head_kv * self.head_dim
    }

    /// The rotary base and attention window of layer `il`.
    pub fn layer_attention(&self, il: usize) -> (f32, Option<usize>) {
        if self.swa_layers[il] {
            (self.rope_base_swa, self.sliding_window)
        } else {
            (self.rope_base, None)
        }
    }
}
