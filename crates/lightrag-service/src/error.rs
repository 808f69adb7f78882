//! The service's error: what went wrong, classified once for every entry point (the HTTP API
//! maps the [`ErrorKind`] to a status, the CLI prints the chain).

use std::error::Error as StdError;
use std::fmt;

use lightrag_backup::BackupError;
use lightrag_recovery::RecoveryError;
use lightrag_recovery_db::RecoveryDbError;
use lightrag_replication::ReplicationError;

/// Result of a service call.
pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What kind of failure an operation met: the caller's input, the state of things, or the
/// service itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No such graph, snapshot, recovery point, target or object.
    NotFound,
    /// The request is malformed or names something invalid.
    InvalidInput,
    /// The request conflicts with the current state (a lock, a pin, a live graph).
    Conflict,
    /// The request is well-formed but its content is wrong (a hash mismatch).
    Unprocessable,
    /// The request carries more than allowed.
    TooLarge,
    /// The caller may not do this here.
    Forbidden,
    /// A dependency (catalog, peer, target) is not available now; retrying may succeed.
    Unavailable,
    /// Too many operations are running.
    Busy,
    /// Anything else: a defect or an environment failure.
    Internal,
}

enum Repr {
    Message(String),
    Wrapped(BoxError),
    Context { message: String, source: BoxError },
}

/// An operation's failure: a kind, a message and the causes.
pub struct ServiceError {
    kind: ErrorKind,
    repr: Repr,
    /// Whether API clients may see the causes (not for catalog outages: they name hosts).
    public_causes: bool,
}

impl ServiceError {
    fn message(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            repr: Repr::Message(message.into()),
            public_causes: true,
        }
    }

    /// Nothing with this id.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::message(ErrorKind::NotFound, message)
    }

    /// The caller's input is wrong.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::message(ErrorKind::InvalidInput, message)
    }

    /// The current state forbids it.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::message(ErrorKind::Conflict, message)
    }

    /// Not allowed here.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::message(ErrorKind::Forbidden, message)
    }

    /// Too much at once.
    pub fn busy(message: impl Into<String>) -> Self {
        Self::message(ErrorKind::Busy, message)
    }

    /// Too large.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::message(ErrorKind::TooLarge, message)
    }

    /// A failure of the service itself.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::message(ErrorKind::Internal, message)
    }

    /// `error` with `message` in front: the kind is `error`'s.
    pub fn context(message: impl Into<String>, error: impl Into<ServiceError>) -> Self {
        let inner: ServiceError = error.into();
        Self {
            kind: inner.kind,
            public_causes: inner.public_causes,
            repr: Repr::Context {
                message: message.into(),
                source: Box::new(inner),
            },
        }
    }

    fn wrap(kind: ErrorKind, error: impl StdError + Send + Sync + 'static) -> Self {
        Self {
            kind,
            repr: Repr::Wrapped(Box::new(error)),
            public_causes: true,
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message and every cause, each once, joined by `": "`: what a client is told. For
    /// a catalog outage only the first message (the causes name hosts).
    pub fn public_message(&self) -> String {
        if self.public_causes {
            chain(self)
        } else {
            self.to_string()
        }
    }
}

/// `error` and its causes, each once, joined by `": "` (the one renderer:
/// [`lightrag_config::error_chain`]).
pub fn chain(error: &(dyn StdError + 'static)) -> String {
    lightrag_config::error_chain(error)
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Message(m) | Repr::Context { message: m, .. } => f.write_str(m),
            Repr::Wrapped(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl fmt::Debug for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceError")
            .field("kind", &self.kind)
            .field("message", &chain(self))
            .finish()
    }
}

impl StdError for ServiceError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.repr {
            Repr::Message(_) => None,
            // Transparent: the wrapped error's own message is ours.
            Repr::Wrapped(e) => e.source(),
            Repr::Context { source, .. } => Some(&**source),
        }
    }
}

fn db_kind(e: &RecoveryDbError) -> ErrorKind {
    if e.is_not_found() {
        ErrorKind::NotFound
    } else if e.is_conflict() {
        ErrorKind::Conflict
    } else if matches!(e, RecoveryDbError::CatalogUnavailable { .. }) || e.is_unavailable() {
        ErrorKind::Unavailable
    } else if matches!(e, RecoveryDbError::InvalidInput { .. }) {
        ErrorKind::InvalidInput
    } else {
        ErrorKind::Internal
    }
}

