//! `GET /metrics`: the scheduler's and the HTTP layer's counters in Prometheus'
//! text format.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::AppState;

/// Requests and error answers of the HTTP layer.
#[derive(Debug, Default)]
pub struct HttpCounters {
    pub requests: AtomicU64,
    pub client_errors: AtomicU64,
    pub server_errors: AtomicU64,
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let s = state.scheduler.stats();
    let http = &state.http;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let rows: [(&str, &str, &str, f64); 16] = [
        (
            "rocmforge_http_requests_total",
            "counter",
            "HTTP requests answered",
            load(&http.requests) as f64,
        ),
        (
            "rocmforge_http_client_errors_total",
            "counter",
            "HTTP answers with a 4xx status",
            load(&http.client_errors) as f64,
        ),
        (
            "rocmforge_http_server_errors_total",
            "counter",
            "HTTP answers with a 5xx status",
            load(&http.server_errors) as f64,
        ),
        (
            "rocmforge_requests_total",
            "counter",
            "Generation requests accepted",
            s.requests as f64,
        ),
        (
            "rocmforge_requests_rejected_total",
            "counter",
            "Generation requests refused (queue full, invalid, shutting down)",
            s.rejected as f64,
        ),
        (
            "rocmforge_requests_completed_total",
            "counter",
            "Generation requests run to their end",
            s.completed as f64,
        ),
        (
            "rocmforge_requests_cancelled_total",
            "counter",
            "Generation requests whose client went away",
            s.cancelled as f64,
        ),
        (
            "rocmforge_requests_failed_total",
            "counter",
            "Generation requests the engine failed",
            s.failed as f64,
        ),
        (
            "rocmforge_prompt_tokens_total",
            "counter",
            "Prompt tokens evaluated",
            s.prompt_tokens as f64,
        ),
        (
            "rocmforge_generated_tokens_total",
            "counter",
            "Tokens generated",
            s.generated_tokens as f64,
        ),
        (
            "rocmforge_queue_depth",
            "gauge",
            "Requests waiting to start",
            s.queued as f64,
        ),
        (
            "rocmforge_batch_size",
            "gauge",
            "Sequences in the running batch",
            s.running as f64,
        ),
        (
            "rocmforge_batch_size_mean",
            "gauge",
            "Mean sequences per decode step",
            s.mean_batch(),
        ),
        (
            "rocmforge_decode_steps_total",
            "counter",
            "Decode steps run",
            s.steps as f64,
        ),
        (
            "rocmforge_decode_tokens_per_second",
            "gauge",
            "Tokens per second of the decode steps",
            s.decode_tokens_per_second(),
        ),
        (
            "rocmforge_prompt_seconds_total",
            "counter",
            "Seconds spent evaluating prompts",
            s.prefill_seconds,
        ),
    ];
    let mut body = String::new();
    for (name, kind, help, value) in rows {
        // Writing to a String cannot fail.
        let _ = write!(
            body,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        );
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
