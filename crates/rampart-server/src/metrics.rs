//! Prometheus metrics for `rampart serve`, and the router of the private listener that
//! serves them.
//!
//! # What is measured
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `rampart_http_requests_total` | counter | `method`, `route`, `status` |
//! | `rampart_http_request_duration_seconds` | histogram (0.5 ms … 10 s) | `method`, `route` |
//! | `rampart_auth_events_total` | counter | `outcome` |
//! | `rampart_ratelimit_decisions_total` | counter | `policy`, `decision` |
//! | `rampart_store_errors_total` | counter | `store` |
//! | `rampart_audit_entries_total` | counter | |
//! | `rampart_password_hash_queue_depth` | gauge | |
//! | `rampart_password_hash_shed_total` | counter | |
//!
//! Known authentication outcomes and stores are created at zero, so alerts on them see `0`
//! rather than no series; a family with no series yet (rate-limit decisions before the first
//! one, requests before the first request) is left out of the exposition entirely.
//!
//! The two password-hashing values are owned by the hasher
//! (`rampart_core::passwords::PasswordHasher`) and copied in when the exposition is rendered,
//! so the hasher does not need to know about metrics.
//!
//! Every [`Metrics`] owns its own [`Registry`]: there is no global recorder, so tests that
//! run many servers in one process each see only their own numbers.
//!
//! # Why a separate listener
//!
//! Metrics are reconnaissance for an attacker: request rates by route reveal the traffic
//! shape, registrations and logins reveal user counts, and error and lockout rates reveal
//! which attacks are working and when the database or Redis is struggling. They are never
//! served on the public listener; [`router`] is for a second listener bound to loopback (or
//! a private network), which Prometheus scrapes. It answers `GET /metrics` and nothing else.
//!
//! # Cardinality
//!
//! Every label value comes from a bounded set, because each distinct value is a new time
//! series held forever by this process and by Prometheus, and because a label taken from the
//! request would let any client grow both without limit:
//!
//! - `method`: the nine standard HTTP methods; anything else is counted as `other`.
//! - `route`: the route template the router matched (`/api/users/{id}`) or `unmatched`,
//!   never the raw path, which is unbounded and can carry ids or tokens.
//! - `status`: a status code the server itself produced.
//! - `outcome`, `decision`, `store`: `&'static str`, so only names written in the code.
//! - `policy`: rate-limit policy names, which come from configuration.
//!
//! ```
//! use std::time::Duration;
//!
//! use rampart_server::metrics::Metrics;
//!
//! let metrics = Metrics::new();
//! metrics.request(&http::Method::GET, "/api/users/{id}", 200, Duration::from_millis(3));
//! let text = metrics.render(0, 0);
//! assert!(text.contains(
//!     "rampart_http_requests_total{method=\"GET\",route=\"/api/users/{id}\",status=\"200\"} 1\n"
//! ));
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use http::Method;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// Upper bounds of the request-duration buckets, in seconds: from a cached lookup (0.5 ms)
/// to the slowest request the timeout allows in practice (10 s), with password hashing
/// (tens to hundreds of milliseconds) in the middle.
const DURATION_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The methods counted under their own name; every other method is `other`.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// Authentication outcomes, created at zero so that dashboards and alerts see `0` rather
/// than no series before the first event.
const AUTH_OUTCOMES: [&str; 8] = [
    "login_succeeded",
    "login_failed",
    "lockout",
    "register",
    "refresh",
    "refresh_reuse",
    "logout",
    "token_rejected",
];

/// Stores whose failures are counted, created at zero for the same reason.
const STORES: [&str; 3] = ["database", "audit", "redis"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuthLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RatelimitLabels {
    policy: String,
    decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    store: &'static str,
}

/// The metrics of one server: a registry and the metric families in it. Recording takes a
/// shared read lock once a label set has been seen (a write lock only the first time);
/// [`Metrics::render`] produces the exposition.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<DurationLabels, Histogram, fn() -> Histogram>,
    auth: Family<AuthLabels, Counter>,
    ratelimit: Family<RatelimitLabels, Counter>,
    store_errors: Family<StoreLabels, Counter>,
    audit_entries: Counter,
    hash_queue_depth: Gauge<u64, AtomicU64>,
    hash_shed: Counter,
    /// Held while the gauges are set and the registry encoded, so that a scrape shows the
    /// values it was rendered with, not those of a concurrent scrape.
    render_lock: Mutex<()>,
}

