//! The bare axum peer: `GET /api/collections/{name}/records/{id}` behind a Bearer token.
//!
//! The same authenticated read as `rampart serve`'s, done with the same building blocks and
//! nothing around them: the token is verified by [`TokenService`] with Rampart's key ring,
//! the collection's read rule gives the row filter, [`Store::get_record`] reads the record
//! from Rampart's own database (the same SQLite file, opened beside the running server), and
//! [`CollectionSpec::render`] renders it. Left out is exactly the pipeline: request ids,
//! access log, security headers, CORS, error envelope, audit, method allowlist, body cap,
//! timeout, the session-revocation lookup, rate limiting and metrics. Refusals are bare
//! status codes (401, 404).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rampart_core::collections::Operation;
use rampart_core::collections::rule::{Access, Subject};
use rampart_core::collections::schema::CollectionSpec;
use rampart_core::domain::{RecordId, now_secs};
use rampart_core::token::TokenService;
use rampart_store::Store;

/// What the handler needs.
#[derive(Clone)]
pub struct BareState {
    /// Verifies access tokens exactly as `rampart serve` does.
    pub tokens: Arc<TokenService>,
    /// Rampart's database.
    pub store: Store,
    /// The collections `rampart serve` was configured with.
    pub collections: Arc<Vec<CollectionSpec>>,
}

/// The router: one route, no middleware.
pub fn router(state: BareState) -> Router {
    Router::new()
        .route("/api/collections/{name}/records/{id}", get(read))
        .route("/health", get(|| async { "ok" }))
        .with_state(state)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

async fn read(
    State(state): State<BareState>,
    headers: HeaderMap,
    Path((name, id)): Path<(String, String)>,
) -> Response {
    let Some(token) = bearer(&headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Ok(verified) = state.tokens.verify(token, now_secs()) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let subject = Subject::User {
        id: verified.user_id,
        role: verified.role,
    };
    let Some(spec) = state.collections.iter().find(|c| c.name.as_str() == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Access::Filter(visible) = spec.access(Operation::Read, &subject) else {
        return StatusCode::FORBIDDEN.into_response();
    };
    let Ok(id) = RecordId::parse(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match state.store.get_record(spec, id, &visible).await {
        Ok(Some(record)) => axum::Json(spec.render(&subject, &record)).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_required() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            "bearer abc".parse().unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(
            header::AUTHORIZATION,
            "Basic abc".parse().unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(bearer(&h), None);
    }
}
