//! Streams: ordered queues of device work, and copies between host and device.

use std::marker::PhantomData;

use rocmforge_hip_sys::hip::{hipError_t, hipStream_t};

use crate::buffer::{DeviceView, DeviceViewMut};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::pinned::PinnedBuffer;
use crate::runtime::check;

/// An ordered queue of device work (copies, kernels, graphs).
pub struct Stream {
    raw: hipStream_t,
    device: Device,
}

// SAFETY: a stream handle may be used from any thread (the runtime serialises
// submissions).
unsafe impl Send for Stream {}
// SAFETY: as above.
unsafe impl Sync for Stream {}

/// `hipStreamNonBlocking`: no implicit ordering with the null stream.
const NON_BLOCKING: u32 = 1;

fn same_len(source_len: usize, destination_len: usize) -> Result<()> {
    if source_len == destination_len {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            source_len,
            destination_len,
        })
    }
}

impl Stream {
    /// A new non-blocking stream on `device`.
    pub fn new(device: &Device) -> Result<Stream> {
        device.activate()?;
        let mut raw: hipStream_t = std::ptr::null_mut();
        // SAFETY: `raw` is a valid out-pointer; the flag is HIP's.
        unsafe { hip!(hipStreamCreateWithFlags(&mut raw, NON_BLOCKING)) }?;
        Ok(Stream {
            raw,
            device: device.clone(),
        })
    }

    /// The device this stream submits to.
    pub fn device(&self) -> &Device {
        &self.device
    }

    pub(crate) fn raw(&self) -> hipStream_t {
        self.raw
    }

    /// Waits until all work queued so far has finished, and reports failures of
    /// that work.
    pub fn synchronize(&self) -> Result<()> {
        self.device.activate()?;
        // SAFETY: a live stream handle.
        unsafe { hip!(hipStreamSynchronize(self.raw)) }
    }

    /// Whether all queued work has finished (without waiting).
    pub fn is_idle(&self) -> Result<bool> {
        self.device.activate()?;
        let query =
            crate::runtime::entry(crate::runtime::api()?.hip.hipStreamQuery, "hipStreamQuery")?;
        // SAFETY: a live stream handle.
        let status = unsafe { query(self.raw) };
        if status == hipError_t::hipErrorNotReady {
            return Ok(false);
        }
        check("hipStreamQuery", status).map(|()| true)
    }

    /// Makes later work on this stream wait for `event` (recorded on any stream
    /// of the same device).
    pub fn wait_event(&self, event: &Event) -> Result<()> {
        self.device.activate()?;
        // SAFETY: both handles are live.
        unsafe { hip!(hipStreamWaitEvent(self.raw, event.raw(), 0)) }
    }

    /// Copies `source` into `destination` and waits for the copy.
    pub fn upload<T: bytemuck::Pod>(
        &self,
        destination: &mut DeviceViewMut<'_, T>,
        source: &[T],
    ) -> Result<()> {
        self.check_device(destination.device())?;
        same_len(source.len(), destination.len())?;
        if !source.is_empty() {
            // SAFETY: both ranges hold `byte_len` bytes (same element count and
            // type); the source stays borrowed until the synchronisation below.
            unsafe {
                hip!(hipMemcpyHtoDAsync(
                    destination.raw(),
                    source.as_ptr().cast_mut().cast(),
                    destination.byte_len(),
                    self.raw,
                ))
            }?;
        }
        self.synchronize()
    }

    /// Copies `source` into `destination` and waits for the copy.
    pub fn download<T: bytemuck::Pod>(
        &self,
        source: &DeviceView<'_, T>,
        destination: &mut [T],
    ) -> Result<()> {
        self.check_device(source.device())?;
        same_len(source.len(), destination.len())?;
        if !destination.is_empty() {
            // SAFETY: both ranges hold `byte_len` bytes; any bytes are a valid
            // `T` (Pod); the destination stays borrowed until the synchronisation.
            unsafe {
                hip!(hipMemcpyDtoHAsync(
                    destination.as_mut_ptr().cast(),
                    source.raw(),
                    source.byte_len(),
                    self.raw,
                ))
            }?;
        }
        self.synchronize()
    }

