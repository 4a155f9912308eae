use super::penalties::PenaltyWindow;
use super::*;
use proptest::prelude::*;

/// A config with every filter off and the given temperature and seed.
fn plain(temperature: f32) -> SamplerConfig {
    SamplerConfig {
        temperature,
        top_k: 0,
        top_p: 1.0,
        min_p: 0.0,
        seed: Some(7),
        ..SamplerConfig::default()
    }
}

fn ln(probs: &[f32]) -> Vec<f32> {
    probs.iter().map(|p| p.ln()).collect()
}

fn survivors(config: SamplerConfig, logits: &[f32]) -> Vec<u32> {
    Sampler::new(config).unwrap().survivors(logits)
}

/// Straightforward llama.cpp chain: full sort, truncate to k, top-p on the softmax of the
/// rest, then min-p, each stage on the previous one's output.
fn reference_survivors(logits: &[f32], config: &SamplerConfig) -> Vec<u32> {
    let mut c: Vec<(f32, u32)> = logits
        .iter()
        .enumerate()
        .filter(|(_, x)| **x > f32::NEG_INFINITY)
        .map(|(i, &x)| (x + 0.0, i as u32))
        .collect();
    c.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let top_k_active = config.top_k_for(logits.len()).is_some();
    if let Some(k) = config.top_k_for(logits.len()) {
        c.truncate(k);
    }
    if c.is_empty() {
        return Vec::new();
    }
    let max = c[0].0;
    if config.top_p < 1.0 {
        // Same summation order as the sampler: survivors in rank order after top-k,
        // every token in id order without it.
        let sum: f32 = if top_k_active {
            c.iter().map(|&(x, _)| weight(x, max, 1.0)).sum()
        } else {
            logits
                .iter()
                .filter(|x| !x.is_nan())
                .map(|&x| weight(x, max, 1.0))
                .sum()
        };
        let mut cum = 0.0f32;
        let mut keep = c.len();
        for (i, &(x, _)) in c.iter().enumerate() {
            cum += weight(x, max, 1.0) / sum;
            if cum >= config.top_p {
                keep = i + 1;
                break;
            }
        }
        c.truncate(keep);
    }
    if config.min_p > 0.0 {
        let bar = max + config.min_p.ln();
        let keep = 1 + c[1..].iter().take_while(|&&(x, _)| x >= bar).count();
        c.truncate(keep);
    }
    c.into_iter().map(|(_, id)| id).collect()
}

// ---- configuration ----

#[test]
fn defaults_match_llama_cpp() {
    let c = SamplerConfig::default();
    assert_eq!(c.temperature, 0.8);
    assert_eq!(c.top_k, 40);
    assert_eq!(c.top_p, 0.95);
    assert_eq!(c.min_p, 0.05);
    assert_eq!(c.repeat_penalty, 1.0);
    assert_eq!(c.repeat_last_n, 64);
    assert_eq!(c.presence_penalty, 0.0);
    assert_eq!(c.frequency_penalty, 0.0);
    assert_eq!(c.seed, None);
    assert!(c.validate().is_ok());
    let g = SamplerConfig::greedy();
    assert_eq!(g.temperature, 0.0);
    assert!(g.validate().is_ok());
}

