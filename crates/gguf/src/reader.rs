//! The GGUF parser: validates a whole header against the file's bytes.
//!
//! Every count, length and offset read from the file is checked against the bytes
//! that remain before it is used, and nothing is allocated in proportion to a count
//! that has not been checked that way. Errors carry the byte offset of the item that
//! is wrong.

use std::collections::HashMap;
use std::ops::Range;

use crate::error::{GgufError, InvalidKind};
use crate::tensor::TensorInfo;
use crate::types::GgmlType;
use crate::value::ValueType;

/// The four bytes every GGUF file starts with.
pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";
/// Tensor data alignment when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Deepest nesting of arrays inside arrays that the reader accepts.
pub const MAX_ARRAY_DEPTH: usize = 16;
/// Most dimensions a tensor may have (`GGML_MAX_DIMS`).
pub const MAX_DIMS: usize = 4;
/// The metadata key that sets the tensor data alignment.
pub const ALIGNMENT_KEY: &str = "general.alignment";

/// One metadata entry: its key and where its encoded value lies in the file.
#[derive(Debug, Clone)]
pub(crate) struct MetadataEntry {
    pub key: String,
    pub value_type: ValueType,
    /// The encoded value (for arrays, from the element type tag on).
    pub span: Range<usize>,
}

/// Everything the header says, validated against the file it came from.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub version: u32,
    pub metadata: Vec<MetadataEntry>,
    pub key_index: HashMap<String, usize>,
    pub tensors: Vec<TensorInfo>,
    pub tensor_index: HashMap<String, usize>,
    pub alignment: u64,
    pub data_offset: u64,
}

/// A bounds-checked reader over the file's bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &dyn Fn() -> String) -> Result<&'a [u8], GgufError> {
        if n > self.remaining() {
            return Err(GgufError::invalid(
                self.pos,
                InvalidKind::Truncated {
                    what: what(),
                    needed: n as u64,
                    available: self.remaining() as u64,
                },
            ));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &dyn Fn() -> String) -> Result<[u8; N], GgufError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u32(&mut self, what: &dyn Fn() -> String) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &dyn Fn() -> String) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// Reads a `u64` count and checks that `count * min_size` bytes remain.
    fn count(&mut self, min_size: usize, what: &dyn Fn() -> String) -> Result<usize, GgufError> {
        let at = self.pos;
        let count = self.u64(what)?;
        let fits = usize::try_from(count)
            .ok()
            .and_then(|n| n.checked_mul(min_size))
            .is_some_and(|bytes| bytes <= self.remaining());
        if !fits {
            return Err(GgufError::invalid(
                at,
                InvalidKind::CountTooLarge {
                    what: what(),
                    count,
                    available: self.remaining() as u64,
                },
            ));
        }
        Ok(count as usize)
    }

    /// A `u64`-length-prefixed UTF-8 string.
    fn string(&mut self, what: &dyn Fn() -> String) -> Result<&'a str, GgufError> {
        let at = self.pos;
        let len = self.count(1, &|| format!("length of {}", what()))?;
        let bytes = self.take(len, what)?;
        std::str::from_utf8(bytes)
            .map_err(|_| GgufError::invalid(at, InvalidKind::BadUtf8 { what: what() }))
    }

    fn value_type(&mut self, what: &dyn Fn() -> String) -> Result<ValueType, GgufError> {
        let at = self.pos;
        let id = self.u32(&|| format!("type of {}", what()))?;
        ValueType::from_id(id).ok_or_else(|| {
            GgufError::invalid(at, InvalidKind::UnknownValueType { what: what(), id })
        })
    }

    /// Walks over one value of type `ty`, validating it.
    fn skip_value(
        &mut self,
        ty: ValueType,
        depth: usize,
        what: &dyn Fn() -> String,
    ) -> Result<(), GgufError> {
        if let Some(size) = ty.scalar_size() {
            self.take(size, what)?;
            return Ok(());
        }
        if ty == ValueType::String {
            self.string(what)?;
            return Ok(());
        }
        // An array: element type, count, elements.
        let at = self.pos;
        if depth >= MAX_ARRAY_DEPTH {
            return Err(GgufError::invalid(
                at,
                InvalidKind::NestingTooDeep {
                    what: what(),
                    max: MAX_ARRAY_DEPTH,
                },
            ));
        }
        let element = self.value_type(&|| format!("element type of {}", what()))?;
        let count = self.count(element.min_encoded_size(), &|| {
            format!("element count of {}", what())
        })?;
        if let Some(size) = element.scalar_size() {
            // `count` already checked: `count * size` bytes remain.
            self.take(count * size, what)?;
            return Ok(());
        }
        if element == ValueType::String {
            return self.skip_strings(count, what);
        }
        for index in 0..count {
            self.skip_value(element, depth + 1, &|| {
                format!("element {index} of {}", what())
            })?;
        }
        Ok(())
    }

    /// Walks `count` strings: the hot loop for vocabularies of 100k+ tokens.
    ///
    /// A first pass only follows the length prefixes. When every string is shorter
    /// than 128 bytes, each prefix is eight ASCII bytes, and an ASCII byte can never
    /// sit inside a multi-byte character; so the whole run of prefixes and strings is
    /// valid UTF-8 exactly when every string is, and one validation over the run
    /// replaces a quarter of a million small ones. Otherwise, or on any problem, the
    /// strings are checked one by one, which also finds the precise error.
    fn skip_strings(&mut self, count: usize, what: &dyn Fn() -> String) -> Result<(), GgufError> {
        let start = self.pos;
        let mut pos = start;
        let mut all_short = true;
        let mut walked = true;
        for _ in 0..count {
            let len = self.bytes[pos..]
                .first_chunk::<8>()
                .map(|len| u64::from_le_bytes(*len));
            let end = len
                .and_then(|len| usize::try_from(len).ok())
                .and_then(|len| pos.checked_add(8)?.checked_add(len))
                .filter(|&end| end <= self.bytes.len());
            match (len, end) {
                (Some(len), Some(end)) => {
                    all_short &= len < 128;
                    pos = end;
                }
                _ => {
                    walked = false;
                    break;
                }
            }
        }
        if walked && all_short && simdutf8::basic::from_utf8(&self.bytes[start..pos]).is_ok() {
            self.pos = pos;
            return Ok(());
        }
        for index in 0..count {
            self.string(&|| format!("element {index} of {}", what()))?;
        }
        Ok(())
    }
}

