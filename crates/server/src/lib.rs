//! An OpenAI-compatible HTTP server on top of the engine: `GET /v1/models`,
//! `POST /v1/completions`, `POST /v1/chat/completions` (answers whole or
//! streamed as server-sent events), `GET /health` and `GET /metrics`
//! (Prometheus text).
//!
//! Requests run in the engine's continuous batch
//! ([`rocmforge_engine::scheduler`]); this crate only speaks HTTP. Start it with
//! [`run`] (which also handles SIGINT/SIGTERM), or build the [`router`] to embed
//! it in another axum application.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod api;
mod completions;
mod error;
mod metrics;
mod routes;
mod sink;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use rocmforge_engine::Model;
use rocmforge_engine::chat::ChatFormat;
use rocmforge_engine::sampling::SamplerConfig;
use rocmforge_engine::scheduler::Scheduler;

pub use routes::router;

/// What the server answers with and how it is reached.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub addr: SocketAddr,
    /// When set, `/v1/*` requests need `Authorization: Bearer <key>`.
    pub api_key: Option<String>,
    /// The model's name in `/v1/models` and in answers.
    pub model_id: String,
    /// Sampling for fields a request leaves out (llama.cpp's defaults, or the
    /// command line's).
    pub defaults: SamplerConfig,
}

/// What every handler shares.
pub struct AppState {
    model: Arc<Model>,
    scheduler: Arc<Scheduler>,
    chat: ChatFormat,
    config: ServerConfig,
    started: u64,
    next_id: AtomicU64,
    http: metrics::HttpCounters,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The state of a server for `model`, running requests on `scheduler`.
    pub fn new(
        model: Arc<Model>,
        scheduler: Arc<Scheduler>,
        config: ServerConfig,
    ) -> Result<Self, rocmforge_engine::EngineError> {
        let chat = ChatFormat::of(&model)?;
        Ok(Self {
            model,
            scheduler,
            chat,
            config,
            started: unix_seconds(),
            next_id: AtomicU64::new(1),
            http: metrics::HttpCounters::default(),
        })
    }
}

/// What [`run`] tells its caller as it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerEvent {
    /// The server listens on this address (useful with port 0).
    Listening(SocketAddr),
    /// SIGINT or SIGTERM came: no new connections; requests in flight finish.
    ShuttingDown,
}

/// Serves until SIGINT or SIGTERM, then stops taking connections, lets the
/// requests in flight finish, and stops the scheduler. `report` hears when it
/// listens and when it starts shutting down.
pub fn run(
    state: AppState,
    report: impl Fn(ServerEvent) + Send + Sync + 'static,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("rocmforge-http")
        .build()?;
    let scheduler = state.scheduler.clone();
    let addr = state.config.addr;
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        report(ServerEvent::Listening(listener.local_addr()?));
        axum::serve(listener, router(Arc::new(state)))
            .with_graceful_shutdown(async move {
                shutdown_signal().await;
                report(ServerEvent::ShuttingDown);
            })
            .await
    });
    scheduler.shutdown();
    result
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        // Without a handler only SIGTERM (below) ends the server.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