impl Metrics {
    /// Empty metrics in a registry of their own.
    pub fn new() -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let durations: Family<DurationLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(DURATION_BUCKETS));
        let auth = Family::<AuthLabels, Counter>::default();
        let ratelimit = Family::<RatelimitLabels, Counter>::default();
        let store_errors = Family::<StoreLabels, Counter>::default();
        let audit_entries = Counter::default();
        let hash_queue_depth = Gauge::<u64, AtomicU64>::default();
        let hash_shed = Counter::default();

        for outcome in AUTH_OUTCOMES {
            auth.get_or_create_owned(&AuthLabels { outcome });
        }
        for store in STORES {
            store_errors.get_or_create_owned(&StoreLabels { store });
        }

        // Counter names are registered without `_total`: the encoder appends it.
        let mut registry = Registry::with_prefix("rampart");
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time from receiving an HTTP request to producing its response, by method and route template",
            Unit::Seconds,
            durations.clone(),
        );
        registry.register(
            "auth_events",
            "Authentication events by outcome",
            auth.clone(),
        );
        registry.register(
            "ratelimit_decisions",
            "Rate-limit decisions by policy and decision (allowed, blocked, store_error)",
            ratelimit.clone(),
        );
        registry.register(
            "store_errors",
            "Failed calls to a store (database, audit, redis)",
            store_errors.clone(),
        );
        registry.register(
            "audit_entries",
            "Audit log entries appended by this process",
            audit_entries.clone(),
        );
        registry.register(
            "password_hash_queue_depth",
            "Password hashing requests waiting for a free slot",
            hash_queue_depth.clone(),
        );
        registry.register(
            "password_hash_shed",
            "Password hashing requests refused because no slot freed up in time",
            hash_shed.clone(),
        );

        Self {
            registry,
            requests,
            durations,
            auth,
            ratelimit,
            store_errors,
            audit_entries,
            hash_queue_depth,
            hash_shed,
            render_lock: Mutex::new(()),
        }
    }

    /// One finished HTTP request. `route` is the route template (e.g. "/api/users/{id}") or
    /// "unmatched" — never a raw path (cardinality, and raw paths can carry ids/tokens).
    pub fn request(&self, method: &Method, route: &str, status: u16, latency: Duration) {
        let method = method_label(method);
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route: route.to_owned(),
                status,
            })
            .inc();
        self.durations
            .get_or_create(&DurationLabels {
                method,
                route: route.to_owned(),
            })
            .observe(latency.as_secs_f64());
    }

    /// Authentication outcomes: "login_succeeded", "login_failed", "lockout", "register",
    /// "refresh", "refresh_reuse", "logout", "token_rejected".
    pub fn auth(&self, outcome: &'static str) {
        self.auth.get_or_create(&AuthLabels { outcome }).inc();
    }

    /// A rate-limit decision: policy name and "allowed" | "blocked" | "store_error".
    pub fn ratelimit(&self, policy: &str, decision: &'static str) {
        self.ratelimit
            .get_or_create(&RatelimitLabels {
                policy: policy.to_owned(),
                decision,
            })
            .inc();
    }

    /// A failed call to a store: "database" | "audit" | "redis".
    pub fn store_error(&self, store: &'static str) {
        self.store_errors
            .get_or_create(&StoreLabels { store })
            .inc();
    }

    /// Audit entries appended by this process.
    pub fn audit_appended(&self, n: u64) {
        self.audit_entries.inc_by(n);
    }

    /// The Prometheus text exposition (format 0.0.4), with the password-hashing gauges set
    /// from the values passed in: the hasher's current queue depth and its running total of
    /// shed requests. The shed total is exposed as a counter and never goes down: a value
    /// lower than one already rendered is ignored.
    pub fn render(&self, hash_queue_depth: usize, hash_shed_total: usize) -> String {
        let _guard = self
            .render_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.hash_queue_depth
            .set(u64::try_from(hash_queue_depth).unwrap_or(u64::MAX));
        self.hash_shed.inner().fetch_max(
            u64::try_from(hash_shed_total).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        let mut text = String::new();
        // Writing to a String cannot fail, and neither can encoding the built-in metrics;
        // should that ever change, a partial exposition beats none.
        if let Err(e) = prometheus_text::encode(&mut text, &self.registry) {
            tracing::error!(error = %e, "metrics.encode_failed");
        }
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The label for `method`: its name for the standard methods, `other` for any extension
/// method (a client can send any token there).
fn method_label(method: &Method) -> &'static str {
    METHODS
        .into_iter()
        .find(|known| *known == method.as_str())
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {

    use super::*;

    /// Asserts that `line` is one whole line of `text`.
    #[track_caller]
    fn assert_line(text: &str, line: &str) {
        assert!(
            text.lines().any(|l| l == line),
            "missing line {line:?} in:\n{text}"
        );
    }

    #[test]
    fn counts_requests_by_method_route_and_status() {
        let m = Metrics::new();
        let route = "/api/users/{id}";
        m.request(&Method::GET, route, 200, Duration::from_millis(250));
        m.request(&Method::GET, route, 200, Duration::from_millis(500));
        m.request(&Method::GET, route, 404, Duration::from_millis(1));
        m.request(&Method::POST, "unmatched", 404, Duration::from_secs(30));
        let text = m.render(0, 0);

        let l = r#"method="GET",route="/api/users/{id}""#;
        assert_line(
            &text,
            &format!("rampart_http_requests_total{{{l},status=\"200\"}} 2"),
        );
        assert_line(
            &text,
            &format!("rampart_http_requests_total{{{l},status=\"404\"}} 1"),
        );
        assert_line(
            &text,
            r#"rampart_http_requests_total{method="POST",route="unmatched",status="404"} 1"#,
        );

        let h = "rampart_http_request_duration_seconds";
        assert_line(&text, &format!("{h}_count{{{l}}} 3"));
        assert_line(&text, &format!("{h}_sum{{{l}}} 0.751"));
        assert_line(&text, &format!("{h}_bucket{{{l},le=\"0.0005\"}} 0"));
        assert_line(&text, &format!("{h}_bucket{{{l},le=\"0.001\"}} 1"));
        assert_line(&text, &format!("{h}_bucket{{{l},le=\"0.25\"}} 2"));
        assert_line(&text, &format!("{h}_bucket{{{l},le=\"0.5\"}} 3"));
        assert_line(&text, &format!("{h}_bucket{{{l},le=\"10\"}} 3"));
        assert_line(&text, &format!("{h}_bucket{{{l},le=\"+Inf\"}} 3"));
        // Slower than the last bucket: only in +Inf.
        let u = r#"method="POST",route="unmatched""#;
        assert_line(&text, &format!("{h}_bucket{{{u},le=\"10\"}} 0"));
        assert_line(&text, &format!("{h}_bucket{{{u},le=\"+Inf\"}} 1"));
        assert_line(&text, &format!("{h}_count{{{u}}} 1"));
    }

    #[test]
    fn unknown_methods_are_counted_as_other() {
        let m = Metrics::new();
        for method in ["PROPFIND", "get", "X-ANYTHING-A-CLIENT-LIKES"] {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            m.request(&method, "unmatched", 405, Duration::ZERO);
        }
        m.request(&Method::PATCH, "unmatched", 405, Duration::ZERO);
        let text = m.render(0, 0);
        assert_line(
            &text,
            r#"rampart_http_requests_total{method="other",route="unmatched",status="405"} 3"#,
        );
        assert_line(
            &text,
            r#"rampart_http_requests_total{method="PATCH",route="unmatched",status="405"} 1"#,
        );
        assert!(!text.contains("PROPFIND"), "{text}");
        assert!(!text.contains("method=\"get\""), "{text}");
    }

    #[test]
    fn counts_auth_ratelimit_store_and_audit_events() {
        let m = Metrics::new();
        m.auth("login_failed");
        m.auth("login_failed");
        m.auth("login_succeeded");
        m.ratelimit("login", "allowed");
        m.ratelimit("login", "blocked");
        m.ratelimit("login", "blocked");
        m.ratelimit("global", "store_error");
        m.store_error("redis");
        m.audit_appended(3);
        m.audit_appended(2);
        let text = m.render(0, 0);

        assert_line(
            &text,
            r#"rampart_auth_events_total{outcome="login_failed"} 2"#,
        );
        assert_line(
            &text,
            r#"rampart_auth_events_total{outcome="login_succeeded"} 1"#,
        );
        // Known outcomes and stores exist from the start.
        assert_line(
            &text,
            r#"rampart_auth_events_total{outcome="refresh_reuse"} 0"#,
        );
        assert_line(
            &text,
            r#"rampart_ratelimit_decisions_total{policy="login",decision="allowed"} 1"#,
        );
        assert_line(
            &text,
            r#"rampart_ratelimit_decisions_total{policy="login",decision="blocked"} 2"#,
        );
        assert_line(
            &text,
            r#"rampart_ratelimit_decisions_total{policy="global",decision="store_error"} 1"#,
        );
        assert_line(&text, r#"rampart_store_errors_total{store="redis"} 1"#);
        assert_line(&text, r#"rampart_store_errors_total{store="database"} 0"#);
        assert_line(&text, "rampart_audit_entries_total 5");
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::new();
        m.ratelimit("a\"b\\c\nd", "blocked");
        m.request(&Method::GET, "/x\"} 1\nfake_metric 9", 200, Duration::ZERO);
        let text = m.render(0, 0);
        assert_line(
            &text,
            r#"rampart_ratelimit_decisions_total{policy="a\"b\\c\nd",decision="blocked"} 1"#,
        );
        assert_line(
            &text,
            r#"rampart_http_requests_total{method="GET",route="/x\"} 1\nfake_metric 9",status="200"} 1"#,
        );
        assert!(
            !text.lines().any(|l| l.starts_with("fake_metric")),
            "{text}"
        );
    }

    #[test]
    fn gauges_reflect_the_values_passed_to_render() {
        let m = Metrics::new();
        let text = m.render(3, 7);
        assert_line(&text, "rampart_password_hash_queue_depth 3");
        assert_line(&text, "rampart_password_hash_shed_total 7");
        let text = m.render(0, 9);
        assert_line(&text, "rampart_password_hash_queue_depth 0");
        assert_line(&text, "rampart_password_hash_shed_total 9");
        // The shed total is a counter: it never goes down.
        let text = m.render(1, 2);
        assert_line(&text, "rampart_password_hash_queue_depth 1");
        assert_line(&text, "rampart_password_hash_shed_total 9");
    }

    #[test]
    fn every_metric_has_help_and_type() {
        let m = Metrics::new();
        // A family with no series yet is left out of the exposition, HELP and all.
        m.request(&Method::GET, "/health", 200, Duration::ZERO);
        m.ratelimit("global", "allowed");
        let text = m.render(0, 0);
        for (name, kind) in [
            ("rampart_http_requests_total", "counter"),
            ("rampart_http_request_duration_seconds", "histogram"),
            ("rampart_auth_events_total", "counter"),
            ("rampart_ratelimit_decisions_total", "counter"),
            ("rampart_store_errors_total", "counter"),
            ("rampart_audit_entries_total", "counter"),
            ("rampart_password_hash_queue_depth", "gauge"),
            ("rampart_password_hash_shed_total", "counter"),
        ] {
            let help = format!("# HELP {name} ");
            assert!(
                text.lines()
                    .any(|l| l.starts_with(&help) && l.len() > help.len() + 10),
                "no HELP for {name} in:\n{text}"
            );
            assert_line(&text, &format!("# TYPE {name} {kind}"));
        }
        // Prometheus text format 0.0.4, not OpenMetrics.
        assert!(!text.contains("# EOF"), "{text}");
        assert!(!text.contains("# UNIT"), "{text}");
    }

    #[test]
    fn each_instance_counts_only_its_own_events() {
        let a = Metrics::new();
        let b = Metrics::default();
        a.auth("logout");
        a.audit_appended(4);
        let text = b.render(0, 0);
        assert_line(&text, r#"rampart_auth_events_total{outcome="logout"} 0"#);
        assert_line(&text, "rampart_audit_entries_total 0");
        let text = a.render(0, 0);
        assert_line(&text, r#"rampart_auth_events_total{outcome="logout"} 1"#);
    }
}
