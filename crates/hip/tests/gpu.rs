//! The safe layer on a real GPU (AMD, or NVIDIA through the CUDA driver layer).
//! Without a usable GPU each test says so and passes: CI machines have none;
//! these run on GPU machines (see docs/GPU.md).

use rocmforge_hip::{Arena, Device, DeviceBuffer, Error, Event, Module, PinnedBuffer, Stream};

/// The first GPU, or `None` after printing why the test is skipped.
fn gpu(test: &str) -> Option<Device> {
    Device::first_usable()
        .map_err(|error| eprintln!("{test}: skipped: no usable GPU ({error})"))
        .ok()
}

fn no_deferred_errors(device: &Device) {
    if let Some(error) = device.take_deferred_error() {
        panic!("a resource failed to free: {error}");
    }
}

#[test]
fn device_reports_its_properties() {
    let Some(device) = gpu("device_reports_its_properties") else {
        return;
    };
    let info = device.info().unwrap();
    eprintln!("{info:?}");
    assert!(!info.name.is_empty());
    assert!(
        info.arch.starts_with("gfx") || info.arch.starts_with("sm_"),
        "{}",
        info.arch
    );
    assert!(info.warp_size == 32 || info.warp_size == 64);
    assert!(info.compute_units > 0);
    assert!(info.total_memory > 0 && info.free_memory <= info.total_memory);
    let count = rocmforge_hip::device_count().unwrap();
    assert!(matches!(
        Device::new(count),
        Err(Error::NoSuchDevice { .. })
    ));
}

#[test]
fn buffers_round_trip_through_checked_views() {
    let Some(device) = gpu("buffers_round_trip_through_checked_views") else {
        return;
    };
    let stream = Stream::new(&device).unwrap();
    let data: Vec<f32> = (0..10_000).map(|i| i as f32 * 0.5).collect();
    let mut buffer = device.alloc::<f32>(data.len()).unwrap();
    let mut zeros = vec![1.0f32; data.len()];
    stream.download(&buffer.as_view(), &mut zeros).unwrap();
    assert!(zeros.iter().all(|&x| x == 0.0), "new buffers are zeroed");

    stream.upload(&mut buffer.as_view_mut(), &data).unwrap();
    let mut back = vec![0.0f32; 100];
    stream
        .download(&buffer.slice(500..600).unwrap(), &mut back)
        .unwrap();
    assert_eq!(back, data[500..600]);

    // Write into a window, read the whole buffer.
    stream
        .upload(&mut buffer.slice_mut(10..12).unwrap(), &[-1.0, -2.0])
        .unwrap();
    let mut all = vec![0.0f32; data.len()];
    stream.download(&buffer.as_view(), &mut all).unwrap();
    assert_eq!(&all[8..14], &[4.0, 4.5, -1.0, -2.0, 6.0, 6.5]);

    assert!(matches!(
        buffer.slice(9_990..10_001),
        Err(Error::OutOfBounds { .. })
    ));
    let mut short = vec![0.0f32; 3];
    assert!(matches!(
        stream.download(&buffer.as_view(), &mut short),
        Err(Error::LengthMismatch { .. })
    ));

    // Device-to-device copy and memset, ordered on the stream.
    let mut copy = device.alloc::<f32>(100).unwrap();
    stream
        .copy(&buffer.slice(0..100).unwrap(), &mut copy.as_view_mut())
        .unwrap();
    stream
        .memset(&mut copy.slice_mut(50..).unwrap(), 0)
        .unwrap();
    stream.synchronize().unwrap();
    let mut copied = vec![9.0f32; 100];
    stream.download(&copy.as_view(), &mut copied).unwrap();
    assert_eq!(copied[..10], all[..10]);
    assert!(copied[50..].iter().all(|&x| x == 0.0));
    drop((buffer, copy));
    no_deferred_errors(&device);
}

