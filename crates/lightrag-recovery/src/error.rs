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
    /// The recovery catalog failed.
    #[error("recovery catalog: {0}")]
    Db(#[source] Box<lightrag_recovery_db::RecoveryDbError>),
    /// A repository operation failed.
    #[error("{action} failed{}: {source}", graph.as_deref().map(|g| format!(" for graph `{g}`")).unwrap_or_default())]
    Backup {
        /// What was being done (`backup`, `list snapshots`, `restore`, ...).
        action: &'static str,
        /// Graph concerned, when there is one.
        graph: Option<String>,
        /// The repository error.
        #[source]
        source: Box<lightrag_backup::BackupError>,
    },
    /// A graph has no snapshot to pin or restore.
    #[error(
        "graph `{0}` has no snapshot in the repository; take a backup first (or create the recovery point with a fresh backup)"
    )]
    NoSnapshot(String),
    /// A request is not acceptable as given.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// In-place restore refused because LightRAG seems to be writing the graph.
    #[error(
        "graph `{graph}` at {path:?} was modified less than {window_secs} s ago and looks live: stop LightRAG for this workspace (or pass force) before restoring in place"
    )]
    GraphLooksLive {
        /// Graph id.
        graph: String,
        /// Its directory.
        path: PathBuf,
        /// The liveness window.
        window_secs: u64,
    },
    /// A restore target directory for a new graph id already holds data.
    #[error(
        "target directory {path:?} for new graph `{graph}` is not empty; choose another graph id or restore in place"
    )]
    TargetNotEmpty {
        /// New graph id.
        graph: String,
        /// Its directory.
        path: PathBuf,
    },
    /// Restoring a recovery point failed; graphs already swapped were put back as they were.
    #[error("restore of recovery point `{point}` failed at graph `{graph}`: {source}; rolled back: [{}]{}", rolled_back.join(", "), if rollback_failed.is_empty() { String::new() } else { format!("; ROLLBACK FAILED for [{}] — put their previous state back by hand from where it is named", rollback_failed.join("; ")) })]
    RestoreFailed {
        /// Recovery point.
        point: String,
        /// Graph whose restore failed.
        graph: String,
        /// Graphs put back to their previous state (the failing graph is not listed: it is
        /// put back too, and listed in `rollback_failed` only if that fails).
        rolled_back: Vec<String>,
        /// Graphs that could not be put back, each with where its previous state is (the
        /// kept folder, and the safety snapshot when one was taken) and why.
        rollback_failed: Vec<String>,
        /// Why the graph failed.
        #[source]
        source: Box<RecoveryError>,
    },
}

impl RecoveryError {
    pub(crate) fn backup(
        action: &'static str,
        graph: Option<&str>,
        source: lightrag_backup::BackupError,
    ) -> Self {
        RecoveryError::Backup {
            action,
            graph: graph.map(str::to_owned),
            source: Box::new(source),
        }
    }

    /// `true` when the error means "no such thing" (maps to HTTP 404).
    pub fn is_not_found(&self) -> bool {
        match self {
            RecoveryError::GraphNotFound(_) | RecoveryError::NoSnapshot(_) => true,
            RecoveryError::Db(e) => {
                matches!(**e, lightrag_recovery_db::RecoveryDbError::NotFound { .. })
            }
            RecoveryError::Backup { source, .. } => {
                matches!(**source, lightrag_backup::BackupError::SnapshotNotFound(_))
            }
            _ => false,
        }
    }
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

impl From<lightrag_recovery_db::RecoveryDbError> for RecoveryError {
    fn from(e: lightrag_recovery_db::RecoveryDbError) -> Self {
        RecoveryError::Db(Box::new(e))
    }
}
