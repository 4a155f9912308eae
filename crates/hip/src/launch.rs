//! Kernel launches with typed arguments.

use std::ffi::c_void;
use std::marker::PhantomData;

use crate::buffer::{DeviceBuffer, DeviceView, DeviceViewMut};
use crate::error::{Error, Result};
use crate::module::Function;
use crate::stream::Stream;

/// Grid and block shape of a launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchConfig {
    /// Blocks in x, y, z.
    pub grid: (u32, u32, u32),
    /// Threads per block in x, y, z.
    pub block: (u32, u32, u32),
    /// Dynamic shared memory per block, in bytes.
    pub shared_bytes: u32,
}

impl LaunchConfig {
    /// One thread per element: `ceil(n / block)` blocks of `block` threads.
    pub fn for_elements(n: usize, block: u32) -> Result<LaunchConfig> {
        let block = block.max(1);
        let blocks = n.div_ceil(block as usize);
        let blocks = u32::try_from(blocks.max(1))
            .map_err(|_| Error::Invalid(format!("{n} elements need more than 2^32 blocks")))?;
        Ok(LaunchConfig {
            grid: (blocks, 1, 1),
            block: (block, 1, 1),
            shared_bytes: 0,
        })
    }

    /// `rows` blocks of `block` threads (one block per row).
    pub fn per_row(rows: usize, block: u32) -> Result<LaunchConfig> {
        let rows = u32::try_from(rows.max(1))
            .map_err(|_| Error::Invalid(format!("{rows} rows exceed 2^32 blocks")))?;
        Ok(LaunchConfig {
            grid: (rows, 1, 1),
            block: (block.max(1), 1, 1),
            shared_bytes: 0,
        })
    }
}

/// A value that can be passed to a kernel.
///
/// # Safety
/// `parameter` must return a pointer to memory holding exactly the bytes the
/// kernel expects for this parameter (a scalar's value, a buffer's device
/// address), valid for as long as `self` is borrowed.
pub unsafe trait KernelArg {
    /// Where the runtime copies the parameter's bytes from.
    fn parameter(&self) -> *mut c_void;
}

macro_rules! scalar_args {
    ($($t:ty),*) => {$(
        // SAFETY: a scalar is passed by value: the pointer addresses its bytes.
        unsafe impl KernelArg for $t {
            fn parameter(&self) -> *mut c_void {
                (self as *const $t).cast_mut().cast()
            }
        }
    )*};
}
scalar_args!(i8, u8, i16, u16, i32, u32, i64, u64, f32, f64);

// SAFETY: a buffer is passed as its device address, stored in the buffer.
unsafe impl<T> KernelArg for DeviceBuffer<T> {
    fn parameter(&self) -> *mut c_void {
        self.pointer_slot().cast_mut().cast()
    }
}

// SAFETY: a view is passed as its device address, stored in the view.
unsafe impl<T> KernelArg for DeviceView<'_, T> {
    fn parameter(&self) -> *mut c_void {
        self.pointer_slot().cast_mut().cast()
    }
}

// SAFETY: as for `DeviceView`.
unsafe impl<T> KernelArg for DeviceViewMut<'_, T> {
    fn parameter(&self) -> *mut c_void {
        self.pointer_slot().cast_mut().cast()
    }
}

/// A launch being assembled: `stream.launch(&function).arg(&x).arg(&n).run(cfg)`.
pub struct Launch<'a> {
    function: &'a Function<'a>,
    stream: &'a Stream,
    parameters: Vec<*mut c_void>,
    _arguments: PhantomData<&'a ()>,
}

impl Stream {
    /// Starts a launch of `function` on this stream.
    pub fn launch<'a>(&'a self, function: &'a Function<'a>) -> Launch<'a> {
        Launch {
            function,
            stream: self,
            parameters: Vec::new(),
            _arguments: PhantomData,
        }
    }
}

impl<'a> Launch<'a> {
    /// Appends the next kernel parameter.
    pub fn arg<A: KernelArg + ?Sized>(mut self, argument: &'a A) -> Self {
        self.parameters.push(argument.parameter());
        self
    }

    /// Queues the kernel on the stream.
    ///
    /// # Safety
    /// The arguments must match the kernel's C signature in number, order and
    /// type; every buffer the kernel touches must be large enough for the
    /// indices that `config` lets it reach; buffers the kernel writes must not
    /// be read or written by other work until this launch has completed.
    pub unsafe fn run(mut self, config: LaunchConfig) -> Result<()> {
        self.function.device().same(self.stream.device())?;
        self.stream.device().activate()?;
        let (gx, gy, gz) = config.grid;
        let (bx, by, bz) = config.block;
        // SAFETY: the caller guarantees the parameters match the kernel; the
        // parameter array and the values it points to outlive the call (borrowed
        // for 'a), and the runtime copies them before returning.
        unsafe {
            hip!(hipModuleLaunchKernel(
                self.function.raw(),
                gx,
                gy,
                gz,
                bx,
                by,
                bz,
                config.shared_bytes,
                self.stream.raw(),
                self.parameters.as_mut_ptr(),
                std::ptr::null_mut(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_launches_cover_every_element() {
        let config = LaunchConfig::for_elements(1000, 256).unwrap();
        assert_eq!(config.grid, (4, 1, 1));
        assert_eq!(config.block, (256, 1, 1));
        assert_eq!(LaunchConfig::for_elements(0, 256).unwrap().grid, (1, 1, 1));
        assert!(LaunchConfig::for_elements(usize::MAX, 1).is_err());
    }
}
