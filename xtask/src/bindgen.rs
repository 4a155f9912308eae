//! `cargo xtask bindgen`: regenerates the raw bindings that `rocmforge-hip-sys`
//! checks in.
//!
//! Two files come out, both allow-listed to what the project calls:
//! - `crates/hip-sys/src/hip/bindings.rs` from a ROCm release's
//!   `hip/hip_runtime_api.h`, parsed with `__HIP_PLATFORM_AMD__`;
//! - `crates/hip-sys/src/nvidia/bindings.rs` from the CUDA driver API's `cuda.h`
//!   (the NVIDIA platform layer implements HIP's entry points over it).
//!
//! Needs libclang (`LIBCLANG_PATH`, e.g. `/usr/lib/llvm-19/lib`). Building the
//! workspace never needs it: the output is committed.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// HIP entry points the `hip` crate uses; each also exists in the NVIDIA layer.
pub const HIP_FUNCTIONS: &[&str] = &[
    "hipInit",
    "hipDriverGetVersion",
    "hipRuntimeGetVersion",
    "hipGetDeviceCount",
    "hipSetDevice",
    "hipGetDevice",
    "hipDeviceGetName",
    "hipDeviceGetAttribute",
    "hipDeviceTotalMem",
    "hipGetDevicePropertiesR0600",
    "hipMemGetInfo",
    "hipDeviceSynchronize",
    "hipGetErrorName",
    "hipGetErrorString",
    "hipMalloc",
    "hipFree",
    "hipHostMalloc",
    "hipHostFree",
    "hipMemcpyHtoDAsync",
    "hipMemcpyDtoHAsync",
    "hipMemcpyDtoDAsync",
    "hipMemsetD8Async",
    "hipStreamCreateWithFlags",
    "hipStreamDestroy",
    "hipStreamSynchronize",
    "hipStreamQuery",
    "hipStreamWaitEvent",
    "hipEventCreateWithFlags",
    "hipEventDestroy",
    "hipEventRecord",
    "hipEventSynchronize",
    "hipEventQuery",
    "hipEventElapsedTime",
    "hipModuleLoadData",
    "hipModuleUnload",
    "hipModuleGetFunction",
    "hipModuleLaunchKernel",
    "hipStreamBeginCapture",
    "hipStreamEndCapture",
    "hipGraphInstantiate",
    "hipGraphLaunch",
    "hipGraphExecDestroy",
    "hipGraphDestroy",
    "hipGraphGetNodes",
];

const HIP_TYPES: &[&str] = &[
    "hipError_t",
    "hipDeviceAttribute_t",
    "hipStreamCaptureMode",
    "hipDeviceProp_tR0600",
];

const HIP_VARS: &[&str] = &[
    "hipStreamDefault",
    "hipStreamNonBlocking",
    "hipEventDefault",
    "hipEventBlockingSync",
    "hipEventDisableTiming",
    "hipHostMallocDefault",
    "hipHostMallocPortable",
    "hipHostMallocMapped",
    "hipHostMallocWriteCombined",
];

/// CUDA driver entry points behind the NVIDIA layer (names after cuda.h's
/// versioning macros).
const CUDA_FUNCTIONS: &[&str] = &[
    "cuInit",
    "cuDriverGetVersion",
    "cuDeviceGetCount",
    "cuDeviceGet",
    "cuDeviceGetName",
    "cuDeviceGetAttribute",
    "cuDeviceTotalMem_v2",
    "cuDevicePrimaryCtxRetain",
    "cuCtxSetCurrent",
    "cuCtxSynchronize",
    "cuMemGetInfo_v2",
    "cuMemAlloc_v2",
    "cuMemFree_v2",
    "cuMemHostAlloc",
    "cuMemFreeHost",
    "cuMemcpyHtoDAsync_v2",
    "cuMemcpyDtoHAsync_v2",
    "cuMemcpyDtoDAsync_v2",
    "cuMemsetD8Async",
    "cuStreamCreate",
    "cuStreamDestroy_v2",
    "cuStreamSynchronize",
    "cuStreamQuery",
    "cuStreamWaitEvent",
    "cuEventCreate",
    "cuEventDestroy_v2",
    "cuEventRecord",
    "cuEventSynchronize",
    "cuEventQuery",
    "cuEventElapsedTime_v2",
    "cuModuleLoadData",
    "cuModuleUnload",
    "cuModuleGetFunction",
    "cuLaunchKernel",
    "cuStreamBeginCapture_v2",
    "cuStreamEndCapture",
    "cuGraphInstantiateWithFlags",
    "cuGraphLaunch",
    "cuGraphExecDestroy",
    "cuGraphDestroy",
    "cuGraphGetNodes",
    "cuGetErrorName",
    "cuGetErrorString",
];

const CUDA_TYPES: &[&str] = &["CUresult", "CUdevice_attribute", "CUstreamCaptureMode"];

