//! Translations between CUDA driver and HIP codes.

use std::ffi::CStr;

use super::bindings::{CUdevice_attribute, CUresult};
use crate::hip::{hipDeviceAttribute_t as Hip, hipError_t};

/// HIP's status for a CUDA driver status. HIP numbers most of its codes like
/// CUDA's; the rest map to the nearest HIP meaning, else `hipErrorUnknown`.
pub(crate) fn hip_status(status: CUresult) -> hipError_t {
    let code = status.0;
    if HIP_ERROR_NAMES.iter().any(|&(value, _)| value == code) {
        return hipError_t(code);
    }
    hipError_t(match code {
        // Stub library, newer driver needed: the driver is too old for the call.
        34 | 36 => hipError_t::hipErrorInsufficientDriver.0,
        // Device unavailable or not licensed.
        46 | 102 => hipError_t::hipErrorNoDevice.0,
        // PTX newer than the driver's compiler, no JIT compiler, JIT disabled.
        221..=223 => hipError_t::hipErrorInvalidKernelFile.0,
        // Faults inside a kernel.
        714..=718 => hipError_t::hipErrorLaunchFailure.0,
        800 => hipError_t::hipErrorNotSupported.0,
        _ => hipError_t::hipErrorUnknown.0,
    })
}

/// The CUDA attribute answering a HIP device attribute, where one exists.
pub(crate) fn cuda_attribute(attribute: Hip) -> Option<CUdevice_attribute> {
    type Cu = CUdevice_attribute;
    Some(match attribute {
        Hip::hipDeviceAttributeMaxThreadsPerBlock => Cu::CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK,
        Hip::hipDeviceAttributeMaxBlockDimX => Cu::CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X,
        Hip::hipDeviceAttributeMaxBlockDimY => Cu::CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y,
        Hip::hipDeviceAttributeMaxBlockDimZ => Cu::CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z,
        Hip::hipDeviceAttributeMaxGridDimX => Cu::CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X,
        Hip::hipDeviceAttributeMaxGridDimY => Cu::CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y,
        Hip::hipDeviceAttributeMaxGridDimZ => Cu::CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z,
        Hip::hipDeviceAttributeMaxSharedMemoryPerBlock => {
            Cu::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK
        }
        Hip::hipDeviceAttributeSharedMemPerBlockOptin => {
            Cu::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN
        }
        Hip::hipDeviceAttributeSharedMemPerMultiprocessor => {
            Cu::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR
        }
        Hip::hipDeviceAttributeTotalConstantMemory => Cu::CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY,
        Hip::hipDeviceAttributeWarpSize => Cu::CU_DEVICE_ATTRIBUTE_WARP_SIZE,
        Hip::hipDeviceAttributeMaxRegistersPerBlock => {
            Cu::CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK
        }
        Hip::hipDeviceAttributeClockRate => Cu::CU_DEVICE_ATTRIBUTE_CLOCK_RATE,
        Hip::hipDeviceAttributeMultiprocessorCount => Cu::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
        Hip::hipDeviceAttributeIntegrated => Cu::CU_DEVICE_ATTRIBUTE_INTEGRATED,
        Hip::hipDeviceAttributeCanMapHostMemory => Cu::CU_DEVICE_ATTRIBUTE_CAN_MAP_HOST_MEMORY,
        Hip::hipDeviceAttributeConcurrentKernels => Cu::CU_DEVICE_ATTRIBUTE_CONCURRENT_KERNELS,
        Hip::hipDeviceAttributePciBusId => Cu::CU_DEVICE_ATTRIBUTE_PCI_BUS_ID,
        Hip::hipDeviceAttributePciDeviceId => Cu::CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID,
        Hip::hipDeviceAttributePciDomainID => Cu::CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID,
        Hip::hipDeviceAttributeAsyncEngineCount => Cu::CU_DEVICE_ATTRIBUTE_ASYNC_ENGINE_COUNT,
        Hip::hipDeviceAttributeUnifiedAddressing => Cu::CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING,
        Hip::hipDeviceAttributeMemoryClockRate => Cu::CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE,
        Hip::hipDeviceAttributeMemoryBusWidth => Cu::CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH,
        Hip::hipDeviceAttributeL2CacheSize => Cu::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE,
        Hip::hipDeviceAttributeMaxThreadsPerMultiProcessor => {
            Cu::CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR
        }
        Hip::hipDeviceAttributeComputeCapabilityMajor => {
            Cu::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
        }
        Hip::hipDeviceAttributeComputeCapabilityMinor => {
            Cu::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
        }
        Hip::hipDeviceAttributeManagedMemory => Cu::CU_DEVICE_ATTRIBUTE_MANAGED_MEMORY,
        Hip::hipDeviceAttributeCooperativeLaunch => Cu::CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH,
        Hip::hipDeviceAttributeMaxBlocksPerMultiProcessor => {
            Cu::CU_DEVICE_ATTRIBUTE_MAX_BLOCKS_PER_MULTIPROCESSOR
        }
        Hip::hipDeviceAttributeStreamPrioritiesSupported => {
            Cu::CU_DEVICE_ATTRIBUTE_STREAM_PRIORITIES_SUPPORTED
        }
        _ => return None,
    })
}

