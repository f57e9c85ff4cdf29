//! Rate limiting, graduated penalties and account lockout, attacked through the real router.
//!
//! Every app here runs its limiter, penalty box and lockout on a `ManualClock`, so windows,
//! blocks and locks are crossed by moving time by hand (never by sleeping), and `Retry-After`
//! values can be asserted exactly. The harness turns rate limiting off by default; each app
//! here turns it back on.
//!
//! Requests without `Req::peer` come from the client `unknown` (one shared per-IP key), so
//! tests that exercise per-IP limits always set a peer.

use std::net::SocketAddr;
use std::sync::Arc;

use rampart_core::ratelimit::ManualClock;
use rampart_server::config::{RawConfig, RawPolicy};
use serde_json::json;

use crate::helpers::{PASSWORD, Req, TestApp, TestResponse, spawn_app_with_clock};

const SEC: u64 = 1000;
const MIN: u64 = 60 * SEC;
const WRONG: &str = "not the password at all";

/// A clock well away from zero, so no window arithmetic starts at the origin.
fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(1_000_000_000))
}

fn addr(ip: &str) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), 40_000)
}

/// A `[[rate_limit.policies]]` entry, built the way the config file is read (so settings
/// added later keep their defaults).
fn policy(
    name: &str,
    methods: &[&str],
    routes: &[&str],
    max: u32,
    window_secs: u64,
    key: &str,
) -> RawPolicy {
    serde_json::from_value(json!({
        "name": name,
        "methods": methods,
        "routes": routes,
        "max": max,
        "window_secs": window_secs,
        "key": key,
    }))
    .expect("a valid policy")
}

/// An app with rate limiting on, on `clock`, with these policies (empty: the built-in ones).
async fn app_with(
    clock: &Arc<ManualClock>,
    policies: Vec<RawPolicy>,
    configure: impl FnOnce(&mut RawConfig),
) -> TestApp {
    spawn_app_with_clock(clock.clone(), move |raw| {
        raw.rate_limit.enabled = true;
        raw.rate_limit.policies = policies;
        configure(raw);
    })
    .await
}

/// An app for lockout tests: one generous per-IP policy and a per-account login limit that
/// never bites, so only the lockout decides.
async fn lockout_app(clock: &Arc<ManualClock>) -> TestApp {
    app_with(
        clock,
        vec![policy("generous", &[], &[], 10_000, 60, "ip")],
        |raw| raw.rate_limit.login_per_account.max = 10_000,
    )
    .await
}

/// `POST /api/auth/login`, optionally from a peer and with a device cookie.
async fn login(
    app: &TestApp,
    email: &str,
    password: &str,
    peer: Option<&str>,
    device: Option<&str>,
) -> TestResponse {
    let mut req =
        Req::post("/api/auth/login").json(json!({ "email": email, "password": password }));
    if let Some(peer) = peer {
        req = req.peer(addr(peer));
    }
    if let Some(device) = device {
        req = req.header("cookie", &format!("rampart_device={device}"));
    }
    app.send(req).await
}

/// The device cookie's value from `Set-Cookie`, if one was set.
fn device_cookie(res: &TestResponse) -> Option<String> {
    res.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("rampart_device="))
        .map(|rest| rest.split(';').next().unwrap().to_owned())
        .filter(|v| !v.is_empty())
}

async fn get(app: &TestApp, path: &str, token: Option<&str>, peer: Option<&str>) -> TestResponse {
    let mut req = Req::get(path);
    if let Some(token) = token {
        req = req.bearer(token);
    }
    if let Some(peer) = peer {
        req = req.peer(addr(peer));
    }
    app.send(req).await
}

#[track_caller]
fn assert_status(res: &TestResponse, status: u16) {
    assert_eq!(
        res.status.as_u16(),
        status,
        "body: {}",
        String::from_utf8_lossy(&res.body)
    );
}

/// A refusal: the status, code, and `Retry-After` both as header and in the body.
#[track_caller]
fn assert_refused(res: &TestResponse, code: &str, retry_after: u64) {
    res.assert_error(429, code);
    assert_eq!(
        res.header("retry-after"),
        Some(retry_after.to_string().as_str()),
        "Retry-After"
    );
    assert_eq!(res.json()["retry_after"], retry_after, "body retry_after");
}

/// The draft `RateLimit-*` headers and their `X-RateLimit-*` twins.
#[track_caller]
fn assert_limit_headers(res: &TestResponse, limit: u32, remaining: u32, reset: u64, window: u64) {
    let limit = limit.to_string();
    let remaining = remaining.to_string();
    let reset = reset.to_string();
    let policy = format!("{limit};w={window}");
    let want = [
        ("ratelimit-limit", limit.as_str()),
        ("ratelimit-remaining", remaining.as_str()),
        ("ratelimit-reset", reset.as_str()),
        ("ratelimit-policy", policy.as_str()),
        ("x-ratelimit-limit", limit.as_str()),
        ("x-ratelimit-remaining", remaining.as_str()),
        ("x-ratelimit-reset", reset.as_str()),
    ];
    for (name, value) in want {
        assert_eq!(res.header(name), Some(value), "{name}");
    }
}

#[track_caller]
fn assert_no_limit_headers(res: &TestResponse) {
    for name in [
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "ratelimit-policy",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ] {
        assert_eq!(res.header(name), None, "{name}");
    }
}

