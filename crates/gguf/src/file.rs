//! [`GgufFile`]: a parsed, validated GGUF file and its bytes.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use memmap2::Mmap;

use crate::error::{GgufError, MetadataError};
use crate::reader::{self, Header, MetadataEntry};
use crate::tensor::{TensorInfo, TensorView};
use crate::value::{ArrayRef, ValueRef};

/// Where the file's bytes live.
enum Storage {
    Mapped(Mmap),
    /// Held in `u64`s so tensor data is 8-byte aligned in memory, like a mapping.
    Owned {
        words: Vec<u64>,
        len: usize,
    },
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped(map) => map,
            Storage::Owned { words, len } => &bytemuck::cast_slice(words)[..*len],
        }
    }

    fn owned(bytes: &[u8]) -> Self {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        bytemuck::cast_slice_mut(&mut words)[..bytes.len()].copy_from_slice(bytes);
        Storage::Owned {
            words,
            len: bytes.len(),
        }
    }
}

/// A GGUF file, parsed and validated.
///
/// Opening checks the whole header (every metadata value, every tensor's shape,
/// type and placement) but reads no tensor data. Tensor data is then available as
/// borrowed [`TensorView`]s.
///
/// ```no_run
/// use rocmforge_gguf::GgufFile;
///
/// let file = GgufFile::open("model.gguf")?;
/// let meta = file.metadata();
/// let arch = meta.get_str("general.architecture")?;
/// let layers = meta.get_u32(&format!("{arch}.block_count"))?;
/// let summary = format!("{arch}, {layers} layers, {} tensors", file.tensors().len());
/// let embedding = file.tensor("token_embd.weight").expect("present").to_f32()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct GgufFile {
    storage: Storage,
    header: Header,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("version", &self.header.version)
            .field("metadata_entries", &self.header.metadata.len())
            .field("tensors", &self.header.tensors.len())
            .field("len", &self.storage.bytes().len())
            .finish()
    }
}

impl GgufFile {
    /// Memory-maps the file at `path` and validates it.
    ///
    /// The map is read-only. As with every memory-mapped file, the file must not be
    /// truncated or rewritten by another process while this value lives; doing so
    /// can crash the process (SIGBUS) or change data that was validated. Use
    /// [`GgufFile::read`] where that cannot be ruled out.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, GgufError> {
        let path = path.as_ref();
        let io_error = |source| GgufError::Io {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(io_error)?;
        let meta = file.metadata().map_err(io_error)?;
        if meta.is_dir() {
            return Err(io_error(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "is a directory",
            )));
        }
        if meta.len() == 0 {
            // Mapping an empty file fails on some systems; parse it for a clear error.
            return Self::from_bytes(&[]);
        }
        // SAFETY: the map is private and read-only and every access is bounds-checked
        // against its length; the documented contract above covers concurrent
        // modification of the file, which Rust cannot rule out for any mapping.
        let map = unsafe { Mmap::map(&file) }.map_err(io_error)?;
        let header = reader::parse(&map)?;
        Ok(GgufFile {
            storage: Storage::Mapped(map),
            header,
        })
    }

    /// Reads the whole file at `path` into memory and validates it.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, GgufError> {
        let path = path.as_ref();
        let io_error = |source| GgufError::Io {
            path: path.to_owned(),
            source,
        };
        let mut bytes = Vec::new();
        File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(io_error)?;
        Self::from_bytes(&bytes)
    }

    /// Validates a file held in memory (copied into an aligned buffer).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, GgufError> {
        let header = reader::parse(bytes)?;
        Ok(GgufFile {
            storage: Storage::owned(bytes),
            header,
        })
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        self.storage.bytes()
    }

    /// The GGUF version (2 or 3).
    pub fn version(&self) -> u32 {
        self.header.version
    }

    /// Tensor data alignment (`general.alignment`, 32 when absent).
    pub fn alignment(&self) -> u64 {
        self.header.alignment
    }

    /// Where the tensor data section starts in the file.
    pub fn data_offset(&self) -> u64 {
        self.header.data_offset
    }

    /// The metadata, with typed accessors.
    pub fn metadata(&self) -> Metadata<'_> {
        Metadata { file: self }
    }

    /// Every tensor's description, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.header.tensors
    }

    /// One tensor's description.
    pub fn tensor_info(&self, name: &str) -> Option<&TensorInfo> {
        self.header
            .tensor_index
            .get(name)
            .map(|&i| &self.header.tensors[i])
    }

    /// One tensor with its data.
    pub fn tensor(&self, name: &str) -> Option<TensorView<'_>> {
        self.tensor_info(name).map(|info| self.view(info))
    }

    /// Every tensor with its data, in file order.
    pub fn tensor_views(&self) -> impl ExactSizeIterator<Item = TensorView<'_>> {
        self.header.tensors.iter().map(|info| self.view(info))
    }

    fn view<'a>(&'a self, info: &'a TensorInfo) -> TensorView<'a> {
        // Placement was validated against the file length when parsing.
        let start = info.file_offset() as usize;
        let end = start + info.size_bytes() as usize;
        TensorView::new(info, &self.bytes()[start..end])
    }
}

