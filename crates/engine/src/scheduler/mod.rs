//! Continuous batching: requests join and leave a running batch between decode
//! steps, each step one [`Backend::forward_batch`] over every running sequence.
//!
//! A [`Scheduler`] owns a thread that owns the backend. Each loop it drops
//! requests whose client has gone (their caches freed at once), starts waiting
//! requests up to a budget of prompt tokens (each prompt evaluated alone,
//! exactly as `rocmforge run` evaluates it, then its first token sampled), and
//! runs one decode step for all running sequences. Tokens go back through each
//! request's [`EventSink`].
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use rocmforge_engine::{Model, cpu::CpuBackend, sampling::SamplerConfig};
//! # use rocmforge_engine::scheduler::*;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let model = Arc::new(Model::open("model.gguf")?);
//! let config = SchedulerConfig { max_batch: 8, queue_capacity: 64, context: 4096 };
//! let scheduler = Scheduler::start(model.clone(), config, |_| Ok(Box::new(CpuBackend::new())));
//! let (sink, events) = std::sync::mpsc::channel();
//! let prompt = model.tokenizer.encode("Hello", model.tokenizer.add_bos(), true);
//! scheduler.submit(Request::new(prompt, SamplerConfig::greedy(), Box::new(sink)))?;
//! for event in events {
//!     match event {
//!         Event::Token(t) => print!("{}", t.text),
//!         Event::Text(text) => print!("{text}"),
//!         Event::Done(_) | Event::Failed(_) => break,
//!     }
//! }
//! scheduler.shutdown();
//! # Ok(()) }
//! ```

pub mod logprobs;
mod sequence;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::kv_cache::KvCache;
use crate::plan::{Backend, ExecutionPlan, Logits, SequenceBatch};
use crate::sampling::{Sampler, SamplerConfig, SamplerError};
use crate::{EngineError, Model};
pub use logprobs::TokenLogprob;
use sequence::Sequence;

/// Limits of a scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// Sequences decoded together at most (a backend that cannot batch
    /// sequences runs one at a time).
    pub max_batch: usize,
    /// Requests waiting to start at most; more are refused.
    pub queue_capacity: usize,
    /// Positions each sequence may hold (prompt and generated tokens).
    pub context: usize,
}

/// One generation request.
pub struct Request {
    /// The prompt's tokens (at least one).
    pub prompt: Vec<u32>,
    /// How tokens are chosen.
    pub sampler: SamplerConfig,
    /// Most tokens to generate (`None`: until the context is full).
    pub max_tokens: Option<usize>,
    /// Generation stops at any of these; they are not part of the text.
    pub stop: Vec<String>,
    /// Keep going past end-of-generation tokens.
    pub ignore_eos: bool,
    /// Report each token's log-probability and this many alternatives.
    pub top_logprobs: Option<usize>,
    /// Where the tokens go.
    pub events: Box<dyn EventSink>,
}

impl Request {
    /// A request for `prompt` with no limits besides the context.
    pub fn new(prompt: Vec<u32>, sampler: SamplerConfig, events: Box<dyn EventSink>) -> Self {
        Self {
            prompt,
            sampler,
            max_tokens: None,
            stop: Vec::new(),
            ignore_eos: false,
            top_logprobs: None,
            events,
        }
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("prompt_tokens", &self.prompt.len())
            .field("max_tokens", &self.max_tokens)
            .finish_non_exhaustive()
    }
}

/// Receives a request's events on the scheduler's thread.
pub trait EventSink: Send {
    /// Delivers `event`; false when the receiver has gone (the request is
    /// then cancelled).
    fn send(&mut self, event: Event) -> bool;

    /// Whether the receiver has gone.
    fn is_closed(&self) -> bool {
        false
    }
}

impl EventSink for Sender<Event> {
    fn send(&mut self, event: Event) -> bool {
        Sender::send(self, event).is_ok()
    }
}

