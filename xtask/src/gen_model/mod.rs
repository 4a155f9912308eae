//! `cargo xtask gen-model`: random-weight models with the real metadata and tensor
//! shapes of a family, for tests and benchmarks.
//!
//! Weights are uniform noise (standard deviation 0.02; norm weights near 1), drawn
//! from a generator seeded per tensor and chunk, so a file is the same whatever the
//! thread count. Quantization mixes follow what `llama-quantize` picks without an
//! importance matrix (see `recipe.rs`). Tensors are generated, quantized and written
//! one chunk at a time, so an 8B model needs little memory.

mod family;
mod recipe;
mod vocab;

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;
use rocmforge_gguf::{GgmlType, GgufBuilder, Value, quant};

pub use family::{Arch, Shape};
pub use recipe::FileType;

use family::{Hparams, Role, TensorPlan};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model family (`general.architecture`).
    #[arg(long, value_enum)]
    pub arch: Arch,
    /// Dimensions: tiny (a few MB), 0.5b (Qwen2-0.5B), 8b (Llama-3-8B).
    #[arg(long, value_enum)]
    pub shape: Shape,
    /// Weight format.
    #[arg(long = "type", value_enum)]
    pub file_type: FileType,
    /// Output file.
    #[arg(long)]
    pub out: PathBuf,
    /// Seed for the random weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Elements generated per task: large enough to keep both cores busy cheaply.
const CHUNK_ELEMENTS: u64 = 1 << 20;
/// Chunks held in memory at once while writing a tensor.
const CHUNKS_IN_FLIGHT: usize = 32;

/// Writes the model described by `args`.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let h = Hparams::new(args.arch, args.shape);
    let plan = args.arch.tensors(&h);

    let mut builder = GgufBuilder::new();
    let name = format!(
        "rocmforge random {} {} {}",
        args.arch.name(),
        args.shape.label(),
        args.file_type.label()
    );
    builder.add_metadata("general.architecture", args.arch.name())?;
    builder.add_metadata("general.name", name.as_str())?;
    builder.add_metadata(
        "general.file_type",
        Value::U32(args.file_type.llama_ftype()),
    )?;
    builder.add_metadata("general.quantization_version", Value::U32(2))?;
    for (key, value) in args
        .arch
        .metadata(&h)
        .into_iter()
        .chain(vocab::metadata(args.arch, h.n_vocab)?)
    {
        builder.add_metadata(key, value)?;
    }
    let types: Vec<GgmlType> = plan
        .iter()
        .map(|t| recipe::tensor_type(args.file_type, t, &h))
        .collect();
    for (tensor, ty) in plan.iter().zip(&types) {
        builder.add_tensor(tensor.name.clone(), &tensor.shape, *ty)?;
    }

    let partial = args.out.with_extension("gguf.partial");
    let file = File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let mut writer = builder.write_header(BufWriter::with_capacity(8 << 20, file))?;
    let progress = std::io::stderr().is_terminal();
    for (i, (tensor, ty)) in plan.iter().zip(&types).enumerate() {
        if progress {
            eprint!(
                "\r[{}/{}] {:<32} {:>7}",
                i + 1,
                plan.len(),
                tensor.name,
                ty.name()
            );
        }
        writer.write_tensor_with(|out| write_tensor(out, tensor, *ty, args.seed))?;
    }
    writer.finish()?;
    std::fs::rename(&partial, &args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    let size = std::fs::metadata(&args.out)?.len();
    if progress {
        eprint!("\r{}\r", " ".repeat(60));
    }
    eprintln!(
        "wrote {} ({:.1} MiB, {} tensors) in {:.1} s",
        args.out.display(),
        size as f64 / (1 << 20) as f64,
        plan.len(),
        started.elapsed().as_secs_f64(),
    );
    Ok(())
}

/// Generates, converts and writes one tensor, chunk by chunk.
fn write_tensor(
    out: &mut dyn Write,
    tensor: &TensorPlan,
    ty: GgmlType,
    seed: u64,
) -> std::io::Result<()> {
    let row = tensor.shape[0];
    let elements: u64 = tensor.shape.iter().product();
    // Whole rows per chunk keep every chunk a whole number of blocks.
    let rows_per_chunk = (CHUNK_ELEMENTS / row).max(1);
    let chunk = rows_per_chunk * row;
    let n_chunks = elements.div_ceil(chunk);
    let tensor_seed = seed ^ fnv1a(tensor.name.as_bytes());
    let (center, spread) = match tensor.role {
        Role::Vector if tensor.name.contains("norm") => (1.0, 0.1),
        // Uniform on [-a, a] has standard deviation a / sqrt(3); we want 0.02.
        _ => (0.0, 0.02 * 3f32.sqrt()),
    };
    let chunk_ids: Vec<u64> = (0..n_chunks).collect();
    for batch in chunk_ids.chunks(CHUNKS_IN_FLIGHT) {
        let parts: Vec<Vec<u8>> = batch
            .par_iter()
            .map(|&c| {
                let len = chunk.min(elements - c * chunk) as usize;
                let mut rng = SmallRng::seed_from_u64(
                    tensor_seed.wrapping_add(c.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
                );
                let values: Vec<f32> = (0..len)
                    .map(|_| center + spread * (2.0 * rng.random::<f32>() - 1.0))
                    .collect();
                quant::quantize_to_vec(ty, &values).map_err(std::io::Error::other)
            })
            .collect::<Result<_, _>>()?;
        for part in parts {
            out.write_all(&part)?;
        }
    }
    Ok(())
}

/// A stable 64-bit hash of a tensor name, to seed its generator.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Shape {
    fn label(self) -> &'static str {
        match self {
            Shape::Tiny => "tiny",
            Shape::Half => "0.5b",
            Shape::Eight => "8b",
        }
    }
}
