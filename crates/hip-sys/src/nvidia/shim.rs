//! HIP entry points over the CUDA driver API.
//!
//! Every function has the C signature of its HIP namesake (checked against the
//! HIP bindings through [`HipApi`]) and the HIP semantics the project relies on:
//! an implicit current device per thread backed by the device's primary context,
//! HIP status codes, HIP attribute numbers and flags.
#![allow(non_snake_case)]

use std::cell::Cell;
use std::ffi::{CStr, c_char, c_int, c_uchar, c_uint, c_void};

use super::bindings::*;
use super::{Context, DRIVER, Driver, codes};
use crate::hip::{
    HipApi, hipDevice_t, hipDeviceAttribute_t, hipDeviceProp_tR0600, hipDeviceptr_t, hipError_t,
    hipEvent_t, hipFunction_t, hipGraph_t, hipGraphExec_t, hipGraphNode_t, hipModule_t,
    hipStream_t, hipStreamCaptureMode,
};

thread_local! {
    /// HIP's current device of this thread.
    static CURRENT_DEVICE: Cell<c_int> = const { Cell::new(0) };
    /// The device whose primary context is bound to this thread (-1: none yet).
    static BOUND_DEVICE: Cell<c_int> = const { Cell::new(-1) };
    /// The last CUDA status this thread turned into a HIP error.
    static LAST_CUDA_ERROR: Cell<u32> = const { Cell::new(0) };
}

const SUCCESS: hipError_t = hipError_t::hipSuccess;

/// HIP's status for a driver status, remembering the driver's own on failure.
fn status(result: CUresult) -> hipError_t {
    if result == CUresult::CUDA_SUCCESS {
        SUCCESS
    } else {
        LAST_CUDA_ERROR.set(result.0);
        codes::hip_status(result)
    }
}

pub(super) fn last_cuda_error() -> Option<&'static str> {
    let code = LAST_CUDA_ERROR.get();
    let driver = DRIVER.get()?;
    let name_of = driver.api.cuGetErrorName?;
    let mut name: *const c_char = std::ptr::null();
    // SAFETY: cuGetErrorName writes a pointer to a static string or fails.
    let found = unsafe { name_of(CUresult(code), &mut name) } == CUresult::CUDA_SUCCESS;
    if code == 0 || !found || name.is_null() {
        return None;
    }
    // SAFETY: the driver returned a NUL-terminated string with static lifetime.
    unsafe { CStr::from_ptr(name) }.to_str().ok()
}

/// Calls a driver entry point if the driver has it, translating the status.
macro_rules! cu {
    ($driver:expr, $name:ident ( $($arg:expr),* $(,)? )) => {
        match $driver.api.$name {
            // SAFETY: the arguments are those of the HIP call being implemented,
            // whose contract (valid pointers, live handles) the HIP caller keeps;
            // the driver function has the signature bindgen read from cuda.h.
            Some(function) => status(unsafe { function($($arg),*) }),
            None => hipError_t::hipErrorNotSupported,
        }
    };
}

/// Returns early with the status unless it is success.
macro_rules! check {
    ($status:expr) => {{
        let status = $status;
        if status != SUCCESS {
            return status;
        }
    }};
}

fn driver() -> Result<&'static Driver, hipError_t> {
    DRIVER.get().ok_or(hipError_t::hipErrorNotInitialized)
}

fn device_handle(driver: &Driver, ordinal: c_int) -> Result<CUdevice, hipError_t> {
    if ordinal < 0 || ordinal as usize >= driver.contexts.len() {
        return Err(hipError_t::hipErrorInvalidDevice);
    }
    let mut device: CUdevice = 0;
    match cu!(driver, cuDeviceGet(&mut device, ordinal)) {
        SUCCESS => Ok(device),
        error => Err(error),
    }
}

