//! Sampling speed on a Gemma-sized vocabulary (262,144 logits).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, SeedableRng};
use rocmforge_engine::sampling::{Sampler, SamplerConfig};

const VOCAB: usize = 262_144;

/// Logits roughly normal with standard deviation 3 (sum of four uniforms), like a model's.
fn random_logits(seed: u64) -> Vec<f32> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut unit = || (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
    (0..VOCAB)
        .map(|_| (unit() + unit() + unit() + unit() - 2.0) * 5.2)
        .collect()
}

fn bench(c: &mut Criterion) {
    let logits = random_logits(1);
    let cases = [
        ("greedy", SamplerConfig::greedy()),
        ("default", SamplerConfig::default()),
        (
            "default+penalties",
            SamplerConfig {
                repeat_penalty: 1.1,
                presence_penalty: 0.5,
                frequency_penalty: 0.5,
                ..SamplerConfig::default()
            },
        ),
        (
            "no_top_k",
            SamplerConfig {
                top_k: 0,
                ..SamplerConfig::default()
            },
        ),
    ];
    let mut group = c.benchmark_group("sample_262144");
    for (name, config) in cases {
        let mut sampler = Sampler::new(SamplerConfig {
            seed: Some(7),
            ..config
        })
        .expect("valid config");
        for t in 0..64u32 {
            sampler.accept(t * 4099 % VOCAB as u32);
        }
        group.bench_function(name, |b| b.iter(|| sampler.sample(black_box(&logits))));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
