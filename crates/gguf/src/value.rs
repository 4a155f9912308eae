//! Metadata values: the owned [`Value`] used for writing, and the borrowed
//! [`ValueRef`] handed out by a parsed file.

use std::fmt;

/// The type tag of a metadata value (`gguf_type` in the GGUF specification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValueType {
    /// `u8`
    U8,
    /// `i8`
    I8,
    /// `u16`
    U16,
    /// `i16`
    I16,
    /// `u32`
    U32,
    /// `i32`
    I32,
    /// `f32`
    F32,
    /// A byte that must be 0 or 1.
    Bool,
    /// A UTF-8 string with a `u64` length prefix.
    String,
    /// An element type, a `u64` count, then the elements.
    Array,
    /// `u64`
    U64,
    /// `i64`
    I64,
    /// `f64`
    F64,
}

impl ValueType {
    /// Decodes the `u32` type tag.
    pub fn from_id(id: u32) -> Option<Self> {
        use ValueType::*;
        Some(match id {
            0 => U8,
            1 => I8,
            2 => U16,
            3 => I16,
            4 => U32,
            5 => I32,
            6 => F32,
            7 => Bool,
            8 => String,
            9 => Array,
            10 => U64,
            11 => I64,
            12 => F64,
            _ => return None,
        })
    }

    /// The `u32` type tag written to files.
    pub fn id(self) -> u32 {
        use ValueType::*;
        match self {
            U8 => 0,
            I8 => 1,
            U16 => 2,
            I16 => 3,
            U32 => 4,
            I32 => 5,
            F32 => 6,
            Bool => 7,
            String => 8,
            Array => 9,
            U64 => 10,
            I64 => 11,
            F64 => 12,
        }
    }

    /// Lower-case name, as used in error messages (`"u32"`, `"string"`).
    pub fn name(self) -> &'static str {
        use ValueType::*;
        match self {
            U8 => "u8",
            I8 => "i8",
            U16 => "u16",
            I16 => "i16",
            U32 => "u32",
            I32 => "i32",
            F32 => "f32",
            Bool => "bool",
            String => "string",
            Array => "array",
            U64 => "u64",
            I64 => "i64",
            F64 => "f64",
        }
    }

    /// Encoded size of a scalar of this type; `None` for strings and arrays.
    pub fn scalar_size(self) -> Option<usize> {
        use ValueType::*;
        match self {
            U8 | I8 | Bool => Some(1),
            U16 | I16 => Some(2),
            U32 | I32 | F32 => Some(4),
            U64 | I64 | F64 => Some(8),
            String | Array => None,
        }
    }

    /// The fewest bytes one value of this type can take in a file.
    pub(crate) fn min_encoded_size(self) -> usize {
        match self {
            ValueType::String => 8,
            ValueType::Array => 12,
            scalar => scalar.scalar_size().unwrap_or(1),
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An owned metadata value, for building files and for comparing.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // one variant per ValueType
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(Array),
    U64(u64),
    I64(i64),
    F64(f64),
}

/// An owned, homogeneous metadata array. Nested arrays may differ in element type
/// from each other, as in the format.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // one variant per ValueType
pub enum Array {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    F32(Vec<f32>),
    Bool(Vec<bool>),
    String(Vec<String>),
    Array(Vec<Array>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F64(Vec<f64>),
}

impl Value {
    /// The value's type tag.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::U8(_) => ValueType::U8,
            Value::I8(_) => ValueType::I8,
            Value::U16(_) => ValueType::U16,
            Value::I16(_) => ValueType::I16,
            Value::U32(_) => ValueType::U32,
            Value::I32(_) => ValueType::I32,
            Value::F32(_) => ValueType::F32,
            Value::Bool(_) => ValueType::Bool,
            Value::String(_) => ValueType::String,
            Value::Array(_) => ValueType::Array,
            Value::U64(_) => ValueType::U64,
            Value::I64(_) => ValueType::I64,
            Value::F64(_) => ValueType::F64,
        }
    }
}

