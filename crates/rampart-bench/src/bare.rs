//! The bare axum peer: `GET /api/collections/{name}/records/{id}` behind a Bearer token.
//!
//! Records are served from memory, loaded once from a JSON array of records exactly as
//! `rampart serve` rendered them (the harness fetches them through Rampart after seeding).
//! The owner rule of the benchmark's `notes` collection is applied by comparing the record's
//! `owner_id` with the token's subject; anything else is `404`, as in Rampart.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rampart_core::domain::now_secs;
use rampart_core::token::TokenService;
use serde_json::Value;

/// One record as Rampart rendered it, with its owner pulled out for the access check.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    /// `owner_id` of the record (the user id as text).
    pub owner: String,
    /// The whole rendered record, returned as is.
    pub body: Value,
}

/// Records by collection name, then by record id.
pub type Records = HashMap<String, HashMap<String, StoredRecord>>;

/// What the handler needs.
#[derive(Clone)]
pub struct BareState {
    /// Verifies access tokens exactly as `rampart serve` does.
    pub tokens: Arc<TokenService>,
    /// The data set.
    pub records: Arc<Records>,
}

/// Why a records file was refused.
#[derive(Debug)]
pub struct RecordsError(pub String);

impl std::fmt::Display for RecordsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RecordsError {}

/// Parses `{"notes": [record, ...], ...}`: every record must carry string `id` and `owner_id`.
pub fn parse_records(text: &str) -> Result<Records, RecordsError> {
    let doc: Value =
        serde_json::from_str(text).map_err(|e| RecordsError(format!("not JSON: {e}")))?;
    let collections = doc
        .as_object()
        .ok_or_else(|| RecordsError("expected an object of collection name to records".into()))?;
    let mut out = Records::new();
    for (name, list) in collections {
        let list = list
            .as_array()
            .ok_or_else(|| RecordsError(format!("{name}: expected an array of records")))?;
        let mut by_id = HashMap::with_capacity(list.len());
        for record in list {
            let field = |key: &str| {
                record
                    .get(key)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| RecordsError(format!("{name}: a record has no string {key}")))
            };
            let id = field("id")?;
            let owner = field("owner_id")?;
            by_id.insert(
                id,
                StoredRecord {
                    owner,
                    body: record.clone(),
                },
            );
        }
        out.insert(name.clone(), by_id);
    }
    Ok(out)
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
    let found = state
        .records
        .get(&name)
        .and_then(|c| c.get(&id))
        .filter(|r| r.owner == verified.user_id.to_text());
    match found {
        Some(record) => axum::Json(record.body.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_file_needs_id_and_owner() {
        let ok = parse_records(r#"{"notes":[{"id":"a","owner_id":"u","title":"t"}]}"#);
        assert!(ok.is_ok_and(|r| r["notes"]["a"].owner == "u"));
        assert!(parse_records(r#"{"notes":[{"id":"a"}]}"#).is_err());
        assert!(parse_records(r#"[]"#).is_err());
    }

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