/// Binds the current device's primary context to this thread (retaining it on
/// first use), then runs `body`.
fn with_context(body: impl FnOnce(&'static Driver) -> hipError_t) -> hipError_t {
    let driver = match driver() {
        Ok(driver) => driver,
        Err(error) => return error,
    };
    let ordinal = CURRENT_DEVICE.get();
    if BOUND_DEVICE.get() != ordinal {
        let device = match device_handle(driver, ordinal) {
            Ok(device) => device,
            Err(error) => return error,
        };
        let slot = &driver.contexts[ordinal as usize];
        let context = match slot.get() {
            Some(context) => *context,
            None => {
                let mut raw: CUcontext = std::ptr::null_mut();
                check!(cu!(driver, cuDevicePrimaryCtxRetain(&mut raw, device)));
                // Another thread may have retained it too: the driver counts
                // retains, and either handle names the same context.
                *slot.get_or_init(|| Context(raw))
            }
        };
        check!(cu!(driver, cuCtxSetCurrent(context.0)));
        BOUND_DEVICE.set(ordinal);
    }
    body(driver)
}

fn device_pointer(pointer: *const c_void) -> CUdeviceptr {
    pointer as usize as CUdeviceptr
}

unsafe extern "C" fn hipInit(_flags: c_uint) -> hipError_t {
    match driver() {
        Ok(driver) => cu!(driver, cuInit(0)),
        Err(error) => error,
    }
}

unsafe extern "C" fn hipDriverGetVersion(version: *mut c_int) -> hipError_t {
    match driver() {
        Ok(driver) => cu!(driver, cuDriverGetVersion(version)),
        Err(error) => error,
    }
}

/// There is no separate runtime: the driver's version answers.
unsafe extern "C" fn hipRuntimeGetVersion(version: *mut c_int) -> hipError_t {
    // SAFETY: same contract as hipDriverGetVersion.
    unsafe { hipDriverGetVersion(version) }
}

unsafe extern "C" fn hipGetDeviceCount(count: *mut c_int) -> hipError_t {
    if count.is_null() {
        return hipError_t::hipErrorInvalidValue;
    }
    let devices = DRIVER.get().map_or(0, |driver| driver.contexts.len());
    // SAFETY: checked non-null; the caller passes a writable int.
    unsafe { *count = devices as c_int };
    if devices == 0 {
        hipError_t::hipErrorNoDevice
    } else {
        SUCCESS
    }
}

/// Only records the choice (HIP's semantics); the context is bound on first use.
unsafe extern "C" fn hipSetDevice(ordinal: c_int) -> hipError_t {
    match driver() {
        Ok(driver) if ordinal >= 0 && (ordinal as usize) < driver.contexts.len() => {
            CURRENT_DEVICE.set(ordinal);
            SUCCESS
        }
        Ok(_) => hipError_t::hipErrorInvalidDevice,
        Err(error) => error,
    }
}

unsafe extern "C" fn hipGetDevice(ordinal: *mut c_int) -> hipError_t {
    if ordinal.is_null() {
        return hipError_t::hipErrorInvalidValue;
    }
    // SAFETY: checked non-null; the caller passes a writable int.
    unsafe { *ordinal = CURRENT_DEVICE.get() };
    SUCCESS
}

unsafe extern "C" fn hipDeviceGetName(
    name: *mut c_char,
    len: c_int,
    ordinal: hipDevice_t,
) -> hipError_t {
    match driver().and_then(|driver| Ok((driver, device_handle(driver, ordinal)?))) {
        Ok((driver, device)) => cu!(driver, cuDeviceGetName(name, len, device)),
        Err(error) => error,
    }
}

unsafe extern "C" fn hipDeviceGetAttribute(
    value: *mut c_int,
    attribute: hipDeviceAttribute_t,
    ordinal: c_int,
) -> hipError_t {
    let Some(cuda_attribute) = codes::cuda_attribute(attribute) else {
        return hipError_t::hipErrorInvalidValue;
    };
    match driver().and_then(|driver| Ok((driver, device_handle(driver, ordinal)?))) {
        Ok((driver, device)) => cu!(driver, cuDeviceGetAttribute(value, cuda_attribute, device)),
        Err(error) => error,
    }
}

unsafe extern "C" fn hipDeviceTotalMem(bytes: *mut usize, ordinal: hipDevice_t) -> hipError_t {
    match driver().and_then(|driver| Ok((driver, device_handle(driver, ordinal)?))) {
        Ok((driver, device)) => cu!(driver, cuDeviceTotalMem_v2(bytes, device)),
        Err(error) => error,
    }
}

/// Fills the fields the project reads (name, memory, compute capability, units,
/// warp size, limits); `gcnArchName` carries the CUDA architecture, `sm_XY`.
unsafe extern "C" fn hipGetDevicePropertiesR0600(
    properties: *mut hipDeviceProp_tR0600,
    ordinal: c_int,
) -> hipError_t {
    if properties.is_null() {
        return hipError_t::hipErrorInvalidValue;
    }
    let mut filled = hipDeviceProp_tR0600::default();
    let attribute = |attribute: hipDeviceAttribute_t, out: &mut c_int| {
        // SAFETY: `out` is a valid int.
        unsafe { hipDeviceGetAttribute(out, attribute, ordinal) }
    };
    type A = hipDeviceAttribute_t;
    // SAFETY: `filled.name` holds 256 bytes.
    check!(unsafe { hipDeviceGetName(filled.name.as_mut_ptr(), 256, ordinal) });
    // SAFETY: a valid usize out-pointer.
    check!(unsafe { hipDeviceTotalMem(&mut filled.totalGlobalMem, ordinal) });
    check!(attribute(
        A::hipDeviceAttributeComputeCapabilityMajor,
        &mut filled.major
    ));
    check!(attribute(
        A::hipDeviceAttributeComputeCapabilityMinor,
        &mut filled.minor
    ));
    check!(attribute(
        A::hipDeviceAttributeMultiprocessorCount,
        &mut filled.multiProcessorCount
    ));
    check!(attribute(
        A::hipDeviceAttributeWarpSize,
        &mut filled.warpSize
    ));
    check!(attribute(
        A::hipDeviceAttributeMaxThreadsPerBlock,
        &mut filled.maxThreadsPerBlock
    ));
    check!(attribute(
        A::hipDeviceAttributeClockRate,
        &mut filled.clockRate
    ));
    check!(attribute(
        A::hipDeviceAttributeL2CacheSize,
        &mut filled.l2CacheSize
    ));
    let mut shared: c_int = 0;
    check!(attribute(
        A::hipDeviceAttributeMaxSharedMemoryPerBlock,
        &mut shared
    ));
    filled.sharedMemPerBlock = shared.max(0) as usize;
    let arch = format!("sm_{}{}", filled.major, filled.minor);
    for (slot, byte) in filled.gcnArchName.iter_mut().zip(arch.bytes()) {
        *slot = byte as c_char;
    }
    // SAFETY: checked non-null; the caller passes a writable struct of this layout.
    unsafe { properties.write(filled) };
    SUCCESS
}

unsafe extern "C" fn hipMemGetInfo(free: *mut usize, total: *mut usize) -> hipError_t {
    with_context(|driver| cu!(driver, cuMemGetInfo_v2(free, total)))
}

unsafe extern "C" fn hipDeviceSynchronize() -> hipError_t {
    with_context(|driver| cu!(driver, cuCtxSynchronize()))
}

unsafe extern "C" fn hipGetErrorName(error: hipError_t) -> *const c_char {
    codes::hip_error_name(error).as_ptr()
}

unsafe extern "C" fn hipGetErrorString(error: hipError_t) -> *const c_char {
    codes::hip_error_name(error).as_ptr()
}

/// Like HIP, a zero-byte request succeeds with a null pointer.
unsafe extern "C" fn hipMalloc(pointer: *mut *mut c_void, size: usize) -> hipError_t {
    if pointer.is_null() {
        return hipError_t::hipErrorInvalidValue;
    }
    if size == 0 {
        // SAFETY: checked non-null.
        unsafe { *pointer = std::ptr::null_mut() };
        return SUCCESS;
    }
    with_context(|driver| {
        let mut device: CUdeviceptr = 0;
        check!(cu!(driver, cuMemAlloc_v2(&mut device, size)));
        // SAFETY: checked non-null.
        unsafe { *pointer = device as usize as *mut c_void };
        SUCCESS
    })
}

/// Like HIP, freeing null is a no-op.
unsafe extern "C" fn hipFree(pointer: *mut c_void) -> hipError_t {
    if pointer.is_null() {
        return SUCCESS;
    }
    with_context(|driver| cu!(driver, cuMemFree_v2(device_pointer(pointer))))
}

/// HIP's portable, mapped and write-combined flags have CUDA's bit values; HIP's
/// AMD-only flags (coherence, NUMA) have no CUDA meaning and are dropped.
unsafe extern "C" fn hipHostMalloc(
    pointer: *mut *mut c_void,
    size: usize,
    flags: c_uint,
) -> hipError_t {
    with_context(|driver| cu!(driver, cuMemHostAlloc(pointer, size, flags & 0x7)))
}

unsafe extern "C" fn hipHostFree(pointer: *mut c_void) -> hipError_t {
    if pointer.is_null() {
        return SUCCESS;
    }
    with_context(|driver| cu!(driver, cuMemFreeHost(pointer)))
}

unsafe extern "C" fn hipMemcpyHtoDAsync(
    destination: hipDeviceptr_t,
    source: *mut c_void,
    bytes: usize,
    stream: hipStream_t,
) -> hipError_t {
    with_context(|driver| {
        cu!(
            driver,
            cuMemcpyHtoDAsync_v2(device_pointer(destination), source, bytes, stream.cast())
        )
    })
}

unsafe extern "C" fn hipMemcpyDtoHAsync(
    destination: *mut c_void,
    source: hipDeviceptr_t,
    bytes: usize,
    stream: hipStream_t,
) -> hipError_t {
    with_context(|driver| {
        cu!(
            driver,
            cuMemcpyDtoHAsync_v2(destination, device_pointer(source), bytes, stream.cast())
        )
    })
}

unsafe extern "C" fn hipMemcpyDtoDAsync(
    destination: hipDeviceptr_t,
    source: hipDeviceptr_t,
    bytes: usize,
    stream: hipStream_t,
) -> hipError_t {
    with_context(|driver| {
        let (destination, source) = (device_pointer(destination), device_pointer(source));
        cu!(
            driver,
            cuMemcpyDtoDAsync_v2(destination, source, bytes, stream.cast())
        )
    })
}

unsafe extern "C" fn hipMemsetD8Async(
    destination: hipDeviceptr_t,
    value: c_uchar,
    count: usize,
    stream: hipStream_t,
) -> hipError_t {
    with_context(|driver| {
        cu!(
            driver,
            cuMemsetD8Async(device_pointer(destination), value, count, stream.cast())
        )
    })
}

/// `hipStreamNonBlocking` is CUDA's `CU_STREAM_NON_BLOCKING` (1).
unsafe extern "C" fn hipStreamCreateWithFlags(
    stream: *mut hipStream_t,
    flags: c_uint,
) -> hipError_t {
    with_context(|driver| cu!(driver, cuStreamCreate(stream.cast(), flags & 0x1)))
}

unsafe extern "C" fn hipStreamDestroy(stream: hipStream_t) -> hipError_t {
    with_context(|driver| cu!(driver, cuStreamDestroy_v2(stream.cast())))
}

unsafe extern "C" fn hipStreamSynchronize(stream: hipStream_t) -> hipError_t {
    with_context(|driver| cu!(driver, cuStreamSynchronize(stream.cast())))
}

unsafe extern "C" fn hipStreamQuery(stream: hipStream_t) -> hipError_t {
    with_context(|driver| cu!(driver, cuStreamQuery(stream.cast())))
}

unsafe extern "C" fn hipStreamWaitEvent(
    stream: hipStream_t,
    event: hipEvent_t,
    flags: c_uint,
) -> hipError_t {
    with_context(|driver| {
        cu!(
            driver,
            cuStreamWaitEvent(stream.cast(), event.cast(), flags)
        )
    })
}

/// HIP's blocking-sync, disable-timing and interprocess flags have CUDA's values.
unsafe extern "C" fn hipEventCreateWithFlags(event: *mut hipEvent_t, flags: c_uint) -> hipError_t {
    with_context(|driver| cu!(driver, cuEventCreate(event.cast(), flags & 0x7)))
}

unsafe extern "C" fn hipEventDestroy(event: hipEvent_t) -> hipError_t {
    with_context(|driver| cu!(driver, cuEventDestroy_v2(event.cast())))
}

unsafe extern "C" fn hipEventRecord(event: hipEvent_t, stream: hipStream_t) -> hipError_t {
    with_context(|driver| cu!(driver, cuEventRecord(event.cast(), stream.cast())))
}

unsafe extern "C" fn hipEventSynchronize(event: hipEvent_t) -> hipError_t {
    with_context(|driver| cu!(driver, cuEventSynchronize(event.cast())))
}

unsafe extern "C" fn hipEventQuery(event: hipEvent_t) -> hipError_t {
    with_context(|driver| cu!(driver, cuEventQuery(event.cast())))
}

unsafe extern "C" fn hipEventElapsedTime(
    ms: *mut f32,
    start: hipEvent_t,
    stop: hipEvent_t,
) -> hipError_t {
    with_context(|driver| cu!(driver, cuEventElapsedTime_v2(ms, start.cast(), stop.cast())))
}

unsafe extern "C" fn hipModuleLoadData(
    module: *mut hipModule_t,
    image: *const c_void,
) -> hipError_t {
    with_context(|driver| cu!(driver, cuModuleLoadData(module.cast(), image)))
}

unsafe extern "C" fn hipModuleUnload(module: hipModule_t) -> hipError_t {
    with_context(|driver| cu!(driver, cuModuleUnload(module.cast())))
}

unsafe extern "C" fn hipModuleGetFunction(
    function: *mut hipFunction_t,
    module: hipModule_t,
    name: *const c_char,
) -> hipError_t {
    with_context(|driver| {
        cu!(
            driver,
            cuModuleGetFunction(function.cast(), module.cast(), name)
        )
    })
}

#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn hipModuleLaunchKernel(
    function: hipFunction_t,
    grid_x: c_uint,
    grid_y: c_uint,
    grid_z: c_uint,
    block_x: c_uint,
    block_y: c_uint,
    block_z: c_uint,
    shared_bytes: c_uint,
    stream: hipStream_t,
    parameters: *mut *mut c_void,
    extra: *mut *mut c_void,
) -> hipError_t {
    with_context(|driver| {
        cu!(
            driver,
            cuLaunchKernel(
                function.cast(),
                grid_x,
                grid_y,
                grid_z,
                block_x,
                block_y,
                block_z,
                shared_bytes,
                stream.cast(),
                parameters,
                extra,
            )
        )
    })
}

