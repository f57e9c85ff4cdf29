//! The request pipeline as an attacker meets it: security headers on every response, request
//! ids, routing and method refusals, CORS against look-alike origins, hostile bodies, and the
//! accept loop through a real socket (slowloris, oversized heads, graceful shutdown).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use http::{Method, Request};
use http_body_util::BodyExt;
use hyper::body::Frame;
use rampart_core::origin::{Origin, look_alikes};
use rampart_server::config::RawConfig;
use rampart_server::middleware::methods::ALLOWED as ALLOWED_METHODS;
use rampart_server::{Application, Settings};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

const ALLOWED_ORIGIN: &str = "https://allowed.example";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Words that would show a library, the database, a source location or parser text leaking
/// into a response body. Compared case-insensitively.
const INTERNALS: &[&str] = &[
    "serde", "sqlx", "axum", "hyper", "tokio", "panicked", ".rs", "line ", "column", "select",
    "expected",
];

/// The body reveals nothing about the implementation.
#[track_caller]
fn assert_no_internals(res: &TestResponse) {
    let body = String::from_utf8_lossy(&res.body).to_ascii_lowercase();
    for word in INTERNALS {
        assert!(
            !body.contains(word),
            "response body leaks {word:?}: {}",
            String::from_utf8_lossy(&res.body)
        );
    }
}

/// Every value of a (possibly repeated, comma-separated) header, lowercased and trimmed.
fn header_tokens(res: &TestResponse, name: &str) -> Vec<String> {
    res.headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

fn is_request_id(value: &str) -> bool {
    value.len() == 32
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The headers every response must carry, and the banners none may.
#[track_caller]
fn assert_security_headers(res: &TestResponse, what: &str) {
    let expect = |name: &str, value: &str| {
        assert_eq!(res.header(name), Some(value), "{what}: header {name}");
    };
    expect(
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    );
    let hsts = res
        .header("strict-transport-security")
        .unwrap_or_else(|| panic!("{what}: no HSTS"));
    assert!(hsts.contains("max-age=31536000"), "{what}: {hsts}");
    assert!(hsts.contains("includeSubDomains"), "{what}: {hsts}");
    assert!(hsts.contains("preload"), "{what}: {hsts}");
    expect("x-content-type-options", "nosniff");
    expect("x-frame-options", "DENY");
    expect("referrer-policy", "no-referrer");
    let permissions = res
        .header("permissions-policy")
        .unwrap_or_else(|| panic!("{what}: no Permissions-Policy"));
    for feature in ["camera=()", "microphone=()", "geolocation=()"] {
        assert!(permissions.contains(feature), "{what}: {permissions}");
    }
    expect("cross-origin-opener-policy", "same-origin");
    expect("cross-origin-resource-policy", "same-origin");
    expect("cache-control", "no-store");
    let id = res
        .header("x-request-id")
        .unwrap_or_else(|| panic!("{what}: no X-Request-Id"));
    assert!(is_request_id(id), "{what}: request id {id:?}");
    assert_eq!(
        res.headers.get_all("x-request-id").iter().count(),
        1,
        "{what}"
    );
    assert!(
        header_tokens(res, "vary").iter().any(|t| t == "origin"),
        "{what}: Vary {:?}",
        header_tokens(res, "vary")
    );
    for banner in ["server", "x-powered-by"] {
        assert!(res.header(banner).is_none(), "{what}: banner {banner}");
    }
}

/// No `Access-Control-*` header at all.
#[track_caller]
fn assert_no_cors(res: &TestResponse, what: &str) {
    let leaked: Vec<&str> = res
        .headers
        .keys()
        .map(|k| k.as_str())
        .filter(|k| k.starts_with("access-control-"))
        .collect();
    assert!(leaked.is_empty(), "{what}: CORS headers {leaked:?}");
}

fn request(method: Method, path: &str) -> http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", "api.test")
}

fn get(path: &str) -> Request<Body> {
    request(Method::GET, path).body(Body::empty()).unwrap()
}

/// A POST with the given content type (none when `None`) and body.
fn post_raw(path: &str, content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut builder = request(Method::POST, path);
    if let Some(ct) = content_type {
        builder = builder.header("content-type", ct);
    }
    builder.body(body.into()).unwrap()
}

fn post_json(path: &str, value: &Value) -> Request<Body> {
    post_raw(path, Some("application/json"), value.to_string())
}

fn preflight(origin: &str) -> Request<Body> {
    request(Method::OPTIONS, "/api/auth/login")
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, authorization",
        )
        .body(Body::empty())
        .unwrap()
}

fn registration(email: &str) -> Value {
    json!({ "email": email, "password": PASSWORD, "name": "Test User" })
}