/// The metadata of a [`GgufFile`], with typed accessors.
///
/// Integer accessors accept any integer type whose value fits (a `u64` holding 18
/// serves `get_u32`); float accessors accept `f32` and `f64`. Anything else is a
/// [`MetadataError`] naming the key and the type found.
#[derive(Clone, Copy)]
pub struct Metadata<'a> {
    file: &'a GgufFile,
}

impl std::fmt::Debug for Metadata<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<'a> Metadata<'a> {
    fn value(&self, entry: &MetadataEntry) -> ValueRef<'a> {
        let bytes = &self.file.bytes()[entry.span.clone()];
        crate::value::decode_one(entry.value_type, bytes)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.file.header.metadata.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every entry, in file order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&'a str, ValueRef<'a>)> + 'a {
        let this = *self;
        self.file
            .header
            .metadata
            .iter()
            .map(move |entry| (entry.key.as_str(), this.value(entry)))
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.file.header.key_index.contains_key(key)
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<ValueRef<'a>> {
        let index = *self.file.header.key_index.get(key)?;
        Some(self.value(&self.file.header.metadata[index]))
    }

    /// The value of `key` as `T`; an error if missing or of another type.
    pub fn get_as<T: FromValue<'a>>(&self, key: &str) -> Result<T, MetadataError> {
        self.get_opt(key)?.ok_or_else(|| MetadataError::Missing {
            key: key.to_owned(),
        })
    }

    /// The value of `key` as `T` if present; an error only for a wrong type.
    pub fn get_opt<T: FromValue<'a>>(&self, key: &str) -> Result<Option<T>, MetadataError> {
        self.get(key)
            .map(|value| T::from_value(key, value))
            .transpose()
    }

    /// `key` as a `u32`.
    pub fn get_u32(&self, key: &str) -> Result<u32, MetadataError> {
        self.get_as(key)
    }

    /// `key` as a `u64`.
    pub fn get_u64(&self, key: &str) -> Result<u64, MetadataError> {
        self.get_as(key)
    }

    /// `key` as an `i32`.
    pub fn get_i32(&self, key: &str) -> Result<i32, MetadataError> {
        self.get_as(key)
    }

    /// `key` as an `f32`.
    pub fn get_f32(&self, key: &str) -> Result<f32, MetadataError> {
        self.get_as(key)
    }

    /// `key` as an `f64`.
    pub fn get_f64(&self, key: &str) -> Result<f64, MetadataError> {
        self.get_as(key)
    }

    /// `key` as a `bool`.
    pub fn get_bool(&self, key: &str) -> Result<bool, MetadataError> {
        self.get_as(key)
    }

    /// `key` as a string.
    pub fn get_str(&self, key: &str) -> Result<&'a str, MetadataError> {
        self.get_as(key)
    }

    /// `key` as an array of any element type.
    pub fn get_array(&self, key: &str) -> Result<ArrayRef<'a>, MetadataError> {
        self.get_as(key)
    }

    /// `key` as an array of strings.
    pub fn get_str_array(&self, key: &str) -> Result<Vec<&'a str>, MetadataError> {
        let array = self.get_array(key)?;
        array
            .strings()
            .map(Iterator::collect)
            .ok_or_else(|| wrong_type(key, "array of string", ValueRef::Array(array)))
    }

    /// `key` as an array whose elements have exactly `T`'s type.
    pub fn get_vec<T: crate::value::ArrayElement>(
        &self,
        key: &str,
    ) -> Result<Vec<T>, MetadataError> {
        let array = self.get_array(key)?;
        array.to_vec().ok_or_else(|| MetadataError::WrongType {
            key: key.to_owned(),
            expected: "array of another element type",
            found: ValueRef::Array(array).type_description(),
        })
    }
}

