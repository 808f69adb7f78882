//! A read lock on the primary repository for the duration of a sync, in the repository's
//! lock format (`docs/repository-format.md`, "Locks"): it excludes only prune, so a prune
//! cannot delete or repack packs between the listing and the copy.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lightrag_backup::{BackupError, Storage};
use serde::{Deserialize, Serialize};

use crate::error::{ReplicationError, Result};

const LOCK_PREFIX: &str = "locks/";
const STALE_AFTER: Duration = Duration::from_secs(1800);
const REFRESH_EVERY: Duration = Duration::from_secs(600);

#[derive(Debug, Serialize, Deserialize)]
struct LockInfo {
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    graph: Option<String>,
    hostname: String,
    pid: u32,
    created: u64,
    refreshed: u64,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    if getrandom::fill(&mut b).is_err() {
        let n = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b = n.to_le_bytes()[..bytes.min(16)].to_vec();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A held read lock; deleted on drop.
#[derive(Debug)]
pub(crate) struct ReadLock {
    storage: Arc<dyn Storage>,
    key: String,
    info: LockInfo,
    last_refresh: Instant,
}

impl ReadLock {
    /// Put a read lock and wait (up to `wait`) while an older exclusive (prune) lock exists.
    pub(crate) fn acquire(storage: &Arc<dyn Storage>, wait: Duration) -> Result<ReadLock> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let key = format!("{LOCK_PREFIX}{nanos:020}-{}", random_hex(4));
        let info = LockInfo {
            kind: "read".into(),
            graph: None,
            hostname: hostname(),
            pid: std::process::id(),
            created: now_secs(),
            refreshed: now_secs(),
        };
        storage.put(&key, serde_json::to_vec(&info).unwrap_or_default())?;
        let lock = ReadLock {
            storage: storage.clone(),
            key,
            info,
            last_refresh: Instant::now(),
        };
        let started = Instant::now();
        loop {
            let mut blocked = false;
            for obj in storage.list(LOCK_PREFIX)? {
                if obj.key >= lock.key {
                    continue;
                }
                let other: LockInfo = match storage.get(&obj.key) {
                    Ok(b) => match serde_json::from_slice(&b) {
                        Ok(i) => i,
                        Err(_) => continue,
                    },
                    Err(BackupError::ObjectNotFound { .. }) => continue,
                    Err(e) => return Err(e.into()),
                };
                let stale = now_secs().saturating_sub(other.refreshed) > STALE_AFTER.as_secs();
                if other.kind == "exclusive" && !stale {
                    blocked = true;
                }
            }
            if !blocked {
                return Ok(lock);
            }
            if started.elapsed() >= wait {
                return Err(ReplicationError::Target {
                    target: storage.location(),
                    message: "a prune holds the primary repository; replication retries after it"
                        .into(),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Refresh the heartbeat when due (called between objects).
    pub(crate) fn refresh_if_due(&mut self) {
        if self.last_refresh.elapsed() < REFRESH_EVERY {
            return;
        }
        self.info.refreshed = now_secs();
        self.last_refresh = Instant::now();
        if let Err(e) = self.storage.put(
            &self.key,
            serde_json::to_vec(&self.info).unwrap_or_default(),
        ) {
            tracing::warn!(key = %self.key, error = %e, "Could not refresh replication read lock");
        }
    }
}

impl Drop for ReadLock {
    fn drop(&mut self) {
        if let Err(e) = self.storage.delete(&self.key) {
            tracing::warn!(key = %self.key, error = %e, "Could not remove replication read lock");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use lightrag_backup::{
        BackupError, InitOptions, LocalStorage, NoProgress, PruneOptions, Repository,
        RepositoryOptions, Storage,
    };

    use super::ReadLock;

    /// Our read lock is understood by lightrag-backup: a prune waits for it (and a prune's
    /// lock makes us wait).
    #[test]
    fn prune_waits_for_a_replication_lock() {
        let dir = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()));
        let repo = Repository::init(storage.clone(), &InitOptions::default(), None)
            .unwrap()
            .with_options(RepositoryOptions {
                lock_wait: Duration::from_millis(300),
                ..RepositoryOptions::default()
            });
        let lock = ReadLock::acquire(&storage, Duration::from_secs(1)).unwrap();
        let err = repo
            .prune(&PruneOptions::default(), &NoProgress)
            .unwrap_err();
        assert!(matches!(err, BackupError::Locked { .. }), "{err:?}");
        drop(lock);
        assert!(storage.list("locks/").unwrap().is_empty());
        repo.prune(&PruneOptions::default(), &NoProgress).unwrap();
    }

    #[test]
    fn a_running_prune_makes_the_sync_wait() {
        let dir = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()));
        let now = super::now_secs();
        let body = serde_json::json!({"kind": "exclusive", "hostname": super::hostname(),
            "pid": std::process::id(), "created": now, "refreshed": now});
        storage
            .put(
                "locks/00000000000000000001-aaaaaaaa",
                serde_json::to_vec(&body).unwrap(),
            )
            .unwrap();
        assert!(ReadLock::acquire(&storage, Duration::from_millis(300)).is_err());
        assert_eq!(
            storage.list("locks/").unwrap().len(),
            1,
            "our lock was removed"
        );
        storage
            .delete("locks/00000000000000000001-aaaaaaaa")
            .unwrap();
        drop(ReadLock::acquire(&storage, Duration::from_millis(300)).unwrap());
    }
}
