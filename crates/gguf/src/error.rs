//! Errors for reading, validating and writing GGUF files.

use std::path::PathBuf;

use crate::types::GgmlType;

/// Anything that can go wrong opening or parsing a GGUF file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GgufError {
    /// The file could not be opened, mapped or read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a valid GGUF file.
    #[error("invalid GGUF file at byte {offset}: {kind}")]
    Invalid {
        /// Byte offset from the start of the file where the problem was found.
        offset: u64,
        /// What is wrong.
        kind: InvalidKind,
    },
    /// A metadata lookup failed.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

impl GgufError {
    pub(crate) fn invalid(offset: usize, kind: InvalidKind) -> Self {
        GgufError::Invalid {
            offset: offset as u64,
            kind,
        }
    }

    /// The byte offset of a format error, if this is one.
    pub fn offset(&self) -> Option<u64> {
        match self {
            GgufError::Invalid { offset, .. } => Some(*offset),
            _ => None,
        }
    }
}

/// The ways a GGUF file can be malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidKind {
    /// The first four bytes are not `GGUF`.
    #[error("not a GGUF file (starts with {found:02x?}, expected the magic \"GGUF\")")]
    BadMagic {
        /// The bytes found (fewer when the file is shorter).
        found: Vec<u8>,
    },
    /// The version field reads as a big-endian number.
    #[error("big-endian GGUF files are not supported")]
    BigEndian,
    /// A version this reader does not know.
    #[error("unsupported GGUF version {0} (supported: 2 and 3)")]
    UnsupportedVersion(u32),
    /// The file ends in the middle of something.
    #[error("file ends inside {what}: {needed} bytes needed, {available} left")]
    Truncated {
        /// What was being read.
        what: String,
        /// Bytes it needs.
        needed: u64,
        /// Bytes left in the file.
        available: u64,
    },
    /// A count claims more entries than the rest of the file could hold.
    #[error("{what} is {count}, more than the {available} bytes left in the file can hold")]
    CountTooLarge {
        /// Which count.
        what: String,
        /// The claimed count.
        count: u64,
        /// Bytes left in the file.
        available: u64,
    },
    /// A string is not valid UTF-8.
    #[error("{what} is not valid UTF-8")]
    BadUtf8 {
        /// Which string.
        what: String,
    },
    /// A metadata value type tag outside the specification.
    #[error("{what} has unknown value type {id}")]
    UnknownValueType {
        /// Which value.
        what: String,
        /// The tag found.
        id: u32,
    },
    /// A boolean byte other than 0 or 1.
    #[error("{what} is a bool with byte value {byte} (expected 0 or 1)")]
    BadBool {
        /// Which value.
        what: String,
        /// The byte found.
        byte: u8,
    },
    /// Arrays nested deeper than [`crate::MAX_ARRAY_DEPTH`].
    #[error("{what} nests arrays deeper than {max} levels")]
    NestingTooDeep {
        /// Which value.
        what: String,
        /// The limit.
        max: usize,
    },
    /// The same metadata key appears twice.
    #[error("duplicate metadata key `{key}`")]
    DuplicateKey {
        /// The key.
        key: String,
    },
    /// `general.alignment` is not a non-zero power of two stored as `u32`.
    #[error("general.alignment must be a u32 power of two, found {found}")]
    BadAlignment {
        /// The value (or type) found.
        found: String,
    },
    /// The same tensor name appears twice.
    #[error("duplicate tensor name `{name}`")]
    DuplicateTensor {
        /// The name.
        name: String,
    },
    /// A tensor's shape is unusable.
    #[error("tensor `{name}`: {problem}")]
    BadShape {
        /// The tensor.
        name: String,
        /// What is wrong with the shape.
        problem: String,
    },
    /// A tensor type id that no current ggml type has.
    #[error("tensor `{name}`: unknown tensor type id {id}")]
    UnknownTensorType {
        /// The tensor.
        name: String,
        /// The id found.
        id: u32,
    },
    /// A tensor's data offset is not aligned.
    #[error("tensor `{name}`: data offset {offset} is not a multiple of the alignment {alignment}")]
    MisalignedTensor {
        /// The tensor.
        name: String,
        /// Its offset inside the data section.
        offset: u64,
        /// The file's alignment.
        alignment: u64,
    },
    /// A tensor's data does not lie inside the file.
    #[error(
        "tensor `{name}`: data at bytes {start}..{end} of the file lies beyond its end ({file_len} bytes)"
    )]
    TensorOutOfBounds {
        /// The tensor.
        name: String,
        /// Absolute start offset.
        start: u64,
        /// Absolute end offset (exclusive).
        end: u64,
        /// The file's length.
        file_len: u64,
    },
    /// Two tensors claim overlapping bytes.
    #[error("tensors `{first}` and `{second}` overlap in the data section")]
    OverlappingTensors {
        /// The tensor that starts first.
        first: String,
        /// The tensor that starts inside it.
        second: String,
    },
}

/// A metadata key is missing or holds something other than what was asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// The key is absent.
    #[error("metadata key `{key}` is missing")]
    Missing {
        /// The key.
        key: String,
    },
    /// The key holds another type.
    #[error("metadata key `{key}` holds {found}, expected {expected}")]
    WrongType {
        /// The key.
        key: String,
        /// What the caller asked for.
        expected: &'static str,
        /// The type found, e.g. `"string"` or `"array of u32"`.
        found: String,
    },
    /// The value does not fit the requested type.
    #[error("metadata key `{key}` holds {value}, which does not fit in {expected}")]
    OutOfRange {
        /// The key.
        key: String,
        /// The value found.
        value: String,
        /// What the caller asked for.
        expected: &'static str,
    },
}

/// A typed view of tensor data could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TensorError {
    /// The tensor has another type than the block type asked for.
    #[error("tensor `{name}` is {found}, not {expected}")]
    WrongType {
        /// The tensor.
        name: String,
        /// The block type asked for.
        expected: GgmlType,
        /// The tensor's type.
        found: GgmlType,
    },
    /// The data is not aligned in memory for the block type.
    #[error("tensor `{name}`: data is not aligned to {align} bytes in memory for {ty} blocks")]
    Misaligned {
        /// The tensor.
        name: String,
        /// The block type.
        ty: GgmlType,
        /// Alignment the block type needs.
        align: usize,
    },
}

/// A file could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// Writing to the destination failed.
    #[error("cannot write GGUF data: {0}")]
    Io(#[from] std::io::Error),
    /// A metadata key was added twice.
    #[error("duplicate metadata key `{0}`")]
    DuplicateKey(String),
    /// A tensor name was added twice.
    #[error("duplicate tensor name `{0}`")]
    DuplicateTensor(String),
    /// A tensor description the format cannot hold.
    #[error("tensor `{name}`: {problem}")]
    BadTensor {
        /// The tensor.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// `general.alignment` is not a `u32` power of two.
    #[error("general.alignment must be a u32 power of two, got {0}")]
    BadAlignment(String),
    /// Tensor data handed over does not match the declared tensors.
    #[error("tensor data: {0}")]
    DataMismatch(String),
}
