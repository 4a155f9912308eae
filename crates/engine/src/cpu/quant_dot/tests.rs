use half::f16;
use proptest::prelude::*;
use rocmforge_gguf::GgmlType;
use rocmforge_gguf::quant::{can_quantize, dequantize, quantize};

use super::*;

/// Every weight type with a kernel.
const TYPES: [GgmlType; 16] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::IQ4_NL,
    GgmlType::IQ4_XS,
    GgmlType::MXFP4,
];

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [-1, 1).
    fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    /// Roughly normal, with an occasional outlier like real weights.
    fn value(&mut self) -> f32 {
        let v: f32 = (0..4).map(|_| self.uniform()).sum();
        if self.next().is_multiple_of(97) {
            v * 6.0
        } else {
            v
        }
    }

    fn values(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.value()).collect()
    }
}

/// Random weights of `ty`: quantized random values, or random bytes with sane
/// scales for types that have no quantizer.
fn weights(ty: GgmlType, rows: usize, cols: usize, rng: &mut Rng) -> Vec<u8> {
    let n = rows * cols;
    let bytes = n / ty.block_size() * ty.type_size();
    let mut out = vec![0u8; bytes];
    if can_quantize(ty) {
        quantize(ty, &rng.values(n), &mut out).unwrap();
        return out;
    }
    for b in &mut out {
        *b = rng.next() as u8;
    }
    // IQ4_NL and IQ4_XS keep their f16 scale in the first two bytes of each block.
    assert!(matches!(ty, GgmlType::IQ4_NL | GgmlType::IQ4_XS));
    for blk in out.chunks_exact_mut(ty.type_size()) {
        let d = f16::from_f32(0.001 + 0.01 * rng.uniform().abs());
        blk[..2].copy_from_slice(&d.to_le_bytes());
    }
    out
}

fn deq(ty: GgmlType, bytes: &[u8], n: usize) -> Vec<f64> {
    let mut out = vec![0f32; n];
    dequantize(ty, bytes, &mut out).unwrap();
    out.into_iter().map(f64::from).collect()
}

/// ggml's result in exact arithmetic, and `Σ |w·a|` to measure errors against.
/// For Q8_1 activations ggml uses the stored f16 `s` in place of `d · Σq`.
fn reference(w: &WeightMatrix, wd: &[f64], acts: &QuantizedActs, r: usize, t: usize) -> (f64, f64) {
    let aty = acts.format().ggml_type();
    let ad = deq(aty, acts.row(t), w.cols);
    let row = &wd[r * w.cols..(r + 1) * w.cols];
    let mut dot: f64 = row.iter().zip(&ad).map(|(x, y)| x * y).sum();
    let mag: f64 = row.iter().zip(&ad).map(|(x, y)| (x * y).abs()).sum();
    if acts.format() == ActFormat::Q8_1 {
        let wrow = w.row(r);
        for (b, ab) in acts.row(t).chunks_exact(36).enumerate() {
            let wb = &wrow[b * w.ty.type_size()..];
            let m = f64::from(f16::from_le_bytes([wb[2], wb[3]]).to_f32());
            let d = f64::from(f16::from_le_bytes([ab[0], ab[1]]).to_f32());
            let s = f64::from(f16::from_le_bytes([ab[2], ab[3]]).to_f32());
            let qsum: f64 = ab[4..].iter().map(|&q| f64::from(q as i8)).sum();
            dot += m * (s - d * qsum);
        }
    }
    (dot, mag)
}

fn run(w: &WeightMatrix, acts: &QuantizedActs, level: Level) -> Vec<f32> {
    let mut out = vec![f32::NAN; w.rows * acts.rows()];
    matmul_with(w, acts, 0..w.rows, &mut out, level, Summation::Batch);
    out
}

fn levels() -> Vec<Level> {
    let mut l = vec![Level::Scalar];
    if simd_level() != Level::Scalar {
        l.push(simd_level());
    }
    l
}

