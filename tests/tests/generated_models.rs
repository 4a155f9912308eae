//! `cargo xtask gen-model` output: valid files with the family's tensors, a full
//! vocabulary, the quantization mix llama.cpp would choose, and finite weights.

use std::path::PathBuf;

use rocmforge_gguf::{GgmlType, GgufFile};
use xtask::gen_model::{self, Arch, FileType, Shape};

fn generate(tag: &str, arch: Arch, file_type: FileType) -> (GgufFile, PathBuf) {
    let name = format!(
        "rocmforge-gen-{}-{tag}-{arch:?}-{file_type:?}.gguf",
        std::process::id()
    );
    let out = std::env::temp_dir().join(name);
    gen_model::run(&gen_model::Args {
        arch,
        shape: Shape::Tiny,
        file_type,
        out: out.clone(),
        seed: 7,
    })
    .unwrap();
    (GgufFile::open(&out).unwrap(), out)
}

#[test]
fn tiny_models_of_every_family_and_type() {
    let archs = [
        (Arch::Llama, "llama", 21),
        (Arch::Qwen2, "qwen2", 27),
        (Arch::Qwen3, "qwen3", 25),
        (Arch::Gemma3, "gemma3", 28),
    ];
    for (arch, name, n_tensors) in archs {
        for file_type in [
            FileType::F16,
            FileType::Q8_0,
            FileType::Q4_0,
            FileType::Q4KM,
        ] {
            let (file, path) = generate("mix", arch, file_type);
            let meta = file.metadata();
            assert_eq!(meta.get_str("general.architecture").unwrap(), name);
            assert_eq!(file.tensors().len(), n_tensors, "{name} {file_type:?}");
            let n_embd = meta.get_u64(&format!("{name}.embedding_length")).unwrap();
            let n_vocab = meta.get_str_array("tokenizer.ggml.tokens").unwrap().len() as u64;
            let embd = file.tensor_info("token_embd.weight").unwrap();
            assert_eq!(embd.shape(), [n_embd, n_vocab]);
            assert_eq!(meta.get_u64(&format!("{name}.block_count")).unwrap(), 2);
            for view in file.tensor_views() {
                let ty = view.ggml_type();
                let is_vector = view.info().shape().len() == 1;
                match file_type {
                    _ if is_vector => assert_eq!(ty, GgmlType::F32, "{}", view.name()),
                    FileType::F16 => assert_eq!(ty, GgmlType::F16),
                    FileType::Q8_0 => assert_eq!(ty, GgmlType::Q8_0),
                    FileType::Q4_0 => assert!(
                        matches!(ty, GgmlType::Q4_0 | GgmlType::Q6_K),
                        "{}: {ty}",
                        view.name()
                    ),
                    FileType::Q4KM => assert!(
                        matches!(ty, GgmlType::Q4_K | GgmlType::Q6_K),
                        "{}: {ty}",
                        view.name()
                    ),
                }
                let values = view.to_f32().unwrap();
                assert!(values.iter().all(|v| v.is_finite()), "{}", view.name());
                let mean_abs = values.iter().map(|v| v.abs()).sum::<f32>() / values.len() as f32;
                // Uniform noise of standard deviation 0.02 has mean |w| = 0.02·√3 / 2.
                let expected = if view.name().contains("norm") {
                    1.0
                } else {
                    0.01 * 3f32.sqrt()
                };
                assert!(
                    (mean_abs - expected).abs() < expected * 0.25,
                    "{}: mean |w| = {mean_abs}",
                    view.name()
                );
            }
            std::fs::remove_file(path).unwrap();
        }
    }
}

#[test]
fn generation_is_deterministic() {
    let (a, path_a) = generate("first", Arch::Qwen2, FileType::Q4_0);
    let bytes_a = a.bytes().to_vec();
    drop(a);
    std::fs::remove_file(path_a).unwrap();
    let (b, path_b) = generate("second", Arch::Qwen2, FileType::Q4_0);
    assert!(bytes_a == b.bytes(), "two runs with one seed differ");
    std::fs::remove_file(path_b).unwrap();
}