async fn send(app: &TestApp, request: Request<Body>) -> TestResponse {
    app.send_request(request).await
}

/// Sends `request` and checks what every response must satisfy: the expected status (and,
/// for errors, the envelope with `code`), the security headers, and no internals in the body.
async fn check(
    app: &TestApp,
    request: Request<Body>,
    status: u16,
    code: Option<&str>,
) -> TestResponse {
    let what = format!("{} {}", request.method(), request.uri());
    let res = send(app, request).await;
    assert_eq!(
        res.status.as_u16(),
        status,
        "{what}: body {}",
        String::from_utf8_lossy(&res.body)
    );
    if let Some(code) = code {
        assert_eq!(res.json()["error"], code, "{what}");
        res.assert_error(status, code);
        assert_eq!(
            res.header("content-type"),
            Some("application/json"),
            "{what}"
        );
    }
    assert_security_headers(&res, &what);
    assert_no_internals(&res);
    res
}

/// A request body of `count` chunks of `chunk` between `head` and `tail`, with no known
/// length; counts how many chunks the server pulled.
struct Chunks {
    head: Option<Bytes>,
    chunk: Bytes,
    left: usize,
    tail: Option<Bytes>,
    pulled: Arc<AtomicUsize>,
}

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        this.pulled.fetch_add(1, Ordering::SeqCst);
        let next = if let Some(head) = this.head.take() {
            Some(head)
        } else if this.left > 0 {
            this.left -= 1;
            Some(this.chunk.clone())
        } else {
            this.tail.take()
        };
        Poll::Ready(next.map(|b| Ok(Frame::data(b))))
    }
}

const TWO_MB: usize = 2 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;

/// A 2 MB registration document for `email` (valid JSON, just too large).
fn big_registration(email: &str) -> Vec<u8> {
    let head = format!(r#"{{"email":"{email}","password":"{PASSWORD}","name":"Test User","pad":""#);
    let mut body = head.into_bytes();
    body.resize(TWO_MB, b'x');
    body.extend_from_slice(b"\"}");
    body
}

// ---------------------------------------------------------------------------------------------
// Security headers and request ids
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    let (_, user_token, _) = app.user("headers-user@example.com").await;
    let big = big_registration("headers-big@example.com");
    let big_len = big.len().to_string();

    let cases: Vec<(Request<Body>, u16, Option<&str>)> = vec![
        (get("/health"), 200, None),
        (
            request(Method::HEAD, "/health")
                .body(Body::empty())
                .unwrap(),
            200,
            None,
        ),
        (
            post_json(
                "/api/auth/register",
                &registration("headers-new@example.com"),
            ),
            201,
            None,
        ),
        (
            post_json(
                "/api/auth/register",
                &json!({"email": "not-an-email", "password": PASSWORD, "name": "x"}),
            ),
            400,
            Some("validation_failed"),
        ),
        (get("/api/users/me"), 401, Some("unauthorized")),
        (
            request(Method::GET, "/api/users/me")
                .header("authorization", "Bearer not.a.token")
                .body(Body::empty())
                .unwrap(),
            401,
            Some("invalid_token"),
        ),
        (
            request(Method::GET, "/api/admin/users")
                .header("authorization", format!("Bearer {user_token}"))
                .body(Body::empty())
                .unwrap(),
            403,
            Some("forbidden"),
        ),
        (get("/no/such/route"), 404, Some("not_found")),
        (get("/api/auth/login"), 405, Some("method_not_allowed")),
        (
            request(Method::TRACE, "/health")
                .body(Body::empty())
                .unwrap(),
            405,
            Some("method_not_allowed"),
        ),
        (
            request(Method::POST, "/api/auth/register")
                .header("content-type", "application/json")
                .header("content-length", big_len.as_str())
                .body(Body::from(big))
                .unwrap(),
            413,
            Some("payload_too_large"),
        ),
        (
            post_raw(
                "/api/auth/register",
                Some("text/plain"),
                registration("headers-text@example.com").to_string(),
            ),
            415,
            Some("unsupported_media_type"),
        ),
        (preflight(ALLOWED_ORIGIN), 200, None),
        (preflight("https://evil.example"), 200, None),
    ];
    for (req, status, code) in cases {
        check(&app, req, status, code).await;
    }
}

