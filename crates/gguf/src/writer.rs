//! Writing GGUF files: metadata plus aligned tensor data.
//!
//! [`GgufBuilder`] collects metadata and tensor descriptions; [`GgufBuilder::write_header`]
//! writes the header and returns a [`TensorDataWriter`] that takes each tensor's bytes
//! in declaration order. Nothing forces the whole model into memory at once, so
//! multi-gigabyte files can be produced tensor by tensor.
//!
//! ```
//! use rocmforge_gguf::{GgmlType, GgufBuilder, GgufFile};
//!
//! let mut builder = GgufBuilder::new();
//! builder.add_metadata("general.architecture", "llama")?;
//! builder.add_tensor("weights", &[4, 2], GgmlType::F32)?;
//! let data: Vec<u8> = (0..8).flat_map(|i| (i as f32).to_le_bytes()).collect();
//! let bytes = builder.to_bytes(&[&data])?;
//!
//! let file = GgufFile::from_bytes(&bytes)?;
//! assert_eq!(file.metadata().get_str("general.architecture")?, "llama");
//! assert_eq!(file.tensor("weights").unwrap().to_f32()?[7], 7.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashSet;
use std::io::Write;

use crate::error::WriteError;
use crate::reader::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, GGUF_MAGIC, MAX_DIMS};
use crate::types::GgmlType;
use crate::value::{Array, Value};

/// A tensor declared in a [`GgufBuilder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// The tensor's name.
    pub name: String,
    /// Dimensions in ggml order (row length first).
    pub shape: Vec<u64>,
    /// Element type.
    pub ty: GgmlType,
    /// Bytes of data.
    pub size: u64,
    /// Offset inside the data section.
    pub offset: u64,
}

/// Collects what a GGUF file will hold, then writes it.
#[derive(Debug, Clone)]
pub struct GgufBuilder {
    metadata: Vec<(String, Value)>,
    keys: HashSet<String>,
    tensors: Vec<TensorSpec>,
    names: HashSet<String>,
    alignment: u64,
    data_size: u64,
}

impl Default for GgufBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl GgufBuilder {
    /// An empty version-3 file with the default alignment of 32.
    pub fn new() -> Self {
        GgufBuilder {
            metadata: Vec::new(),
            keys: HashSet::new(),
            tensors: Vec::new(),
            names: HashSet::new(),
            alignment: DEFAULT_ALIGNMENT,
            data_size: 0,
        }
    }

    /// Adds a metadata entry. `general.alignment` (a `u32` power of two) also sets the
    /// alignment of the tensor data; add it before any tensor.
    pub fn add_metadata(
        &mut self,
        key: impl Into<String>,
        value: impl Into<Value>,
    ) -> Result<(), WriteError> {
        let key = key.into();
        let value = value.into();
        if self.keys.contains(&key) {
            return Err(WriteError::DuplicateKey(key));
        }
        if key == ALIGNMENT_KEY {
            match value {
                Value::U32(a) if a.is_power_of_two() && self.tensors.is_empty() => {
                    self.alignment = a.into();
                }
                Value::U32(a) if a.is_power_of_two() => {
                    return Err(WriteError::BadAlignment(format!(
                        "{a}, after tensors were added"
                    )));
                }
                ref other => return Err(WriteError::BadAlignment(format!("{other:?}"))),
            }
        }
        self.keys.insert(key.clone());
        self.metadata.push((key, value));
        Ok(())
    }

    /// Declares a tensor; its data is handed over later, in declaration order.
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        shape: &[u64],
        ty: GgmlType,
    ) -> Result<(), WriteError> {
        let name = name.into();
        let bad = |problem: String| WriteError::BadTensor {
            name: name.clone(),
            problem,
        };
        if self.names.contains(&name) {
            return Err(WriteError::DuplicateTensor(name));
        }
        if shape.is_empty() || shape.len() > MAX_DIMS {
            return Err(bad(format!(
                "{} dimensions (1 to {MAX_DIMS} allowed)",
                shape.len()
            )));
        }
        if shape.contains(&0) {
            return Err(bad("a dimension is zero".into()));
        }
        if !shape[0].is_multiple_of(ty.block_size() as u64) {
            return Err(bad(format!(
                "rows of {} elements are not a multiple of the {ty} block size {}",
                shape[0],
                ty.block_size()
            )));
        }
        let size = shape
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d))
            .filter(|&n| n <= i64::MAX as u64)
            .and_then(|n| ty.bytes_for(n))
            .ok_or_else(|| bad("the size overflows".into()))?;
        let offset = self.data_size;
        self.data_size = offset
            .checked_add(size)
            .and_then(|end| end.checked_next_multiple_of(self.alignment))
            .ok_or_else(|| bad("the data section overflows".into()))?;
        self.names.insert(name.clone());
        self.tensors.push(TensorSpec {
            name,
            shape: shape.to_vec(),
            ty,
            size,
            offset,
        });
        Ok(())
    }

    /// The declared tensors with their sizes and offsets.
    pub fn tensors(&self) -> &[TensorSpec] {
        &self.tensors
    }

    /// Writes the header (metadata, tensor infos, padding) and returns the writer
    /// that takes the tensor data.
    pub fn write_header<W: Write>(
        &self,
        mut out: W,
    ) -> Result<TensorDataWriter<'_, W>, WriteError> {
        let mut header = Vec::new();
        header.extend_from_slice(&GGUF_MAGIC);
        header.extend_from_slice(&3u32.to_le_bytes());
        header.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        header.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            put_string(&mut header, key);
            header.extend_from_slice(&value.value_type().id().to_le_bytes());
            put_value(&mut header, value);
        }
        for tensor in &self.tensors {
            put_string(&mut header, &tensor.name);
            header.extend_from_slice(&(tensor.shape.len() as u32).to_le_bytes());
            for dim in &tensor.shape {
                header.extend_from_slice(&dim.to_le_bytes());
            }
            header.extend_from_slice(&tensor.ty.id().to_le_bytes());
            header.extend_from_slice(&tensor.offset.to_le_bytes());
        }
        let padded = (header.len() as u64).next_multiple_of(self.alignment);
        header.resize(padded as usize, 0);
        out.write_all(&header)?;
        Ok(TensorDataWriter {
            out,
            tensors: &self.tensors,
            next: 0,
            alignment: self.alignment,
        })
    }

    /// Writes the whole file to `out`, with `data[i]` the bytes of tensor `i`.
    pub fn write<W: Write>(&self, out: W, data: &[&[u8]]) -> Result<W, WriteError> {
        let mut writer = self.write_header(out)?;
        for bytes in data {
            writer.write_tensor(bytes)?;
        }
        writer.finish()
    }

    /// The whole file as bytes, with `data[i]` the bytes of tensor `i`.
    pub fn to_bytes(&self, data: &[&[u8]]) -> Result<Vec<u8>, WriteError> {
        self.write(Vec::new(), data)
    }
}

