//! Turning failures into responses. Handlers return [`AppError`]; its response carries the
//! [`ApiError`] in an extension and no body, and the envelope layer
//! (`middleware::envelope`) renders every error body in one place, with the request id.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use rampart_core::error::{ApiError, ErrorCode};
use rampart_core::passwords::HashError;
use rampart_store::StoreError;

/// The cause of a 5xx, for the server log only. Never rendered.
#[derive(Debug, Clone)]
pub struct InternalCause(pub String);

/// A handler's failure.
#[derive(Debug)]
pub enum AppError {
    /// A client-facing error from the table.
    Api(ApiError),
    /// Something broke; the client gets a generic 500 and the log gets the cause.
    Internal(String),
    /// The database failed: the response is `error`, the log gets the cause (if any), and the
    /// failure is counted in the metrics.
    Store(ApiError, Option<String>),
}

/// Marks a response whose failure came from the database (the metrics count it).
#[derive(Debug, Clone, Copy)]
pub struct StoreFailure;

impl AppError {
    /// An internal error with its cause.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}

impl From<ApiError> for AppError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<ErrorCode> for AppError {
    fn from(code: ErrorCode) -> Self {
        Self::Api(ApiError::new(code))
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Database(sqlx_error)
                if matches!(
                    sqlx_error,
                    sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed
                ) =>
            {
                tracing::error!(error = %sqlx_error, "store unavailable");
                Self::Store(ApiError::new(ErrorCode::Unavailable).retry_after(5), None)
            }
            StoreError::Conflict => Self::Internal(e.to_string()),
            other => Self::Store(ApiError::new(ErrorCode::Internal), Some(other.to_string())),
        }
    }
}

impl From<HashError> for AppError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => Self::Api(ApiError::new(ErrorCode::Busy).retry_after(1)),
            HashError::Internal(cause) => Self::Internal(cause),
        }
    }
}

/// Builds the body-less response that the envelope layer will render.
pub fn error_response(error: ApiError) -> Response {
    let status = StatusCode::from_u16(error.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut res = status.into_response();
    res.extensions_mut().insert(error);
    res
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::Api(e) => error_response(e),
            AppError::Internal(cause) => {
                let mut res = error_response(ApiError::new(ErrorCode::Internal));
                res.extensions_mut().insert(InternalCause(cause));
                res
            }
            AppError::Store(e, cause) => {
                let mut res = error_response(e);
                if let Some(cause) = cause {
                    res.extensions_mut().insert(InternalCause(cause));
                }
                res.extensions_mut().insert(StoreFailure);
                res
            }
        }
    }
}

/// Result alias for handlers.
pub type AppResult<T> = Result<T, AppError>;