#[test]
fn validation_rejects_bad_values_and_names_them() {
    let d = SamplerConfig::default;
    let cases: Vec<(SamplerConfig, SamplerError, &str)> = vec![
        (
            SamplerConfig {
                temperature: f32::NAN,
                ..d()
            },
            SamplerError::Temperature(f32::NAN),
            "(--temp) NaN",
        ),
        (
            SamplerConfig {
                temperature: f32::INFINITY,
                ..d()
            },
            SamplerError::Temperature(f32::INFINITY),
            "--temp",
        ),
        (
            SamplerConfig { top_p: 0.0, ..d() },
            SamplerError::TopP(0.0),
            "--top-p) 0",
        ),
        (
            SamplerConfig { top_p: 1.5, ..d() },
            SamplerError::TopP(1.5),
            "--top-p) 1.5",
        ),
        (
            SamplerConfig { top_p: -0.1, ..d() },
            SamplerError::TopP(-0.1),
            "-0.1",
        ),
        (
            SamplerConfig { min_p: 1.5, ..d() },
            SamplerError::MinP(1.5),
            "--min-p) 1.5",
        ),
        (
            SamplerConfig {
                repeat_penalty: -1.0,
                ..d()
            },
            SamplerError::RepeatPenalty(-1.0),
            "--repeat-penalty) -1",
        ),
        (
            SamplerConfig {
                repeat_penalty: 0.0,
                ..d()
            },
            SamplerError::RepeatPenalty(0.0),
            "--repeat-penalty) 0",
        ),
        (
            SamplerConfig {
                presence_penalty: f32::INFINITY,
                ..d()
            },
            SamplerError::PresencePenalty(f32::INFINITY),
            "--presence-penalty) inf",
        ),
        (
            SamplerConfig {
                frequency_penalty: f32::NEG_INFINITY,
                ..d()
            },
            SamplerError::FrequencyPenalty(f32::NEG_INFINITY),
            "--frequency-penalty) -inf",
        ),
    ];
    for (config, expected, text) in cases {
        let err = config.validate().unwrap_err();
        // NaN != NaN, so compare the variant through its message.
        assert_eq!(err.to_string(), expected.to_string());
        assert!(err.to_string().contains(text), "{err} lacks {text}");
        assert!(Sampler::new(config).is_err());
    }
    // Values that disable a stage are fine.
    for config in [
        SamplerConfig {
            top_k: -5,
            min_p: -1.0,
            top_p: 1.0,
            temperature: -2.0,
            ..d()
        },
        SamplerConfig {
            repeat_penalty: 1.3,
            presence_penalty: -0.5,
            frequency_penalty: 2.0,
            ..d()
        },
    ] {
        assert!(config.validate().is_ok(), "{config:?}");
    }
}

// ---- greedy ----

#[test]
fn greedy_takes_argmax_and_lowest_id_on_ties() {
    let mut s = Sampler::new(SamplerConfig::greedy()).unwrap();
    assert_eq!(s.sample(&[0.1, 2.0, -1.0, 1.5]), 1);
    assert_eq!(s.sample(&[1.0, 3.0, 3.0, 2.0, 3.0]), 1);
    assert_eq!(s.sample(&[-0.0, 0.0]), 0);
    assert_eq!(s.sample(&[f32::NAN, -5.0, f32::NAN, -4.0]), 3);
    assert_eq!(s.sample(&[-1.0, f32::INFINITY, 5.0]), 1);
    assert_eq!(s.sample(&[f32::NEG_INFINITY; 3]), 0);
    assert_eq!(s.sample(&[]), 0);
    // Negative temperatures are greedy too.
    let mut s = Sampler::new(SamplerConfig {
        temperature: -1.0,
        ..SamplerConfig::default()
    })
    .unwrap();
    assert_eq!(s.sample(&[0.0, 0.5, 0.49]), 1);
}

#[test]
fn greedy_on_long_vectors_finds_the_first_maximum() {
    let mut logits: Vec<f32> = (0..1000).map(|i| ((i * 37) % 101) as f32 * 0.01).collect();
    logits[500] = f32::NAN;
    logits[613] = 7.0;
    logits[999] = 7.0;
    let mut s = Sampler::new(SamplerConfig::greedy()).unwrap();
    assert_eq!(s.sample(&logits), 613);
    logits[17] = 7.0;
    assert_eq!(s.sample(&logits), 17);
    logits[998] = f32::INFINITY;
    assert_eq!(s.sample(&logits), 998);
}