/// HIP's capture modes (global, thread-local, relaxed) have CUDA's values.
unsafe extern "C" fn hipStreamBeginCapture(
    stream: hipStream_t,
    mode: hipStreamCaptureMode,
) -> hipError_t {
    with_context(|driver| {
        cu!(
            driver,
            cuStreamBeginCapture_v2(stream.cast(), CUstreamCaptureMode(mode.0))
        )
    })
}

unsafe extern "C" fn hipStreamEndCapture(
    stream: hipStream_t,
    graph: *mut hipGraph_t,
) -> hipError_t {
    with_context(|driver| cu!(driver, cuStreamEndCapture(stream.cast(), graph.cast())))
}

/// The driver reports no error node or log: an empty log is written if asked.
unsafe extern "C" fn hipGraphInstantiate(
    executable: *mut hipGraphExec_t,
    graph: hipGraph_t,
    _error_node: *mut hipGraphNode_t,
    log: *mut c_char,
    log_size: usize,
) -> hipError_t {
    if !log.is_null() && log_size > 0 {
        // SAFETY: the caller's buffer holds `log_size` > 0 bytes.
        unsafe { *log = 0 };
    }
    with_context(|driver| {
        cu!(
            driver,
            cuGraphInstantiateWithFlags(executable.cast(), graph.cast(), 0)
        )
    })
}

