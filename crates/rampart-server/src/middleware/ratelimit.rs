//! Rate limiting: every request is checked against every configured policy that matches its
//! method and route template, keyed by the user for authenticated requests and by the client
//! IP otherwise (IPv6 by /64; the IP comes from `extract::client_ip`, which honours
//! `X-Forwarded-For` only from trusted proxies). Runs after authentication, before validation.
//!
//! Limited responses carry `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`,
//! `RateLimit-Policy` (IETF draft) and `X-RateLimit-*` for the most constrained policy; a
//! refusal is 429 `rate_limited` with `Retry-After`. A key refused repeatedly is blocked on
//! every route for an escalating time (`rampart_core::ratelimit::Penalties`).
//!
//! With `redis_url` set the admissions are shared by every process (`crate::limits`). When that
//! store cannot be asked, each policy fails as it is configured (`on_store_error`): `deny`
//! answers 503 `unavailable` with `Retry-After` (the default for the auth routes, where an
//! unlimited window is a brute-force window), `allow` skips that policy for the request. Every
//! failure is logged and counted (`Limits::decide`). The penalty box is shared through Redis
//! as well; its checks fail open (a dead Redis must not block every route), logged and counted.
//!
//! Threats: brute force and credential stuffing, sign-up abuse, scraping, resource
//! exhaustion (checklist row 7, OWASP API4). The guarantee is the core's: never more than `max`
//! admitted per key in any window of the policy's length.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderMap, HeaderValue};
use rampart_core::audit::{Outcome, Target};
use rampart_core::error::{ApiError, ErrorCode};
use rampart_core::ratelimit::{Decision, KeyKind, OnStoreError, Policy, ip_key};
use serde_json::json;

use super::authenticate::Principal;
use crate::error::error_response;
use crate::state::AppState;

/// Routes no policy applies to: probes that orchestrators call constantly.
const EXEMPT: &[&str] = &["/health", "/ready"];

fn set_headers(headers: &mut HeaderMap, policy: &Policy, remaining: u32, reset_secs: u64) {
    let window_secs = policy.limit.window_ms.div_ceil(1000);
    let pairs = [
        ("ratelimit-limit", policy.limit.max.to_string()),
        ("ratelimit-remaining", remaining.to_string()),
        ("ratelimit-reset", reset_secs.to_string()),
        (
            "ratelimit-policy",
            format!("{};w={}", policy.limit.max, window_secs),
        ),
        ("x-ratelimit-limit", policy.limit.max.to_string()),
        ("x-ratelimit-remaining", remaining.to_string()),
        ("x-ratelimit-reset", reset_secs.to_string()),
    ];
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
}

fn refuse(retry_after_ms: u64) -> Response {
    error_response(
        ApiError::new(ErrorCode::RateLimited).retry_after(retry_after_ms.div_ceil(1000).max(1)),
    )
}

/// The answer when a fail-closed policy cannot be decided: 503 `unavailable`, retry shortly.
pub fn store_down() -> Response {
    error_response(ApiError::new(ErrorCode::Unavailable).retry_after(5))
}

/// The rate-limiting stage.
pub async fn enforce(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // Unmatched requests (answered 404 by the fallback) still count against method-wide
    // policies, so probing for routes is limited too.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    if EXEMPT.contains(&route.as_str()) {
        return next.run(req).await;
    }
    let ip = crate::extract::client_ip_of(&state, &req);
    let ip_key = ip.map_or_else(|| "ip:unknown".to_owned(), ip_key);
    let user_key = req
        .extensions()
        .get::<Principal>()
        .map(|p| format!("user:{}", p.user_id));
    let client_key = user_key.clone().unwrap_or_else(|| ip_key.clone());

    // Owned: the request body is not `Sync`, so nothing may borrow the request across the
    // store's await.
    let method = req.method().clone();
    let context = req
        .extensions()
        .get::<crate::context::RequestContext>()
        .cloned()
        .unwrap_or_default();
    let blocked_event = |policy: &str, key: &str, retry_after_ms: u64| {
        context.record(
            "ratelimit.blocked",
            Some(Target {
                kind: "route".into(),
                id: route.clone(),
            }),
            Outcome::Denied,
            json!({
                "policy": policy,
                "key": key,
                "method": method.as_str(),
                "retry_after_secs": retry_after_ms.div_ceil(1000),
            }),
        );
    };
    let limits = &state.limits;
    // A block on the IP holds even for requests carrying some user's token, and a block on
    // the user holds from any IP.
    // Fails open (logged and counted): a dead shared store must not block every route.
    let mut blocked = None;
    for k in [&client_key, &ip_key] {
        blocked = blocked.max(limits.blocked_for(k).await);
    }
    if let Some(ms) = blocked {
        state.metrics.ratelimit("penalty", "blocked");
        blocked_event("penalty", &client_key, ms);
        return refuse(ms);
    }
    // The most constrained admitted policy sets the headers.
    let mut tightest: Option<(&Policy, u32, u64)> = None;
    // Admissions so far: taken back if a later policy refuses, so a refused request uses no
    // policy's budget.
    let mut admitted = Vec::new();
    for policy in state
        .settings
        .rate_limits
        .iter()
        .filter(|p| p.matches(method.as_str(), &route))
    {
        let key = match policy.key {
            KeyKind::Ip => &ip_key,
            KeyKind::UserOrIp => &client_key,
        };
        let decision = match limits.decide(&policy.name, key, policy.limit).await {
            Ok((decision, admission)) => {
                admitted.extend(admission);
                decision
            }
            Err(_) => {
                state.metrics.ratelimit(&policy.name, "store_error");
                state.metrics.store_error("redis");
                match policy.on_store_error {
                    OnStoreError::Deny => {
                        for a in admitted {
                            limits.store.undo(a).await;
                        }
                        return store_down();
                    }
                    OnStoreError::Allow => continue,
                }
            }
        };
        match decision {
            Decision::Allow {
                remaining,
                reset_ms,
            } => {
                state.metrics.ratelimit(&policy.name, "allowed");
                let reset = reset_ms.div_ceil(1000);
                if tightest.is_none_or(|(_, r, _)| remaining < r) {
                    tightest = Some((policy, remaining, reset));
                }
            }
            Decision::Deny { retry_after_ms } => {
                tracing::info!(policy = %policy.name, key = %key, route = %route, "rate limited");
                state.metrics.ratelimit(&policy.name, "blocked");
                blocked_event(&policy.name, key, retry_after_ms);
                for a in admitted {
                    limits.store.undo(a).await;
                }
                // The strike goes to the key the refusing policy limits: a brute-forcer on an
                // IP-keyed route cannot move its strikes to a throwaway account's token.
                let mut wait_ms = retry_after_ms;
                if let Some(block) = limits.strike(key).await {
                    tracing::warn!(
                        key = %key,
                        level = block.level,
                        seconds = block.duration_ms / 1000,
                        "ratelimit.blocked: repeated refusals; key blocked on every route"
                    );
                    // Announce the block, not just this policy's wait.
                    wait_ms = wait_ms.max(block.duration_ms);
                }
                let mut res = refuse(wait_ms);
                set_headers(res.headers_mut(), policy, 0, wait_ms.div_ceil(1000));
                return res;
            }
        }
    }
    let mut res = next.run(req).await;
    if let Some((policy, remaining, reset)) = tightest {
        set_headers(res.headers_mut(), policy, remaining, reset);
    }
    res
}
