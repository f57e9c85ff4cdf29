//! Rate limits shared through Redis: the script keeps the core's exact sliding window, several
//! processes together admit at most `max`, and a Redis outage fails closed on the auth routes
//! and open elsewhere, then heals by itself.
//!
//! Needs `RAMPART_TEST_REDIS_URL` (scripts/test starts a private redis-server and sets it);
//! without it each test prints that it was skipped, and fails under `CI=true`. The outage test
//! starts and kills its own redis-server. Every test uses its own random policy names, so the
//! keys (`rampart:rl:{policy}:{key}`) of tests running in parallel never meet.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rampart_core::domain::Email;
use rampart_core::lockout::{AttemptKey, Failure, Lockout, LockoutPolicy};
use rampart_core::ratelimit::{
    Clock, Decision, Limit, ManualClock, MemoryLimiter, Penalties, PenaltyPolicy,
};
use rampart_server::config::{RawConfig, RawPolicy};
use rampart_server::limits::{
    LockoutStore, PenaltyStore, RedisLimiter, RedisLockout, RedisPenalties,
};
use serde_json::json;

use crate::helpers::*;

/// The shared Redis, or `None` (after saying so) when this run has none. Panics under CI.
fn redis_url() -> Option<String> {
    match std::env::var("RAMPART_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but RAMPART_TEST_REDIS_URL is not set: the Redis tests must run"
            );
            eprintln!("skipped: RAMPART_TEST_REDIS_URL not set");
            None
        }
    }
}

/// A name no other test (or earlier run against the same Redis) uses.
fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

fn policy(name: &str, methods: &[&str], routes: &[&str], max: u32, window_secs: u64) -> RawPolicy {
    RawPolicy {
        name: name.into(),
        methods: methods.iter().map(|m| (*m).to_owned()).collect(),
        routes: routes.iter().map(|r| (*r).to_owned()).collect(),
        max,
        window_secs,
        key: "user_or_ip".into(),
        on_store_error: None,
    }
}

/// An app with rate limiting on, in `redis`, with only these policies.
async fn app_on_redis(redis: &str, policies: Vec<RawPolicy>) -> TestApp {
    let redis = redis.to_owned();
    spawn_app_with(move |raw: &mut RawConfig| {
        raw.redis_url = redis;
        raw.rate_limit.enabled = true;
        raw.rate_limit.policies = policies;
    })
    .await
}

/// A client address no other test (or earlier run) uses: penalties are shared in Redis too,
/// so refusals on a common address would block every other test's requests.
fn unique_peer() -> SocketAddr {
    let b = uuid::Uuid::new_v4().into_bytes();
    SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, b[0], b[1], b[2])),
        40_000,
    )
}

