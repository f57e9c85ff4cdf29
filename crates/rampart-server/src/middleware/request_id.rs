//! Gives every request a fresh id, server-generated, and echoes it as `X-Request-Id`.
//!
//! Threat: a client-chosen request id lets an attacker forge or collide log correlation
//! (log injection, hiding among another request's lines). Any incoming `X-Request-Id` is
//! replaced, never trusted.
//!
//! ```text
//! Router::new().layer(axum::middleware::from_fn(request_id::assign))
//! ```

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;

/// The header carrying the id, both ways.
pub const HEADER: &str = "x-request-id";

/// A request's id.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Assigns the id, exposes it to later stages as an extension, and sets the response header.
pub async fn assign(mut req: Request, next: Next) -> Response {
    let id = uuid::Uuid::new_v4().simple().to_string();
    // A 32-character hex string is always a valid header value.
    let value = HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("-"));
    req.headers_mut().insert(HEADER, value.clone());
    req.extensions_mut().insert(RequestId(id));
    let mut res = next.run(req).await;
    res.headers_mut().insert(HEADER, value);
    res
}
