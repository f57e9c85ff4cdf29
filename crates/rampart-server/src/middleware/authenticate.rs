//! Authentication: turns `Authorization: Bearer <access token>` into a [`Principal`] in the
//! request's extensions, or refuses the request.
//!
//! No header: the request goes on anonymous (routes that need a caller refuse it later with
//! 401 `unauthorized`). A header that is not exactly one `Bearer` token, a token that fails
//! verification (see `rampart_core::token`), or a token whose session is revoked, expired or
//! belongs to someone else: 401 `invalid_token` (or `token_expired`) here, before any
//! handler runs. Tokens are never read from query strings or cookies.
//!
//! The principal's role is the user's *current* role from the session cache, not the claim
//! in the token, so a demotion takes effect without waiting for the token to expire.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue};
use rampart_core::domain::{Role, SessionId, UserId};
use rampart_core::error::{ApiError, ErrorCode};
use rampart_core::token::TokenError;

use crate::error::{AppError, error_response};
use crate::state::{AppState, now_ms, now_secs};

/// An authenticated caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    /// The user.
    pub user_id: UserId,
    /// The session the token belongs to.
    pub session_id: SessionId,
    /// The user's current role.
    pub role: Role,
}

/// The bearer token, if an `Authorization` header is present. `Err` when the header is
/// present but is not exactly one well-formed `Bearer` credential.
fn bearer(headers: &HeaderMap) -> Option<Result<&str, ()>> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return Some(Err(()));
    }
    let Ok(text) = first.to_str() else {
        return Some(Err(()));
    };
    let Some((scheme, token)) = text.split_once(' ') else {
        return Some(Err(()));
    };
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Some(Err(()));
    }
    Some(Ok(token))
}

fn refuse(code: ErrorCode) -> Response {
    let mut res = error_response(ApiError::new(code));
    let challenge = match code {
        ErrorCode::TokenExpired => {
            "Bearer error=\"invalid_token\", error_description=\"The token has expired\""
        }
        _ => "Bearer error=\"invalid_token\"",
    };
    res.headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    res
}

/// The authentication stage.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let token = match bearer(req.headers()) {
        None => return next.run(req).await,
        Some(Err(())) => return refuse(ErrorCode::InvalidToken),
        Some(Ok(token)) => token,
    };
    let verified = match state.tokens.verify(token, now_secs()) {
        Ok(v) => v,
        Err(TokenError::Expired) => return refuse(ErrorCode::TokenExpired),
        Err(TokenError::Invalid) => return refuse(ErrorCode::InvalidToken),
    };
    let session = match state
        .sessions
        .state(&state.store, verified.session_id, now_ms())
        .await
    {
        Ok(s) => s,
        Err(e) => return axum::response::IntoResponse::into_response(AppError::from(e)),
    };
    match session {
        Some(s) if s.live && s.user_id == verified.user_id => {
            if let Some(context) = req.extensions().get::<crate::context::RequestContext>() {
                context.set_user(verified.user_id);
            }
            req.extensions_mut().insert(Principal {
                user_id: verified.user_id,
                session_id: verified.session_id,
                role: s.role,
            });
            next.run(req).await
        }
        _ => refuse(ErrorCode::InvalidToken),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer(&headers(&[])), None);
        assert_eq!(bearer(&headers(&["Bearer abc"])), Some(Ok("abc")));
        assert_eq!(bearer(&headers(&["bearer abc"])), Some(Ok("abc")));
        for bad in ["Basic abc", "Bearer", "Bearer ", "Bearer a b", "abc"] {
            assert_eq!(bearer(&headers(&[bad])), Some(Err(())), "{bad:?}");
        }
        assert_eq!(bearer(&headers(&["Bearer a", "Bearer b"])), Some(Err(())));
    }
}
