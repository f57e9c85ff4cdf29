//! `/api/users/me`: the caller's own account.

use axum::Json;
use axum::extract::State;
use rampart_core::domain::DisplayName;
use rampart_core::error::ErrorCode;
use serde_json::Value;

use super::user_json;
use crate::context::Audit;
use crate::error::{AppError, AppResult};
use crate::extract::{Caller, JsonObject};
use crate::state::{AppState, now_ms};

/// `GET /api/users/me`
pub async fn me(State(state): State<AppState>, Caller(me): Caller) -> AppResult<Json<Value>> {
    let user = state
        .store
        .user_by_id(me.user_id)
        .await?
        .ok_or(ErrorCode::NotFound)?;
    Ok(Json(user_json(&user)))
}

/// `PATCH /api/users/me`: only `name` may change; any other field is refused.
pub async fn update_me(
    State(state): State<AppState>,
    audit: Audit,
    Caller(me): Caller,
    body: JsonObject,
) -> AppResult<Json<Value>> {
    let mut f = body.fields();
    let name = f.required("name", DisplayName::parse);
    f.finish()?;
    let name =
        name.ok_or_else(|| AppError::internal("update_me: name missing after validation"))?;
    let user = state
        .store
        .update_name(me.user_id, &name, now_ms())
        .await?
        .ok_or(ErrorCode::NotFound)?;
    tracing::info!(user_id = %me.user_id, fields = "name", "user updated");
    audit.record(
        "user.updated",
        crate::context::user_target(me.user_id),
        rampart_core::audit::Outcome::Success,
        serde_json::json!({ "fields": ["name"] }),
    );
    Ok(Json(user_json(&user)))
}
