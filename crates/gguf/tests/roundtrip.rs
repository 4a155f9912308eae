//! `read(write(x)) == x` over random metadata and tensors.

use proptest::collection::vec;
use proptest::prelude::*;
use rocmforge_gguf::{Array, GgmlType, GgufBuilder, GgufFile, Value};

fn array(depth: u32) -> BoxedStrategy<Array> {
    let leaf = prop_oneof![
        vec(any::<u8>(), 0..8).prop_map(Array::U8),
        vec(any::<i8>(), 0..8).prop_map(Array::I8),
        vec(any::<u16>(), 0..8).prop_map(Array::U16),
        vec(any::<i16>(), 0..8).prop_map(Array::I16),
        vec(any::<u32>(), 0..8).prop_map(Array::U32),
        vec(any::<i32>(), 0..8).prop_map(Array::I32),
        vec(any::<u32>().prop_map(f32::from_bits), 0..8).prop_map(Array::F32),
        vec(any::<bool>(), 0..8).prop_map(Array::Bool),
        vec(any::<String>(), 0..8).prop_map(Array::String),
        vec(any::<u64>(), 0..8).prop_map(Array::U64),
        vec(any::<i64>(), 0..8).prop_map(Array::I64),
        vec(any::<u64>().prop_map(f64::from_bits), 0..8).prop_map(Array::F64),
    ];
    if depth == 0 {
        leaf.boxed()
    } else {
        prop_oneof![3 => leaf, 1 => vec(array(depth - 1), 0..4).prop_map(Array::Array)].boxed()
    }
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u8>().prop_map(Value::U8),
        any::<i8>().prop_map(Value::I8),
        any::<u16>().prop_map(Value::U16),
        any::<i16>().prop_map(Value::I16),
        any::<u32>().prop_map(Value::U32),
        any::<i32>().prop_map(Value::I32),
        any::<u32>().prop_map(|b| Value::F32(f32::from_bits(b))),
        any::<bool>().prop_map(Value::Bool),
        any::<String>().prop_map(Value::String),
        any::<u64>().prop_map(Value::U64),
        any::<i64>().prop_map(Value::I64),
        any::<u64>().prop_map(|b| Value::F64(f64::from_bits(b))),
        array(2).prop_map(Value::Array),
    ]
}

/// Floats compared by bit pattern, so NaN payloads must survive too.
fn canonical(value: &Value) -> String {
    fn array(a: &Array) -> String {
        match a {
            Array::F32(v) => format!("f32{:?}", v.iter().map(|x| x.to_bits()).collect::<Vec<_>>()),
            Array::F64(v) => format!("f64{:?}", v.iter().map(|x| x.to_bits()).collect::<Vec<_>>()),
            Array::Array(v) => {
                format!("arr[{}]", v.iter().map(array).collect::<Vec<_>>().join(","))
            }
            other => format!("{other:?}"),
        }
    }
    match value {
        Value::F32(x) => format!("f32 {}", x.to_bits()),
        Value::F64(x) => format!("f64 {}", x.to_bits()),
        Value::Array(a) => array(a),
        other => format!("{other:?}"),
    }
}

#[derive(Debug, Clone)]
struct TensorCase {
    shape: Vec<u64>,
    ty: GgmlType,
    data: Vec<u8>,
}

fn tensor() -> impl Strategy<Value = TensorCase> {
    (0..GgmlType::ALL.len(), 1u64..4, vec(1u64..4, 0..3)).prop_flat_map(|(t, blocks, rest)| {
        let ty = GgmlType::ALL[t];
        let mut shape = vec![blocks * ty.block_size() as u64];
        shape.extend(rest);
        let size = ty.bytes_for(shape.iter().product()).unwrap() as usize;
        vec(any::<u8>(), size).prop_map(move |data| TensorCase {
            shape: shape.clone(),
            ty,
            data,
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn read_of_write_is_identity(
        metadata in vec(("[a-z]{1,6}(\\.[a-z_]{1,8}){0,2}", value()), 0..12),
        tensors in vec(tensor(), 0..6),
        alignment_log2 in proptest::option::of(0u32..8),
    ) {
        let mut builder = GgufBuilder::new();
        let mut expected = Vec::new();
        if let Some(log2) = alignment_log2 {
            builder.add_metadata("general.alignment", 1u32 << log2).unwrap();
            expected.push(("general.alignment".to_owned(), Value::U32(1 << log2)));
        }
        for (key, value) in metadata {
            if expected.iter().any(|(k, _)| *k == key) {
                continue;
            }
            builder.add_metadata(key.clone(), value.clone()).unwrap();
            expected.push((key, value));
        }
        for (i, t) in tensors.iter().enumerate() {
            builder.add_tensor(format!("blk.{i}.weight"), &t.shape, t.ty).unwrap();
        }
        let data: Vec<&[u8]> = tensors.iter().map(|t| t.data.as_slice()).collect();
        let bytes = builder.to_bytes(&data).unwrap();

        let file = GgufFile::from_bytes(&bytes).unwrap();
        let got: Vec<(String, String)> = file
            .metadata()
            .iter()
            .map(|(k, v)| (k.to_owned(), canonical(&v.to_owned_value())))
            .collect();
        let want: Vec<(String, String)> = expected.iter().map(|(k, v)| (k.clone(), canonical(v))).collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(file.tensors().len(), tensors.len());
        for (i, (view, t)) in file.tensor_views().zip(&tensors).enumerate() {
            prop_assert_eq!(view.name(), format!("blk.{i}.weight"));
            prop_assert_eq!(view.info().shape(), t.shape.as_slice());
            prop_assert_eq!(view.ggml_type(), t.ty);
            prop_assert_eq!(view.data(), t.data.as_slice());
            prop_assert_eq!(view.info().file_offset() % file.alignment(), 0);
        }
    }
}