/// What a request hears back.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A generated token and the text it made final (possibly empty: text
    /// that may start a stop string, or part of a character, is held back).
    Token(TokenEvent),
    /// Held-back text released at the end.
    Text(String),
    /// The request ended.
    Done(Summary),
    /// The request could not run.
    Failed(String),
}

/// One generated token.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenEvent {
    /// Its id.
    pub id: u32,
    /// The text that became final with it.
    pub text: String,
    /// Its log-probability, when asked for.
    pub logprob: Option<TokenLogprob>,
}

/// Why a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// The model ended its answer (an end-of-generation token).
    Stop,
    /// A stop string appeared.
    StopString,
    /// The token limit or the context was reached.
    Length,
    /// The client went away.
    Cancelled,
}

/// How a request went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Why it ended.
    pub finish: FinishReason,
    /// Tokens of its prompt.
    pub prompt_tokens: usize,
    /// Tokens generated.
    pub completion_tokens: usize,
}

/// Why a request was not accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SubmitError {
    /// The queue of waiting requests is full.
    #[error("the server is busy: {capacity} requests are already waiting")]
    QueueFull {
        /// The queue's capacity.
        capacity: usize,
    },
    /// The prompt leaves no room in the context.
    #[error(
        "the prompt has {prompt} tokens; the context holds {context}, so it may have at most {} tokens",
        context.saturating_sub(1)
    )]
    PromptTooLong {
        /// Prompt tokens.
        prompt: usize,
        /// Positions per sequence.
        context: usize,
    },
    /// The prompt has no tokens.
    #[error("the prompt is empty")]
    EmptyPrompt,
    /// A sampler setting is invalid.
    #[error(transparent)]
    Sampler(#[from] SamplerError),
    /// The scheduler is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
}

/// Counters of a scheduler, read at any time.
#[derive(Debug, Default)]
pub struct SchedulerStats {
    requests: AtomicU64,
    rejected: AtomicU64,
    completed: AtomicU64,
    cancelled: AtomicU64,
    failed: AtomicU64,
    prompt_tokens: AtomicU64,
    generated_tokens: AtomicU64,
    queued: AtomicUsize,
    running: AtomicUsize,
    steps: AtomicU64,
    step_tokens: AtomicU64,
    step_nanos: AtomicU64,
    prefill_nanos: AtomicU64,
}

/// A snapshot of [`SchedulerStats`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StatsSnapshot {
    /// Requests accepted.
    pub requests: u64,
    /// Requests refused (queue full, shutting down, invalid).
    pub rejected: u64,
    /// Requests that ran to their end.
    pub completed: u64,
    /// Requests whose client went away.
    pub cancelled: u64,
    /// Requests that failed in the backend.
    pub failed: u64,
    /// Prompt tokens evaluated.
    pub prompt_tokens: u64,
    /// Tokens generated.
    pub generated_tokens: u64,
    /// Requests waiting to start.
    pub queued: usize,
    /// Sequences in the running batch.
    pub running: usize,
    /// Decode steps run.
    pub steps: u64,
    /// Tokens evaluated by decode steps.
    pub step_tokens: u64,
    /// Seconds spent in decode steps.
    pub step_seconds: f64,
    /// Seconds spent evaluating prompts.
    pub prefill_seconds: f64,
}

impl StatsSnapshot {
    /// Tokens per second of the decode steps so far.
    pub fn decode_tokens_per_second(&self) -> f64 {
        if self.step_seconds > 0.0 {
            self.step_tokens as f64 / self.step_seconds
        } else {
            0.0
        }
    }

    /// Mean sequences per decode step.
    pub fn mean_batch(&self) -> f64 {
        if self.steps > 0 {
            self.step_tokens as f64 / self.steps as f64
        } else {
            0.0
        }
    }
}

