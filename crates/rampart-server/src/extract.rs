//! Validation and authorization extractors: the only way a handler receives input.
//!
//! - [`JsonObject`]: the body, checked for content type, size, nesting depth, UTF-8 and JSON
//!   syntax, and required to be an object. Handlers then take each field through
//!   [`JsonObject::fields`] into a domain type; [`Fields::finish`] refuses unknown fields and
//!   reports every problem at once as `validation_failed` details.
//! - [`QueryParams`]: the query string, same rules (unknown or repeated parameters refused).
//! - [`Caller`] / [`AdminCaller`]: authorization. `Caller` requires an authenticated
//!   principal (401 otherwise); `AdminCaller` also requires the admin role (403 otherwise,
//!   and the refusal is logged with user, route and IP).
//! - [`SubjectOf`]: the caller for collection rules (anonymous or user with live role).
//! - [`ClientMeta`]: the client's IP and user agent, for sessions and logs. The IP is decided
//!   in one place (`resolve_client_ip`, behind [`client_ip`] and [`client_ip_of`]): the socket
//!   peer, or behind a configured trusted proxy the address it forwarded
//!   (`rampart_core::net::client_ip`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, MatchedPath, Request};
use http::header::{CONTENT_TYPE, USER_AGENT};
use http::request::Parts;
use rampart_core::collections::rule::Subject;
use rampart_core::domain::{Invalid, Role};
use rampart_core::error::{ApiError, ErrorCode, FieldError};
use serde_json::{Map, Value};

use crate::error::AppError;
use crate::middleware::authenticate::Principal;
use crate::state::AppState;

/// A JSON object body that passed the transport checks.
#[derive(Debug)]
pub struct JsonObject(Map<String, Value>);

/// Whether `bytes` nests arrays/objects deeper than `max`. Scans without building anything,
/// so a hostile body cannot make the parser recurse before the cap applies.
fn nests_deeper_than(bytes: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

fn is_json_content_type(value: Option<&http::HeaderValue>) -> bool {
    let Some(Ok(value)) = value.map(|v| v.to_str()) else {
        return false;
    };
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return false;
    }
    // The only parameter that makes sense is charset, and JSON is UTF-8.
    parts.all(|p| {
        let p = p.trim().to_ascii_lowercase().replace(' ', "");
        p.is_empty() || p == "charset=utf-8"
    })
}

/// Whether a body-read error was caused by a length limit, anywhere in its source chain.
fn caused_by_length_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        current = e.source();
    }
    false
}

impl FromRequest<AppState> for JsonObject {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, AppError> {
        if !is_json_content_type(req.headers().get(CONTENT_TYPE)) {
            return Err(ErrorCode::UnsupportedMediaType.into());
        }
        let limit = state.settings.max_body_bytes;
        let bytes: Bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|e| {
                // Over the cap (the body-limit layer's error, or our own limit here) is 413;
                // any other read failure is a broken upload.
                if caused_by_length_limit(&e) {
                    AppError::from(ErrorCode::PayloadTooLarge)
                } else {
                    AppError::from(ErrorCode::InvalidJson)
                }
            })?;
        if nests_deeper_than(&bytes, state.settings.max_json_depth) {
            return Err(ErrorCode::JsonTooDeep.into());
        }
        let value: Value =
            serde_json::from_slice(&bytes).map_err(|_| AppError::from(ErrorCode::InvalidJson))?;
        match value {
            Value::Object(map) => Ok(Self(map)),
            _ => Err(
                ApiError::validation(vec![FieldError::new("body", "must be a JSON object")]).into(),
            ),
        }
    }
}

impl JsonObject {
    /// The object itself, for the collection layer, which checks every key against the
    /// collection's declaration (`CollectionSpec::changes`).
    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }

    /// Starts taking fields out of the object.
    pub fn fields(self) -> Fields {
        Fields {
            map: self.0,
            errors: Vec::new(),
        }
    }
}