fn align_up(offset: u64, alignment: u64) -> Option<u64> {
    offset.checked_next_multiple_of(alignment)
}

/// Parses and validates the header of a GGUF file held in `bytes`.
pub(crate) fn parse(bytes: &[u8]) -> Result<Header, GgufError> {
    let mut cur = Cursor { bytes, pos: 0 };
    let magic = bytes.get(..4).unwrap_or(bytes);
    if magic != GGUF_MAGIC {
        return Err(GgufError::invalid(
            0,
            InvalidKind::BadMagic {
                found: magic.to_vec(),
            },
        ));
    }
    cur.pos = 4;
    let version = cur.u32(&|| "the version".into())?;
    if version & 0xFFFF == 0 && version != 0 {
        return Err(GgufError::invalid(4, InvalidKind::BigEndian));
    }
    if !(2..=3).contains(&version) {
        return Err(GgufError::invalid(
            4,
            InvalidKind::UnsupportedVersion(version),
        ));
    }

    // Smallest possible tensor info: empty name, n_dims, type, offset.
    const MIN_TENSOR_INFO: usize = 8 + 4 + 4 + 8;
    // Smallest possible metadata entry: empty key, type tag, one-byte value.
    const MIN_ENTRY: usize = 8 + 4 + 1;
    let tensor_count = cur.count(MIN_TENSOR_INFO, &|| "the tensor count".into())?;
    let kv_count = cur.count(MIN_ENTRY, &|| "the metadata entry count".into())?;

    let mut metadata = Vec::with_capacity(kv_count);
    let mut key_index = HashMap::with_capacity(kv_count);
    for index in 0..kv_count {
        let entry_at = cur.pos;
        let key = cur.string(&|| format!("the key of metadata entry {index}"))?;
        let what = || format!("the value of `{key}`");
        let value_type = cur.value_type(&what)?;
        let start = cur.pos;
        cur.skip_value(value_type, 0, &what)?;
        if key_index.insert(key.to_owned(), index).is_some() {
            return Err(GgufError::invalid(
                entry_at,
                InvalidKind::DuplicateKey {
                    key: key.to_owned(),
                },
            ));
        }
        metadata.push(MetadataEntry {
            key: key.to_owned(),
            value_type,
            span: start..cur.pos,
        });
    }

    let alignment = match key_index.get(ALIGNMENT_KEY).map(|&i| &metadata[i]) {
        None => DEFAULT_ALIGNMENT,
        Some(entry) => {
            let raw = &bytes[entry.span.clone()];
            let value = (entry.value_type == ValueType::U32)
                .then(|| u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]));
            match value {
                Some(v) if v.is_power_of_two() => u64::from(v),
                Some(v) => {
                    return Err(GgufError::invalid(
                        entry.span.start,
                        InvalidKind::BadAlignment {
                            found: v.to_string(),
                        },
                    ));
                }
                None => {
                    return Err(GgufError::invalid(
                        entry.span.start,
                        InvalidKind::BadAlignment {
                            found: format!("a {}", entry.value_type),
                        },
                    ));
                }
            }
        }
    };

    let mut tensors = Vec::with_capacity(tensor_count);
    let mut tensor_index = HashMap::with_capacity(tensor_count);
    for index in 0..tensor_count {
        let info_at = cur.pos;
        let name = cur.string(&|| format!("the name of tensor {index}"))?;
        let info = parse_tensor_info(&mut cur, name)?;
        if tensor_index.insert(name.to_owned(), index).is_some() {
            return Err(GgufError::invalid(
                info_at,
                InvalidKind::DuplicateTensor {
                    name: name.to_owned(),
                },
            ));
        }
        tensors.push((info_at, info));
    }

    let header_end = cur.pos as u64;
    let data_offset = align_up(header_end, alignment).ok_or_else(|| {
        GgufError::invalid(
            cur.pos,
            InvalidKind::BadAlignment {
                found: alignment.to_string(),
            },
        )
    })?;
    check_tensor_placement(&mut tensors, data_offset, alignment, bytes.len() as u64)?;

    Ok(Header {
        version,
        metadata,
        key_index,
        tensors: tensors.into_iter().map(|(_, info)| info).collect(),
        tensor_index,
        alignment,
        data_offset,
    })
}