/// Takes tensor data in declaration order after the header was written.
#[derive(Debug)]
pub struct TensorDataWriter<'a, W: Write> {
    out: W,
    tensors: &'a [TensorSpec],
    next: usize,
    alignment: u64,
}

impl<W: Write> TensorDataWriter<'_, W> {
    /// The tensor whose data comes next, if any.
    pub fn next_tensor(&self) -> Option<&TensorSpec> {
        self.tensors.get(self.next)
    }

    /// Writes the next tensor's bytes, which must be exactly its declared size.
    pub fn write_tensor(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        self.write_tensor_with(|out| out.write_all(bytes))
    }

    /// Writes the next tensor's data in pieces: `produce` writes the bytes to the
    /// sink it is given, as many calls as it likes, exactly the declared size in all.
    /// Lets callers stream tensors larger than they want to hold in memory.
    pub fn write_tensor_with(
        &mut self,
        produce: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<(), WriteError> {
        let spec = self.tensors.get(self.next).ok_or_else(|| {
            WriteError::DataMismatch(format!(
                "more data than the {} declared tensors",
                self.tensors.len()
            ))
        })?;
        let mut counted = CountingWriter {
            inner: &mut self.out,
            written: 0,
        };
        produce(&mut counted)?;
        if counted.written != spec.size {
            return Err(WriteError::DataMismatch(format!(
                "tensor `{}` needs {} bytes, got {}",
                spec.name, spec.size, counted.written
            )));
        }
        let padding = spec.size.next_multiple_of(self.alignment) - spec.size;
        self.out.write_all(&vec![0; padding as usize])?;
        self.next += 1;
        Ok(())
    }

    /// Checks that every tensor was written, flushes and returns the destination.
    pub fn finish(mut self) -> Result<W, WriteError> {
        if let Some(missing) = self.tensors.get(self.next) {
            return Err(WriteError::DataMismatch(format!(
                "no data for tensor `{}`",
                missing.name
            )));
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Counts the bytes passed through to the destination.
struct CountingWriter<'a, W: Write> {
    inner: &'a mut W,
    written: u64,
}

impl<W: Write> Write for CountingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::U8(v) => out.push(*v),
        Value::I8(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::Bool(v) => out.push(u8::from(*v)),
        Value::String(v) => put_string(out, v),
        Value::Array(v) => put_array(out, v),
        Value::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
    }
}

fn put_array(out: &mut Vec<u8>, array: &Array) {
    out.extend_from_slice(&array.element_type().id().to_le_bytes());
    out.extend_from_slice(&(array.len() as u64).to_le_bytes());
    macro_rules! le {
        ($v:expr) => {
            for x in $v {
                out.extend_from_slice(&x.to_le_bytes());
            }
        };
    }
    match array {
        Array::U8(v) => out.extend_from_slice(v),
        Array::I8(v) => le!(v),
        Array::U16(v) => le!(v),
        Array::I16(v) => le!(v),
        Array::U32(v) => le!(v),
        Array::I32(v) => le!(v),
        Array::F32(v) => le!(v),
        Array::Bool(v) => out.extend(v.iter().map(|&b| u8::from(b))),
        Array::String(v) => v.iter().for_each(|s| put_string(out, s)),
        Array::Array(v) => v.iter().for_each(|a| put_array(out, a)),
        Array::U64(v) => le!(v),
        Array::I64(v) => le!(v),
        Array::F64(v) => le!(v),
    }
}