#[test]
fn pinned_copies_are_asynchronous_and_timed() {
    let Some(device) = gpu("pinned_copies_are_asynchronous_and_timed") else {
        return;
    };
    let stream = Stream::new(&device).unwrap();
    let len = 64 << 20; // 256 MiB of f32
    let mut host = PinnedBuffer::<f32>::new(&device, len).unwrap();
    for (i, x) in host.iter_mut().enumerate() {
        *x = (i % 977) as f32;
    }
    let mut buffer = device.alloc::<f32>(len).unwrap();
    let (start, end) = (Event::new(&device).unwrap(), Event::new(&device).unwrap());
    start.record(&stream).unwrap();
    stream
        .upload_async(buffer.as_view_mut(), &host)
        .unwrap()
        .wait()
        .unwrap();
    end.record(&stream).unwrap();
    end.synchronize().unwrap();
    let ms = start.elapsed_ms(&end).unwrap();
    let gb_per_s = (len * 4) as f64 / (ms as f64 / 1e3) / 1e9;
    eprintln!(
        "pinned host to device: {} MiB in {ms:.2} ms = {gb_per_s:.1} GB/s",
        (len * 4) >> 20
    );
    assert!(ms > 0.0);

    let mut back = PinnedBuffer::<f32>::new(&device, len).unwrap();
    let pending = stream.download_async(buffer.as_view(), &mut back).unwrap();
    pending.wait().unwrap();
    assert!(
        back.iter()
            .enumerate()
            .step_by(4099)
            .all(|(i, &x)| x == (i % 977) as f32)
    );
    assert!(stream.is_idle().unwrap());
    drop((host, back, buffer));
    no_deferred_errors(&device);
}

#[test]
fn arena_carves_chunks_and_frees_them() {
    let Some(device) = gpu("arena_carves_chunks_and_frees_them") else {
        return;
    };
    let stream = Stream::new(&device).unwrap();
    let (free_before, _) = device.memory_info().unwrap();
    let arena = Arena::new(&device, 64 << 20).unwrap();
    let mut buffers = Vec::new();
    for i in 0..300usize {
        buffers.push(arena.alloc::<u8>(100 + i).unwrap());
    }
    let stats = arena.stats();
    assert_eq!(stats.device_allocations, 1, "{stats:?}");
    assert_eq!(stats.live_slots, 300);
    let big = arena.alloc::<f32>(20 << 20).unwrap(); // 80 MiB: a chunk of its own
    let small = arena.alloc::<f32>(4).unwrap(); // still from the first chunk
    let stats = arena.stats();
    assert_eq!(stats.device_allocations, 2, "{stats:?}");
    assert_eq!(stats.reserved_bytes, (64 << 20) + (80 << 20));

    // Slots are distinct, aligned memory: write each, read each back.
    for (i, buffer) in buffers.iter_mut().enumerate().step_by(37) {
        let bytes = vec![i as u8; buffer.len()];
        stream.upload(&mut buffer.as_view_mut(), &bytes).unwrap();
    }
    for (i, buffer) in buffers.iter().enumerate().step_by(37) {
        let mut back = vec![0u8; buffer.len()];
        stream.download(&buffer.as_view(), &mut back).unwrap();
        assert!(back.iter().all(|&b| b == i as u8), "slot {i}");
    }
    drop(buffers);
    drop((big, small));
    let stats = arena.stats();
    assert_eq!((stats.used_bytes, stats.live_slots), (0, 0), "{stats:?}");
    assert!(stats.peak_used_bytes >= 80 << 20);
    drop(arena);
    let (free_after, _) = device.memory_info().unwrap();
    // Other processes may allocate meanwhile: allow slack, but the 144 MiB held
    // by the arena must be back.
    assert!(
        free_after + (16 << 20) >= free_before,
        "{free_before} -> {free_after}"
    );
    no_deferred_errors(&device);
}

#[test]
fn failures_are_errors_naming_the_call() {
    let Some(device) = gpu("failures_are_errors_naming_the_call") else {
        return;
    };
    let error = device
        .alloc::<u8>(1 << 50)
        .err()
        .expect("a petabyte does not fit");
    eprintln!("{error}");
    assert!(error.to_string().contains("hipMalloc"), "{error}");
    let error = Module::load(&device, b"not a code object")
        .err()
        .expect("garbage is rejected");
    eprintln!("{error}");
    assert!(error.to_string().contains("hipModuleLoadData"), "{error}");
    device.synchronize().unwrap();
}

#[test]
fn captured_graphs_replay_copies() {
    let Some(device) = gpu("captured_graphs_replay_copies") else {
        return;
    };
    let stream = Stream::new(&device).unwrap();
    let mut source = device.alloc::<u32>(1024).unwrap();
    let mut target = device.alloc::<u32>(1024).unwrap();
    stream
        .upload(&mut source.as_view_mut(), &(0..1024).collect::<Vec<u32>>())
        .unwrap();
    let capture = stream.begin_capture().unwrap();
    stream.memset(&mut target.as_view_mut(), 0xff).unwrap();
    stream
        .copy(
            &source.slice(0..512).unwrap(),
            &mut target.slice_mut(0..512).unwrap(),
        )
        .unwrap();
    let graph = capture.end().unwrap();
    assert_eq!(graph.node_count().unwrap(), 2);
    let exec = graph.instantiate().unwrap();
    for _ in 0..3 {
        // SAFETY: both buffers outlive the launches (synchronised below).
        unsafe { exec.launch(&stream) }.unwrap();
    }
    stream.synchronize().unwrap();
    let mut back = vec![0u32; 1024];
    stream.download(&target.as_view(), &mut back).unwrap();
    assert!(back[..512].iter().enumerate().all(|(i, &x)| x == i as u32));
    assert!(back[512..].iter().all(|&x| x == u32::MAX));
    drop((exec, graph));
    no_deferred_errors(&device);
}

