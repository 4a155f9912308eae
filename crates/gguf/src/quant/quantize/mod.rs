//! Reference quantizers, one module per format family.

use crate::types::GgmlType;

/// Quantizes whole blocks. The caller checked that `ty` is quantizable and that
/// `src.len() == n * ty.block_size()` and `dst.len() == n * ty.type_size()`.
pub(crate) fn quantize_blocks(ty: GgmlType, src: &[f32], dst: &mut [u8]) {
    let _ = (ty, src);
    // Filled in by the per-family quantizers.
    dst.fill(0);
}