#[tokio::test]
async fn request_ids_are_generated_by_the_server_never_echoed() {
    let app = spawn_app().await;
    let forged = "attacker-chosen-id";
    let mut seen = std::collections::HashSet::new();
    for path in ["/health", "/no/such/route", "/api/users/me"] {
        let req = request(Method::GET, path)
            .header("x-request-id", forged)
            .body(Body::empty())
            .unwrap();
        let res = send(&app, req).await;
        let id = res.header("x-request-id").unwrap().to_owned();
        assert_ne!(id, forged, "{path}");
        assert!(is_request_id(&id), "{path}: {id:?}");
        assert!(
            !String::from_utf8_lossy(&res.body).contains(forged),
            "{path}"
        );
        assert_eq!(res.headers.get_all("x-request-id").iter().count(), 1);
        if res.status.is_client_error() {
            assert_eq!(res.json()["request_id"], id.as_str(), "{path}");
        }
        assert!(seen.insert(id), "request ids repeat");
    }
}

// ---------------------------------------------------------------------------------------------
// Routing and methods
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn unknown_routes_and_wrong_methods_are_refused_in_the_envelope() {
    let app = spawn_app().await;
    let custom = |m: &[u8]| Method::from_bytes(m).unwrap();
    let cases: Vec<(Method, &str, u16, &str)> = vec![
        (Method::GET, "/no/such/route", 404, "not_found"),
        (Method::GET, "/api", 404, "not_found"),
        (Method::POST, "/api/auth/nope", 404, "not_found"),
        (Method::GET, "/api/auth/login/", 404, "not_found"),
        (Method::GET, "/../../etc/passwd", 404, "not_found"),
        (Method::PUT, "/api/auth/login", 405, "method_not_allowed"),
        (Method::GET, "/api/auth/login", 405, "method_not_allowed"),
        (Method::DELETE, "/health", 405, "method_not_allowed"),
        (
            Method::PATCH,
            "/api/auth/register",
            405,
            "method_not_allowed",
        ),
        (Method::TRACE, "/health", 405, "method_not_allowed"),
        (Method::TRACE, "/api/auth/login", 405, "method_not_allowed"),
        (Method::TRACE, "/no/such/route", 405, "method_not_allowed"),
        (Method::CONNECT, "/health", 405, "method_not_allowed"),
        (Method::CONNECT, "/api/users/me", 405, "method_not_allowed"),
        (custom(b"TRACK"), "/health", 405, "method_not_allowed"),
        (custom(b"PROPFIND"), "/health", 405, "method_not_allowed"),
        (
            custom(b"DEBUG"),
            "/api/auth/login",
            405,
            "method_not_allowed",
        ),
        (custom(b"get"), "/health", 405, "method_not_allowed"),
        (Method::GET, "/api/%2e%2e/health", 404, "not_found"),
        (Method::GET, "/health%00", 404, "not_found"),
    ];
    for (method, path, status, code) in cases {
        // TRACE would reflect credentials back (cross-site tracing): send some and make sure
        // the body never carries them. (An `Authorization` header that is not a bearer token
        // is itself refused with 401 once past the method allowlist, so it goes only with the
        // methods the allowlist refuses first.)
        let mut req =
            request(method.clone(), path).header("cookie", "rampart_refresh=secret-cookie-value");
        if !ALLOWED_METHODS.contains(&method) {
            req = req.header("authorization", "Basic c2VjcmV0LWF1dGgtdmFsdWU=");
        }
        let req = req.body(Body::empty()).unwrap();
        let res = check(&app, req, status, Some(code)).await;
        let body = String::from_utf8_lossy(&res.body);
        assert!(!body.contains("secret-cookie-value"), "{body}");
        assert!(!body.contains("c2VjcmV0LWF1dGgtdmFsdWU"), "{body}");
        assert!(res.header("set-cookie").is_none());
    }
}

// ---------------------------------------------------------------------------------------------
// CORS
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn allowed_origin_gets_exact_credentialed_cors() {
    let app = spawn_app().await;
    let simple = |path: &str| {
        request(Method::GET, path)
            .header("origin", ALLOWED_ORIGIN)
            .body(Body::empty())
            .unwrap()
    };
    // A success and an error: a browser must be able to read both (and the request id).
    for (req, status, code) in [
        (simple("/health"), 200, None),
        (simple("/api/users/me"), 401, Some("unauthorized")),
    ] {
        let res = check(&app, req, status, code).await;
        assert_eq!(
            res.header("access-control-allow-origin"),
            Some(ALLOWED_ORIGIN)
        );
        assert_eq!(res.header("access-control-allow-credentials"), Some("true"));
        let exposed = header_tokens(&res, "access-control-expose-headers");
        for h in ["x-request-id", "retry-after"] {
            assert!(exposed.iter().any(|e| e == h), "{exposed:?}");
        }
    }

    let res = check(&app, preflight(ALLOWED_ORIGIN), 200, None).await;
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some(ALLOWED_ORIGIN)
    );
    assert_eq!(res.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(res.header("access-control-max-age"), Some("86400"));
    let methods = header_tokens(&res, "access-control-allow-methods");
    for m in ["get", "post", "patch", "delete"] {
        assert!(methods.iter().any(|x| x == m), "{methods:?}");
    }
    for m in ["put", "trace", "connect", "*"] {
        assert!(!methods.iter().any(|x| x == m), "{methods:?}");
    }
    let allowed_headers = header_tokens(&res, "access-control-allow-headers");
    for h in ["content-type", "authorization"] {
        assert!(
            allowed_headers.iter().any(|x| x == h),
            "{allowed_headers:?}"
        );
    }
    assert!(!allowed_headers.iter().any(|x| x == "*"));
}

