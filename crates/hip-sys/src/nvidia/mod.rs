//! HIP on NVIDIA GPUs: HIP's entry points implemented over the CUDA driver API.
//!
//! HIP's own NVIDIA path is a set of header-only inline wrappers over the CUDA
//! runtime, unusable from Rust and tied to a toolkit. Here each HIP function the
//! project calls is a small `extern "C"` function that calls the driver API of
//! `libcuda.so.1` (installed with every NVIDIA driver; no toolkit at run time) and
//! translates status codes and attributes to HIP's. HIP's implicit per-thread
//! current device is kept in a thread-local and backed by the device's primary
//! context, as HIP does on AMD.
//!
//! `bindings.rs` is bindgen's output for CUDA's `cuda.h` (driver API), allow-listed
//! to the calls below; `cargo xtask bindgen` regenerates it.

#[allow(missing_docs)]
mod bindings;
mod codes;
mod shim;

pub use bindings::*;

use std::ffi::{c_char, c_int, c_uint, c_ulonglong, c_void};
use std::sync::OnceLock;

use crate::hip::HipApi;

fn_table! {
    /// The CUDA driver entry points behind the NVIDIA layer.
    pub struct CudaApi checked against crate::nvidia::bindings {
        fn cuInit(c_uint) -> CUresult;
        fn cuDriverGetVersion(*mut c_int) -> CUresult;
        fn cuDeviceGetCount(*mut c_int) -> CUresult;
        fn cuDeviceGet(*mut CUdevice, c_int) -> CUresult;
        fn cuDeviceGetName(*mut c_char, c_int, CUdevice) -> CUresult;
        fn cuDeviceGetAttribute(*mut c_int, CUdevice_attribute, CUdevice) -> CUresult;
        fn cuDeviceTotalMem_v2(*mut usize, CUdevice) -> CUresult;
        fn cuDevicePrimaryCtxRetain(*mut CUcontext, CUdevice) -> CUresult;
        fn cuCtxSetCurrent(CUcontext) -> CUresult;
        fn cuCtxSynchronize() -> CUresult;
        fn cuMemGetInfo_v2(*mut usize, *mut usize) -> CUresult;
        fn cuMemAlloc_v2(*mut CUdeviceptr, usize) -> CUresult;
        fn cuMemFree_v2(CUdeviceptr) -> CUresult;
        fn cuMemHostAlloc(*mut *mut c_void, usize, c_uint) -> CUresult;
        fn cuMemFreeHost(*mut c_void) -> CUresult;
        fn cuMemcpyHtoDAsync_v2(CUdeviceptr, *const c_void, usize, CUstream) -> CUresult;
        fn cuMemcpyDtoHAsync_v2(*mut c_void, CUdeviceptr, usize, CUstream) -> CUresult;
        fn cuMemcpyDtoDAsync_v2(CUdeviceptr, CUdeviceptr, usize, CUstream) -> CUresult;
        fn cuMemsetD8Async(CUdeviceptr, u8, usize, CUstream) -> CUresult;
        fn cuStreamCreate(*mut CUstream, c_uint) -> CUresult;
        fn cuStreamDestroy_v2(CUstream) -> CUresult;
        fn cuStreamSynchronize(CUstream) -> CUresult;
        fn cuStreamQuery(CUstream) -> CUresult;
        fn cuStreamWaitEvent(CUstream, CUevent, c_uint) -> CUresult;
        fn cuEventCreate(*mut CUevent, c_uint) -> CUresult;
        fn cuEventDestroy_v2(CUevent) -> CUresult;
        fn cuEventRecord(CUevent, CUstream) -> CUresult;
        fn cuEventSynchronize(CUevent) -> CUresult;
        fn cuEventQuery(CUevent) -> CUresult;
        fn cuEventElapsedTime_v2(*mut f32, CUevent, CUevent) -> CUresult;
        fn cuModuleLoadData(*mut CUmodule, *const c_void) -> CUresult;
        fn cuModuleUnload(CUmodule) -> CUresult;
        fn cuModuleGetFunction(*mut CUfunction, CUmodule, *const c_char) -> CUresult;
        fn cuLaunchKernel(
            CUfunction, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint,
            CUstream, *mut *mut c_void, *mut *mut c_void,
        ) -> CUresult;
        fn cuStreamBeginCapture_v2(CUstream, CUstreamCaptureMode) -> CUresult;
        fn cuStreamEndCapture(CUstream, *mut CUgraph) -> CUresult;
        fn cuGraphInstantiateWithFlags(*mut CUgraphExec, CUgraph, c_ulonglong) -> CUresult;
        fn cuGraphLaunch(CUgraphExec, CUstream) -> CUresult;
        fn cuGraphExecDestroy(CUgraphExec) -> CUresult;
        fn cuGraphDestroy(CUgraph) -> CUresult;
        fn cuGraphGetNodes(CUgraph, *mut CUgraphNode, *mut usize) -> CUresult;
        fn cuGetErrorName(CUresult, *mut *const c_char) -> CUresult;
        fn cuGetErrorString(CUresult, *mut *const c_char) -> CUresult;
    }
}

