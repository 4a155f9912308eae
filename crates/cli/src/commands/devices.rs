//! `rocmforge devices`: the GPUs this machine offers, or why none is usable.

use std::io::Write;

use rocmforge_hip::{Device, DeviceInfo, Error, device_count};

use crate::args::DevicesArgs;
use crate::format::human_bytes;

/// Lists the GPUs; a machine without a usable GPU is a normal answer (exit 0),
/// printed with the reason.
pub fn run(args: &DevicesArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let found = list();
    if args.json {
        let value = match &found {
            Ok((library, devices)) => serde_json::json!({
                "runtime": library,
                "devices": devices.iter().map(|(info, kernels)| serde_json::json!({
                    "index": info.ordinal,
                    "platform": info.platform.to_string(),
                    "name": info.name,
                    "arch": info.arch,
                    "total_memory": info.total_memory,
                    "free_memory": info.free_memory,
                    "compute_units": info.compute_units,
                    "warp_size": info.warp_size,
                    "kernels": kernels,
                })).collect::<Vec<_>>(),
            }),
            Err(reason) => serde_json::json!({ "devices": [], "reason": reason }),
        };
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(());
    }
    match found {
        Ok((library, devices)) if !devices.is_empty() => {
            writeln!(out, "GPU runtime: {library}")?;
            writeln!(
                out,
                "{:<4} {:<19} {:<28} {:<8} {:>22} {:>5} {:>5}  kernels",
                "GPU", "platform", "name", "arch", "memory free / total", "CUs", "warp"
            )?;
            for (info, kernels) in &devices {
                let memory = format!(
                    "{} / {}",
                    human_bytes(info.free_memory as u64),
                    human_bytes(info.total_memory as u64)
                );
                writeln!(
                    out,
                    "{:<4} {:<19} {:<28} {:<8} {:>22} {:>5} {:>5}  {}",
                    info.ordinal,
                    info.platform.to_string(),
                    info.name,
                    info.arch,
                    memory,
                    info.compute_units,
                    info.warp_size,
                    kernels
                )?;
            }
        }
        Ok((library, _)) => writeln!(
            out,
            "No GPU found: the runtime ({library}) reports no device. The CPU backend will be used."
        )?,
        Err(reason) => writeln!(
            out,
            "No usable GPU: {reason}. The CPU backend will be used."
        )?,
    }
    Ok(())
}

type Listing = (String, Vec<(DeviceInfo, String)>);

fn list() -> Result<Listing, String> {
    let describe = |error: Error| error.to_string();
    let count = device_count().map_err(describe)?;
    let library = rocmforge_hip_sys::api()
        .map(|api| format!("{} ({})", api.platform, api.library))
        .map_err(|e| e.to_string())?;
    let mut devices = Vec::with_capacity(count);
    for ordinal in 0..count {
        let info = Device::new(ordinal)
            .and_then(|device| device.info())
            .map_err(describe)?;
        let kernels = kernel_status(&info.arch);
        devices.push((info, kernels));
    }
    Ok((library, devices))
}

/// Whether the kernels for this architecture are available to the engine.
fn kernel_status(arch: &str) -> String {
    let missing: Vec<String> = rocmforge_kernels::KernelModule::ALL
        .iter()
        .filter_map(|&module| {
            rocmforge_kernels::image(arch, module)
                .err()
                .map(|e| e.to_string())
        })
        .collect();
    match missing.first() {
        None => "available".into(),
        Some(reason) => format!("missing ({reason})"),
    }
}
