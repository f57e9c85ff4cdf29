//! Liveness, readiness and the public keys.

use axum::Json;
use axum::extract::State;
use http::StatusCode;
use rampart_core::error::ErrorCode;
use serde_json::{Value, json};

use crate::error::AppResult;
use crate::state::AppState;

/// `GET /health`: the process answers.
pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /ready`: every configured store answers.
pub async fn ready(State(state): State<AppState>) -> AppResult<(StatusCode, Json<Value>)> {
    match state.store.ping().await {
        Ok(()) => Ok((StatusCode::OK, Json(json!({ "status": "ready" })))),
        Err(e) => {
            tracing::error!(error = %e, "readiness check failed: database");
            Err(ErrorCode::Unavailable.into())
        }
    }
}

/// `GET /.well-known/jwks.json`: public verification keys (empty for HS256).
pub async fn jwks(State(state): State<AppState>) -> Json<Value> {
    Json(state.tokens.jwks())
}

/// `GET /api/openapi.json`: the OpenAPI 3.1 description of every route.
pub async fn openapi(State(state): State<AppState>) -> Json<Value> {
    Json(crate::openapi::document(&state.settings.collections))
}