impl Array {
    /// The type of every element.
    pub fn element_type(&self) -> ValueType {
        match self {
            Array::U8(_) => ValueType::U8,
            Array::I8(_) => ValueType::I8,
            Array::U16(_) => ValueType::U16,
            Array::I16(_) => ValueType::I16,
            Array::U32(_) => ValueType::U32,
            Array::I32(_) => ValueType::I32,
            Array::F32(_) => ValueType::F32,
            Array::Bool(_) => ValueType::Bool,
            Array::String(_) => ValueType::String,
            Array::Array(_) => ValueType::Array,
            Array::U64(_) => ValueType::U64,
            Array::I64(_) => ValueType::I64,
            Array::F64(_) => ValueType::F64,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Array::U8(v) => v.len(),
            Array::I8(v) => v.len(),
            Array::U16(v) => v.len(),
            Array::I16(v) => v.len(),
            Array::U32(v) => v.len(),
            Array::I32(v) => v.len(),
            Array::F32(v) => v.len(),
            Array::Bool(v) => v.len(),
            Array::String(v) => v.len(),
            Array::Array(v) => v.len(),
            Array::U64(v) => v.len(),
            Array::I64(v) => v.len(),
            Array::F64(v) => v.len(),
        }
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

macro_rules! value_from {
    ($($t:ty => $variant:ident),+ $(,)?) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self { Value::$variant(v) }
        }
        impl From<Vec<$t>> for Array {
            fn from(v: Vec<$t>) -> Self { Array::$variant(v) }
        }
        impl From<Vec<$t>> for Value {
            fn from(v: Vec<$t>) -> Self { Value::Array(Array::$variant(v)) }
        }
    )+};
}

value_from! {
    u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32, f32 => F32,
    bool => Bool, String => String, u64 => U64, i64 => I64, f64 => F64,
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_owned())
    }
}

impl From<Vec<&str>> for Value {
    fn from(v: Vec<&str>) -> Self {
        Value::Array(Array::String(v.into_iter().map(str::to_owned).collect()))
    }
}

impl From<Array> for Value {
    fn from(v: Array) -> Self {
        Value::Array(v)
    }
}

impl From<Vec<Array>> for Value {
    fn from(v: Vec<Array>) -> Self {
        Value::Array(Array::Array(v))
    }
}

/// A metadata value borrowed from a parsed file. Strings and arrays are views into
/// the file's bytes; nothing is copied until asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
#[allow(missing_docs)] // one variant per ValueType
pub enum ValueRef<'a> {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(&'a str),
    Array(ArrayRef<'a>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl<'a> ValueRef<'a> {
    /// The value's type tag.
    pub fn value_type(&self) -> ValueType {
        match self {
            ValueRef::U8(_) => ValueType::U8,
            ValueRef::I8(_) => ValueType::I8,
            ValueRef::U16(_) => ValueType::U16,
            ValueRef::I16(_) => ValueType::I16,
            ValueRef::U32(_) => ValueType::U32,
            ValueRef::I32(_) => ValueType::I32,
            ValueRef::F32(_) => ValueType::F32,
            ValueRef::Bool(_) => ValueType::Bool,
            ValueRef::String(_) => ValueType::String,
            ValueRef::Array(_) => ValueType::Array,
            ValueRef::U64(_) => ValueType::U64,
            ValueRef::I64(_) => ValueType::I64,
            ValueRef::F64(_) => ValueType::F64,
        }
    }

    /// A description of the type for messages: `"u32"`, `"array of string"`.
    pub fn type_description(&self) -> String {
        match self {
            ValueRef::Array(array) => format!("array of {}", array.element_type()),
            other => other.value_type().name().to_owned(),
        }
    }

    /// The value as a signed 128-bit integer, for any integer type.
    pub fn as_integer(&self) -> Option<i128> {
        Some(match *self {
            ValueRef::U8(v) => v.into(),
            ValueRef::I8(v) => v.into(),
            ValueRef::U16(v) => v.into(),
            ValueRef::I16(v) => v.into(),
            ValueRef::U32(v) => v.into(),
            ValueRef::I32(v) => v.into(),
            ValueRef::U64(v) => v.into(),
            ValueRef::I64(v) => v.into(),
            _ => return None,
        })
    }

    /// Copies the value out of the file.
    pub fn to_owned_value(&self) -> Value {
        match *self {
            ValueRef::U8(v) => Value::U8(v),
            ValueRef::I8(v) => Value::I8(v),
            ValueRef::U16(v) => Value::U16(v),
            ValueRef::I16(v) => Value::I16(v),
            ValueRef::U32(v) => Value::U32(v),
            ValueRef::I32(v) => Value::I32(v),
            ValueRef::F32(v) => Value::F32(v),
            ValueRef::Bool(v) => Value::Bool(v),
            ValueRef::String(v) => Value::String(v.to_owned()),
            ValueRef::Array(v) => Value::Array(v.to_owned_array()),
            ValueRef::U64(v) => Value::U64(v),
            ValueRef::I64(v) => Value::I64(v),
            ValueRef::F64(v) => Value::F64(v),
        }
    }
}

