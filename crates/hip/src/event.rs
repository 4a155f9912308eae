//! Events: completion markers in a stream's work, and GPU timers.

use rocmforge_hip_sys::hip::{hipError_t, hipEvent_t};

use crate::device::Device;
use crate::error::Result;
use crate::runtime::check;
use crate::stream::Stream;

/// A point in a stream's work: record it, then wait for it or time between two.
pub struct Event {
    raw: hipEvent_t,
    device: Device,
}

// SAFETY: an event handle may be used from any thread (the runtime serialises).
unsafe impl Send for Event {}
// SAFETY: as above.
unsafe impl Sync for Event {}

/// `hipEventDisableTiming`: cheaper events for pure synchronisation.
const DISABLE_TIMING: u32 = 2;

impl Event {
    /// An event that can also measure time (`elapsed_ms`).
    pub fn new(device: &Device) -> Result<Event> {
        Event::with_flags(device, 0)
    }

    /// An event for synchronisation only.
    pub fn without_timing(device: &Device) -> Result<Event> {
        Event::with_flags(device, DISABLE_TIMING)
    }

    fn with_flags(device: &Device, flags: u32) -> Result<Event> {
        device.activate()?;
        let mut raw: hipEvent_t = std::ptr::null_mut();
        // SAFETY: `raw` is a valid out-pointer; the flags are HIP's.
        unsafe { hip!(hipEventCreateWithFlags(&mut raw, flags)) }?;
        Ok(Event {
            raw,
            device: device.clone(),
        })
    }

    /// Marks the current end of `stream`'s work.
    pub fn record(&self, stream: &Stream) -> Result<()> {
        self.device.same(stream.device())?;
        self.device.activate()?;
        // SAFETY: both handles are live and belong to the same device.
        unsafe { hip!(hipEventRecord(self.raw, stream.raw())) }
    }

    /// Waits until the recorded work has finished.
    pub fn synchronize(&self) -> Result<()> {
        self.device.activate()?;
        // SAFETY: a live event handle.
        unsafe { hip!(hipEventSynchronize(self.raw)) }
    }

    /// Whether the recorded work has finished (without waiting).
    pub fn is_complete(&self) -> Result<bool> {
        self.device.activate()?;
        let query = crate::runtime::api()?.hip.hipEventQuery;
        let query = crate::runtime::entry(query, "hipEventQuery")?;
        // SAFETY: a live event handle.
        let status = unsafe { query(self.raw) };
        if status == hipError_t::hipErrorNotReady {
            return Ok(false);
        }
        check("hipEventQuery", status).map(|()| true)
    }

    /// Milliseconds from this event to `end` (both recorded and complete).
    pub fn elapsed_ms(&self, end: &Event) -> Result<f32> {
        self.device.activate()?;
        let mut ms = 0.0f32;
        // SAFETY: `ms` is a valid out-pointer; both handles are live.
        unsafe { hip!(hipEventElapsedTime(&mut ms, self.raw, end.raw)) }?;
        Ok(ms)
    }

    pub(crate) fn raw(&self) -> hipEvent_t {
        self.raw
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        self.device.release(|| {
            // SAFETY: a live handle, destroyed once.
            unsafe { hip!(hipEventDestroy(self.raw)) }
        });
    }
}
