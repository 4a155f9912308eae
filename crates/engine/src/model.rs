//! A loaded model: the memory-mapped GGUF file, its configuration, tokenizer and
//! validated references to every weight the architecture uses. Matrices stay in
//! their quantized form inside the map; only norm and bias vectors are read out
//! as `f32`.

use std::ops::Range;
use std::path::Path;

use rocmforge_gguf::{GgmlType, GgufFile, quant};
use rocmforge_tokenizer::Tokenizer;

use crate::EngineError;
use crate::config::{Architecture, ModelConfig};

/// A weight matrix in the file: `rows` rows of `cols` elements of `ty`.
#[derive(Debug, Clone)]
pub struct Weight {
    /// The tensor name.
    pub name: String,
    /// The element type.
    pub ty: GgmlType,
    /// Row length (ggml's first dimension).
    pub cols: usize,
    /// Number of rows.
    pub rows: usize,
    range: Range<usize>,
    /// The rows regrouped for the CPU's interleaved kernels, made on the CPU
    /// backend's first use (a GPU run never pays for it); shared by clones.
    pub(crate) cpu_rows: CpuRows,
}

/// A lazily built copy of a weight's rows in a CPU kernel's layout.
#[derive(Clone, Default)]
pub(crate) struct CpuRows(std::sync::Arc<std::sync::OnceLock<Option<Box<[u8]>>>>);

impl CpuRows {
    /// The copy, built by `make` on first use (`None`: the plain rows serve).
    pub(crate) fn get_or_make(&self, make: impl FnOnce() -> Option<Vec<u8>>) -> Option<&[u8]> {
        self.0
            .get_or_init(|| make().map(Vec::into_boxed_slice))
            .as_deref()
    }
}

impl std::fmt::Debug for CpuRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.get() {
            Some(Some(bytes)) => write!(f, "CpuRows({} bytes)", bytes.len()),
            _ => f.write_str("CpuRows(none)"),
        }
    }
}

/// The weights of one transformer block.
#[derive(Debug, Clone)]
pub struct LayerWeights {
    /// Pre-attention RMS norm.
    pub attn_norm: Vec<f32>,
    /// Query, key and value projections.
    pub wq: Weight,
    /// Key projection.
    pub wk: Weight,
    /// Value projection.
    pub wv: Weight,
    /// Biases of the projections (qwen2).
    pub bq: Option<Vec<f32>>,
    /// Key bias.
    pub bk: Option<Vec<f32>>,
    /// Value bias.
    pub bv: Option<Vec<f32>>,
    /// Per-head RMS norms of queries and keys (qwen3, gemma3).
    pub q_norm: Option<Vec<f32>>,
    /// Key norm.
    pub k_norm: Option<Vec<f32>>,
    /// Attention output projection.
    pub wo: Weight,
    /// Norm of the attention output before the residual add (gemma3).
    pub post_attn_norm: Option<Vec<f32>>,
    /// Pre-FFN RMS norm.
    pub ffn_norm: Vec<f32>,
    /// Gate projection.
    pub gate: Weight,
    /// Up projection.
    pub up: Weight,
    /// Down projection.
    pub down: Weight,
    /// Norm of the FFN output before the residual add (gemma3).
    pub post_ffn_norm: Option<Vec<f32>>,
}

/// A model ready to run.
#[derive(Debug)]
pub struct Model {
    file: GgufFile,
    /// Hyper-parameters.
    pub config: ModelConfig,
    /// The model's own tokenizer.
    pub tokenizer: Tokenizer,
    /// Token embeddings (`n_vocab` rows of `n_embd`).
    pub token_embd: Weight,
    /// Final RMS norm.
    pub output_norm: Vec<f32>,
    /// The output projection; the token embeddings when tied.
    pub output: Weight,
    /// Per-dimension rotary frequency divisors (llama3 scaling), if present.
    pub rope_freqs: Option<Vec<f32>>,
    /// The transformer blocks.
    pub layers: Vec<LayerWeights>,
}

