//! `POST /v1/completions` and `POST /v1/chat/completions`: a request becomes
//! prompt tokens and a sampler, joins the scheduler's batch, and its tokens come
//! back as one JSON answer or as server-sent events ending in `data: [DONE]`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use rocmforge_engine::chat::Message;
use rocmforge_engine::sampling::SamplerConfig;
use rocmforge_engine::scheduler::{Event, FinishReason, Request, TokenLogprob};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::AppState;
use crate::api::{ChatRequest, CompletionRequest, Prompt, SamplingFields, Usage};
use crate::error::ApiError;
use crate::sink;

/// Most alternatives a request may ask for per token.
const MAX_TOP_LOGPROBS: u32 = 20;

/// Which endpoint a request came through: it decides the answers' shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Completions,
    Chat,
}

/// A request that has joined the scheduler.
struct Job {
    endpoint: Endpoint,
    id: String,
    created: u64,
    model: String,
    logprobs: bool,
    include_usage: bool,
    events: UnboundedReceiver<Event>,
}

pub async fn completions(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: CompletionRequest = parse(&body)?;
    if request.echo == Some(true) {
        return Err(ApiError::invalid_param("echo", "echo is not supported"));
    }
    let tokenizer = &state.model.tokenizer;
    let prompt = match request.prompt {
        Prompt::Text(text) => tokenizer.encode(&text, tokenizer.add_bos(), true),
        Prompt::Texts(texts) => match <[String; 1]>::try_from(texts) {
            Ok([text]) => tokenizer.encode(&text, tokenizer.add_bos(), true),
            Err(_) => return Err(one_prompt()),
        },
        Prompt::Tokens(ids) => checked_ids(&state, ids)?,
        Prompt::TokenLists(lists) => match <[Vec<u32>; 1]>::try_from(lists) {
            Ok([ids]) => checked_ids(&state, ids)?,
            Err(_) => return Err(one_prompt()),
        },
    };
    let top = match request.logprobs {
        Some(n) if n > MAX_TOP_LOGPROBS => {
            return Err(ApiError::invalid_param(
                "logprobs",
                format!("logprobs is {n}; at most {MAX_TOP_LOGPROBS} are supported"),
            ));
        }
        other => other.map(|n| n as usize),
    };
    let job = submit(
        &state,
        Endpoint::Completions,
        prompt,
        &request.sampling,
        top,
    )?;
    respond(state, job, request.sampling.stream == Some(true)).await
}

pub async fn chat(State(state): State<Arc<AppState>>, body: Bytes) -> Result<Response, ApiError> {
    let request: ChatRequest = parse(&body)?;
    if request.messages.is_empty() {
        return Err(ApiError::invalid_param("messages", "messages is empty"));
    }
    let messages = request
        .messages
        .iter()
        .map(|m| {
            Ok(Message::new(
                m.role.clone(),
                content_text(m.content.as_ref())?,
            ))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let prompt = state
        .chat
        .tokens(&state.model.tokenizer, &messages)
        .map_err(|e| ApiError::invalid_param("messages", e.to_string()))?;
    let top = match (request.logprobs, request.top_logprobs) {
        (_, Some(n)) if n > MAX_TOP_LOGPROBS => {
            return Err(ApiError::invalid_param(
                "top_logprobs",
                format!("top_logprobs is {n}; at most {MAX_TOP_LOGPROBS} are supported"),
            ));
        }
        (Some(true), n) => Some(n.unwrap_or(0) as usize),
        (_, Some(_)) => {
            return Err(ApiError::invalid_param(
                "top_logprobs",
                "top_logprobs needs logprobs set to true",
            ));
        }
        _ => None,
    };
    let job = submit(&state, Endpoint::Chat, prompt, &request.sampling, top)?;
    respond(state, job, request.sampling.stream == Some(true)).await
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("invalid request body: {e}")))
}

fn one_prompt() -> ApiError {
    ApiError::invalid_param("prompt", "only one prompt per request is supported")
}

fn checked_ids(state: &AppState, ids: Vec<u32>) -> Result<Vec<u32>, ApiError> {
    let vocab = state.model.config.n_vocab;
    match ids.iter().find(|&&id| id as usize >= vocab) {
        Some(id) => Err(ApiError::invalid_param(
            "prompt",
            format!("token id {id} is outside the vocabulary of {vocab} tokens"),
        )),
        None => Ok(ids),
    }
}

/// A message's text: a string, or the text parts of a list of parts.
fn content_text(content: Option<&Value>) -> Result<String, ApiError> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for part in parts {
                match (part.get("type").and_then(Value::as_str), part.get("text")) {
                    (Some("text"), Some(Value::String(t))) => text.push_str(t),
                    (kind, _) => {
                        return Err(ApiError::invalid_param(
                            "messages",
                            format!("content parts of type {kind:?} are not supported (text only)"),
                        ));
                    }
                }
            }
            Ok(text)
        }
        Some(_) => Err(ApiError::invalid_param(
            "messages",
            "a message's content must be a string or a list of text parts",
        )),
    }
}

