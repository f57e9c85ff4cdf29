//! `spawn_app()` and request helpers. Each app gets its own data directory (and, on
//! PostgreSQL, its own database), so tests never share state.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use rampart_server::config::RawConfig;
use rampart_server::state::AppState;
use rampart_server::{Settings, build_state, router};
use serde_json::{Value, json};
use sqlx::Connection;
use tower::ServiceExt;

/// A password that passes every rule.
pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    /// The configuration the app was built from (a second "process" can share it).
    pub raw: RawConfig,
    pub router: Router,
    pub state: AppState,
    pub dir: tempfile::TempDir,
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "body is not JSON: {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts the status and the envelope's error code, and that the envelope is well-formed.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        let body = self.json();
        assert_eq!(body["error"], code, "body: {body}");
        assert!(body["message"].is_string());
        let request_id = self.headers.get("x-request-id").unwrap().to_str().unwrap();
        assert_eq!(body["request_id"], request_id);
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// The refresh token from `Set-Cookie`, if one was set.
    pub fn refresh_cookie(&self) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| c.strip_prefix("rampart_refresh="))
            .map(|rest| rest.split(';').next().unwrap().to_owned())
            .filter(|v| !v.is_empty())
    }
}

/// Which database this run uses.
pub fn postgres_url() -> Option<String> {
    std::env::var("RAMPART_TEST_POSTGRES_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

/// Creates a fresh PostgreSQL database for one test and returns its URL.
pub async fn fresh_postgres_database(base: &str) -> String {
    let name = format!("rampart_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(base).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    match base.rsplit_once('/') {
        Some((prefix, _)) => format!("{prefix}/{name}"),
        None => panic!("RAMPART_TEST_POSTGRES_URL must end in /<database>"),
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut RawConfig)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = RawConfig {
        data_dir: dir.path().to_owned(),
        ..RawConfig::default()
    };
    raw.cors.allowed_origins = vec!["https://allowed.example".into()];
    raw.metrics.listen = "127.0.0.1:0".into();
    // Most tests log in and call routes far more often than the production limits allow;
    // tests/it/ratelimit.rs turns limiting back on and tests it.
    raw.rate_limit.enabled = false;
    if let Some(base) = postgres_url() {
        raw.database_url = fresh_postgres_database(&base).await;
    }
    configure(&mut raw);
    start(raw, dir).await
}

/// An app whose rate limits, penalties and lockouts run on `clock` (tests move time by hand).
/// Rate limiting is left as `configure` sets it (the harness default is off).
pub async fn spawn_app_with_clock(
    clock: std::sync::Arc<dyn rampart_core::ratelimit::Clock>,
    configure: impl FnOnce(&mut RawConfig),
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = RawConfig {
        data_dir: dir.path().to_owned(),
        ..RawConfig::default()
    };
    raw.cors.allowed_origins = vec!["https://allowed.example".into()];
    raw.metrics.listen = "127.0.0.1:0".into();
    if let Some(base) = postgres_url() {
        raw.database_url = fresh_postgres_database(&base).await;
    }
    configure(&mut raw);
    let settings = Settings::from_raw(&raw).expect("test configuration is valid");
    let state = rampart_server::build_state_with_clock(settings, clock)
        .await
        .expect("app builds");
    TestApp {
        raw,
        router: router(state.clone()),
        state,
        dir,
    }
}

/// A second server process on the same database and key ring as `first`.
pub async fn spawn_sibling(first: &TestApp) -> TestApp {
    start(first.raw.clone(), tempfile::tempdir().unwrap()).await
}

async fn start(raw: RawConfig, dir: tempfile::TempDir) -> TestApp {
    let settings = Settings::from_raw(&raw).expect("test configuration is valid");
    let state = build_state(settings).await.expect("app builds");
    TestApp {
        raw,
        router: router(state.clone()),
        state,
        dir,
    }
}

/// The keys of a JSON object.
pub fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect()
}

/// A set of strings, to compare with [`keys`] and [`detail_fields`].
pub fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The `field` of every entry in a validation error's `details` (each must have a message).
pub fn detail_fields(res: &TestResponse) -> BTreeSet<String> {
    let body = res.json();
    body["details"]
        .as_array()
        .unwrap_or_else(|| panic!("no details: {body}"))
        .iter()
        .map(|d| {
            assert!(d["message"].is_string(), "{body}");
            d["field"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// Asserts a 400 `validation_failed` whose details name exactly `expected`.
#[track_caller]
pub fn assert_validation(res: &TestResponse, expected: &[&str]) {
    res.assert_error(400, "validation_failed");
    assert_eq!(detail_fields(res), set(expected), "body: {}", res.json());
}

pub struct Req {
    builder: http::request::Builder,
    body: Body,
}

impl Req {
    pub fn new(method: Method, path: &str) -> Self {
        Self {
            builder: Request::builder()
                .method(method)
                .uri(path)
                .header("host", "api.test"),
            body: Body::empty(),
        }
    }
    pub fn get(path: &str) -> Self {
        Self::new(Method::GET, path)
    }
    pub fn post(path: &str) -> Self {
        Self::new(Method::POST, path)
    }
    pub fn patch(path: &str) -> Self {
        Self::new(Method::PATCH, path)
    }
    pub fn delete(path: &str) -> Self {
        Self::new(Method::DELETE, path)
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.builder = self.builder.header(name, value);
        self
    }
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }
    /// Sets the socket peer, as the accept loop does (`ConnectInfo`); without it the server
    /// sees the client as `unknown`.
    pub fn peer(mut self, addr: std::net::SocketAddr) -> Self {
        self.builder = self.builder.extension(axum::extract::ConnectInfo(addr));
        self
    }
    pub fn cookie(self, refresh: &str) -> Self {
        self.header("cookie", &format!("rampart_refresh={refresh}"))
    }
    pub fn json(mut self, value: Value) -> Self {
        self.builder = self.builder.header("content-type", "application/json");
        self.body = Body::from(value.to_string());
        self
    }
    pub fn raw_body(mut self, content_type: &str, body: impl Into<Body>) -> Self {
        self.builder = self.builder.header("content-type", content_type);
        self.body = body.into();
        self
    }
}

impl TestApp {
    pub async fn send(&self, req: Req) -> TestResponse {
        self.send_request(req.builder.body(req.body).unwrap()).await
    }

    /// Sends a request built by hand (methods and bodies `Req` cannot express).
    pub async fn send_request(&self, request: Request<Body>) -> TestResponse {
        let res = tokio::time::timeout(
            Duration::from_secs(60),
            self.router.clone().oneshot(request),
        )
        .await
        .expect("request finished in time")
        .unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
        TestResponse {
            status,
            headers,
            body,
        }
    }

    /// Registers a user and returns the response body.
    pub async fn register(&self, email: &str) -> Value {
        let res = self
            .send(Req::post("/api/auth/register").json(json!({
                "email": email, "password": PASSWORD, "name": "Test User"
            })))
            .await;
        assert_eq!(res.status, 201, "{}", String::from_utf8_lossy(&res.body));
        res.json()
    }

    /// Logs in and returns (access token, refresh token).
    pub async fn login(&self, email: &str) -> (String, String) {
        let res = self
            .send(Req::post("/api/auth/login").json(json!({
                "email": email, "password": PASSWORD
            })))
            .await;
        assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
        let token = res.json()["access_token"].as_str().unwrap().to_owned();
        (
            token,
            res.refresh_cookie().expect("login sets the refresh cookie"),
        )
    }

    /// Registers and logs in a user; returns (user id, access token, refresh token).
    pub async fn user(&self, email: &str) -> (String, String, String) {
        let id = self.register(email).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (access, refresh) = self.login(email).await;
        (id, access, refresh)
    }

    /// A logged-in admin: registers, promotes through the store, logs in.
    pub async fn admin(&self, email: &str) -> (String, String, String) {
        let id = self.register(email).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let user_id = rampart_core::domain::UserId::parse(&id).unwrap();
        self.state
            .store
            .set_role(user_id, rampart_core::domain::Role::Admin, 0)
            .await
            .unwrap()
            .unwrap();
        let (access, refresh) = self.login(email).await;
        (id, access, refresh)
    }
}

/// Parses `[[collections]]` TOML (as in rampart.toml) into raw declarations.
pub fn collections_from_toml(text: &str) -> Vec<rampart_core::collections::schema::RawCollection> {
    #[derive(serde::Deserialize)]
    struct File {
        collections: Vec<rampart_core::collections::schema::RawCollection>,
    }
    toml::from_str::<File>(text)
        .expect("test collections parse")
        .collections
}

/// An app serving the bundled example collections (`posts`, `orders`).
pub async fn spawn_app_with_examples() -> TestApp {
    spawn_app_with(|raw| {
        raw.collections = collections_from_toml(rampart_server::config::EXAMPLE_COLLECTIONS);
    })
    .await
}
