//! Conversion between ggml's block formats and `f32`.
//!
//! [`dequantize`] turns the bytes of any [`GgmlType`] into `f32` values, bit for bit
//! as ggml's reference `dequantize_row_*` functions do. [`quantize`] goes the other
//! way for the types listed by [`can_quantize`], byte for byte as ggml's
//! `quantize_row_*_ref` (and gguf-py's `gguf.quants`, where it implements the type).
//! The `_parallel` variants split the work over rayon's thread pool; they give the
//! same bytes as the sequential ones.

mod dequant;
mod fp4_scales;
mod quantize;
pub(crate) mod tables;

use rayon::prelude::*;

use crate::types::GgmlType;

/// Why a conversion could not run. Nothing is written to the output in these cases.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QuantError {
    /// The element count is not a whole number of blocks.
    #[error("{ty}: {elements} elements is not a multiple of the block size {block_size}")]
    NotBlockMultiple {
        /// The tensor type.
        ty: GgmlType,
        /// Elements requested.
        elements: usize,
        /// Elements per block of `ty`.
        block_size: usize,
    },
    /// The byte and element counts do not describe the same number of blocks.
    #[error("{ty}: {bytes} bytes do not hold {elements} elements ({expected} bytes expected)")]
    LengthMismatch {
        /// The tensor type.
        ty: GgmlType,
        /// Bytes given.
        bytes: usize,
        /// Elements given.
        elements: usize,
        /// Bytes that `elements` values of `ty` take.
        expected: usize,
    },
    /// The type has no quantizer here (see [`can_quantize`]).
    #[error("quantization to {0} is not supported")]
    Unsupported(GgmlType),
}

/// Types that [`quantize`] can produce.
pub const QUANTIZABLE: [GgmlType; 16] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q8_1,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::Q8_K,
    GgmlType::MXFP4,
];

/// Whether [`quantize`] supports `ty`.
pub fn can_quantize(ty: GgmlType) -> bool {
    QUANTIZABLE.contains(&ty)
}

/// Checks that `bytes` of `ty` hold exactly `elements` values; returns the block count.
fn check_lengths(ty: GgmlType, bytes: usize, elements: usize) -> Result<usize, QuantError> {
    let block_size = ty.block_size();
    if !elements.is_multiple_of(block_size) {
        return Err(QuantError::NotBlockMultiple {
            ty,
            elements,
            block_size,
        });
    }
    let blocks = elements / block_size;
    let expected = blocks.checked_mul(ty.type_size());
    if expected != Some(bytes) {
        return Err(QuantError::LengthMismatch {
            ty,
            bytes,
            elements,
            expected: expected.unwrap_or(usize::MAX),
        });
    }
    Ok(blocks)
}

/// Blocks handed to one rayon task: large enough to amortise scheduling, small
/// enough to balance (about 64 KiB of output per task).
fn blocks_per_task(ty: GgmlType) -> usize {
    (16_384 / ty.block_size()).max(1)
}

/// Dequantizes `src` (whole blocks of `ty`) into `dst`, one `f32` per element.
pub fn dequantize(ty: GgmlType, src: &[u8], dst: &mut [f32]) -> Result<(), QuantError> {
    check_lengths(ty, src.len(), dst.len())?;
    dequant::dequantize_blocks(ty, src, dst);
    Ok(())
}

/// [`dequantize`] split over rayon's thread pool.
pub fn dequantize_parallel(ty: GgmlType, src: &[u8], dst: &mut [f32]) -> Result<(), QuantError> {
    check_lengths(ty, src.len(), dst.len())?;
    let per_task = blocks_per_task(ty);
    src.par_chunks(per_task * ty.type_size())
        .zip(dst.par_chunks_mut(per_task * ty.block_size()))
        .for_each(|(src, dst)| dequant::dequantize_blocks(ty, src, dst));
    Ok(())
}

/// Dequantizes into a new vector of `elements` values.
pub fn dequantize_to_vec(
    ty: GgmlType,
    src: &[u8],
    elements: usize,
) -> Result<Vec<f32>, QuantError> {
    check_lengths(ty, src.len(), elements)?;
    let mut out = vec![0.0; elements];
    dequantize_parallel(ty, src, &mut out)?;
    Ok(out)
}

/// Quantizes `src` into `dst` as whole blocks of `ty`.
pub fn quantize(ty: GgmlType, src: &[f32], dst: &mut [u8]) -> Result<(), QuantError> {
    if !can_quantize(ty) {
        return Err(QuantError::Unsupported(ty));
    }
    check_lengths(ty, dst.len(), src.len())?;
    quantize::quantize_blocks(ty, src, dst);
    Ok(())
}

/// [`quantize`] split over rayon's thread pool; the bytes are the same.
pub fn quantize_parallel(ty: GgmlType, src: &[f32], dst: &mut [u8]) -> Result<(), QuantError> {
    if !can_quantize(ty) {
        return Err(QuantError::Unsupported(ty));
    }
    check_lengths(ty, dst.len(), src.len())?;
    let per_task = blocks_per_task(ty);
    src.par_chunks(per_task * ty.block_size())
        .zip(dst.par_chunks_mut(per_task * ty.type_size()))
        .for_each(|(src, dst)| quantize::quantize_blocks(ty, src, dst));
    Ok(())
}

/// Quantizes into a new vector of bytes.
pub fn quantize_to_vec(ty: GgmlType, src: &[f32]) -> Result<Vec<u8>, QuantError> {
    let block_size = ty.block_size();
    if !src.len().is_multiple_of(block_size) {
        return Err(QuantError::NotBlockMultiple {
            ty,
            elements: src.len(),
            block_size,
        });
    }
    let mut out = vec![0; src.len() / block_size * ty.type_size()];
    quantize_parallel(ty, src, &mut out)?;
    Ok(out)
}
