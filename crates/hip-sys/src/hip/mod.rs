//! The HIP runtime API: generated declarations and the table of entry points.
//!
//! `bindings.rs` is bindgen's output for ROCm's `hip/hip_runtime_api.h` with
//! `__HIP_PLATFORM_AMD__`, allow-listed to what the project uses (regenerate with
//! `cargo xtask bindgen`; its first line names the header release). The values of
//! the enums used here were also checked against a newer release's header: see
//! the tests at the end of this file.

#[allow(missing_docs)]
mod bindings;

pub use bindings::*;

use std::ffi::{c_char, c_int, c_uchar, c_uint, c_void};

fn_table! {
    /// The HIP entry points the project calls, as found in the loaded runtime (or
    /// provided by the NVIDIA layer).
    pub struct HipApi checked against crate::hip::bindings {
        fn hipInit(c_uint) -> hipError_t;
        fn hipDriverGetVersion(*mut c_int) -> hipError_t;
        fn hipRuntimeGetVersion(*mut c_int) -> hipError_t;
        fn hipGetDeviceCount(*mut c_int) -> hipError_t;
        fn hipSetDevice(c_int) -> hipError_t;
        fn hipGetDevice(*mut c_int) -> hipError_t;
        fn hipDeviceGetName(*mut c_char, c_int, hipDevice_t) -> hipError_t;
        fn hipDeviceGetAttribute(*mut c_int, hipDeviceAttribute_t, c_int) -> hipError_t;
        fn hipDeviceTotalMem(*mut usize, hipDevice_t) -> hipError_t;
        fn hipGetDevicePropertiesR0600(*mut hipDeviceProp_tR0600, c_int) -> hipError_t;
        fn hipMemGetInfo(*mut usize, *mut usize) -> hipError_t;
        fn hipDeviceSynchronize() -> hipError_t;
        fn hipGetErrorName(hipError_t) -> *const c_char;
        fn hipGetErrorString(hipError_t) -> *const c_char;
        fn hipMalloc(*mut *mut c_void, usize) -> hipError_t;
        fn hipFree(*mut c_void) -> hipError_t;
        fn hipHostMalloc(*mut *mut c_void, usize, c_uint) -> hipError_t;
        fn hipHostFree(*mut c_void) -> hipError_t;
        fn hipMemcpyHtoDAsync(hipDeviceptr_t, *mut c_void, usize, hipStream_t) -> hipError_t;
        fn hipMemcpyDtoHAsync(*mut c_void, hipDeviceptr_t, usize, hipStream_t) -> hipError_t;
        fn hipMemcpyDtoDAsync(hipDeviceptr_t, hipDeviceptr_t, usize, hipStream_t) -> hipError_t;
        fn hipMemsetD8Async(hipDeviceptr_t, c_uchar, usize, hipStream_t) -> hipError_t;
        fn hipStreamCreateWithFlags(*mut hipStream_t, c_uint) -> hipError_t;
        fn hipStreamDestroy(hipStream_t) -> hipError_t;
        fn hipStreamSynchronize(hipStream_t) -> hipError_t;
        fn hipStreamQuery(hipStream_t) -> hipError_t;
        fn hipStreamWaitEvent(hipStream_t, hipEvent_t, c_uint) -> hipError_t;
        fn hipEventCreateWithFlags(*mut hipEvent_t, c_uint) -> hipError_t;
        fn hipEventDestroy(hipEvent_t) -> hipError_t;
        fn hipEventRecord(hipEvent_t, hipStream_t) -> hipError_t;
        fn hipEventSynchronize(hipEvent_t) -> hipError_t;
        fn hipEventQuery(hipEvent_t) -> hipError_t;
        fn hipEventElapsedTime(*mut f32, hipEvent_t, hipEvent_t) -> hipError_t;
        fn hipModuleLoadData(*mut hipModule_t, *const c_void) -> hipError_t;
        fn hipModuleUnload(hipModule_t) -> hipError_t;
        fn hipModuleGetFunction(*mut hipFunction_t, hipModule_t, *const c_char) -> hipError_t;
        fn hipModuleLaunchKernel(
            hipFunction_t, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint,
            hipStream_t, *mut *mut c_void, *mut *mut c_void,
        ) -> hipError_t;
        fn hipStreamBeginCapture(hipStream_t, hipStreamCaptureMode) -> hipError_t;
        fn hipStreamEndCapture(hipStream_t, *mut hipGraph_t) -> hipError_t;
        fn hipGraphInstantiate(
            *mut hipGraphExec_t, hipGraph_t, *mut hipGraphNode_t, *mut c_char, usize,
        ) -> hipError_t;
        fn hipGraphLaunch(hipGraphExec_t, hipStream_t) -> hipError_t;
        fn hipGraphExecDestroy(hipGraphExec_t) -> hipError_t;
        fn hipGraphDestroy(hipGraph_t) -> hipError_t;
        fn hipGraphGetNodes(hipGraph_t, *mut hipGraphNode_t, *mut usize) -> hipError_t;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The attribute values the project queries, as the ROCm 7 header (HIP's
    /// `develop` branch of 2025) numbers them too: the enum only grew at its ends
    /// between 6.3 and 7.x, and a runtime interprets the numbers of its own release.
    #[test]
    fn device_attribute_values_match_current_rocm() {
        let expected = [
            (hipDeviceAttribute_t::hipDeviceAttributeClockRate, 5),
            (hipDeviceAttribute_t::hipDeviceAttributeL2CacheSize, 19),
            (
                hipDeviceAttribute_t::hipDeviceAttributeComputeCapabilityMajor,
                23,
            ),
            (
                hipDeviceAttribute_t::hipDeviceAttributeMaxThreadsPerBlock,
                56,
            ),
            (hipDeviceAttribute_t::hipDeviceAttributeMemoryBusWidth, 59),
            (
                hipDeviceAttribute_t::hipDeviceAttributeComputeCapabilityMinor,
                61,
            ),
            (
                hipDeviceAttribute_t::hipDeviceAttributeMultiprocessorCount,
                63,
            ),
            (hipDeviceAttribute_t::hipDeviceAttributePciBusId, 67),
            (hipDeviceAttribute_t::hipDeviceAttributePciDeviceId, 68),
            (hipDeviceAttribute_t::hipDeviceAttributePciDomainID, 69),
            (
                hipDeviceAttribute_t::hipDeviceAttributeMaxSharedMemoryPerBlock,
                74,
            ),
            (hipDeviceAttribute_t::hipDeviceAttributeTotalGlobalMem, 84),
            (hipDeviceAttribute_t::hipDeviceAttributeWarpSize, 87),
        ];
        for (attribute, value) in expected {
            assert_eq!(attribute.0, value, "{attribute:?}");
        }
    }

    #[test]
    fn versioned_properties_layout_is_pinned() {
        // `hipGetDevicePropertiesR0600` fills this exact layout (the symbol's
        // suffix is AMD's version of the struct); bindgen's layout tests pin every
        // field, the architecture name among them.
        assert_eq!(size_of::<hipDeviceProp_tR0600>(), 1472);
        assert_eq!(
            std::mem::offset_of!(hipDeviceProp_tR0600, gcnArchName),
            1160
        );
    }
}
