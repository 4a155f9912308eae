//! Finding a GPU runtime at run time, once per process.

use std::ffi::c_int;
use std::fmt;
use std::path::PathBuf;
use std::sync::OnceLock;

use crate::hip::{HipApi, hipError_t};
use crate::nvidia;

/// Which vendor's runtime answers the HIP calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    /// AMD ROCm: `libamdhip64.so`.
    Amd,
    /// NVIDIA: the HIP entry points implemented over `libcuda.so.1`.
    Nvidia,
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Platform::Amd => "AMD ROCm",
            Platform::Nvidia => "NVIDIA CUDA driver",
        })
    }
}

/// One library that was tried, and why it was not used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The name or path handed to the dynamic loader.
    pub candidate: String,
    /// What went wrong.
    pub reason: String,
}

/// Why no GPU runtime could be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// No candidate library could be opened (or none had the required entry points).
    #[error("no GPU runtime found: {}", Attempts(.attempts))]
    NotFound {
        /// Every library tried, in order.
        attempts: Vec<Attempt>,
    },
}

struct Attempts<'a>(&'a [Attempt]);

impl fmt::Display for Attempts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, attempt) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{} ({})", attempt.candidate, attempt.reason)?;
        }
        Ok(())
    }
}

/// A loaded GPU runtime.
pub struct Api {
    /// Which vendor's runtime this is.
    pub platform: Platform,
    /// The library that was opened.
    pub library: String,
    /// Its HIP entry points.
    pub hip: HipApi,
    /// Keeps AMD's runtime mapped (the NVIDIA layer keeps its own library).
    _library: Option<libloading::Library>,
}

impl fmt::Debug for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Api")
            .field("platform", &self.platform)
            .field("library", &self.library)
            .finish_non_exhaustive()
    }
}

/// Tells whether a table has one entry point.
type Has = fn(&HipApi) -> bool;

/// Entry points without which a runtime is not used at all.
const REQUIRED: &[(&str, Has)] = &[
    ("hipGetDeviceCount", |api| api.hipGetDeviceCount.is_some()),
    ("hipSetDevice", |api| api.hipSetDevice.is_some()),
    ("hipGetErrorName", |api| api.hipGetErrorName.is_some()),
    ("hipMalloc", |api| api.hipMalloc.is_some()),
    ("hipFree", |api| api.hipFree.is_some()),
];

/// The process's GPU runtime, found on first use.
///
/// Order: `$ROCMFORGE_HIP_LIB` (a path to `libamdhip64.so` or `libcuda.so.1`) if
/// set; else AMD's runtime (`$ROCM_PATH/lib`, /opt/rocm/lib, then the sonames)
/// when it reports at least one device; else NVIDIA's driver; else an AMD runtime
/// without devices. The error lists every library tried and why it failed.
pub fn api() -> Result<&'static Api, LoadError> {
    static API: OnceLock<Result<Api, LoadError>> = OnceLock::new();
    API.get_or_init(load).as_ref().map_err(Clone::clone)
}

fn load() -> Result<Api, LoadError> {
    let mut attempts = Vec::new();
    if let Some(path) = std::env::var_os("ROCMFORGE_HIP_LIB") {
        let path = path.to_string_lossy().into_owned();
        let is_cuda = path.contains("libcuda") || path.contains("nvcuda");
        let loaded = if is_cuda {
            open_nvidia(&path)
        } else {
            open_amd(&path)
        };
        return loaded.map_err(|reason| LoadError::NotFound {
            attempts: vec![Attempt {
                candidate: format!("{path} (from ROCMFORGE_HIP_LIB)"),
                reason,
            }],
        });
    }

    let mut amd_without_devices = None;
    for candidate in amd_candidates() {
        match open_amd(&candidate) {
            Ok(api) if device_count(&api.hip) > 0 => return Ok(api),
            Ok(api) => {
                attempts.push(Attempt {
                    candidate,
                    reason: "no AMD GPU reported".into(),
                });
                amd_without_devices = Some(api);
                break;
            }
            Err(reason) => attempts.push(Attempt { candidate, reason }),
        }
    }
    for candidate in ["libcuda.so.1", "libcuda.so"] {
        match open_nvidia(candidate) {
            Ok(api) => return Ok(api),
            Err(reason) => attempts.push(Attempt {
                candidate: candidate.into(),
                reason,
            }),
        }
    }
    amd_without_devices.ok_or(LoadError::NotFound { attempts })
}

fn amd_candidates() -> Vec<String> {
    let mut candidates = Vec::new();
    if let Some(root) = std::env::var_os("ROCM_PATH") {
        candidates.push(
            PathBuf::from(root)
                .join("lib/libamdhip64.so")
                .display()
                .to_string(),
        );
    }
    candidates.push("/opt/rocm/lib/libamdhip64.so".into());
    for soname in [
        "libamdhip64.so.7",
        "libamdhip64.so.6",
        "libamdhip64.so.5",
        "libamdhip64.so",
    ] {
        candidates.push(soname.into());
    }
    candidates
}

fn open_amd(candidate: &str) -> Result<Api, String> {
    // SAFETY: opening the library runs its initialisers: a HIP runtime's are
    // designed to run in any process.
    let library = unsafe { libloading::Library::new(candidate) }.map_err(|e| e.to_string())?;
    // SAFETY: a HIP runtime exports these names with the signatures of its header.
    let hip = unsafe { HipApi::resolve(&library) };
    check_required(&hip)?;
    Ok(Api {
        platform: Platform::Amd,
        library: candidate.into(),
        hip,
        _library: Some(library),
    })
}

fn open_nvidia(candidate: &str) -> Result<Api, String> {
    nvidia::open(candidate)?;
    let hip = nvidia::hip_api();
    check_required(&hip)?;
    Ok(Api {
        platform: Platform::Nvidia,
        library: candidate.into(),
        hip,
        _library: None,
    })
}

fn check_required(hip: &HipApi) -> Result<(), String> {
    match REQUIRED.iter().find(|(_, present)| !present(hip)) {
        Some((name, _)) => Err(format!("lacks the entry point {name}")),
        None => Ok(()),
    }
}

fn device_count(hip: &HipApi) -> c_int {
    let Some(get_count) = hip.hipGetDeviceCount else {
        return 0;
    };
    let mut count: c_int = 0;
    // SAFETY: `count` is a valid out-pointer for the call.
    let status = unsafe { get_count(&mut count) };
    if status == hipError_t::hipSuccess {
        count
    } else {
        0
    }
}