#[derive(Debug, clap::Parser)]
#[command(name = "cargo xtask bindgen")]
pub struct Args {
    /// A ROCm include directory holding `hip/hip_runtime_api.h`
    /// (default: `$ROCM_PATH/include`, else /opt/rocm/include).
    #[arg(long)]
    hip_include: Option<PathBuf>,
    /// A CUDA include directory holding `cuda.h` (default: the nvcc wheels that
    /// `cargo xtask build-kernels --platform nvidia` installs).
    #[arg(long)]
    cuda_include: Option<PathBuf>,
    /// A note recorded in the generated file: which release the headers are from.
    #[arg(long, default_value = "unspecified")]
    hip_version: String,
    /// Same for the CUDA headers.
    #[arg(long, default_value = "unspecified")]
    cuda_version: String,
}

/// Parses the arguments after `cargo xtask bindgen` and generates both files.
pub fn run_from(raw: &[String]) -> anyhow::Result<()> {
    let args = <Args as clap::Parser>::try_parse_from(
        std::iter::once("bindgen".to_string()).chain(raw.iter().cloned()),
    )?;
    run(&args)
}

fn run(args: &Args) -> anyhow::Result<()> {
    let root = crate::workspace_root();
    let hip_include = match &args.hip_include {
        Some(dir) => dir.clone(),
        None => std::env::var_os("ROCM_PATH")
            .map(|p| PathBuf::from(p).join("include"))
            .unwrap_or_else(|| PathBuf::from("/opt/rocm/include")),
    };
    let cuda_include = match &args.cuda_include {
        Some(dir) => dir.clone(),
        None => root.join("target/toolchains/nvcc-13.0/nvidia/cu13/include"),
    };
    generate_hip(
        &hip_include,
        &args.hip_version,
        &root.join("crates/hip-sys/src/hip/bindings.rs"),
    )?;
    generate_cuda(
        &cuda_include,
        &args.cuda_version,
        &root.join("crates/hip-sys/src/nvidia/bindings.rs"),
    )?;
    Ok(())
}

fn builder(header: &str) -> bindgen::Builder {
    bindgen::Builder::default()
        .header_contents("wrapper.h", header)
        .rust_edition(bindgen::RustEdition::Edition2024)
        .rust_target(bindgen::RustTarget::stable(85, 0).expect("a released Rust version"))
        .default_enum_style(bindgen::EnumVariation::NewType {
            is_bitfield: false,
            is_global: false,
        })
        .derive_default(true)
        .derive_eq(true)
        .derive_hash(true)
        .layout_tests(true)
        .generate_comments(false)
        .merge_extern_blocks(true)
        .prepend_enum_name(false)
}

fn allow(
    mut builder: bindgen::Builder,
    functions: &[&str],
    types: &[&str],
    vars: &[&str],
) -> bindgen::Builder {
    for f in functions {
        builder = builder.allowlist_function(f);
    }
    for t in types {
        builder = builder.allowlist_type(t);
    }
    for v in vars {
        builder = builder.allowlist_var(v);
    }
    builder
}

fn generate_hip(include: &Path, version: &str, out: &Path) -> anyhow::Result<()> {
    let header = include.join("hip/hip_runtime_api.h");
    if !header.is_file() {
        bail!(
            "{} not found: pass --hip-include DIR (a ROCm include directory)",
            header.display()
        );
    }
    let builder = allow(
        builder("#include <hip/hip_runtime_api.h>\n"),
        HIP_FUNCTIONS,
        HIP_TYPES,
        HIP_VARS,
    )
    .clang_arg("-D__HIP_PLATFORM_AMD__")
    .clang_arg(format!("-I{}", include.display()));
    let bindings = builder.generate().context("bindgen on hip_runtime_api.h")?;
    write(
        out,
        &bindings.to_string(),
        &format!("HIP {version} (hip/hip_runtime_api.h, __HIP_PLATFORM_AMD__)"),
    )
}

fn generate_cuda(include: &Path, version: &str, out: &Path) -> anyhow::Result<()> {
    let header = include.join("cuda.h");
    if !header.is_file() {
        bail!(
            "{} not found: pass --cuda-include DIR, or run `cargo xtask build-kernels --platform nvidia` \
             first (it installs the CUDA 13.0 compiler and headers)",
            header.display()
        );
    }
    let builder = allow(
        builder("#include <cuda.h>\n"),
        CUDA_FUNCTIONS,
        CUDA_TYPES,
        &[],
    )
    .clang_arg(format!("-I{}", include.display()));
    let bindings = builder.generate().context("bindgen on cuda.h")?;
    write(
        out,
        &bindings.to_string(),
        &format!("CUDA {version} (cuda.h, driver API)"),
    )
}

fn write(out: &Path, code: &str, source: &str) -> anyhow::Result<()> {
    let text = format!(
        "// Generated by `cargo xtask bindgen` from {source}. Do not edit.\n\
         #![allow(non_camel_case_types, non_snake_case, non_upper_case_globals, dead_code)]\n\
         #![allow(clippy::all, clippy::undocumented_unsafe_blocks, unused_qualifications, unsafe_op_in_unsafe_fn)]\n\n{code}"
    );
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("wrote {}", out.display());
    Ok(())
}
