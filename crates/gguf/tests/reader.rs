//! Reading files made by the writer: metadata accessors and tensor views.

use rocmforge_gguf::blocks::{BlockQ4_0, BlockQ8_0};
use rocmforge_gguf::{
    Array, GgmlType, GgufBuilder, GgufFile, MetadataError, TensorError, Value, ValueRef, ValueType,
};

fn sample() -> GgufFile {
    let mut b = GgufBuilder::new();
    b.add_metadata("general.architecture", "llama").unwrap();
    b.add_metadata("llama.block_count", 18u32).unwrap();
    b.add_metadata("llama.context_length", 32768u64).unwrap();
    b.add_metadata("llama.rope.freq_base", 10000.0f32).unwrap();
    b.add_metadata("llama.negative", -5i32).unwrap();
    b.add_metadata("tokenizer.ggml.add_bos_token", true)
        .unwrap();
    b.add_metadata("tokenizer.ggml.tokens", vec!["<s>", "▁hello", "日本"])
        .unwrap();
    b.add_metadata("tokenizer.ggml.scores", vec![0.0f32, -1.5, -2.25])
        .unwrap();
    b.add_metadata(
        "nested",
        vec![Array::U8(vec![1, 2]), Array::String(vec!["x".into()])],
    )
    .unwrap();
    b.add_tensor("q8", &[64, 2], GgmlType::Q8_0).unwrap();
    b.add_tensor("f32", &[3], GgmlType::F32).unwrap();
    let q8 = vec![0u8; 4 * 34];
    let f32s: Vec<u8> = [1.0f32, -2.0, 3.5]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    GgufFile::from_bytes(&b.to_bytes(&[&q8, &f32s]).unwrap()).unwrap()
}

#[test]
fn typed_accessors() {
    let file = sample();
    let meta = file.metadata();
    assert_eq!(file.version(), 3);
    assert_eq!(meta.len(), 9);
    assert_eq!(meta.get_str("general.architecture").unwrap(), "llama");
    assert_eq!(meta.get_u32("llama.block_count").unwrap(), 18);
    // Lossless integer conversions are allowed.
    assert_eq!(meta.get_u32("llama.context_length").unwrap(), 32768);
    assert_eq!(meta.get_u64("llama.block_count").unwrap(), 18);
    assert_eq!(meta.get_i32("llama.negative").unwrap(), -5);
    assert_eq!(meta.get_f32("llama.rope.freq_base").unwrap(), 10000.0);
    assert_eq!(meta.get_f64("llama.rope.freq_base").unwrap(), 10000.0);
    assert!(meta.get_bool("tokenizer.ggml.add_bos_token").unwrap());
    assert_eq!(
        meta.get_str_array("tokenizer.ggml.tokens").unwrap(),
        ["<s>", "▁hello", "日本"]
    );
    assert_eq!(
        meta.get_vec::<f32>("tokenizer.ggml.scores").unwrap(),
        [0.0, -1.5, -2.25]
    );
    assert_eq!(meta.get_opt::<u32>("absent.key").unwrap(), None);
    let nested = meta.get_array("nested").unwrap();
    assert_eq!(nested.element_type(), ValueType::Array);
    let inner: Vec<ValueRef<'_>> = nested.iter().collect();
    assert_eq!(inner.len(), 2);
    assert_eq!(
        meta.get("nested").unwrap().to_owned_value(),
        Value::Array(Array::Array(vec![
            Array::U8(vec![1, 2]),
            Array::String(vec!["x".into()])
        ]))
    );
}

