//! `/api/admin/*`: admin-only. Every handler takes `AdminCaller`, which refuses anonymous
//! callers (401) and every role but admin (403, logged).

use axum::Json;
use axum::extract::{Path, State};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use http::StatusCode;
use rampart_core::audit::Outcome;
use rampart_core::domain::{Invalid, PageLimit, Role, UserId};
use rampart_core::error::{ApiError, ErrorCode, FieldError};
use rampart_core::lockout::AttemptKey;
use serde_json::{Value, json};

use super::user_json;
use crate::context::{Audit, user_target};
use crate::error::{AppError, AppResult};
use crate::extract::{AdminCaller, JsonObject, QueryParams};
use crate::state::{AppState, now_ms};

const CURSOR_PREFIX: &str = "u1:";

fn encode_cursor(last: UserId) -> String {
    B64.encode(format!("{CURSOR_PREFIX}{last}"))
}

fn decode_cursor(raw: &str) -> Result<UserId, AppError> {
    let invalid = || AppError::from(ErrorCode::InvalidCursor);
    if raw.len() > 128 {
        return Err(invalid());
    }
    let bytes = B64.decode(raw.as_bytes()).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let id = text.strip_prefix(CURSOR_PREFIX).ok_or_else(invalid)?;
    UserId::parse(id).map_err(|_| invalid())
}

fn path_id(raw: &str) -> Result<UserId, AppError> {
    UserId::parse(raw)
        .map_err(|Invalid(why)| ApiError::validation(vec![FieldError::new("id", why)]).into())
}

/// `GET /api/admin/users?limit=&cursor=`
pub async fn list_users(
    State(state): State<AppState>,
    AdminCaller(_admin): AdminCaller,
    query: QueryParams,
) -> AppResult<Json<Value>> {
    let [limit, cursor] = query.take(["limit", "cursor"])?;
    let limit = match limit {
        None => PageLimit::default(),
        Some(raw) => PageLimit::parse(&raw).map_err(|Invalid(why)| {
            AppError::from(ApiError::validation(vec![FieldError::new("limit", why)]))
        })?,
    };
    let after = cursor.as_deref().map(decode_cursor).transpose()?;
    let users = state.store.list_users(limit, after).await?;
    let next = (users.len() == limit.get() as usize)
        .then(|| users.last().map(|u| encode_cursor(u.id)))
        .flatten();
    Ok(Json(json!({
        "users": users.iter().map(user_json).collect::<Vec<_>>(),
        "next_cursor": next,
    })))
}

/// `PATCH /api/admin/users/{id}` with `{role}`.
pub async fn set_role(
    State(state): State<AppState>,
    audit: Audit,
    AdminCaller(admin): AdminCaller,
    Path(raw_id): Path<String>,
    body: JsonObject,
) -> AppResult<Json<Value>> {
    let id = path_id(&raw_id)?;
    let mut f = body.fields();
    let role = f.required("role", Role::parse);
    f.finish()?;
    let role = role.ok_or_else(|| AppError::internal("set_role: role missing after validation"))?;
    let user = state
        .store
        .set_role(id, role, now_ms())
        .await?
        .ok_or(ErrorCode::NotFound)?;
    state.sessions.forget_user(id);
    tracing::info!(admin_id = %admin.user_id, user_id = %id, role = role.as_str(), "role changed");
    audit.record(
        "admin.user.role_changed",
        user_target(id),
        Outcome::Success,
        json!({ "role": role.as_str() }),
    );
    Ok(Json(user_json(&user)))
}

/// `DELETE /api/admin/users/{id}`: deletes the user and so every session of theirs.
pub async fn delete_user(
    State(state): State<AppState>,
    audit: Audit,
    AdminCaller(admin): AdminCaller,
    Path(raw_id): Path<String>,
) -> AppResult<StatusCode> {
    let id = path_id(&raw_id)?;
    if !state.store.delete_user(id).await? {
        return Err(ErrorCode::NotFound.into());
    }
    state.sessions.forget_user(id);
    tracing::info!(admin_id = %admin.user_id, user_id = %id, "user deleted");
    audit.record(
        "admin.user.deleted",
        user_target(id),
        Outcome::Success,
        json!({}),
    );
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/admin/users/{id}/unlock`: clears the account's failed-login lock (all devices).
pub async fn unlock(
    State(state): State<AppState>,
    audit: Audit,
    AdminCaller(admin): AdminCaller,
    Path(raw_id): Path<String>,
) -> AppResult<StatusCode> {
    let id = path_id(&raw_id)?;
    let user = state
        .store
        .user_by_id(id)
        .await?
        .ok_or(ErrorCode::NotFound)?;
    if let Err(e) = state.lockout.unlock(&user.email).await {
        state.limits.store_error("lockout", &e);
        tracing::warn!(error = %e, "unlock: could not clear the failed-login lock");
        return Err(ApiError::new(ErrorCode::Unavailable).retry_after(5).into());
    }
    // Recorded as soon as the lock is gone, before anything else can be awaited.
    tracing::info!(admin_id = %admin.user_id, user_id = %id, "admin.user.unlocked");
    audit.record(
        "admin.user.unlocked",
        user_target(id),
        Outcome::Success,
        json!({}),
    );
    // The failures that locked the account also used up its per-account login budget; an
    // unlock that left that in place would keep the owner out for the same 15 minutes.
    let shared = AttemptKey::Account(user.email.as_str().to_owned());
    if let Err(e) = state
        .limits
        .store
        .clear("login-account", &super::auth::account_limit_key(&shared))
        .await
    {
        tracing::warn!(error = %e, "unlock: could not clear the per-account login limit");
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        let id = UserId::new();
        assert_eq!(decode_cursor(&encode_cursor(id)).unwrap(), id);
        for bad in [
            "",
            "!!",
            "dTE6",
            &B64.encode("u1:1 OR 1=1"),
            &B64.encode(id.to_text()),
        ] {
            assert!(decode_cursor(bad).is_err(), "{bad:?}");
        }
    }
}
