//! A target as a restore source when the primary repository is gone.

use std::sync::Arc;

use lightrag_backup::{Repository, SnapshotInfo};

use crate::error::Result;
use crate::store::ReplicaStore;

/// Open a target's copy as a [`Repository`] (read-only for peers): `restore`, `snapshots`,
/// `verify` work on it as on the primary. `key` is the primary's encryption key, if any.
pub fn open_target_repository(
    target: Arc<dyn ReplicaStore>,
    key: Option<&[u8]>,
) -> Result<Repository> {
    Ok(Repository::open(target.as_storage(), key)?)
}

/// Snapshots held by a target (all graphs when `graph` is `None`), oldest first.
pub fn target_snapshots(
    target: Arc<dyn ReplicaStore>,
    key: Option<&[u8]>,
    graph: Option<&str>,
) -> Result<Vec<SnapshotInfo>> {
    Ok(open_target_repository(target, key)?.snapshots(graph)?)
}