fn wrong_type(key: &str, expected: &'static str, found: ValueRef<'_>) -> MetadataError {
    MetadataError::WrongType {
        key: key.to_owned(),
        expected,
        found: found.type_description(),
    }
}

/// Types that a metadata value can be read as (see [`Metadata::get_as`]).
pub trait FromValue<'a>: Sized {
    /// Converts `value` (the value of `key`), or says why it cannot.
    fn from_value(key: &str, value: ValueRef<'a>) -> Result<Self, MetadataError>;
}

macro_rules! integer_from_value {
    ($($t:ty),+) => {$(
        impl<'a> FromValue<'a> for $t {
            fn from_value(key: &str, value: ValueRef<'a>) -> Result<Self, MetadataError> {
                let n = value.as_integer().ok_or_else(|| wrong_type(key, stringify!($t), value))?;
                <$t>::try_from(n).map_err(|_| MetadataError::OutOfRange {
                    key: key.to_owned(),
                    value: n.to_string(),
                    expected: stringify!($t),
                })
            }
        }
    )+};
}

integer_from_value!(u8, i8, u16, i16, u32, i32, u64, i64, usize);

impl<'a> FromValue<'a> for f32 {
    fn from_value(key: &str, value: ValueRef<'a>) -> Result<Self, MetadataError> {
        match value {
            ValueRef::F32(v) => Ok(v),
            ValueRef::F64(v) => Ok(v as f32),
            other => Err(wrong_type(key, "f32", other)),
        }
    }
}

impl<'a> FromValue<'a> for f64 {
    fn from_value(key: &str, value: ValueRef<'a>) -> Result<Self, MetadataError> {
        match value {
            ValueRef::F32(v) => Ok(v.into()),
            ValueRef::F64(v) => Ok(v),
            other => Err(wrong_type(key, "f64", other)),
        }
    }
}

impl<'a> FromValue<'a> for bool {
    fn from_value(key: &str, value: ValueRef<'a>) -> Result<Self, MetadataError> {
        match value {
            ValueRef::Bool(v) => Ok(v),
            other => Err(wrong_type(key, "bool", other)),
        }
    }
}

impl<'a> FromValue<'a> for &'a str {
    fn from_value(key: &str, value: ValueRef<'a>) -> Result<Self, MetadataError> {
        match value {
            ValueRef::String(v) => Ok(v),
            other => Err(wrong_type(key, "string", other)),
        }
    }
}

impl<'a> FromValue<'a> for ArrayRef<'a> {
    fn from_value(key: &str, value: ValueRef<'a>) -> Result<Self, MetadataError> {
        match value {
            ValueRef::Array(v) => Ok(v),
            other => Err(wrong_type(key, "array", other)),
        }
    }
}

impl<'a> FromValue<'a> for ValueRef<'a> {
    fn from_value(_key: &str, value: ValueRef<'a>) -> Result<Self, MetadataError> {
        Ok(value)
    }
}
