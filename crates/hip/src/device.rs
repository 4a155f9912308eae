//! GPUs: enumeration, properties, the current device, deferred errors.

use std::ffi::{CStr, c_char, c_int};
use std::fmt;
use std::sync::{Arc, Mutex};

use rocmforge_hip_sys::Platform;
use rocmforge_hip_sys::hip::{hipDeviceAttribute_t, hipDeviceProp_tR0600};

use crate::buffer::DeviceBuffer;
use crate::error::{Error, Result};
use crate::runtime::api;

/// How many GPUs the runtime reports (an error when no runtime can be loaded).
pub fn device_count() -> Result<usize> {
    let mut count: c_int = 0;
    // SAFETY: `count` is a valid out-pointer.
    match unsafe { hip!(hipGetDeviceCount(&mut count)) } {
        Ok(()) => Ok(count.max(0) as usize),
        // HIP answers "no device" with a status as well as a zero count.
        Err(Error::Api(error)) if error.name == "hipErrorNoDevice" || error.code == 100 => Ok(0),
        Err(error) => Err(error),
    }
}

/// One GPU. Cheap to clone; objects created on it keep it alive.
#[derive(Clone)]
pub struct Device {
    inner: Arc<DeviceInner>,
}

struct DeviceInner {
    ordinal: usize,
    /// The first failure seen while freeing resources of this device.
    deferred: Mutex<Option<Error>>,
}

/// A summary of a device, as `rocmforge devices` prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Index in the runtime's enumeration.
    pub ordinal: usize,
    /// Which vendor's runtime drives it.
    pub platform: Platform,
    /// Marketing name.
    pub name: String,
    /// Architecture: `gfx942` on AMD (feature suffixes removed), `sm_90` on NVIDIA.
    pub arch: String,
    /// Total device memory in bytes.
    pub total_memory: usize,
    /// Free device memory in bytes.
    pub free_memory: usize,
    /// Compute units (AMD) or streaming multiprocessors (NVIDIA).
    pub compute_units: usize,
    /// Threads per warp / wavefront.
    pub warp_size: usize,
}

impl Device {
    /// The device with this index.
    pub fn new(ordinal: usize) -> Result<Device> {
        let count = device_count()?;
        if ordinal >= count {
            return Err(Error::NoSuchDevice { ordinal, count });
        }
        let device = Device {
            inner: Arc::new(DeviceInner {
                ordinal,
                deferred: Mutex::new(None),
            }),
        };
        device.activate()?;
        Ok(device)
    }

    /// The first GPU, or why none is usable (no runtime library, no device, a
    /// driver error): what a `--device auto` choice or a GPU test asks.
    pub fn first_usable() -> Result<Device> {
        match device_count()? {
            0 => Err(Error::NoDevice),
            _ => Device::new(0),
        }
    }

    /// Every device the runtime reports.
    pub fn all() -> Result<Vec<Device>> {
        (0..device_count()?).map(Device::new).collect()
    }

    /// Index in the runtime's enumeration.
    pub fn ordinal(&self) -> usize {
        self.inner.ordinal
    }

    /// Which vendor's runtime drives this device.
    pub fn platform(&self) -> Result<Platform> {
        Ok(api()?.platform)
    }

    /// Makes this the calling thread's current device (HIP keeps one per
    /// thread); every operation of this crate does this first. The choice is
    /// remembered per thread, so repeated calls cost nothing (code outside this
    /// crate that changes HIP's current device should not share its threads).
    pub(crate) fn activate(&self) -> Result<()> {
        thread_local! {
            /// The device this crate last made current on this thread.
            static CURRENT: std::cell::Cell<c_int> = const { std::cell::Cell::new(-1) };
        }
        let ordinal = self.raw_ordinal();
        if CURRENT.get() == ordinal {
            return Ok(());
        }
        // SAFETY: plain integer argument, validated against the device count.
        unsafe { hip!(hipSetDevice(ordinal)) }?;
        CURRENT.set(ordinal);
        Ok(())
    }

    pub(crate) fn raw_ordinal(&self) -> c_int {
        self.inner.ordinal as c_int
    }

    /// The device's name.
    pub fn name(&self) -> Result<String> {
        let mut name = [0 as c_char; 256];
        // SAFETY: the buffer holds 256 bytes, as passed.
        unsafe {
            hip!(hipDeviceGetName(
                name.as_mut_ptr(),
                name.len() as c_int,
                self.raw_ordinal()
            ))
        }?;
        name[255] = 0;
        // SAFETY: the buffer is NUL-terminated (its last byte at the latest).
        let name = unsafe { CStr::from_ptr(name.as_ptr()) };
        Ok(name.to_string_lossy().trim().to_string())
    }

