//! When weights reach the device: all before the first token (eager), or each
//! layer on first use (lazy), thread-safe and never twice.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Mutex, OnceLock};

use rocmforge_gguf::TensorView;
use rocmforge_hip::{Arena, Device};

use super::upload::{
    DeviceTensor, LoadOptions, LoadingStats, check_fits, needed_bytes_of, upload_into,
};
use crate::EngineError;
use crate::model::Model;

/// When layers are uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Residency {
    /// Everything before the first token.
    #[default]
    Eager,
    /// The global tensors at once, each layer on first use.
    Lazy,
}

/// The tensors of one transformer block, by name (`blk.N.…`).
pub type LayerTensors = HashMap<String, DeviceTensor>;

/// A model's weights on one device, uploaded eagerly or layer by layer.
///
/// ```no_run
/// use rocmforge_engine::Model;
/// use rocmforge_engine::gpu::{GpuWeights, LoadOptions, Residency};
/// use rocmforge_hip::Device;
///
/// let model = Model::open("model.gguf")?;
/// let device = Device::first_usable()?;
/// let weights = GpuWeights::new(&device, &model, Residency::Lazy, LoadOptions::default())?;
/// weights.preload_layers(0..4)?; // warm the first layers before the first prompt
/// let first = weights.layer(0)?; // already resident
/// println!("{} tensors in layer 0; {:?}", first.len(), weights.loading_stats());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct GpuWeights<'m> {
    device: Device,
    model: &'m Model,
    options: LoadOptions,
    arena: Arena,
    globals: HashMap<String, DeviceTensor>,
    layers: Vec<OnceLock<LayerTensors>>,
    /// Serialises the upload of each layer (the `OnceLock` is filled once).
    uploading: Vec<Mutex<()>>,
    stats: Mutex<LoadingStats>,
}

/// The layer a tensor belongs to (`blk.N.…`), if any.
fn layer_of(name: &str) -> Option<usize> {
    name.strip_prefix("blk.")?.split('.').next()?.parse().ok()
}

impl<'m> GpuWeights<'m> {
    /// Checks that the whole model fits in free device memory, uploads the
    /// tensors outside the layers, and with [`Residency::Eager`] every layer too.
    pub fn new(
        device: &Device,
        model: &'m Model,
        residency: Residency,
        options: LoadOptions,
    ) -> Result<Self, EngineError> {
        let file = model.file();
        check_fits(device, needed_bytes_of(file.tensor_views()))?;
        let layers = model.config.n_layer;
        let weights = GpuWeights {
            device: device.clone(),
            model,
            options,
            arena: Arena::new(device, options.chunk_bytes)?,
            globals: HashMap::new(),
            layers: (0..layers).map(|_| OnceLock::new()).collect(),
            uploading: (0..layers).map(|_| Mutex::new(())).collect(),
            stats: Mutex::new(LoadingStats::default()),
        };
        let globals: Vec<TensorView<'_>> = file
            .tensor_views()
            .filter(|t| layer_of(t.name()).is_none())
            .collect();
        let (uploaded, stats) = upload_into(device, &weights.arena, &globals, &options, |_, _| {})?;
        let weights = GpuWeights {
            globals: uploaded.into_iter().collect(),
            ..weights
        };
        weights.add_stats(&stats);
        if residency == Residency::Eager {
            weights.preload_all()?;
        }
        Ok(weights)
    }

    fn add_stats(&self, step: &LoadingStats) {
        if let Ok(mut stats) = self.stats.lock() {
            stats.tensors += step.tensors;
            stats.bytes += step.bytes;
            stats.allocate += step.allocate;
            stats.upload += step.upload;
            stats.total += step.total;
            stats.device_allocations = step.device_allocations;
            stats.reserved_bytes = step.reserved_bytes;
        }
    }

    /// A tensor outside the layers (embeddings, output norm, output).
    pub fn global(&self, name: &str) -> Option<&DeviceTensor> {
        self.globals.get(name)
    }

    /// Layer `index`, uploaded now if it is not resident yet. Concurrent callers
    /// wait for one upload.
    pub fn layer(&self, index: usize) -> Result<&LayerTensors, EngineError> {
        let (Some(slot), Some(lock)) = (self.layers.get(index), self.uploading.get(index)) else {
            return Err(EngineError::InvalidConfig(format!(
                "layer {index} of {}",
                self.layers.len()
            )));
        };
        if let Some(tensors) = slot.get() {
            return Ok(tensors);
        }
        let _guard = lock
            .lock()
            .map_err(|_| EngineError::InvalidConfig("a layer upload panicked".into()))?;
        if let Some(tensors) = slot.get() {
            return Ok(tensors);
        }
        let views: Vec<TensorView<'_>> = self
            .model
            .file()
            .tensor_views()
            .filter(|t| layer_of(t.name()) == Some(index))
            .collect();
        let (uploaded, stats) =
            upload_into(&self.device, &self.arena, &views, &self.options, |_, _| {})?;
        self.add_stats(&stats);
        Ok(slot.get_or_init(|| uploaded.into_iter().collect()))
    }

    /// Uploads the layers in `range` that are not resident yet.
    pub fn preload_layers(&self, range: Range<usize>) -> Result<(), EngineError> {
        for index in range {
            self.layer(index)?;
        }
        Ok(())
    }

    /// Uploads every layer that is not resident yet.
    pub fn preload_all(&self) -> Result<(), EngineError> {
        self.preload_layers(0..self.layers.len())
    }

    /// The model these weights are of.
    pub(crate) fn model(&self) -> &'m Model {
        self.model
    }

    /// How many layers are on the device.
    pub fn resident_layers(&self) -> usize {
        self.layers.iter().filter(|l| l.get().is_some()).count()
    }

    /// The figures of every upload so far, summed (device allocations and
    /// reserved bytes: the arena's current ones).
    pub fn loading_stats(&self) -> LoadingStats {
        self.stats.lock().map(|s| *s).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::layer_of;

    #[test]
    fn layers_come_from_tensor_names() {
        assert_eq!(layer_of("blk.0.attn_q.weight"), Some(0));
        assert_eq!(layer_of("blk.31.ffn_down.weight"), Some(31));
        assert_eq!(layer_of("token_embd.weight"), None);
        assert_eq!(layer_of("blk.x.attn_q.weight"), None);
        assert_eq!(layer_of("output.weight"), None);
    }
}