/// Checks every type at every level against the exact reference and against the
/// unquantized activations.
fn check_against_reference(rows: usize, cols: usize, tokens: usize, seed: u64) {
    let mut rng = Rng(seed);
    for ty in TYPES {
        let data = weights(ty, rows, cols, &mut rng);
        let w = WeightMatrix::new(ty, rows, cols, &data).unwrap();
        let wd = deq(ty, &data, rows * cols);
        let x = rng.values(tokens * cols);
        let mut acts = QuantizedActs::new(act_format(ty).unwrap());
        acts.quantize(&x, cols);
        assert_eq!((acts.rows(), acts.cols()), (tokens, cols));
        for level in levels() {
            let out = run(&w, &acts, level);
            for t in 0..tokens {
                for r in 0..rows {
                    let got = f64::from(out[t * rows + r]);
                    let (exact, mag) = reference(&w, &wd, &acts, r, t);
                    let err = (got - exact).abs() / (mag + 1e-30);
                    assert!(
                        err <= 1e-4,
                        "{ty} {level:?} row {r} token {t}: {got} vs {exact} (rel {err:e})"
                    );
                    let xr = &x[t * cols..(t + 1) * cols];
                    let wr = &wd[r * cols..(r + 1) * cols];
                    let plain: f64 = wr.iter().zip(xr).map(|(a, &b)| a * f64::from(b)).sum();
                    let pmag: f64 = wr
                        .iter()
                        .zip(xr)
                        .map(|(a, &b)| (a * f64::from(b)).abs())
                        .sum();
                    let perr = (got - plain).abs() / (pmag + 1e-30);
                    assert!(
                        perr <= 2e-2,
                        "{ty} {level:?} vs f32 activations: rel {perr:e}"
                    );
                }
            }
        }
    }
}

#[test]
fn every_type_matches_reference_one_token() {
    check_against_reference(37, 512, 1, 1);
}

#[test]
fn every_type_matches_reference_seven_tokens() {
    check_against_reference(37, 512, 7, 2);
}

#[test]
fn every_type_matches_reference_parallel() {
    // Large enough to take the multi-threaded paths.
    check_against_reference(301, 512, 1, 3);
    check_against_reference(45, 768, 5, 4);
}

#[test]
fn every_type_matches_reference_in_llama_cpp_orders() {
    // Rows a multiple of 8: the repacked order (4-token groups and single rows).
    check_against_reference(40, 512, 1, 6);
    check_against_reference(40, 512, 13, 7);
    // Eight tokens or more: the tiled K-quant order.
    check_against_reference(37, 512, 9, 8);
    check_against_reference(48, 768, 17, 9);
}

#[test]
fn simd_matches_scalar() {
    let Some(&simd) = levels().get(1) else {
        return;
    };
    let mut rng = Rng(5);
    let (rows, cols) = (19, 1024);
    for ty in TYPES {
        let data = weights(ty, rows, cols, &mut rng);
        let w = WeightMatrix::new(ty, rows, cols, &data).unwrap();
        for tokens in [1, 2, 3, 4, 6] {
            let mut acts = QuantizedActs::new(act_format(ty).unwrap());
            acts.quantize(&rng.values(tokens * cols), cols);
            let a = run(&w, &acts, Level::Scalar);
            let b = run(&w, &acts, simd);
            let wd = deq(ty, &data, rows * cols);
            for t in 0..tokens {
                for r in 0..rows {
                    let (_, mag) = reference(&w, &wd, &acts, r, t);
                    let (x, y) = (a[t * rows + r], b[t * rows + r]);
                    let err = f64::from((x - y).abs()) / (mag + 1e-30);
                    assert!(err <= 1e-5, "{ty} tokens {tokens} row {r}: {x} vs {y}");
                }
            }
        }
    }
}

