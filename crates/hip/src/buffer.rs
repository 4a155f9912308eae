//! Device memory: owned buffers and borrowed, bounds-checked views.

use std::ffi::c_void;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use crate::device::Device;
use crate::error::{Error, Result};
use crate::pool::Slot;

/// Device memory holding `len` values of `T`: the GPU's `Vec<T>`.
///
/// Owned buffers are one `hipMalloc` each and are freed on drop (HIP's free
/// waits for device work that may still use them). Buffers carved from an
/// [`crate::Arena`] return their bytes to its statistics on drop; the arena's
/// chunks are freed when the arena and all its buffers are gone.
pub struct DeviceBuffer<T> {
    pointer: *mut c_void,
    len: usize,
    device: Device,
    storage: Storage,
    _values: PhantomData<T>,
}

enum Storage {
    Owned,
    Arena(#[allow(dead_code)] Arc<Slot>),
}

// SAFETY: the buffer owns device memory, addressed by a plain device address
// that any host thread may pass to the runtime; the host never dereferences it.
unsafe impl<T: Send> Send for DeviceBuffer<T> {}
// SAFETY: shared access only reads the address and length.
unsafe impl<T: Sync> Sync for DeviceBuffer<T> {}

fn byte_len<T>(len: usize) -> Result<usize> {
    len.checked_mul(size_of::<T>()).ok_or(Error::SizeOverflow {
        what: "device buffer",
    })
}

impl<T: bytemuck::Pod> DeviceBuffer<T> {
    /// A zero-filled buffer in its own device allocation.
    pub(crate) fn alloc(device: &Device, len: usize) -> Result<Self> {
        device.activate()?;
        let bytes = byte_len::<T>(len)?;
        let mut pointer: *mut c_void = std::ptr::null_mut();
        // SAFETY: `pointer` is a valid out-pointer.
        unsafe { hip!(hipMalloc(&mut pointer, bytes)) }?;
        let buffer = DeviceBuffer {
            pointer,
            len,
            device: device.clone(),
            storage: Storage::Owned,
            _values: PhantomData,
        };
        // The memory is zeroed so that reading it back never exposes stale data.
        if bytes > 0 {
            // SAFETY: the range lies inside the allocation just made; the null
            // stream orders it before any later work.
            unsafe { hip!(hipMemsetD8Async(pointer, 0, bytes, std::ptr::null_mut())) }?;
            // SAFETY: no arguments.
            unsafe { hip!(hipDeviceSynchronize()) }?;
        }
        Ok(buffer)
    }

    /// A buffer inside an arena chunk (the arena checked size and alignment).
    pub(crate) fn from_slot(
        device: &Device,
        pointer: *mut c_void,
        len: usize,
        slot: Arc<Slot>,
    ) -> Self {
        DeviceBuffer {
            pointer,
            len,
            device: device.clone(),
            storage: Storage::Arena(slot),
            _values: PhantomData,
        }
    }
}

impl<T> DeviceBuffer<T> {
    /// The buffer's device address, for kernels that read the addresses of
    /// buffers from device memory (a table of per-sequence caches). It stays
    /// valid while the buffer lives; the host must never dereference it.
    pub fn device_address(&self) -> u64 {
        self.pointer as u64
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer holds no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Size in bytes.
    pub fn byte_len(&self) -> usize {
        self.len * size_of::<T>()
    }

    /// The device the memory lives on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The whole buffer, read-only.
    pub fn as_view(&self) -> DeviceView<'_, T> {
        DeviceView {
            pointer: self.pointer,
            len: self.len,
            device: &self.device,
            _borrow: PhantomData,
        }
    }

    /// The whole buffer, writable.
    pub fn as_view_mut(&mut self) -> DeviceViewMut<'_, T> {
        DeviceViewMut {
            pointer: self.pointer,
            len: self.len,
            device: &self.device,
            _borrow: PhantomData,
        }
    }

    /// Elements `range`, read-only; a range outside the buffer is an error.
    pub fn slice(&self, range: impl RangeBounds<usize>) -> Result<DeviceView<'_, T>> {
        self.as_view().into_slice(range)
    }

    /// Elements `range`, writable; a range outside the buffer is an error.
    pub fn slice_mut(&mut self, range: impl RangeBounds<usize>) -> Result<DeviceViewMut<'_, T>> {
        self.as_view_mut().into_slice(range)
    }

    /// Where a kernel argument reads the device address from.
    pub(crate) fn pointer_slot(&self) -> *const *mut c_void {
        &self.pointer
    }
}

impl<T> Drop for DeviceBuffer<T> {
    fn drop(&mut self) {
        if matches!(self.storage, Storage::Owned) && !self.pointer.is_null() {
            self.device.release(|| {
                // SAFETY: the pointer came from hipMalloc and is freed once.
                unsafe { hip!(hipFree(self.pointer)) }
            });
        }
    }
}

