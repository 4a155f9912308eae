//! The GPU side of the engine, through `rocmforge-hip` (AMD, or NVIDIA through
//! the CUDA driver layer). Today: putting a model's weights on the device, all at
//! once or layer by layer.

mod backend;
mod residency;
mod upload;

pub use backend::GpuBackend;
pub use residency::{GpuWeights, LayerTensors, Residency};
pub use upload::{
    DeviceTensor, DeviceWeights, LoadOptions, LoadingStats, upload_weights, upload_weights_plain,
};