/// Polls `probe` every 50 ms until it returns true or `limit` passes.
async fn eventually<F, Fut>(limit: Duration, mut probe: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if probe().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

// ---------------------------------------------------------------------------------------------
// A private redis-server (for the outage test)
// ---------------------------------------------------------------------------------------------

fn redis_server_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("redis-server"))
            .find(|p| p.is_file())
    });
    on_path
        .or_else(|| Some(PathBuf::from("/usr/bin/redis-server")).filter(|p| p.is_file()))
        .expect("redis-server is neither on PATH nor /usr/bin/redis-server")
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A redis-server this test owns: no persistence, loopback only, killed on drop.
struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    fn start() -> Self {
        let mut me = Self {
            port: free_port(),
            child: None,
        };
        me.restart();
        me
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts the server on this port (again) and waits until it accepts connections.
    fn restart(&mut self) {
        let child = Command::new(redis_server_binary())
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--loglevel", "warning"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------------------
// Exact limits
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn redis_admits_exactly_max_then_refuses_with_retry_after_then_admits_after_the_window() {
    let Some(url) = redis_url() else { return };
    let name = unique("exact");
    let app = app_on_redis(
        &url,
        vec![policy(&name, &["GET"], &["/api/openapi.json"], 3, 2)],
    )
    .await;
    assert!(app.state.limits.store.is_shared());
    let peer = unique_peer();
    let get = || app.send(Req::get("/api/openapi.json").peer(peer));

    for remaining in ["2", "1", "0"] {
        let res = get().await;
        assert_eq!(res.status, 200);
        assert_eq!(res.header("ratelimit-remaining"), Some(remaining));
        assert_eq!(res.header("ratelimit-policy"), Some("3;w=2"));
    }
    let refused = get().await;
    refused.assert_error(429, "rate_limited");
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (1..=2).contains(&retry),
        "Retry-After {retry} for a 2 s window"
    );

    // One key per (policy, key), expiring with the window.
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let key = format!("rampart:rl:{name}:ip:{}", peer.ip());
    let held: u64 = redis::cmd("ZCARD")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(held, 3, "refusals are not recorded");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((1..=2000).contains(&ttl), "PTTL {ttl}");

    // After the window, admitted again (bounded wait; no timing assertion). Wait out the
    // Retry-After first: hammering would earn the client a block from the penalty box.
    tokio::time::sleep(Duration::from_secs(retry)).await;
    assert!(
        eventually(Duration::from_secs(5), || async {
            let ok = get().await.status == 200;
            if !ok {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            ok
        })
        .await,
        "never admitted again after the window"
    );
}

#[tokio::test]
async fn redis_store_refuses_the_request_after_max_with_the_oldest_admissions_wait() {
    let Some(url) = redis_url() else { return };
    let store = RedisLimiter::connect(&url).await.unwrap();
    let name = unique("direct");
    let limit = Limit {
        max: 2,
        window_ms: 1500,
    };
    let mut resets = Vec::new();
    for expected in [1, 0] {
        match store.decide(&name, "k", limit).await.unwrap() {
            Decision::Allow {
                remaining,
                reset_ms,
            } => {
                assert_eq!(remaining, expected);
                resets.push(reset_ms);
            }
            d => panic!("refused: {d:?}"),
        }
    }
    assert!(
        resets.iter().all(|&r| (1..=1500).contains(&r)),
        "{resets:?}"
    );
    match store.decide(&name, "k", limit).await.unwrap() {
        Decision::Deny { retry_after_ms } => {
            assert!((1..=1500).contains(&retry_after_ms), "{retry_after_ms}")
        }
        d => panic!("third admitted: {d:?}"),
    }
    // Other keys and policies are independent.
    assert!(matches!(
        store.decide(&name, "other", limit).await.unwrap(),
        Decision::Allow { remaining: 1, .. }
    ));
    assert!(matches!(
        store.decide(&unique("direct"), "k", limit).await.unwrap(),
        Decision::Allow { remaining: 1, .. }
    ));
    assert!(
        eventually(Duration::from_secs(5), || async {
            matches!(
                store.decide(&name, "k", limit).await.unwrap(),
                Decision::Allow { .. }
            )
        })
        .await,
        "never admitted again after the window"
    );
}

/// The script and the core's in-memory limiter, fed the same requests at the same times (the
/// script's clock fixed per call), give the same decisions, step for step.
#[tokio::test]
async fn redis_store_decides_exactly_like_the_memory_store() {
    let Some(url) = redis_url() else { return };
    let store = RedisLimiter::connect(&url).await.unwrap();
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let memory = MemoryLimiter::new(1000, clock.clone());
    let name = unique("same");
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut admitted = 0;
    for i in 0..400 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        clock.advance(x % 700);
        // The limit changes now and then, shrinking included.
        let limit = Limit {
            max: if (i / 100) % 2 == 0 { 5 } else { 3 },
            window_ms: 4000,
        };
        let key = if x.is_multiple_of(5) { "b" } else { "a" };
        let expected = memory.decide(&name, key, limit);
        let got = store
            .decide_at(&name, key, limit, clock.now_ms())
            .await
            .unwrap();
        assert_eq!(got, expected, "step {i} at {}", clock.now_ms());
        if matches!(got, Decision::Allow { .. }) {
            admitted += 1;
        }
    }
    assert!(
        (50..400).contains(&admitted),
        "the run must both admit and refuse: {admitted}"
    );
}

// ---------------------------------------------------------------------------------------------
// Several processes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn two_processes_on_one_redis_admit_exactly_max_together() {
    let Some(url) = redis_url() else { return };
    let name = unique("shared");
    let a = app_on_redis(
        &url,
        vec![policy(&name, &["GET"], &["/api/openapi.json"], 5, 60)],
    )
    .await;
    let b = spawn_sibling(&a).await;

    // Alternating: exactly 5 admitted in total, however they are spread.
    let peer = unique_peer();
    let mut admitted = 0;
    for i in 0..12 {
        let app = if i % 2 == 0 { &a } else { &b };
        let res = app.send(Req::get("/api/openapi.json").peer(peer)).await;
        match res.status.as_u16() {
            200 => admitted += 1,
            429 => res.assert_error(429, "rate_limited"),
            s => panic!("unexpected {s}"),
        }
    }
    assert_eq!(admitted, 5);

    // Concurrently, on a fresh key: still exactly 5.
    let other = unique("race");
    let a = app_on_redis(
        &url,
        vec![policy(&other, &["GET"], &["/api/openapi.json"], 5, 60)],
    )
    .await;
    let b = spawn_sibling(&a).await;
    let peer = unique_peer();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let router = if i % 2 == 0 {
            a.router.clone()
        } else {
            b.router.clone()
        };
        tasks.spawn(async move {
            use tower::ServiceExt;
            let req = http::Request::get("/api/openapi.json")
                .header("host", "api.test")
                .extension(axum::extract::ConnectInfo(peer))
                .body(axum::body::Body::empty())
                .unwrap();
            router.oneshot(req).await.unwrap().status().as_u16()
        });
    }
    let statuses = tasks.join_all().await;
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 429).count(),
        15,
        "{statuses:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Redis going away, and coming back
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn redis_down_fails_closed_on_auth_open_elsewhere_and_recovers_by_itself() {
    // The shared server stays untouched; this test stops only its own.
    if redis_url().is_none() {
        return;
    }
    let mut redis = PrivateRedis::start();
    let login_policy = unique("login");
    let reads_policy = unique("reads");
    let app = app_on_redis(
        &redis.url(),
        vec![
            policy(&login_policy, &["POST"], &["/api/auth/login"], 100, 60),
            policy(&reads_policy, &["GET"], &[], 100, 60),
        ],
    )
    .await;
    let login = || {
        app.send(Req::post("/api/auth/login").json(json!({
            "email": "nobody@example.com",
            "password": PASSWORD,
        })))
    };
    let read = || app.send(Req::get("/api/openapi.json"));

    assert_eq!(app.send(Req::get("/ready")).await.status, 200);
    assert_eq!(read().await.status, 200);
    login().await.assert_error(401, "invalid_credentials");
    assert_eq!(app.state.limits.store_errors(), 0);

    redis.stop();

    // Auth fails closed, quickly.
    let started = Instant::now();
    let res = login().await;
    res.assert_error(503, "unavailable");
    assert_eq!(res.header("retry-after"), Some("5"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a dead Redis stalled the request for {:?}",
        started.elapsed()
    );
    // Reads fail open.
    let res = read().await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("ratelimit-limit"),
        None,
        "the policy was skipped"
    );
    // Not ready while Redis is down.
    app.send(Req::get("/ready"))
        .await
        .assert_error(503, "unavailable");
    assert!(app.state.limits.store_errors() >= 2);

    redis.restart();

    assert!(
        eventually(Duration::from_secs(15), || async {
            login().await.status.as_u16() == 401
        })
        .await,
        "decisions did not recover after Redis came back"
    );
    let res = read().await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("ratelimit-limit"), Some("100"));
    assert_eq!(app.send(Req::get("/ready")).await.status, 200);
}

