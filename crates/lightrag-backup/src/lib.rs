//! `lightrag-backup`: a deduplicating, verifiable snapshot repository for LightRAG graphs.
//!
//! Files of a graph directory are cut by content-defined chunking (FastCDC), identified by
//! BLAKE3, compressed with zstd (optionally sealed with XChaCha20-Poly1305), grouped into pack
//! files and described by one manifest per snapshot that also records a LightRAG summary
//! (documents, chunks, entities, relations, vectors, doc status). The format is documented in
//! `docs/repository-format.md`. No database is needed: the repository is the source of truth.
//!
//! Operations on a [`Repository`] (all synchronous; run them in `spawn_blocking` from async
//! code; long ones report through a [`Progress`]):
//! [`backup`](Repository::backup), [`snapshots`](Repository::snapshots),
//! [`snapshot`](Repository::snapshot), [`restore`](Repository::restore) (new directory, in
//! place with a `pre_restore` safety snapshot, or chosen files), [`verify`](Repository::verify)
//! (structure, read-data, subsets, time budget), [`forget`](Repository::forget) (age + GFS,
//! pinned ids), [`prune`](Repository::prune), [`diff`](Repository::diff) /
//! [`diff_records`](Repository::diff_records), [`stats`](Repository::stats),
//! [`delete_snapshot`](Repository::delete_snapshot), [`repair`](Repository::repair) /
//! [`repair_index`](Repository::repair_index), [`check_writable`](Repository::check_writable).
//! Every operation takes a repository lock; code that touches a repository's objects directly
//! takes the same lock with [`RepositoryLock::acquire`]. Storage backends implement [`Storage`]:
//! [`LocalStorage`] (a directory) and [`ObjectStorage`] (S3-compatible, Azure Blob, GCS through
//! `object_store`); [`open_storage`] turns a location (`/path`, `file://`, `s3://bucket/prefix`,
//! `az://`, `gs://`) and [`ObjectStoreOptions`] into one, [`check_storage`] tests credentials,
//! bucket and write access up front, and [`Storage::stats`] counts requests
//! ([`SnapshotSummary::requests`] per backup). Object stores are documented in
//! `docs/object-storage.md`. Every error is a [`BackupError`].
//!
//! ```no_run
//! use std::{path::Path, sync::Arc};
//! use lightrag_backup::{BackupOptions, InitOptions, LocalStorage, NoProgress, Repository,
//!     RestoreOptions, VerifyOptions};
//!
//! # fn main() -> Result<(), lightrag_backup::BackupError> {
//! let repo = Repository::init(Arc::new(LocalStorage::new("/var/backups/lightrag")),
//!     &InitOptions::default(), None)?;
//! let snap = repo.backup("default", Path::new("./rag_storage"), &BackupOptions::default(),
//!     &NoProgress)?;
//! println!("{} entities", snap.snapshot.summary.entities().unwrap_or(0));
//! repo.verify(&VerifyOptions::default(), &NoProgress)?;
//! repo.restore(&snap.snapshot.id, Path::new("./restored"), &RestoreOptions::default(),
//!     &NoProgress)?;
//! # Ok(()) }
//! ```

mod backup;
mod beneath;
mod claimed;
mod crypto;
mod diff;
mod error;
mod format;
mod graph_id;
mod headers;
mod lock;
mod pack;
mod progress;
mod remote;
mod repair;
mod repo;
mod restore;
mod retention;
mod storage;
mod summary;
mod tree;
mod verify;

pub use backup::{BackupOptions, SnapshotSummary};
#[cfg(any(test, feature = "test-hooks"))]
pub use backup::{Failpoint, ReadHook};
pub use crypto::{KdfParams, generate_key_hex};
pub use diff::{CountDelta, FileChange, RecordDelta, SnapshotDiff, graph_deltas};
pub use error::{BackupError, RemoteProblem, Result};
pub use format::{ChunkId, ChunkerParams, FileEntry, Manifest, Totals, validate_graph_id};
pub use graph_id::GraphId;
pub use lock::{LockKind, RepositoryLock};
pub use progress::{NoProgress, Progress};
pub use remote::{ObjectStorage, ObjectStoreOptions, StorageCheck, check_storage, open_storage};
pub use repair::RepairOptions;
pub use repo::{GraphStats, InitOptions, RepoStats, Repository, RepositoryOptions, SnapshotInfo};
pub use restore::{RestoreOptions, RestoreSummary};
pub use retention::{
    ForgetReport, KeptSnapshot, PruneOptions, PruneReport, RepairReport, RetentionPolicy,
    apply_policy,
};
pub use storage::{LocalStorage, ObjectInfo, PackBuf, Staged, StagedFile, Storage, StorageStats};
pub use summary::{LightRagSummary, StoreKind, StoreScanner, StoreStats, Stores};
pub use tree::{is_lightrag_file, is_lightrag_temp_file, is_operation_leftover};
pub use verify::{Damage, ReadData, VerifyOptions, VerifyReport};
