//! An arena of device memory: few large allocations carved into aligned slots.
//!
//! A model has hundreds of tensors; one `hipMalloc` each is slow and fragments
//! memory. The arena allocates chunks (1 GiB by default) and hands out aligned
//! slices of them as [`DeviceBuffer`]s. It only grows: a slot's bytes are not
//! reused after the buffer is dropped (they return to the statistics), which
//! suits memory that lives as long as a model. Chunks are freed when the arena
//! and every buffer carved from it are gone, on error paths too.

use std::ffi::c_void;
use std::sync::{Arc, Mutex};

use crate::buffer::DeviceBuffer;
use crate::device::Device;
use crate::error::{Error, Result};

/// Chunk size when none is given: 1 GiB.
pub const DEFAULT_CHUNK_BYTES: usize = 1 << 30;

/// Slot alignment in bytes (enough for any vector load of any kernel).
const ALIGN: usize = 256;

/// Usage figures of an arena.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArenaStats {
    /// Bytes of device memory held in chunks.
    pub reserved_bytes: usize,
    /// Bytes in live slots (rounded up to the alignment).
    pub used_bytes: usize,
    /// The most `used_bytes` ever was.
    pub peak_used_bytes: usize,
    /// Device allocations made (chunks).
    pub device_allocations: usize,
    /// Slots handed out and not yet dropped.
    pub live_slots: usize,
}

/// A chunk of device memory, freed when its last holder goes.
struct Chunk {
    pointer: *mut c_void,
    device: Device,
}

// SAFETY: a chunk is a device address owned by the arena; any thread may free it.
unsafe impl Send for Chunk {}
// SAFETY: shared access only reads the address.
unsafe impl Sync for Chunk {}

impl Drop for Chunk {
    fn drop(&mut self) {
        self.device.release(|| {
            // SAFETY: the pointer came from hipMalloc; this is its only free.
            unsafe { hip!(hipFree(self.pointer)) }
        });
    }
}

struct State {
    /// Every chunk, kept until the arena goes (buffers keep theirs too).
    chunks: Vec<Arc<Chunk>>,
    /// The chunk new small slots come from, and how much of it is used.
    current: Option<(Arc<Chunk>, usize)>,
    stats: ArenaStats,
}

/// What a buffer carved from an arena holds: its chunk (kept alive) and its
/// share of the arena's statistics (given back on drop).
pub(crate) struct Slot {
    _chunk: Arc<Chunk>,
    bytes: usize,
    state: Arc<Mutex<State>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut state) = self.state.lock() {
            state.stats.used_bytes -= self.bytes;
            state.stats.live_slots -= 1;
        }
    }
}

/// Device memory for many buffers in few allocations.
pub struct Arena {
    device: Device,
    chunk_bytes: usize,
    state: Arc<Mutex<State>>,
}

impl Arena {
    /// An arena on `device` that allocates chunks of `chunk_bytes` (requests
    /// larger than that get a chunk of their own size).
    pub fn new(device: &Device, chunk_bytes: usize) -> Result<Arena> {
        if chunk_bytes == 0 {
            return Err(Error::Invalid("arena chunk size must be positive".into()));
        }
        let state = State {
            chunks: Vec::new(),
            current: None,
            stats: ArenaStats::default(),
        };
        Ok(Arena {
            device: device.clone(),
            chunk_bytes,
            state: Arc::new(Mutex::new(state)),
        })
    }

    /// An arena with 1 GiB chunks.
    pub fn with_default_chunks(device: &Device) -> Result<Arena> {
        Arena::new(device, DEFAULT_CHUNK_BYTES)
    }

    /// Current usage.
    pub fn stats(&self) -> ArenaStats {
        self.state
            .lock()
            .map(|state| state.stats)
            .unwrap_or_default()
    }

    /// A buffer of `len` elements, aligned to 256 bytes. Its contents are
    /// unspecified until written (chunks are not cleared).
    pub fn alloc<T: bytemuck::Pod>(&self, len: usize) -> Result<DeviceBuffer<T>> {
        let bytes = len
            .checked_mul(size_of::<T>())
            .ok_or(Error::SizeOverflow { what: "arena slot" })?;
        let rounded = bytes
            .checked_next_multiple_of(ALIGN)
            .ok_or(Error::SizeOverflow { what: "arena slot" })?
            .max(ALIGN);
        let mut state = self
            .state
            .lock()
            .map_err(|_| Error::Invalid("arena lock poisoned".into()))?;
        let (chunk, offset) = match &mut state.current {
            Some((chunk, cursor)) if *cursor + rounded <= self.chunk_bytes => {
                let offset = *cursor;
                *cursor += rounded;
                (Arc::clone(chunk), offset)
            }
            _ if rounded > self.chunk_bytes => (self.new_chunk(&mut state, rounded)?, 0),
            _ => {
                let chunk = self.new_chunk(&mut state, self.chunk_bytes)?;
                state.current = Some((Arc::clone(&chunk), rounded));
                (chunk, 0)
            }
        };
        state.stats.used_bytes += rounded;
        state.stats.peak_used_bytes = state.stats.peak_used_bytes.max(state.stats.used_bytes);
        state.stats.live_slots += 1;
        drop(state);
        let pointer = chunk.pointer.wrapping_byte_add(offset);
        let slot = Arc::new(Slot {
            _chunk: chunk,
            bytes: rounded,
            state: Arc::clone(&self.state),
        });
        Ok(DeviceBuffer::from_slot(&self.device, pointer, len, slot))
    }

    fn new_chunk(&self, state: &mut State, bytes: usize) -> Result<Arc<Chunk>> {
        self.device.activate()?;
        let mut pointer: *mut c_void = std::ptr::null_mut();
        // SAFETY: `pointer` is a valid out-pointer.
        unsafe { hip!(hipMalloc(&mut pointer, bytes)) }?;
        let chunk = Arc::new(Chunk {
            pointer,
            device: self.device.clone(),
        });
        state.chunks.push(Arc::clone(&chunk));
        state.stats.reserved_bytes += bytes;
        state.stats.device_allocations += 1;
        Ok(chunk)
    }
}
