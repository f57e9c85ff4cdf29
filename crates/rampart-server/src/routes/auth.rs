//! `/api/auth/*`: registration, login, refresh, logout and the caller's sessions.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::header::{COOKIE, HOST, ORIGIN, SET_COOKIE};
use http::{HeaderMap, HeaderValue, StatusCode};
use rampart_core::audit::Outcome;
use rampart_core::domain::{
    DisplayName, Email, Invalid, LoginPassword, NewPassword, Role, SessionId, UserId,
};
use rampart_core::error::{ApiError, ErrorCode, FieldError};
use rampart_core::lockout::{AttemptKey, DeviceCookie, Failure};
use rampart_core::origin::is_same_origin;
use rampart_core::ratelimit::Decision;
use rampart_core::token::RefreshToken;
use rampart_store::{NewSession, RefreshRules, RotateOutcome, UserRecord};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{rfc3339, user_json};
use crate::context::{Audit, session_target, user_target};
use crate::error::{AppError, AppResult};
use crate::extract::{Caller, ClientMeta, JsonObject};
use crate::middleware::authenticate::Principal;
use crate::state::{AppState, now_ms, now_secs};

/// The refresh cookie's name.
pub const REFRESH_COOKIE: &str = "rampart_refresh";
/// The only path the refresh cookie is sent to.
const COOKIE_PATH: &str = "/api/auth";

fn refresh_cookie(token: &RefreshToken, max_age_secs: u64) -> HeaderValue {
    let cookie = format!(
        "{REFRESH_COOKIE}={}; HttpOnly; Secure; SameSite=Strict; Path={COOKIE_PATH}; Max-Age={max_age_secs}",
        token.expose()
    );
    // Base64url and fixed attributes: always a valid header value.
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| clear_cookie())
}

fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "rampart_refresh=; HttpOnly; Secure; SameSite=Strict; Path=/api/auth; Max-Age=0",
    )
}

/// The value of cookie `name`, if sent. More than one cookie of that name (cookie tossing from
/// a sibling domain) is refused rather than guessed at.
fn cookie(headers: &HeaderMap, name: &str) -> Result<Option<String>, ()> {
    let mut found = None;
    for header in headers.get_all(COOKIE) {
        let Ok(text) = header.to_str() else { continue };
        for pair in text.split(';') {
            let Some((key, value)) = pair.trim().split_once('=') else {
                continue;
            };
            if key == name {
                if found.is_some() {
                    return Err(());
                }
                found = Some(value.to_owned());
            }
        }
    }
    Ok(found)
}

/// The refresh token from the request's cookies: absent, or refused if malformed or doubled.
fn presented_refresh(headers: &HeaderMap) -> Result<Option<RefreshToken>, ()> {
    match cookie(headers, REFRESH_COOKIE)? {
        None => Ok(None),
        Some(raw) => RefreshToken::parse(&raw).map(Some).ok_or(()),
    }
}

fn device_cookie(value: &str) -> HeaderValue {
    let cookie = format!(
        "{}={value}; HttpOnly; Secure; SameSite=Strict; Path={COOKIE_PATH}; Max-Age={}",
        DeviceCookie::NAME,
        365 * 24 * 3600
    );
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| clear_cookie())
}

/// Cookie-authenticated requests must come from the server's own origin or an allowed one.
/// (A request with no `Origin` is not from a cross-site page: browsers send `Origin` on every
/// cross-origin POST; `SameSite=Strict` covers the rest.)
fn check_origin(state: &AppState, headers: &HeaderMap) -> AppResult<()> {
    let Some(origin) = headers.get(ORIGIN) else {
        return Ok(());
    };
    let host = headers
        .get(HOST)
        .map(HeaderValue::as_bytes)
        .unwrap_or_default();
    if state.settings.cors.allows(origin.as_bytes()) || is_same_origin(origin.as_bytes(), host) {
        Ok(())
    } else {
        tracing::warn!("cookie request refused: origin not allowed");
        Err(ErrorCode::OriginNotAllowed.into())
    }
}

fn unauthorized_clearing_cookie(code: ErrorCode) -> Response {
    let mut res = AppError::from(code).into_response();
    res.headers_mut().insert(SET_COOKIE, clear_cookie());
    res
}