#[tokio::test]
async fn hostile_and_look_alike_origins_get_no_cors_headers() {
    let app = spawn_app().await;
    let allowed = Origin::parse(ALLOWED_ORIGIN).unwrap();
    let mut hostile: Vec<String> = vec![
        "https://evil.example".into(),
        "null".into(),
        "https://allowed.example.evil.com".into(),
        "https://evilallowed.example".into(),
    ];
    hostile.extend(look_alikes(&allowed));
    assert!(hostile.len() > 10);
    for origin in &hostile {
        assert_ne!(origin, ALLOWED_ORIGIN);
        let simple = request(Method::GET, "/health")
            .header("origin", origin.as_str())
            .body(Body::empty())
            .unwrap();
        let res = check(&app, simple, 200, None).await;
        assert_no_cors(&res, &format!("GET from {origin:?}"));

        let res = check(&app, preflight(origin), 200, None).await;
        assert_no_cors(&res, &format!("preflight from {origin:?}"));

        // An error response too (a browser reading it would learn the request id).
        let err = request(Method::GET, "/api/users/me")
            .header("origin", origin.as_str())
            .body(Body::empty())
            .unwrap();
        let res = check(&app, err, 401, Some("unauthorized")).await;
        assert_no_cors(&res, &format!("401 to {origin:?}"));
    }
}