#[test]
fn matmul_rows_matches_matmul() {
    let mut rng = Rng(6);
    let (rows, cols) = (50, 256);
    for ty in [GgmlType::Q4_0, GgmlType::Q6_K, GgmlType::F16] {
        let data = weights(ty, rows, cols, &mut rng);
        let w = WeightMatrix::new(ty, rows, cols, &data).unwrap();
        let mut acts = QuantizedActs::new(act_format(ty).unwrap());
        acts.quantize(&rng.values(3 * cols), cols);
        let mut full = vec![0f32; 3 * rows];
        matmul(&w, &acts, &mut full);
        let range = 7..31;
        let mut part = vec![0f32; 3 * range.len()];
        matmul_rows(&w, &acts, range.clone(), &mut part);
        for t in 0..3 {
            for r in range.clone() {
                assert_eq!(part[t * range.len() + r - range.start], full[t * rows + r]);
            }
        }
        let mut empty: [f32; 0] = [];
        matmul_rows(&w, &acts, 5..5, &mut empty);
    }
}

/// The Q8_0 quantizer rounds ties to even, as ggml's AVX2 path does (the generic
/// reference rounds them away from zero).
#[test]
fn q8_0_rounds_ties_to_even() {
    let mut x = [0f32; 32];
    x[0] = 127.0; // scale 1: the multiplier is exactly 1
    let ties = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, -3.5];
    x[1..9].copy_from_slice(&ties);
    let mut acts = QuantizedActs::new(ActFormat::Q8_0);
    acts.quantize(&x, 32);
    let q: Vec<i8> = acts.row(0)[2..11].iter().map(|&b| b as i8).collect();
    assert_eq!(q, [127, 0, 2, 2, 0, -2, -2, 126, -4]);
    assert_eq!(
        f16::from_le_bytes([acts.row(0)[0], acts.row(0)[1]]).to_f32(),
        1.0
    );

    // The generic reference differs on exactly these ties.
    let mut generic = [0u8; 34];
    quantize(GgmlType::Q8_0, &x, &mut generic).unwrap();
    assert_eq!(generic[3] as i8, 1);

    let mut acts1 = QuantizedActs::new(ActFormat::Q8_1);
    acts1.quantize(&x, 32);
    let row = acts1.row(0);
    let q1: Vec<i8> = row[4..13].iter().map(|&b| b as i8).collect();
    assert_eq!(q1, q);
    let sum: i32 = row[4..36].iter().map(|&b| i32::from(b as i8)).sum();
    assert_eq!(
        f16::from_le_bytes([row[2], row[3]]).to_f32(),
        f16::from_f32(sum as f32).to_f32()
    );

    // All zeros: zero scale and values.
    acts.quantize(&[0.0; 64], 64);
    assert!(acts.row(0).iter().all(|&b| b == 0));
}

#[test]
fn q8_k_matches_reference_quantizer() {
    let mut rng = Rng(7);
    let x = rng.values(4 * 256);
    let mut acts = QuantizedActs::new(ActFormat::Q8_K);
    acts.quantize(&x, 512);
    let mut expect = vec![0u8; 4 * 292];
    quantize(GgmlType::Q8_K, &x, &mut expect).unwrap();
    assert_eq!([acts.row(0), acts.row(1)].concat(), expect);
}

#[test]
fn half_formats_round_to_nearest_even() {
    let x = [1.0 + 1.0 / 2048.0, 1.0 + 3.0 / 2048.0, f32::MAX, -0.0];
    let mut acts = QuantizedActs::new(ActFormat::F16);
    acts.quantize(&x, 4);
    let got: Vec<f16> = acts
        .row(0)
        .chunks(2)
        .map(|b| f16::from_le_bytes([b[0], b[1]]))
        .collect();
    assert_eq!(got[0].to_f32(), 1.0);
    assert_eq!(got[1].to_f32(), 1.0 + 2.0 / 1024.0);
    assert!(got[2].is_infinite());
    let mut bf = QuantizedActs::new(ActFormat::BF16);
    bf.quantize(&x, 2);
    assert_eq!(bf.rows(), 2);
}