    /// Queues a copy from pinned host memory; the returned [`Pending`] borrows
    /// both sides until the copy is waited for (on `wait`, or on drop).
    pub fn upload_async<'a, T: bytemuck::Pod>(
        &'a self,
        destination: DeviceViewMut<'a, T>,
        source: &'a PinnedBuffer<T>,
    ) -> Result<Pending<'a>> {
        self.check_device(destination.device())?;
        same_len(source.len(), destination.len())?;
        if !source.is_empty() {
            // SAFETY: both ranges hold `byte_len` bytes; `Pending` keeps both
            // borrowed until the copy has completed.
            unsafe {
                hip!(hipMemcpyHtoDAsync(
                    destination.raw(),
                    source.raw(),
                    destination.byte_len(),
                    self.raw
                ))
            }?;
        }
        Pending::new(self)
    }

    /// Queues a copy into pinned host memory; the returned [`Pending`] borrows
    /// both sides until the copy is waited for (on `wait`, or on drop).
    pub fn download_async<'a, T: bytemuck::Pod>(
        &'a self,
        source: DeviceView<'a, T>,
        destination: &'a mut PinnedBuffer<T>,
    ) -> Result<Pending<'a>> {
        self.check_device(source.device())?;
        same_len(source.len(), destination.len())?;
        if !source.is_empty() {
            // SAFETY: both ranges hold `byte_len` bytes; `Pending` keeps both
            // borrowed until the copy has completed.
            unsafe {
                hip!(hipMemcpyDtoHAsync(
                    destination.raw(),
                    source.raw(),
                    source.byte_len(),
                    self.raw
                ))
            }?;
        }
        Pending::new(self)
    }

    /// Queues a copy of the first `bytes` bytes of `staging` into `destination`
    /// (which holds exactly `bytes`).
    ///
    /// # Safety
    /// Neither side may be written, read or freed before the copy has completed
    /// (an event recorded after it has been waited for).
    pub(crate) unsafe fn upload_from_staging(
        &self,
        destination: &DeviceViewMut<'_, u8>,
        staging: &PinnedBuffer<u8>,
        bytes: usize,
    ) -> Result<()> {
        self.check_device(destination.device())?;
        same_len(bytes, destination.len())?;
        if bytes > staging.len() {
            return Err(Error::LengthMismatch {
                source_len: staging.len(),
                destination_len: bytes,
            });
        }
        // SAFETY: both ranges hold `bytes` bytes; the caller keeps them untouched
        // until the copy completes.
        unsafe {
            hip!(hipMemcpyHtoDAsync(
                destination.raw(),
                staging.raw(),
                bytes,
                self.raw
            ))
        }
    }

    /// Queues a device-to-device copy (ordered with the stream's other work).
    pub fn copy<T: bytemuck::Pod>(
        &self,
        source: &DeviceView<'_, T>,
        destination: &mut DeviceViewMut<'_, T>,
    ) -> Result<()> {
        self.check_device(source.device())?;
        self.check_device(destination.device())?;
        same_len(source.len(), destination.len())?;
        if !source.is_empty() {
            // SAFETY: both ranges hold `byte_len` bytes of live device memory.
            unsafe {
                hip!(hipMemcpyDtoDAsync(
                    destination.raw(),
                    source.raw(),
                    source.byte_len(),
                    self.raw
                ))
            }?;
        }
        Ok(())
    }

    /// Queues setting every byte of `destination` to `value`.
    pub fn memset<T>(&self, destination: &mut DeviceViewMut<'_, T>, value: u8) -> Result<()> {
        self.check_device(destination.device())?;
        if !destination.is_empty() {
            // SAFETY: the range holds `byte_len` bytes of live device memory.
            unsafe {
                hip!(hipMemsetD8Async(
                    destination.raw(),
                    value,
                    destination.byte_len(),
                    self.raw
                ))
            }?;
        }
        Ok(())
    }

    fn check_device(&self, other: &Device) -> Result<()> {
        self.device.same(other)?;
        self.device.activate()
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.device.release(|| {
            // SAFETY: a live handle, destroyed once; HIP lets queued work finish.
            unsafe { hip!(hipStreamDestroy(self.raw)) }
        });
    }
}

/// An asynchronous copy in flight. It borrows the memory on both sides, so
/// neither can be dropped or touched before the copy is done; dropping it
/// waits (a failure then is kept on the device).
#[must_use = "a pending copy should be waited for"]
pub struct Pending<'a> {
    event: Option<Event>,
    device: Device,
    _borrows: PhantomData<&'a mut ()>,
}

impl<'a> Pending<'a> {
    fn new(stream: &'a Stream) -> Result<Pending<'a>> {
        let event = Event::without_timing(stream.device())?;
        event.record(stream)?;
        Ok(Pending {
            event: Some(event),
            device: stream.device().clone(),
            _borrows: PhantomData,
        })
    }

    /// Waits for the copy and reports its failure, if any.
    pub fn wait(mut self) -> Result<()> {
        match self.event.take() {
            Some(event) => event.synchronize(),
            None => Ok(()),
        }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let Some(event) = self.event.take()
            && let Err(error) = event.synchronize()
        {
            self.device.record(error);
        }
    }
}