#[test]
fn greedy_uses_penalised_logits() {
    let config = SamplerConfig {
        repeat_penalty: 2.0,
        ..SamplerConfig::greedy()
    };
    let mut s = Sampler::new(config).unwrap();
    let logits = [3.0, 2.0, 1.0];
    assert_eq!(s.sample(&logits), 0);
    s.accept(0);
    // 3 / 2 = 1.5 < 2.
    assert_eq!(s.sample(&logits), 1);
    s.accept(1);
    // 1.5, 1.0, 1.0: token 0 wins again.
    assert_eq!(s.sample(&logits), 0);
    // The caller's logits are untouched.
    assert_eq!(logits, [3.0, 2.0, 1.0]);
    s.reset();
    assert_eq!(s.sample(&logits), 0);
}

// ---- penalties ----

#[test]
fn penalty_arithmetic_positive_and_negative_logits() {
    let mut w = PenaltyWindow::new(64);
    for t in [0, 1, 1, 2, 2, 2, 99] {
        w.push(t);
    }
    let mut logits = [2.0, -2.0, 0.0, 4.0];
    w.apply(&mut logits, 2.0, 0.5, 0.25);
    // token 0: 2 / 2 - (1 * 0.5 + 0.25)
    assert_eq!(logits[0], 1.0 - 0.75);
    // token 1: -2 * 2 - (2 * 0.5 + 0.25)
    assert_eq!(logits[1], -4.0 - 1.25);
    // token 2: 0 * 2 - (3 * 0.5 + 0.25)
    assert_eq!(logits[2], -1.75);
    // token 3: not in the window; token 99 is out of range and ignored.
    assert_eq!(logits[3], 4.0);

    // A penalty below 1 favours repeats: positive logits grow, negative ones shrink.
    let mut logits = [2.0, -2.0, 0.0, 4.0];
    w.apply(&mut logits, 0.5, 0.0, 0.0);
    assert_eq!(logits, [4.0, -1.0, 0.0, 4.0]);
}

#[test]
fn penalty_window_forgets_old_tokens() {
    let mut w = PenaltyWindow::new(3);
    for t in [5, 6, 5, 7] {
        w.push(t);
    }
    // Window is now [6, 5, 7].
    assert_eq!((w.count(5), w.count(6), w.count(7)), (1, 1, 1));
    w.push(8);
    assert_eq!(
        (w.count(5), w.count(6), w.count(7), w.count(8)),
        (1, 0, 1, 1)
    );
    w.clear();
    assert!(w.is_empty());
    assert_eq!(w.count(5), 0);

    let mut off = PenaltyWindow::new(0);
    off.push(1);
    assert!(off.is_empty());
}

#[test]
fn sampler_penalties_only_look_at_the_last_n_tokens() {
    let config = SamplerConfig {
        repeat_last_n: 2,
        presence_penalty: 10.0,
        ..SamplerConfig::greedy()
    };
    let mut s = Sampler::new(config).unwrap();
    let logits = [5.0, 4.0, 3.0, 0.0];
    for t in [0, 1, 2] {
        s.accept(t);
    }
    // Window [1, 2]: token 0 is back.
    assert_eq!(s.sample(&logits), 0);
    s.accept(3);
    s.accept(0);
    // Window [3, 0]: 5 - 10 < 4.
    assert_eq!(s.sample(&logits), 1);
}

#[test]
fn frequency_penalty_counts_occurrences() {
    let config = SamplerConfig {
        frequency_penalty: 1.0,
        ..SamplerConfig::greedy()
    };
    let mut s = Sampler::new(config).unwrap();
    for t in [0, 0, 0, 1] {
        s.accept(t);
    }
    // 10 - 3 = 7 against 8.5 - 1 = 7.5.
    assert_eq!(s.sample(&[10.0, 8.5, 7.4]), 1);
}

// ---- filters ----

