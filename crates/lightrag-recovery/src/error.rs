//! The one error type of this crate.
//!
//! Rules: every variant that wraps a lower-level failure keeps it as `#[source]`; messages say
//! what went wrong *and* what the operator can do about it; no string-only wrapping of errors.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = RecoveryError> = std::result::Result<T, E>;

/// Everything that can go wrong in recovery, restore, validation and health checks.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecoveryError {
    /// A graph id does not match `[A-Za-z0-9][A-Za-z0-9_.-]{0,127}`.
    #[error(
        "invalid graph id {0:?}: use 1-128 characters from [A-Za-z0-9_.-], starting with a letter or digit"
    )]
    InvalidGraphId(String),
    /// A client-supplied relative path tries to leave its root.
    #[error(
        "path {path:?} is not allowed: {reason}; give a plain relative path under the configured working directory"
    )]
    PathNotAllowed {
        /// The offending path as given.
        path: PathBuf,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// No graph with this id exists under any configured root.
    #[error(
        "graph {0:?} not found under the configured working directories; run discovery or register it first"
    )]
    GraphNotFound(String),
    /// A filesystem operation failed.
    #[error(
        "{action} {path:?} failed: {source}; check that the path exists and lightrag-ops may read/write it"
    )]
    Io {
        /// What was being done ("read directory", "rename", ...).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl RecoveryError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        RecoveryError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