/// `POST /api/auth/register`
pub async fn register(
    State(state): State<AppState>,
    audit: Audit,
    body: JsonObject,
) -> AppResult<Response> {
    let mut f = body.fields();
    let email = f.required("email", Email::parse);
    let password = f.required("password", |s| Ok(SecretString::from(s.to_owned())));
    let name = f.required("name", DisplayName::parse);
    let password =
        password.and_then(
            |raw| match NewPassword::parse(raw.expose_secret(), email.as_ref()) {
                Ok(p) => Some(p),
                Err(Invalid(why)) => {
                    f.reject("password", why);
                    None
                }
            },
        );
    f.finish()?;
    let (Some(email), Some(password), Some(name)) = (email, password, name) else {
        return Err(AppError::internal(
            "register: fields missing after validation",
        ));
    };
    // Hash before looking at the email: a duplicate costs the same as a new account.
    let password_hash = state.hasher.hash(&password).await?;
    let user = UserRecord {
        id: UserId::new(),
        email,
        name,
        role: Role::User,
        password_hash,
        created_at_ms: now_ms(),
    };
    match state.store.insert_user(&user).await {
        Ok(()) => {}
        Err(rampart_store::StoreError::Conflict) => {
            tracing::info!("registration refused: email already registered");
            audit.record(
                "auth.register",
                None,
                Outcome::Failure,
                json!({ "reason": "email_taken" }),
            );
            return Err(ErrorCode::RegistrationFailed.into());
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(user_id = %user.id, "user registered");
    audit.record_as(
        user.id,
        "auth.register",
        user_target(user.id),
        Outcome::Success,
        json!({}),
    );
    Ok((StatusCode::CREATED, Json(user_json(&user))).into_response())
}

/// The per-account counters a login attempt uses: the account's shared one, or the device's
/// own when the request carries a genuine device cookie for this account.
pub(crate) fn account_limit_key(key: &AttemptKey) -> String {
    match key {
        AttemptKey::Account(account) => format!("acct:{account}"),
        AttemptKey::Device { account, device } => format!("dev:{account}:{device}"),
    }
}

/// `POST /api/auth/login`
///
/// Before any password work: the account's lockout (429 `account_locked`) and its own rate
/// limit (429 `rate_limited`), both keyed by the presented email — known or not, so the
/// answers cannot tell them apart — or by the device cookie. Unknown emails then verify a dummy
/// hash, so timing does not tell them apart either.
pub async fn login(
    State(state): State<AppState>,
    audit: Audit,
    client: ClientMeta,
    headers: HeaderMap,
    body: JsonObject,
) -> AppResult<Response> {
    let mut f = body.fields();
    let email = f.required("email", Email::parse);
    let password = f.required("password", LoginPassword::parse);
    f.finish()?;
    let (Some(email), Some(password)) = (email, password) else {
        return Err(AppError::internal("login: fields missing after validation"));
    };
    let device_key = state.tokens.device_cookie_key();
    let presented_device = cookie(&headers, DeviceCookie::NAME).ok().flatten();
    let attempt = DeviceCookie::attempt_key(&device_key, &email, presented_device.as_deref());
    // Fails closed like the login policy: a lock that cannot be checked admits no attempt.
    let locked = state.lockout.locked_for(&attempt).await.map_err(|e| {
        state.limits.store_error("lockout", &e);
        ApiError::new(ErrorCode::Unavailable).retry_after(5)
    })?;
    if let Some(ms) = locked {
        audit.record(
            "auth.login.failed",
            None,
            Outcome::Denied,
            json!({ "reason": "account_locked", "device": matches!(attempt, AttemptKey::Device { .. }) }),
        );
        return Err(ApiError::new(ErrorCode::AccountLocked)
            .retry_after(ms.div_ceil(1000))
            .into());
    }
    if let Some(limit) = state.settings.login_account_limit {
        // Fails closed like the login policy: when the shared store is down, no login is
        // attempted (503 `unavailable`; the failure is logged and counted by `decide`).
        let decision = state
            .limits
            .decide("login-account", &account_limit_key(&attempt), limit)
            .await
            .map(|(decision, _)| decision)
            .map_err(|_| ApiError::new(ErrorCode::Unavailable).retry_after(5))?;
        if let Decision::Deny { retry_after_ms } = decision {
            tracing::info!(ip = %client.ip, "login refused: per-account rate limit");
            audit.record(
                "auth.login.failed",
                None,
                Outcome::Denied,
                json!({ "reason": "rate_limited", "policy": "login-account" }),
            );
            return Err(ApiError::new(ErrorCode::RateLimited)
                .retry_after(retry_after_ms.div_ceil(1000))
                .into());
        }
    }
    let user = state.store.user_by_email(&email).await?;
    // Unknown email: the dummy hash is verified instead, so both paths do the same work.
    let matched = state
        .hasher
        .verify(&password, user.as_ref().map(|u| &u.password_hash))
        .await?;
    let user = match (user, matched) {
        (Some(user), true) => user,
        (user, _) => {
            tracing::info!(
                user_id = user.as_ref().map(|u| u.id.to_text()).unwrap_or_default(),
                ip = %client.ip,
                "login failed"
            );
            let failure = state.lockout.fail(&attempt).await.unwrap_or_else(|e| {
                state.limits.store_error("lockout", &e);
                Failure::Counted
            });
            let target = user.as_ref().and_then(|u| user_target(u.id));
            let known = user.is_some();
            audit.record(
                "auth.login.failed",
                target.clone(),
                Outcome::Failure,
                json!({ "reason": "invalid_credentials", "known_account": known }),
            );
            if let Failure::Locked(ms) = failure {
                tracing::warn!(
                    user_id = user.as_ref().map(|u| u.id.to_text()).unwrap_or_default(),
                    ip = %client.ip,
                    device = matches!(attempt, AttemptKey::Device { .. }),
                    minutes = ms / 60_000,
                    "auth.lockout: too many failed logins; account locked"
                );
                audit.record(
                    "auth.lockout",
                    target,
                    Outcome::Denied,
                    json!({
                        "device": matches!(attempt, AttemptKey::Device { .. }),
                        "locked_secs": ms.div_ceil(1000),
                        "known_account": known,
                    }),
                );
            }
            return Err(ErrorCode::InvalidCredentials.into());
        }
    };
    if let Err(e) = state.lockout.succeed(&attempt).await {
        state.limits.store_error("lockout", &e);
    }
    let now = now_ms();
    let refresh = RefreshToken::generate();
    let session_id = SessionId::new();
    let refresh_ttl = state.settings.refresh_ttl;
    state
        .store
        .create_session(&NewSession {
            id: session_id,
            user_id: user.id,
            now_ms: now,
            expires_at_ms: now
                .saturating_add(i64::try_from(refresh_ttl.as_millis()).unwrap_or(i64::MAX)),
            ip: client.ip.clone(),
            user_agent: client.user_agent,
            refresh_hash: refresh.hash(),
        })
        .await?;
    tracing::info!(user_id = %user.id, session_id = %session_id, ip = %client.ip, "login succeeded");
    audit.record_as(
        user.id,
        "auth.login.succeeded",
        session_target(session_id),
        Outcome::Success,
        json!({ "known_device": matches!(attempt, AttemptKey::Device { .. }) }),
    );
    let mut res = token_response(&state, user.id, session_id, user.role, &refresh)?;
    // A device that just proved the password gets (or keeps) its own lockout counter.
    if !matches!(attempt, AttemptKey::Device { .. }) {
        res.headers_mut().append(
            SET_COOKIE,
            device_cookie(&DeviceCookie::issue(&device_key, &email)),
        );
    }
    Ok(res)
}

fn token_response(
    state: &AppState,
    user: UserId,
    session: SessionId,
    role: Role,
    refresh: &RefreshToken,
) -> AppResult<Response> {
    let (access, expires_in) = state
        .tokens
        .issue(user, session, role, now_secs())
        .map_err(AppError::internal)?;
    let mut res = Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": expires_in,
    }))
    .into_response();
    res.headers_mut().insert(
        SET_COOKIE,
        refresh_cookie(refresh, state.settings.refresh_ttl.as_secs()),
    );
    Ok(res)
}

