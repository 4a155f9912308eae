//! Dequantization kernels, one module per format family.

use crate::types::GgmlType;

/// Dequantizes whole blocks. Lengths were checked by the caller:
/// `src.len() == n * ty.type_size()` and `dst.len() == n * ty.block_size()`.
pub(crate) fn dequantize_blocks(ty: GgmlType, src: &[u8], dst: &mut [f32]) {
    let _ = (ty, src);
    // Filled in by the per-family kernels.
    dst.fill(f32::NAN);
}
