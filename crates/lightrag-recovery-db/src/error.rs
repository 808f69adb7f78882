//! The one error type of this crate.

use std::error::Error as StdError;

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// Boxed source error.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Errors of the recovery catalog.
///
/// Messages never contain the database password. Callers map variants once (e.g. to HTTP
/// status codes): [`NotFound`](Self::NotFound) → 404, [`Conflict`](Self::Conflict) → 409,
/// [`InvalidInput`](Self::InvalidInput) → 422, [`Unavailable`](Self::Unavailable) → 503.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecoveryDbError {
    /// `LIGHTRAG_RECOVERY_DB_URL` (or the URL passed in [`DbConfig`](crate::DbConfig)) is not
    /// a form this crate accepts.
    #[error(
        "invalid LIGHTRAG_RECOVERY_DB_URL `{url}`: {reason}; accepted forms: \
         sqlite:///./relative.db, sqlite:////absolute/path.db, a plain file path, \
         postgres://user:password@host:5432/dbname or postgresql://…"
    )]
    InvalidUrl {
        /// The URL with any password replaced by `***`.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A configuration value other than the URL is out of range.
    #[error("invalid recovery database setting `{setting}`: {reason}")]
    InvalidConfig {
        /// The setting's name.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// The database cannot be reached (server down, file not openable, pool checkout timed out,
    /// connection lost). Retrying later may succeed; the pool reconnects by itself.
    #[error("recovery database {target} is unavailable; check that it is running and reachable")]
    Unavailable {
        /// Backend and location, password removed (e.g. `postgres 127.0.0.1:5432/lightrag`).
        target: String,
        /// Why.
        #[source]
        source: BoxError,
    },

    /// The catalog is known to be down (the circuit breaker is open: the last probe or
    /// checkout failed): the call failed at once instead of waiting for a checkout timeout.
    /// Retry later; operations that do not need the catalog keep working.
    #[error("catalog unavailable: recovery database {target} is down ({reason}); retry later")]
    CatalogUnavailable {
        /// Backend and location, password removed.
        target: String,
        /// The failure that opened the breaker.
        reason: String,
    },

    /// Applying or reverting the embedded migrations failed.
    #[error("recovery database migration failed")]
    Migration {
        /// Why.
        #[source]
        source: BoxError,
    },

    /// The requested row does not exist.
    #[error("{entity} `{id}` not found")]
    NotFound {
        /// Kind of row (`graph`, `backup`, `recovery point`, …).
        entity: &'static str,
        /// Its key.
        id: String,
    },

    /// The change conflicts with existing rows (duplicate key or name, snapshot still pinned by
    /// a recovery point, concurrent update).
    #[error("{entity} conflict: {message}")]
    Conflict {
        /// Kind of row.
        entity: &'static str,
        /// What conflicts.
        message: String,
    },

    /// A value passed in is not acceptable (NUL byte in an identifier, malformed JSON, a
    /// negative size, …).
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Field name.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },

    /// A stored value cannot be decoded (unknown enum text, corrupt row).
    #[error("recovery database holds an unreadable value")]
    Corrupt {
        /// Why.
        #[source]
        source: BoxError,
    },

    /// Any other database error.
    #[error("recovery database error")]
    Database {
        /// The diesel error.
        #[source]
        source: DieselError,
    },

    /// The blocking task running a database closure panicked or was cancelled.
    #[error("recovery database task failed")]
    Task {
        /// The join error.
        #[source]
        source: tokio::task::JoinError,
    },
}

/// Result alias of this crate.
pub type Result<T, E = RecoveryDbError> = std::result::Result<T, E>;

impl RecoveryDbError {
    /// `true` for [`RecoveryDbError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// `true` for [`RecoveryDbError::Conflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }

    /// `true` for [`RecoveryDbError::Unavailable`] and
    /// [`RecoveryDbError::CatalogUnavailable`].
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Unavailable { .. } | Self::CatalogUnavailable { .. }
        )
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn not_found(entity: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            entity,
            id: id.into(),
        }
    }

    /// Maps a diesel error raised while working on `entity`.
    pub(crate) fn from_diesel(entity: &'static str, err: DieselError) -> Self {
        match err {
            DieselError::DatabaseError(kind, info) => {
                let message = info.message().to_owned();
                // SQLite reports some constraint failures with kind `Unknown`.
                let kind = match kind {
                    DatabaseErrorKind::Unknown
                        if message.starts_with("FOREIGN KEY constraint failed") =>
                    {
                        DatabaseErrorKind::ForeignKeyViolation
                    }
                    DatabaseErrorKind::Unknown
                        if message.starts_with("UNIQUE constraint failed") =>
                    {
                        DatabaseErrorKind::UniqueViolation
                    }
                    DatabaseErrorKind::Unknown
                        if message.starts_with("CHECK constraint failed") =>
                    {
                        DatabaseErrorKind::CheckViolation
                    }
                    other => other,
                };
                if is_connection_lost(&message) {
                    return Self::Unavailable {
                        target: "connection".to_owned(),
                        source: message.into(),
                    };
                }
                if message.starts_with("database is locked")
                    || message.starts_with("database is busy")
                {
                    return Self::Unavailable {
                        target: "sqlite".to_owned(),
                        source: format!(
                            "{message} (another writer held the lock past busy_timeout)"
                        )
                        .into(),
                    };
                }
                // PostgreSQL refuses NUL in text (as a value or in a lookup key); writes check
                // for it first (`text.rs`), and whatever query still carries one (a client's
                // id with %00) is bad input, never an internal error.
                if message.contains("0x00") && message.contains("invalid byte sequence") {
                    return Self::InvalidInput {
                        field: entity,
                        reason: "contains a NUL byte, which no stored value can hold".to_owned(),
                    };
                }
                match kind {
                    DatabaseErrorKind::UniqueViolation => Self::Conflict {
                        entity,
                        message: format!("already exists ({message})"),
                    },
                    DatabaseErrorKind::ForeignKeyViolation => Self::Conflict {
                        entity,
                        message: format!(
                            "still referenced or references a missing row ({message})"
                        ),
                    },
                    DatabaseErrorKind::SerializationFailure => Self::Conflict {
                        entity,
                        message: format!("concurrent update, retry ({message})"),
                    },
                    DatabaseErrorKind::CheckViolation | DatabaseErrorKind::NotNullViolation => {
                        Self::InvalidInput {
                            field: entity,
                            reason: message,
                        }
                    }
                    DatabaseErrorKind::ClosedConnection => Self::Unavailable {
                        target: "connection".to_owned(),
                        source: message.into(),
                    },
                    other => Self::Database {
                        source: DieselError::DatabaseError(other, info),
                    },
                }
            }
            DieselError::NotFound => Self::NotFound {
                entity,
                id: String::new(),
            },
            DieselError::DeserializationError(source) => Self::Corrupt { source },
            other => Self::Database { source: other },
        }
    }
}

/// libpq messages for a connection that died under a query.
fn is_connection_lost(message: &str) -> bool {
    [
        "server closed the connection unexpectedly",
        "no connection to the server",
        "terminating connection due to administrator command",
        "could not receive data from server",
        "could not send data to server",
        "connection to server was lost",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// `true` when `err` is a foreign-key violation on either backend.
pub(crate) fn is_fk_violation(err: &DieselError) -> bool {
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => true,
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, info) => {
            info.message().starts_with("FOREIGN KEY constraint failed")
        }
        _ => false,
    }
}

impl From<DieselError> for RecoveryDbError {
    fn from(err: DieselError) -> Self {
        Self::from_diesel("row", err)
    }
}
