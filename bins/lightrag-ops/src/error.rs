//! The one mapping from errors to HTTP responses: `{"error": {"code", "message"}}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// An error returned by a handler.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The request lacks credentials (401).
    #[error("{0}")]
    Unauthorized(String),
    /// The credentials are wrong (403).
    #[error("{0}")]
    Forbidden(String),
    /// Nothing at this path or with this id (404).
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// The request conflicts with the current state (409).
    #[error("{0}")]
    Conflict(String),
    /// The body is well-formed but wrong (422), e.g. a hash mismatch.
    #[error("{0}")]
    Unprocessable(String),
    /// The body is too large (413).
    #[error("{0}")]
    TooLarge(String),
    /// Too many operations are running (429).
    #[error("{0}")]
    TooMany(String),
    /// A dependency is not available (503).
    #[error("{0}")]
    Unavailable(String),
    /// Anything else (500). The source is logged, never sent to the client.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The body of every error response: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The error of an [`ErrorBody`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorDetail {
    /// Stable machine-readable code: `unauthorized`, `forbidden`, `not_found`, `bad_request`,
    /// `conflict`, `unprocessable`, `too_large`, `too_many_requests`, `unavailable`, `internal`.
    pub code: &'static str,
    /// Human-readable message (never the internal cause of a 500).
    pub message: String,
}

impl ApiError {
    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::BadRequest(_) => "bad_request",
            Self::Conflict(_) => "conflict",
            Self::Unprocessable(_) => "unprocessable",
            Self::TooLarge(_) => "too_large",
            Self::TooMany(_) => "too_many_requests",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            Self::Internal(e) => {
                tracing::error!(error = %format!("{e:#}"), "Internal error");
                "internal error; see the server log".to_owned()
            }
            other => other.to_string(),
        };
        HttpResponse::build(self.status_code()).json(ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message,
            },
        })
    }
}

impl From<lightrag_service::ServiceError> for ApiError {
    fn from(e: lightrag_service::ServiceError) -> Self {
        use lightrag_service::ErrorKind as K;
        let message = e.public_message();
        match e.kind() {
            K::NotFound => Self::NotFound(message),
            K::InvalidInput => Self::BadRequest(message),
            K::Conflict => Self::Conflict(message),
            K::Unprocessable => Self::Unprocessable(message),
            K::TooLarge => Self::TooLarge(message),
            K::Forbidden => Self::Forbidden(message),
            K::Unavailable => Self::Unavailable(message),
            K::Busy => Self::TooMany(message),
            _ => Self::Internal(e.into()),
        }
    }
}

/// Library errors reach HTTP through the service's one classification.
macro_rules! through_service {
    ($($t:ty),*) => {$(
        impl From<$t> for ApiError {
            fn from(e: $t) -> Self {
                lightrag_service::ServiceError::from(e).into()
            }
        }
    )*};
}

through_service!(
    lightrag_recovery_db::RecoveryDbError,
    lightrag_backup::BackupError,
    lightrag_recovery::RecoveryError,
    lightrag_replication::ReplicationError
);

/// Runs blocking work (file system, repository, synchronous DB calls) on the blocking pool.
pub(crate) async fn blocking<T, E, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    match actix_web::rt::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(Into::into),
        Err(e) => Err(ApiError::Internal(anyhow::anyhow!(
            "blocking task failed: {e}"
        ))),
    }
}
