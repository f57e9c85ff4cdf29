//! Cross-origin resource sharing from an exact-origin allowlist, on tower-http's `CorsLayer`.
//!
//! Allowed origins (and only they) get `Access-Control-Allow-Origin` with their own origin,
//! `Access-Control-Allow-Credentials: true`, the exposed headers (`X-Request-Id`,
//! `Retry-After`, `RateLimit-*`), and on preflight the allowed methods and headers with
//! `Access-Control-Max-Age: 86400`. Every response carries `Vary: Origin`.
//!
//! Threat: a reflected or wildcard origin with credentials lets any web page read a logged-in
//! user's data. The origin decision is `OriginAllowlist::allows` (exact match, in the core);
//! tower-http would still add some `Access-Control-*` headers (methods, exposed headers) for
//! origins it does not allow, so [`strip_for_disallowed`] removes every one of them unless
//! the request's origin is on the list: a disallowed origin sees no CORS headers at all.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, ORIGIN};
use http::{HeaderValue, Method};
use rampart_core::origin::OriginAllowlist;
use tower_http::cors::{AllowCredentials, AllowOrigin, CorsLayer};

/// Response headers a browser script may read.
const EXPOSED: &[&str] = &[
    "x-request-id",
    "retry-after",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "ratelimit-policy",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
];

/// Builds the CORS layer for an allowlist.
pub fn layer(allowlist: Arc<OriginAllowlist>) -> CorsLayer {
    let for_origin = Arc::clone(&allowlist);
    let for_credentials = allowlist;
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            for_origin.allows(origin.as_bytes())
        }))
        .allow_credentials(AllowCredentials::predicate(
            move |origin: &HeaderValue, _| for_credentials.allows(origin.as_bytes()),
        ))
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([AUTHORIZATION, CONTENT_TYPE])
        .expose_headers(
            EXPOSED
                .iter()
                .map(|h| HeaderName::from_static(h))
                .collect::<Vec<_>>(),
        )
        .max_age(Duration::from_secs(86400))
}

/// Removes every `Access-Control-*` response header unless the request came from an allowed
/// origin. Wraps the CORS layer.
pub async fn strip_for_disallowed(
    State(allowlist): State<Arc<OriginAllowlist>>,
    req: Request,
    next: Next,
) -> Response {
    let allowed = req
        .headers()
        .get(ORIGIN)
        .is_some_and(|o| allowlist.allows(o.as_bytes()));
    let mut res = next.run(req).await;
    if !allowed {
        let doomed: Vec<HeaderName> = res
            .headers()
            .keys()
            .filter(|k| k.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in doomed {
            res.headers_mut().remove(name);
        }
    }
    res
}
