//! The crate's single error type.
//!
//! Rules (as in `lightrag-backup`): one enum, `#[non_exhaustive]`; wrapped errors stay as
//! `#[source]`; every message says what went wrong and what the operator can do. No message
//! ever contains a target's secret.

/// Everything that can go wrong in `lightrag-replication`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplicationError {
    /// A repository operation (primary or directory target) failed.
    #[error(transparent)]
    Backup(#[from] lightrag_backup::BackupError),
    /// The recovery database failed.
    #[error(transparent)]
    Db(#[from] lightrag_recovery_db::RecoveryDbError),
    /// Bad input (target definition, object key, option).
    #[error("invalid {what}: {message}")]
    InvalidInput {
        /// What was invalid (`peer url`, `object key`, ...).
        what: &'static str,
        /// Why, and the accepted form.
        message: String,
    },
    /// An object's content does not match its content address or the hash sent with it.
    #[error(
        "object `{key}` failed its hash check ({reason}); it was not stored: the data was damaged in transit or at the source, run `verify --read-data` on the primary"
    )]
    HashMismatch {
        /// Object key.
        key: String,
        /// Expected vs found.
        reason: String,
    },
    /// An object exceeds the receiver's size bound.
    #[error("object `{key}` is {size} bytes, above the receiver's limit of {limit} bytes")]
    TooLarge {
        /// Object key.
        key: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The target already holds a different repository (another `config`).
    #[error(
        "target {target} already holds another repository (id {found}, primary is {expected}); use an empty location per primary repository"
    )]
    RepositoryMismatch {
        /// Target location.
        target: String,
        /// Repository id on the target.
        found: String,
        /// Repository id of the primary.
        expected: String,
    },
    /// The peer rejected the API key (HTTP 401/403).
    #[error(
        "peer {url} rejected the API key (HTTP {status}); set the target's api_key to the peer's LIGHTRAG_REPLICATION_RECEIVE_KEY (or its LIGHTRAG_API_KEY)"
    )]
    Unauthenticated {
        /// Peer base URL.
        url: String,
        /// HTTP status.
        status: u16,
    },
    /// The peer could not be reached or answered with an unexpected status.
    #[error("peer {url}: {message}; check that the peer server is running and reachable")]
    Peer {
        /// Peer base URL.
        url: String,
        /// What happened (never contains the API key).
        message: String,
    },
    /// The target cannot be used (unknown kind, disabled, unreachable directory).
    #[error("target `{target}`: {message}")]
    Target {
        /// Target name or location.
        target: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// Objects listed on the primary vanished during the sync (a concurrent prune); no
    /// manifest was sent for this attempt.
    #[error(
        "{count} objects vanished from the primary during the sync (a prune ran concurrently); manifests were not sent, the next attempt will complete"
    )]
    SourceChanged {
        /// How many objects vanished.
        count: u64,
    },
    /// The key file sealing target secrets cannot be read or created, or a stored secret does
    /// not open with it.
    #[error("replication target secret key {}: {message}", path.display())]
    SecretKey {
        /// The key file (`LIGHTRAG_REPLICATION_SECRET_KEY_FILE`).
        path: std::path::PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// The sync was stopped by the test hook or a cancellation.
    #[error("sync interrupted after {sent} objects; run it again to resume")]
    Interrupted {
        /// Objects sent before the interruption.
        sent: u64,
    },
}

/// `Result` with [`ReplicationError`].
pub type Result<T, E = ReplicationError> = std::result::Result<T, E>;

impl ReplicationError {
    pub(crate) fn invalid(what: &'static str, message: impl Into<String>) -> Self {
        ReplicationError::InvalidInput {
            what,
            message: message.into(),
        }
    }

    /// Whether the target rejected our credentials (peer API key, object-store keys).
    pub fn is_unauthenticated(&self) -> bool {
        matches!(
            self,
            ReplicationError::Unauthenticated { .. }
                | ReplicationError::Backup(lightrag_backup::BackupError::Remote {
                    problem: lightrag_backup::RemoteProblem::WrongCredentials
                        | lightrag_backup::RemoteProblem::PermissionDenied,
                    ..
                })
        )
    }

    /// Whether this error means the target is unreachable (as opposed to a bad object).
    pub fn is_unreachable(&self) -> bool {
        if self.is_unauthenticated() {
            return true;
        }
        match self {
            ReplicationError::Peer { .. } | ReplicationError::Target { .. } => true,
            ReplicationError::Backup(e) => matches!(
                e,
                lightrag_backup::BackupError::Storage { .. }
                    | lightrag_backup::BackupError::Remote { .. }
                    | lightrag_backup::BackupError::NotARepository { .. }
            ),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_errors_name_each_cause_once() {
        let errors = [
            ReplicationError::from(lightrag_backup::BackupError::Storage {
                op: "put",
                key: "data/ab".into(),
                source: std::io::Error::other("no space left (storage)"),
            }),
            ReplicationError::from(lightrag_recovery_db::RecoveryDbError::Unavailable {
                target: "sqlite ./x.db".into(),
                source: "database is locked (db)".into(),
            }),
        ];
        for err in errors {
            let chained = lightrag_config::error_chain(&err);
            let full = format!("{:#}", anyhow::Error::from(err));
            assert_eq!(full, chained);
            for cause in ["(storage)", "(db)"] {
                assert!(full.matches(cause).count() <= 1, "{cause} twice in {full}");
            }
            // The wrapper adds no text of its own: the repository or catalog error leads.
            assert!(
                full.starts_with("storage put") || full.starts_with("recovery database"),
                "{full}"
            );
        }
    }
}
