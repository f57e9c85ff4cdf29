//! Renders every error response in one envelope:
//! `{"error": code, "message": text, "request_id": id}` (plus `details` for validation
//! failures and `retry_after` when a retry may succeed).
//!
//! Handlers and layers only choose an `ApiError` (or just a status, for layers that know
//! nothing else); this layer writes the body. So no parser text, SQL, path or library name can
//! reach a client, and a 5xx body is always the generic one: its cause goes to the log, keyed
//! by the request id.

use axum::Json;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, StatusCode};
use rampart_core::error::{ApiError, ErrorCode};

use super::request_id::RequestId;
use crate::error::InternalCause;

/// Renders error responses produced by any later stage.
pub async fn render(req: Request, next: Next) -> Response {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let (mut parts, _body) = res.into_parts();
    let error = parts
        .extensions
        .remove::<ApiError>()
        .unwrap_or_else(|| ApiError::new(ErrorCode::for_status(status.as_u16())));
    if let Some(InternalCause(cause)) = parts.extensions.remove::<InternalCause>() {
        tracing::error!(%request_id, %method, %path, %cause, "request failed");
    } else if error.code == ErrorCode::Internal {
        tracing::error!(%request_id, %method, %path, %status, "request failed in a layer");
    }
    // A code from the table keeps its status; a bare 4xx a layer produced keeps its own.
    let status = if error.code == ErrorCode::BadRequest {
        status
    } else {
        StatusCode::from_u16(error.code.status()).unwrap_or(status)
    };
    let mut body = serde_json::json!({
        "error": error.code.as_str(),
        "message": error.code.message(),
        "request_id": request_id,
    });
    if !error.details.is_empty() {
        body["details"] = serde_json::json!(error.details);
    }
    if let Some(secs) = error.retry_after {
        body["retry_after"] = serde_json::json!(secs);
        parts.headers.insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.remove(CONTENT_TYPE);
    let mut rendered = (status, Json(body)).into_response();
    // Keep what earlier stages decided about the response (Allow, Set-Cookie, Retry-After).
    for (name, value) in parts.headers.iter() {
        rendered.headers_mut().append(name.clone(), value.clone());
    }
    rendered
}
