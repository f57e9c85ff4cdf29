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

/// `GET /ready`: every configured dependency answers: the database, the audit trail, and
/// Redis when configured.
pub async fn ready(State(state): State<AppState>) -> AppResult<(StatusCode, Json<Value>)> {
    if let Err(e) = state.store.ping().await {
        tracing::error!(error = %e, "readiness check failed: database");
        return Err(ErrorCode::Unavailable.into());
    }
    if !state.audit.writer_alive() {
        tracing::error!("readiness check failed: the audit writer has stopped");
        return Err(ErrorCode::Unavailable.into());
    }
    if let Err(e) = state.audit.store().ping().await {
        state.metrics.store_error("audit");
        tracing::error!(error = %e, "readiness check failed: audit trail");
        return Err(ErrorCode::Unavailable.into());
    }
    // The rate-limit store, when it is Redis (in memory it always answers).
    if let Err(e) = state.limits.store.ping().await {
        tracing::error!(error = %e, "readiness check failed: redis");
        return Err(ErrorCode::Unavailable.into());
    }
    Ok((StatusCode::OK, Json(json!({ "status": "ready" }))))
}

/// `GET /.well-known/jwks.json`: public verification keys (empty for HS256).
pub async fn jwks(State(state): State<AppState>) -> Json<Value> {
    Json(state.tokens.jwks())
}

/// `GET /api/openapi.json`: the OpenAPI 3.1 description of every route.
pub async fn openapi(State(state): State<AppState>) -> Json<Value> {
    Json(crate::openapi::document(&state.settings.collections))
}
