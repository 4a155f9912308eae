//! Weights uploaded to a GPU arrive byte for byte, in few device allocations.
//! Without a usable GPU the test says so and passes (CI has none).

use rocmforge_engine::gpu::{LoadOptions, upload_weights, upload_weights_plain};
use rocmforge_gguf::GgufFile;
use rocmforge_hip::{Device, Stream};
use xtask::gen_model::{self, Arch, FileType, Shape};

#[test]
fn uploaded_weights_match_the_file() {
    let device = match Device::first_usable() {
        Ok(device) => device,
        Err(error) => {
            eprintln!("uploaded_weights_match_the_file: skipped: no usable GPU ({error})");
            return;
        }
    };
    let path =
        std::env::temp_dir().join(format!("rocmforge-gpu-upload-{}.gguf", std::process::id()));
    gen_model::run(&gen_model::Args {
        arch: Arch::Qwen2,
        shape: Shape::Tiny,
        file_type: FileType::Q4KM,
        out: path.clone(),
        seed: 3,
    })
    .unwrap();
    let file = GgufFile::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();

    // Small staging buffers and chunks so that tensors span pieces and chunks.
    let options = LoadOptions {
        streams: 3,
        staging_bytes: 4096,
        chunk_bytes: 1 << 20,
    };
    let mut calls = 0;
    let (weights, stats) = upload_weights(&device, &file, &options, |done, total| {
        calls += 1;
        assert!(done <= total);
    })
    .unwrap();
    eprintln!("{stats:?}");
    assert_eq!(stats.tensors, file.tensors().len());
    assert_eq!(calls, file.tensors().len());
    assert!(
        stats.device_allocations < file.tensors().len() / 4,
        "{stats:?}"
    );
    let (plain, plain_stats) = upload_weights_plain(&device, &file).unwrap();
    assert_eq!(plain_stats.bytes, stats.bytes);

    let stream = Stream::new(&device).unwrap();
    for tensor in file.tensor_views() {
        for uploaded in [&weights, &plain] {
            let on_device = uploaded.get(tensor.name()).expect("every tensor uploaded");
            assert_eq!(on_device.ty, tensor.ggml_type());
            let mut back = vec![0u8; tensor.data().len()];
            stream
                .download(&on_device.data.as_view(), &mut back)
                .unwrap();
            assert!(back == tensor.data(), "{} differs", tensor.name());
        }
    }
    drop((weights, plain));
    assert!(device.take_deferred_error().is_none());
}