/// HIP's name for a status code.
pub(crate) fn hip_error_name(status: hipError_t) -> &'static CStr {
    HIP_ERROR_NAMES
        .iter()
        .find(|&&(value, _)| value == status.0)
        .map_or(c"hipErrorUnknown", |&(_, name)| name)
}

// Names of the HIP status codes, one per value (the first name the header gives
// it), listed from `hip/bindings.rs` so that the NVIDIA layer can answer
// `hipGetErrorName` itself.
pub(crate) const HIP_ERROR_NAMES: &[(u32, &CStr)] = &[
    (0, c"hipSuccess"),
    (1, c"hipErrorInvalidValue"),
    (2, c"hipErrorOutOfMemory"),
    (3, c"hipErrorNotInitialized"),
    (4, c"hipErrorDeinitialized"),
    (5, c"hipErrorProfilerDisabled"),
    (6, c"hipErrorProfilerNotInitialized"),
    (7, c"hipErrorProfilerAlreadyStarted"),
    (8, c"hipErrorProfilerAlreadyStopped"),
    (9, c"hipErrorInvalidConfiguration"),
    (12, c"hipErrorInvalidPitchValue"),
    (13, c"hipErrorInvalidSymbol"),
    (17, c"hipErrorInvalidDevicePointer"),
    (21, c"hipErrorInvalidMemcpyDirection"),
    (35, c"hipErrorInsufficientDriver"),
    (52, c"hipErrorMissingConfiguration"),
    (53, c"hipErrorPriorLaunchFailure"),
    (98, c"hipErrorInvalidDeviceFunction"),
    (100, c"hipErrorNoDevice"),
    (101, c"hipErrorInvalidDevice"),
    (200, c"hipErrorInvalidImage"),
    (201, c"hipErrorInvalidContext"),
    (202, c"hipErrorContextAlreadyCurrent"),
    (205, c"hipErrorMapFailed"),
    (206, c"hipErrorUnmapFailed"),
    (207, c"hipErrorArrayIsMapped"),
    (208, c"hipErrorAlreadyMapped"),
    (209, c"hipErrorNoBinaryForGpu"),
    (210, c"hipErrorAlreadyAcquired"),
    (211, c"hipErrorNotMapped"),
    (212, c"hipErrorNotMappedAsArray"),
    (213, c"hipErrorNotMappedAsPointer"),
    (214, c"hipErrorECCNotCorrectable"),
    (215, c"hipErrorUnsupportedLimit"),
    (216, c"hipErrorContextAlreadyInUse"),
    (217, c"hipErrorPeerAccessUnsupported"),
    (218, c"hipErrorInvalidKernelFile"),
    (219, c"hipErrorInvalidGraphicsContext"),
    (300, c"hipErrorInvalidSource"),
    (301, c"hipErrorFileNotFound"),
    (302, c"hipErrorSharedObjectSymbolNotFound"),
    (303, c"hipErrorSharedObjectInitFailed"),
    (304, c"hipErrorOperatingSystem"),
    (400, c"hipErrorInvalidHandle"),
    (401, c"hipErrorIllegalState"),
    (500, c"hipErrorNotFound"),
    (600, c"hipErrorNotReady"),
    (700, c"hipErrorIllegalAddress"),
    (701, c"hipErrorLaunchOutOfResources"),
    (702, c"hipErrorLaunchTimeOut"),
    (704, c"hipErrorPeerAccessAlreadyEnabled"),
    (705, c"hipErrorPeerAccessNotEnabled"),
    (708, c"hipErrorSetOnActiveProcess"),
    (709, c"hipErrorContextIsDestroyed"),
    (710, c"hipErrorAssert"),
    (712, c"hipErrorHostMemoryAlreadyRegistered"),
    (713, c"hipErrorHostMemoryNotRegistered"),
    (719, c"hipErrorLaunchFailure"),
    (720, c"hipErrorCooperativeLaunchTooLarge"),
    (801, c"hipErrorNotSupported"),
    (900, c"hipErrorStreamCaptureUnsupported"),
    (901, c"hipErrorStreamCaptureInvalidated"),
    (902, c"hipErrorStreamCaptureMerge"),
    (903, c"hipErrorStreamCaptureUnmatched"),
    (904, c"hipErrorStreamCaptureUnjoined"),
    (905, c"hipErrorStreamCaptureIsolation"),
    (906, c"hipErrorStreamCaptureImplicit"),
    (907, c"hipErrorCapturedEvent"),
    (908, c"hipErrorStreamCaptureWrongThread"),
    (910, c"hipErrorGraphExecUpdateFailure"),
    (911, c"hipErrorInvalidChannelDescriptor"),
    (912, c"hipErrorInvalidTexture"),
    (999, c"hipErrorUnknown"),
    (1052, c"hipErrorRuntimeMemory"),
    (1053, c"hipErrorRuntimeOther"),
    (1054, c"hipErrorTbd"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_statuses_become_hip_statuses() {
        assert_eq!(
            hip_status(CUresult::CUDA_ERROR_OUT_OF_MEMORY),
            hipError_t::hipErrorOutOfMemory
        );
        assert_eq!(
            hip_status(CUresult::CUDA_ERROR_INVALID_IMAGE),
            hipError_t::hipErrorInvalidImage
        );
        assert_eq!(
            hip_status(CUresult::CUDA_ERROR_NOT_READY),
            hipError_t::hipErrorNotReady
        );
        assert_eq!(
            hip_status(CUresult::CUDA_ERROR_NO_DEVICE),
            hipError_t::hipErrorNoDevice
        );
        assert_eq!(
            hip_status(CUresult::CUDA_ERROR_UNSUPPORTED_PTX_VERSION),
            hipError_t::hipErrorInvalidKernelFile
        );
        assert_eq!(
            hip_status(CUresult::CUDA_ERROR_ILLEGAL_INSTRUCTION),
            hipError_t::hipErrorLaunchFailure
        );
        assert_eq!(hip_status(CUresult(123_456)), hipError_t::hipErrorUnknown);
    }

    #[test]
    fn attributes_translate_or_are_refused() {
        assert_eq!(
            cuda_attribute(Hip::hipDeviceAttributeWarpSize),
            Some(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_WARP_SIZE)
        );
        assert_eq!(
            cuda_attribute(Hip::hipDeviceAttributeMultiprocessorCount),
            Some(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
        );
        // AMD-only attributes have no CUDA meaning.
        assert_eq!(cuda_attribute(Hip::hipDeviceAttributeAsicRevision), None);
    }

    #[test]
    fn every_status_has_a_name() {
        assert_eq!(hip_error_name(hipError_t::hipSuccess), c"hipSuccess");
        assert_eq!(
            hip_error_name(hipError_t::hipErrorOutOfMemory),
            c"hipErrorOutOfMemory"
        );
        assert_eq!(hip_error_name(hipError_t(77_777)), c"hipErrorUnknown");
    }
}
