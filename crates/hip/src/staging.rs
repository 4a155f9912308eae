//! Pipelined host-to-device uploads through page-locked staging buffers.
//!
//! Copies from pageable memory (a memory-mapped file, say) run at a fraction of
//! the bus speed. A `StagingRing` keeps a few page-locked buffers, each with its
//! own stream: while one buffer's copy to the device runs, the caller fills the
//! next, so CPU copies and bus transfers overlap.

use std::marker::PhantomData;

use crate::buffer::DeviceViewMut;
use crate::device::Device;
use crate::error::Result;
use crate::event::Event;
use crate::pinned::PinnedBuffer;
use crate::stream::Stream;

struct Slot {
    stream: Stream,
    staging: PinnedBuffer<u8>,
    done: Event,
    /// A copy from `staging` may still run.
    in_flight: bool,
}

/// Page-locked staging buffers with one stream each, used round-robin.
///
/// The ring borrows every destination for `'d`: device memory written through it
/// cannot be dropped or read before the ring has finished ([`StagingRing::finish`],
/// or drop, which waits too).
pub struct StagingRing<'d> {
    slots: Vec<Slot>,
    next: usize,
    bytes: u64,
    _destinations: PhantomData<&'d mut [u8]>,
}

impl<'d> StagingRing<'d> {
    /// `slots` staging buffers of `slot_bytes` each, each with its own stream.
    pub fn new(device: &Device, slots: usize, slot_bytes: usize) -> Result<StagingRing<'d>> {
        let slots = (0..slots.max(1))
            .map(|_| {
                Ok(Slot {
                    stream: Stream::new(device)?,
                    staging: PinnedBuffer::new(device, slot_bytes.max(1))?,
                    done: Event::without_timing(device)?,
                    in_flight: false,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(StagingRing {
            slots,
            next: 0,
            bytes: 0,
            _destinations: PhantomData,
        })
    }

    /// Uploads `len` bytes into `destination` (which must hold exactly `len`),
    /// piece by piece: `fill(offset, piece)` writes bytes `offset..offset +
    /// piece.len()` of the data into a staging buffer, whose copy to the device
    /// then runs while the next piece is filled.
    pub fn upload_with(
        &mut self,
        mut destination: DeviceViewMut<'d, u8>,
        mut fill: impl FnMut(usize, &mut [u8]),
    ) -> Result<()> {
        let len = destination.len();
        let mut offset = 0;
        while offset < len {
            let index = self.next;
            self.next = (index + 1) % self.slots.len();
            let slot = &mut self.slots[index];
            if slot.in_flight {
                slot.done.synchronize()?;
                slot.in_flight = false;
            }
            let n = slot.staging.len().min(len - offset);
            fill(offset, &mut slot.staging[..n]);
            let piece = destination.reborrow().into_slice(offset..offset + n)?;
            // SAFETY: the staging buffer is not touched again before `done`
            // completes (waited for above, in `finish` and on drop), and the
            // destination stays borrowed by the ring for 'd.
            unsafe { slot.stream.upload_from_staging(&piece, &slot.staging, n) }?;
            slot.done.record(&slot.stream)?;
            slot.in_flight = true;
            offset += n;
        }
        self.bytes += len as u64;
        Ok(())
    }

    /// Bytes uploaded so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Waits for every copy and reports the first failure.
    pub fn finish(mut self) -> Result<u64> {
        self.wait_all()?;
        Ok(self.bytes)
    }

    fn wait_all(&mut self) -> Result<()> {
        let mut first = Ok(());
        for slot in &mut self.slots {
            if slot.in_flight {
                let waited = slot.done.synchronize();
                slot.in_flight = false;
                if first.is_ok() {
                    first = waited;
                }
            }
        }
        first
    }
}

impl Drop for StagingRing<'_> {
    fn drop(&mut self) {
        if let Err(error) = self.wait_all()
            && let Some(slot) = self.slots.first()
        {
            slot.stream.device().record(error);
        }
    }
}
