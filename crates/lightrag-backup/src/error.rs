//! The crate's single error type.
//!
//! Rules: one enum, `#[non_exhaustive]`; every variant that wraps another error keeps it as
//! `#[source]`; every message says what went wrong *and* what the operator can do about it.

use std::path::PathBuf;

/// Everything that can go wrong in `lightrag-backup`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// A storage backend operation failed (I/O, network, permissions).
    #[error(
        "storage {op} of `{key}` failed; check that the repository location is reachable and writable"
    )]
    Storage {
        /// Operation name (`put`, `get`, `list`, ...).
        op: &'static str,
        /// Object key inside the repository.
        key: String,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An object-store request failed (after retries). `problem` says why in operator terms.
    #[error("{op} of `{key}` at {location} failed: {problem}")]
    Remote {
        /// Operation name (`put`, `get`, `list`, ...).
        op: &'static str,
        /// Object key inside the repository.
        key: String,
        /// Repository location (never contains credentials).
        location: String,
        /// What went wrong, classified.
        problem: RemoteProblem,
        /// Underlying error (object_store).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An object the repository needs does not exist.
    #[error(
        "repository object `{key}` is missing; run `verify` to see which snapshots are affected"
    )]
    ObjectNotFound {
        /// Object key inside the repository.
        key: String,
    },
    /// No repository exists at the location.
    #[error("no repository at {location}; initialise one first (init)")]
    NotARepository {
        /// Human description of the storage location.
        location: String,
    },
    /// The repository's `config` object exists but cannot be read as a repository config.
    #[error(
        "the repository config at {location} is unreadable ({reason}); the location holds something that is not a repository, or its `config` object is damaged: restore `config` from a replica or a copy of the repository, or choose another location (do not initialise over it)"
    )]
    BadConfig {
        /// Human description of the storage location.
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `init` found an existing repository.
    #[error("a repository already exists at {location}; open it instead of initialising")]
    AlreadyInitialized {
        /// Human description of the storage location.
        location: String,
    },
    /// The repository was written by an unknown format version.
    #[error(
        "repository format version {found} is not supported (this build reads versions 1 to {supported}); upgrade lightrag-ops"
    )]
    UnsupportedVersion {
        /// Version found in the repository config.
        found: u32,
        /// Newest version this build supports.
        supported: u32,
    },
    /// The repository is encrypted but no key was given.
    #[error(
        "the repository is encrypted; provide its key (LIGHTRAG_BACKUP_ENCRYPTION_KEY or its _FILE variant)"
    )]
    KeyRequired,
    /// A key was given for a repository that is not encrypted.
    #[error(
        "an encryption key was given but the repository is not encrypted; remove the key setting or use another repository"
    )]
    KeyNotExpected,
    /// The key does not open the repository.
    #[error(
        "the encryption key does not match this repository; check the key source (nothing was read or written)"
    )]
    WrongKey,
    /// An object failed authentication, decompression or hash check.
    #[error(
        "repository object `{key}` is damaged ({reason}); run `verify --read-data` and restore from a replica if needed"
    )]
    Corrupt {
        /// Object key (or `pack:offset`) that is damaged.
        key: String,
        /// What check failed.
        reason: String,
    },
    /// A chunk needed by a restore is damaged or missing.
    #[error(
        "snapshot {snapshot}: file `{file}` cannot be restored: {reason}; the target was left untouched; run `verify --read-data` and use another snapshot or a replica"
    )]
    DamagedFile {
        /// Snapshot id.
        snapshot: String,
        /// Relative path of the file in the snapshot.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// An invalid graph id.
    #[error(
        "invalid graph id `{0}`: use 1-128 characters from [A-Za-z0-9_.-], starting with a letter or digit"
    )]
    InvalidGraphId(String),
    /// A snapshot id (or prefix) matched nothing.
    #[error("snapshot `{0}` not found; list snapshots to see valid ids")]
    SnapshotNotFound(String),
    /// A destructive operation (delete, forget) was given an id prefix instead of a full id.
    #[error(
        "`{0}` is not a full snapshot id; deleting or forgetting needs the full id (prefixes are accepted only for reading): list snapshots and copy the whole id"
    )]
    FullIdRequired(String),
    /// A snapshot id prefix matched several snapshots.
    #[error("snapshot prefix `{0}` is ambiguous; type more characters")]
    AmbiguousSnapshot(String),
    /// A file kept changing while it was read.
    #[error(
        "file {path} kept changing while it was read ({attempts} attempts): {reason}; retry when LightRAG is idle, or raise the retry count"
    )]
    FileUnstable {
        /// The file.
        path: PathBuf,
        /// Attempts made.
        attempts: u32,
        /// Last reason (metadata changed, does not parse, ...).
        reason: String,
    },
    /// Local filesystem error while reading the graph or writing a restore.
    #[error("{action} {path} failed")]
    Io {
        /// What was being done.
        action: &'static str,
        /// Path involved.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A lock could not be acquired in time.
    #[error(
        "repository is busy: {holder}; wait for it to finish, or remove the stale lock `{key}` if that process is gone"
    )]
    Locked {
        /// Description of the conflicting lock.
        holder: String,
        /// Its object key.
        key: String,
    },
    /// The operation's repository lock stopped being ours (removed as stale by another
    /// process, or not refreshed in time): it stopped before publishing or deleting anything.
    #[error(
        "the repository lock `{key}` was lost ({reason}); nothing was published or deleted: run the operation again"
    )]
    LockLost {
        /// The lock object's key.
        key: String,
        /// Why it is no longer ours.
        reason: String,
    },
    /// The caller passed invalid options or arguments.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An in-place restore target looks like a running LightRAG's workspace.
    #[error(
        "{path} was modified {seconds_ago}s ago: LightRAG looks live on this workspace and would overwrite the restore on its next save; stop it (or force the restore), then restart LightRAG for this workspace afterwards"
    )]
    GraphLooksLive {
        /// Most recently modified file.
        path: PathBuf,
        /// Seconds since it was modified.
        seconds_ago: u64,
    },
    /// A restore target exists and is not empty.
    #[error(
        "restore target {0} already exists and is not empty; choose a new directory or restore in place"
    )]
    TargetNotEmpty(PathBuf),
    /// Serialising or parsing repository metadata failed.
    #[error("repository metadata `{key}` is malformed; run `verify`")]
    Metadata {
        /// Object key.
        key: String,
        /// Underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// A failure injected for tests (`BackupOptions::failpoint`).
    #[error("injected failure at {0}")]
    Injected(&'static str),
    /// A worker thread panicked.
    #[error("internal error: a worker thread panicked ({0}); please report this bug")]
    WorkerPanicked(String),
}

/// Why an object-store request failed, in terms of what the operator must fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RemoteProblem {
    /// The credentials were rejected (unknown key, bad signature, expired token).
    WrongCredentials,
    /// The credentials are valid but lack a permission (e.g. write).
    PermissionDenied,
    /// The bucket or container does not exist.
    BucketNotFound,
    /// An object does not exist (mapped to [`BackupError::ObjectNotFound`]).
    NotFound,
    /// The endpoint could not be reached (DNS, connection refused).
    Unreachable,
    /// The endpoint is `http://` and plain HTTP is not allowed.
    PlainHttpRefused,
    /// The endpoint's TLS certificate was not accepted.
    TlsRefused,
    /// The service kept throttling or failing (429/5xx) past the retry limit.
    Throttled,
    /// Requests timed out.
    Timeout,
    /// Anything else.
    Other,
}