#[test]
fn top_k_keeps_exactly_k_best_lowest_ids_first_on_ties() {
    let logits = [1.0, 5.0, 3.0, 5.0, 2.0, 3.0, -1.0];
    let k = |top_k| {
        survivors(
            SamplerConfig {
                top_k,
                ..plain(1.0)
            },
            &logits,
        )
    };
    assert_eq!(k(1), vec![1]);
    assert_eq!(k(2), vec![1, 3]);
    assert_eq!(k(3), vec![1, 3, 2]);
    assert_eq!(k(4), vec![1, 3, 2, 5]);
    // k at least the vocabulary, or <= 0: everything.
    let all = vec![1, 3, 2, 5, 4, 0, 6];
    assert_eq!(k(7), all);
    assert_eq!(k(100), all);
    assert_eq!(k(0), all);
    assert_eq!(k(-1), all);
}

#[test]
fn top_k_on_a_large_vocabulary_matches_a_full_sort() {
    // Ascending values are the worst case for the buffered selection.
    let n = 10_000;
    let ascending: Vec<f32> = (0..n).map(|i| (i / 3) as f32).collect();
    let got = survivors(
        SamplerConfig {
            top_k: 40,
            ..plain(1.0)
        },
        &ascending,
    );
    let want = reference_survivors(
        &ascending,
        &SamplerConfig {
            top_k: 40,
            ..plain(1.0)
        },
    );
    assert_eq!(got, want);
    assert_eq!(got[..4], [9999, 9996, 9997, 9998]);
    let descending: Vec<f32> = ascending.iter().rev().copied().collect();
    let got = survivors(
        SamplerConfig {
            top_k: 2000,
            ..plain(1.0)
        },
        &descending,
    );
    let want = reference_survivors(
        &descending,
        &SamplerConfig {
            top_k: 2000,
            ..plain(1.0)
        },
    );
    assert_eq!(got, want);
}

#[test]
fn top_p_keeps_the_smallest_prefix_reaching_p() {
    // Probabilities 0.5, 0.2, 0.15, 0.1, 0.05 in shuffled id order.
    let logits = ln(&[0.1, 0.5, 0.05, 0.2, 0.15]);
    let p = |top_p| {
        survivors(
            SamplerConfig {
                top_p,
                ..plain(1.0)
            },
            &logits,
        )
    };
    assert_eq!(p(0.3), vec![1]);
    assert_eq!(p(0.6), vec![1, 3]);
    assert_eq!(p(0.8), vec![1, 3, 4]);
    assert_eq!(p(0.9), vec![1, 3, 4, 0]);
    assert_eq!(p(0.99), vec![1, 3, 4, 0, 2]);
    assert_eq!(p(1.0), vec![1, 3, 4, 0, 2]);
}

#[test]
fn top_p_uses_probabilities_after_top_k() {
    let logits = ln(&[0.4, 0.3, 0.2, 0.1]);
    // Alone: 0.4 < 0.5 <= 0.7.
    assert_eq!(
        survivors(
            SamplerConfig {
                top_p: 0.5,
                ..plain(1.0)
            },
            &logits
        ),
        vec![0, 1]
    );
    // After top-k 2 the probabilities are 4/7 and 3/7: the first reaches 0.5.
    assert_eq!(
        survivors(
            SamplerConfig {
                top_k: 2,
                top_p: 0.5,
                ..plain(1.0)
            },
            &logits
        ),
        vec![0]
    );
}

#[test]
fn top_p_ignores_temperature() {
    let logits = ln(&[0.4, 0.3, 0.2, 0.1]);
    for t in [0.1, 1.0, 5.0] {
        assert_eq!(
            survivors(
                SamplerConfig {
                    top_p: 0.65,
                    ..plain(t)
                },
                &logits
            ),
            vec![0, 1]
        );
    }
}

#[test]
fn min_p_keeps_tokens_above_a_fraction_of_the_best() {
    let logits = ln(&[0.1, 0.5, 0.05, 0.2, 0.15]);
    let m = |min_p| {
        survivors(
            SamplerConfig {
                min_p,
                ..plain(1.0)
            },
            &logits,
        )
    };
    // Bars: 0.5 * min_p.
    assert_eq!(m(0.9), vec![1]);
    assert_eq!(m(0.35), vec![1, 3]);
    assert_eq!(m(0.25), vec![1, 3, 4]);
    assert_eq!(m(0.15), vec![1, 3, 4, 0]);
    assert_eq!(m(0.05), vec![1, 3, 4, 0, 2]);
    // min_p 1 keeps the best and its equals.
    assert_eq!(m(1.0), vec![1]);
    let tied = [2.0, 1.0, 2.0];
    assert_eq!(
        survivors(
            SamplerConfig {
                min_p: 1.0,
                ..plain(1.0)
            },
            &tied
        ),
        vec![0, 2]
    );
}

