//! Page-locked host memory, the fast path for host↔device copies.

use std::ffi::c_void;
use std::ops::{Deref, DerefMut};

use crate::device::Device;
use crate::error::{Error, Result};

/// Page-locked host memory holding `len` values of `T`, zero-filled at
/// allocation. Dereferences to a slice.
pub struct PinnedBuffer<T> {
    pointer: *mut T,
    len: usize,
    device: Device,
}

// SAFETY: ordinary host memory owned by this value.
unsafe impl<T: Send> Send for PinnedBuffer<T> {}
// SAFETY: shared access hands out `&[T]` only.
unsafe impl<T: Sync> Sync for PinnedBuffer<T> {}

impl<T: bytemuck::Pod> PinnedBuffer<T> {
    /// `len` zeroed values in page-locked memory (`hipHostMalloc`).
    pub fn new(device: &Device, len: usize) -> Result<Self> {
        device.activate()?;
        let bytes = len.checked_mul(size_of::<T>()).ok_or(Error::SizeOverflow {
            what: "pinned buffer",
        })?;
        let mut pointer: *mut c_void = std::ptr::null_mut();
        if bytes > 0 {
            // SAFETY: `pointer` is a valid out-pointer; flags 0 is the default.
            unsafe { hip!(hipHostMalloc(&mut pointer, bytes, 0)) }?;
            // SAFETY: the allocation holds `bytes` writable bytes; all-zero is a
            // valid `T` (Pod).
            unsafe { std::ptr::write_bytes(pointer.cast::<u8>(), 0, bytes) };
        }
        Ok(PinnedBuffer {
            pointer: pointer.cast(),
            len,
            device: device.clone(),
        })
    }
}

impl<T> PinnedBuffer<T> {
    pub(crate) fn raw(&self) -> *mut c_void {
        self.pointer.cast()
    }
}

impl<T> Deref for PinnedBuffer<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `len` initialised values (zeroed at allocation) owned by self.
        unsafe { std::slice::from_raw_parts(self.pointer, self.len) }
    }
}

impl<T> DerefMut for PinnedBuffer<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        if self.len == 0 {
            return &mut [];
        }
        // SAFETY: as above, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.pointer, self.len) }
    }
}

impl<T> Drop for PinnedBuffer<T> {
    fn drop(&mut self) {
        if self.pointer.is_null() {
            return;
        }
        self.device.release(|| {
            // SAFETY: allocated by hipHostMalloc, freed once; asynchronous copies
            // borrow the buffer until they are waited for (`Pending`).
            unsafe { hip!(hipHostFree(self.pointer.cast())) }
        });
    }
}