#[test]
fn threads_share_a_device() {
    let Some(device) = gpu("threads_share_a_device") else {
        return;
    };
    std::thread::scope(|scope| {
        for t in 0..8u32 {
            let device = device.clone();
            scope.spawn(move || {
                // Each thread binds the device on first use (HIP's per-thread state).
                let stream = Stream::new(&device).unwrap();
                let data: Vec<u32> = (0..4096).map(|i| i * 4 + t).collect();
                let mut buffer = device.alloc::<u32>(data.len()).unwrap();
                stream.upload(&mut buffer.as_view_mut(), &data).unwrap();
                let mut back = vec![0u32; data.len()];
                stream.download(&buffer.as_view(), &mut back).unwrap();
                assert_eq!(back, data);
            });
        }
    });
    no_deferred_errors(&device);
}

/// A byte pattern that differs between neighbouring bytes and between sizes.
fn pattern(len: usize, seed: u64) -> impl Iterator<Item = u8> {
    (0..len as u64).map(move |i| ((i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed) >> 29) as u8)
}

#[test]
fn round_trips_are_bit_exact_from_one_byte_to_4_gib() {
    let Some(device) = gpu("round_trips_are_bit_exact_from_one_byte_to_4_gib") else {
        return;
    };
    let stream = Stream::new(&device).unwrap();
    for (seed, len) in [1usize, 7, 4099, 1 << 20, 256 << 20, 4 << 30]
        .into_iter()
        .enumerate()
    {
        let mut host = PinnedBuffer::<u8>::new(&device, len).unwrap();
        for (slot, value) in host.iter_mut().zip(pattern(len, seed as u64)) {
            *slot = value;
        }
        let mut buffer = device.alloc::<u8>(len).unwrap();
        stream
            .upload_async(buffer.as_view_mut(), &host)
            .unwrap()
            .wait()
            .unwrap();
        let mut back = PinnedBuffer::<u8>::new(&device, len).unwrap();
        stream
            .download_async(buffer.as_view(), &mut back)
            .unwrap()
            .wait()
            .unwrap();
        assert!(back[..] == host[..], "pinned round trip of {len} bytes");
        if len <= 256 << 20 {
            // Pageable memory, the other way round: down from the device first.
            let mut pageable = vec![0u8; len];
            stream.download(&buffer.as_view(), &mut pageable).unwrap();
            assert!(pageable[..] == host[..], "pageable download of {len} bytes");
            pageable.iter_mut().for_each(|b| *b = !*b);
            stream.upload(&mut buffer.as_view_mut(), &pageable).unwrap();
            stream
                .download_async(buffer.as_view(), &mut back)
                .unwrap()
                .wait()
                .unwrap();
            assert!(back[..] == pageable[..], "pageable upload of {len} bytes");
        }
        eprintln!("{len} bytes: bit-exact both ways");
    }
    no_deferred_errors(&device);
}

#[test]
fn arena_slots_beyond_1_gib_round_trip() {
    let Some(device) = gpu("arena_slots_beyond_1_gib_round_trip") else {
        return;
    };
    let stream = Stream::new(&device).unwrap();
    let arena = Arena::new(&device, 3 << 30).unwrap();
    let _below = arena.alloc::<u8>((1 << 30) + (512 << 20)).unwrap();
    let mut middle = arena.alloc::<u32>(16 << 20).unwrap(); // 64 MiB at 1.5 GiB
    let _filler = arena.alloc::<u8>(1 << 30).unwrap();
    let mut last = arena.alloc::<u8>(300 << 20).unwrap(); // ends near 2.9 GiB
    assert_eq!(arena.stats().device_allocations, 1);
    let words: Vec<u32> = (0..middle.len() as u32)
        .map(|i| i.wrapping_mul(2_654_435_761))
        .collect();
    stream.upload(&mut middle.as_view_mut(), &words).unwrap();
    let bytes: Vec<u8> = pattern(last.len(), 9).collect();
    stream.upload(&mut last.as_view_mut(), &bytes).unwrap();
    let mut words_back = vec![0u32; words.len()];
    stream.download(&middle.as_view(), &mut words_back).unwrap();
    let mut bytes_back = vec![0u8; bytes.len()];
    stream.download(&last.as_view(), &mut bytes_back).unwrap();
    assert!(
        words_back == words && bytes_back == bytes,
        "slots past 1 GiB of a chunk"
    );
    no_deferred_errors(&device);
}