/// The request's sampler: its fields over the server's defaults.
fn sampler(defaults: &SamplerConfig, f: &SamplingFields) -> SamplerConfig {
    SamplerConfig {
        temperature: f.temperature.unwrap_or(defaults.temperature),
        top_k: f.top_k.unwrap_or(defaults.top_k),
        top_p: f.top_p.unwrap_or(defaults.top_p),
        min_p: f.min_p.unwrap_or(defaults.min_p),
        repeat_penalty: f.repeat_penalty.unwrap_or(defaults.repeat_penalty),
        presence_penalty: f.presence_penalty.unwrap_or(defaults.presence_penalty),
        frequency_penalty: f.frequency_penalty.unwrap_or(defaults.frequency_penalty),
        // A negative seed asks for a random one, as llama.cpp's -1.
        seed: match f.seed {
            Some(seed) => u64::try_from(seed).ok(),
            None => defaults.seed,
        },
        ..defaults.clone()
    }
}

fn submit(
    state: &AppState,
    endpoint: Endpoint,
    prompt: Vec<u32>,
    fields: &SamplingFields,
    top_logprobs: Option<usize>,
) -> Result<Job, ApiError> {
    if fields.n.is_some_and(|n| n != 1) {
        return Err(ApiError::invalid_param("n", "only n = 1 is supported"));
    }
    let (events, rx) = sink::channel();
    let mut request = Request::new(prompt, sampler(&state.config.defaults, fields), events);
    request.max_tokens = fields
        .max_completion_tokens
        .or(fields.max_tokens)
        .map(|n| n as usize);
    request.stop = fields
        .stop
        .clone()
        .map(|s| s.into_vec())
        .unwrap_or_default()
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    request.ignore_eos = fields.ignore_eos.unwrap_or(false);
    request.top_logprobs = top_logprobs;
    state.scheduler.submit(request).map_err(|error| {
        let mut error = ApiError::from(error);
        if error.code == Some("context_length_exceeded") {
            error.param = Some(match endpoint {
                Endpoint::Completions => "prompt",
                Endpoint::Chat => "messages",
            });
        }
        error
    })?;
    let prefix = match endpoint {
        Endpoint::Completions => "cmpl",
        Endpoint::Chat => "chatcmpl",
    };
    Ok(Job {
        endpoint,
        id: format!(
            "{prefix}-{:x}-{}",
            state.started,
            state.next_id.fetch_add(1, Ordering::Relaxed)
        ),
        created: crate::unix_seconds(),
        model: state.config.model_id.clone(),
        logprobs: top_logprobs.is_some(),
        include_usage: fields
            .stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
        events: rx,
    })
}

async fn respond(state: Arc<AppState>, job: Job, stream: bool) -> Result<Response, ApiError> {
    if stream {
        Ok(Sse::new(event_stream(state, job))
            .keep_alive(KeepAlive::default())
            .into_response())
    } else {
        whole(state, job)
            .await
            .map(|body| Json(body).into_response())
    }
}

/// A token as the answers show it: its text and bytes.
fn token_text(state: &AppState, id: u32) -> (String, Vec<u8>) {
    let bytes = state
        .model
        .tokenizer
        .token_to_piece(id, true)
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    (String::from_utf8_lossy(&bytes).into_owned(), bytes)
}

fn finish_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Length => "length",
        _ => "stop",
    }
}

/// The answer's `logprobs` for these tokens, in the endpoint's shape.
fn logprobs_json(
    state: &AppState,
    endpoint: Endpoint,
    tokens: &[(u32, TokenLogprob)],
    text_offset: usize,
) -> Value {
    match endpoint {
        Endpoint::Chat => {
            let entry = |id: u32, logprob: f32| {
                let (token, bytes) = token_text(state, id);
                json!({ "token": token, "logprob": logprob, "bytes": bytes })
            };
            let content: Vec<Value> = tokens
                .iter()
                .map(|(id, lp)| {
                    let mut e = entry(*id, lp.logprob);
                    e["top_logprobs"] = lp.top.iter().map(|&(t, l)| entry(t, l)).collect();
                    e
                })
                .collect();
            json!({ "content": content })
        }
        Endpoint::Completions => {
            let mut offset = text_offset;
            let (mut texts, mut lps, mut tops, mut offsets) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for (id, lp) in tokens {
                let (text, _) = token_text(state, *id);
                offsets.push(offset);
                offset += text.len();
                texts.push(text);
                lps.push(lp.logprob);
                let top: serde_json::Map<String, Value> = lp
                    .top
                    .iter()
                    .map(|&(t, l)| (token_text(state, t).0, json!(l)))
                    .collect();
                tops.push(Value::Object(top));
            }
            json!({
                "tokens": texts,
                "token_logprobs": lps,
                "top_logprobs": tops,
                "text_offset": offsets,
            })
        }
    }
}