#[test]
fn filters_combine_to_the_shortest_prefix() {
    let logits = ln(&[0.1, 0.5, 0.05, 0.2, 0.15]);
    let config = |top_k, top_p, min_p| SamplerConfig {
        top_k,
        top_p,
        min_p,
        ..plain(1.0)
    };
    assert_eq!(survivors(config(4, 0.99, 0.25), &logits), vec![1, 3, 4]);
    assert_eq!(survivors(config(4, 0.6, 0.05), &logits), vec![1, 3]);
    assert_eq!(survivors(config(2, 0.99, 0.05), &logits), vec![1, 3]);
    // Default settings: top-p 0.95 would keep six tokens, min-p 0.05 cuts at 0.02 < 0.025.
    let logits = ln(&[0.02, 0.5, 0.02, 0.3, 0.02, 0.1, 0.02, 0.02]);
    let config = SamplerConfig {
        seed: Some(1),
        ..SamplerConfig::default()
    };
    assert_eq!(survivors(config, &logits), vec![1, 3, 5]);
    // top-p 0.95 cuts first: 0.6 + 0.36 reaches it, min-p 0.05 would keep 0.04 > 0.03.
    let logits = ln(&[0.04, 0.6, 0.36]);
    let config = SamplerConfig {
        seed: Some(1),
        ..SamplerConfig::default()
    };
    assert_eq!(survivors(config, &logits), vec![1, 2]);
}

#[test]
fn no_top_k_widens_the_sorted_prefix_as_needed() {
    // A flat vocabulary of 5000 needs thousands of tokens to reach top-p 0.9.
    let logits: Vec<f32> = (0..5000)
        .map(|i| ((i * 7919) % 1000) as f32 * 1e-3)
        .collect();
    for (top_p, min_p) in [(0.9, 0.0), (0.5, 0.0), (1.0, 0.5), (0.95, 0.9)] {
        let config = SamplerConfig {
            top_p,
            min_p,
            ..plain(1.0)
        };
        let got = survivors(config.clone(), &logits);
        assert_eq!(got, reference_survivors(&logits, &config), "{config:?}");
    }
}

#[test]
fn masked_and_nan_logits_never_survive() {
    let logits = [f32::NEG_INFINITY, 1.0, f32::NAN, 0.5, f32::NEG_INFINITY];
    for config in [
        plain(1.0),
        SamplerConfig {
            top_k: 4,
            ..plain(1.0)
        },
        SamplerConfig {
            top_p: 0.99,
            ..plain(1.0)
        },
    ] {
        assert_eq!(survivors(config.clone(), &logits), vec![1, 3], "{config:?}");
        let mut s = Sampler::new(config).unwrap();
        for _ in 0..200 {
            assert!(matches!(s.sample(&logits), 1 | 3));
        }
    }
    let mut s = Sampler::new(SamplerConfig {
        seed: Some(3),
        ..SamplerConfig::default()
    })
    .unwrap();
    assert_eq!(s.sample(&[f32::NEG_INFINITY, f32::NAN]), 0);
    assert_eq!(s.sample(&[]), 0);
    // +inf logits share all the probability.
    let logits = [f32::INFINITY, 100.0, f32::INFINITY];
    for _ in 0..100 {
        assert!(matches!(s.sample(&logits), 0 | 2));
    }
}

// ---- the draw ----

