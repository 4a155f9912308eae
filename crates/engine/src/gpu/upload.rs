//! Weights onto the device: one arena, pinned staging buffers on several streams
//! overlapping host copies with bus transfers, and the figures of the load.
//!
//! Weights stay in their GGUF quantized form (bytes as in the file). The arena
//! makes a handful of device allocations (1 GiB chunks by default) instead of one
//! per tensor. Before anything is allocated the model is checked against the
//! device's free memory.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use rocmforge_gguf::{GgmlType, GgufFile, TensorView};
use rocmforge_hip::{Arena, Device, DeviceBuffer, StagingRing, Stream};

use crate::EngineError;

/// How a model is uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// Staging buffers, each with its own stream (4 by default).
    pub streams: usize,
    /// Bytes per staging buffer (16 MiB by default: on an H100 host, 4 x 16 MiB
    /// uploaded fastest of the sizes measured, see docs/PERFORMANCE.md).
    pub staging_bytes: usize,
    /// Arena chunk size (1 GiB by default).
    pub chunk_bytes: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            streams: 4,
            staging_bytes: 16 << 20,
            chunk_bytes: rocmforge_hip::DEFAULT_CHUNK_BYTES,
        }
    }
}

/// What a load did and how long it took.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LoadingStats {
    /// Tensors uploaded.
    pub tensors: usize,
    /// Bytes uploaded.
    pub bytes: u64,
    /// Allocating device memory (and the staging buffers).
    pub allocate: Duration,
    /// Copying to the device, until the last copy completed.
    pub upload: Duration,
    /// The whole load.
    pub total: Duration,
    /// Device allocations made for the weights.
    pub device_allocations: usize,
    /// Device bytes reserved for the weights.
    pub reserved_bytes: u64,
}

impl LoadingStats {
    /// Upload throughput in GB/s (10^9 bytes per second) over the copy phase.
    pub fn upload_gb_per_s(&self) -> f64 {
        self.bytes as f64 / self.upload.as_secs_f64().max(1e-9) / 1e9
    }
}

/// A tensor on the device, in the file's format.
pub struct DeviceTensor {
    /// Element type.
    pub ty: GgmlType,
    /// Shape, ggml order (row length first).
    pub shape: Vec<u64>,
    /// The bytes, as in the file.
    pub data: DeviceBuffer<u8>,
}

/// A model's tensors on one device.
pub struct DeviceWeights {
    tensors: HashMap<String, DeviceTensor>,
    /// Keeps the chunks alive with the tensors (they are also freed with it).
    arena: Option<Arena>,
}

impl DeviceWeights {
    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Option<&DeviceTensor> {
        self.tensors.get(name)
    }

    /// How many tensors there are.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// The arena's figures (`None` for a plain upload).
    pub fn arena_stats(&self) -> Option<rocmforge_hip::ArenaStats> {
        self.arena.as_ref().map(Arena::stats)
    }
}

/// Device bytes the tensors need in an arena (slots are 256-byte aligned).
pub(crate) fn needed_bytes_of<'a>(views: impl Iterator<Item = TensorView<'a>>) -> u64 {
    views
        .map(|t| (t.data().len() as u64).next_multiple_of(256).max(256))
        .sum()
}

pub(crate) fn check_fits(device: &Device, needed: u64) -> Result<(), EngineError> {
    check_fits_for(device, "the model's weights", needed)
}

/// Fails with [`EngineError::DoesNotFit`] naming `what` unless `needed` bytes
/// are free on `device`.
pub(crate) fn check_fits_for(
    device: &Device,
    what: &'static str,
    needed: u64,
) -> Result<(), EngineError> {
    let (free, _) = device.memory_info()?;
    if needed > free as u64 {
        return Err(EngineError::DoesNotFit {
            what,
            needed,
            free: free as u64,
        });
    }
    Ok(())
}

/// Uploads every tensor of `file` into one arena on `device`, through pinned
/// staging buffers on `options.streams` streams; host copies run on the rayon
/// pool. `progress(done, total)` is called with bytes after each tensor.
pub fn upload_weights(
    device: &Device,
    file: &GgufFile,
    options: &LoadOptions,
    progress: impl FnMut(u64, u64),
) -> Result<(DeviceWeights, LoadingStats), EngineError> {
    check_fits(device, needed_bytes_of(file.tensor_views()))?;
    let arena = Arena::new(device, options.chunk_bytes)?;
    let views: Vec<TensorView<'_>> = file.tensor_views().collect();
    let (tensors, stats) = upload_into(device, &arena, &views, options, progress)?;
    let tensors = tensors.into_iter().collect::<HashMap<_, _>>();
    Ok((
        DeviceWeights {
            tensors,
            arena: Some(arena),
        },
        stats,
    ))
}