/// Waits for the whole answer.
async fn whole(state: Arc<AppState>, mut job: Job) -> Result<Value, ApiError> {
    let mut text = String::new();
    let mut tokens: Vec<(u32, TokenLogprob)> = Vec::new();
    let summary = loop {
        match job.events.recv().await {
            Some(Event::Token(t)) => {
                text.push_str(&t.text);
                if let Some(lp) = t.logprob {
                    tokens.push((t.id, lp));
                }
            }
            Some(Event::Text(t)) => text.push_str(&t),
            Some(Event::Done(summary)) => break summary,
            Some(Event::Failed(error)) => return Err(ApiError::internal(error)),
            None => return Err(ApiError::internal("the scheduler stopped")),
        }
    };
    let logprobs = job
        .logprobs
        .then(|| logprobs_json(&state, job.endpoint, &tokens, 0));
    let usage = Usage::new(summary.prompt_tokens, summary.completion_tokens);
    let finish = finish_reason(summary.finish);
    Ok(match job.endpoint {
        Endpoint::Completions => json!({
            "id": job.id,
            "object": "text_completion",
            "created": job.created,
            "model": job.model,
            "choices": [{ "index": 0, "text": text, "logprobs": logprobs, "finish_reason": finish }],
            "usage": usage,
        }),
        Endpoint::Chat => json!({
            "id": job.id,
            "object": "chat.completion",
            "created": job.created,
            "model": job.model,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": text },
                "logprobs": logprobs,
                "finish_reason": finish,
            }],
            "usage": usage,
        }),
    })
}

/// The answer as server-sent events.
fn event_stream(
    state: Arc<AppState>,
    job: Job,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let mut stream = Streaming {
        state,
        job,
        pending: VecDeque::new(),
        done: false,
        text_len: 0,
    };
    if stream.job.endpoint == Endpoint::Chat {
        // OpenAI's first chat chunk names the role.
        let first = stream.chunk(json!({ "role": "assistant", "content": "" }), None, None);
        stream.pending.push_back(first);
    }
    futures_util::stream::unfold(stream, |mut s| async move {
        loop {
            if let Some(event) = s.pending.pop_front() {
                return Some((Ok(event), s));
            }
            if s.done {
                return None;
            }
            match s.job.events.recv().await {
                Some(event) => s.push(event),
                None => {
                    s.fail("the scheduler stopped");
                }
            }
        }
    })
}

/// The state of a streamed answer.
struct Streaming {
    state: Arc<AppState>,
    job: Job,
    pending: VecDeque<SseEvent>,
    done: bool,
    /// Bytes of text sent so far (completions' `text_offset`).
    text_len: usize,
}

impl Streaming {
    fn push(&mut self, event: Event) {
        match event {
            Event::Token(t) => {
                let logprobs = t.logprob.map(|lp| {
                    logprobs_json(&self.state, self.job.endpoint, &[(t.id, lp)], self.text_len)
                });
                if !t.text.is_empty() || logprobs.is_some() {
                    self.text_len += t.text.len();
                    let chunk = self.text_chunk(t.text, logprobs, None);
                    self.pending.push_back(chunk);
                }
            }
            Event::Text(text) => {
                self.text_len += text.len();
                let chunk = self.text_chunk(text, None, None);
                self.pending.push_back(chunk);
            }
            Event::Done(summary) => {
                let last =
                    self.text_chunk(String::new(), None, Some(finish_reason(summary.finish)));
                self.pending.push_back(last);
                if self.job.include_usage {
                    let usage = Usage::new(summary.prompt_tokens, summary.completion_tokens);
                    let mut chunk = self.envelope();
                    chunk["choices"] = json!([]);
                    chunk["usage"] = json!(usage);
                    self.pending.push_back(data(&chunk));
                }
                self.pending.push_back(SseEvent::default().data("[DONE]"));
                self.done = true;
            }
            Event::Failed(error) => self.fail(&error),
        }
    }

    fn fail(&mut self, message: &str) {
        let error = json!({ "error": { "message": message, "type": "server_error", "param": null, "code": null } });
        self.pending.push_back(data(&error));
        self.pending.push_back(SseEvent::default().data("[DONE]"));
        self.done = true;
    }

    fn envelope(&self) -> Value {
        let object = match self.job.endpoint {
            Endpoint::Completions => "text_completion",
            Endpoint::Chat => "chat.completion.chunk",
        };
        json!({
            "id": self.job.id,
            "object": object,
            "created": self.job.created,
            "model": self.job.model,
        })
    }

    fn text_chunk(&self, text: String, logprobs: Option<Value>, finish: Option<&str>) -> SseEvent {
        match self.job.endpoint {
            Endpoint::Completions => {
                let mut chunk = self.envelope();
                chunk["choices"] = json!([{ "index": 0, "text": text, "logprobs": logprobs, "finish_reason": finish }]);
                data(&chunk)
            }
            Endpoint::Chat => {
                let delta = if finish.is_some() {
                    json!({})
                } else {
                    json!({ "content": text })
                };
                self.chunk(delta, logprobs, finish)
            }
        }
    }

    /// A chat chunk.
    fn chunk(&self, delta: Value, logprobs: Option<Value>, finish: Option<&str>) -> SseEvent {
        let mut chunk = self.envelope();
        chunk["choices"] =
            json!([{ "index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish }]);
        data(&chunk)
    }
}

fn data(value: &Value) -> SseEvent {
    SseEvent::default().data(value.to_string())
}
