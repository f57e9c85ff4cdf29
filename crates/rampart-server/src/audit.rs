//! Recording the audit trail and the per-request log line.
//!
//! Every request gets a [`RequestContext`] from the outer [`access_log`] stage. Handlers and
//! later stages record events into it through the `Audit` extractor (or
//! [`RequestContext::record`]); authentication notes the caller in it. The inner [`record`]
//! stage, after the handler answered and before the response leaves, appends the request's
//! events to the trail through the `Auditor`'s group commit, so the trail costs a request one
//! store write at most, and an answered request's events are durable
//! ([`rampart_store::AuditStore`]). When
//! that write fails twice, the response becomes 503 `unavailable`: a change whose audit entry
//! is lost must not be reported as done (the change itself may have happened; the client
//! re-reads). Refusals that no handler described — every 401 and 403 (`access.denied`) and
//! every validation failure (`validation.failed`) — are recorded here from the error, with
//! the route template and the error code as the reason.
//!
//! [`access_log`] writes one structured line per request (method, route template, status,
//! latency, request id, user id, client IP) and counts it in the metrics.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rampart_core::audit::{Actor, Event, Outcome, Target};
use rampart_core::domain::UserId;
use rampart_core::error::{ApiError, ErrorCode};
use serde_json::json;

use crate::auditor::AuditUnavailable;
use crate::context::{Pending, RequestContext};
use crate::error::{AppError, StoreFailure};
use crate::extract::client_ip_of;
use crate::middleware::request_id::RequestId;
use crate::state::{AppState, now_ms};

/// Signs a checkpoint every `every` while the head moves (the periodic checkpoint).
pub fn spawn_checkpointer(state: AppState, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = state.audit.checkpoint().await {
                state.metrics.store_error("audit");
                tracing::error!(error = %e, "audit checkpoint failed");
            }
        }
    })
}

fn route_of(req: &Request) -> String {
    req.extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned())
}

/// The outer stage: gives the request its context, then logs and counts it.
pub async fn access_log(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let context = RequestContext::default();
    req.extensions_mut().insert(context.clone());
    let method = req.method().clone();
    let route = route_of(&req);
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let ip = client_ip_of(&state, &req).map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let res = next.run(req).await;
    let latency = started.elapsed();
    let status = res.status().as_u16();
    state.metrics.request(&method, &route, status, latency);
    let user_id = context.user().map(|u| u.to_string()).unwrap_or_default();
    let latency_ms = latency.as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::warn!(target: "rampart::request", %method, %route, status, latency_ms, %request_id, %user_id, client_ip = %ip, "request");
    } else {
        tracing::info!(target: "rampart::request", %method, %route, status, latency_ms, %request_id, %user_id, client_ip = %ip, "request");
    }
    res
}

/// The inner stage: appends the request's events once the handler answered.
pub async fn record(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(context) = req.extensions().get::<RequestContext>().cloned() else {
        return next.run(req).await;
    };
    let route = route_of(&req);
    let method = req.method().clone();
    // The concrete path names the collection or record a refusal was about; bounded.
    let path: String = req.uri().path().chars().take(256).collect();
    let who = Who {
        ip: client_ip_of(&state, &req).map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()),
        user_agent: crate::extract::user_agent(req.headers()),
        request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
    };
    let guard = FlushOnDrop {
        state: state.clone(),
        context: context.clone(),
        who: who.clone(),
    };
    let res = next.run(req).await;

    if res.extensions().get::<StoreFailure>().is_some() {
        state.metrics.store_error("database");
    }
    let (user, mut pending) = context.take();
    drop(guard);
    if matches!(
        res.extensions().get::<ApiError>().map(|e| e.code),
        Some(ErrorCode::InvalidToken | ErrorCode::TokenExpired)
    ) {
        state.metrics.auth("token_rejected");
    }
    if pending.is_empty()
        && let Some(event) = refusal(&res, &route, &method, &path)
    {
        pending.push(event);
    }
    let events = events_of(&state, &who, user, pending);
    if events.is_empty() {
        return res;
    }
    // Appended by a task of its own: once taken from the context, the entries are committed
    // even if this request is dropped while waiting (its client went away).
    let append = |events: Vec<Event>| {
        let state = state.clone();
        async move {
            tokio::spawn(async move { state.audit.append(events).await })
                .await
                .unwrap_or_else(|e| Err(AuditUnavailable::from(e)))
        }
    };
    let mut outcome = append(events.clone()).await;
    if outcome.is_err() {
        outcome = append(events.clone()).await;
    }
    match outcome {
        Ok(n) => {
            state.metrics.audit_appended(n as u64);
            res
        }
        Err(e) => {
            state.metrics.store_error("audit");
            log_unstored(&events, &e);
            AppError::from(ApiError::new(ErrorCode::Unavailable).retry_after(5)).into_response()
        }
    }
}

