//! The key/value cache of one sequence: f16, grouped-query native (one entry per
//! key/value head, never expanded to all query heads), one slab per layer.

use half::f16;

use crate::config::ModelConfig;

/// Keys and values of the positions a sequence has seen.
#[derive(Debug, Clone)]
pub struct KvCache {
    capacity: usize,
    len: usize,
    k_stride: usize,
    v_stride: usize,
    keys: Vec<Vec<f16>>,
    values: Vec<Vec<f16>>,
}

impl KvCache {
    /// A cache for `capacity` positions of `config`'s model.
    pub fn new(config: &ModelConfig, capacity: usize) -> Self {
        let k_stride = config.n_head_kv * config.head_dim;
        let v_stride = config.n_head_kv * config.head_dim_v;
        Self {
            capacity,
            len: 0,
            k_stride,
            v_stride,
            keys: (0..config.n_layer)
                .map(|_| vec![f16::ZERO; capacity * k_stride])
                .collect(),
            values: (0..config.n_layer)
                .map(|_| vec![f16::ZERO; capacity * v_stride])
                .collect(),
        }
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

    /// Bytes held.
    pub fn size_bytes(&self) -> usize {
        (self.keys.iter().map(Vec::len).sum::<usize>()
            + self.values.iter().map(Vec::len).sum::<usize>())
            * 2
    }
}