/// `POST /api/auth/refresh`
pub async fn refresh(
    State(state): State<AppState>,
    audit: Audit,
    headers: HeaderMap,
) -> AppResult<Response> {
    check_origin(&state, &headers)?;
    let presented = match presented_refresh(&headers) {
        Ok(Some(token)) => token,
        Ok(None) | Err(()) => return Ok(unauthorized_clearing_cookie(ErrorCode::InvalidToken)),
    };
    let successor = state.tokens.refresh_successor(&presented);
    let settings = &state.settings;
    let rules = RefreshRules {
        now_ms: now_ms(),
        idle_ms: i64::try_from(settings.refresh_idle.as_millis()).unwrap_or(i64::MAX),
        grace_ms: i64::try_from(settings.refresh_grace.as_millis()).unwrap_or(i64::MAX),
    };
    let outcome = state
        .store
        .present_refresh(&presented.hash(), &successor.hash(), rules)
        .await?;
    match outcome {
        RotateOutcome::Rotated {
            session_id,
            user_id,
            role,
        }
        | RotateOutcome::GraceReplay {
            session_id,
            user_id,
            role,
        } => {
            if matches!(outcome, RotateOutcome::GraceReplay { .. }) {
                tracing::info!(%session_id, "refresh replayed inside the grace window");
            }
            tracing::info!(%user_id, %session_id, "token refreshed");
            audit.record_as(
                user_id,
                "auth.refresh",
                session_target(session_id),
                Outcome::Success,
                json!({ "grace_replay": matches!(outcome, RotateOutcome::GraceReplay { .. }) }),
            );
            token_response(&state, user_id, session_id, role, &successor)
        }
        RotateOutcome::ReuseDetected {
            session_id,
            user_id,
        } => {
            state.sessions.revoked(session_id);
            tracing::warn!(%user_id, %session_id, "refresh token reuse detected: session revoked");
            audit.record_as(
                user_id,
                "auth.refresh.reuse_detected",
                session_target(session_id),
                Outcome::Denied,
                json!({ "session_revoked": true }),
            );
            Ok(unauthorized_clearing_cookie(ErrorCode::InvalidToken))
        }
        RotateOutcome::Invalid => Ok(unauthorized_clearing_cookie(ErrorCode::InvalidToken)),
    }
}

