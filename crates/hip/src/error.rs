//! Errors of the safe HIP layer.

use std::fmt;

/// A HIP call that returned a failure status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HipError {
    /// The HIP function, e.g. `hipMalloc`.
    pub call: &'static str,
    /// The status code (`hipError_t`).
    pub code: u32,
    /// The runtime's name for the status, e.g. `hipErrorOutOfMemory`.
    pub name: String,
    /// On NVIDIA, the CUDA driver's own status name, which is often more precise.
    pub driver_detail: Option<&'static str>,
}

impl fmt::Display for HipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {} ({})", self.call, self.name, self.code)?;
        if let Some(detail) = self.driver_detail {
            write!(f, " [CUDA driver: {detail}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for HipError {}

/// Everything that can go wrong in this crate.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No GPU runtime could be loaded.
    #[error(transparent)]
    Load(#[from] rocmforge_hip_sys::LoadError),
    /// A HIP call failed.
    #[error(transparent)]
    Api(#[from] HipError),
    /// The loaded runtime lacks an entry point (an older release).
    #[error("the GPU runtime lacks the entry point {0}")]
    MissingEntryPoint(&'static str),
    /// The runtime loaded but reports no GPU.
    #[error("the GPU runtime reports no device")]
    NoDevice,
    /// A device ordinal outside `0..count`.
    #[error("no GPU with index {ordinal} ({count} found)")]
    NoSuchDevice {
        /// The requested index.
        ordinal: usize,
        /// How many devices there are.
        count: usize,
    },
    /// A range outside a buffer or view.
    #[error("range {start}..{end} is outside a buffer of {len} elements")]
    OutOfBounds {
        /// Start of the requested range.
        start: usize,
        /// End of the requested range.
        end: usize,
        /// Length of the buffer or view.
        len: usize,
    },
    /// Source and destination of a copy differ in length.
    #[error("copy between {source_len} and {destination_len} elements")]
    LengthMismatch {
        /// Elements in the source.
        source_len: usize,
        /// Elements in the destination.
        destination_len: usize,
    },
    /// A size computation overflowed (elements × element size, or alignment).
    #[error("{what}: size overflows")]
    SizeOverflow {
        /// What was being sized.
        what: &'static str,
    },
    /// Objects of two different devices were combined.
    #[error("objects of GPU {0} and GPU {1} used together")]
    DeviceMismatch(usize, usize),
    /// A kernel is not in a module.
    #[error("kernel {name} not found in the module: {source}")]
    KernelNotFound {
        /// The kernel's name.
        name: String,
        /// The runtime's answer.
        source: HipError,
    },
    /// A call into the vendor's BLAS library failed.
    #[error("{call} failed: BLAS status {status}")]
    Blas {
        /// What was called.
        call: &'static str,
        /// The library's status code.
        status: i32,
    },
    /// An invalid argument that the runtime would reject less clearly.
    #[error("{0}")]
    Invalid(String),
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
