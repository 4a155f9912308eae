//! The routes, the API-key check, and the small endpoints.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::AppState;
use crate::api::ModelCard;
use crate::error::ApiError;

/// The server's routes over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    let v1 = Router::new()
        .route("/v1/models", get(models))
        .route("/v1/completions", post(crate::completions::completions))
        .route("/v1/chat/completions", post(crate::completions::chat))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_key));
    Router::new()
        .merge(v1)
        .route("/health", get(health))
        .route("/metrics", get(crate::metrics::metrics))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), count))
        .with_state(state)
}

/// Refuses `/v1/*` requests without the configured key.
async fn require_key(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Some(key) = &state.config.api_key else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(given) if given == key => next.run(request).await,
        Some(_) => ApiError::unauthorized("incorrect API key").into_response(),
        None => ApiError::unauthorized("missing API key: send it as `Authorization: Bearer <key>`")
            .into_response(),
    }
}

/// Counts requests and error answers for `/metrics`.
async fn count(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let http = &state.http;
    http.requests.fetch_add(1, Ordering::Relaxed);
    let counter = match response.status().as_u16() {
        400..=499 => &http.client_errors,
        500..=599 => &http.server_errors,
        _ => return response,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    response
}

async fn models(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let card = ModelCard {
        id: state.config.model_id.clone(),
        object: "model",
        created: state.started,
        owned_by: "rocmforge",
    };
    Json(json!({ "object": "list", "data": [card] }))
}

async fn health(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let stats = state.scheduler.stats();
    (
        StatusCode::OK,
        Json(json!({
            "status": "ok",
            "running": stats.running,
            "queued": stats.queued,
        })),
    )
}

async fn not_found(request: Request) -> ApiError {
    ApiError::not_found(format!(
        "no route for {} {}",
        request.method(),
        request.uri().path()
    ))
}