#[test]
fn activation_buffer_is_reused() {
    let mut acts = QuantizedActs::new(ActFormat::Q8_0);
    acts.quantize(&[1.0; 64 * 4], 64);
    let cap = acts.buf.capacity();
    let ptr = acts.buf.as_ptr();
    acts.quantize(&[2.0; 64], 64);
    assert_eq!(
        (acts.rows(), acts.buf.capacity(), acts.buf.as_ptr()),
        (1, cap, ptr)
    );
}

#[test]
fn weight_matrix_checks_shape() {
    let data = vec![0u8; 2 * 18 * 2];
    assert!(WeightMatrix::new(GgmlType::Q4_0, 2, 64, &data).is_ok());
    let e = WeightMatrix::new(GgmlType::Q4_0, 2, 48, &data).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Q4_0: 48 columns is not a multiple of the block size 32"
    );
    let e = WeightMatrix::new(GgmlType::Q4_0, 3, 64, &data).unwrap_err();
    assert_eq!(e.to_string(), "Q4_0: 3x64 matrix needs 108 bytes, got 72");
    let e = WeightMatrix::new(GgmlType::IQ2_XXS, 1, 256, &data).unwrap_err();
    assert!(matches!(e, MatrixError::UnsupportedType(GgmlType::IQ2_XXS)));
    let e = WeightMatrix::new(GgmlType::Q4_0, usize::MAX, 64, &data).unwrap_err();
    assert!(matches!(e, MatrixError::LengthMismatch { .. }));
    assert_eq!(act_format(GgmlType::Q8_K), None);
}

#[test]
#[should_panic(expected = "activation width")]
fn quantize_rejects_partial_blocks() {
    QuantizedActs::new(ActFormat::Q8_K).quantize(&[0.0; 128], 128);
}

