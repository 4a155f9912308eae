//! Code objects (AMD), cubins and PTX (NVIDIA) loaded from bytes.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::CString;
use std::sync::Mutex;

use rocmforge_hip_sys::hip::{hipFunction_t, hipModule_t};

use crate::device::Device;
use crate::error::{Error, Result};

/// A loaded module of device code.
pub struct Module {
    raw: hipModule_t,
    device: Device,
    /// Kernels looked up so far: a lookup is a runtime call, and decoding asks
    /// for the same few kernels thousands of times a second.
    functions: Mutex<HashMap<String, FunctionHandle>>,
}

/// A kernel handle as the runtime returns it, kept in [`Module`]'s cache.
#[derive(Clone, Copy)]
struct FunctionHandle(hipFunction_t);

// SAFETY: a function handle may be used from any thread (see `Function`).
unsafe impl Send for FunctionHandle {}

// SAFETY: a module handle may be used from any thread.
unsafe impl Send for Module {}
// SAFETY: as above; functions are looked up through the runtime, which serialises.
unsafe impl Sync for Module {}

impl Module {
    /// Loads a code object (AMD), cubin or PTX text (NVIDIA) for `device`.
    pub fn load(device: &Device, image: &[u8]) -> Result<Module> {
        device.activate()?;
        // PTX is text and must end with a NUL; ELF images are passed as they are.
        let image: Cow<'_, [u8]> = if !image.starts_with(b"\x7fELF") && image.last() != Some(&0) {
            let mut text = image.to_vec();
            text.push(0);
            Cow::Owned(text)
        } else {
            Cow::Borrowed(image)
        };
        let mut raw: hipModule_t = std::ptr::null_mut();
        // SAFETY: `raw` is a valid out-pointer; the image stays alive for the call
        // (the runtime copies what it keeps).
        unsafe { hip!(hipModuleLoadData(&mut raw, image.as_ptr().cast())) }?;
        Ok(Module {
            raw,
            device: device.clone(),
            functions: Mutex::new(HashMap::new()),
        })
    }

    /// The kernel `name` (an `extern "C"` symbol of the module). Looked up once;
    /// later calls for the same name return the cached handle.
    pub fn function(&self, name: &str) -> Result<Function<'_>> {
        let cached = self
            .functions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(name)
            .copied();
        let raw = match cached {
            Some(FunctionHandle(raw)) => raw,
            None => {
                let raw = self.look_up(name)?;
                self.functions
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .insert(name.to_string(), FunctionHandle(raw));
                raw
            }
        };
        Ok(Function {
            raw,
            name: name.to_string(),
            module: self,
        })
    }

    /// Asks the runtime for the kernel `name`.
    fn look_up(&self, name: &str) -> Result<hipFunction_t> {
        self.device.activate()?;
        let c_name = CString::new(name)
            .map_err(|_| Error::Invalid(format!("kernel name {name:?} contains NUL")))?;
        let mut raw: hipFunction_t = std::ptr::null_mut();
        // SAFETY: `raw` is a valid out-pointer; the name is NUL-terminated.
        match unsafe { hip!(hipModuleGetFunction(&mut raw, self.raw, c_name.as_ptr())) } {
            Ok(()) => Ok(raw),
            Err(Error::Api(source)) => Err(Error::KernelNotFound {
                name: name.to_string(),
                source,
            }),
            Err(other) => Err(other),
        }
    }

    /// The device the module was loaded for.
    pub fn device(&self) -> &Device {
        &self.device
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        self.device.release(|| {
            // SAFETY: a live handle, unloaded once; `Function`s borrow the module,
            // so none outlives it.
            unsafe { hip!(hipModuleUnload(self.raw)) }
        });
    }
}

/// A kernel of a loaded [`Module`].
pub struct Function<'m> {
    raw: hipFunction_t,
    name: String,
    module: &'m Module,
}

// SAFETY: a function handle may be launched from any thread.
unsafe impl Send for Function<'_> {}
// SAFETY: as above.
unsafe impl Sync for Function<'_> {}

impl Function<'_> {
    /// The kernel's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn raw(&self) -> hipFunction_t {
        self.raw
    }

    pub(crate) fn device(&self) -> &Device {
        &self.module.device
    }
}
