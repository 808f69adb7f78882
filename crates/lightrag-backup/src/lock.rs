//! Repository locks stored as objects (`locks/<time-ordered id>`), so they work on every
//! backend. Conflicting holders are served oldest first; a lock whose process is gone (same
//! host, dead pid) or whose heartbeat is older than the stale limit is removed.

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{BackupError, Result};
use crate::format::LOCK_PREFIX;
use crate::storage::Storage;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub(crate) enum LockKind {
    /// Backup of one graph: excludes other backups of that graph and prune.
    Backup { graph: String },
    /// Reads (restore, verify): exclude prune only.
    Read,
    /// Prune: excludes everything.
    Exclusive,
}

impl LockKind {
    fn conflicts(&self, other: &LockKind) -> bool {
        match (self, other) {
            (LockKind::Exclusive, _) | (_, LockKind::Exclusive) => true,
            (LockKind::Backup { graph: a }, LockKind::Backup { graph: b }) => a == b,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LockInfo {
    #[serde(flatten)]
    kind: LockKind,
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

pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        || !std::path::Path::new("/proc/self").exists()
}

/// A held lock; released (deleted) on drop.
#[derive(Debug)]
pub(crate) struct LockGuard {
    storage: Arc<dyn Storage>,
    key: String,
    stop: Option<mpsc::Sender<()>>,
    heartbeat: Option<JoinHandle<()>>,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(h) = self.heartbeat.take() {
            let _ = h.join();
        }
        if let Err(e) = self.storage.delete(&self.key) {
            tracing::warn!(key = %self.key, error = %e, "Could not remove repository lock");
        }
    }
}

pub(crate) fn acquire(
    storage: &Arc<dyn Storage>,
    kind: LockKind,
    wait: Duration,
    stale_after: Duration,
) -> Result<LockGuard> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let key = format!("{LOCK_PREFIX}{nanos:020}-{}", crate::crypto::random_hex(4));
    let host = hostname();
    let mut info = LockInfo {
        kind: kind.clone(),
        hostname: host.clone(),
        pid: std::process::id(),
        created: now_secs(),
        refreshed: now_secs(),
    };
    let body = |i: &LockInfo| serde_json::to_vec(i).unwrap_or_default();
    storage.put(&key, body(&info))?;
    // From here on the guard removes our lock on every exit path.
    let mut guard = LockGuard {
        storage: storage.clone(),
        key: key.clone(),
        stop: None,
        heartbeat: None,
    };
    let started = Instant::now();
    let mut sleep = Duration::from_millis(20);
    loop {
        let mut blocker = None;
        for obj in storage.list(LOCK_PREFIX)? {
            if obj.key >= key {
                continue;
            }
            let other: LockInfo = match storage.get(&obj.key) {
                Ok(b) => match serde_json::from_slice(&b) {
                    Ok(i) => i,
                    Err(_) => continue,
                },
                Err(BackupError::ObjectNotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            let stale = (other.hostname == host && !pid_alive(other.pid))
                || now_secs().saturating_sub(other.refreshed) > stale_after.as_secs();
            if stale {
                tracing::warn!(key = %obj.key, pid = other.pid, host = %other.hostname, "Removing stale repository lock");
                storage.delete(&obj.key)?;
                continue;
            }
            if kind.conflicts(&other.kind) {
                blocker = Some((obj.key, other));
                break;
            }
        }
        match blocker {
            None => break,
            Some((bkey, other)) => {
                if started.elapsed() >= wait {
                    return Err(BackupError::Locked {
                        holder: format!(
                            "{:?} lock held by pid {} on {} since {}s",
                            other.kind,
                            other.pid,
                            other.hostname,
                            now_secs().saturating_sub(other.created)
                        ),
                        key: bkey,
                    });
                }
                std::thread::sleep(sleep);
                sleep = (sleep * 2).min(Duration::from_millis(500));
            }
        }
    }
    // Heartbeat so long operations are not mistaken for stale ones.
    let (tx, rx) = mpsc::channel::<()>();
    let st = storage.clone();
    let hb_key = key.clone();
    let period = (stale_after / 3).max(Duration::from_secs(1));
    let handle = std::thread::Builder::new()
        .name("lightrag-lock-heartbeat".into())
        .spawn(move || {
            loop {
                match rx.recv_timeout(period) {
                    Err(RecvTimeoutError::Timeout) => {
                        info.refreshed = now_secs();
                        if let Err(e) = st.put(&hb_key, body(&info)) {
                            tracing::warn!(key = %hb_key, error = %e, "Could not refresh repository lock");
                        }
                    }
                    _ => return,
                }
            }
        })
        .map_err(|e| BackupError::io("spawn lock heartbeat thread", "", e))?;
    guard.stop = Some(tx);
    guard.heartbeat = Some(handle);
    Ok(guard)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::LocalStorage;

    #[test]
    fn conflicts_wait_and_stale_removed() {
        let dir = tempfile::tempdir().unwrap();
        let s: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()));
        let long = Duration::from_secs(3600);
        let a = acquire(
            &s,
            LockKind::Backup { graph: "g".into() },
            Duration::ZERO,
            long,
        )
        .unwrap();
        // different graph: fine; read: fine
        let b = acquire(
            &s,
            LockKind::Backup { graph: "h".into() },
            Duration::ZERO,
            long,
        )
        .unwrap();
        let r = acquire(&s, LockKind::Read, Duration::ZERO, long).unwrap();
        // same graph and exclusive: blocked
        assert!(matches!(
            acquire(
                &s,
                LockKind::Backup { graph: "g".into() },
                Duration::from_millis(50),
                long
            ),
            Err(BackupError::Locked { .. })
        ));
        assert!(matches!(
            acquire(&s, LockKind::Exclusive, Duration::ZERO, long),
            Err(BackupError::Locked { .. })
        ));
        drop((a, b, r));
        assert!(s.list(LOCK_PREFIX).unwrap().is_empty());
        // a lock of a dead process on this host is stale
        let dead = LockInfo {
            kind: LockKind::Exclusive,
            hostname: hostname(),
            pid: u32::MAX - 1,
            created: 0,
            refreshed: now_secs(),
        };
        s.put(
            "locks/00000000000000000001-dead",
            serde_json::to_vec(&dead).unwrap(),
        )
        .unwrap();
        let x = acquire(&s, LockKind::Exclusive, Duration::ZERO, long).unwrap();
        assert_eq!(s.list(LOCK_PREFIX).unwrap().len(), 1);
        drop(x);
    }
}
