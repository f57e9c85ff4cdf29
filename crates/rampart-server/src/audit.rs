//! Recording the audit trail and the per-request log line.
//!
//! Every request gets a [`RequestContext`] from the outer [`access_log`] stage. Handlers and
//! later stages record events into it through the [`Audit`] extractor (or
//! [`RequestContext::record`]); authentication notes the caller in it. The inner [`record`]
//! stage, after the handler answered and before the response leaves, appends the request's
//! events to the trail in **one** transaction, so the trail costs a request at most one store
//! write, and an answered request's events are durable ([`rampart_store::AuditStore`]). When
//! that write fails twice, the response becomes 503 `unavailable`: a change whose audit entry
//! is lost must not be reported as done (the change itself may have happened; the client
//! re-reads). Refusals that no handler described — every 401 and 403 (`access.denied`) and
//! every validation failure (`validation.failed`) — are recorded here from the error, with
//! the route template and the error code as the reason.
//!
//! [`access_log`] writes one structured line per request (method, route template, status,
//! latency, request id, user id, client IP) and counts it in the metrics.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use rampart_core::audit::{Actor, AuditKey, Event, Outcome, Target};
use rampart_core::domain::UserId;
use rampart_core::error::{ApiError, ErrorCode};
use rampart_store::{AuditStore, CheckpointEvery, StoreError};
use serde_json::{Value, json};

use crate::error::{AppError, StoreFailure};
use crate::extract::client_ip_of;
use crate::middleware::request_id::RequestId;
use crate::state::{AppState, now_ms};

/// The trail, the key that signs its checkpoints, and when to sign.
///
/// Appends go through one writer task that commits whatever requests are waiting as one
/// transaction (group commit): each request still waits for its own entries to be durable, but
/// a burst of audited requests costs one commit, not one each. So a flood of refused requests
/// cannot queue every legitimate write behind one fsync per refusal.
pub struct Auditor {
    store: AuditStore,
    key: Arc<AuditKey>,
    throttle: Throttle,
    queue: tokio::sync::mpsc::Sender<Batch>,
}

/// One request's events and who waits for them.
struct Batch {
    events: Vec<Event>,
    done: tokio::sync::oneshot::Sender<Result<usize, String>>,
}

/// Most events one commit takes.
const MAX_GROUP: usize = 1024;
/// Requests that may wait for the writer before more wait to enqueue (back-pressure).
const QUEUE: usize = 4096;

/// Why events could not be appended (the store's error as text, for the log only).
#[derive(Debug, thiserror::Error)]
#[error("the audit trail could not be written: {0}")]
pub struct AuditUnavailable(String);

impl Auditor {
    /// An auditor over `store`, signing with `key` every `every_entries` entries. Starts the
    /// writer task (needs a Tokio runtime); it ends when the auditor is dropped.
    pub fn new(store: AuditStore, key: AuditKey, every_entries: i64) -> Self {
        let key = Arc::new(key);
        let (queue, waiting) = tokio::sync::mpsc::channel(QUEUE);
        tokio::spawn(write_groups(
            store.clone(),
            Arc::clone(&key),
            CheckpointEvery {
                entries: every_entries.max(1),
            },
            waiting,
        ));
        Self {
            store,
            key,
            throttle: Throttle::default(),
            queue,
        }
    }

    /// The trail's store.
    pub fn store(&self) -> &AuditStore {
        &self.store
    }

    /// The audit key.
    pub fn key(&self) -> &AuditKey {
        &self.key
    }

    /// Appends `events`, in order and contiguous in the chain; returns once they are committed.
    pub async fn append(&self, events: Vec<Event>) -> Result<usize, AuditUnavailable> {
        let (done, committed) = tokio::sync::oneshot::channel();
        self.queue
            .send(Batch { events, done })
            .await
            .map_err(|_| AuditUnavailable("the writer has stopped".into()))?;
        committed
            .await
            .map_err(|_| AuditUnavailable("the writer has stopped".into()))?
            .map_err(AuditUnavailable)
    }

