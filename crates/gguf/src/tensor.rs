//! Tensor descriptions and zero-copy views of their data.

use crate::blocks::Block;
use crate::error::TensorError;
use crate::quant::{self, QuantError};
use crate::types::GgmlType;

/// A tensor as described by the file's header, already validated: its shape is
/// non-empty in every dimension, its rows are whole blocks, and its data lies inside
/// the file without overlapping another tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    name: String,
    shape: Vec<u64>,
    ty: GgmlType,
    offset: u64,
    size: u64,
    file_offset: u64,
}

impl TensorInfo {
    pub(crate) fn new(name: String, shape: Vec<u64>, ty: GgmlType, offset: u64, size: u64) -> Self {
        TensorInfo {
            name,
            shape,
            ty,
            offset,
            size,
            file_offset: 0,
        }
    }

    pub(crate) fn set_file_offset(&mut self, file_offset: u64) {
        self.file_offset = file_offset;
    }

    /// The tensor's name (`blk.0.attn_q.weight`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Dimensions in ggml order: `shape()[0]` is the row length (contiguous).
    pub fn shape(&self) -> &[u64] {
        &self.shape
    }

    /// The element type.
    pub fn ggml_type(&self) -> GgmlType {
        self.ty
    }

    /// Number of elements.
    pub fn n_elements(&self) -> u64 {
        self.shape.iter().product()
    }

    /// Elements per row (`ne[0]`).
    pub fn row_len(&self) -> u64 {
        self.shape.first().copied().unwrap_or(1)
    }

    /// Number of rows (the product of every dimension but the first).
    pub fn n_rows(&self) -> u64 {
        self.shape.iter().skip(1).product()
    }

    /// Offset of the data from the start of the data section, as stored.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Offset of the data from the start of the file.
    pub fn file_offset(&self) -> u64 {
        self.file_offset
    }

    /// Bytes of data.
    pub fn size_bytes(&self) -> u64 {
        self.size
    }
}

/// A tensor's description together with its bytes, borrowed from the file.
#[derive(Debug, Clone, Copy)]
pub struct TensorView<'a> {
    info: &'a TensorInfo,
    data: &'a [u8],
}

impl<'a> TensorView<'a> {
    pub(crate) fn new(info: &'a TensorInfo, data: &'a [u8]) -> Self {
        TensorView { info, data }
    }

    /// The tensor's description.
    pub fn info(&self) -> &'a TensorInfo {
        self.info
    }

    /// The tensor's name.
    pub fn name(&self) -> &'a str {
        &self.info.name
    }

    /// The element type.
    pub fn ggml_type(&self) -> GgmlType {
        self.info.ty
    }

    /// The raw bytes, exactly `info().size_bytes()` of them.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The data as a slice of blocks, without copying.
    ///
    /// Fails when the tensor is of another type, or when the data is not aligned in
    /// memory for `B` (possible only for files with `general.alignment` below the
    /// block's alignment, or data held in an unaligned buffer).
    pub fn blocks<B: Block>(&self) -> Result<&'a [B], TensorError> {
        if self.info.ty != B::TYPE {
            return Err(TensorError::WrongType {
                name: self.info.name.clone(),
                expected: B::TYPE,
                found: self.info.ty,
            });
        }
        bytemuck::try_cast_slice(self.data).map_err(|_| TensorError::Misaligned {
            name: self.info.name.clone(),
            ty: B::TYPE,
            align: align_of::<B>(),
        })
    }

    /// Dequantizes the whole tensor to `f32`, in parallel.
    pub fn to_f32(&self) -> Result<Vec<f32>, QuantError> {
        let elements = usize::try_from(self.info.n_elements()).unwrap_or(usize::MAX);
        quant::dequantize_to_vec(self.info.ty, self.data, elements)
    }

    /// Dequantizes row `index` (of [`TensorInfo::n_rows`]) into `out`, which must
    /// hold [`TensorInfo::row_len`] values.
    pub fn row_to_f32(&self, index: u64, out: &mut [f32]) -> Result<(), QuantError> {
        let ty = self.info.ty;
        let row_bytes = (self.info.row_len() / ty.block_size() as u64) * ty.type_size() as u64;
        let start = usize::try_from(index.saturating_mul(row_bytes)).unwrap_or(usize::MAX);
        let end = start.saturating_add(row_bytes as usize);
        let row = self.data.get(start..end).unwrap_or(&[]);
        quant::dequantize(ty, row, out)
    }
}