fn backup_kind(e: &BackupError) -> ErrorKind {
    use BackupError as E;
    match e {
        E::SnapshotNotFound(_) | E::ObjectNotFound { .. } => ErrorKind::NotFound,
        E::InvalidGraphId(_)
        | E::AmbiguousSnapshot(_)
        | E::FullIdRequired(_)
        | E::InvalidArgument(_) => ErrorKind::InvalidInput,
        E::Locked { .. } | E::LockLost { .. } | E::GraphLooksLive { .. } | E::TargetNotEmpty(_) => {
            ErrorKind::Conflict
        }
        _ => ErrorKind::Internal,
    }
}

fn recovery_kind(e: &RecoveryError) -> ErrorKind {
    use RecoveryError as E;
    match e {
        E::Db(db) => db_kind(db),
        E::Backup { source, .. } => backup_kind(source),
        E::GraphNotFound(_) | E::NoSnapshot(_) => ErrorKind::NotFound,
        E::InvalidGraphId(_) | E::PathNotAllowed { .. } | E::InvalidRequest(_) => {
            ErrorKind::InvalidInput
        }
        E::GraphLooksLive { .. } | E::TargetNotEmpty { .. } => ErrorKind::Conflict,
        _ => ErrorKind::Internal,
    }
}

fn replication_kind(e: &ReplicationError) -> ErrorKind {
    use ReplicationError as E;
    match e {
        E::Db(db) => db_kind(db),
        E::Backup(b) => backup_kind(b),
        E::InvalidInput { .. } => ErrorKind::InvalidInput,
        E::HashMismatch { .. } => ErrorKind::Unprocessable,
        E::TooLarge { .. } => ErrorKind::TooLarge,
        E::RepositoryMismatch { .. } => ErrorKind::Conflict,
        E::Unauthenticated { .. } | E::Peer { .. } | E::Target { .. } => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    }
}

/// A catalog outage: one sentence for clients, the causes for the log and the CLI.
fn outage(e: impl StdError + Send + Sync + 'static) -> ServiceError {
    ServiceError {
        kind: ErrorKind::Unavailable,
        repr: Repr::Context {
            message: "catalog unavailable: the recovery database is down; retry later".to_owned(),
            source: Box::new(e),
        },
        public_causes: false,
    }
}

impl From<RecoveryDbError> for ServiceError {
    fn from(e: RecoveryDbError) -> Self {
        if e.is_unavailable() {
            return outage(e);
        }
        Self::wrap(db_kind(&e), e)
    }
}

impl From<BackupError> for ServiceError {
    fn from(e: BackupError) -> Self {
        Self::wrap(backup_kind(&e), e)
    }
}

impl From<RecoveryError> for ServiceError {
    fn from(e: RecoveryError) -> Self {
        match e {
            RecoveryError::Db(db) => (*db).into(),
            e => Self::wrap(recovery_kind(&e), e),
        }
    }
}

impl From<ReplicationError> for ServiceError {
    fn from(e: ReplicationError) -> Self {
        match e {
            ReplicationError::Db(db) => db.into(),
            e => Self::wrap(replication_kind(&e), e),
        }
    }
}

impl From<lightrag_monitoring::MonitoringError> for ServiceError {
    fn from(e: lightrag_monitoring::MonitoringError) -> Self {
        Self::wrap(ErrorKind::Internal, e)
    }
}

impl From<serde_json::Error> for ServiceError {
    fn from(e: serde_json::Error) -> Self {
        Self::wrap(ErrorKind::Internal, e)
    }
}

impl From<std::io::Error> for ServiceError {
    fn from(e: std::io::Error) -> Self {
        Self::wrap(ErrorKind::Internal, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_keeps_the_kind_and_prints_each_cause_once() {
        let inner = ServiceError::not_found("snapshot abc not found");
        let e = ServiceError::context("restore failed", inner);
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(chain(&e), "restore failed: snapshot abc not found");
        let again = ServiceError::context("restore failed: snapshot abc not found", e);
        assert_eq!(
            again.public_message(),
            "restore failed: snapshot abc not found"
        );
    }

    #[test]
    fn catalog_outages_hide_their_causes_from_clients() {
        let e = outage(std::io::Error::other("connect to db.internal:5432 refused"));
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(!e.public_message().contains("db.internal"));
        assert!(chain(&e).contains("db.internal"));
    }
}