fn frequencies(config: SamplerConfig, logits: &[f32], draws: usize) -> Vec<f64> {
    let mut s = Sampler::new(config).unwrap();
    let mut counts = vec![0usize; logits.len()];
    for _ in 0..draws {
        counts[s.sample(logits) as usize] += 1;
    }
    counts
        .into_iter()
        .map(|c| c as f64 / draws as f64)
        .collect()
}

#[test]
fn temperature_sampling_follows_the_softmax() {
    let probs = [0.5, 0.3, 0.2];
    let logits = ln(&probs);
    let f = frequencies(plain(1.0), &logits, 20_000);
    for (got, want) in f.iter().zip(probs) {
        assert!((got - f64::from(want)).abs() < 0.015, "{f:?}");
    }
    // Temperature 0.5 squares the probabilities.
    let z: f64 = probs.iter().map(|&p| f64::from(p * p)).sum();
    let f = frequencies(plain(0.5), &logits, 20_000);
    for (got, p) in f.iter().zip(probs) {
        let want = f64::from(p * p) / z;
        assert!((got - want).abs() < 0.015, "{f:?}");
    }
    // Temperature 2 flattens them: sqrt(p) normalised.
    let z: f64 = probs.iter().map(|&p| f64::from(p).sqrt()).sum();
    let f = frequencies(plain(2.0), &logits, 20_000);
    for (got, p) in f.iter().zip(probs) {
        let want = f64::from(p).sqrt() / z;
        assert!((got - want).abs() < 0.015, "{f:?}");
    }
}

#[test]
fn sampling_after_filters_renormalises_the_survivors() {
    // top-k 2 leaves 0.4 and 0.3: 4/7 and 3/7.
    let logits = ln(&[0.4, 0.3, 0.2, 0.1]);
    let f = frequencies(
        SamplerConfig {
            top_k: 2,
            ..plain(1.0)
        },
        &logits,
        20_000,
    );
    assert!((f[0] - 4.0 / 7.0).abs() < 0.015, "{f:?}");
    assert!((f[1] - 3.0 / 7.0).abs() < 0.015, "{f:?}");
    assert_eq!(f[2] + f[3], 0.0);
}

#[test]
fn same_seed_same_tokens() {
    let vocab = 1000;
    let mut state = 12345u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) * 8.0 - 4.0
    };
    let steps: Vec<Vec<f32>> = (0..50)
        .map(|_| (0..vocab).map(|_| next()).collect())
        .collect();
    let run = |seed| {
        let config = SamplerConfig {
            seed: Some(seed),
            repeat_penalty: 1.1,
            ..SamplerConfig::default()
        };
        let mut s = Sampler::new(config).unwrap();
        let mut out = Vec::new();
        for logits in &steps {
            let t = s.sample(logits);
            s.accept(t);
            out.push(t);
        }
        (out, s)
    };
    let (a, mut sampler) = run(42);
    let (b, _) = run(42);
    assert_eq!(a, b);
    assert_eq!(sampler.seed(), 42);
    let (c, _) = run(43);
    assert_ne!(a, c);
    // reset() starts the same stream again.
    sampler.reset();
    let again: Vec<u32> = steps
        .iter()
        .map(|logits| {
            let t = sampler.sample(logits);
            sampler.accept(t);
            t
        })
        .collect();
    assert_eq!(a, again);
}

#[test]
fn unseeded_samplers_draw_their_own_seeds() {
    let a = Sampler::new(SamplerConfig::default()).unwrap();
    let b = Sampler::new(SamplerConfig::default()).unwrap();
    assert_ne!(a.seed(), b.seed());
}

#[test]
fn scratch_buffers_stop_growing_after_the_first_call() {
    let logits: Vec<f32> = (0..50_000)
        .map(|i| ((i * 7919) % 5003) as f32 * 1e-3)
        .collect();
    let config = SamplerConfig {
        seed: Some(5),
        repeat_penalty: 1.2,
        ..SamplerConfig::default()
    };
    let mut s = Sampler::new(config).unwrap();
    s.accept(3);
    s.sample(&logits);
    let caps = (
        s.work.capacity(),
        s.candidates.capacity(),
        s.weights.capacity(),
    );
    for _ in 0..20 {
        s.sample(&logits);
    }
    assert_eq!(
        caps,
        (
            s.work.capacity(),
            s.candidates.capacity(),
            s.weights.capacity()
        )
    );
}