    /// Signs the head if it moved since the last checkpoint.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        if let Some(c) = self.store.checkpoint(&self.key, now_ms()).await? {
            tracing::info!(seq = c.seq, "audit checkpoint signed");
        }
        Ok(())
    }
}

/// The writer: takes every batch waiting (up to [`MAX_GROUP`] events), commits them in one
/// transaction, and answers each waiter.
async fn write_groups(
    store: AuditStore,
    key: Arc<AuditKey>,
    every: CheckpointEvery,
    mut waiting: tokio::sync::mpsc::Receiver<Batch>,
) {
    while let Some(first) = waiting.recv().await {
        let mut group = vec![first];
        let mut size = group[0].events.len();
        while size < MAX_GROUP {
            match waiting.try_recv() {
                Ok(batch) => {
                    size += batch.events.len();
                    group.push(batch);
                }
                Err(_) => break,
            }
        }
        let mut events = Vec::with_capacity(size);
        let mut answers = Vec::with_capacity(group.len());
        for batch in group {
            answers.push((batch.events.len(), batch.done));
            events.extend(batch.events);
        }
        let result = store.append(&events, now_ms(), &key, every).await;
        for (n, done) in answers {
            // A waiter that gave up (its request was cancelled) needs no answer.
            let _ = done.send(match &result {
                Ok(_) => Ok(n),
                Err(e) => Err(e.to_string()),
            });
        }
    }
}

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

/// Rate-limit refusals are recorded at most once per client and policy per this window, with
/// the number of refusals it stands for: a flood of refused requests must not become a flood
/// of durable writes (the metrics still count every one).
const THROTTLE_WINDOW_MS: i64 = 10_000;
/// Most clients the throttle remembers; beyond that it starts over (recording more, not less).
const THROTTLE_MAX_KEYS: usize = 100_000;

#[derive(Default)]
struct Throttle(Mutex<HashMap<String, (i64, u64)>>);

impl Throttle {
    /// `Some(n)`: record now, standing for `n` refusals; `None`: only counted.
    fn admit(&self, key: String, now: i64) -> Option<u64> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= THROTTLE_MAX_KEYS {
            map.clear();
        }
        let slot = map.entry(key).or_insert((i64::MIN, 0));
        slot.1 += 1;
        if now.saturating_sub(slot.0) >= THROTTLE_WINDOW_MS {
            let n = slot.1;
            *slot = (now, 0);
            Some(n)
        } else {
            None
        }
    }
}

/// An event a stage described, before the actor and request id are known.
#[derive(Debug, Clone)]
struct Pending {
    action: &'static str,
    actor: Option<UserId>,
    target: Option<Target>,
    result: Outcome,
    metadata: Value,
}

#[derive(Default)]
struct ContextInner {
    user: Option<UserId>,
    events: Vec<Pending>,
}

/// What the stages of one request tell the audit and log stages. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct RequestContext(Arc<Mutex<ContextInner>>);

impl RequestContext {
    fn lock(&self) -> std::sync::MutexGuard<'_, ContextInner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes the authenticated caller.
    pub fn set_user(&self, user: UserId) {
        self.lock().user = Some(user);
    }

    /// The authenticated caller, if any.
    pub fn user(&self) -> Option<UserId> {
        self.lock().user
    }

    /// Records an event by the request's caller.
    pub fn record(
        &self,
        action: &'static str,
        target: Option<Target>,
        result: Outcome,
        metadata: Value,
    ) {
        self.push(None, action, target, result, metadata);
    }

    /// Records an event whose actor is `actor` although the request was not authenticated as
    /// them (a login: the user who just proved their password).
    pub fn record_as(
        &self,
        actor: UserId,
        action: &'static str,
        target: Option<Target>,
        result: Outcome,
        metadata: Value,
    ) {
        self.push(Some(actor), action, target, result, metadata);
    }

