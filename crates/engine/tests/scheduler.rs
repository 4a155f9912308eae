//! The continuous-batching scheduler: answers equal single-sequence generation,
//! limits and stop strings hold, cancelled requests leave, a full queue refuses.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rocmforge_engine::cpu::CpuBackend;
use rocmforge_engine::sampling::{Sampler, SamplerConfig};
use rocmforge_engine::scheduler::{
    Event, EventSink, FinishReason, Request, Scheduler, SchedulerConfig, SubmitError,
};
use rocmforge_engine::{Backend, GenerateOptions, Model, Session};
use xtask::gen_model::{Arch, FileType};

fn model() -> Arc<Model> {
    static MODEL: OnceLock<Arc<Model>> = OnceLock::new();
    MODEL
        .get_or_init(|| Arc::new(common::tiny_model(Arch::Qwen2, FileType::Q4KM, 3)))
        .clone()
}

/// A scheduler on the CPU backend over the test model.
fn start(max_batch: usize, queue_capacity: usize, context: usize) -> (Arc<Model>, Scheduler) {
    let model = model();
    let config = SchedulerConfig {
        max_batch,
        queue_capacity,
        context,
    };
    (model.clone(), Scheduler::start(model, config, cpu))
}

fn cpu(_: &Model) -> Result<Box<dyn Backend + '_>, rocmforge_engine::EngineError> {
    Ok(Box::new(CpuBackend::new()))
}

/// A sink whose receiver can be marked gone.
struct Client {
    tx: Sender<Event>,
    gone: Arc<AtomicBool>,
}

impl EventSink for Client {
    fn send(&mut self, event: Event) -> bool {
        !self.gone.load(Ordering::Relaxed) && self.tx.send(event).is_ok()
    }

    fn is_closed(&self) -> bool {
        self.gone.load(Ordering::Relaxed)
    }
}

fn client() -> (Box<Client>, Receiver<Event>, Arc<AtomicBool>) {
    let (tx, rx) = channel();
    let gone = Arc::new(AtomicBool::new(false));
    (
        Box::new(Client {
            tx,
            gone: gone.clone(),
        }),
        rx,
        gone,
    )
}

/// Text, token ids and the summary's finish reason of one request.
fn collect(rx: &Receiver<Event>) -> (String, Vec<u32>, FinishReason) {
    let (mut text, mut ids) = (String::new(), Vec::new());
    loop {
        match rx.recv_timeout(Duration::from_secs(60)).unwrap() {
            Event::Token(t) => {
                text.push_str(&t.text);
                ids.push(t.id);
            }
            Event::Text(t) => text.push_str(&t),
            Event::Done(summary) => {
                assert_eq!(summary.completion_tokens, ids.len());
                return (text, ids, summary.finish);
            }
            Event::Failed(error) => panic!("request failed: {error}"),
        }
    }
}

fn prompt(model: &Model, i: u32) -> Vec<u32> {
    let vocab = model.config.n_vocab as u32;
    (0..4 + 3 * i)
        .map(|j| (j * 13 + i * 7 + 2) % vocab)
        .collect()
}

/// What `Session::generate` (`rocmforge run`) produces for the same request.
fn alone(model: &Model, prompt: &[u32], sampler: SamplerConfig, max: usize) -> (String, Vec<u32>) {
    generate(model, prompt, sampler, max, false)
}

/// `Session::generate` with `sampler`; with `greedy`, the backend picks the
/// tokens after the first (`GenerateOptions::greedy`), and the ids returned
/// are only those `choose` saw.
fn generate(
    model: &Model,
    prompt: &[u32],
    sampler: SamplerConfig,
    max: usize,
    greedy: bool,
) -> (String, Vec<u32>) {
    let mut session = Session::new(model, 128);
    let mut sampler = Sampler::new(sampler).unwrap();
    prompt.iter().for_each(|&t| sampler.accept(t));
    let (mut text, mut ids) = (String::new(), Vec::new());
    let options = GenerateOptions {
        max_tokens: Some(max),
        greedy,
        ..GenerateOptions::default()
    };
    session
        .generate(
            prompt,
            &options,
            |logits| {
                let t = sampler.sample(logits);
                sampler.accept(t);
                ids.push(t);
                t
            },
            |t| text.push_str(t),
        )
        .unwrap();
    // The last id is the end-of-generation token when generation stopped there.
    ids.retain(|&t| !model.tokenizer.is_eog(t));
    (text, ids)
}

#[test]
fn greedy_generation_by_the_backend_writes_what_the_sampler_writes() {
    let model = model();
    let mut written = 0;
    for i in 0..3 {
        let prompt = prompt(&model, i);
        let (want, ids) = generate(&model, &prompt, SamplerConfig::greedy(), 24, false);
        let (got, seen) = generate(&model, &prompt, SamplerConfig::greedy(), 24, true);
        assert_eq!(got, want, "prompt {i}");
        written += ids.len();
        // Only the first token came from `choose`.
        assert!(seen.len() <= 1, "choose called for {} tokens", seen.len());
    }
    assert!(written >= 24, "the prompts wrote {written} tokens");
    assert!(SamplerConfig::greedy().is_plain_argmax());
    let penalised = SamplerConfig {
        repeat_penalty: 1.1,
        ..SamplerConfig::greedy()
    };
    assert!(!penalised.is_plain_argmax());
}