#[test]
fn arena_holds_10000_tensors_in_few_allocations() {
    let Some(device) = gpu("arena_holds_10000_tensors_in_few_allocations") else {
        return;
    };
    let arena = Arena::with_default_chunks(&device).unwrap();
    // Sizes like a model's tensors: many small (norms, biases), some large.
    let sizes = (0..10_000u64).map(|i| match i % 10 {
        0 => 2 << 20,
        1 | 2 => 512 << 10,
        _ => (i * 7919 % 64 + 1) << 10,
    } as usize);
    let buffers: Vec<_> = sizes
        .map(|bytes| arena.alloc::<u8>(bytes).unwrap())
        .collect();
    let stats = arena.stats();
    eprintln!("{stats:?}");
    assert_eq!(stats.live_slots, 10_000);
    assert!(stats.device_allocations <= 8, "{stats:?}");
    drop(buffers);
    assert_eq!(arena.stats().used_bytes, 0);
    no_deferred_errors(&device);
}

/// Loads `sizes` tensors into a fresh arena, failing where a size cannot be
/// allocated: everything allocated so far must be released by the error path.
fn load(device: &Device, sizes: &[usize]) -> Result<(Arena, Vec<DeviceBuffer<u8>>), Error> {
    let stream = Stream::new(device)?;
    let arena = Arena::new(device, 256 << 20)?;
    let mut tensors = Vec::new();
    for &bytes in sizes {
        let mut tensor = arena.alloc::<u8>(bytes)?;
        let data = vec![0x5au8; bytes.min(1 << 20)];
        stream.upload(&mut tensor.slice_mut(..data.len())?, &data)?;
        tensors.push(tensor);
    }
    Ok((arena, tensors))
}

#[test]
fn failed_load_gives_back_all_memory() {
    let Some(device) = gpu("failed_load_gives_back_all_memory") else {
        return;
    };
    device.synchronize().unwrap();
    let (free_before, _) = device.memory_info().unwrap();
    let mut sizes = vec![24 << 20; 60]; // 1.4 GiB in six chunks
    sizes.insert(40, 1 << 50); // a tensor no GPU can hold, in the middle
    let error = load(&device, &sizes).err().expect("the load fails");
    eprintln!("injected failure: {error}");
    device.synchronize().unwrap();
    let (free_after, _) = device.memory_info().unwrap();
    eprintln!("free before {free_before}, after {free_after}");
    assert!(
        free_after + (8 << 20) >= free_before,
        "{free_before} -> {free_after}"
    );
    no_deferred_errors(&device);
}

/// A hand-written PTX kernel: `*p = v` (NVIDIA only; AMD loads code objects).
const STORE_PTX: &str = "
.version 8.0
.target sm_80
.address_size 64
.visible .entry rf_test_store(.param .u64 p, .param .u32 v)
{
    .reg .b64 %rd<3>;
    .reg .b32 %r<2>;
    ld.param.u64 %rd1, [p];
    ld.param.u32 %r1, [v];
    cvta.to.global.u64 %rd2, %rd1;
    st.global.u32 [%rd2], %r1;
    ret;
}
";

#[test]
fn ptx_text_loads_and_runs_on_nvidia() {
    let Some(device) = gpu("ptx_text_loads_and_runs_on_nvidia") else {
        return;
    };
    if device.platform().unwrap() != rocmforge_hip::Platform::Nvidia {
        eprintln!("ptx_text_loads_and_runs_on_nvidia: skipped: PTX is NVIDIA's");
        return;
    }
    let stream = Stream::new(&device).unwrap();
    // No trailing NUL: `Module::load` adds the one the driver needs.
    let module = Module::load(&device, STORE_PTX.as_bytes()).unwrap();
    let store = module.function("rf_test_store").unwrap();
    assert!(matches!(
        module.function("absent"),
        Err(Error::KernelNotFound { .. })
    ));
    let target = device.alloc::<u32>(1).unwrap();
    let value = 0xC0FFEEu32;
    let config = rocmforge_hip::LaunchConfig::for_elements(1, 1).unwrap();
    // SAFETY: rf_test_store(u32* p, u32 v) writes one u32 to p.
    unsafe { stream.launch(&store).arg(&target).arg(&value).run(config) }.unwrap();
    let mut back = [0u32];
    stream.download(&target.as_view(), &mut back).unwrap();
    assert_eq!(back[0], value);
}
