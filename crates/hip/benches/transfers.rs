//! Throughput of host↔device copies and the cost of kernel launches and graph
//! replays on the first GPU. Without a usable GPU it says so and measures nothing.
//!
//! `cargo bench -p rocmforge-hip --bench transfers` (figures in docs/PERFORMANCE.md).

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rocmforge_hip::{Device, LaunchConfig, Module, PinnedBuffer, Stream};
use rocmforge_kernels::KernelModule;

const COPY_BYTES: usize = 256 << 20;

fn gpu() -> Option<Device> {
    match rocmforge_hip::device_count() {
        Ok(n) if n > 0 => Device::new(0).ok(),
        Ok(_) => {
            eprintln!("skipped: no GPU reported by the runtime");
            None
        }
        Err(error) => {
            eprintln!("skipped: no usable GPU ({error})");
            None
        }
    }
}

fn copies(c: &mut Criterion, device: &Device) {
    let stream = Stream::new(device).unwrap();
    let len = COPY_BYTES / 4;
    let mut buffer = device.alloc::<f32>(len).unwrap();
    let mut pinned = PinnedBuffer::<f32>::new(device, len).unwrap();
    let mut pageable = vec![1.0f32; len];
    let mut group = c.benchmark_group("copy 256 MiB");
    group
        .throughput(Throughput::Bytes(COPY_BYTES as u64))
        .sample_size(20);
    group.bench_function("host to device, pinned", |b| {
        b.iter(|| {
            stream
                .upload_async(buffer.as_view_mut(), &pinned)
                .unwrap()
                .wait()
                .unwrap()
        })
    });
    group.bench_function("host to device, pageable", |b| {
        b.iter(|| stream.upload(&mut buffer.as_view_mut(), &pageable).unwrap())
    });
    group.bench_function("device to host, pinned", |b| {
        b.iter(|| {
            stream
                .download_async(buffer.as_view(), &mut pinned)
                .unwrap()
                .wait()
                .unwrap()
        })
    });
    group.bench_function("device to host, pageable", |b| {
        b.iter(|| stream.download(&buffer.as_view(), &mut pageable).unwrap())
    });
    let mut other = device.alloc::<f32>(len).unwrap();
    group.bench_function("device to device", |b| {
        b.iter(|| {
            stream
                .copy(&buffer.as_view(), &mut other.as_view_mut())
                .unwrap();
            stream.synchronize().unwrap();
        })
    });
    group.finish();
}

fn launches(c: &mut Criterion, device: &Device) {
    let arch = device.arch().unwrap();
    let Ok(image) = rocmforge_kernels::image(&arch, KernelModule::Elementwise) else {
        eprintln!("skipped launches: no kernels for {arch} (cargo xtask build-kernels)");
        return;
    };
    let module = Module::load(device, &image).unwrap();
    let fill = module.function("rf_fill_f32").unwrap();
    let stream = Stream::new(device).unwrap();
    let n = 1024usize;
    let buffer = device.alloc::<f32>(n).unwrap();
    let (value, count) = (1.0f32, n as u64);
    let config = LaunchConfig::for_elements(n, 256).unwrap();
    const KERNELS: u32 = 100;
    let launch_all = || {
        for _ in 0..KERNELS {
            // SAFETY: rf_fill_f32(float* y, float value, u64 n); y holds n floats.
            unsafe {
                stream
                    .launch(&fill)
                    .arg(&buffer)
                    .arg(&value)
                    .arg(&count)
                    .run(config)
            }
            .unwrap();
        }
    };
    let capture = stream.begin_capture().unwrap();
    launch_all();
    let graph = capture.end().unwrap().instantiate().unwrap();

    // A streaming kernel: y = alpha * x over 1 GiB reads 1 GiB and writes 1 GiB.
    let scale = module.function("rf_scale_f32").unwrap();
    let big = 256usize << 20;
    let (x, y) = (
        device.alloc::<f32>(big).unwrap(),
        device.alloc::<f32>(big).unwrap(),
    );
    let big_count = big as u64;
    let blocks = (device.compute_units().unwrap() * 8) as u32;
    let streaming = LaunchConfig {
        grid: (blocks, 1, 1),
        block: (256, 1, 1),
        shared_bytes: 0,
    };
    let mut group = c.benchmark_group("streaming kernel");
    group
        .throughput(Throughput::Bytes(2 * (big as u64) * 4))
        .sample_size(30);
    group.bench_function("rf_scale_f32, 1 GiB in, 1 GiB out", |b| {
        b.iter(|| {
            // SAFETY: rf_scale_f32(const float* x, float* y, float alpha, u64 n).
            unsafe {
                stream
                    .launch(&scale)
                    .arg(&x)
                    .arg(&y)
                    .arg(&value)
                    .arg(&big_count)
                    .run(streaming)
            }
            .unwrap();
            stream.synchronize().unwrap();
        })
    });
    group.finish();

    let mut group = c.benchmark_group("100 small kernels");
    group.sample_size(50);
    let time = |iters: u64, body: &dyn Fn()| -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            body();
        }
        stream.synchronize().unwrap();
        start.elapsed()
    };
    group.bench_function("launched one by one", |b| {
        b.iter_custom(|iters| time(iters, &launch_all))
    });
    group.bench_function("replayed as a graph", |b| {
        // SAFETY: the captured buffer lives until the end of this function.
        b.iter_custom(|iters| time(iters, &|| unsafe { graph.launch(&stream) }.unwrap()))
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let Some(device) = gpu() else { return };
    copies(c, &device);
    launches(c, &device);
}

criterion_group!(transfers, benches);
criterion_main!(transfers);