#[test]
fn accessor_errors_name_the_key_and_the_type_found() {
    let file = sample();
    let meta = file.metadata();
    let err = meta.get_u32("general.architecture").unwrap_err();
    assert_eq!(
        err.to_string(),
        "metadata key `general.architecture` holds string, expected u32"
    );
    let err = meta.get_u32("llama.negative").unwrap_err();
    assert!(matches!(err, MetadataError::OutOfRange { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "metadata key `llama.negative` holds -5, which does not fit in u32"
    );
    let err = meta.get_str("tokenizer.ggml.scores").unwrap_err();
    assert_eq!(
        err.to_string(),
        "metadata key `tokenizer.ggml.scores` holds array of f32, expected string"
    );
    let err = meta.get_u32("llama.embedding_length").unwrap_err();
    assert_eq!(
        err.to_string(),
        "metadata key `llama.embedding_length` is missing"
    );
    assert!(meta.get_vec::<u32>("tokenizer.ggml.scores").is_err());
    assert!(meta.get_str_array("tokenizer.ggml.scores").is_err());
}

#[test]
fn tensor_views_are_zero_copy_and_typed() {
    let file = sample();
    assert_eq!(file.tensors().len(), 2);
    let q8 = file.tensor("q8").unwrap();
    assert_eq!(q8.info().shape(), [64, 2]);
    assert_eq!(q8.info().n_rows(), 2);
    assert_eq!(q8.data().len(), 4 * 34);
    // The view points into the file's own bytes.
    let base = file.bytes().as_ptr() as usize;
    assert_eq!(
        q8.data().as_ptr() as usize - base,
        q8.info().file_offset() as usize
    );
    assert_eq!(q8.info().file_offset() % 32, 0);
    let blocks: &[BlockQ8_0] = q8.blocks().unwrap();
    assert_eq!(blocks.len(), 4);
    assert!(matches!(
        q8.blocks::<BlockQ4_0>(),
        Err(TensorError::WrongType { .. })
    ));
    let f32s = file.tensor("f32").unwrap();
    assert_eq!(f32s.to_f32().unwrap(), [1.0, -2.0, 3.5]);
    assert!(file.tensor("missing").is_none());
}

#[test]
fn reading_from_disk_by_mapping_and_by_reading() {
    let dir = std::env::temp_dir().join(format!("rocmforge-gguf-reader-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sample.gguf");
    std::fs::write(&path, sample().bytes()).unwrap();
    for file in [
        GgufFile::open(&path).unwrap(),
        GgufFile::read(&path).unwrap(),
    ] {
        assert_eq!(file.metadata().get_u32("llama.block_count").unwrap(), 18);
        assert_eq!(
            file.tensor("f32").unwrap().to_f32().unwrap(),
            [1.0, -2.0, 3.5]
        );
    }
    let missing = GgufFile::open(dir.join("nope.gguf")).unwrap_err();
    assert!(missing.to_string().starts_with("cannot read "), "{missing}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn custom_alignment_is_honoured() {
    let mut b = GgufBuilder::new();
    b.add_metadata("general.alignment", 64u32).unwrap();
    b.add_tensor("a", &[3], GgmlType::F32).unwrap();
    b.add_tensor("b", &[5], GgmlType::F32).unwrap();
    let bytes = b.to_bytes(&[&[0; 12], &[0; 20]]).unwrap();
    let file = GgufFile::from_bytes(&bytes).unwrap();
    assert_eq!(file.alignment(), 64);
    assert_eq!(file.data_offset() % 64, 0);
    assert_eq!(file.tensor_info("b").unwrap().offset(), 64);
}

#[test]
fn writer_rejects_what_the_format_cannot_hold() {
    let mut b = GgufBuilder::new();
    b.add_metadata("k", 1u8).unwrap();
    assert!(b.add_metadata("k", 2u8).is_err());
    assert!(b.add_metadata("general.alignment", 48u32).is_err());
    assert!(b.add_tensor("t", &[30], GgmlType::Q4_0).is_err());
    assert!(b.add_tensor("t", &[1, 1, 1, 1, 1], GgmlType::F32).is_err());
    assert!(b.add_tensor("t", &[4, 0], GgmlType::F32).is_err());
    b.add_tensor("t", &[4], GgmlType::F32).unwrap();
    assert!(b.add_tensor("t", &[4], GgmlType::F32).is_err());
    assert!(b.to_bytes(&[&[0; 15]]).is_err());
    assert!(b.to_bytes(&[]).is_err());
}
