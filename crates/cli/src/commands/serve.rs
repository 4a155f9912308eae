//! `rocmforge serve -m FILE [--host H] [--port P] [--parallel N] [--api-key KEY]`:
//! the OpenAI-compatible server (the `rocmforge-server` crate) over a
//! continuous-batching scheduler on the chosen device.

use std::net::SocketAddr;
use std::sync::Arc;

use rocmforge_engine::cpu::CpuBackend;
use rocmforge_engine::gpu::{GpuBackend, Residency};
use rocmforge_engine::scheduler::{Scheduler, SchedulerConfig};
use rocmforge_engine::{Backend, EngineError, Model};
use rocmforge_hip::Device;
use rocmforge_server::{AppState, ServerConfig, ServerEvent};

use crate::args::{DeviceChoice, ResidencyArg, ServeArgs};

pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.parallel > 0, "--parallel must be at least 1");
    anyhow::ensure!(args.queue > 0, "--queue must be at least 1");
    let defaults = super::run::sampler_config(&args.sampling);
    defaults.validate()?;
    let (model, load_time) = super::run::load(&args.model)?;
    let context = super::run::context_size(&args.model, &model)?;
    eprintln!("model loaded in {:.2} s", load_time);
    let gpu = gpu_choice(args)?;
    let residency = match args.model.residency {
        ResidencyArg::Eager => Residency::Eager,
        ResidencyArg::Lazy => Residency::Lazy,
    };
    let model = Arc::new(model);
    let config = SchedulerConfig {
        max_batch: args.parallel,
        queue_capacity: args.queue,
        context,
    };
    let backend = backend_factory(move |model| {
        let Some(device) = gpu else {
            eprintln!(
                "device: CPU, {} sequences decoded together",
                config.max_batch
            );
            return Ok(Box::new(CpuBackend::new()));
        };
        let backend = GpuBackend::new(&device, model, context, residency)?;
        eprintln!(
            "device: GPU {} ({}), {} sequences decoded together",
            device.ordinal(),
            device.name().unwrap_or_default(),
            config.max_batch
        );
        Ok(Box::new(backend))
    });
    let scheduler = Arc::new(Scheduler::start(model.clone(), config, backend));
    let model_id = args.alias.clone().unwrap_or_else(|| {
        args.model
            .model
            .file_name()
            .map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned())
    });
    let state = AppState::new(
        model,
        scheduler,
        ServerConfig {
            addr: SocketAddr::new(args.host, args.port),
            api_key: args.api_key.clone(),
            model_id,
            defaults,
        },
    )?;
    rocmforge_server::run(state, |event| match event {
        ServerEvent::Listening(addr) => eprintln!("listening on http://{addr}"),
        ServerEvent::ShuttingDown => {
            eprintln!("shutting down: finishing the requests in flight");
        }
    })?;
    Ok(())
}

/// Gives a closure the signature the scheduler wants: it makes a backend for
/// whatever model reference it is handed.
fn backend_factory<F>(f: F) -> F
where
    F: for<'m> FnOnce(&'m Model) -> Result<Box<dyn Backend + 'm>, EngineError>,
{
    f
}

/// The GPU to serve on, or `None` for the CPU (`auto` says which and why).
fn gpu_choice(args: &ServeArgs) -> anyhow::Result<Option<Device>> {
    match args.model.device {
        DeviceChoice::Cpu => Ok(None),
        DeviceChoice::Gpu(n) => Ok(Some(Device::new(n)?)),
        DeviceChoice::Auto => match Device::first_usable() {
            Ok(device) => Ok(Some(device)),
            Err(error) => {
                eprintln!("no usable GPU ({error}); serving on the CPU");
                Ok(None)
            }
        },
    }
}
