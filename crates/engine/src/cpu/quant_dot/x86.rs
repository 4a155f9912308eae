//! AVX2 kernels.

use rocmforge_gguf::GgmlType;

use super::TileFn;

/// The AVX2 kernel for `ty`, if there is one.
pub(super) fn kernel(_ty: GgmlType) -> Option<TileFn> {
    None
}