/// The entries could not be stored: they are not lost silently, they go to the error log
/// (redacted there too).
fn log_unstored(events: &[Event], e: &AuditUnavailable) {
    for event in events {
        tracing::error!(
            target: "rampart::audit",
            action = event.action,
            result = event.result.as_str(),
            metadata = event.metadata(),
            request_id = event.request_id.as_deref().unwrap_or_default(),
            error = %e,
            "audit entry could not be stored"
        );
    }
}

/// Who made the request, as every entry of it records.
#[derive(Clone)]
struct Who {
    ip: String,
    user_agent: String,
    request_id: Option<String>,
}

/// The entries for what the request recorded: rate-limit refusals throttled, each counted in
/// the metrics.
fn events_of(
    state: &AppState,
    who: &Who,
    user: Option<UserId>,
    pending: Vec<Pending>,
) -> Vec<Event> {
    pending
        .into_iter()
        .filter_map(|mut p| {
            if p.action == "ratelimit.blocked" {
                let key = format!("{}|{}", who.ip, p.metadata["policy"]);
                let n = state.audit.admit_refusal(key, now_ms())?;
                p.metadata["refusals"] = json!(n);
            }
            Some(p)
        })
        .map(|p| {
            if let Some(outcome) = auth_outcome(p.action) {
                state.metrics.auth(outcome);
            }
            Event::new(
                p.action,
                Actor {
                    user_id: p.actor.or(user).map(|u| u.to_string()),
                    ip: who.ip.clone(),
                    user_agent: who.user_agent.clone(),
                },
                p.target,
                p.result,
                who.request_id.clone(),
                p.metadata,
            )
        })
        .collect()
}

/// Appends what the request recorded if the request is dropped before [`record`] took it
/// (the client went away mid-request, after a change was made): a change must not go
/// unaudited because its caller disconnected.
struct FlushOnDrop {
    state: AppState,
    context: RequestContext,
    who: Who,
}

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        let (user, pending) = self.context.take();
        if pending.is_empty() {
            return;
        }
        let events = events_of(&self.state, &self.who, user, pending);
        let state = self.state.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = state.audit.append(events.clone()).await {
                    state.metrics.store_error("audit");
                    log_unstored(&events, &e);
                }
            });
        }
    }
}

/// Most field names a `validation.failed` entry lists, and their longest length.
const MAX_FIELDS: usize = 20;
const MAX_FIELD_CHARS: usize = 64;

/// The `access.denied` or `validation.failed` event for a refusal no stage described.
fn refusal(res: &Response, route: &str, method: &http::Method, path: &str) -> Option<Pending> {
    let status = res.status().as_u16();
    let error = res.extensions().get::<ApiError>();
    let code = error.map_or_else(|| ErrorCode::for_status(status), |e| e.code);
    let target = Some(Target {
        kind: "route".into(),
        id: route.to_owned(),
    });
    match status {
        401 | 403 => Some(Pending {
            action: "access.denied",
            actor: None,
            target,
            result: Outcome::Denied,
            metadata: json!({
                "method": method.as_str(),
                "path": path,
                "status": status,
                "reason": code.as_str(),
            }),
        }),
        _ if code == ErrorCode::ValidationFailed => {
            // Field names can be the client's own (unknown keys): bounded in count and length.
            let all: Vec<&str> = error
                .map(|e| e.details.iter().map(|d| d.field.as_str()).collect())
                .unwrap_or_default();
            let fields: Vec<String> = all
                .iter()
                .take(MAX_FIELDS)
                .map(|f| f.chars().take(MAX_FIELD_CHARS).collect())
                .collect();
            Some(Pending {
                action: "validation.failed",
                actor: None,
                target,
                result: Outcome::Failure,
                metadata: json!({
                    "method": method.as_str(),
                    "path": path,
                    "fields": fields,
                    "fields_total": all.len(),
                }),
            })
        }
        _ => None,
    }
}

/// The authentication-outcome metric an audited action counts as.
fn auth_outcome(action: &str) -> Option<&'static str> {
    Some(match action {
        "auth.login.succeeded" => "login_succeeded",
        "auth.login.failed" => "login_failed",
        "auth.lockout" => "lockout",
        "auth.register" => "register",
        "auth.refresh" => "refresh",
        "auth.refresh.reuse_detected" => "refresh_reuse",
        "auth.logout" => "logout",
        _ => return None,
    })
}