/// The opened driver, shared by every thread.
struct Driver {
    api: CudaApi,
    /// Primary context of each device, retained on first use and kept for the
    /// life of the process (as HIP keeps its device contexts).
    contexts: Vec<OnceLock<Context>>,
    _library: libloading::Library,
}

/// A primary context handle.
#[derive(Clone, Copy)]
struct Context(CUcontext);

// SAFETY: a CUDA context handle is a process-wide identifier; the driver API
// accepts it from any thread (cuCtxSetCurrent binds it to the calling one).
unsafe impl Send for Context {}
// SAFETY: as above; the handle is never mutated after it is retained.
unsafe impl Sync for Context {}

static DRIVER: OnceLock<Driver> = OnceLock::new();

/// Opens the CUDA driver library for the NVIDIA layer (once per process).
pub(crate) fn open(candidate: &str) -> Result<(), String> {
    if DRIVER.get().is_some() {
        return Ok(());
    }
    // SAFETY: loading the NVIDIA driver library runs only its own initialisers.
    let library = unsafe { libloading::Library::new(candidate) }.map_err(|e| e.to_string())?;
    // SAFETY: libcuda exports these names with the signatures of cuda.h.
    let mut api = unsafe { CudaApi::resolve(&library) };
    if api.cuEventElapsedTime_v2.is_none() {
        // Drivers before CUDA 12.8 have only the first version (same signature).
        // SAFETY: same signature as the versioned symbol, per cuda.h.
        api.cuEventElapsedTime_v2 = unsafe {
            library.get::<unsafe extern "C" fn(*mut f32, CUevent, CUevent) -> CUresult>(
                b"cuEventElapsedTime\0",
            )
        }
        .ok()
        .map(|symbol| *symbol);
    }
    let (Some(init), Some(count)) = (api.cuInit, api.cuDeviceGetCount) else {
        return Err("lacks cuInit or cuDeviceGetCount".into());
    };
    // SAFETY: cuInit takes flags 0; cuDeviceGetCount writes one int.
    let devices = unsafe {
        let status = init(0);
        let mut n: c_int = 0;
        if status == CUresult::CUDA_SUCCESS && count(&mut n) == CUresult::CUDA_SUCCESS {
            n.max(0) as usize
        } else {
            0
        }
    };
    let driver = Driver {
        api,
        contexts: (0..devices).map(|_| OnceLock::new()).collect(),
        _library: library,
    };
    // A concurrent opener may have won; either driver is equivalent.
    let _ = DRIVER.set(driver);
    Ok(())
}

/// The HIP entry points of the NVIDIA layer.
pub(crate) fn hip_api() -> HipApi {
    shim::table()
}

/// The name of the last CUDA driver status that the NVIDIA layer turned into a
/// HIP error on this thread (HIP's codes are coarser: this keeps the detail).
pub fn last_cuda_error() -> Option<&'static str> {
    shim::last_cuda_error()
}
