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
        "{action} {path:?} failed; check that the path exists and lightrag-ops may read/write it"
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
    #[error(transparent)]
    Db(Box<lightrag_recovery_db::RecoveryDbError>),
    /// A repository operation failed.
    #[error("{action} failed{}", graph.as_deref().map(|g| format!(" for graph `{g}`")).unwrap_or_default())]
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
    #[error("restore of recovery point `{point}` failed at graph `{graph}`; rolled back: [{}]{}", rolled_back.join(", "), if rollback_failed.is_empty() { String::new() } else { format!("; ROLLBACK FAILED for [{}] — put their previous state back by hand from where it is named", rollback_failed.join("; ")) })]
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

#[cfg(test)]
mod tests {
    use super::*;
    use lightrag_backup::{BackupError, RemoteProblem};
    use lightrag_recovery_db::RecoveryDbError;

    /// Every cause's message appears exactly once in the `{:#}` chain of `err` (as the binary
    /// prints it through anyhow) and in [`lightrag_config::error_chain`].
    fn assert_each_cause_once(err: RecoveryError) {
        let mut causes = Vec::new();
        let mut next = std::error::Error::source(&err);
        while let Some(c) = next {
            causes.push(c.to_string());
            next = c.source();
        }
        let chained = lightrag_config::error_chain(&err);
        let full = format!("{:#}", anyhow::Error::from(err));
        assert_eq!(full, chained);
        for cause in causes.iter().filter(|c| !c.is_empty()) {
            assert_eq!(
                full.matches(cause.as_str()).count(),
                1,
                "{cause:?} in {full}"
            );
        }
    }

    fn io(msg: &str) -> std::io::Error {
        std::io::Error::other(msg.to_owned())
    }

    #[test]
    fn nested_errors_name_each_cause_once() {
        let backup_errors = || {
            vec![
                BackupError::Storage {
                    op: "put",
                    key: "data/ab".into(),
                    source: io("disk full (storage)"),
                },
                BackupError::Remote {
                    op: "get",
                    key: "config".into(),
                    location: "s3://bucket".into(),
                    problem: RemoteProblem::Timeout,
                    source: "operation timed out (remote)".into(),
                },
                BackupError::Io {
                    action: "read",
                    path: "/g/graph.json".into(),
                    source: io("permission denied (io)"),
                },
                BackupError::Metadata {
                    key: "snapshots/1".into(),
                    source: serde_json::from_str::<u8>("x").unwrap_err(),
                },
            ]
        };
        let db_errors = || {
            vec![
                RecoveryDbError::Unavailable {
                    target: "postgres 127.0.0.1:5432/x".into(),
                    source: "connection refused (db)".into(),
                },
                RecoveryDbError::Migration {
                    source: "relation exists (migration)".into(),
                },
                RecoveryDbError::Corrupt {
                    source: "unknown status `zz` (corrupt)".into(),
                },
            ]
        };
        for b in backup_errors() {
            assert_each_cause_once(RecoveryError::backup("backup", Some("g1"), b));
        }
        for b in backup_errors() {
            let inner = RecoveryError::backup("restore", Some("g2"), b);
            assert_each_cause_once(RecoveryError::RestoreFailed {
                point: "rp1".into(),
                graph: "g2".into(),
                rolled_back: vec!["g1".into()],
                rollback_failed: vec![],
                source: Box::new(inner),
            });
        }
        for d in db_errors() {
            assert_each_cause_once(d.into());
        }
        assert_each_cause_once(RecoveryError::io(
            "rename",
            "/g",
            io("cross-device link (rename)"),
        ));
        assert_each_cause_once(RecoveryError::RestoreFailed {
            point: "rp1".into(),
            graph: "g1".into(),
            rolled_back: vec![],
            rollback_failed: vec!["g0 (kept in /k: busy)".into()],
            source: Box::new(RecoveryError::io("rename", "/g", io("busy (inner)"))),
        });
    }

    #[test]
    fn messages_keep_their_context_without_the_cause() {
        let e = RecoveryError::backup(
            "backup",
            Some("g1"),
            BackupError::Io {
                action: "read",
                path: "/g/x".into(),
                source: io("permission denied"),
            },
        );
        assert_eq!(e.to_string(), "backup failed for graph `g1`");
        assert_eq!(
            lightrag_config::error_chain(&e),
            "backup failed for graph `g1`: read /g/x failed: permission denied"
        );
    }
}