// ---------------------------------------------------------------------------------------------
// Lockout and penalties shared by several processes
// ---------------------------------------------------------------------------------------------

/// An app on `redis` with rate limiting off, so only the lockout decides logins.
async fn lockout_on_redis(redis: &str) -> TestApp {
    let redis = redis.to_owned();
    spawn_app_with(move |raw: &mut RawConfig| raw.redis_url = redis).await
}

async fn login_as(
    app: &TestApp,
    email: &str,
    password: &str,
    device: Option<&str>,
) -> TestResponse {
    let mut req =
        Req::post("/api/auth/login").json(json!({ "email": email, "password": password }));
    if let Some(device) = device {
        req = req.header("cookie", &format!("rampart_device={device}"));
    }
    app.send(req).await
}

fn device_cookie(res: &TestResponse) -> Option<String> {
    res.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("rampart_device="))
        .map(|rest| rest.split(';').next().unwrap().to_owned())
        .filter(|v| !v.is_empty())
}

async fn send_from(app: &TestApp, path: &str, peer: SocketAddr) -> TestResponse {
    app.send(Req::get(path).peer(peer)).await
}

const WRONG: &str = "definitely not the password";

#[tokio::test]
async fn failed_logins_on_two_processes_lock_the_account_for_both_and_unlock_clears_both() {
    let Some(url) = redis_url() else { return };
    let a = lockout_on_redis(&url).await;
    let b = spawn_sibling(&a).await;
    assert!(matches!(a.state.lockout, LockoutStore::Redis(_)));
    let email = format!("{}@example.com", unique("victim"));
    let victim = a.register(&email).await["id"].as_str().unwrap().to_owned();
    let (_, admin, _) = a.admin(&format!("{}@example.com", unique("admin"))).await;
    let ok = login_as(&a, &email, PASSWORD, None).await;
    assert_eq!(ok.status, 200);
    let device = device_cookie(&ok).expect("a device cookie");

    // Three failures on one process and two on the other: five, the threshold.
    for i in 0..5 {
        let app = if i < 3 { &a } else { &b };
        login_as(app, &email, WRONG, None)
            .await
            .assert_error(401, "invalid_credentials");
    }
    for app in [&a, &b] {
        let res = login_as(app, &email, PASSWORD, None).await;
        res.assert_error(429, "account_locked");
        let retry: u64 = res.header("retry-after").unwrap().parse().unwrap();
        assert!((14 * 60..=15 * 60).contains(&retry), "Retry-After {retry}");
    }
    // The owner's device has its own counter, shared too.
    assert_eq!(
        login_as(&b, &email, PASSWORD, Some(&device)).await.status,
        200
    );
    for i in 0..4 {
        let app = if i % 2 == 0 { &a } else { &b };
        login_as(app, &email, WRONG, Some(&device))
            .await
            .assert_error(401, "invalid_credentials");
    }
    assert_eq!(
        login_as(&a, &email, PASSWORD, Some(&device)).await.status,
        200
    );
    for i in 0..5 {
        let app = if i % 2 == 0 { &b } else { &a };
        login_as(app, &email, WRONG, Some(&device))
            .await
            .assert_error(401, "invalid_credentials");
    }
    for app in [&a, &b] {
        login_as(app, &email, PASSWORD, Some(&device))
            .await
            .assert_error(429, "account_locked");
    }

    // One hash per account, expiring by itself.
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("rampart:lock:{email}"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((1..=15 * 60_000).contains(&ttl), "PTTL {ttl}");

    // Unlock on one process clears the account and its devices for both.
    let res = a
        .send(Req::post(&format!("/api/admin/users/{victim}/unlock")).bearer(&admin))
        .await;
    assert_eq!(res.status, 204);
    assert_eq!(login_as(&b, &email, PASSWORD, None).await.status, 200);
    assert_eq!(
        login_as(&b, &email, PASSWORD, Some(&device)).await.status,
        200
    );
    assert_eq!(login_as(&a, &email, PASSWORD, None).await.status, 200);
}

#[tokio::test]
async fn unknown_emails_lock_across_processes_like_known_ones() {
    let Some(url) = redis_url() else { return };
    let a = lockout_on_redis(&url).await;
    let b = spawn_sibling(&a).await;
    let email = format!("{}@example.com", unique("nobody"));
    for i in 0..5 {
        let app = if i % 2 == 0 { &a } else { &b };
        login_as(app, &email, WRONG, None)
            .await
            .assert_error(401, "invalid_credentials");
    }
    for app in [&a, &b] {
        login_as(app, &email, PASSWORD, None)
            .await
            .assert_error(429, "account_locked");
    }
    // Four failures (below the threshold) on another unknown email lock nothing.
    let other = format!("{}@example.com", unique("nobody"));
    for i in 0..4 {
        let app = if i % 2 == 0 { &a } else { &b };
        login_as(app, &other, WRONG, None)
            .await
            .assert_error(401, "invalid_credentials");
    }
    login_as(&b, &other, WRONG, None)
        .await
        .assert_error(401, "invalid_credentials");
    login_as(&a, &other, WRONG, None)
        .await
        .assert_error(429, "account_locked");
}

#[tokio::test]
async fn refusals_spread_over_two_processes_block_the_key_on_both() {
    let Some(url) = redis_url() else { return };
    let name = unique("pen");
    let a = app_on_redis(
        &url,
        vec![policy(&name, &["GET"], &["/api/openapi.json"], 1, 60)],
    )
    .await;
    let b = spawn_sibling(&a).await;
    assert!(matches!(a.state.limits.penalties, PenaltyStore::Redis(_)));
    let peer = unique_peer();
    let limited = |app| send_from(app, "/api/openapi.json", peer);
    // A route the policy does not cover: only the penalty box can refuse it.
    let elsewhere = |app| send_from(app, "/api/users/me", peer);

    assert_eq!(limited(&a).await.status, 200);
    limited(&a).await.assert_error(429, "rate_limited");
    limited(&b).await.assert_error(429, "rate_limited");
    // Two strikes: not blocked yet, on either.
    for app in [&a, &b] {
        assert_eq!(elsewhere(app).await.status, 401);
    }
    // The third, on the first process again, blocks the key everywhere.
    limited(&a).await.assert_error(429, "rate_limited");
    for app in [&b, &a] {
        let res = elsewhere(app).await;
        res.assert_error(429, "rate_limited");
        let retry: u64 = res.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "Retry-After {retry}");
    }
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(format!("rampart:pen:ip:{}", peer.ip()))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        ttl > 60_000,
        "the level outlives the block until forgiven: PTTL {ttl}"
    );
    // Another key is untouched.
    assert_eq!(
        b.send(Req::get("/api/users/me").peer(unique_peer()))
            .await
            .status,
        401
    );
}