/// Resolves a range against a length, checking it.
fn resolve(range: impl RangeBounds<usize>, len: usize) -> Result<(usize, usize)> {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s
            .checked_add(1)
            .ok_or(Error::SizeOverflow { what: "range" })?,
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e
            .checked_add(1)
            .ok_or(Error::SizeOverflow { what: "range" })?,
        Bound::Excluded(&e) => e,
        Bound::Unbounded => len,
    };
    if start > end || end > len {
        return Err(Error::OutOfBounds { start, end, len });
    }
    Ok((start, end))
}

macro_rules! view_common {
    ($view:ident) => {
        impl<'a, T> $view<'a, T> {
            /// Number of elements.
            pub fn len(&self) -> usize {
                self.len
            }

            /// Whether the view holds no element.
            pub fn is_empty(&self) -> bool {
                self.len == 0
            }

            /// Size in bytes.
            pub fn byte_len(&self) -> usize {
                self.len * size_of::<T>()
            }

            /// The device the memory lives on.
            pub fn device(&self) -> &'a Device {
                self.device
            }

            /// Elements `range` of this view; a range outside it is an error.
            pub fn into_slice(self, range: impl RangeBounds<usize>) -> Result<$view<'a, T>> {
                let (start, end) = resolve(range, self.len)?;
                Ok($view {
                    // In bounds: `start <= len`, and the view's bytes lie inside
                    // one allocation, so the address cannot wrap.
                    pointer: self.pointer.wrapping_byte_add(start * size_of::<T>()),
                    len: end - start,
                    device: self.device,
                    _borrow: PhantomData,
                })
            }

            pub(crate) fn raw(&self) -> *mut c_void {
                self.pointer
            }

            pub(crate) fn pointer_slot(&self) -> *const *mut c_void {
                &self.pointer
            }
        }
    };
}

/// A read-only window into device memory, borrowed from a [`DeviceBuffer`].
pub struct DeviceView<'a, T> {
    pointer: *mut c_void,
    len: usize,
    device: &'a Device,
    _borrow: PhantomData<&'a T>,
}

/// A writable window into device memory, borrowed from a [`DeviceBuffer`].
pub struct DeviceViewMut<'a, T> {
    pointer: *mut c_void,
    len: usize,
    device: &'a Device,
    _borrow: PhantomData<&'a mut T>,
}

view_common!(DeviceView);
view_common!(DeviceViewMut);

impl<'a, T> DeviceViewMut<'a, T> {
    /// A read-only view of the same elements.
    pub fn as_view(&self) -> DeviceView<'_, T> {
        DeviceView {
            pointer: self.pointer,
            len: self.len,
            device: self.device,
            _borrow: PhantomData,
        }
    }

    /// Reborrows the view (to pass it on and keep using it afterwards).
    pub fn reborrow(&mut self) -> DeviceViewMut<'_, T> {
        DeviceViewMut {
            pointer: self.pointer,
            len: self.len,
            device: self.device,
            _borrow: PhantomData,
        }
    }
}

impl<'a, T> DeviceView<'a, T> {
    /// The same bytes seen as values of `U` (like `bytemuck::cast_slice`): an
    /// error when the length or the address does not fit `U`.
    pub fn reinterpret<U: bytemuck::Pod>(self) -> Result<DeviceView<'a, U>> {
        let bytes = self.byte_len();
        let size = size_of::<U>().max(1);
        if !bytes.is_multiple_of(size) || !(self.pointer as usize).is_multiple_of(align_of::<U>()) {
            return Err(Error::Invalid(format!(
                "{bytes} bytes at {:p} cannot be seen as values of {size} bytes",
                self.pointer
            )));
        }
        Ok(DeviceView {
            pointer: self.pointer,
            len: bytes / size,
            device: self.device,
            _borrow: PhantomData,
        })
    }
}

impl<T> Clone for DeviceView<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for DeviceView<'_, T> {}

// SAFETY: a view is a device address plus a length, valid from any thread.
unsafe impl<T: Sync> Send for DeviceView<'_, T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for DeviceView<'_, T> {}
// SAFETY: as above; exclusive by the borrow it holds.
unsafe impl<T: Send> Send for DeviceViewMut<'_, T> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_checked() {
        assert_eq!(resolve(.., 10).unwrap(), (0, 10));
        assert_eq!(resolve(2..5, 10).unwrap(), (2, 5));
        assert_eq!(resolve(2..=5, 10).unwrap(), (2, 6));
        assert_eq!(resolve(10.., 10).unwrap(), (10, 10));
        assert!(matches!(
            resolve(5..11, 10),
            Err(Error::OutOfBounds {
                start: 5,
                end: 11,
                len: 10
            })
        ));
        let (start, end) = (6, 5);
        assert!(matches!(
            resolve(start..end, 10),
            Err(Error::OutOfBounds { .. })
        ));
        assert!(resolve(..=usize::MAX, 10).is_err());
    }
}