/// `POST /api/auth/logout`: revokes the session of the bearer token, or else of the refresh
/// cookie, and clears the cookie.
pub async fn logout(
    State(state): State<AppState>,
    audit: Audit,
    principal: Option<axum::Extension<Principal>>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let target = match principal {
        Some(axum::Extension(p)) => Some((p.user_id, p.session_id)),
        None => {
            check_origin(&state, &headers)?;
            match presented_refresh(&headers) {
                Ok(Some(token)) => state
                    .store
                    .session_of_refresh(&token.hash())
                    .await?
                    .map(|(sid, uid)| (uid, sid)),
                Ok(None) => return Err(ErrorCode::Unauthorized.into()),
                Err(()) => None,
            }
        }
    };
    if let Some((user_id, session_id)) = target {
        state
            .store
            .revoke_session(user_id, session_id, "logout", now_ms())
            .await?;
        state.sessions.revoked(session_id);
        tracing::info!(%user_id, %session_id, "logged out");
        audit.record_as(
            user_id,
            "auth.logout",
            session_target(session_id),
            Outcome::Success,
            json!({}),
        );
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut().insert(SET_COOKIE, clear_cookie());
    Ok(res)
}

/// `GET /api/auth/sessions`
pub async fn list_sessions(
    State(state): State<AppState>,
    Caller(me): Caller,
) -> AppResult<Json<serde_json::Value>> {
    let idle = i64::try_from(state.settings.refresh_idle.as_millis()).unwrap_or(i64::MAX);
    let sessions = state
        .store
        .list_sessions(me.user_id, now_ms(), idle)
        .await?;
    let items: Vec<_> = sessions
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "created_at": rfc3339(s.created_at_ms),
                "last_used_at": rfc3339(s.last_used_at_ms),
                "ip": s.ip,
                "user_agent": s.user_agent,
                "current": s.id == me.session_id,
            })
        })
        .collect();
    Ok(Json(json!({ "sessions": items })))
}

/// `DELETE /api/auth/sessions/{id}`: another user's session id is 404, like a missing one.
pub async fn revoke_session(
    State(state): State<AppState>,
    audit: Audit,
    Caller(me): Caller,
    Path(raw_id): Path<String>,
) -> AppResult<StatusCode> {
    let id = SessionId::parse(&raw_id)
        .map_err(|Invalid(why)| ApiError::validation(vec![FieldError::new("id", why)]))?;
    let revoked = state
        .store
        .revoke_session(me.user_id, id, "revoked_by_user", now_ms())
        .await?;
    if !revoked {
        return Err(ErrorCode::NotFound.into());
    }
    state.sessions.revoked(id);
    tracing::info!(user_id = %me.user_id, session_id = %id, "session revoked by its owner");
    audit.record(
        "auth.session.revoked",
        session_target(id),
        Outcome::Success,
        json!({ "by": "owner" }),
    );
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_parsing() {
        let token = RefreshToken::generate();
        let mut h = HeaderMap::new();
        assert_eq!(presented_refresh(&h), Ok(None));
        h.insert(
            COOKIE,
            HeaderValue::from_str(&format!("a=b; rampart_refresh={}", token.expose())).unwrap(),
        );
        assert_eq!(presented_refresh(&h), Ok(Some(token.clone())));
        h.append(
            COOKIE,
            HeaderValue::from_str(&format!("rampart_refresh={}", token.expose())).unwrap(),
        );
        assert_eq!(
            presented_refresh(&h),
            Err(()),
            "two refresh cookies are refused"
        );
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_static("rampart_refresh=garbage"));
        assert_eq!(presented_refresh(&h), Err(()));
    }
}