/// The penalty script and the core's in-memory penalty box, fed the same strikes at the same
/// times (the script's clock fixed per call): the same blocks, escalation, cap and forgiveness.
#[tokio::test]
async fn redis_penalties_decide_exactly_like_the_memory_ones() {
    let Some(url) = redis_url() else { return };
    let redis = RedisLimiter::connect(&url).await.unwrap();
    let shared = RedisPenalties::new(&redis, PenaltyPolicy::default());
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let memory = Penalties::new(PenaltyPolicy::default(), 1000, clock.clone());
    let keys = [unique("pk"), unique("pk")];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut blocks = 0;
    for i in 0..600 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Mostly short steps, now and then long ones (past blocks, windows, forgiveness).
        clock.advance(match x % 50 {
            0 => 25 * 60 * 60_000,
            1..=5 => 20 * 60_000,
            _ => x % 200_000,
        });
        let key = &keys[usize::from(x.is_multiple_of(3))];
        let now = Some(clock.now_ms());
        if x.is_multiple_of(4) {
            let got = shared.blocked_for(key, now).await.unwrap();
            assert_eq!(got, memory.blocked_for(key), "step {i}: blocked_for");
        } else {
            let got = shared.strike(key, now).await.unwrap();
            assert_eq!(got, memory.strike(key), "step {i}: strike");
            blocks += usize::from(got.is_some());
        }
    }
    assert!(blocks > 10, "the run must block: {blocks}");
}