/// Uploads `views` into slots of `arena`: the pipeline behind every load.
/// `stats.device_allocations` and `reserved_bytes` describe the whole arena.
pub(crate) fn upload_into(
    device: &Device,
    arena: &Arena,
    views: &[TensorView<'_>],
    options: &LoadOptions,
    mut progress: impl FnMut(u64, u64),
) -> Result<(Vec<(String, DeviceTensor)>, LoadingStats), EngineError> {
    let start = Instant::now();
    let mut buffers = Vec::with_capacity(views.len());
    for tensor in views {
        buffers.push(arena.alloc::<u8>(tensor.data().len())?);
    }
    let total: u64 = views.iter().map(|t| t.data().len() as u64).sum();
    let (allocate, upload_start);
    {
        let mut ring = StagingRing::new(device, options.streams, options.staging_bytes)?;
        allocate = start.elapsed();
        upload_start = Instant::now();
        let mut done = 0u64;
        for (tensor, buffer) in views.iter().zip(buffers.iter_mut()) {
            let source = tensor.data();
            ring.upload_with(buffer.as_view_mut(), |offset, piece| {
                parallel_copy(&source[offset..offset + piece.len()], piece)
            })?;
            done += source.len() as u64;
            progress(done, total);
        }
        ring.finish()?;
    }
    let upload = upload_start.elapsed();
    let arena_stats = arena.stats();
    let tensors: Vec<(String, DeviceTensor)> = views
        .iter()
        .zip(buffers)
        .map(|(t, data)| {
            let info = t.info();
            (
                info.name().to_string(),
                DeviceTensor {
                    ty: info.ggml_type(),
                    shape: info.shape().to_vec(),
                    data,
                },
            )
        })
        .collect();
    let stats = LoadingStats {
        tensors: tensors.len(),
        bytes: total,
        allocate,
        upload,
        total: start.elapsed(),
        device_allocations: arena_stats.device_allocations,
        reserved_bytes: arena_stats.reserved_bytes as u64,
    };
    Ok((tensors, stats))
}

/// The baseline the pipelined load is measured against: one allocation per
/// tensor and a synchronous copy from the mapped file on one stream.
pub fn upload_weights_plain(
    device: &Device,
    file: &GgufFile,
) -> Result<(DeviceWeights, LoadingStats), EngineError> {
    let start = Instant::now();
    check_fits(device, needed_bytes_of(file.tensor_views()))?;
    let stream = Stream::new(device)?;
    let mut tensors = HashMap::with_capacity(file.tensors().len());
    let mut bytes = 0u64;
    for tensor in file.tensor_views() {
        let info = tensor.info();
        let mut data = device.alloc::<u8>(tensor.data().len())?;
        stream.upload(&mut data.as_view_mut(), tensor.data())?;
        bytes += tensor.data().len() as u64;
        tensors.insert(
            info.name().to_string(),
            DeviceTensor {
                ty: info.ggml_type(),
                shape: info.shape().to_vec(),
                data,
            },
        );
    }
    let total = start.elapsed();
    let stats = LoadingStats {
        tensors: tensors.len(),
        bytes,
        allocate: Duration::ZERO,
        upload: total,
        total,
        device_allocations: tensors.len(),
        reserved_bytes: bytes,
    };
    Ok((
        DeviceWeights {
            tensors,
            arena: None,
        },
        stats,
    ))
}

/// Copies `source` into `destination` on the rayon pool, one contiguous share
/// per thread (a single core copies well below the bus speed).
fn parallel_copy(source: &[u8], destination: &mut [u8]) {
    const SMALL: usize = 1 << 20;
    if source.len() <= SMALL {
        destination.copy_from_slice(source);
        return;
    }
    let share = source
        .len()
        .div_ceil(rayon::current_num_threads())
        .next_multiple_of(4096);
    destination
        .par_chunks_mut(share)
        .zip(source.par_chunks(share))
        .for_each(|(d, s)| d.copy_from_slice(s));
}