fn tiny() -> RawPolicy {
    policy("tiny", &["GET"], &["/api/users/me"], 3, 60, "user_or_ip")
}

// ---------------------------------------------------------------------------------------------
// Exact limits and headers
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn custom_policy_admits_exactly_max_per_window_with_exact_headers() {
    let clock = clock();
    let app = app_with(&clock, vec![tiny()], |_| {}).await;
    let (_, token, _) = app.user("tiny@example.com").await;
    let me = || get(&app, "/api/users/me", Some(&token), None);

    // Admissions at t0, t0+10s, t0+20.5s: the reset counts down to the first one's expiry.
    let res = me().await;
    assert_status(&res, 200);
    assert_limit_headers(&res, 3, 2, 60, 60);
    clock.advance(10 * SEC);
    let res = me().await;
    assert_status(&res, 200);
    assert_limit_headers(&res, 3, 1, 50, 60);
    clock.advance(10_500);
    let res = me().await;
    assert_status(&res, 200);
    assert_limit_headers(&res, 3, 0, 40, 60);

    // The fourth at t0+25.5s: refused until the first admission is a full window old
    // (34.5 s, rounded up).
    clock.advance(5 * SEC);
    let res = me().await;
    assert_refused(&res, "rate_limited", 35);
    assert_limit_headers(&res, 3, 0, 35, 60);

    // One millisecond before the slot frees: still refused (Retry-After never says 0).
    clock.advance(34_499);
    assert_refused(&me().await, "rate_limited", 1);

    // Exactly when the first admission leaves the window: one slot again.
    clock.advance(1);
    let res = me().await;
    assert_status(&res, 200);
    assert_limit_headers(&res, 3, 0, 10, 60);

    // A whole window later everything has left: the full budget again.
    clock.advance(60 * SEC);
    let res = me().await;
    assert_status(&res, 200);
    assert_limit_headers(&res, 3, 2, 60, 60);
}

#[tokio::test]
async fn routes_outside_a_policy_are_not_limited_by_it() {
    let clock = clock();
    let app = app_with(&clock, vec![tiny()], |_| {}).await;
    let (_, token, _) = app.user("other-routes@example.com").await;
    for _ in 0..3 {
        assert_status(&get(&app, "/api/users/me", Some(&token), None).await, 200);
    }
    assert_refused(
        &get(&app, "/api/users/me", Some(&token), None).await,
        "rate_limited",
        60,
    );
    // GET /api/auth/sessions matches no policy: admitted, and without limit headers.
    for _ in 0..5 {
        let res = get(&app, "/api/auth/sessions", Some(&token), None).await;
        assert_status(&res, 200);
        assert_no_limit_headers(&res);
    }
    // PATCH /api/users/me is another method.
    let res = app
        .send(
            Req::patch("/api/users/me")
                .bearer(&token)
                .json(json!({ "name": "Renamed" })),
        )
        .await;
    assert_status(&res, 200);
    assert_no_limit_headers(&res);
}