/// Takes named fields out of a JSON object into domain types, collecting every problem.
pub struct Fields {
    map: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Fields {
    /// A required string field parsed by `parse`. Returns `None` (and records why) if it is
    /// missing, not a string, or refused by `parse`.
    pub fn required<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, Invalid>,
    ) -> Option<T> {
        match self.map.remove(name) {
            None => {
                self.errors.push(FieldError::new(name, "is required"));
                None
            }
            Some(value) => self.parse_value(name, value, parse),
        }
    }

    /// An optional string field: `None` when absent; recorded as an error when present but
    /// invalid (including `null`).
    pub fn optional<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, Invalid>,
    ) -> Option<T> {
        let value = self.map.remove(name)?;
        self.parse_value(name, value, parse)
    }

    fn parse_value<T>(
        &mut self,
        name: &str,
        value: Value,
        parse: impl FnOnce(&str) -> Result<T, Invalid>,
    ) -> Option<T> {
        let Value::String(text) = value else {
            self.errors.push(FieldError::new(name, "must be a string"));
            return None;
        };
        match parse(&text) {
            Ok(v) => Some(v),
            Err(Invalid(why)) => {
                self.errors.push(FieldError::new(name, why));
                None
            }
        }
    }

    /// Records a problem found while combining fields.
    pub fn reject(&mut self, name: &str, message: &'static str) {
        self.errors.push(FieldError::new(name, message));
    }

    /// Ends parsing: any field not taken is unknown (`role`, `id`, `$gt`, ...) and refused;
    /// all problems are returned together.
    pub fn finish(mut self) -> Result<(), AppError> {
        let mut unknown: Vec<String> = self.map.keys().cloned().collect();
        unknown.sort();
        for name in unknown {
            self.errors
                .push(FieldError::new(name, "is not a recognised field"));
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.errors).into())
        }
    }
}

/// Query-string parameters, each at most once.
#[derive(Debug)]
pub struct QueryParams(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        let query = parts.uri.query().unwrap_or_default();
        let mut map = HashMap::new();
        let mut errors = Vec::new();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            if map.insert(key.to_string(), value.to_string()).is_some() {
                errors.push(FieldError::new(key, "must appear at most once"));
            }
        }
        if errors.is_empty() {
            Ok(Self(map))
        } else {
            Err(ApiError::validation(errors).into())
        }
    }
}

impl QueryParams {
    /// Takes the parameters this route knows, returning their raw values in the order asked,
    /// and refuses any other parameter.
    pub fn take<const N: usize>(
        mut self,
        names: [&str; N],
    ) -> Result<[Option<String>; N], AppError> {
        let values = names.map(|n| self.0.remove(n));
        if self.0.is_empty() {
            return Ok(values);
        }
        let mut unknown: Vec<String> = self.0.into_keys().collect();
        unknown.sort();
        Err(ApiError::validation(
            unknown
                .into_iter()
                .map(|n| FieldError::new(n, "is not a recognised parameter"))
                .collect(),
        )
        .into())
    }
}

/// The caller as the collection rules see it: anonymous, or a user with their live role.
#[derive(Debug, Clone, Copy)]
pub struct SubjectOf(pub Subject);

impl<S: Send + Sync> FromRequestParts<S> for SubjectOf {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        Ok(SubjectOf(match parts.extensions.get::<Principal>() {
            Some(p) => Subject::User {
                id: p.user_id,
                role: p.role,
            },
            None => Subject::Anonymous,
        }))
    }
}

/// An authenticated caller (401 `unauthorized` without one).
#[derive(Debug, Clone, Copy)]
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        parts
            .extensions
            .get::<Principal>()
            .copied()
            .map(Caller)
            .ok_or_else(|| ErrorCode::Unauthorized.into())
    }
}