impl Model {
    /// Opens and validates a GGUF model.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, EngineError> {
        Self::from_file(GgufFile::open(path)?)
    }

    /// Validates an opened GGUF file as a model.
    pub fn from_file(file: GgufFile) -> Result<Self, EngineError> {
        let meta = file.metadata();
        let tokenizer = Tokenizer::from_gguf(&file)?;
        let loader = Loader { file: &file };
        let token_embd_info = loader.info("token_embd.weight")?;
        let n_vocab = token_embd_info.1.get(1).copied().unwrap_or(0) as usize;
        let config = ModelConfig::from_metadata(&meta, n_vocab)?;
        if n_vocab < tokenizer.vocab_size() {
            return Err(EngineError::InvalidConfig(format!(
                "token_embd.weight has {n_vocab} rows but the vocabulary has {} tokens",
                tokenizer.vocab_size()
            )));
        }
        let c = &config;
        let q_dim = c.n_head * c.head_dim;
        let v_dim = c.n_head_kv * c.head_dim_v;
        let token_embd = loader.matrix("token_embd.weight", c.n_embd, n_vocab)?;
        let output_norm = loader.vector("output_norm.weight", c.n_embd)?;
        let output = match loader.file.tensor_info("output.weight") {
            Some(_) => loader.matrix("output.weight", c.n_embd, n_vocab)?,
            None => token_embd.clone(),
        };
        let rope_freqs = match loader.file.tensor_info("rope_freqs.weight") {
            Some(_) => Some(loader.vector("rope_freqs.weight", c.rope_dims / 2)?),
            None => None,
        };
        let has_bias = c.arch == Architecture::Qwen2;
        let has_qk_norm = matches!(c.arch, Architecture::Qwen3 | Architecture::Gemma3);
        let has_post_norms = c.arch == Architecture::Gemma3;
        let mut layers = Vec::with_capacity(c.n_layer);
        for il in 0..c.n_layer {
            let name = |t: &str| format!("blk.{il}.{t}.weight");
            let bias = |t: &str, n: usize| -> Result<Option<Vec<f32>>, EngineError> {
                if has_bias {
                    Ok(Some(loader.vector(&format!("blk.{il}.{t}.bias"), n)?))
                } else {
                    Ok(None)
                }
            };
            let optional_norm =
                |t: &str, n: usize, present: bool| -> Result<Option<Vec<f32>>, EngineError> {
                    if present {
                        Ok(Some(loader.vector(&name(t), n)?))
                    } else {
                        Ok(None)
                    }
                };
            layers.push(LayerWeights {
                attn_norm: loader.vector(&name("attn_norm"), c.n_embd)?,
                wq: loader.matrix(&name("attn_q"), c.n_embd, q_dim)?,
                wk: loader.matrix(&name("attn_k"), c.n_embd, c.kv_dim())?,
                wv: loader.matrix(&name("attn_v"), c.n_embd, v_dim)?,
                bq: bias("attn_q", q_dim)?,
                bk: bias("attn_k", c.kv_dim())?,
                bv: bias("attn_v", v_dim)?,
                q_norm: optional_norm("attn_q_norm", c.head_dim, has_qk_norm)?,
                k_norm: optional_norm("attn_k_norm", c.head_dim, has_qk_norm)?,
                wo: loader.matrix(&name("attn_output"), c.n_head * c.head_dim_v, c.n_embd)?,
                post_attn_norm: optional_norm("post_attention_norm", c.n_embd, has_post_norms)?,
                ffn_norm: loader.vector(&name("ffn_norm"), c.n_embd)?,
                gate: loader.matrix(&name("ffn_gate"), c.n_embd, c.n_ff)?,
                up: loader.matrix(&name("ffn_up"), c.n_embd, c.n_ff)?,
                down: loader.matrix(&name("ffn_down"), c.n_ff, c.n_embd)?,
                post_ffn_norm: optional_norm("post_ffw_norm", c.n_embd, has_post_norms)?,
            });
        }
        Ok(Self {
            file,
            config,
            tokenizer,
            token_embd,
            output_norm,
            output,
            rope_freqs,
            layers,
        })
    }

    /// The bytes of a weight (inside the memory map).
    pub fn bytes(&self, weight: &Weight) -> &[u8] {
        &self.file.bytes()[weight.range.clone()]
    }

    /// The underlying file.
    pub fn file(&self) -> &GgufFile {
        &self.file
    }

    /// Size of the file in bytes.
    pub fn file_size(&self) -> usize {
        self.file.bytes().len()
    }
}

struct Loader<'a> {
    file: &'a GgufFile,
}

impl Loader<'_> {
    fn info(&self, name: &str) -> Result<(GgmlType, Vec<u64>), EngineError> {
        let info = self
            .file
            .tensor_info(name)
            .ok_or_else(|| EngineError::MissingTensor(name.to_owned()))?;
        Ok((info.ggml_type(), info.shape().to_vec()))
    }

    fn check_shape(&self, name: &str, expected: &[u64]) -> Result<GgmlType, EngineError> {
        let (ty, shape) = self.info(name)?;
        if shape != expected {
            return Err(EngineError::TensorShape {
                name: name.to_owned(),
                expected: expected.to_vec(),
                found: shape,
            });
        }
        Ok(ty)
    }

    fn matrix(&self, name: &str, cols: usize, rows: usize) -> Result<Weight, EngineError> {
        let ty = self.check_shape(name, &[cols as u64, rows as u64])?;
        if !crate::cpu::linear::supports(ty) || !cols.is_multiple_of(ty.block_size()) {
            return Err(EngineError::UnsupportedTensorType {
                name: name.to_owned(),
                ty,
            });
        }
        let view = self
            .file
            .tensor(name)
            .ok_or_else(|| EngineError::MissingTensor(name.to_owned()))?;
        // The view lies inside the map; its offset is a difference of addresses.
        let start = view.data().as_ptr() as usize - self.file.bytes().as_ptr() as usize;
        Ok(Weight {
            name: name.to_owned(),
            ty,
            cols,
            rows,
            range: start..start + view.data().len(),
            cpu_rows: CpuRows::default(),
        })
    }

    fn vector(&self, name: &str, n: usize) -> Result<Vec<f32>, EngineError> {
        let ty = self.check_shape(name, &[n as u64])?;
        let view = self
            .file
            .tensor(name)
            .ok_or_else(|| EngineError::MissingTensor(name.to_owned()))?;
        quant::dequantize_to_vec(ty, view.data(), n).map_err(|_| {
            EngineError::UnsupportedTensorType {
                name: name.to_owned(),
                ty,
            }
        })
    }
}
