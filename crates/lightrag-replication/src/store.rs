//! What the sync engine needs from a target, with its two implementations' common trait.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lightrag_backup::{LocalStorage, ObjectInfo, Storage};

use crate::error::{ReplicationError, Result};
use crate::receiver::{Accepted, Receiver, ReceiverStatus};

/// The receiving end of a sync: a directory ([`DirectoryTarget`]) or a peer server
/// ([`crate::PeerClient`]). Every `send` is checked by a [`Receiver`] on the target side.
pub trait ReplicaStore: Send + Sync + std::fmt::Debug {
    /// Objects under a repository prefix (see [`crate::validate_prefix`]).
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>>;
    /// Send one object with the BLAKE3 (hex) the sender computed when reading it.
    fn send(&self, key: &str, body: Vec<u8>, blake3_hex: &str) -> Result<Accepted>;
    /// Read one object (failover, config comparison).
    fn get(&self, key: &str) -> Result<Vec<u8>>;
    /// Read `len` bytes at `offset`.
    fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>>;
    /// Delete a manifest, index or pack (replicated forget/prune).
    fn delete(&self, key: &str) -> Result<()>;
    /// Reachability, authentication and free space: an error means unreachable or
    /// unauthenticated ([`ReplicationError::Unauthenticated`]).
    fn status(&self) -> Result<ReceiverStatus>;
    /// Human-readable location (never contains a secret).
    fn location(&self) -> String;
    /// A read-only [`Storage`] over the target, to open it as a `Repository` (failover).
    fn as_storage(self: Arc<Self>) -> Arc<dyn Storage>;
}

/// A repository location in a local (or NFS) directory.
#[derive(Debug, Clone)]
pub struct DirectoryTarget {
    root: PathBuf,
    receiver: Receiver,
}

impl DirectoryTarget {
    /// A directory target at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        DirectoryTarget {
            receiver: Receiver::directory(root.clone()),
            root,
        }
    }

    /// A target writing into any [`Storage`] (object stores plug in here unchanged).
    pub fn with_storage(storage: Arc<dyn Storage>) -> Self {
        DirectoryTarget {
            root: PathBuf::new(),
            receiver: Receiver::new(storage),
        }
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl ReplicaStore for DirectoryTarget {
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        self.receiver.list(prefix)
    }

    fn send(&self, key: &str, body: Vec<u8>, blake3_hex: &str) -> Result<Accepted> {
        self.receiver.accept(key, body, Some(blake3_hex))
    }

    fn get(&self, key: &str) -> Result<Vec<u8>> {
        self.receiver.read(key, None)
    }

    fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        self.receiver.read(key, Some((offset, len)))
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.receiver.delete(key)
    }

    fn status(&self) -> Result<ReceiverStatus> {
        if !self.root.as_os_str().is_empty() {
            // Reachable = the directory (or the place it will be created in) exists and is
            // writable; probe with a temporary file, as a put would.
            let probe_dir = if self.root.exists() {
                self.root.clone()
            } else {
                self.root
                    .ancestors()
                    .find(|p| p.exists())
                    .map(Path::to_path_buf)
                    .unwrap_or_default()
            };
            let probe = probe_dir.join(format!(".tmp-probe-{}", std::process::id()));
            std::fs::write(&probe, b"probe")
                .and_then(|()| std::fs::remove_file(&probe))
                .map_err(|e| ReplicationError::Target {
                    target: self.root.display().to_string(),
                    message: format!(
                        "directory is not writable ({e}); check the mount and permissions"
                    ),
                })?;
        }
        self.receiver.status()
    }

    fn location(&self) -> String {
        self.receiver.storage().location()
    }

    fn as_storage(self: Arc<Self>) -> Arc<dyn Storage> {
        if self.root.as_os_str().is_empty() {
            self.receiver.storage().clone()
        } else {
            Arc::new(LocalStorage::new(self.root.clone()))
        }
    }
}