/// The same for the lockout script: failures, successes, checks and unlocks on an account's
/// shared counter and two devices.
#[tokio::test]
async fn redis_lockout_decides_exactly_like_the_memory_one() {
    let Some(url) = redis_url() else { return };
    let redis = RedisLimiter::connect(&url).await.unwrap();
    let shared = RedisLockout::new(&redis, LockoutPolicy::default());
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let memory = Lockout::new(LockoutPolicy::default(), 1000, clock.clone());
    let email = Email::parse(&format!("{}@example.com", unique("lk"))).unwrap();
    let account = email.as_str().to_owned();
    let keys = [
        AttemptKey::Account(account.clone()),
        AttemptKey::Device {
            account: account.clone(),
            device: "d1".into(),
        },
        AttemptKey::Device {
            account,
            device: "d2".into(),
        },
    ];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut locks = 0;
    for i in 0..600 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        clock.advance(match x % 40 {
            0..=3 => 16 * 60_000,
            _ => x % 120_000,
        });
        let key = &keys[usize::try_from(x % 3).unwrap()];
        let now = Some(clock.now_ms());
        match (x >> 8) % 20 {
            0 => {
                shared.unlock(&email).await.unwrap();
                memory.unlock(&email);
            }
            1 => {
                shared.succeed(key).await.unwrap();
                memory.succeed(key);
            }
            2..=7 => {
                let got = shared.locked_for(key, now).await.unwrap();
                assert_eq!(got, memory.locked_for(key), "step {i}: locked_for");
            }
            _ => {
                let got = shared.fail(key, now).await.unwrap();
                assert_eq!(got, memory.fail(key), "step {i}: fail");
                locks += usize::from(matches!(got, Failure::Locked(_)));
            }
        }
    }
    assert!(locks > 5, "the run must lock: {locks}");
}