// ---- properties ----

fn logit() -> impl Strategy<Value = f32> {
    prop_oneof![
        // Few distinct values, so ties are common.
        8 => (-8i32..8).prop_map(|v| v as f32 * 0.5),
        8 => -20.0f32..20.0,
        1 => Just(f32::NEG_INFINITY),
        1 => Just(f32::NAN),
    ]
}

fn config() -> impl Strategy<Value = SamplerConfig> {
    (
        prop_oneof![Just(0.0f32), Just(-1.0), 0.05f32..3.0],
        -2i32..60,
        prop_oneof![Just(1.0f32), 0.01f32..1.0],
        prop_oneof![Just(0.0f32), Just(-0.5), 0.0f32..1.0],
        prop_oneof![Just(1.0f32), 0.5f32..2.0],
        0usize..8,
        prop_oneof![Just(0.0f32), -1.0f32..1.0],
        prop_oneof![Just(0.0f32), -1.0f32..1.0],
        any::<u64>(),
    )
        .prop_map(
            |(
                temperature,
                top_k,
                top_p,
                min_p,
                repeat_penalty,
                repeat_last_n,
                presence,
                frequency,
                seed,
            )| {
                SamplerConfig {
                    temperature,
                    top_k,
                    top_p,
                    min_p,
                    repeat_penalty,
                    repeat_last_n,
                    presence_penalty: presence,
                    frequency_penalty: frequency,
                    seed: Some(seed),
                }
            },
        )
}

proptest! {
    #[test]
    fn sampled_token_is_in_range_and_survives_the_filters(
        logits in prop::collection::vec(logit(), 1..300),
        config in config(),
        history in prop::collection::vec(0u32..320, 0..12),
    ) {
        let mut s = Sampler::new(config.clone()).unwrap();
        let mut window = PenaltyWindow::new(config.repeat_last_n);
        for &t in &history {
            s.accept(t);
            window.push(t);
        }
        let mut penalised = logits.clone();
        if config.penalties_active() {
            window.apply(
                &mut penalised,
                config.repeat_penalty,
                config.frequency_penalty,
                config.presence_penalty,
            );
        }
        let reference = reference_survivors(&penalised, &config);
        prop_assert_eq!(s.survivors(&logits), reference.clone());
        for _ in 0..8 {
            let token = s.sample(&logits);
            prop_assert!((token as usize) < logits.len());
            if reference.is_empty() {
                prop_assert_eq!(token, 0);
            } else if config.temperature <= 0.0 {
                prop_assert_eq!(token, reference[0]);
            } else {
                prop_assert!(reference.contains(&token), "{} not in {:?}", token, reference);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Vocabularies past the selection buffer (1,024 + k) and the first no-top-k prefix
    /// (256), with heavy ties.
    #[test]
    fn large_vocabularies_match_the_reference(
        logits in prop::collection::vec((-6i32..6).prop_map(|v| v as f32 * 0.25), 1..6000),
        top_k in prop_oneof![Just(0i32), 1i32..3000],
        top_p in prop_oneof![Just(1.0f32), 0.05f32..1.0],
        min_p in prop_oneof![Just(0.0f32), 0.0f32..0.9],
        seed in any::<u64>(),
    ) {
        let config = SamplerConfig { top_k, top_p, min_p, seed: Some(seed), ..plain(0.7) };
        let reference = reference_survivors(&logits, &config);
        let mut s = Sampler::new(config).unwrap();
        prop_assert_eq!(s.survivors(&logits), reference.clone());
        let token = s.sample(&logits);
        prop_assert!(reference.contains(&token));
        let mut greedy = Sampler::new(SamplerConfig::greedy()).unwrap();
        prop_assert_eq!(greedy.sample(&logits), reference[0]);
    }
}
