//! The only way the scanner talks to the network.
//!
//! **Invariant:** every request goes to the scanned base URL's scheme, host and port. Callers
//! pass a path, never a URL; redirects are never followed (a redirect is a response to look
//! at, not a place to go); environment proxies are ignored. Every request counts against
//! `max_requests`, and requests are spaced by the politeness rate.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};
use url::Url;

/// Largest response body read; the rest is discarded.
const MAX_BODY: usize = 256 * 1024;

/// Why the scan cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL is not one the scanner accepts.
    #[error("{0}")]
    BadTarget(String),
    /// `--max-requests` is spent.
    #[error("the request budget (--max-requests) is spent")]
    Budget,
    /// The target did not answer (connection refused, timeout, TLS failure).
    #[error("{0}")]
    Unreachable(String),
}

/// One request and its response, as findings show them.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Method.
    pub method: Method,
    /// Path and query.
    pub path: String,
    /// Request headers the scanner set (never credentials: those are masked).
    pub sent: Vec<(String, String)>,
    /// Status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// Response body, at most 256 KiB, lossily decoded.
    pub body: String,
}

impl Exchange {
    /// The request line, for evidence.
    pub fn request_line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// A response header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A request to send.
#[derive(Debug, Clone)]
pub struct Probe {
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<(String, Vec<u8>)>,
}

impl Probe {
    /// `method path` (the path must start with `/`).
    pub fn new(method: Method, path: &str) -> Self {
        Self {
            method,
            path: path.to_owned(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// `GET path`.
    pub fn get(path: &str) -> Self {
        Self::new(Method::GET, path)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets a body with its content type.
    pub fn body(mut self, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some((content_type.to_owned(), body.into()));
        self
    }
}

/// The scanner's HTTP client, bound to one origin.
pub struct Client {
    http: reqwest::Client,
    origin: Url,
    budget: AtomicU32,
    counter: Option<Arc<AtomicU32>>,
    spacing: Duration,
    last: tokio::sync::Mutex<Option<tokio::time::Instant>>,
}

impl Client {
    /// A client for `base` (http or https, no credentials in the URL), at most
    /// `max_requests` requests, `rate` per second, each bounded by `timeout`.
    pub fn new(
        base: &str,
        max_requests: u32,
        rate: f64,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let origin = Url::parse(base)
            // Never echo the text: it may carry credentials.
            .map_err(|e| ClientError::BadTarget(format!("the URL is not valid: {e}")))?;
        if !matches!(origin.scheme(), "http" | "https") {
            return Err(ClientError::BadTarget(
                "the base URL must be http:// or https://".into(),
            ));
        }
        if origin.host_str().is_none() {
            return Err(ClientError::BadTarget("the base URL has no host".into()));
        }
        if !origin.username().is_empty() || origin.password().is_some() {
            return Err(ClientError::BadTarget(
                "the base URL must not carry credentials; pass tokens with --token-a/--token-b"
                    .into(),
            ));
        }
        if !(rate > 0.0 && rate <= 1000.0) {
            return Err(ClientError::BadTarget(
                "--rate must be between 0 and 1000 requests per second".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A fresh connection per probe: a probe the server cut short (an oversized body
            // answered before it was read) must not leave a broken connection for the next.
            .pool_max_idle_per_host(0)
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("rampart-scan/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::BadTarget(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            origin,
            budget: AtomicU32::new(max_requests),
            counter: None,
            spacing: Duration::from_secs_f64(1.0 / rate),
            last: tokio::sync::Mutex::new(None),
        })
    }

    /// Counts every request sent into `counter` too (for progress displays).
    pub fn with_counter(mut self, counter: Arc<AtomicU32>) -> Self {
        self.counter = Some(counter);
        self
    }

    /// The scanned origin.
    pub fn origin(&self) -> &Url {
        &self.origin
    }

    /// Whether the target is served over TLS.
    pub fn is_https(&self) -> bool {
        self.origin.scheme() == "https"
    }

    /// Sends `probe` to the scanned origin.
    pub async fn send(&self, probe: Probe) -> Result<Exchange, ClientError> {
        if !probe.path.starts_with('/') || probe.path.starts_with("//") {
            return Err(ClientError::BadTarget(format!(
                "{:?} is not a path",
                probe.path
            )));
        }
        // The path is joined onto the origin: it cannot name another host.
        let mut url = self.origin.clone();
        let (path, query) = probe
            .path
            .split_once('?')
            .map_or((probe.path.as_str(), None), |(p, q)| (p, Some(q)));
        url.set_path(path);
        url.set_query(query);
        if url.host_str() != self.origin.host_str()
            || url.port_or_known_default() != self.origin.port_or_known_default()
        {
            return Err(ClientError::BadTarget(
                "refusing a request to another host".into(),
            ));
        }
        self.budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .map_err(|_| ClientError::Budget)?;
        if let Some(counter) = &self.counter {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        self.pace().await;
        let mut request = self.http.request(probe.method.clone(), url);
        for (name, value) in &probe.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some((content_type, body)) = &probe.body {
            request = request
                .header("content-type", content_type.as_str())
                .body(body.clone());
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| ClientError::Unreachable(describe(&e)))?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| ClientError::Unreachable(describe(&e)))?
        {
            let room = MAX_BODY.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() >= MAX_BODY {
                break;
            }
        }
        let sent = probe
            .headers
            .iter()
            .map(|(n, v)| {
                let shown = if n.eq_ignore_ascii_case("authorization")
                    || n.eq_ignore_ascii_case("cookie")
                {
                    "[REDACTED]".to_owned()
                } else {
                    v.clone()
                };
                (n.clone(), shown)
            })
            .collect();
        Ok(Exchange {
            method: probe.method,
            path: probe.path,
            sent,
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    /// Waits until the politeness spacing since the previous request has passed.
    async fn pace(&self) {
        let mut last = self.last.lock().await;
        if let Some(at) = *last {
            tokio::time::sleep_until(at + self.spacing).await;
        }
        *last = Some(tokio::time::Instant::now());
    }
}

/// A connection error without URLs or internals.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "the target did not answer in time (--timeout)".into()
    } else if e.is_connect() {
        "cannot connect to the target".into()
    } else {
        "the target's response could not be read".into()
    }
}