unsafe extern "C" fn hipGraphLaunch(executable: hipGraphExec_t, stream: hipStream_t) -> hipError_t {
    with_context(|driver| cu!(driver, cuGraphLaunch(executable.cast(), stream.cast())))
}

unsafe extern "C" fn hipGraphExecDestroy(executable: hipGraphExec_t) -> hipError_t {
    with_context(|driver| cu!(driver, cuGraphExecDestroy(executable.cast())))
}

unsafe extern "C" fn hipGraphDestroy(graph: hipGraph_t) -> hipError_t {
    with_context(|driver| cu!(driver, cuGraphDestroy(graph.cast())))
}

unsafe extern "C" fn hipGraphGetNodes(
    graph: hipGraph_t,
    nodes: *mut hipGraphNode_t,
    count: *mut usize,
) -> hipError_t {
    with_context(|driver| cu!(driver, cuGraphGetNodes(graph.cast(), nodes.cast(), count)))
}

/// The HIP table of the NVIDIA layer: every entry point is present.
pub(super) fn table() -> HipApi {
    HipApi {
        hipInit: Some(hipInit),
        hipDriverGetVersion: Some(hipDriverGetVersion),
        hipRuntimeGetVersion: Some(hipRuntimeGetVersion),
        hipGetDeviceCount: Some(hipGetDeviceCount),
        hipSetDevice: Some(hipSetDevice),
        hipGetDevice: Some(hipGetDevice),
        hipDeviceGetName: Some(hipDeviceGetName),
        hipDeviceGetAttribute: Some(hipDeviceGetAttribute),
        hipDeviceTotalMem: Some(hipDeviceTotalMem),
        hipGetDevicePropertiesR0600: Some(hipGetDevicePropertiesR0600),
        hipMemGetInfo: Some(hipMemGetInfo),
        hipDeviceSynchronize: Some(hipDeviceSynchronize),
        hipGetErrorName: Some(hipGetErrorName),
        hipGetErrorString: Some(hipGetErrorString),
        hipMalloc: Some(hipMalloc),
        hipFree: Some(hipFree),
        hipHostMalloc: Some(hipHostMalloc),
        hipHostFree: Some(hipHostFree),
        hipMemcpyHtoDAsync: Some(hipMemcpyHtoDAsync),
        hipMemcpyDtoHAsync: Some(hipMemcpyDtoHAsync),
        hipMemcpyDtoDAsync: Some(hipMemcpyDtoDAsync),
        hipMemsetD8Async: Some(hipMemsetD8Async),
        hipStreamCreateWithFlags: Some(hipStreamCreateWithFlags),
        hipStreamDestroy: Some(hipStreamDestroy),
        hipStreamSynchronize: Some(hipStreamSynchronize),
        hipStreamQuery: Some(hipStreamQuery),
        hipStreamWaitEvent: Some(hipStreamWaitEvent),
        hipEventCreateWithFlags: Some(hipEventCreateWithFlags),
        hipEventDestroy: Some(hipEventDestroy),
        hipEventRecord: Some(hipEventRecord),
        hipEventSynchronize: Some(hipEventSynchronize),
        hipEventQuery: Some(hipEventQuery),
        hipEventElapsedTime: Some(hipEventElapsedTime),
        hipModuleLoadData: Some(hipModuleLoadData),
        hipModuleUnload: Some(hipModuleUnload),
        hipModuleGetFunction: Some(hipModuleGetFunction),
        hipModuleLaunchKernel: Some(hipModuleLaunchKernel),
        hipStreamBeginCapture: Some(hipStreamBeginCapture),
        hipStreamEndCapture: Some(hipStreamEndCapture),
        hipGraphInstantiate: Some(hipGraphInstantiate),
        hipGraphLaunch: Some(hipGraphLaunch),
        hipGraphExecDestroy: Some(hipGraphExecDestroy),
        hipGraphDestroy: Some(hipGraphDestroy),
        hipGraphGetNodes: Some(hipGraphGetNodes),
    }
}
