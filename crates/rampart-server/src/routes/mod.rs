//! Routes. Every handler takes its input through the extractors in `crate::extract`, so it
//! receives only parsed, authorized input.

use axum::Router;
use axum::routing::{delete, get, patch, post};
use rampart_store::UserRecord;
use serde_json::{Value, json};

pub use rampart_core::domain::rfc3339;

use crate::state::AppState;

pub mod admin;
pub mod audit;
pub mod auth;
pub mod collections;
pub mod health;
pub mod metrics;
pub mod users;

/// All routes (without the pipeline layers; see `crate::app::router`).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/.well-known/jwks.json", get(health::jwks))
        .route("/api/openapi.json", get(health::openapi))
        .route("/api/auth/register", post(auth::register))
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/refresh", post(auth::refresh))
        .route("/api/auth/logout", post(auth::logout))
        .route("/api/auth/sessions", get(auth::list_sessions))
        .route("/api/auth/sessions/{id}", delete(auth::revoke_session))
        .route("/api/users/me", get(users::me).patch(users::update_me))
        .route("/api/admin/users", get(admin::list_users))
        .route(
            "/api/admin/users/{id}",
            patch(admin::set_role).delete(admin::delete_user),
        )
        .route("/api/admin/users/{id}/unlock", post(admin::unlock))
        .route("/api/admin/audit", get(audit::list))
        .route("/api/admin/audit/verify", get(audit::verify))
        .route(
            "/api/collections/{name}/records",
            get(collections::list).post(collections::create),
        )
        .route(
            "/api/collections/{name}/records/{id}",
            get(collections::read)
                .patch(collections::update)
                .delete(collections::delete),
        )
}

/// A user as any response shows it: an allowlist of fields. No hash, no internal column.
pub fn user_json(user: &UserRecord) -> Value {
    json!({
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "created_at": rfc3339(user.created_at_ms),
    })
}