#[tokio::test]
async fn empty_allowlist_gives_nobody_cors_headers() {
    let app = spawn_app_with(|raw| raw.cors.allowed_origins = vec![]).await;
    for origin in [ALLOWED_ORIGIN, "https://evil.example", "null"] {
        let simple = request(Method::GET, "/health")
            .header("origin", origin)
            .body(Body::empty())
            .unwrap();
        let res = check(&app, simple, 200, None).await;
        assert_no_cors(&res, &format!("GET from {origin}"));
        let res = check(&app, preflight(origin), 200, None).await;
        assert_no_cors(&res, &format!("preflight from {origin}"));
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile bodies
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    let app = spawn_app().await;

    // Honest Content-Length: refused before the body is read.
    let big = big_registration("big-length@example.com");
    let req = request(Method::POST, "/api/auth/register")
        .header("content-type", "application/json")
        .header("content-length", big.len().to_string())
        .body(Body::from(big))
        .unwrap();
    check(&app, req, 413, Some("payload_too_large")).await;

    // No Content-Length (chunked upload): refused once the cap is crossed, without reading
    // the rest.
    let pulled = Arc::new(AtomicUsize::new(0));
    let chunks = Chunks {
        head: Some(Bytes::from(format!(
            r#"{{"email":"big-stream@example.com","password":"{PASSWORD}","name":"Test User","pad":""#
        ))),
        chunk: Bytes::from(vec![b'x'; CHUNK]),
        left: TWO_MB / CHUNK,
        tail: Some(Bytes::from_static(b"\"}")),
        pulled: Arc::clone(&pulled),
    };
    let req = request(Method::POST, "/api/auth/register")
        .header("content-type", "application/json")
        .body(Body::from_stream(chunks.into_data_stream()))
        .unwrap();
    assert!(req.headers().get("content-length").is_none());
    check(&app, req, 413, Some("payload_too_large")).await;
    let max_body = app.state.settings.max_body_bytes;
    assert!(
        pulled.load(Ordering::SeqCst) <= max_body / CHUNK + 3,
        "the server kept reading past the cap: {} chunks",
        pulled.load(Ordering::SeqCst)
    );

    // A Content-Length that understates the body does not get the rest through either.
    let big = big_registration("big-liar@example.com");
    let req = request(Method::POST, "/api/auth/register")
        .header("content-type", "application/json")
        .header("content-length", "100")
        .body(Body::from(big))
        .unwrap();
    let res = send(&app, req).await;
    assert!(res.status.is_client_error(), "{}", res.status);
    assert_ne!(res.status, 201);
    assert_no_internals(&res);

    // None of them created anything.
    for email in [
        "big-length@example.com",
        "big-stream@example.com",
        "big-liar@example.com",
    ] {
        app.register(email).await;
    }
}

#[tokio::test]
async fn malformed_bodies_are_refused_without_internals_and_change_nothing() {
    let app = spawn_app().await;
    let json = Some("application/json");
    let valid = |email: &str| registration(email).to_string().into_bytes();
    // `arrays` nested arrays inside the top-level object: nesting depth `arrays + 1`.
    let nested = |email: &str, arrays: usize| {
        format!(
            r#"{{"email":"{email}","password":"{PASSWORD}","name":"Test User","x":{}1{}}}"#,
            "[".repeat(arrays),
            "]".repeat(arrays)
        )
        .into_bytes()
    };
    let max_depth = app.state.settings.max_json_depth;
    assert_eq!(max_depth, 32);
    let mut invalid_utf8 =
        format!(r#"{{"email":"utf8@example.com","password":"{PASSWORD}","name":"Test "#)
            .into_bytes();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
    invalid_utf8.extend_from_slice(b"\"}");
    let mut truncated = valid("truncated@example.com");
    truncated.truncate(truncated.len() - 5);

    // (label, content type, body, status, code, email the body carries)
    type BodyCase<'a> = (
        &'a str,
        Option<&'a str>,
        Vec<u8>,
        u16,
        &'a str,
        Option<&'a str>,
    );
    let cases: Vec<BodyCase<'_>> = vec![
        (
            "malformed",
            json,
            format!(r#"{{"email":"malformed@example.com","password":'{PASSWORD}',}}"#)
                .into_bytes(),
            400,
            "invalid_json",
            Some("malformed@example.com"),
        ),
        (
            "truncated",
            json,
            truncated,
            400,
            "invalid_json",
            Some("truncated@example.com"),
        ),
        (
            "invalid utf-8",
            json,
            invalid_utf8,
            400,
            "invalid_json",
            Some("utf8@example.com"),
        ),
        ("empty", json, Vec::new(), 400, "invalid_json", None),
        ("whitespace", json, b"  \n ".to_vec(), 400, "invalid_json", None),
        (
            "trailing garbage",
            json,
            [valid("trailing@example.com"), b"{}".to_vec()].concat(),
            400,
            "invalid_json",
            Some("trailing@example.com"),
        ),
        (
            "text/plain",
            Some("text/plain"),
            valid("textplain@example.com"),
            415,
            "unsupported_media_type",
            Some("textplain@example.com"),
        ),
        (
            "no content type",
            None,
            valid("noct@example.com"),
            415,
            "unsupported_media_type",
            Some("noct@example.com"),
        ),
        (
            "form",
            Some("application/x-www-form-urlencoded"),
            format!(
                "email=form%40example.com&password={}&name=Test",
                PASSWORD.replace(' ', "+")
            )
            .into_bytes(),
            415,
            "unsupported_media_type",
            Some("form@example.com"),
        ),
        (
            "json with a foreign charset",
            Some("application/json; charset=latin1"),
            valid("latin1@example.com"),
            415,
            "unsupported_media_type",
            Some("latin1@example.com"),
        ),
        (
            "nested 40 deep",
            json,
            nested("deep@example.com", 40),
            400,
            "json_too_deep",
            Some("deep@example.com"),
        ),
        (
            "nested one past the cap",
            json,
            nested("deep33@example.com", max_depth),
            400,
            "json_too_deep",
            Some("deep33@example.com"),
        ),
        (
            // At the cap the body parses; the unknown field `x` is then refused.
            "nested exactly at the cap",
            json,
            nested("deep32@example.com", max_depth - 1),
            400,
            "validation_failed",
            Some("deep32@example.com"),
        ),
        (
            "nested 10000 deep in a bare array",
            json,
            "[".repeat(10_000).into_bytes(),
            400,
            "json_too_deep",
            None,
        ),
        (
            "byte order mark",
            json,
            [b"\xEF\xBB\xBF".to_vec(), valid("bom@example.com")].concat(),
            400,
            "invalid_json",
            Some("bom@example.com"),
        ),
        (
            "lone surrogate",
            json,
            format!(
                r#"{{"email":"surrogate@example.com","password":"{PASSWORD}","name":"\ud800"}}"#
            )
            .into_bytes(),
            400,
            "invalid_json",
            Some("surrogate@example.com"),
        ),
        (
            "1e999",
            json,
            format!(r#"{{"email":1e999,"password":"{PASSWORD}","name":"Test User"}}"#)
                .into_bytes(),
            400,
            "invalid_json",
            None,
        ),
        (
            "huge integer",
            json,
            format!(
                r#"{{"email":"hugenum@example.com","password":"{PASSWORD}","name":99999999999999999999999}}"#
            )
            .into_bytes(),
            400,
            "validation_failed",
            Some("hugenum@example.com"),
        ),
        (
            "not an object",
            json,
            b"[1,2,3]".to_vec(),
            400,
            "validation_failed",
            None,
        ),
    ];
    let mut refused_emails = Vec::new();
    for (label, content_type, body, status, code, email) in cases {
        let res = send(&app, post_raw("/api/auth/register", content_type, body)).await;
        assert_eq!(
            res.status.as_u16(),
            status,
            "{label}: {}",
            String::from_utf8_lossy(&res.body)
        );
        assert_eq!(res.json()["error"], code, "{label}");
        res.assert_error(status, code);
        assert_security_headers(&res, label);
        assert_no_internals(&res);
        refused_emails.extend(email);
    }

    // Through the harness's own request builder too: a form post is not JSON.
    let res = app
        .send(Req::post("/api/auth/register").raw_body(
            "application/x-www-form-urlencoded",
            "email=harness%40example.com&password=x&name=y",
        ))
        .await;
    res.assert_error(415, "unsupported_media_type");
    assert_no_internals(&res);
    refused_emails.push("harness@example.com");

    // The same hostile bodies at login: same refusals, no session.
    let res = send(
        &app,
        post_raw("/api/auth/login", json, b"{\"email\":".to_vec()),
    )
    .await;
    res.assert_error(400, "invalid_json");
    assert_no_internals(&res);
    assert!(res.refresh_cookie().is_none());

    // Nothing was created: each address registers normally now.
    for email in refused_emails {
        app.register(email).await;
    }
}

#[tokio::test]
async fn a_stalled_body_upload_times_out_with_408() {
    let app = spawn_app_with(|raw| raw.limits.request_timeout_secs = 1).await;
    // Sends the start of a document, then never another byte (and never wakes the reader).
    struct Stalled(Option<Bytes>);
    impl hyper::body::Body for Stalled {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            match self.get_mut().0.take() {
                Some(b) => Poll::Ready(Some(Ok(Frame::data(b)))),
                None => Poll::Pending,
            }
        }
    }
    let req = request(Method::POST, "/api/auth/register")
        .header("content-type", "application/json")
        .body(Body::new(Stalled(Some(Bytes::from_static(
            b"{\"email\":\"stalled@example.com\",",
        )))))
        .unwrap();
    check(&app, req, 408, Some("request_timeout")).await;
    app.register("stalled@example.com").await;
}

// ---------------------------------------------------------------------------------------------
// Through a real socket: the accept loop
// ---------------------------------------------------------------------------------------------

struct Served {
    addr: std::net::SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn serve_app(configure: impl FnOnce(&mut RawConfig)) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = RawConfig {
        data_dir: dir.path().to_owned(),
        listen: "127.0.0.1:0".into(),
        ..RawConfig::default()
    };
    raw.limits.header_read_timeout_secs = 1;
    raw.metrics.listen = "127.0.0.1:0".into();
    if let Some(base) = postgres_url() {
        raw.database_url = fresh_postgres_database(&base).await;
    }
    configure(&mut raw);
    let settings = Settings::from_raw(&raw).expect("test configuration is valid");
    let app = Application::build(settings).await.expect("app builds");
    let addr = app.local_addr().unwrap();
    assert!(addr.ip().is_loopback());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(Box::pin(app.run(async move {
        let _ = rx.await;
    })));
    Served {
        addr,
        shutdown: Some(tx),
        task,
        _dir: dir,
    }
}

impl Served {
    async fn connect(&self) -> TcpStream {
        tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(self.addr))
            .await
            .expect("connect in time")
            .expect("connects")
    }

    /// Triggers shutdown and waits (bounded) for `run` to return.
    async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let result = tokio::time::timeout(Duration::from_secs(60), &mut self.task)
            .await
            .expect("run() returned after shutdown");
        result
            .expect("run task did not panic")
            .expect("run() is Ok");
    }
}

