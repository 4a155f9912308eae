//! One module per subcommand.

pub mod inspect;
pub mod tokenize;

use std::path::Path;

use rocmforge_gguf::{GgufError, GgufFile};

/// Opens a GGUF file; errors name the file once.
pub fn open_gguf(path: &Path) -> anyhow::Result<GgufFile> {
    GgufFile::open(path).map_err(|err| match err {
        // I/O errors already name the file.
        GgufError::Io { .. } => anyhow::Error::new(err),
        other => anyhow::Error::new(other).context(path.display().to_string()),
    })
}
pub mod bench;
pub mod chat;
pub mod devices;
pub mod perplexity;
pub mod run;
pub mod serve;

/// A session on the device `args` asks for. `auto` takes the first usable GPU
/// when the GPU backend can run the model, else the CPU, and says which on
/// stderr.
pub fn session<'m>(
    model: &'m rocmforge_engine::Model,
    context: usize,
    args: &crate::args::ModelArgs,
) -> anyhow::Result<rocmforge_engine::Session<'m>> {
    session_on(model, context, args).map(|(session, _)| session)
}

/// [`session`], also telling which backend runs it (`"CPU"` or `"GPU"`).
pub fn session_on<'m>(
    model: &'m rocmforge_engine::Model,
    context: usize,
    args: &crate::args::ModelArgs,
) -> anyhow::Result<(rocmforge_engine::Session<'m>, &'static str)> {
    use crate::args::{DeviceChoice, ResidencyArg};
    use rocmforge_engine::Session;
    use rocmforge_engine::gpu::{GpuBackend, Residency};
    use rocmforge_hip::Device;

    let residency = match args.residency {
        ResidencyArg::Eager => Residency::Eager,
        ResidencyArg::Lazy => Residency::Lazy,
    };
    let on_gpu = |device: Device| -> anyhow::Result<Session<'m>> {
        let backend = GpuBackend::new(&device, model, context, residency)?;
        eprintln!(
            "device: GPU {} ({})",
            device.ordinal(),
            device.name().unwrap_or_default()
        );
        Ok(Session::with_backend(model, context, Box::new(backend)))
    };
    let cpu = || (Session::new(model, context), "CPU");
    match args.device {
        DeviceChoice::Cpu => Ok(cpu()),
        DeviceChoice::Gpu(n) => Ok((on_gpu(Device::new(n)?)?, "GPU")),
        DeviceChoice::Auto => match Device::first_usable() {
            Ok(device) => Ok(on_gpu(device)
                .map(|session| (session, "GPU"))
                .unwrap_or_else(|error| {
                    eprintln!("device: CPU (the GPU backend cannot run this model: {error:#})");
                    cpu()
                })),
            Err(error) => {
                eprintln!("device: CPU (no usable GPU: {error})");
                Ok(cpu())
            }
        },
    }
}