/// An authenticated caller with the admin role. Anonymous: 401; any other role: 403, logged
/// with user, route and IP. Deny by default: the match names the one role that passes.
#[derive(Debug, Clone, Copy)]
pub struct AdminCaller(pub Principal);

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map_or_else(|| parts.uri.path().to_owned(), |m| m.as_str().to_owned());
        let Ok(Caller(principal)) = Caller::from_request_parts(parts, state).await else {
            tracing::warn!(
                user_id = "anonymous",
                method = %parts.method,
                route = %route,
                ip = %client_ip(parts, state),
                "access denied: authentication required for an admin route"
            );
            return Err(ErrorCode::Unauthorized.into());
        };
        match principal.role {
            Role::Admin => Ok(AdminCaller(principal)),
            Role::User => {
                tracing::warn!(
                    user_id = %principal.user_id,
                    method = %parts.method,
                    route = %route,
                    ip = %client_ip(parts, state),
                    "access denied: admin role required"
                );
                Err(ErrorCode::Forbidden.into())
            }
        }
    }
}

/// The client's IP: the socket peer, unless the peer is in `network.trusted_proxies`; then the
/// right-most `X-Forwarded-For` address that is not itself a trusted proxy
/// (`rampart_core::net::client_ip`). `None` when the request did not come through the accept
/// loop (no `ConnectInfo`, as in tests that call the router directly).
///
/// This is the one place the server decides who the client is; [`client_ip`] and
/// [`client_ip_of`] are its two shapes (request parts for extractors, a whole request for
/// middleware).
fn resolve_client_ip(
    extensions: &http::Extensions,
    headers: &http::HeaderMap,
    state: &AppState,
) -> Option<IpAddr> {
    let ConnectInfo(peer) = extensions.get::<ConnectInfo<SocketAddr>>()?;
    let trusted = &state.settings.trusted_proxies;
    if !trusted.contains(peer.ip()) {
        // Not from a trusted proxy: the header is not even read.
        return Some(rampart_core::net::client_ip(peer.ip(), &[], trusted));
    }
    // Values that are not visible ASCII are decoded lossily rather than dropped, so they count
    // as malformed entries and nothing to their left is believed.
    let values: Vec<Cow<'_, str>> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()))
        .collect();
    let values: Vec<&str> = values.iter().map(AsRef::as_ref).collect();
    Some(rampart_core::net::client_ip(peer.ip(), &values, trusted))
}

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The client's IP as text for sessions and logs (see [`resolve_client_ip`]), `unknown`
/// without `ConnectInfo`.
pub fn client_ip(parts: &Parts, state: &AppState) -> String {
    resolve_client_ip(&parts.extensions, &parts.headers, state)
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

/// The client's IP for middleware that holds the whole request (see [`resolve_client_ip`]).
pub fn client_ip_of(state: &AppState, req: &Request) -> Option<IpAddr> {
    resolve_client_ip(req.extensions(), req.headers(), state)
}

/// The user agent as sessions, logs and the audit trail keep it: truncated to 256 characters,
/// control characters removed (no log injection).
pub fn user_agent(headers: &http::HeaderMap) -> String {
    headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(256)
        .collect()
}

/// The client's address and user agent.
#[derive(Debug, Clone)]
pub struct ClientMeta {
    /// The client's IP ([`client_ip`]: the socket peer, or the address a trusted proxy
    /// forwarded), or `unknown`.
    pub ip: String,
    /// The user agent, truncated to 256 characters, control characters removed.
    pub user_agent: String,
}

impl FromRequestParts<AppState> for ClientMeta {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        Ok(Self {
            ip: client_ip(parts, state),
            user_agent: user_agent(&parts.headers),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_scan() {
        assert!(!nests_deeper_than(br#"{"a":[1,2,{"b":3}]}"#, 3));
        assert!(nests_deeper_than(br#"{"a":[1,2,{"b":3}]}"#, 2));
        // Brackets inside strings (and escaped quotes) do not count.
        assert!(!nests_deeper_than(br#"{"a":"[[[[[\"[[[["}"#, 1));
        assert!(nests_deeper_than(&b"[".repeat(10_000), 32));
    }

    #[test]
    fn content_types() {
        let ok = |v: &str| is_json_content_type(Some(&http::HeaderValue::from_str(v).unwrap()));
        assert!(ok("application/json"));
        assert!(ok("Application/JSON; charset=UTF-8"));
        assert!(!ok("text/plain"));
        assert!(!ok("application/json; charset=latin1"));
        assert!(!ok("application/jsonp"));
        assert!(!is_json_content_type(None));
    }
}
