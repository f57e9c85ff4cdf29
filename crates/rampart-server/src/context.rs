//! What the stages of one request tell the audit and log stages: the caller once
//! authenticated, and the events handlers and stages record. Handlers reach it through the
//! [`Audit`] extractor.

use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::FromRequestParts;
use http::request::Parts;
use rampart_core::audit::{Outcome, Target};
use rampart_core::domain::UserId;
use serde_json::Value;

use crate::error::AppError;

/// An event a stage described, before the actor and request id are known.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub(crate) action: &'static str,
    pub(crate) actor: Option<UserId>,
    pub(crate) target: Option<Target>,
    pub(crate) result: Outcome,
    pub(crate) metadata: Value,
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

    /// The caller and the recorded events (taken: recorded once).
    pub(crate) fn take(&self) -> (Option<UserId>, Vec<Pending>) {
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