/// What a raw read saw: the bytes, and whether the server closed the connection (EOF or
/// reset) before `limit`.
struct Seen {
    bytes: Vec<u8>,
    closed: bool,
}

async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Seen {
    let deadline = tokio::time::Instant::now() + limit;
    let mut bytes = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    for _ in 0..10_000 {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => {
                return Seen {
                    bytes,
                    closed: false,
                };
            }
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Seen {
                    bytes,
                    closed: true,
                };
            }
            Ok(Ok(n)) => {
                bytes.extend_from_slice(&buf[..n]);
                if bytes.len() > 1024 * 1024 {
                    break;
                }
            }
        }
    }
    Seen {
        bytes,
        closed: false,
    }
}

/// Reads one response head (through the blank line) without waiting for the connection to
/// close.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    for _ in 0..64 * 1024 {
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut byte))
            .await
            .expect("response in time")
            .expect("read");
        assert_eq!(
            n,
            1,
            "connection closed mid-head: {:?}",
            String::from_utf8_lossy(&bytes)
        );
        bytes.push(byte[0]);
        if bytes.ends_with(b"\r\n\r\n") {
            break;
        }
    }
    String::from_utf8(bytes).unwrap()
}

fn head_has(head: &str, name: &str) -> bool {
    head.lines()
        .any(|l| l.to_ascii_lowercase().starts_with(&format!("{name}:")))
}

fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            let lower = l.to_ascii_lowercase();
            lower
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .expect("content-length")
}

#[tokio::test]
async fn plain_request_over_tcp_is_served_with_headers() {
    let served = serve_app(|_| {}).await;
    let mut stream = served.connect().await;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let seen = read_until_closed(&mut stream, Duration::from_secs(30)).await;
    assert!(seen.closed);
    let text = String::from_utf8(seen.bytes).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    for name in [
        "content-security-policy",
        "strict-transport-security",
        "x-content-type-options",
        "x-frame-options",
        "x-request-id",
        "cache-control",
    ] {
        assert!(head_has(head, name), "{name} missing: {head}");
    }
    assert!(!head_has(head, "server"), "{head}");
    assert!(!head_has(head, "x-powered-by"), "{head}");
    assert_eq!(
        serde_json::from_str::<Value>(body).unwrap(),
        json!({"status": "ok"})
    );
    served.stop().await;
}

#[tokio::test]
async fn slowloris_header_stall_is_disconnected() {
    let served = serve_app(|_| {}).await;
    let mut stream = served.connect().await;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // The head never completes; with a 1 s header-read timeout the server must hang up. The
    // 10 s bound is generous: this asserts "closed", not how fast.
    let seen = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(
        seen.closed,
        "the server kept a stalled connection open; got {:?}",
        String::from_utf8_lossy(&seen.bytes)
    );
    // It never answered the incomplete request.
    assert!(
        !String::from_utf8_lossy(&seen.bytes).contains(" 200 "),
        "{:?}",
        String::from_utf8_lossy(&seen.bytes)
    );
    served.stop().await;
}

