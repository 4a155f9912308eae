//! Loading a model's weights onto the GPU: the pipelined upload (pinned staging
//! buffers on several streams, host copies on all cores) against a plain
//! synchronous upload on one stream. The file should be in the page cache (run
//! once before measuring).
//!
//! `ROCMFORGE_BENCH_MODEL=FILE cargo bench -p rocmforge-engine --bench gpu_load`;
//! without the variable or a usable GPU it says so and measures nothing.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rocmforge_engine::gpu::{LoadOptions, upload_weights, upload_weights_plain};
use rocmforge_gguf::GgufFile;
use rocmforge_hip::Device;

fn benches(c: &mut Criterion) {
    let Some(path) = std::env::var_os("ROCMFORGE_BENCH_MODEL") else {
        eprintln!("skipped: set ROCMFORGE_BENCH_MODEL to a GGUF file");
        return;
    };
    let device = match Device::first_usable() {
        Ok(device) => device,
        Err(error) => {
            eprintln!("skipped: no usable GPU ({error})");
            return;
        }
    };
    let file = GgufFile::open(&path).unwrap();
    let bytes: u64 = file.tensor_views().map(|t| t.data().len() as u64).sum();
    // Once, to warm the page cache and report the phases.
    let (weights, stats) =
        upload_weights(&device, &file, &LoadOptions::default(), |_, _| {}).unwrap();
    eprintln!(
        "{stats:?}\npipelined upload: {:.1} GB/s",
        stats.upload_gb_per_s()
    );
    drop(weights);

    let mut group = c.benchmark_group(format!("load {} MiB of weights", bytes >> 20));
    group
        .throughput(Throughput::Bytes(bytes))
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    for (streams, staging_mib) in [(4, 64), (2, 64), (8, 32), (4, 16), (2, 256)] {
        let options = LoadOptions {
            streams,
            staging_bytes: staging_mib << 20,
            ..LoadOptions::default()
        };
        let (_, stats) = upload_weights(&device, &file, &options, |_, _| {}).unwrap();
        eprintln!(
            "{streams} x {staging_mib} MiB: allocate {:.1} ms, upload {:.1} ms = {:.1} GB/s",
            stats.allocate.as_secs_f64() * 1e3,
            stats.upload.as_secs_f64() * 1e3,
            stats.upload_gb_per_s()
        );
        group.bench_function(
            format!("pipelined, {streams} streams x {staging_mib} MiB"),
            |b| b.iter(|| drop(upload_weights(&device, &file, &options, |_, _| {}).unwrap())),
        );
    }
    group.bench_function("plain: per-tensor allocation, synchronous copies", |b| {
        b.iter(|| drop(upload_weights_plain(&device, &file).unwrap()))
    });
    group.finish();
}

criterion_group!(gpu_load, benches);
criterion_main!(gpu_load);
