//! The one table of client-facing errors: stable code, HTTP status, public message.
//!
//! Every error a client can see comes from [`ErrorCode`]. The message is fixed per code so
//! that nothing about the cause (SQL, parser text, file paths, library names) can reach a
//! response; details a client needs to fix its request travel as [`FieldError`]s, whose
//! messages are written by us, never copied from a library.

use serde::Serialize;

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident = ($code:literal, $status:literal, $message:literal), )*) => {
        /// A stable, documented error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every code, in table order (for documentation and tests).
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The code as sent in the envelope's `error` field.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            /// The HTTP status the code is sent with.
            pub fn status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)* }
            }

            /// The public, human-readable message.
            pub fn message(self) -> &'static str {
                match self { $(ErrorCode::$variant => $message,)* }
            }
        }
    };
}

error_codes! {
    /// The body, query or path failed its schema; `details` names each field.
    ValidationFailed = ("validation_failed", 400, "The request is invalid. See details."),
    /// The body is not well-formed JSON (or not UTF-8).
    InvalidJson = ("invalid_json", 400, "The request body is not valid JSON."),
    /// A request the server cannot process, refused by a layer that gives no more detail.
    BadRequest = ("bad_request", 400, "The request could not be processed."),
    /// The body nests deeper than the configured cap.
    JsonTooDeep = ("json_too_deep", 400, "The request body is nested too deeply."),
    /// An opaque pagination cursor was not one this server issued.
    InvalidCursor = ("invalid_cursor", 400, "The pagination cursor is invalid."),
    /// Email or password wrong, or no such account: deliberately indistinguishable.
    InvalidCredentials = ("invalid_credentials", 401, "Invalid email or password."),
    /// The route needs authentication and none was presented.
    Unauthorized = ("unauthorized", 401, "Authentication is required."),
    /// The token (access or refresh) is forged, malformed, revoked or not ours.
    InvalidToken = ("invalid_token", 401, "The token is invalid."),
    /// The access token has expired; refresh it.
    TokenExpired = ("token_expired", 401, "The token has expired."),
    /// Authenticated, but not allowed to do this.
    Forbidden = ("forbidden", 403, "You are not allowed to do this."),
    /// A cookie-authenticated request came from an origin that is not allowed.
    OriginNotAllowed = ("origin_not_allowed", 403, "The request origin is not allowed."),
    /// No such resource, or one the caller may not see: deliberately indistinguishable.
    NotFound = ("not_found", 404, "The requested resource was not found."),
    /// The route exists but not with this method.
    MethodNotAllowed = ("method_not_allowed", 405, "The method is not allowed for this resource."),
    /// The request took longer than the server allows.
    RequestTimeout = ("request_timeout", 408, "The request took too long."),
    /// Registration could not complete; deliberately generic (no account enumeration).
    RegistrationFailed = ("registration_failed", 409, "Registration could not be completed."),
    /// The record changed between reading and writing it; read it again and retry.
    Conflict = ("conflict", 409, "The resource was changed by another request."),
    /// `If-Match` named a version that is no longer current.
    PreconditionFailed = ("precondition_failed", 412, "The resource has changed since you read it."),
    /// The body is larger than the configured cap.
    PayloadTooLarge = ("payload_too_large", 413, "The request body is too large."),
    /// The body is not `application/json`.
    UnsupportedMediaType = ("unsupported_media_type", 415, "The request body must be application/json."),
    /// Too many requests for this key; see `Retry-After`.
    RateLimited = ("rate_limited", 429, "Too many requests. Retry later."),
    /// The account is temporarily locked after failed logins; see `Retry-After`.
    AccountLocked = ("account_locked", 429, "Too many failed attempts. Retry later."),
    /// An unexpected failure; the cause is in the server log under the request id.
    Internal = ("internal_error", 500, "Internal server error"),
    /// Password hashing is saturated; see `Retry-After`.
    Busy = ("busy", 503, "The server is busy. Retry shortly."),
    /// A store the server depends on is not answering.
    Unavailable = ("unavailable", 503, "The service is temporarily unavailable."),
}

impl ErrorCode {
    /// The code that a bare HTTP status (from a layer that only knows statuses) maps to.
    /// Unlisted 4xx statuses map to `bad_request`, unlisted 5xx to `internal_error`.
    pub fn for_status(status: u16) -> Self {
        match status {
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            408 => Self::RequestTimeout,
            412 => Self::PreconditionFailed,
            413 => Self::PayloadTooLarge,
            415 => Self::UnsupportedMediaType,
            429 => Self::RateLimited,
            503 => Self::Unavailable,
            400..=499 => Self::BadRequest,
            _ => Self::Internal,
        }
    }
}

/// One field's problem, in terms the client can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field's name as the client sent it (body key, query parameter or path segment).
    pub field: String,
    /// What is wrong, written by us.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An error on its way to a client: a code, optional field details, optional retry hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// Which row of the table.
    pub code: ErrorCode,
    /// Per-field details (for `validation_failed`).
    pub details: Vec<FieldError>,
    /// Seconds after which a retry may succeed (429, 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with no details.
    pub fn new(code: ErrorCode) -> Self {
        Self {
            code,
            details: Vec::new(),
            retry_after: None,
        }
    }

    /// A `validation_failed` error with details.
    pub fn validation(details: Vec<FieldError>) -> Self {
        Self {
            code: ErrorCode::ValidationFailed,
            details,
            retry_after: None,
        }
    }

    /// Adds a retry hint.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        Self::new(code)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code.as_str())
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_statuses_are_errors() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {}", code.as_str());
            assert!(
                code.as_str()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_')
            );
            assert!((400..600).contains(&code.status()));
        }
    }

    #[test]
    fn server_errors_are_generic() {
        for code in ErrorCode::ALL.iter().filter(|c| c.status() >= 500) {
            assert!(!code.message().to_lowercase().contains("sql"));
        }
        assert_eq!(ErrorCode::Internal.message(), "Internal server error");
    }
}