#[tokio::test]
async fn slowloris_trickled_headers_are_disconnected() {
    let served = serve_app(|_| {}).await;
    let stream = served.connect().await;
    let (mut reader, mut writer) = stream.into_split();
    // One header byte every 200 ms, forever (bounded at 50 bytes = 10 s): each byte arrives
    // well within any idle timeout, but the head never completes.
    // The task hands the write half back rather than dropping it: the client never closes
    // its side, so only the server can end the connection.
    let trickle = tokio::spawn(async move {
        if writer.write_all(b"GET /health HTTP/1.1\r\n").await.is_err() {
            return writer;
        }
        for byte in b"X-Slow: ".iter().chain([b'a'; 42].iter()) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if writer.write_all(&[*byte]).await.is_err() {
                break;
            }
        }
        writer
    });
    let mut buf = [0u8; 1024];
    let mut got = Vec::new();
    let mut closed = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    for _ in 0..1000 {
        match tokio::time::timeout_at(deadline, reader.read(&mut buf)).await {
            Err(_) => break,
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
    assert!(closed, "a trickling client kept its connection");
    assert!(
        !String::from_utf8_lossy(&got).contains(" 200 "),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    trickle.abort();
    served.stop().await;
}

#[tokio::test]
async fn idle_connection_that_sends_nothing_is_disconnected() {
    // A connection flood need not send a byte: each idle connection holds one of the
    // `max_connections` slots. The header-read deadline must cover it too.
    let served = serve_app(|_| {}).await;
    let mut stream = served.connect().await;
    let seen = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(
        seen.closed,
        "the server kept a connection that never sent a byte open for 10 s (header-read timeout is 1 s)"
    );
    assert!(seen.bytes.is_empty());
    served.stop().await;
}

#[tokio::test]
async fn idle_connections_cannot_starve_the_connection_cap() {
    // With max_connections = 2, two silent connections must not lock everyone else out.
    let served = serve_app(|raw| raw.limits.max_connections = 2).await;
    let _silent_a = served.connect().await;
    let _silent_b = served.connect().await;
    let mut stream = served.connect().await;
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let seen = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    let text = String::from_utf8_lossy(&seen.bytes);
    assert!(
        text.starts_with("HTTP/1.1 200 OK"),
        "a client was locked out by two idle connections: {text:?}"
    );
    served.stop().await;
}

#[tokio::test]
async fn oversized_request_head_gets_431() {
    let served = serve_app(|_| {}).await;

    // Control: 8 KiB of headers is within the 16 KiB default and is served.
    let mut ok = String::from("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for i in 0..8 {
        ok.push_str(&format!("X-Pad-{i}: {}\r\n", "a".repeat(1000)));
    }
    ok.push_str("\r\n");
    let mut stream = served.connect().await;
    stream.write_all(ok.as_bytes()).await.unwrap();
    let seen = read_until_closed(&mut stream, Duration::from_secs(30)).await;
    assert!(
        String::from_utf8_lossy(&seen.bytes).starts_with("HTTP/1.1 200 OK"),
        "{:?}",
        String::from_utf8_lossy(&seen.bytes)
    );

    // 64 KiB of headers: hyper stops reading at max_header_bytes and answers 431 itself,
    // then closes the connection. The handler never runs.
    let mut big = String::from("GET /health HTTP/1.1\r\nHost: x\r\n");
    for i in 0..64 {
        big.push_str(&format!("X-Pad-{i}: {}\r\n", "a".repeat(1024)));
    }
    big.push_str("\r\n");
    assert!(big.len() >= 64 * 1024);
    let stream = served.connect().await;
    let (mut reader, mut writer) = stream.into_split();
    // The server stops reading part-way; write from a task so a full socket buffer cannot
    // block the test, and ignore the write error when the server hangs up.
    let writer_task = tokio::spawn(async move {
        let _ = writer.write_all(big.as_bytes()).await;
        writer
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut closed = false;
    for _ in 0..1000 {
        match tokio::time::timeout_at(deadline, reader.read(&mut buf)).await {
            Err(_) => break,
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{text:?}"
    );
    assert!(closed, "the connection stays open after 431");
    assert!(!text.contains("\"status\":\"ok\""), "{text}");
    writer_task.abort();

    // Many small headers (far under the byte cap) exceed hyper's header count: 431 as well.
    let mut many = String::from("GET /health HTTP/1.1\r\nHost: x\r\n");
    for i in 0..200 {
        many.push_str(&format!("X-{i}: a\r\n"));
    }
    many.push_str("\r\n");
    assert!(many.len() < 8 * 1024);
    let mut stream = served.connect().await;
    stream.write_all(many.as_bytes()).await.unwrap();
    let seen = read_until_closed(&mut stream, Duration::from_secs(20)).await;
    let text = String::from_utf8_lossy(&seen.bytes);
    assert!(
        text.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{text:?}"
    );
    assert!(seen.closed);
    served.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests_then_stops() {
    // A long grace period: if run() returns promptly, it was the graceful path that closed the
    // connections, not the grace timer.
    let served = serve_app(|raw| raw.limits.shutdown_grace_secs = 300).await;

    // A keep-alive connection that is idle at shutdown.
    let mut idle = served.connect().await;
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let head = read_head(&mut idle).await;
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    let mut body = vec![0u8; content_length(&head)];
    idle.read_exact(&mut body).await.unwrap();

    // A request in flight at shutdown: the handler is reading its body (100 Continue proves
    // it) when the signal arrives; the rest of the body is sent afterwards.
    let mut busy = served.connect().await;
    let doc = registration("in-flight@example.com").to_string();
    busy.write_all(
        format!(
            "POST /api/auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            doc.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let cont = read_head(&mut busy).await;
    assert!(cont.starts_with("HTTP/1.1 100 Continue"), "{cont}");

    let Served {
        addr,
        mut shutdown,
        mut task,
        _dir,
    } = served;
    shutdown.take().unwrap().send(()).unwrap();

    busy.write_all(doc.as_bytes()).await.unwrap();
    let head = read_head(&mut busy).await;
    assert!(head.starts_with("HTTP/1.1 201 Created"), "{head}");
    let mut body = vec![0u8; content_length(&head)];
    busy.read_exact(&mut body).await.unwrap();
    let user: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(user["email"], "in-flight@example.com");
    // Keep-alive is off during shutdown: the server closes after the response.
    let seen = read_until_closed(&mut busy, Duration::from_secs(30)).await;
    assert!(seen.closed && seen.bytes.is_empty());

    // The idle keep-alive connection is closed by the server.
    let seen = read_until_closed(&mut idle, Duration::from_secs(30)).await;
    assert!(seen.closed && seen.bytes.is_empty());

    tokio::time::timeout(Duration::from_secs(60), &mut task)
        .await
        .expect("run() returned within the bound, long before the grace period")
        .expect("run task did not panic")
        .expect("run() is Ok");

    // No longer listening.
    let refused = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr)).await;
    assert!(
        !matches!(refused, Ok(Ok(_))),
        "still accepting connections after shutdown"
    );
}
