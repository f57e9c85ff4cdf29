//! Sets the security headers of `rampart_core::headers::SECURITY_HEADERS` on every response,
//! plus `Cache-Control: no-store`, and removes banner headers (`Server`, `X-Powered-By`).
//!
//! Threats: clickjacking (frame-ancestors, X-Frame-Options), MIME sniffing of JSON into
//! script, protocol downgrade (HSTS), leaking URLs through Referer, cross-origin window and
//! resource access (COOP, CORP), and caches keeping responses that carry tokens or personal
//! data (no-store). Banners tell an attacker which exploits to try.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use http::header::{CACHE_CONTROL, HeaderName};
use rampart_core::headers::{BANNER_HEADERS, SECURITY_HEADERS};

/// Applies the headers to the response, overriding anything a later stage set.
pub async fn apply(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    // Every API response may carry a token or personal data; none is cacheable.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for banner in BANNER_HEADERS {
        headers.remove(*banner);
    }
    res
}