/// A metadata array inside a parsed file.
///
/// The parser has already walked and validated every element (lengths, UTF-8,
/// booleans, nesting), so iteration cannot fail.
#[derive(Clone, Copy, PartialEq)]
pub struct ArrayRef<'a> {
    element_type: ValueType,
    len: usize,
    /// Exactly the encoded elements, nothing before or after.
    bytes: &'a [u8],
}

impl fmt::Debug for ArrayRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArrayRef")
            .field("element_type", &self.element_type)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl<'a> ArrayRef<'a> {
    /// Wraps already-validated element bytes.
    pub(crate) fn new(element_type: ValueType, len: usize, bytes: &'a [u8]) -> Self {
        ArrayRef {
            element_type,
            len,
            bytes,
        }
    }

    /// The type of every element.
    pub fn element_type(&self) -> ValueType {
        self.element_type
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Iterates over the elements.
    pub fn iter(&self) -> ArrayIter<'a> {
        ArrayIter {
            element_type: self.element_type,
            remaining: self.len,
            bytes: self.bytes,
        }
    }

    /// The elements as strings, if this is an array of strings.
    pub fn strings(&self) -> Option<impl ExactSizeIterator<Item = &'a str> + 'a> {
        (self.element_type == ValueType::String).then(|| {
            self.iter().map(|value| match value {
                ValueRef::String(s) => s,
                _ => "",
            })
        })
    }

    /// The elements converted to `T`, if they have exactly `T`'s type.
    pub fn values<T: ArrayElement>(&self) -> Option<impl ExactSizeIterator<Item = T> + 'a> {
        (self.element_type == T::TYPE).then(|| {
            self.bytes
                .chunks_exact(T::SIZE)
                .take(self.len)
                .map(T::decode)
        })
    }

    /// Copies the elements into a vector of `T`, if they have exactly `T`'s type.
    pub fn to_vec<T: ArrayElement>(&self) -> Option<Vec<T>> {
        Some(self.values::<T>()?.collect())
    }

    /// Copies the whole array out of the file.
    pub fn to_owned_array(&self) -> Array {
        fn collect<'b, T: ArrayElement>(array: &ArrayRef<'b>) -> Vec<T> {
            array.to_vec().unwrap_or_default()
        }
        match self.element_type {
            ValueType::U8 => Array::U8(collect(self)),
            ValueType::I8 => Array::I8(collect(self)),
            ValueType::U16 => Array::U16(collect(self)),
            ValueType::I16 => Array::I16(collect(self)),
            ValueType::U32 => Array::U32(collect(self)),
            ValueType::I32 => Array::I32(collect(self)),
            ValueType::F32 => Array::F32(collect(self)),
            ValueType::Bool => Array::Bool(collect(self)),
            ValueType::U64 => Array::U64(collect(self)),
            ValueType::I64 => Array::I64(collect(self)),
            ValueType::F64 => Array::F64(collect(self)),
            ValueType::String => Array::String(
                self.strings()
                    .into_iter()
                    .flatten()
                    .map(str::to_owned)
                    .collect(),
            ),
            ValueType::Array => Array::Array(
                self.iter()
                    .filter_map(|value| match value {
                        ValueRef::Array(inner) => Some(inner.to_owned_array()),
                        _ => None,
                    })
                    .collect(),
            ),
        }
    }
}

impl<'a> IntoIterator for ArrayRef<'a> {
    type Item = ValueRef<'a>;
    type IntoIter = ArrayIter<'a>;
    fn into_iter(self) -> ArrayIter<'a> {
        self.iter()
    }
}

/// Iterator over the elements of an [`ArrayRef`].
#[derive(Debug, Clone)]
pub struct ArrayIter<'a> {
    element_type: ValueType,
    remaining: usize,
    bytes: &'a [u8],
}

impl<'a> Iterator for ArrayIter<'a> {
    type Item = ValueRef<'a>;

