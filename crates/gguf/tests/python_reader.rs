//! Files written by `GgufBuilder` are accepted by the reference Python reader
//! (`gguf.GGUFReader` from the `gguf` package), with the same metadata and tensors.
//!
//! Needs `python3` with the `gguf` package (`pip install gguf`). Without it the test
//! says so and passes, except under CI (`CI` set), where it fails.

use std::process::Command;

use rocmforge_gguf::{Array, GgmlType, GgufBuilder};

const READER: &str = r#"
import json, sys, hashlib
from gguf import GGUFReader
r = GGUFReader(sys.argv[1])
fields = {}
for name, f in r.fields.items():
    if name.startswith("GGUF."):
        continue
    fields[name] = {"types": [int(t) for t in f.types], "value": f.contents()}
tensors = [{"name": t.name, "type": int(t.tensor_type), "shape": [int(d) for d in t.shape],
            "nbytes": int(t.n_bytes), "sha256": hashlib.sha256(t.data.tobytes()).hexdigest()}
           for t in r.tensors]
print(json.dumps({"fields": fields, "tensors": tensors}))
"#;

fn python_gguf_available() -> Result<(), String> {
    match Command::new("python3").args(["-c", "import gguf"]).output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
        Err(err) => Err(format!("python3: {err}")),
    }
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn python_gguf_reader_accepts_our_files() {
    if let Err(why) = python_gguf_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must provide python3 with gguf: {why}"
        );
        eprintln!(
            "SKIPPED python_gguf_reader_accepts_our_files: python3 with the gguf package is not available ({why})"
        );
        return;
    }
    let mut b = GgufBuilder::new();
    b.add_metadata("general.architecture", "llama").unwrap();
    b.add_metadata("general.name", "ünïcödé test").unwrap();
    b.add_metadata("llama.block_count", 2u32).unwrap();
    b.add_metadata("some.i8", -3i8).unwrap();
    b.add_metadata("some.u16", 65535u16).unwrap();
    b.add_metadata("some.i64", -1234567890123i64).unwrap();
    b.add_metadata("some.u64", u64::MAX).unwrap();
    b.add_metadata("some.f32", 0.5f32).unwrap();
    b.add_metadata("some.f64", -2.25f64).unwrap();
    b.add_metadata("some.bool", true).unwrap();
    b.add_metadata("tokenizer.ggml.tokens", vec!["<s>", "a b", "日本語"])
        .unwrap();
    b.add_metadata("tokenizer.ggml.scores", vec![0.0f32, -1.0, -2.5])
        .unwrap();
    b.add_metadata(
        "some.nested",
        vec![Array::U32(vec![1, 2, 3]), Array::String(vec!["x".into()])],
    )
    .unwrap();
    let types = [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::BF16,
        GgmlType::I32,
        GgmlType::Q4_0,
        GgmlType::Q8_0,
        GgmlType::Q4_K,
        GgmlType::Q6_K,
        GgmlType::MXFP4,
    ];
    let mut data = Vec::new();
    for (i, ty) in types.iter().enumerate() {
        let shape = [ty.block_size() as u64 * 2, 3];
        b.add_tensor(format!("blk.{i}.weight"), &shape, *ty)
            .unwrap();
        let size = ty.bytes_for(shape.iter().product()).unwrap() as usize;
        data.push((0..size).map(|j| (j * 7 + i) as u8).collect::<Vec<u8>>());
    }
    let slices: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
    let path = std::env::temp_dir().join(format!("rocmforge-python-{}.gguf", std::process::id()));
    std::fs::write(&path, b.to_bytes(&slices).unwrap()).unwrap();

    let out = Command::new("python3")
        .args(["-c", READER])
        .arg(&path)
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(
        out.status.success(),
        "gguf.GGUFReader failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    let fields = &json["fields"];
    assert_eq!(fields.as_object().unwrap().len(), 13);
    assert_eq!(fields["general.name"]["value"], "ünïcödé test");
    assert_eq!(fields["llama.block_count"]["types"], serde_json::json!([4]));
    assert_eq!(fields["some.i8"]["value"], -3);
    assert_eq!(fields["some.u16"]["value"], 65535);
    assert_eq!(fields["some.i64"]["value"], -1234567890123i64);
    assert_eq!(fields["some.u64"]["value"], u64::MAX);
    assert_eq!(fields["some.f32"]["value"], 0.5);
    assert_eq!(fields["some.f64"]["value"], -2.25);
    assert_eq!(fields["some.bool"]["value"], true);
    assert_eq!(
        fields["tokenizer.ggml.tokens"]["value"],
        serde_json::json!(["<s>", "a b", "日本語"])
    );
    assert_eq!(
        fields["tokenizer.ggml.tokens"]["types"],
        serde_json::json!([9, 8])
    );
    assert_eq!(
        fields["tokenizer.ggml.scores"]["value"],
        serde_json::json!([0.0, -1.0, -2.5])
    );
    // gguf-py lists the outer array, the inner array, then the first inner element type.
    assert_eq!(fields["some.nested"]["types"][0], 9);
    assert_eq!(fields["some.nested"]["types"][1], 9);

    let tensors = json["tensors"].as_array().unwrap();
    assert_eq!(tensors.len(), types.len());
    for (i, (t, ty)) in tensors.iter().zip(types).enumerate() {
        assert_eq!(t["name"], format!("blk.{i}.weight"));
        assert_eq!(t["type"], ty.id());
        assert_eq!(t["shape"], serde_json::json!([ty.block_size() * 2, 3]));
        assert_eq!(t["nbytes"], data[i].len());
        assert_eq!(t["sha256"], sha256_hex(&data[i]), "{ty}");
    }
}
