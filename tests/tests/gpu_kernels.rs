//! The project's HIP kernels, built by `cargo xtask build-kernels` and embedded
//! by `rocmforge-kernels`, launched through `rocmforge-hip` and compared with the
//! CPU. Without a usable GPU each test says so and passes (CI has none); without
//! kernels for the GPU present the tests fail with the xtask command to run.

use rocmforge_hip::{Device, LaunchConfig, Module, Stream};
use rocmforge_kernels::KernelModule;

fn gpu(test: &str) -> Option<Device> {
    match rocmforge_hip::device_count() {
        Ok(n) if n > 0 => Some(Device::new(0).expect("device 0 opens")),
        Ok(_) => {
            eprintln!("{test}: skipped: no GPU reported by the runtime");
            None
        }
        Err(error) => {
            eprintln!("{test}: skipped: no usable GPU ({error})");
            None
        }
    }
}

fn module(device: &Device, which: KernelModule) -> Module {
    let arch = device.arch().unwrap();
    let image = rocmforge_kernels::image(&arch, which).unwrap_or_else(|e| panic!("{e}"));
    Module::load(device, &image)
        .unwrap_or_else(|e| panic!("loading {} for {arch}: {e}", which.name()))
}

/// Deterministic values in [-2, 2).
fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 8) as f32 / (1u32 << 24) as f32 * 4.0 - 2.0
        })
        .collect()
}

#[test]
fn elementwise_kernels_match_the_cpu() {
    let Some(device) = gpu("elementwise_kernels_match_the_cpu") else {
        return;
    };
    let stream = Stream::new(&device).unwrap();
    let module = module(&device, KernelModule::Elementwise);
    let n = 1_000_003usize;
    let (a, b) = (values(n, 1), values(n, 2));
    let mut da = device.alloc::<f32>(n).unwrap();
    let mut db = device.alloc::<f32>(n).unwrap();
    let dy = device.alloc::<f32>(n).unwrap();
    stream.upload(&mut da.as_view_mut(), &a).unwrap();
    stream.upload(&mut db.as_view_mut(), &b).unwrap();
    let config = LaunchConfig::for_elements(n, 256).unwrap();
    let count = n as u64;

    let add = module.function("rf_add_f32").unwrap();
    // SAFETY: rf_add_f32(const float* a, const float* b, float* y, u64 n); all hold n.
    unsafe {
        stream
            .launch(&add)
            .arg(&da)
            .arg(&db)
            .arg(&dy)
            .arg(&count)
            .run(config)
    }
    .unwrap();
    let mut y = vec![0.0f32; n];
    stream.download(&dy.as_view(), &mut y).unwrap();
    assert!(
        y.iter()
            .zip(a.iter().zip(&b))
            .all(|(&y, (&a, &b))| y == a + b)
    );

    let scale = module.function("rf_scale_f32").unwrap();
    let alpha = 0.375f32;
    // SAFETY: rf_scale_f32(const float* x, float* y, float alpha, u64 n).
    unsafe {
        stream
            .launch(&scale)
            .arg(&da)
            .arg(&dy)
            .arg(&alpha)
            .arg(&count)
            .run(config)
    }
    .unwrap();
    stream.download(&dy.as_view(), &mut y).unwrap();
    assert!(y.iter().zip(&a).all(|(&y, &a)| y == a * alpha));

    // f16 → f32 over every binary16 bit pattern, against `half`.
    let bits: Vec<u16> = (0..=u16::MAX).collect();
    let mut dbits = device.alloc::<u16>(bits.len()).unwrap();
    let dwide = device.alloc::<f32>(bits.len()).unwrap();
    stream.upload(&mut dbits.as_view_mut(), &bits).unwrap();
    let widen = module.function("rf_f16_to_f32").unwrap();
    let total = bits.len() as u64;
    let config = LaunchConfig::for_elements(bits.len(), 256).unwrap();
    // SAFETY: rf_f16_to_f32(const uint16_t* x, float* y, u64 n).
    unsafe {
        stream
            .launch(&widen)
            .arg(&dbits)
            .arg(&dwide)
            .arg(&total)
            .run(config)
    }
    .unwrap();
    let mut wide = vec![0.0f32; bits.len()];
    stream.download(&dwide.as_view(), &mut wide).unwrap();
    for (&bit, &got) in bits.iter().zip(&wide) {
        let want = half::f16::from_bits(bit).to_f32();
        assert!(
            got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
            "{bit:#06x}"
        );
    }
}

