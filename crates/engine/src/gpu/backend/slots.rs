//! The sequences' key/value caches on the device: a slot per sequence, each
//! holding every layer's keys and values for the whole context as f16.
//!
//! A sequence is known by its [`KvCache`]'s identity. A fresh sequence (an
//! empty cache) takes a free slot, else the one used longest ago (a finished
//! sequence's: a server reserves as many slots as it runs sequences, and every
//! running sequence is used at each step). A sequence that has lost its slot
//! this way is an error, never another sequence's keys read as its own.

use rocmforge_hip::{Device, DeviceBuffer};

use crate::EngineError;
use crate::config::ModelConfig;
use crate::gpu::upload::check_fits_for;
use crate::kv_cache::KvCache;

/// Per layer: keys and values as f16 bits, `[context][n_head_kv][head_dim]`.
type LayerCaches = Vec<(DeviceBuffer<u16>, DeviceBuffer<u16>)>;

struct Slot {
    caches: LayerCaches,
    /// The identity of the cache whose sequence is stored here.
    owner: Option<u64>,
    /// When it was last used (a count of lookups).
    used: u64,
}

/// The slots and their owners.
pub(super) struct SequenceSlots {
    slots: Vec<Slot>,
    clock: u64,
}

impl SequenceSlots {
    /// `count` slots of `context` positions each.
    pub(super) fn new(
        device: &Device,
        c: &ModelConfig,
        context: usize,
        count: usize,
    ) -> Result<Self, EngineError> {
        let mut slots = SequenceSlots {
            slots: Vec::new(),
            clock: 0,
        };
        slots.reserve(device, c, context, count)?;
        Ok(slots)
    }

    /// Slots there are.
    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Adds slots until there are `count`, after checking that they fit.
    pub(super) fn reserve(
        &mut self,
        device: &Device,
        c: &ModelConfig,
        context: usize,
        count: usize,
    ) -> Result<(), EngineError> {
        let missing = count.saturating_sub(self.slots.len());
        if missing == 0 {
            return Ok(());
        }
        let per_slot = (c.n_layer * context * c.n_head_kv * (c.head_dim + c.head_dim_v) * 2) as u64;
        check_fits_for(device, "the key/value caches", per_slot * missing as u64)?;
        for _ in 0..missing {
            let caches = (0..c.n_layer)
                .map(|_| {
                    Ok((
                        device.alloc::<u16>((context * c.n_head_kv * c.head_dim).max(1))?,
                        device.alloc::<u16>((context * c.n_head_kv * c.head_dim_v).max(1))?,
                    ))
                })
                .collect::<Result<LayerCaches, EngineError>>()?;
            self.slots.push(Slot {
                caches,
                owner: None,
                used: 0,
            });
        }
        Ok(())
    }

    /// The slot holding `kv`'s sequence; an empty `kv` is given one.
    pub(super) fn slot_of(&mut self, kv: &KvCache) -> Result<usize, EngineError> {
        self.clock += 1;
        let id = kv.id();
        let index = match self.slots.iter().position(|s| s.owner == Some(id)) {
            Some(index) => index,
            None if kv.is_empty() => {
                let index = self
                    .slots
                    .iter()
                    .position(|s| s.owner.is_none())
                    .or_else(|| (0..self.slots.len()).min_by_key(|&i| self.slots[i].used))
                    .ok_or_else(|| {
                        EngineError::InvalidConfig("no key/value cache on the device".into())
                    })?;
                self.slots[index].owner = Some(id);
                index
            }
            None => {
                return Err(EngineError::InvalidConfig(format!(
                    "the keys and values of a sequence of {} positions are no longer on the \
                     device: more sequences ran at once than were reserved",
                    kv.len()
                )));
            }
        };
        self.slots[index].used = self.clock;
        Ok(index)
    }

    /// Every layer's caches of `slot`.
    pub(super) fn caches(&self, slot: usize) -> &LayerCaches {
        &self.slots[slot].caches
    }
}