#[test]
fn concurrent_requests_answer_as_alone() {
    let (model, scheduler) = start(4, 16, 128);
    let samplers = [
        SamplerConfig::greedy(),
        SamplerConfig {
            seed: Some(42),
            ..SamplerConfig::default()
        },
    ];
    let mut pending = Vec::new();
    for i in 0..10u32 {
        let sampler = samplers[i as usize % 2].clone();
        let (sink, rx, _) = client();
        let mut request = Request::new(prompt(&model, i), sampler.clone(), sink);
        request.max_tokens = Some(12 + i as usize);
        request.ignore_eos = false;
        scheduler.submit(request).unwrap();
        pending.push((i, sampler, rx));
    }
    for (i, sampler, rx) in pending {
        let (text, ids, _) = collect(&rx);
        let want = alone(&model, &prompt(&model, i), sampler, 12 + i as usize);
        assert_eq!((text, ids), want, "request {i}");
    }
    let stats = scheduler.stats();
    assert_eq!(stats.completed, 10);
    assert!(
        stats.mean_batch() > 1.5,
        "mean batch {}",
        stats.mean_batch()
    );
    scheduler.shutdown();
}

#[test]
fn limits_stop_strings_and_errors() {
    let (model, scheduler) = start(2, 2, 32);

    // max_tokens.
    let (sink, rx, _) = client();
    let mut request = Request::new(prompt(&model, 1), SamplerConfig::greedy(), sink);
    request.max_tokens = Some(5);
    request.ignore_eos = true;
    scheduler.submit(request).unwrap();
    let (full, ids, finish) = collect(&rx);
    assert_eq!((ids.len(), finish), (5, FinishReason::Length));

    // A stop string taken from that answer cuts it there.
    let cut = full
        .char_indices()
        .nth(full.chars().count() / 2)
        .map(|(i, _)| i);
    if let Some(cut) = cut.filter(|&c| c > 0) {
        let stop: String = full[cut..].chars().take(2).collect();
        let (sink, rx, _) = client();
        let mut request = Request::new(prompt(&model, 1), SamplerConfig::greedy(), sink);
        request.max_tokens = Some(5);
        request.ignore_eos = true;
        request.stop = vec![stop.clone()];
        scheduler.submit(request).unwrap();
        let (text, _, finish) = collect(&rx);
        assert_eq!(
            finish,
            FinishReason::StopString,
            "stop {stop:?} in {full:?}"
        );
        assert_eq!(text, full[..full.find(&stop).unwrap()]);
    }

    // The context ends generation: the last token is sampled after the cache
    // is full, as `rocmforge run` does.
    let (sink, rx, _) = client();
    let mut request = Request::new(prompt(&model, 2), SamplerConfig::greedy(), sink);
    request.ignore_eos = true;
    scheduler.submit(request).unwrap();
    let (_, ids, finish) = collect(&rx);
    assert_eq!(finish, FinishReason::Length);
    assert_eq!(ids.len(), 32 - prompt(&model, 2).len() + 1);

    // Refusals name what is wrong.
    let (sink, _, _) = client();
    let long = Request::new(vec![1; 32], SamplerConfig::greedy(), sink);
    assert_eq!(
        scheduler.submit(long),
        Err(SubmitError::PromptTooLong {
            prompt: 32,
            context: 32
        })
    );
    let (sink, _, _) = client();
    let empty = Request::new(Vec::new(), SamplerConfig::greedy(), sink);
    assert_eq!(scheduler.submit(empty), Err(SubmitError::EmptyPrompt));
    let (sink, _, _) = client();
    let bad = SamplerConfig {
        temperature: f32::NAN,
        ..SamplerConfig::default()
    };
    assert!(matches!(
        scheduler.submit(Request::new(vec![1, 2], bad, sink)),
        Err(SubmitError::Sampler(_))
    ));
    scheduler.shutdown();
    let (sink, _, _) = client();
    assert_eq!(
        scheduler.submit(Request::new(vec![1], SamplerConfig::greedy(), sink)),
        Err(SubmitError::ShuttingDown)
    );
}

#[test]
fn cancelled_requests_leave_and_a_full_queue_refuses() {
    let (model, scheduler) = start(1, 2, 128);
    // A long request occupies the one slot; its client goes away after a token.
    let (sink, rx, gone) = client();
    let mut request = Request::new(prompt(&model, 0), SamplerConfig::greedy(), sink);
    request.ignore_eos = true;
    scheduler.submit(request).unwrap();
    assert!(matches!(rx.recv().unwrap(), Event::Token(_)));
    // Two more wait; the third finds the queue full.
    let mut waiting = Vec::new();
    for i in 0..2 {
        let (sink, rx, _) = client();
        let mut request = Request::new(prompt(&model, i), SamplerConfig::greedy(), sink);
        request.max_tokens = Some(3);
        scheduler.submit(request).unwrap();
        waiting.push(rx);
    }
    let (sink, _, _) = client();
    assert_eq!(
        scheduler.submit(Request::new(vec![1], SamplerConfig::greedy(), sink)),
        Err(SubmitError::QueueFull { capacity: 2 })
    );
    gone.store(true, Ordering::Relaxed);
    for rx in &waiting {
        let (_, ids, _) = collect(rx);
        assert!(ids.len() <= 3);
    }
    let stats = scheduler.stats();
    assert_eq!(
        (stats.cancelled, stats.completed, stats.rejected),
        (1, 2, 1)
    );
    assert_eq!((stats.queued, stats.running), (0, 0));
    scheduler.shutdown();
}
