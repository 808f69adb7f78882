//! `lightrag-replication`: copies the snapshots of a `lightrag-backup` repository off the
//! machine — to another repository location (a local or NFS directory, any
//! [`lightrag_backup::Storage`]) or to a peer lightrag-ops server over HTTP — incrementally,
//! resumably, verified on receipt. See `docs/replication.md`.
//!
//! - Targets are defined in the recovery DB ([`create_target`], [`update_target`],
//!   [`delete_target`], [`list_targets`], [`open_target`]); secrets are stored, never
//!   returned or logged.
//! - [`sync_graph`] copies what a target lacks: the repository config first, then packs and
//!   index files, then the graph's manifests oldest first, and replicates forgets after a delete grace (7 days by default);
//!   [`prune_target`] replicates a prune. Objects are copied as stored (compressed,
//!   encrypted), so replication needs no encryption key.
//! - The receiving side is [`Receiver`] (key syntax, size bound, BLAKE3 re-hash, atomic put):
//!   a directory target uses it directly, a peer server wraps it in its routes
//!   ([`RECEIVE_PATH`]); [`PeerClient`] is the client.
//! - Lag and back-off are pure functions ([`lag_ms`], [`BackoffPolicy`]); [`record_outcome`],
//!   [`refresh_lag`], [`attempt_due`] and [`sync_and_record`] keep `replication_state`.
//! - [`check_target_health`] exercises reachability and the API key; [`open_target_repository`]
//!   opens a target's copy for a failover restore.
//!
//! ```no_run
//! use std::sync::Arc;
//! use lightrag_backup::{LocalStorage, Storage};
//! use lightrag_replication::{DirectoryTarget, SyncOptions, sync_graph};
//!
//! let primary: Arc<dyn Storage> = Arc::new(LocalStorage::new("/var/backups/lightrag"));
//! let target = DirectoryTarget::new("/mnt/nfs/lightrag-replica");
//! let outcome = sync_graph(&primary, &target, "default", &SyncOptions::default());
//! println!("sent {} objects, {} bytes, lag {} ms", outcome.objects_sent, outcome.bytes_sent, outcome.lag_ms);
//! ```

mod error;
mod failover;
mod health;
mod keys;
mod lag;
mod peer;
mod receiver;
mod secrets;
mod state;
mod store;
mod sync;
mod target;

pub use error::{ReplicationError, Result};
pub use failover::{open_target_repository, target_snapshots};
pub use health::{HealthOptions, TargetHealth, check_target_health, record_target_health};
pub use keys::snapshot_time_ms;
pub use lag::{BackoffPolicy, lag_ms};
pub use peer::{
    ALLOW_HTTP_SETTING, HaveRequest, HaveResponse, ListedObject, PeerClient, PeerStorage,
    RECEIVE_PATH,
};
pub use receiver::{
    Accepted, CONTENT_HASH_HEADER, DEFAULT_MAX_OBJECT_BYTES, Receiver, ReceiverStatus,
    api_key_matches, content_hash, free_bytes,
};
pub use state::{
    attempt_due, forgotten_since, primary_graph_ids, refresh_lag, sync_and_record, sync_targets,
};
pub use store::{DirectoryTarget, ReplicaStore};
pub use sync::{
    DEFAULT_DELETE_GRACE, SyncOptions, SyncOutcome, TargetPruneReport, prune_target, sync_graph,
    target_snapshot_ids,
};
#[cfg(any(test, feature = "test-hooks"))]
pub use sync::{SentHook, SyncHooks};
pub use target::{
    ALLOWED_CREDENTIAL_KEYS, TargetChanges, TargetOpenOptions, TargetSpec, create_target,
    delete_target, find_target, list_targets, open_spec, open_target, update_target,
};