    /// An integer attribute (`hipDeviceGetAttribute`).
    pub fn attribute(&self, attribute: hipDeviceAttribute_t) -> Result<i32> {
        let mut value: c_int = 0;
        // SAFETY: `value` is a valid out-pointer; the ordinal is valid.
        unsafe {
            hip!(hipDeviceGetAttribute(
                &mut value,
                attribute,
                self.raw_ordinal()
            ))
        }?;
        Ok(value)
    }

    /// Threads per warp (32 on NVIDIA and RDNA, 64 on CDNA/GCN).
    pub fn warp_size(&self) -> Result<usize> {
        Ok(self
            .attribute(hipDeviceAttribute_t::hipDeviceAttributeWarpSize)?
            .max(0) as usize)
    }

    /// Compute units or streaming multiprocessors.
    pub fn compute_units(&self) -> Result<usize> {
        Ok(self
            .attribute(hipDeviceAttribute_t::hipDeviceAttributeMultiprocessorCount)?
            .max(0) as usize)
    }

    /// Total device memory in bytes.
    pub fn total_memory(&self) -> Result<usize> {
        let mut bytes = 0usize;
        // SAFETY: `bytes` is a valid out-pointer; the ordinal is valid.
        unsafe { hip!(hipDeviceTotalMem(&mut bytes, self.raw_ordinal())) }?;
        Ok(bytes)
    }

    /// Free and total device memory in bytes.
    pub fn memory_info(&self) -> Result<(usize, usize)> {
        self.activate()?;
        let (mut free, mut total) = (0usize, 0usize);
        // SAFETY: both are valid out-pointers.
        unsafe { hip!(hipMemGetInfo(&mut free, &mut total)) }?;
        Ok((free, total))
    }

    /// The architecture name: `gfx942` (AMD, from the runtime's properties with
    /// feature suffixes such as `:sramecc+` removed) or `sm_90` (NVIDIA).
    ///
    /// AMD reports the name only in `hipDeviceProp_t`, whose layout changed
    /// between ROCm releases; the versioned entry point
    /// `hipGetDevicePropertiesR0600` fills the layout pinned in `hip-sys`.
    pub fn arch(&self) -> Result<String> {
        let mut properties = hipDeviceProp_tR0600::default();
        // SAFETY: `properties` has the R0600 layout the entry point writes.
        unsafe {
            hip!(hipGetDevicePropertiesR0600(
                &mut properties,
                self.raw_ordinal()
            ))
        }?;
        let bytes: Vec<u8> = properties
            .gcnArchName
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        let full = String::from_utf8_lossy(&bytes);
        Ok(full
            .split(':')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string())
    }

    /// Everything `rocmforge devices` shows.
    pub fn info(&self) -> Result<DeviceInfo> {
        let (free_memory, total_memory) = self.memory_info()?;
        Ok(DeviceInfo {
            ordinal: self.ordinal(),
            platform: self.platform()?,
            name: self.name()?,
            arch: self.arch()?,
            total_memory,
            free_memory,
            compute_units: self.compute_units()?,
            warp_size: self.warp_size()?,
        })
    }

    /// Waits for all work on the device; reports failures of earlier
    /// asynchronous work too.
    pub fn synchronize(&self) -> Result<()> {
        self.activate()?;
        // SAFETY: no arguments.
        unsafe { hip!(hipDeviceSynchronize()) }
    }

    /// An uninitialised-on-device (zero-filled) buffer of `len` elements, owned
    /// alone (one device allocation; see [`crate::Arena`] for many small ones).
    pub fn alloc<T: bytemuck::Pod>(&self, len: usize) -> Result<DeviceBuffer<T>> {
        DeviceBuffer::alloc(self, len)
    }

    /// Frees a resource of this device from a `Drop`: makes the device current,
    /// runs `free`, and keeps a failure for [`Device::take_deferred_error`].
    pub(crate) fn release(&self, free: impl FnOnce() -> Result<()>) {
        if let Err(error) = self.activate().and_then(|()| free()) {
            self.record(error);
        }
    }

    /// Keeps the first failure of a `Drop` (which cannot return it).
    pub(crate) fn record(&self, error: Error) {
        if let Ok(mut slot) = self.inner.deferred.lock() {
            slot.get_or_insert(error);
        }
    }

    /// The first failure seen while freeing this device's resources, if any.
    pub fn take_deferred_error(&self) -> Option<Error> {
        self.inner
            .deferred
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
    }

    /// Checks that two objects belong to the same device.
    pub(crate) fn same(&self, other: &Device) -> Result<()> {
        if self.ordinal() == other.ordinal() {
            Ok(())
        } else {
            Err(Error::DeviceMismatch(self.ordinal(), other.ordinal()))
        }
    }
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device")
            .field("ordinal", &self.inner.ordinal)
            .finish()
    }
}
