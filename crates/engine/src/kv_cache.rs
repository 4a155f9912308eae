//! The key/value cache of one sequence: f16, grouped-query native (one entry per
//! key/value head, never expanded to all query heads), one slab per layer.
//!
//! The slabs grow as positions are stored, a block of [`KV_BLOCK`] positions at a
//! time, up to the capacity: a sequence holds memory for what it has seen, and
//! gives it back when it is dropped (a server's finished or cancelled request).

use std::sync::atomic::{AtomicU64, Ordering};

use half::f16;

use crate::config::ModelConfig;

/// A new cache identity.
fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Positions by which the cache grows.
pub const KV_BLOCK: usize = 256;

/// Keys and values of the positions a sequence has seen.
#[derive(Debug)]
pub struct KvCache {
    /// Tells sequences apart for backends that keep their keys and values
    /// elsewhere (the GPU's per-sequence device caches): unique per cache.
    id: u64,
    capacity: usize,
    len: usize,
    k_stride: usize,
    v_stride: usize,
    keys: Vec<Vec<f16>>,
    values: Vec<Vec<f16>>,
}

impl KvCache {
    /// A cache for up to `capacity` positions of `config`'s model (memory is
    /// taken as positions are stored).
    pub fn new(config: &ModelConfig, capacity: usize) -> Self {
        Self {
            id: next_id(),
            capacity,
            len: 0,
            k_stride: config.n_head_kv * config.head_dim,
            v_stride: config.n_head_kv * config.head_dim_v,
            keys: vec![Vec::new(); config.n_layer],
            values: vec![Vec::new(); config.n_layer],
        }
    }

    /// This cache's identity, unique among the caches of the process (a clone
    /// gets its own).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Positions stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Positions it can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forgets every position.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Forgets positions from `len` on.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    pub(crate) fn set_len(&mut self, len: usize) {
        debug_assert!(len <= self.capacity);
        self.len = len;
    }

    /// Stores the keys and values of position `pos` of layer `layer`.
    pub(crate) fn store(&mut self, layer: usize, pos: usize, k: &[f32], v: &[f32]) {
        assert!(
            pos < self.capacity,
            "position {pos} past the capacity {}",
            self.capacity
        );
        let positions = (pos + 1).next_multiple_of(KV_BLOCK).min(self.capacity);
        for (slab, stride) in [
            (&mut self.keys[layer], self.k_stride),
            (&mut self.values[layer], self.v_stride),
        ] {
            if slab.len() < positions * stride {
                slab.resize(positions * stride, f16::ZERO);
            }
        }
        let ks = &mut self.keys[layer][pos * self.k_stride..(pos + 1) * self.k_stride];
        for (d, s) in ks.iter_mut().zip(k) {
            *d = f16::from_f32(*s);
        }
        let vs = &mut self.values[layer][pos * self.v_stride..(pos + 1) * self.v_stride];
        for (d, s) in vs.iter_mut().zip(v) {
            *d = f16::from_f32(*s);
        }
    }

    /// Keys of layer `layer` for positions `0..n`: `n * n_head_kv * head_dim`.
    pub(crate) fn keys(&self, layer: usize, n: usize) -> &[f16] {
        &self.keys[layer][..n * self.k_stride]
    }

    /// Values of layer `layer` for positions `0..n`.
    pub(crate) fn values(&self, layer: usize, n: usize) -> &[f16] {
        &self.values[layer][..n * self.v_stride]
    }

    /// Bytes held now.
    pub fn size_bytes(&self) -> usize {
        (self.keys.iter().map(Vec::len).sum::<usize>()
            + self.values.iter().map(Vec::len).sum::<usize>())
            * 2
    }
}

/// A copy of the keys and values with an identity of its own: a backend that
/// keeps keys and values itself does not hold them for the copy.
impl Clone for KvCache {
    fn clone(&self) -> Self {
        Self {
            id: next_id(),
            capacity: self.capacity,
            len: self.len,
            k_stride: self.k_stride,
            v_stride: self.v_stride,
            keys: self.keys.clone(),
            values: self.values.clone(),
        }
    }
}
