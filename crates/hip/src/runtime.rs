//! Access to the loaded runtime and status checking.

use std::ffi::CStr;

use rocmforge_hip_sys::hip::hipError_t;
use rocmforge_hip_sys::{Api, Platform};

use crate::error::{Error, HipError, Result};

/// The process's GPU runtime.
pub(crate) fn api() -> Result<&'static Api> {
    Ok(rocmforge_hip_sys::api()?)
}

/// An entry point of the runtime, or an error naming it.
pub(crate) fn entry<F>(function: Option<F>, name: &'static str) -> Result<F> {
    function.ok_or(Error::MissingEntryPoint(name))
}

/// Turns a status into a result naming the call.
pub(crate) fn check(call: &'static str, status: hipError_t) -> Result<()> {
    if status == hipError_t::hipSuccess {
        return Ok(());
    }
    Err(Error::Api(hip_error(call, status)))
}

pub(crate) fn hip_error(call: &'static str, status: hipError_t) -> HipError {
    let api = rocmforge_hip_sys::api().ok();
    let name = api
        .and_then(|api| api.hip.hipGetErrorName)
        .map(|name_of| {
            // SAFETY: hipGetErrorName returns a static NUL-terminated string (or
            // null, checked) for any status value.
            let name = unsafe { name_of(status) };
            if name.is_null() {
                format!("status {}", status.0)
            } else {
                // SAFETY: non-null pointer to a static C string, per the HIP API.
                unsafe { CStr::from_ptr(name) }
                    .to_string_lossy()
                    .into_owned()
            }
        })
        .unwrap_or_else(|| format!("status {}", status.0));
    let driver_detail = match api.map(|api| api.platform) {
        Some(Platform::Nvidia) => rocmforge_hip_sys::nvidia::last_cuda_error(),
        _ => None,
    };
    HipError {
        call,
        code: status.0,
        name,
        driver_detail,
    }
}

/// Calls a HIP entry point of the loaded runtime and checks its status:
/// `unsafe { hip!(hipMalloc(&mut pointer, bytes)) }?`. The call is `unsafe`
/// because the arguments must satisfy the HIP function's contract; each use
/// states why they do in a `// SAFETY:` comment.
macro_rules! hip {
    ($name:ident ( $($arg:expr),* $(,)? )) => {
        match $crate::runtime::api()
            .and_then(|api| $crate::runtime::entry(api.hip.$name, stringify!($name)))
        {
            Ok(function) => $crate::runtime::check(stringify!($name), function($($arg),*)),
            Err(error) => Err(error),
        }
    };
}