impl std::fmt::Display for RemoteProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RemoteProblem::WrongCredentials => "the credentials were rejected; check the access key and secret (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AZURE_STORAGE_*, GOOGLE_SERVICE_ACCOUNT)",
            RemoteProblem::PermissionDenied => "permission denied; grant these credentials list, read, write and delete on the bucket and prefix",
            RemoteProblem::BucketNotFound => "the bucket (container) does not exist; create it or fix the repository URL",
            RemoteProblem::NotFound => "object not found",
            RemoteProblem::Unreachable => "the endpoint is unreachable; check the endpoint URL, network, DNS and TLS settings",
            RemoteProblem::PlainHttpRefused => "the endpoint is http:// and plain HTTP is refused; use https://, or allow plain HTTP for a local server with LIGHTRAG_S3_ALLOW_HTTP=true (or AWS_ALLOW_HTTP=true)",
            RemoteProblem::TlsRefused => "the endpoint's TLS certificate was not accepted (not issued by a trusted authority, expired, or for another host name); fix the certificate or the endpoint's host name",
            RemoteProblem::Throttled => "the service kept throttling or failing (429/5xx) after all retries; retry later or lower the concurrency",
            RemoteProblem::Timeout => "requests timed out; check the network or raise the timeouts",
            RemoteProblem::Other => "unexpected object-store error",
        })
    }
}

/// Result alias.
pub type Result<T, E = BackupError> = std::result::Result<T, E>;

impl BackupError {
    /// True when this says "could not read or write" (storage I/O, network, timeout,
    /// credentials, a local file, an internal failure): nothing is known about the data, and
    /// the operation may succeed when retried. False for "read and wrong" (an object missing,
    /// a hash or authentication mismatch, truncated, undecodable): damage. Readers that
    /// report damage (restore's `DamagedFile`, verify's findings, lenient index loading) pass
    /// access failures through as errors instead.
    pub fn is_access_failure(&self) -> bool {
        matches!(
            self,
            BackupError::Storage { .. }
                | BackupError::Remote { .. }
                | BackupError::Io { .. }
                | BackupError::Locked { .. }
                | BackupError::LockLost { .. }
                | BackupError::Injected(_)
                | BackupError::WorkerPanicked(_)
        )
    }

    /// The compressor failed on the object `key` (empty for a chunk).
    pub(crate) fn compress(key: &str, source: std::io::Error) -> Self {
        BackupError::Storage {
            op: "compress",
            key: key.to_owned(),
            source,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        BackupError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
