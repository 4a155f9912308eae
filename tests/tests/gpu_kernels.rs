//! The project's HIP kernels, built by `cargo xtask build-kernels` and embedded
//! by `rocmforge-kernels`, launched through `rocmforge-hip` and compared with the
//! CPU. Without a usable GPU each test says so and passes (CI has none); without
//! kernels for the GPU present the tests fail with the xtask command to run.

use rocmforge_hip::{Device, DeviceBuffer, Event, LaunchConfig, Module, Stream};
use rocmforge_kernels::KernelModule;

fn gpu(test: &str) -> Option<Device> {
    Device::first_usable()
        .map_err(|error| eprintln!("{test}: skipped: no usable GPU ({error})"))
        .ok()
}

fn module(device: &Device, which: KernelModule) -> Module {
    let arch = device.arch().unwrap();
    let image = rocmforge_kernels::image(&arch, which).unwrap_or_else(|e| panic!("{e}"));
    Module::load(device, &image)
        .unwrap_or_else(|e| panic!("loading {} for {arch}: {e}", which.name()))
}

/// Launches an `rf_matvec_*` kernel: `rf_matvec_<type>(const u8* w, const
/// float* x, float* y, u32 rows, u32 cols)` or `rf_matvec_<type>_q8(w, const u8*
/// xq, y, rows, cols, u32 split)`.
#[allow(clippy::too_many_arguments)]
fn launch_matvec<X>(
    stream: &Stream,
    function: &rocmforge_hip::Function<'_>,
    w: &DeviceBuffer<u8>,
    x: &DeviceBuffer<X>,
    y: &DeviceBuffer<f32>,
    rows: usize,
    cols: usize,
    split: bool,
) {
    // One warp per row (the _q8 kernels in blocks of 128 threads), or with
    // `split` (_q8 kernels only) a block per row.
    let q8 = function.name().ends_with("_q8");
    let threads = if q8 { 128 } else { 256 };
    let warps = threads as usize / stream.device().warp_size().unwrap();
    let blocks = if split { rows } else { rows.div_ceil(warps) };
    let config = LaunchConfig {
        grid: (blocks as u32, 1, 1),
        block: (threads, 1, 1),
        shared_bytes: 0,
    };
    let (r, c, split) = (rows as u32, cols as u32, u32::from(split));
    // SAFETY: the callers pass w with rows x cols values of the kernel's type, x
    // with the cols activations it reads (floats or their blocks) and y rows floats;
    // the _q8 kernels take the split flag last.
    unsafe {
        let launch = stream.launch(function).arg(w).arg(x).arg(y).arg(&r).arg(&c);
        if q8 { launch.arg(&split) } else { launch }.run(config)
    }
    .unwrap();
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

/// The sampler's greedy choice: the first largest value; NaN never; 0 when
/// nothing is above -inf.
fn first_argmax(values: &[f32]) -> u32 {
    let mut best = (f32::NEG_INFINITY, 0);
    for (i, &v) in values.iter().enumerate() {
        if v > best.0 {
            best = (v, i);
        }
    }
    best.1 as u32
}

#[test]
fn argmax_takes_the_first_largest_value() {
    let Some(device) = gpu("argmax_takes_the_first_largest_value") else {
        return;
    };
    let stream = Stream::new(&device).unwrap();
    let module = module(&device, KernelModule::Reduce);
    let argmax = module.function("rf_argmax_f32").unwrap();
    let mut cases: Vec<(&str, Vec<f32>)> = vec![
        ("one value", vec![-3.0]),
        ("random vocabulary", values(151_936, 3)),
        ("nothing above -inf", vec![f32::NEG_INFINITY; 300]),
        (
            "NaN and -inf only",
            vec![f32::NAN, f32::NEG_INFINITY, f32::NAN],
        ),
        ("empty", vec![]),
    ];
    let mut ties = values(262_144, 5);
    for at in [200_000, 70_001, 70_001 + 1024, 9] {
        ties[at] = 50.0;
    }
    cases.push(("ties across threads and within one", ties));
    let mut nan_first = values(5000, 8);
    nan_first[0] = f32::NAN;
    nan_first[4999] = 60.0;
    cases.push(("NaN first, maximum last", nan_first));
    let index = device.alloc::<u32>(1).unwrap();
    for (what, x) in cases {
        let mut dx = device.alloc::<f32>(x.len().max(1)).unwrap();
        if !x.is_empty() {
            stream
                .upload(&mut dx.slice_mut(..x.len()).unwrap(), &x)
                .unwrap();
        }
        let n = x.len() as u32;
        // SAFETY: rf_argmax_f32(const float* x, u32* index, u32 n): n values, one id.
        unsafe {
            stream
                .launch(&argmax)
                .arg(&dx)
                .arg(&index)
                .arg(&n)
                .run(LaunchConfig::per_row(1, 1024).unwrap())
        }
        .unwrap();
        let mut got = [u32::MAX];
        stream.download(&index.as_view(), &mut got).unwrap();
        assert_eq!(got[0], first_argmax(&x), "{what}");
    }
    eprintln!("argmax: 7 cases equal the sampler's choice");
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

#[test]
fn axpy_and_matmul_match_the_cpu_exactly() {
    let Some(device) = gpu("axpy_and_matmul_match_the_cpu_exactly") else {
        return;
    };
    let stream = Stream::new(&device).unwrap();
    let elementwise = module(&device, KernelModule::Elementwise);
    let axpy = elementwise.function("rf_axpy_f32").unwrap();
    let n = 300_001usize;
    let (x, y) = (values(n, 11), values(n, 12));
    let mut dx = device.alloc::<f32>(n).unwrap();
    let mut dy = device.alloc::<f32>(n).unwrap();
    stream.upload(&mut dx.as_view_mut(), &x).unwrap();
    stream.upload(&mut dy.as_view_mut(), &y).unwrap();
    let (alpha, count) = (-1.25f32, n as u64);
    let config = LaunchConfig::for_elements(n, 256).unwrap();
    // SAFETY: rf_axpy_f32(float alpha, const float* x, float* y, u64 n); both hold n.
    unsafe {
        stream
            .launch(&axpy)
            .arg(&alpha)
            .arg(&dx)
            .arg(&dy)
            .arg(&count)
            .run(config)
    }
    .unwrap();
    let mut got = vec![0.0f32; n];
    stream.download(&dy.as_view(), &mut got).unwrap();
    assert!(
        got.iter()
            .zip(x.iter().zip(&y))
            .all(|(&g, (&x, &y))| g == alpha.mul_add(x, y))
    );

    // The kernel sums each dot product in order with fused multiply-adds: the same
    // order on the CPU gives the same bits.
    let matmul_module = module(&device, KernelModule::Matmul);
    let matmul = matmul_module.function("rf_matmul_f32").unwrap();
    for (m, n, k) in [
        (1usize, 1usize, 1usize),
        (17, 33, 65),
        (128, 256, 512),
        (5, 3, 0),
        (64, 1, 300),
    ] {
        let (a, b) = (values(m * k, (m + n) as u32), values(k * n, k as u32));
        let mut da = device.alloc::<f32>(a.len()).unwrap();
        let mut db = device.alloc::<f32>(b.len()).unwrap();
        let dc = device.alloc::<f32>(m * n).unwrap();
        stream.upload(&mut da.as_view_mut(), &a).unwrap();
        stream.upload(&mut db.as_view_mut(), &b).unwrap();
        let config = LaunchConfig {
            grid: (n.div_ceil(16) as u32, m.div_ceil(16) as u32, 1),
            block: (16, 16, 1),
            shared_bytes: 0,
        };
        let (mm, nn, kk) = (m as u32, n as u32, k as u32);
        // SAFETY: rf_matmul_f32(const float* a, const float* b, float* c, u32 m, u32 n, u32 k).
        unsafe {
            stream
                .launch(&matmul)
                .arg(&da)
                .arg(&db)
                .arg(&dc)
                .arg(&mm)
                .arg(&nn)
                .arg(&kk)
                .run(config)
        }
        .unwrap();
        let mut c = vec![0.0f32; m * n];
        stream.download(&dc.as_view(), &mut c).unwrap();
        for i in 0..m {
            for j in 0..n {
                let want = (0..k).fold(0.0f32, |acc, p| a[i * k + p].mul_add(b[p * n + j], acc));
                assert_eq!(
                    c[i * n + j].to_bits(),
                    want.to_bits(),
                    "{m}x{n}x{k} at [{i}][{j}]"
                );
            }
        }
    }
}

#[test]
fn events_time_a_streaming_kernel() {
    let Some(device) = gpu("events_time_a_streaming_kernel") else {
        return;
    };
    let stream = Stream::new(&device).unwrap();
    let module = module(&device, KernelModule::Elementwise);
    let scale = module.function("rf_scale_f32").unwrap();
    let n = 256usize << 20; // 1 GiB of f32 read, 1 GiB written
    let x = device.alloc::<f32>(n).unwrap();
    let y = device.alloc::<f32>(n).unwrap();
    let (alpha, count) = (2.0f32, n as u64);
    let blocks = (device.compute_units().unwrap() * 8) as u32;
    let config = LaunchConfig {
        grid: (blocks, 1, 1),
        block: (256, 1, 1),
        shared_bytes: 0,
    };
    let run = || {
        // SAFETY: rf_scale_f32(const float* x, float* y, float alpha, u64 n); both hold n.
        unsafe {
            stream
                .launch(&scale)
                .arg(&x)
                .arg(&y)
                .arg(&alpha)
                .arg(&count)
                .run(config)
        }
        .unwrap()
    };
    run(); // warm-up
    let (start, end) = (Event::new(&device).unwrap(), Event::new(&device).unwrap());
    start.record(&stream).unwrap();
    for _ in 0..10 {
        run();
    }
    end.record(&stream).unwrap();
    end.synchronize().unwrap();
    let ms = start.elapsed_ms(&end).unwrap() / 10.0;
    let bytes = 2.0 * (n * 4) as f64;
    let tb_per_s = bytes / (ms as f64 / 1e3) / 1e12;
    eprintln!("rf_scale_f32 over 1 GiB: {ms:.3} ms per pass, {tb_per_s:.2} TB/s moved");
    // Physically plausible for any GPU: more than 0.1 ms, less than a second.
    assert!(ms > 0.1 && ms < 1000.0, "{ms} ms");
}

#[test]
fn graph_replay_matches_eager_execution() {
    let Some(device) = gpu("graph_replay_matches_eager_execution") else {
        return;
    };
    let stream = Stream::new(&device).unwrap();
    let elementwise = module(&device, KernelModule::Elementwise);
    let reduce = module(&device, KernelModule::Reduce);
    let (axpy, mul) = (
        elementwise.function("rf_axpy_f32").unwrap(),
        elementwise.function("rf_mul_f32").unwrap(),
    );
    let norm = reduce.function("rf_rms_norm_f32").unwrap();
    let (rows, cols) = (64usize, 1024usize);
    let n = rows * cols;
    let (x0, w) = (values(n, 21), values(cols, 22));
    let mut x = device.alloc::<f32>(n).unwrap();
    let mut dw = device.alloc::<f32>(cols).unwrap();
    let h = device.alloc::<f32>(n).unwrap();
    stream.upload(&mut dw.as_view_mut(), &w).unwrap();
    let (alpha, count, eps, r, c) = (0.5f32, n as u64, 1e-5f32, rows as u32, cols as u32);
    let flat = LaunchConfig::for_elements(n, 256).unwrap();
    let per_row = LaunchConfig::per_row(rows, 256).unwrap();
    // One "layer": h = norm(x) * w; x = x * h; x += 0.5 * h — three times.
    let layer = |x: &DeviceBuffer<f32>| {
        for _ in 0..3 {
            // SAFETY: signatures as documented in kernels/*.hip; every buffer holds
            // n floats (w: cols); x is only read by the norm and written in place.
            unsafe {
                stream
                    .launch(&norm)
                    .arg(x)
                    .arg(&dw)
                    .arg(&h)
                    .arg(&eps)
                    .arg(&r)
                    .arg(&c)
                    .run(per_row)
                    .unwrap();
                stream
                    .launch(&mul)
                    .arg(x)
                    .arg(&h)
                    .arg(x)
                    .arg(&count)
                    .run(flat)
                    .unwrap();
                stream
                    .launch(&axpy)
                    .arg(&alpha)
                    .arg(&h)
                    .arg(x)
                    .arg(&count)
                    .run(flat)
                    .unwrap();
            }
        }
    };
    stream.upload(&mut x.as_view_mut(), &x0).unwrap();
    layer(&x);
    let mut eager = vec![0.0f32; n];
    stream.download(&x.as_view(), &mut eager).unwrap();

    let capture = stream.begin_capture().unwrap();
    layer(&x);
    let exec = capture.end().unwrap().instantiate().unwrap();
    stream.upload(&mut x.as_view_mut(), &x0).unwrap();
    // SAFETY: all buffers used by the graph are alive until the end of the test.
    unsafe { exec.launch(&stream) }.unwrap();
    let mut replayed = vec![0.0f32; n];
    stream.download(&x.as_view(), &mut replayed).unwrap();
    assert!(
        eager
            .iter()
            .zip(&replayed)
            .all(|(a, b)| a.to_bits() == b.to_bits()),
        "graph replay differs"
    );
    assert!(
        eager.iter().zip(&x0).any(|(a, b)| a != b),
        "the layer changed x"
    );
}

/// `n` values of `ty` in its block format: quantized from deterministic values,
/// or for IQ4_NL (no quantizer here) random indices under a sane f16 scale.
fn blocks_of(ty: rocmforge_gguf::GgmlType, n: usize, seed: u32) -> Vec<u8> {
    use rocmforge_gguf::{GgmlType, quant};
    if ty != GgmlType::IQ4_NL {
        return quant::quantize_to_vec(ty, &values(n, seed)).unwrap();
    }
    let noise = values(n / 32 * 18, seed);
    let mut bytes: Vec<u8> = noise.iter().map(|v| ((v + 2.0) * 63.0) as u8).collect();
    for (i, block) in bytes.chunks_exact_mut(18).enumerate() {
        let d = half::f16::from_f32(0.01 + 0.001 * (i % 7) as f32);
        block[..2].copy_from_slice(&d.to_le_bytes());
    }
    bytes
}

#[test]
fn quantized_matvec_matches_dequantized_weights() {
    use rocmforge_gguf::{GgmlType, quant};
    let Some(device) = gpu("quantized_matvec_matches_dequantized_weights") else {
        return;
    };
    let stream = Stream::new(&device).unwrap();
    let module = module(&device, KernelModule::QuantMatvec);
    let (rows, cols) = (300usize, 4096usize);
    let cases = [
        (GgmlType::Q8_0, "rf_matvec_q8_0"),
        (GgmlType::Q4_0, "rf_matvec_q4_0"),
        (GgmlType::Q5_0, "rf_matvec_q5_0"),
        (GgmlType::Q4_K, "rf_matvec_q4_k"),
        (GgmlType::Q6_K, "rf_matvec_q6_k"),
        (GgmlType::F16, "rf_matvec_f16"),
        (GgmlType::F32, "rf_matvec_f32"),
        (GgmlType::Q4_1, "rf_matvec_q4_1"),
        (GgmlType::Q5_1, "rf_matvec_q5_1"),
        (GgmlType::Q2_K, "rf_matvec_q2_k"),
        (GgmlType::Q3_K, "rf_matvec_q3_k"),
        (GgmlType::Q5_K, "rf_matvec_q5_k"),
        (GgmlType::IQ4_NL, "rf_matvec_iq4_nl"),
        (GgmlType::MXFP4, "rf_matvec_mxfp4"),
        (GgmlType::BF16, "rf_matvec_bf16"),
    ];
    let x = values(cols, 99);
    let mut dx = device.alloc::<f32>(cols).unwrap();
    stream.upload(&mut dx.as_view_mut(), &x).unwrap();
    for (seed, (ty, kernel)) in cases.into_iter().enumerate() {
        let bytes = blocks_of(ty, rows * cols, seed as u32 + 40);
        let mut dequantized = vec![0f32; rows * cols];
        quant::dequantize(ty, &bytes, &mut dequantized).unwrap();
        let mut dw = device.alloc::<u8>(bytes.len()).unwrap();
        stream.upload(&mut dw.as_view_mut(), &bytes).unwrap();
        let dy = device.alloc::<f32>(rows).unwrap();
        let function = module.function(kernel).unwrap();
        launch_matvec(&stream, &function, &dw, &dx, &dy, rows, cols, false);
        let mut y = vec![0f32; rows];
        stream.download(&dy.as_view(), &mut y).unwrap();
        let mut worst = 0f64;
        for (row, &got) in y.iter().enumerate() {
            let w = &dequantized[row * cols..(row + 1) * cols];
            let want: f64 = w.iter().zip(&x).map(|(&a, &b)| a as f64 * b as f64).sum();
            let magnitude: f64 = w
                .iter()
                .zip(&x)
                .map(|(&a, &b)| (a as f64 * b as f64).abs())
                .sum();
            worst = worst.max((got as f64 - want).abs() / magnitude);
        }
        eprintln!("{kernel}: worst error {worst:.2e} of the sum of |products|");
        assert!(worst < 1e-5, "{kernel}: {worst}");
    }
}

#[test]
fn activation_quantization_and_q8_matvec_match_the_cpu() {
    use rocmforge_gguf::{GgmlType, quant};
    let Some(device) = gpu("activation_quantization_and_q8_matvec_match_the_cpu") else {
        return;
    };
    let stream = Stream::new(&device).unwrap();
    let module = module(&device, KernelModule::QuantMatvec);
    let (rows, cols) = (64usize, 1024usize);
    let x = values(cols, 5);
    let mut dx = device.alloc::<f32>(cols).unwrap();
    stream.upload(&mut dx.as_view_mut(), &x).unwrap();
    // Q8_0 activations: f16 d = max|x| / 127, i16 Σq, q = round-half-even(x * 127 /
    // max|x|), 36 bytes per block.
    let blocks = (cols / 32) as u32;
    let dq = device.alloc::<u8>(cols / 32 * 36).unwrap();
    let quantize = module.function("rf_quantize_q8_0").unwrap();
    // SAFETY: rf_quantize_q8_0(const float* x, u8* out, u32 blocks).
    unsafe {
        stream
            .launch(&quantize)
            .arg(&dx)
            .arg(&dq)
            .arg(&blocks)
            .run(LaunchConfig::for_elements(blocks as usize, 64).unwrap())
    }
    .unwrap();
    let mut got = vec![0u8; cols / 32 * 36];
    stream.download(&dq.as_view(), &mut got).unwrap();
    let mut want = Vec::new();
    for block in x.chunks(32) {
        let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let q: Vec<i8> = block
            .iter()
            .map(|&v| (v * id).round_ties_even() as i8)
            .collect();
        let sum: i16 = q.iter().map(|&v| i16::from(v)).sum();
        want.extend_from_slice(&half::f16::from_f32(amax / 127.0).to_le_bytes());
        want.extend_from_slice(&sum.to_le_bytes());
        want.extend(q.iter().map(|&v| v as u8));
    }
    assert_eq!(got, want, "Q8_0 activation blocks");

    let weights = values(rows * cols, 6);
    let bytes = quant::quantize_to_vec(GgmlType::Q4_0, &weights).unwrap();
    let mut dw = device.alloc::<u8>(bytes.len()).unwrap();
    stream.upload(&mut dw.as_view_mut(), &bytes).unwrap();
    let dy = device.alloc::<f32>(rows).unwrap();
    let matvec = module.function("rf_matvec_q4_0_q8").unwrap();
    // A block per row (its warps splitting the row) gives the same products up
    // to the order of the float sums.
    launch_matvec(&stream, &matvec, &dw, &dq, &dy, rows, cols, true);
    let mut split = vec![0f32; rows];
    stream.download(&dy.as_view(), &mut split).unwrap();
    launch_matvec(&stream, &matvec, &dw, &dq, &dy, rows, cols, false);
    let mut y = vec![0f32; rows];
    stream.download(&dy.as_view(), &mut y).unwrap();
    for (row, (&a, &b)) in split.iter().zip(&y).enumerate() {
        assert!(
            (a - b).abs() <= 1e-5 * b.abs().max(1.0),
            "row {row} split: {a} vs {b}"
        );
    }
    let f16_at = |b: &[u8]| half::f16::from_le_bytes([b[0], b[1]]).to_f32();
    for (row, &got) in y.iter().enumerate() {
        let w = &bytes[row * (cols / 32) * 18..(row + 1) * (cols / 32) * 18];
        let mut sum = 0f64;
        for (wb, ab) in w.chunks(18).zip(want.chunks(36)) {
            let mut s = 0i32;
            for i in 0..16 {
                let q = wb[2 + i];
                s += (i32::from(q & 15) - 8) * i32::from(ab[4 + i] as i8)
                    + (i32::from(q >> 4) - 8) * i32::from(ab[20 + i] as i8);
            }
            sum += f64::from(s) * f64::from(f16_at(wb)) * f64::from(f16_at(ab));
        }
        assert!(
            (f64::from(got) - sum).abs() <= 1e-4 * sum.abs().max(1.0),
            "row {row}: {got} vs {sum}"
        );
    }
}

#[test]
fn dequantized_rows_match_the_cpu_in_f16() {
    use rocmforge_gguf::{GgmlType, quant};
    let Some(device) = gpu("dequantized_rows_match_the_cpu_in_f16") else {
        return;
    };
    let stream = Stream::new(&device).unwrap();
    let module = module(&device, KernelModule::QuantMatvec);
    let values_count = 8 * 1024;
    let cases = [
        (GgmlType::Q8_0, "rf_dequant_q8_0_f16"),
        (GgmlType::Q4_0, "rf_dequant_q4_0_f16"),
        (GgmlType::Q5_0, "rf_dequant_q5_0_f16"),
        (GgmlType::Q4_K, "rf_dequant_q4_k_f16"),
        (GgmlType::Q6_K, "rf_dequant_q6_k_f16"),
        (GgmlType::Q4_1, "rf_dequant_q4_1_f16"),
        (GgmlType::Q5_1, "rf_dequant_q5_1_f16"),
        (GgmlType::Q2_K, "rf_dequant_q2_k_f16"),
        (GgmlType::Q3_K, "rf_dequant_q3_k_f16"),
        (GgmlType::Q5_K, "rf_dequant_q5_k_f16"),
        (GgmlType::IQ4_NL, "rf_dequant_iq4_nl_f16"),
        (GgmlType::MXFP4, "rf_dequant_mxfp4_f16"),
        (GgmlType::BF16, "rf_dequant_bf16_f16"),
    ];
    for (seed, (ty, kernel)) in cases.into_iter().enumerate() {
        let bytes = blocks_of(ty, values_count, seed as u32 + 7);
        let mut want = vec![0f32; values_count];
        quant::dequantize(ty, &bytes, &mut want).unwrap();
        let mut dw = device.alloc::<u8>(bytes.len()).unwrap();
        stream.upload(&mut dw.as_view_mut(), &bytes).unwrap();
        let out = device.alloc::<u16>(values_count).unwrap();
        let function = module.function(kernel).unwrap();
        let quads = (values_count / 4) as u64;
        // SAFETY: rf_dequant_<type>_f16(const u8* w, u16* out, u64 quads): dw holds the
        // blocks of values_count values, out values_count halves.
        unsafe {
            stream
                .launch(&function)
                .arg(&dw)
                .arg(&out)
                .arg(&quads)
                .run(LaunchConfig::for_elements(values_count / 4, 256).unwrap())
        }
        .unwrap();
        let mut got = vec![0u16; values_count];
        stream.download(&out.as_view(), &mut got).unwrap();
        for (i, (&bits, &w)) in got.iter().zip(&want).enumerate() {
            let got = half::f16::from_bits(bits).to_f32();
            let rounded = half::f16::from_f32(w).to_f32();
            // The GPU may fuse the scale products differently: one f16 step at most.
            let step = (rounded.abs() * 2f32.powi(-10)).max(2f32.powi(-24));
            assert!(
                (got - rounded).abs() <= step,
                "{kernel} value {i}: {got} against {w} (f16 {rounded})"
            );
        }
        eprintln!("{kernel}: {values_count} values match the CPU's in f16");
    }
}

#[test]
fn blas_products_of_f16_rows_match_the_cpu() {
    let Some(device) = gpu("blas_products_of_f16_rows_match_the_cpu") else {
        return;
    };
    let blas = match rocmforge_hip::Blas::new(&device) {
        Ok(blas) => blas,
        Err(error) => {
            eprintln!(
                "blas_products_of_f16_rows_match_the_cpu: skipped: no BLAS library ({error})"
            );
            return;
        }
    };
    let stream = Stream::new(&device).unwrap();
    let (m, n, k, ldc) = (70usize, 9usize, 96usize, 75usize);
    let to_f16 = |v: &[f32]| -> Vec<u16> {
        v.iter()
            .map(|&x| half::f16::from_f32(x).to_bits())
            .collect()
    };
    let (a, b) = (to_f16(&values(m * k, 3)), to_f16(&values(n * k, 4)));
    let mut da = device.alloc::<u16>(a.len()).unwrap();
    let mut db = device.alloc::<u16>(b.len()).unwrap();
    stream.upload(&mut da.as_view_mut(), &a).unwrap();
    stream.upload(&mut db.as_view_mut(), &b).unwrap();
    let dc = device.alloc::<f32>(n * ldc).unwrap();
    // SAFETY: the buffers live until the download below, which waits for the stream.
    unsafe {
        blas.gemm_nt_f16_f32(
            &stream,
            (m, n, k),
            &da.as_view(),
            &db.as_view(),
            &dc.as_view(),
            ldc,
        )
    }
    .unwrap();
    let mut c = vec![0f32; n * ldc];
    stream.download(&dc.as_view(), &mut c).unwrap();
    let f = |bits: u16| half::f16::from_bits(bits).to_f32() as f64;
    for j in 0..n {
        for i in 0..m {
            let want: f64 = (0..k).map(|p| f(a[i * k + p]) * f(b[j * k + p])).sum();
            let got = c[j * ldc + i] as f64;
            assert!(
                (got - want).abs() < 1e-3 * (1.0 + want.abs()),
                "c[{j}][{i}]: {got} vs {want}"
            );
        }
        // Past the m columns the row is left as it was (zero).
        assert!(c[j * ldc + m..(j + 1) * ldc].iter().all(|&v| v == 0.0));
    }
    eprintln!(
        "{} computes a {m}x{n}x{k} product as the CPU does",
        blas.library()
    );
}