    fn next(&mut self) -> Option<ValueRef<'a>> {
        if self.remaining == 0 {
            return None;
        }
        // The bytes were validated when the file was parsed; decoding here cannot
        // fail, and if it somehow did the iterator simply ends.
        let (value, used) = decode_validated(self.element_type, self.bytes)?;
        self.bytes = &self.bytes[used..];
        self.remaining -= 1;
        Some(value)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for ArrayIter<'_> {}

/// Decodes one value of `ty` from the start of `bytes`, which the parser validated.
/// Returns the value and the bytes it took.
fn decode_validated(ty: ValueType, bytes: &[u8]) -> Option<(ValueRef<'_>, usize)> {
    fn fixed<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
        bytes.get(..N)?.try_into().ok()
    }
    fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
        Some(u64::from_le_bytes(fixed(bytes.get(at..)?)?))
    }
    Some(match ty {
        ValueType::U8 => (ValueRef::U8(*bytes.first()?), 1),
        ValueType::I8 => (ValueRef::I8(i8::from_le_bytes(fixed(bytes)?)), 1),
        ValueType::U16 => (ValueRef::U16(u16::from_le_bytes(fixed(bytes)?)), 2),
        ValueType::I16 => (ValueRef::I16(i16::from_le_bytes(fixed(bytes)?)), 2),
        ValueType::U32 => (ValueRef::U32(u32::from_le_bytes(fixed(bytes)?)), 4),
        ValueType::I32 => (ValueRef::I32(i32::from_le_bytes(fixed(bytes)?)), 4),
        ValueType::F32 => (ValueRef::F32(f32::from_le_bytes(fixed(bytes)?)), 4),
        ValueType::Bool => (ValueRef::Bool(*bytes.first()? != 0), 1),
        ValueType::U64 => (ValueRef::U64(u64::from_le_bytes(fixed(bytes)?)), 8),
        ValueType::I64 => (ValueRef::I64(i64::from_le_bytes(fixed(bytes)?)), 8),
        ValueType::F64 => (ValueRef::F64(f64::from_le_bytes(fixed(bytes)?)), 8),
        ValueType::String => {
            let len = usize::try_from(u64_at(bytes, 0)?).ok()?;
            let end = 8usize.checked_add(len)?;
            let text = std::str::from_utf8(bytes.get(8..end)?).ok()?;
            (ValueRef::String(text), end)
        }
        ValueType::Array => {
            let inner = ValueType::from_id(u32::from_le_bytes(fixed(bytes)?))?;
            let len = usize::try_from(u64_at(bytes, 4)?).ok()?;
            let body = bytes.get(12..)?;
            let size = encoded_array_size(inner, len, body)?;
            (
                ValueRef::Array(ArrayRef::new(inner, len, &body[..size])),
                12 + size,
            )
        }
    })
}

/// Decodes a whole validated value of type `ty`; the parser guarantees `bytes` holds
/// exactly one. Should that ever not hold, the result is an empty value, never a panic.
pub(crate) fn decode_one(ty: ValueType, bytes: &[u8]) -> ValueRef<'_> {
    decode_validated(ty, bytes).map_or(
        ValueRef::Array(ArrayRef::new(ValueType::U8, 0, &[])),
        |(v, _)| v,
    )
}

/// Bytes taken by `len` validated elements of `ty` at the start of `bytes`.
fn encoded_array_size(ty: ValueType, len: usize, bytes: &[u8]) -> Option<usize> {
    if let Some(size) = ty.scalar_size() {
        return len.checked_mul(size);
    }
    let mut used = 0;
    for _ in 0..len {
        let (_, n) = decode_validated(ty, bytes.get(used..)?)?;
        used += n;
    }
    Some(used)
}

/// A scalar type that metadata arrays can hold, for [`ArrayRef::values`].
pub trait ArrayElement: Copy + 'static {
    /// The GGUF element type.
    const TYPE: ValueType;
    /// Encoded size in bytes.
    const SIZE: usize;
    /// Decodes one little-endian element of exactly `SIZE` bytes.
    fn decode(bytes: &[u8]) -> Self;
}

macro_rules! array_element {
    ($($t:ty => $variant:ident),+ $(,)?) => {$(
        impl ArrayElement for $t {
            const TYPE: ValueType = ValueType::$variant;
            const SIZE: usize = size_of::<$t>();
            fn decode(bytes: &[u8]) -> Self {
                let mut raw = [0u8; size_of::<$t>()];
                raw.copy_from_slice(&bytes[..size_of::<$t>()]);
                <$t>::from_le_bytes(raw)
            }
        }
    )+};
}

array_element! {
    u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32, f32 => F32,
    u64 => U64, i64 => I64, f64 => F64,
}

impl ArrayElement for bool {
    const TYPE: ValueType = ValueType::Bool;
    const SIZE: usize = 1;
    fn decode(bytes: &[u8]) -> Self {
        bytes[0] != 0
    }
}