impl SchedulerStats {
    fn snapshot(&self) -> StatsSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            requests: load(&self.requests),
            rejected: load(&self.rejected),
            completed: load(&self.completed),
            cancelled: load(&self.cancelled),
            failed: load(&self.failed),
            prompt_tokens: load(&self.prompt_tokens),
            generated_tokens: load(&self.generated_tokens),
            queued: self.queued.load(Ordering::Relaxed),
            running: self.running.load(Ordering::Relaxed),
            steps: load(&self.steps),
            step_tokens: load(&self.step_tokens),
            step_seconds: load(&self.step_nanos) as f64 * 1e-9,
            prefill_seconds: load(&self.prefill_nanos) as f64 * 1e-9,
        }
    }
}

enum Command {
    Submit(Box<Request>),
    Shutdown,
}

/// Runs requests in a continuous batch on its own thread.
pub struct Scheduler {
    commands: Mutex<Sender<Command>>,
    stats: Arc<SchedulerStats>,
    closing: AtomicBool,
    config: SchedulerConfig,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// Starts the scheduler's thread; `backend` is made there and reserves room
    /// for `config.max_batch` sequences. Should either fail, every request is
    /// answered with [`Event::Failed`].
    pub fn start(
        model: Arc<Model>,
        config: SchedulerConfig,
        backend: impl for<'m> FnOnce(&'m Model) -> Result<Box<dyn Backend + 'm>, EngineError>
        + Send
        + 'static,
    ) -> Self {
        let (tx, rx) = mpsc::channel();
        let stats = Arc::new(SchedulerStats::default());
        let thread = {
            let stats = stats.clone();
            std::thread::Builder::new()
                .name("rocmforge-scheduler".into())
                .spawn(move || {
                    let model = &*model;
                    let ready = backend(model).and_then(|mut backend| {
                        if backend.batches_sequences() {
                            backend.reserve_sequences(config.max_batch.max(1))?;
                        }
                        Ok(backend)
                    });
                    match ready {
                        Ok(mut backend) => Loop::new(model, config, &stats).run(&mut *backend, rx),
                        Err(error) => refuse_all(&error.to_string(), rx, &stats),
                    }
                })
                .expect("spawning the scheduler thread")
        };
        Self {
            commands: Mutex::new(tx),
            stats,
            closing: AtomicBool::new(false),
            config,
            thread: Mutex::new(Some(thread)),
        }
    }

    /// The limits it was started with.
    pub fn config(&self) -> SchedulerConfig {
        self.config
    }

    /// Queues `request`, or says why not.
    pub fn submit(&self, request: Request) -> Result<(), SubmitError> {
        let result = self.check(&request);
        if result.is_err() {
            self.stats.rejected.fetch_add(1, Ordering::Relaxed);
        }
        result?;
        let capacity = self.config.queue_capacity;
        let queued = self.stats.queued.fetch_add(1, Ordering::AcqRel);
        if queued >= capacity {
            self.stats.queued.fetch_sub(1, Ordering::AcqRel);
            self.stats.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(SubmitError::QueueFull { capacity });
        }
        let sent = self
            .commands
            .lock()
            .map_err(|_| SubmitError::ShuttingDown)?
            .send(Command::Submit(Box::new(request)));
        if sent.is_err() {
            self.stats.queued.fetch_sub(1, Ordering::AcqRel);
            self.stats.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(SubmitError::ShuttingDown);
        }
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn check(&self, request: &Request) -> Result<(), SubmitError> {
        if self.closing.load(Ordering::Acquire) {
            return Err(SubmitError::ShuttingDown);
        }
        if request.prompt.is_empty() {
            return Err(SubmitError::EmptyPrompt);
        }
        let context = self.config.context;
        if request.prompt.len() >= context {
            return Err(SubmitError::PromptTooLong {
                prompt: request.prompt.len(),
                context,
            });
        }
        request.sampler.validate()?;
        Ok(())
    }

    /// The counters now.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Refuses new requests, lets every accepted one finish, and stops the
    /// thread. Calling it again does nothing.
    pub fn shutdown(&self) {
        self.closing.store(true, Ordering::Release);
        if let Ok(commands) = self.commands.lock() {
            // Fails only when the thread has already stopped.
            let _ = commands.send(Command::Shutdown);
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            // A panic on the scheduler thread has already been reported there.
            let _ = thread.join();
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Answers every request with `error` (the backend could not be made).
fn refuse_all(error: &str, rx: Receiver<Command>, stats: &SchedulerStats) {
    for command in rx {
        match command {
            Command::Submit(mut request) => {
                stats.queued.fetch_sub(1, Ordering::AcqRel);
                stats.failed.fetch_add(1, Ordering::Relaxed);
                request.events.send(Event::Failed(error.to_owned()));
            }
            Command::Shutdown => return,
        }
    }
}

/// Prompt tokens evaluated between two decode steps at most, unless a single
/// prompt is longer (as llama.cpp's default batch size).
const PREFILL_BUDGET: usize = 512;

/// The scheduler thread's state.
struct Loop<'m, 's> {
    model: &'m Model,
    plan: ExecutionPlan,
    config: SchedulerConfig,
    stats: &'s SchedulerStats,
    waiting: VecDeque<Box<Request>>,
    running: Vec<Sequence<'m>>,
    logits: Vec<f32>,
    closing: bool,
}

impl<'m, 's> Loop<'m, 's> {
    fn new(model: &'m Model, config: SchedulerConfig, stats: &'s SchedulerStats) -> Self {
        Self {
            model,
            plan: ExecutionPlan::new(model),
            config,
            stats,
            waiting: VecDeque::new(),
            running: Vec::new(),
            logits: Vec::new(),
            closing: false,
        }
    }

    fn run(mut self, backend: &mut dyn Backend, rx: Receiver<Command>) {
        let max_batch = if backend.batches_sequences() {
            self.config.max_batch.max(1)
        } else {
            1
        };
        loop {
            let idle = self.waiting.is_empty() && self.running.is_empty();
            if idle {
                if self.closing {
                    return;
                }
                // Nothing to do: sleep until a command comes.
                match rx.recv() {
                    Ok(command) => self.handle(command),
                    Err(_) => return,
                }
            }
            while let Ok(command) = rx.try_recv() {
                self.handle(command);
            }
            self.drop_cancelled();
            // Start waiting requests while there is room, up to a budget of
            // prompt tokens per step (at least one request), so that a burst of
            // arrivals joins the batch together while long prompts do not hold
            // up the running sequences for more than about one budget's time.
            let mut budget = PREFILL_BUDGET;
            while self.running.len() < max_batch
                && let Some(next) = self.waiting.front()
                && (budget == PREFILL_BUDGET || next.prompt.len() <= budget)
            {
                budget = budget.saturating_sub(next.prompt.len());
                let request = self.waiting.pop_front().expect("a waiting request");
                self.stats.queued.fetch_sub(1, Ordering::AcqRel);
                self.start(backend, *request);
            }
            self.stats
                .running
                .store(self.running.len(), Ordering::Relaxed);
            if !self.running.is_empty() {
                self.step(backend);
            }
        }
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Submit(request) => self.waiting.push_back(request),
            Command::Shutdown => self.closing = true,
        }
    }

    /// Forgets requests whose client has gone; their caches are freed here.
    fn drop_cancelled(&mut self) {
        let stats = self.stats;
        self.waiting.retain(|r| {
            let gone = r.events.is_closed();
            if gone {
                stats.queued.fetch_sub(1, Ordering::AcqRel);
                stats.cancelled.fetch_add(1, Ordering::Relaxed);
            }
            !gone
        });
        self.running.retain(|s| {
            let gone = s.is_cancelled();
            if gone {
                stats.cancelled.fetch_add(1, Ordering::Relaxed);
            }
            !gone
        });
        stats.running.store(self.running.len(), Ordering::Relaxed);
    }

    /// Evaluates a new request's prompt alone and samples its first token.
    fn start(&mut self, backend: &mut dyn Backend, mut request: Request) {
        let sampler = match Sampler::new(request.sampler.clone()) {
            Ok(sampler) => sampler,
            Err(error) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                request.events.send(Event::Failed(error.to_string()));
                return;
            }
        };
        let kv = KvCache::new(&self.model.config, self.config.context);
        let mut seq = Sequence::new(request, sampler, &self.model.tokenizer, kv);
        let started = Instant::now();
        let (kv, prompt) = seq.cache_and_prompt();
        let result = backend.forward(
            self.model,
            &self.plan,
            kv,
            prompt,
            Logits::Last,
            &mut self.logits,
        );
        add_elapsed(&self.stats.prefill_nanos, started);
        if let Err(error) = result {
            self.fail(seq, &error);
            return;
        }
        self.stats
            .prompt_tokens
            .fetch_add(seq.prompt().len() as u64, Ordering::Relaxed);
        match advance(&mut seq, self.model, &self.logits, self.stats) {
            None => self.running.push(seq),
            Some(reason) => self.end(seq, reason),
        }
    }

    /// One decode step of every running sequence.
    fn step(&mut self, backend: &mut dyn Backend) {
        let started = Instant::now();
        let next: Vec<u32> = self.running.iter().map(|s| s.next).collect();
        let mut batch: Vec<SequenceBatch> = self
            .running
            .iter_mut()
            .zip(&next)
            .map(|(s, token)| SequenceBatch {
                kv: &mut s.kv,
                tokens: std::slice::from_ref(token),
                which: Logits::Last,
            })
            .collect();
        let result = backend.forward_batch(self.model, &self.plan, &mut batch, &mut self.logits);
        drop(batch);
        self.stats.steps.fetch_add(1, Ordering::Relaxed);
        self.stats
            .step_tokens
            .fetch_add(next.len() as u64, Ordering::Relaxed);
        add_elapsed(&self.stats.step_nanos, started);
        if let Err(error) = result {
            for seq in std::mem::take(&mut self.running) {
                self.fail(seq, &error);
            }
            return;
        }
        let n_vocab = self.model.config.n_vocab;
        let mut ended = Vec::new();
        for (i, (seq, logits)) in self
            .running
            .iter_mut()
            .zip(self.logits.chunks_exact(n_vocab))
            .enumerate()
        {
            if let Some(reason) = advance(seq, self.model, logits, self.stats) {
                ended.push((i, reason));
            }
        }
        for &(i, reason) in ended.iter().rev() {
            let seq = self.running.swap_remove(i);
            self.stats
                .running
                .store(self.running.len(), Ordering::Relaxed);
            self.end(seq, reason);
        }
    }

    fn end(&self, seq: Sequence<'m>, reason: FinishReason) {
        let counter = if reason == FinishReason::Cancelled {
            &self.stats.cancelled
        } else {
            &self.stats.completed
        };
        counter.fetch_add(1, Ordering::Relaxed);
        seq.finish(reason);
    }

    fn fail(&self, seq: Sequence<'m>, error: &EngineError) {
        self.stats.failed.fetch_add(1, Ordering::Relaxed);
        seq.fail(&error.to_string());
    }
}

/// [`Sequence::advance`], counting the tokens it generates.
fn advance(
    seq: &mut Sequence,
    model: &Model,
    logits: &[f32],
    stats: &SchedulerStats,
) -> Option<FinishReason> {
    let before = seq.generated();
    let reason = seq.advance(&model.tokenizer, logits);
    let generated = (seq.generated() - before) as u64;
    stats
        .generated_tokens
        .fetch_add(generated, Ordering::Relaxed);
    reason
}

fn add_elapsed(counter: &AtomicU64, since: Instant) {
    let nanos = u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX);
    counter.fetch_add(nanos, Ordering::Relaxed);
}