#[test]
#[should_panic(expected = "need other activations")]
fn matmul_rejects_wrong_format() {
    let data = vec![0u8; 18];
    let w = WeightMatrix::new(GgmlType::Q4_0, 1, 32, &data).unwrap();
    let mut acts = QuantizedActs::new(ActFormat::Q8_1);
    acts.quantize(&[0.0; 32], 32);
    matmul(&w, &acts, &mut [0.0]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_shapes_agree(
        ty_index in 0..TYPES.len(),
        rows in 1usize..40,
        blocks in 1usize..4,
        tokens in 1usize..9,
        seed in 1u64..u64::MAX,
    ) {
        let ty = TYPES[ty_index];
        let cols = blocks * 256;
        let mut rng = Rng(seed);
        let data = weights(ty, rows, cols, &mut rng);
        let w = WeightMatrix::new(ty, rows, cols, &data).unwrap();
        let wd = deq(ty, &data, rows * cols);
        let mut acts = QuantizedActs::new(act_format(ty).unwrap());
        acts.quantize(&rng.values(tokens * cols), cols);
        let mut out = vec![0f32; rows * tokens];
        matmul(&w, &acts, &mut out);
        for t in 0..tokens {
            for r in 0..rows {
                let (exact, mag) = reference(&w, &wd, &acts, r, t);
                let got = f64::from(out[t * rows + r]);
                prop_assert!((got - exact).abs() <= 1e-4 * mag + 1e-30, "{} {} vs {}", ty, got, exact);
            }
        }
    }
}

/// The eight-row kernels give each row exactly what the one-row kernels give it
/// (both follow llama.cpp's repacked order), for every tile size.
#[cfg(target_arch = "x86_64")]
#[test]
fn eight_row_kernels_sum_like_the_one_row_kernels() {
    if simd_level() != Level::Avx2 {
        return;
    }
    let mut rng = Rng(11);
    let (rows, cols) = (40, 512);
    for ty in [
        GgmlType::Q4_0,
        GgmlType::IQ4_NL,
        GgmlType::MXFP4,
        GgmlType::Q4_K,
    ] {
        let data = weights(ty, rows, cols, &mut rng);
        let w = WeightMatrix::new(ty, rows, cols, &data).unwrap();
        let one_row = x86::repacked_kernel(ty).unwrap();
        assert!(x86::repacked_rows8_kernel(ty).is_some());
        for tokens in 1..=TILE {
            let mut acts = QuantizedActs::new(act_format(ty).unwrap());
            acts.quantize(&rng.values(tokens * cols), cols);
            // Rows 3.. leave a remainder for the one-row kernel too.
            let range = 3..rows;
            let mut out = vec![f32::NAN; range.len() * tokens];
            matmul_with(
                &w,
                &acts,
                range.clone(),
                &mut out,
                Level::Avx2,
                Summation::Batch,
            );
            let tile: Vec<&[u8]> = (0..tokens).map(|t| acts.row(t)).collect();
            // As `run_chunk` splits them: whole groups of four tokens, then singles.
            let gemm = tokens - tokens % 4;
            for r in range.clone() {
                let mut want = vec![0f32; tokens];
                one_row(w.row(r), &tile, &mut want, gemm);
                for (t, want) in want.iter().enumerate() {
                    let got = out[t * range.len() + r - range.start];
                    assert_eq!(
                        got.to_bits(),
                        want.to_bits(),
                        "{ty} {tokens} tokens, row {r}"
                    );
                }
            }
        }
    }
}

#[test]
#[cfg(target_arch = "x86_64")]
fn four_row_kernels_sum_like_the_one_row_kernel() {
    if simd_level() != Level::Avx2 {
        return;
    }
    let mut rng = Rng(12);
    let (rows, cols) = (8, 640);
    for ty in [
        GgmlType::Q8_0,
        GgmlType::Q4_0,
        GgmlType::Q5_0,
        GgmlType::IQ4_NL,
        GgmlType::MXFP4,
    ] {
        let data = weights(ty, rows, cols, &mut rng);
        let w = WeightMatrix::new(ty, rows, cols, &data).unwrap();
        let one_row = x86::kernel(ty).unwrap();
        // The AVX2 variant always; the VNNI one where the CPU has it.
        let mut variants = vec![("avx2", x86::rows4_avx2_kernel(ty).unwrap())];
        if x86::has_vnni() {
            variants.push(("vnni", x86::rows4_kernel(ty).unwrap()));
        }
        for tokens in 1..=TILE {
            let mut acts = QuantizedActs::new(act_format(ty).unwrap());
            acts.quantize(&rng.values(tokens * cols), cols);
            let tile: Vec<&[u8]> = (0..tokens).map(|t| acts.row(t)).collect();
            for (name, four_rows) in &variants {
                for r0 in [0, 4] {
                    let four: [&[u8]; 4] = std::array::from_fn(|i| w.row(r0 + i));
                    let mut got = vec![f32::NAN; tokens * 4];
                    four_rows(&four, &tile, &mut got);
                    for i in 0..4 {
                        let mut want = vec![0f32; tokens];
                        one_row(w.row(r0 + i), &tile, &mut want);
                        for (t, want) in want.iter().enumerate() {
                            assert_eq!(
                                got[t * 4 + i].to_bits(),
                                want.to_bits(),
                                "{ty} {name} {tokens} tokens, row {}",
                                r0 + i
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
#[cfg(target_arch = "x86_64")]
fn eight_row_variants_sum_alike() {
    if simd_level() != Level::Avx2 {
        return;
    }
    let mut rng = Rng(13);
    let (rows, cols) = (8, 512);
    for ty in [
        GgmlType::Q4_0,
        GgmlType::IQ4_NL,
        GgmlType::MXFP4,
        GgmlType::Q4_K,
    ] {
        let data = weights(ty, rows, cols, &mut rng);
        let w = WeightMatrix::new(ty, rows, cols, &data).unwrap();
        let eight: [&[u8]; 8] = std::array::from_fn(|r| w.row(r));
        // The AVX2 variant and the one this CPU gets (VNNI where it has it).
        let avx2 = x86::avx2_rows8_kernel(ty).unwrap();
        let best = x86::repacked_rows8_kernel(ty).unwrap();
        for tokens in 1..=TILE {
            let mut acts = QuantizedActs::new(act_format(ty).unwrap());
            acts.quantize(&rng.values(tokens * cols), cols);
            let tile: Vec<&[u8]> = (0..tokens).map(|t| acts.row(t)).collect();
            let gemm = tokens - tokens % 4;
            let mut want = vec![f32::NAN; tokens * 8];
            let mut got = vec![f32::NAN; tokens * 8];
            avx2(&eight, &tile, &mut want, gemm);
            best(&eight, &tile, &mut got, gemm);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(g.to_bits(), w.to_bits(), "{ty} {tokens} tokens, output {i}");
            }
        }
    }
}

#[test]
fn interleaved_rows_sum_as_the_plain_rows() {
    let mut rng = Rng(17);
    for (ty, cols) in [(GgmlType::Q4_0, 256), (GgmlType::Q4_K, 512)] {
        let rows = 48;
        let data = weights(ty, rows, cols, &mut rng);
        let Some(regrouped) = interleave(ty, &data, rows, cols) else {
            eprintln!("no interleaved {ty} kernel on this CPU: nothing to compare");
            continue;
        };
        let row_bytes = data.len() / rows;
        assert!(
            interleave(ty, &data[..7 * row_bytes], 7, cols).is_none(),
            "7 rows"
        );
        let plain = WeightMatrix::new(ty, rows, cols, &data).unwrap();
        let grouped = plain.with_interleaved(Some(&regrouped));
        for tokens in [1, 2, 3, 4, 5, 8, 9, 13] {
            let mut acts = QuantizedActs::new(act_format(ty).unwrap());
            acts.quantize(&rng.values(tokens * cols), cols);
            // Whole matrices (several threads), and row ranges that start off a group.
            for range in [0..rows, 8..40, 3..29] {
                let n = range.len() * tokens;
                let (mut want, mut got) = (vec![f32::NAN; n], vec![f32::NAN; n]);
                matmul_rows(&plain, &acts, range.clone(), &mut want);
                matmul_rows(&grouped, &acts, range.clone(), &mut got);
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(
                        g.to_bits(),
                        w.to_bits(),
                        "{ty}: {tokens} tokens, rows {range:?}, output {i}"
                    );
                }
            }
        }
    }
}

#[test]
fn per_token_sums_equal_one_token_products() {
    // Sequences decoded together must get the results they get alone, for every
    // type, at batch sizes that cross the 4-token groups and the 8-token tiled
    // threshold, with and without regrouped rows.
    let mut rng = Rng(23);
    let (rows, cols) = (40, 512);
    for ty in TYPES {
        let data = weights(ty, rows, cols, &mut rng);
        let plain = WeightMatrix::new(ty, rows, cols, &data).unwrap();
        let regrouped = interleave(ty, &data, rows, cols);
        let grouped = plain.with_interleaved(regrouped.as_deref());
        for w in [&plain, &grouped] {
            for tokens in [2, 4, 5, 8, 9, 16] {
                let x = rng.values(tokens * cols);
                let mut acts = QuantizedActs::new(act_format(ty).unwrap());
                acts.quantize(&x, cols);
                let mut got = vec![f32::NAN; rows * tokens];
                matmul_as(w, &acts, &mut got, Summation::PerToken);
                for t in 0..tokens {
                    let mut one = QuantizedActs::new(act_format(ty).unwrap());
                    one.quantize(&x[t * cols..(t + 1) * cols], cols);
                    let mut want = vec![f32::NAN; rows];
                    matmul(w, &one, &mut want);
                    for (r, (g, w)) in got[t * rows..(t + 1) * rows].iter().zip(&want).enumerate() {
                        assert_eq!(
                            g.to_bits(),
                            w.to_bits(),
                            "{ty}: token {t} of {tokens}, row {r}"
                        );
                    }
                }
            }
        }
    }
}
