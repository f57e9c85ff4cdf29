//! Refuses every method outside the allowlist with 405 before any routing or body handling.
//!
//! Threat: `TRACE` reflects the request (and its cookies or `Authorization`) back, which
//! cross-site tracing uses to read credentials; `CONNECT` and unusual methods reach code
//! paths nobody tested.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::Method;
use rampart_core::error::{ApiError, ErrorCode};

use crate::error::error_response;

/// Methods any route may use.
pub const ALLOWED: &[Method] = &[
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

/// Passes allowed methods on; answers anything else with 405 `method_not_allowed`.
pub async fn allowlist(req: Request, next: Next) -> Response {
    if ALLOWED.contains(req.method()) {
        next.run(req).await
    } else {
        error_response(ApiError::new(ErrorCode::MethodNotAllowed))
    }
}