    fn push(
        &self,
        actor: Option<UserId>,
        action: &'static str,
        target: Option<Target>,
        result: Outcome,
        metadata: Value,
    ) {
        self.lock().events.push(Pending {
            action,
            actor,
            target,
            result,
            metadata,
        });
    }

    fn take(&self) -> (Option<UserId>, Vec<Pending>) {
        let mut inner = self.lock();
        (inner.user, std::mem::take(&mut inner.events))
    }
}

/// The request's [`RequestContext`], for handlers.
#[derive(Clone)]
pub struct Audit(pub RequestContext);

impl std::ops::Deref for Audit {
    type Target = RequestContext;
    fn deref(&self) -> &RequestContext {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Audit {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        // The access-log stage always inserts one; a router without it records nothing
        // rather than failing the request.
        Ok(Self(
            parts
                .extensions
                .get::<RequestContext>()
                .cloned()
                .unwrap_or_default(),
        ))
    }
}

/// A user as a target.
pub fn user_target(id: UserId) -> Option<Target> {
    Some(Target {
        kind: "user".into(),
        id: id.to_string(),
    })
}

/// A session as a target.
pub fn session_target(id: impl std::fmt::Display) -> Option<Target> {
    Some(Target {
        kind: "session".into(),
        id: id.to_string(),
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
    let actor_ip =
        client_ip_of(&state, &req).map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let user_agent = crate::extract::user_agent(req.headers());
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    let res = next.run(req).await;

    if res.extensions().get::<StoreFailure>().is_some() {
        state.metrics.store_error("database");
    }
    let (user, mut pending) = context.take();
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
    if pending.is_empty() {
        return res;
    }
    let events: Vec<Event> = pending
        .into_iter()
        .filter_map(|p| {
            if p.action == "ratelimit.blocked" {
                let key = format!("{actor_ip}|{}", p.metadata["policy"]);
                let n = state.audit.throttle.admit(key, now_ms())?;
                let mut p = p;
                p.metadata["refusals"] = json!(n);
                return Some(p);
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
                    ip: actor_ip.clone(),
                    user_agent: user_agent.clone(),
                },
                p.target,
                p.result,
                request_id.clone(),
                p.metadata,
            )
        })
        .collect();
    if events.is_empty() {
        return res;
    }
    let mut outcome = state.audit.append(events.clone()).await;
    if outcome.is_err() {
        outcome = state.audit.append(events.clone()).await;
    }
    match outcome {
        Ok(n) => {
            state.metrics.audit_appended(n as u64);
            res
        }
        Err(e) => {
            state.metrics.store_error("audit");
            // The entries are not lost silently: they go to the log (redacted there too).
            for event in &events {
                tracing::error!(
                    target: "rampart::audit",
                    action = event.action,
                    result = event.result.as_str(),
                    metadata = event.metadata(),
                    request_id = event.request_id.as_deref().unwrap_or_default(),
                    error = %e,
                    "audit entry could not be stored; answering 503"
                );
            }
            AppError::from(ApiError::new(ErrorCode::Unavailable).retry_after(5)).into_response()
        }
    }
}

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
            let fields: Vec<&str> = error
                .map(|e| e.details.iter().map(|d| d.field.as_str()).collect())
                .unwrap_or_default();
            Some(Pending {
                action: "validation.failed",
                actor: None,
                target,
                result: Outcome::Failure,
                metadata: json!({ "method": method.as_str(), "path": path, "fields": fields }),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_throttle_records_one_refusal_per_window_with_its_count() {
        let t = Throttle::default();
        assert_eq!(t.admit("a".into(), 0), Some(1));
        assert_eq!(t.admit("a".into(), 1), None);
        assert_eq!(t.admit("a".into(), 2), None);
        assert_eq!(t.admit("b".into(), 2), Some(1));
        assert_eq!(t.admit("a".into(), THROTTLE_WINDOW_MS), Some(3));
        assert_eq!(t.admit("a".into(), THROTTLE_WINDOW_MS + 1), None);
    }
}