fn parse_tensor_info(cur: &mut Cursor<'_>, name: &str) -> Result<TensorInfo, GgufError> {
    let bad_shape = |at: usize, problem: String| {
        GgufError::invalid(
            at,
            InvalidKind::BadShape {
                name: name.to_owned(),
                problem,
            },
        )
    };
    let dims_at = cur.pos;
    let n_dims = cur.u32(&|| format!("the dimension count of tensor `{name}`"))?;
    if n_dims as usize > MAX_DIMS {
        return Err(bad_shape(
            dims_at,
            format!("{n_dims} dimensions (at most {MAX_DIMS})"),
        ));
    }
    let mut shape = Vec::with_capacity(n_dims as usize);
    let mut elements: u64 = 1;
    for axis in 0..n_dims as usize {
        let at = cur.pos;
        let dim = cur.u64(&|| format!("dimension {axis} of tensor `{name}`"))?;
        if dim == 0 {
            return Err(bad_shape(at, format!("dimension {axis} is zero")));
        }
        elements = elements
            .checked_mul(dim)
            .filter(|&n| n <= i64::MAX as u64)
            .ok_or_else(|| bad_shape(at, "the element count overflows".to_owned()))?;
        shape.push(dim);
    }
    let type_at = cur.pos;
    let type_id = cur.u32(&|| format!("the type of tensor `{name}`"))?;
    let ty = GgmlType::from_id(type_id).map_err(|_| {
        GgufError::invalid(
            type_at,
            InvalidKind::UnknownTensorType {
                name: name.to_owned(),
                id: type_id,
            },
        )
    })?;
    let row = shape.first().copied().unwrap_or(1);
    if !row.is_multiple_of(ty.block_size() as u64) {
        return Err(bad_shape(
            dims_at,
            format!(
                "rows of {row} elements are not a multiple of the {ty} block size {}",
                ty.block_size()
            ),
        ));
    }
    let size = ty
        .bytes_for(elements)
        .ok_or_else(|| bad_shape(dims_at, "the byte size overflows".to_owned()))?;
    let offset = cur.u64(&|| format!("the data offset of tensor `{name}`"))?;
    Ok(TensorInfo::new(name.to_owned(), shape, ty, offset, size))
}

/// Checks that every tensor is aligned, inside the file, and apart from the others;
/// then records each tensor's absolute position.
fn check_tensor_placement(
    tensors: &mut [(usize, TensorInfo)],
    data_offset: u64,
    alignment: u64,
    file_len: u64,
) -> Result<(), GgufError> {
    for (info_at, info) in tensors.iter_mut() {
        if !info.offset().is_multiple_of(alignment) {
            return Err(GgufError::invalid(
                *info_at,
                InvalidKind::MisalignedTensor {
                    name: info.name().to_owned(),
                    offset: info.offset(),
                    alignment,
                },
            ));
        }
        let start = data_offset.checked_add(info.offset());
        let end = start.and_then(|s| s.checked_add(info.size_bytes()));
        match (start, end) {
            (Some(start), Some(end)) if end <= file_len => info.set_file_offset(start),
            _ => {
                return Err(GgufError::invalid(
                    *info_at,
                    InvalidKind::TensorOutOfBounds {
                        name: info.name().to_owned(),
                        start: start.unwrap_or(u64::MAX),
                        end: end.unwrap_or(u64::MAX),
                        file_len,
                    },
                ));
            }
        }
    }
    let mut by_start: Vec<&(usize, TensorInfo)> = tensors.iter().collect();
    by_start.sort_by_key(|(_, info)| info.offset());
    for pair in by_start.windows(2) {
        let (first, (second_at, second)) = (&pair[0].1, pair[1]);
        if first.offset() + first.size_bytes() > second.offset() {
            return Err(GgufError::invalid(
                *second_at,
                InvalidKind::OverlappingTensors {
                    first: first.name().to_owned(),
                    second: second.name().to_owned(),
                },
            ));
        }
    }
    Ok(())
}