#[test]
fn row_reductions_match_the_cpu() {
    let Some(device) = gpu("row_reductions_match_the_cpu") else {
        return;
    };
    let stream = Stream::new(&device).unwrap();
    let module = module(&device, KernelModule::Reduce);
    for (rows, cols) in [(1usize, 1usize), (3, 7), (64, 1000), (17, 4096), (5, 0)] {
        let x = values(rows * cols, (rows * 31 + cols) as u32);
        let w = values(cols, 7);
        let mut dx = device.alloc::<f32>(x.len()).unwrap();
        let mut dw = device.alloc::<f32>(w.len()).unwrap();
        let dsum = device.alloc::<f32>(rows).unwrap();
        let dy = device.alloc::<f32>(x.len()).unwrap();
        stream.upload(&mut dx.as_view_mut(), &x).unwrap();
        stream.upload(&mut dw.as_view_mut(), &w).unwrap();
        let config = LaunchConfig::per_row(rows, 256).unwrap();
        let (r, c, eps) = (rows as u32, cols as u32, 1e-6f32);

        let sum = module.function("rf_sum_f32").unwrap();
        // SAFETY: rf_sum_f32(const float* x, float* y, u32 rows, u32 cols).
        unsafe {
            stream
                .launch(&sum)
                .arg(&dx)
                .arg(&dsum)
                .arg(&r)
                .arg(&c)
                .run(config)
        }
        .unwrap();
        let norm = module.function("rf_rms_norm_f32").unwrap();
        // SAFETY: rf_rms_norm_f32(const float* x, const float* w, float* y, float eps, u32 rows, u32 cols).
        unsafe {
            stream
                .launch(&norm)
                .arg(&dx)
                .arg(&dw)
                .arg(&dy)
                .arg(&eps)
                .arg(&r)
                .arg(&c)
                .run(config)
        }
        .unwrap();

        let mut sums = vec![0.0f32; rows];
        stream.download(&dsum.as_view(), &mut sums).unwrap();
        let mut y = vec![0.0f32; x.len()];
        stream.download(&dy.as_view(), &mut y).unwrap();
        for row in 0..rows {
            let xs = &x[row * cols..(row + 1) * cols];
            let want: f64 = xs.iter().map(|&v| v as f64).sum();
            assert!(
                (sums[row] as f64 - want).abs() <= 1e-4 * (1.0 + cols as f64).sqrt(),
                "sum {rows}x{cols} row {row}"
            );
            let mean_square =
                xs.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / cols.max(1) as f64;
            let scale = 1.0 / (mean_square + eps as f64).sqrt();
            for (col, (&v, &got)) in xs.iter().zip(&y[row * cols..(row + 1) * cols]).enumerate() {
                let want = v as f64 * scale * w[col] as f64;
                assert!(
                    (got as f64 - want).abs() <= 1e-5 * (1.0 + want.abs()),
                    "norm {rows}x{cols} [{row}][{col}]"
                );
            }
        }
    }
}

#[test]
fn kernel_launches_replay_from_a_graph() {
    let Some(device) = gpu("kernel_launches_replay_from_a_graph") else {
        return;
    };
    let stream = Stream::new(&device).unwrap();
    let module = module(&device, KernelModule::Elementwise);
    let add = module.function("rf_add_f32").unwrap();
    let n = 4096usize;
    let ones = vec![1.0f32; n];
    let mut done = device.alloc::<f32>(n).unwrap();
    let mut acc = device.alloc::<f32>(n).unwrap();
    stream.upload(&mut done.as_view_mut(), &ones).unwrap();
    let config = LaunchConfig::for_elements(n, 256).unwrap();
    let count = n as u64;
    let capture = stream.begin_capture().unwrap();
    for _ in 0..8 {
        // SAFETY: rf_add_f32 in place (y == a is allowed): acc += 1, n elements.
        unsafe {
            stream
                .launch(&add)
                .arg(&acc)
                .arg(&done)
                .arg(&acc)
                .arg(&count)
                .run(config)
        }
        .unwrap();
    }
    let graph = capture.end().unwrap();
    assert_eq!(graph.node_count().unwrap(), 8);
    let exec = graph.instantiate().unwrap();
    for _ in 0..10 {
        // SAFETY: `acc` and `done` outlive the launches (synchronised below).
        unsafe { exec.launch(&stream) }.unwrap();
    }
    stream.synchronize().unwrap();
    let mut back = vec![0.0f32; n];
    stream.download(&acc.as_view(), &mut back).unwrap();
    assert!(back.iter().all(|&x| x == 80.0), "{}", back[0]);
    stream.memset(&mut acc.as_view_mut(), 0).unwrap();
    drop((exec, graph));
    assert!(device.take_deferred_error().is_none());
}