#[tokio::test]
async fn cors_exposes_the_limit_headers_to_allowed_origins() {
    let clock = clock();
    let app = app_with(&clock, vec![tiny()], |_| {}).await;
    let (_, token, _) = app.user("cors@example.com").await;
    let from = |origin: &str| {
        Req::get("/api/users/me")
            .bearer(&token)
            .header("origin", origin)
    };
    let exposed = |res: &TestResponse| -> Vec<String> {
        res.header("access-control-expose-headers")
            .unwrap_or_default()
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect()
    };
    let wanted = [
        "retry-after",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "ratelimit-policy",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ];

    let res = app.send(from("https://allowed.example")).await;
    assert_status(&res, 200);
    assert_limit_headers(&res, 3, 2, 60, 60);
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("https://allowed.example")
    );
    let list = exposed(&res);
    for h in wanted {
        assert!(list.iter().any(|e| e == h), "{h} not exposed: {list:?}");
    }

    // A disallowed origin still gets the limit headers but no CORS headers at all.
    let res = app.send(from("https://evil.example")).await;
    assert_status(&res, 200);
    assert_limit_headers(&res, 3, 1, 60, 60);
    assert_eq!(res.header("access-control-expose-headers"), None);
    assert_eq!(res.header("access-control-allow-origin"), None);

    // The refusal is readable by the allowed origin too: Retry-After is exposed.
    app.send(from("https://allowed.example")).await;
    let res = app.send(from("https://allowed.example")).await;
    assert_refused(&res, "rate_limited", 60);
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("https://allowed.example")
    );
    let list = exposed(&res);
    for h in wanted {
        assert!(
            list.iter().any(|e| e == h),
            "{h} not exposed on 429: {list:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Built-in policies
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn default_login_policy_is_five_per_fifteen_minutes_per_ip() {
    let clock = clock();
    let app = app_with(&clock, Vec::new(), |_| {}).await;
    app.register("victim@example.com").await;
    let attacker = Some("203.0.113.7");

    // Four guesses at unknown accounts and one right password, a second apart: every one
    // reaches the handler and carries the login policy's headers (the tightest one).
    for i in 0..4u32 {
        let res = login(
            &app,
            &format!("nobody{i}@example.com"),
            WRONG,
            attacker,
            None,
        )
        .await;
        res.assert_error(401, "invalid_credentials");
        assert_limit_headers(&res, 5, 4 - i, 900 - u64::from(i), 900);
        clock.advance(SEC);
    }
    let res = login(&app, "victim@example.com", PASSWORD, attacker, None).await;
    assert_status(&res, 200);
    assert_limit_headers(&res, 5, 0, 896, 900);
    clock.advance(SEC);

    // The sixth, 5 s after the first, even with the right password: refused for the rest
    // of the first admission's window.
    let res = login(&app, "victim@example.com", PASSWORD, attacker, None).await;
    assert_refused(&res, "rate_limited", 895);
    assert_limit_headers(&res, 5, 0, 895, 900);

    // Another IP is unaffected.
    let res = login(
        &app,
        "victim@example.com",
        PASSWORD,
        Some("198.51.100.20"),
        None,
    )
    .await;
    assert_status(&res, 200);
    assert_limit_headers(&res, 5, 4, 900, 900);

    // Once the first admission is 15 minutes old, the attacker gets one more attempt.
    clock.advance(895 * SEC);
    let res = login(&app, "nobody9@example.com", WRONG, attacker, None).await;
    res.assert_error(401, "invalid_credentials");
    assert_limit_headers(&res, 5, 0, 1, 900);
}

#[tokio::test]
async fn default_register_policy_is_three_per_hour_per_ip() {
    let clock = clock();
    let app = app_with(&clock, Vec::new(), |_| {}).await;
    let register = |email: String, peer: &'static str| {
        app.send(
            Req::post("/api/auth/register")
                .peer(addr(peer))
                .json(json!({ "email": email, "password": PASSWORD, "name": "Bulk" })),
        )
    };
    for i in 0..3u32 {
        let res = register(format!("bulk{i}@example.com"), "203.0.113.9").await;
        assert_status(&res, 201);
        assert_limit_headers(&res, 3, 2 - i, 3600, 3600);
    }
    let res = register("bulk3@example.com".into(), "203.0.113.9").await;
    assert_refused(&res, "rate_limited", 3600);
    // Refused before the handler: the account does not exist.
    let res = register("bulk3@example.com".into(), "198.51.100.30").await;
    assert_status(&res, 201);

    // An hour later the first IP may register again.
    clock.advance(3600 * SEC);
    let res = register("bulk4@example.com".into(), "203.0.113.9").await;
    assert_status(&res, 201);
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn users_behind_one_ip_are_limited_independently() {
    let clock = clock();
    let app = app_with(&clock, vec![tiny()], |_| {}).await;
    let (_, alice, _) = app.user("alice@example.com").await;
    let (_, bob, _) = app.user("bob@example.com").await;
    let office = Some("192.0.2.10");

    for _ in 0..3 {
        assert_status(&get(&app, "/api/users/me", Some(&alice), office).await, 200);
    }
    assert_refused(
        &get(&app, "/api/users/me", Some(&alice), office).await,
        "rate_limited",
        60,
    );
    // Same IP, other user: a full budget.
    let res = get(&app, "/api/users/me", Some(&bob), office).await;
    assert_status(&res, 200);
    assert_limit_headers(&res, 3, 2, 60, 60);
    // Same user from elsewhere: still limited (the key is the user, not the IP).
    assert_refused(
        &get(&app, "/api/users/me", Some(&alice), Some("198.51.100.77")).await,
        "rate_limited",
        60,
    );
}

fn jwks_policy() -> RawPolicy {
    policy(
        "anon",
        &["GET"],
        &["/.well-known/jwks.json"],
        2,
        60,
        "user_or_ip",
    )
}

const JWKS: &str = "/.well-known/jwks.json";

#[tokio::test]
async fn anonymous_requests_are_keyed_by_ip() {
    let clock = clock();
    let app = app_with(&clock, vec![jwks_policy()], |_| {}).await;
    let (_, token, _) = app.user("keyed@example.com").await;
    let scraper = Some("203.0.113.50");

    assert_status(&get(&app, JWKS, None, scraper).await, 200);
    let res = get(&app, JWKS, None, scraper).await;
    assert_status(&res, 200);
    assert_limit_headers(&res, 2, 0, 60, 60);
    assert_refused(&get(&app, JWKS, None, scraper).await, "rate_limited", 60);

    // Another IP has its own budget.
    let res = get(&app, JWKS, None, Some("203.0.113.51")).await;
    assert_status(&res, 200);
    assert_limit_headers(&res, 2, 1, 60, 60);
    // An authenticated user from the exhausted IP is keyed by the user.
    let res = get(&app, JWKS, Some(&token), scraper).await;
    assert_status(&res, 200);
    assert_limit_headers(&res, 2, 1, 60, 60);
}

#[tokio::test]
async fn ipv6_clients_share_a_key_per_64_and_mapped_ipv4_is_ipv4() {
    let clock = clock();
    let app = app_with(&clock, vec![jwks_policy()], |_| {}).await;

    // Two addresses of one /64 (rotating the interface id does not help).
    let res = get(&app, JWKS, None, Some("2001:db8:1:2::1")).await;
    assert_limit_headers(&res, 2, 1, 60, 60);
    let res = get(&app, JWKS, None, Some("2001:db8:1:2:ffff:ffff:ffff:fffe")).await;
    assert_limit_headers(&res, 2, 0, 60, 60);
    assert_refused(
        &get(&app, JWKS, None, Some("2001:db8:1:2:abcd::9")).await,
        "rate_limited",
        60,
    );
    // The neighbouring /64 is another subscriber.
    let res = get(&app, JWKS, None, Some("2001:db8:1:3::1")).await;
    assert_status(&res, 200);
    assert_limit_headers(&res, 2, 1, 60, 60);

    // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d: the same key as a.b.c.d.
    let res = get(&app, JWKS, None, Some("::ffff:203.0.113.60")).await;
    assert_limit_headers(&res, 2, 1, 60, 60);
    let res = get(&app, JWKS, None, Some("203.0.113.60")).await;
    assert_limit_headers(&res, 2, 0, 60, 60);
    assert_refused(
        &get(&app, JWKS, None, Some("::ffff:203.0.113.60")).await,
        "rate_limited",
        60,
    );
}

// ---------------------------------------------------------------------------------------------
// X-Forwarded-For
// ---------------------------------------------------------------------------------------------

async fn via(app: &TestApp, peer: &str, forwarded: Option<&str>) -> TestResponse {
    let mut req = Req::get(JWKS).peer(addr(peer));
    if let Some(value) = forwarded {
        req = req.header("x-forwarded-for", value);
    }
    app.send(req).await
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_does_not_escape_the_limit() {
    let clock = clock();
    let app = app_with(&clock, vec![jwks_policy()], |_| {}).await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        let res = via(&app, "203.0.113.7", Some(&format!("198.51.100.{i}"))).await;
        statuses.push(res.status.as_u16());
        if res.status == 429 {
            res.assert_error(429, "rate_limited");
        }
    }
    assert_eq!(statuses, [200, 200, 429, 429]);

    // Same when proxies are configured but the peer is not one of them.
    let app = app_with(&clock, vec![jwks_policy()], |raw| {
        raw.network.trusted_proxies = vec!["10.0.0.0/8".into()];
    })
    .await;
    let mut statuses = Vec::new();
    for i in 0..4 {
        // Even claiming to come through a trusted proxy.
        let forwarded = format!("198.51.100.{i}, 10.0.0.{i}");
        statuses.push(
            via(&app, "203.0.113.7", Some(&forwarded))
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
}

#[tokio::test]
async fn forwarded_for_from_a_trusted_proxy_keys_each_client_separately() {
    let clock = clock();
    let app = app_with(&clock, vec![jwks_policy()], |raw| {
        raw.network.trusted_proxies = vec!["10.0.0.0/8".into()];
    })
    .await;
    let lb = "10.0.0.1";

    // Client 198.51.100.1 through the load balancer.
    let res = via(&app, lb, Some("198.51.100.1")).await;
    assert_limit_headers(&res, 2, 1, 60, 60);
    let res = via(&app, lb, Some("198.51.100.1")).await;
    assert_limit_headers(&res, 2, 0, 60, 60);
    assert_refused(
        &via(&app, lb, Some("198.51.100.1")).await,
        "rate_limited",
        60,
    );

    // Other clients behind the same proxy have their own budgets.
    for client in ["198.51.100.2", "198.51.100.3", "2001:db8:9::1"] {
        let res = via(&app, lb, Some(client)).await;
        assert_status(&res, 200);
        assert_limit_headers(&res, 2, 1, 60, 60);
    }
    // The proxy itself (no header) is a client of its own.
    let res = via(&app, lb, None).await;
    assert_limit_headers(&res, 2, 1, 60, 60);

    // The exhausted client cannot escape by prepending addresses of its choosing, and a chain
    // of trusted proxies still resolves to it.
    for forwarded in ["6.6.6.6, 198.51.100.1", "198.51.100.1, 10.9.9.9"] {
        via(&app, "10.0.0.2", Some(forwarded))
            .await
            .assert_error(429, "rate_limited");
    }
}

// ---------------------------------------------------------------------------------------------
// Graduated penalties
// ---------------------------------------------------------------------------------------------

/// "sessions" allows one request an hour, "me" plenty: refusals come from "sessions" and the
/// block shows on "me".
fn penalty_policies() -> Vec<RawPolicy> {
    vec![
        policy(
            "sessions",
            &["GET"],
            &["/api/auth/sessions"],
            1,
            3600,
            "user_or_ip",
        ),
        policy("me", &["GET"], &["/api/users/me"], 100, 60, "user_or_ip"),
    ]
}

#[tokio::test]
async fn three_refusals_block_the_key_on_every_route_with_escalation() {
    let clock = clock();
    let app = app_with(&clock, penalty_policies(), |_| {}).await;
    let (_, token, _) = app.user("greedy@example.com").await;
    let (_, neighbour, _) = app.user("neighbour@example.com").await;
    let ip = Some("192.0.2.44");
    let sessions = || get(&app, "/api/auth/sessions", Some(&token), ip);
    let me = || get(&app, "/api/users/me", Some(&token), ip);

    assert_status(&sessions().await, 200);
    assert_refused(&sessions().await, "rate_limited", 3600);
    assert_refused(&sessions().await, "rate_limited", 3600);
    // Two refusals: not blocked yet.
    let res = me().await;
    assert_status(&res, 200);
    assert_limit_headers(&res, 100, 99, 60, 60);
    // The third refusal (its own Retry-After is the policy's) starts a one-minute block.
    assert_refused(&sessions().await, "rate_limited", 3600);
    let res = me().await;
    assert_refused(&res, "rate_limited", 60);
    assert_no_limit_headers(&res);
    // The block is per key: another user on the same IP is fine.
    assert_status(&get(&app, "/api/users/me", Some(&neighbour), ip).await, 200);

    clock.advance(MIN - 1);
    assert_refused(&me().await, "rate_limited", 1);
    clock.advance(1);
    let res = me().await;
    assert_status(&res, 200);
    // Refusals during the block were not admissions (and the one admission at t0 has just
    // left the window): a full budget less this request.
    assert_limit_headers(&res, 100, 99, 60, 60);

    // Again: three more refusals within ten minutes escalate to five minutes.
    for _ in 0..3 {
        assert_refused(&sessions().await, "rate_limited", 3540);
    }
    assert_refused(&me().await, "rate_limited", 300);
    clock.advance(4 * MIN);
    assert_refused(&me().await, "rate_limited", 60);
    clock.advance(MIN);
    assert_status(&me().await, 200);

    // And then fifteen.
    for _ in 0..3 {
        assert_refused(&sessions().await, "rate_limited", 3240);
    }
    assert_refused(&me().await, "rate_limited", 900);

    // A day without a block forgives: the next block is one minute again.
    clock.advance(24 * 60 * MIN);
    assert_status(&me().await, 200);
    assert_status(&sessions().await, 200);
    for _ in 0..3 {
        assert_refused(&sessions().await, "rate_limited", 3600);
    }
    assert_refused(&me().await, "rate_limited", 60);
}

#[tokio::test]
async fn refusals_spread_wider_than_ten_minutes_never_block() {
    let clock = clock();
    let app = app_with(&clock, penalty_policies(), |_| {}).await;
    let (_, token, _) = app.user("patient@example.com").await;
    let sessions = || get(&app, "/api/auth/sessions", Some(&token), None);
    let me = || get(&app, "/api/users/me", Some(&token), None);

    assert_status(&sessions().await, 200);
    for i in 0..5u64 {
        assert_refused(&sessions().await, "rate_limited", 3600 - i * 300);
        clock.advance(5 * MIN + 1);
        assert_status(&me().await, 200);
    }
}

#[tokio::test]
async fn anonymous_ip_block_covers_every_route_but_never_the_probes() {
    let clock = clock();
    let app = app_with(&clock, vec![policy("all", &[], &[], 1, 3600, "ip")], |_| {}).await;
    let ip = Some("203.0.113.99");

    // Probing for routes counts too (unmatched requests are limited).
    get(&app, "/api/nope", None, ip)
        .await
        .assert_error(404, "not_found");
    for _ in 0..3 {
        assert_refused(
            &get(&app, "/api/nope", None, ip).await,
            "rate_limited",
            3600,
        );
    }
    // Blocked everywhere, including login.
    assert_refused(&get(&app, JWKS, None, ip).await, "rate_limited", 60);
    let res = login(&app, "x@example.com", WRONG, ip, None).await;
    assert_refused(&res, "rate_limited", 60);

    // Probes: always answered, never counted, no limit headers.
    for _ in 0..10 {
        for probe in ["/health", "/ready"] {
            let res = get(&app, probe, None, ip).await;
            assert_status(&res, 200);
            assert_no_limit_headers(&res);
        }
    }
    // And from a fresh client they do not use up its budget either.
    for _ in 0..10 {
        assert_status(
            &get(&app, "/health", None, Some("203.0.113.100")).await,
            200,
        );
        assert_status(&get(&app, "/ready", None, Some("203.0.113.100")).await, 200);
    }
    let res = get(&app, JWKS, None, Some("203.0.113.100")).await;
    assert_status(&res, 200);
    assert_limit_headers(&res, 1, 0, 3600, 3600);
}

// ---------------------------------------------------------------------------------------------
// Lockout
// ---------------------------------------------------------------------------------------------

/// Five failures lock `email`; returns nothing, asserts each failure was a plain 401.
async fn fail_five_times(app: &TestApp, email: &str, device: Option<&str>) {
    for _ in 0..5 {
        login(app, email, WRONG, None, device)
            .await
            .assert_error(401, "invalid_credentials");
    }
}

#[tokio::test]
async fn five_failures_lock_the_account_for_fifteen_minutes_even_for_the_right_password() {
    let clock = clock();
    let app = lockout_app(&clock).await;
    app.register("locked@example.com").await;

    // Case and surrounding spaces do not make another account: one counter.
    for spelling in [
        "locked@example.com",
        "LOCKED@example.com",
        " Locked@Example.COM ",
        "locked@EXAMPLE.com",
        "locked@example.com\t",
    ] {
        login(&app, spelling, WRONG, None, None)
            .await
            .assert_error(401, "invalid_credentials");
    }
    // From anywhere, with the right password.
    for peer in [None, Some("198.51.100.200"), Some("2001:db8:77::1")] {
        let res = login(&app, "locked@example.com", PASSWORD, peer, None).await;
        assert_refused(&res, "account_locked", 900);
        assert!(device_cookie(&res).is_none());
        assert!(res.refresh_cookie().is_none());
    }
    // Further attempts do not extend the lock.
    clock.advance(15 * MIN - 1);
    assert_refused(
        &login(&app, "locked@example.com", WRONG, None, None).await,
        "account_locked",
        1,
    );
    clock.advance(1);
    assert_status(
        &login(&app, "locked@example.com", PASSWORD, None, None).await,
        200,
    );
}

#[tokio::test]
async fn a_locked_unknown_email_answers_exactly_like_a_locked_known_one() {
    let clock = clock();
    let app = lockout_app(&clock).await;
    app.register("known@example.com").await;

    fail_five_times(&app, "known@example.com", None).await;
    fail_five_times(&app, "ghost@example.com", None).await;
    // Each from a fresh IP, so even the per-IP headers are the same.
    let known = login(
        &app,
        "known@example.com",
        PASSWORD,
        Some("198.51.100.1"),
        None,
    )
    .await;
    let ghost = login(
        &app,
        "ghost@example.com",
        PASSWORD,
        Some("198.51.100.2"),
        None,
    )
    .await;
    assert_refused(&known, "account_locked", 900);
    assert_refused(&ghost, "account_locked", 900);

    let (k, g) = (known.json(), ghost.json());
    assert_eq!(k["error"], g["error"]);
    assert_eq!(k["message"], g["message"]);
    assert_eq!(k["retry_after"], g["retry_after"]);
    assert_eq!(known.status, ghost.status);
    assert_eq!(known.header("retry-after"), ghost.header("retry-after"));
    // Byte for byte, once the request ids (which always differ) are set aside.
    let strip = |res: &TestResponse| {
        let id = res.header("x-request-id").unwrap().to_owned();
        String::from_utf8(res.body.clone())
            .unwrap()
            .replace(&id, "<request-id>")
    };
    assert_eq!(strip(&known), strip(&ghost));
    let headers = |res: &TestResponse| {
        let mut all: Vec<(String, String)> = res
            .headers
            .iter()
            .filter(|(name, _)| name.as_str() != "x-request-id")
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        all.sort();
        all
    };
    assert_eq!(headers(&known), headers(&ghost));

    // Before the lock, the two answer the same way too (401 invalid_credentials): checked by
    // fail_five_times for both.
}

#[tokio::test]
async fn a_success_before_the_threshold_resets_the_count() {
    let clock = clock();
    let app = lockout_app(&clock).await;
    app.register("forgetful@example.com").await;
    let email = "forgetful@example.com";

    for _ in 0..4 {
        login(&app, email, WRONG, None, None)
            .await
            .assert_error(401, "invalid_credentials");
    }
    assert_status(&login(&app, email, PASSWORD, None, None).await, 200);
    for _ in 0..4 {
        login(&app, email, WRONG, None, None)
            .await
            .assert_error(401, "invalid_credentials");
    }
    // Eight failures in the window, but never five in a row: not locked.
    assert_status(&login(&app, email, PASSWORD, None, None).await, 200);

    // Failures older than the window do not count either.
    for _ in 0..4 {
        login(&app, email, WRONG, None, None)
            .await
            .assert_error(401, "invalid_credentials");
    }
    clock.advance(15 * MIN);
    login(&app, email, WRONG, None, None)
        .await
        .assert_error(401, "invalid_credentials");
    assert_status(&login(&app, email, PASSWORD, None, None).await, 200);
}

#[tokio::test]
async fn admin_unlock_clears_the_lock_at_once_and_only_admins_may() {
    let clock = clock();
    let app = lockout_app(&clock).await;
    let (_, admin, _) = app.admin("root@example.com").await;
    let (_, user, _) = app.user("mallory@example.com").await;
    let victim = app.register("unlock-me@example.com").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let unlock = |token: Option<&str>, id: &str| {
        let mut req = Req::post(&format!("/api/admin/users/{id}/unlock"));
        if let Some(token) = token {
            req = req.bearer(token);
        }
        app.send(req)
    };

    fail_five_times(&app, "unlock-me@example.com", None).await;
    assert_refused(
        &login(&app, "unlock-me@example.com", PASSWORD, None, None).await,
        "account_locked",
        900,
    );

    unlock(None, &victim)
        .await
        .assert_error(401, "unauthorized");
    unlock(Some(&user), &victim)
        .await
        .assert_error(403, "forbidden");
    // Neither did anything.
    assert_refused(
        &login(&app, "unlock-me@example.com", PASSWORD, None, None).await,
        "account_locked",
        900,
    );

    let res = unlock(Some(&admin), &victim).await;
    assert_status(&res, 204);
    assert!(res.body.is_empty());
    assert_status(
        &login(&app, "unlock-me@example.com", PASSWORD, None, None).await,
        200,
    );

    // An unknown id is 404.
    let missing = rampart_core::domain::UserId::new().to_string();
    unlock(Some(&admin), &missing)
        .await
        .assert_error(404, "not_found");
}

// ---------------------------------------------------------------------------------------------
// Device cookie exemption
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_owners_device_keeps_working_while_an_attacker_locks_the_account() {
    let clock = clock();
    let app = lockout_app(&clock).await;
    let email = "owner@example.com";
    app.register(email).await;
    app.register("someone-else@example.com").await;

    // The owner logs in from their browser and keeps the device cookie.
    let res = login(&app, email, PASSWORD, None, None).await;
    assert_status(&res, 200);
    let device = device_cookie(&res).expect("a successful login issues a device cookie");
    let res = login(&app, "someone-else@example.com", PASSWORD, None, None).await;
    let others_device = device_cookie(&res).unwrap();

    // The attacker, without the cookie, locks the account.
    fail_five_times(&app, email, None).await;
    assert_refused(
        &login(&app, email, PASSWORD, Some("203.0.113.66"), None).await,
        "account_locked",
        900,
    );

    // The owner's device still gets in, and is not issued another cookie.
    let res = login(&app, email, PASSWORD, None, Some(&device)).await;
    assert_status(&res, 200);
    assert!(res.json()["access_token"].is_string());
    assert!(device_cookie(&res).is_none());

    // Forged cookies, and another account's genuine one, count as no cookie: locked.
    let (acct, rest) = device.split_once('.').unwrap();
    let (id, mac) = rest.split_once('.').unwrap();
    let flipped_mac = format!(
        "{}{}",
        &mac[..mac.len() - 1],
        if mac.ends_with('A') { 'B' } else { 'A' }
    );
    let forged = [
        format!("{acct}.{id}.{flipped_mac}"),
        format!("{acct}.AAAAAAAAAAAAAAAAAAAAAA.{mac}"),
        format!("{acct}.{id}"),
        "garbage".to_owned(),
        others_device.clone(),
    ];
    for cookie in &forged {
        assert_refused(
            &login(&app, email, PASSWORD, None, Some(cookie)).await,
            "account_locked",
            900,
        );
    }
    // The other account's device works for the other account, of course.
    assert_status(
        &login(
            &app,
            "someone-else@example.com",
            PASSWORD,
            None,
            Some(&others_device),
        )
        .await,
        200,
    );
}

#[tokio::test]
async fn failures_on_a_device_lock_only_that_device() {
    let clock = clock();
    let app = lockout_app(&clock).await;
    let (_, admin, _) = app.admin("root@example.com").await;
    let email = "two-devices@example.com";
    let id = app.register(email).await["id"].as_str().unwrap().to_owned();
    let laptop = device_cookie(&login(&app, email, PASSWORD, None, None).await).unwrap();
    let phone = device_cookie(&login(&app, email, PASSWORD, None, None).await).unwrap();
    assert_ne!(laptop, phone);

    // Five failures with the laptop's cookie (a stolen cookie cannot guess freely) ...
    fail_five_times(&app, email, Some(&laptop)).await;
    assert_refused(
        &login(&app, email, PASSWORD, None, Some(&laptop)).await,
        "account_locked",
        900,
    );
    // ... lock only the laptop's counter: the phone and the cookie-less path still work.
    assert_status(&login(&app, email, PASSWORD, None, Some(&phone)).await, 200);
    assert_status(&login(&app, email, PASSWORD, None, None).await, 200);

    // The shared counter is separate too: locking it leaves the phone working.
    fail_five_times(&app, email, None).await;
    assert_refused(
        &login(&app, email, PASSWORD, None, None).await,
        "account_locked",
        900,
    );
    assert_status(&login(&app, email, PASSWORD, None, Some(&phone)).await, 200);

    // Admin unlock clears every counter of the account, the laptop's included.
    let res = app
        .send(Req::post(&format!("/api/admin/users/{id}/unlock")).bearer(&admin))
        .await;
    assert_status(&res, 204);
    assert_status(
        &login(&app, email, PASSWORD, None, Some(&laptop)).await,
        200,
    );
    assert_status(&login(&app, email, PASSWORD, None, None).await, 200);
}

// ---------------------------------------------------------------------------------------------
// Per-account login limit
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn per_account_login_limit_stops_distributed_guessing() {
    let clock = clock();
    let app = app_with(&clock, Vec::new(), |_| {}).await;
    let email = "target@example.com";
    app.register(email).await;
    app.register("bystander@example.com").await;

    // The owner logged in earlier from home and has a device cookie (account attempt 1).
    let res = login(&app, email, PASSWORD, Some("192.0.2.1"), None).await;
    assert_status(&res, 200);
    let device = device_cookie(&res).unwrap();
    clock.advance(SEC);

    // A botnet, one attempt per IP so no per-IP limit bites, four failures (below the
    // lockout threshold) ...
    for i in 1..=4 {
        login(&app, email, WRONG, Some(&format!("198.51.100.{i}")), None)
            .await
            .assert_error(401, "invalid_credentials");
        clock.advance(SEC);
    }
    // ... and the sixth attempt for the account in 15 minutes is refused, whatever the
    // password, until the first one is 15 minutes old.
    for i in 5..=7 {
        let res = login(
            &app,
            email,
            PASSWORD,
            Some(&format!("198.51.100.{i}")),
            None,
        )
        .await;
        assert_refused(&res, "rate_limited", 895);
        assert!(res.refresh_cookie().is_none());
    }
    // Another account is unaffected.
    assert_status(
        &login(
            &app,
            "bystander@example.com",
            PASSWORD,
            Some("198.51.100.20"),
            None,
        )
        .await,
        200,
    );
    // The owner's device has its own per-account budget.
    assert_status(
        &login(&app, email, PASSWORD, Some("192.0.2.1"), Some(&device)).await,
        200,
    );

    // When the first attempt leaves the window, one more is admitted.
    clock.advance(895 * SEC);
    assert_status(
        &login(&app, email, PASSWORD, Some("198.51.100.30"), None).await,
        200,
    );
    assert_refused(
        &login(&app, email, PASSWORD, Some("198.51.100.31"), None).await,
        "rate_limited",
        1,
    );
}

// ---------------------------------------------------------------------------------------------
// Interplay (each of these failed against the implementation when written; see the report)
// ---------------------------------------------------------------------------------------------

/// With the shipped settings (built-in policies, login_per_account 5 per 900 s), the five
/// failures that lock an account also use up its per-account login budget. An admin unlock
/// must let the owner in at once, not leave them refused for another 15 minutes.
#[tokio::test]
async fn admin_unlock_lets_the_owner_in_at_once_with_default_settings() {
    let clock = clock();
    let app = app_with(&clock, Vec::new(), |_| {}).await;
    let (_, admin, _) = app.admin("root@example.com").await;
    let email = "default-victim@example.com";
    let id = app.register(email).await["id"].as_str().unwrap().to_owned();

    // A botnet: five failures from five IPs.
    for i in 1..=5 {
        login(&app, email, WRONG, Some(&format!("198.51.100.{i}")), None)
            .await
            .assert_error(401, "invalid_credentials");
    }
    assert_refused(
        &login(&app, email, PASSWORD, Some("192.0.2.1"), None).await,
        "account_locked",
        900,
    );

    let res = app
        .send(Req::post(&format!("/api/admin/users/{id}/unlock")).bearer(&admin))
        .await;
    assert_status(&res, 204);
    let res = login(&app, email, PASSWORD, Some("192.0.2.1"), None).await;
    assert_status(&res, 200);
}

/// HEAD runs the GET handler (axum answers HEAD on every GET route), so a policy on GET
/// must also hold for HEAD; otherwise HEAD is an unlimited way to run the same handler.
#[tokio::test]
async fn head_requests_count_against_a_get_policy() {
    let clock = clock();
    let app = app_with(&clock, vec![tiny()], |_| {}).await;
    let (_, token, _) = app.user("head@example.com").await;
    let head = || app.send(Req::new(http::Method::HEAD, "/api/users/me").bearer(&token));

    for remaining in [2, 1, 0] {
        let res = head().await;
        assert_status(&res, 200);
        assert_limit_headers(&res, 3, remaining, 60, 60);
    }
    let res = head().await;
    assert_status(&res, 429);
    assert_eq!(res.header("retry-after"), Some("60"));
    // One budget for both.
    assert_refused(
        &get(&app, "/api/users/me", Some(&token), None).await,
        "rate_limited",
        60,
    );
}

/// The core's promise: a refused request is not recorded, so refusals never extend the wait.
/// When two policies match a request and the second refuses it, the first must not have
/// counted it either.
#[tokio::test]
async fn a_request_refused_by_one_policy_uses_no_budget_of_another() {
    let clock = clock();
    let app = app_with(
        &clock,
        vec![
            policy(
                "hourly",
                &["GET"],
                &["/api/users/me"],
                3,
                3600,
                "user_or_ip",
            ),
            policy(
                "minutely",
                &["GET"],
                &["/api/users/me"],
                1,
                60,
                "user_or_ip",
            ),
        ],
        |_| {},
    )
    .await;
    let (_, token, _) = app.user("two-policies@example.com").await;
    let me = || get(&app, "/api/users/me", Some(&token), None);

    assert_status(&me().await, 200);
    let res = me().await;
    assert_refused(&res, "rate_limited", 60);
    assert_eq!(res.header("ratelimit-policy"), Some("1;w=60"));

    // One admission a minute: three in the hour, as "hourly" allows.
    clock.advance(MIN);
    assert_status(&me().await, 200);
    clock.advance(MIN);
    let res = me().await;
    assert_status(&res, 200);
    assert_limit_headers(&res, 3, 0, 3480, 3600);
    // Now "hourly" is full (t0, t0+1m, t0+2m): the first leaves at t0+60m.
    clock.advance(MIN);
    let res = me().await;
    assert_refused(&res, "rate_limited", 3420);
    assert_eq!(res.header("ratelimit-policy"), Some("3;w=3600"));
}

/// `Retry-After` tells the client when a retry may succeed. The refusal that starts a
/// penalty block must therefore announce the block when it outlasts the policy's own wait.
#[tokio::test]
async fn the_refusal_that_starts_a_block_announces_the_block() {
    let clock = clock();
    let app = app_with(&clock, vec![tiny()], |_| {}).await;
    let (_, token, _) = app.user("honest-retry@example.com").await;
    let me = || get(&app, "/api/users/me", Some(&token), None);

    for _ in 0..3 {
        assert_status(&me().await, 200);
    }
    // 50 s later the window frees in 10 s; the third refusal starts a 60 s block.
    clock.advance(50 * SEC);
    assert_refused(&me().await, "rate_limited", 10);
    assert_refused(&me().await, "rate_limited", 10);
    assert_refused(&me().await, "rate_limited", 60);
    // Obeying a Retry-After of 10 would only have met the block.
    clock.advance(10 * SEC);
    assert_refused(&me().await, "rate_limited", 50);
    clock.advance(50 * SEC);
    assert_status(&me().await, 200);
}
