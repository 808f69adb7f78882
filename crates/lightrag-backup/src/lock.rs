//! Repository locks stored as objects (`locks/<unix ns>-<8 hex>`), so they work on every
//! backend (`docs/repository-format.md`, "Locks").
//!
//! Protocol (restic's): put our lock, list `locks/` and read every other lock, whatever its
//! key. If any of them conflicts, delete ours, back off with random jitter and try again until
//! the wait budget is spent. Two contenders that write at the same moment both see each other
//! (each lists after its own put), both step back, and the jitter makes one of them win the
//! next round; neither can proceed while the other's lock is in place.
//!
//! Staleness never uses this host's clock: a lock is stale when the storage's own
//! last-modified time of it is older than the stale limit compared with the last-modified time
//! the storage gave to *our* lock, written a moment before the same listing. A process pid is
//! used only where it provably names the holder: same boot, same pid namespace (as seen through
//! our `/proc`), same uid, and the pid is gone or now belongs to a process started later.
//! A matching hostname alone proves nothing (containers share hostnames).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{BackupError, Result};
use crate::format::LOCK_PREFIX;
use crate::storage::Storage;

/// Lock bodies are a few hundred bytes; anything larger is not a lock of ours.
const MAX_LOCK_BODY: usize = 64 * 1024;
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// What an operation needs from the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[non_exhaustive]
pub enum LockKind {
    /// Backup of one graph: excludes other backups of that graph and prune.
    Backup {
        /// Graph id.
        graph: String,
    },
    /// Reads (restore, verify, replication): exclude prune only.
    Read,
    /// Prune, repair: excludes everything.
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
    /// Random id of the holding process (the holder's identity).
    #[serde(default)]
    instance: String,
    /// For display.
    hostname: String,
    /// For display, and for the same-namespace liveness check.
    pid: u32,
    /// Linux boot id of the holder's kernel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    boot_id: Option<String>,
    /// The holder's pid namespace (`pid:[inode]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pid_ns: Option<String>,
    /// The holder's uid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    uid: Option<u32>,
    /// The holder's start time (clock ticks after boot, `/proc/<pid>/stat` field 22).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start_ticks: Option<u64>,
    /// Holder's wall clock (display only; never used to judge staleness).
    created: u64,
    /// Holder's wall clock at the last heartbeat (display only).
    refreshed: u64,
    /// Heartbeat counter: every refresh changes the body.
    #[serde(default)]
    beat: u64,
}

/// Wall-clock milliseconds (they count time spent suspended).
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
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

/// This process's random instance id (stable for the life of the process).
pub(crate) fn instance_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| crate::crypto::random_hex(8))
}

/// Start time of `pid` in clock ticks after boot; `Ok(None)` when no such process exists.
fn start_ticks(pid: &str) -> std::io::Result<Option<u64>> {
    let stat = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    // `pid (comm) state ppid ...`: comm may contain anything, so split after the last `)`.
    let rest = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or_else(|| std::io::Error::other("unexpected /proc/<pid>/stat"))?;
    // Fields after comm start at field 3 (state); starttime is field 22.
    rest.split_whitespace()
        .nth(19)
        .and_then(|f| f.parse().ok())
        .map(Some)
        .ok_or_else(|| std::io::Error::other("unexpected /proc/<pid>/stat"))
}

/// Who we are, as far as this host can prove it.
#[derive(Debug, Clone, Default)]
struct Identity {
    boot_id: Option<String>,
    pid_ns: Option<String>,
    uid: Option<u32>,
    start_ticks: Option<u64>,
}

impl Identity {
    fn current() -> Identity {
        use std::os::unix::fs::MetadataExt;
        // Our /proc must be the one of our own pid namespace for pids to mean anything.
        let own_proc = std::fs::read_link("/proc/self")
            .ok()
            .is_some_and(|p| p.as_os_str() == std::process::id().to_string().as_str());
        if !own_proc {
            return Identity::default();
        }
        Identity {
            boot_id: std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty()),
            pid_ns: std::fs::read_link("/proc/self/ns/pid")
                .ok()
                .map(|p| p.to_string_lossy().into_owned()),
            uid: std::fs::metadata("/proc/self").ok().map(|m| m.uid()),
            start_ticks: start_ticks("self").ok().flatten(),
        }
    }

    /// Whether `other`'s holder is provably gone: same kernel boot, same pid namespace, same
    /// uid (so `/proc` visibility rules cannot hide it), and its pid is absent or was reused
    /// by a process started at another time. Anything short of that proves nothing.
    fn proves_gone(&self, other: &LockInfo) -> bool {
        let same =
            |a: &Option<String>, b: &Option<String>| matches!((a, b), (Some(x), Some(y)) if x == y);
        if !same(&self.boot_id, &other.boot_id)
            || !same(&self.pid_ns, &other.pid_ns)
            || self.uid.is_none()
            || self.uid != other.uid
            || self.start_ticks.is_none()
        {
            return false;
        }
        let Some(theirs) = other.start_ticks else {
            return false;
        };
        match start_ticks(&other.pid.to_string()) {
            Ok(None) => true,
            Ok(Some(now)) => now != theirs,
            Err(_) => false,
        }
    }
}

fn encode(info: &LockInfo) -> Vec<u8> {
    serde_json::to_vec(info).unwrap_or_default()
}

/// A held repository lock, refreshed by a heartbeat thread and deleted when dropped (or
/// [`released`](RepositoryLock::release)).
///
/// Every repository operation takes one internally; other crates that read or write a
/// repository's objects directly (replication) take one with [`RepositoryLock::acquire`] so
/// that they follow the same protocol.
#[derive(Debug)]
pub struct RepositoryLock {
    storage: Arc<dyn Storage>,
    key: String,
    released: bool,
    /// Wall-clock milliseconds (they count time spent suspended) at the start of the last
    /// successful write of the lock object: the write at acquisition, then each heartbeat.
    refreshed_at: Arc<AtomicU64>,
    /// Set by the heartbeat when it woke to find the lock not refreshed for half the stale
    /// limit (the process was suspended, or every refresh failed): another process may have
    /// removed it as stale and gone ahead, so it is never written again, and
    /// [`check`](RepositoryLock::check) fails from then on.
    lost: Arc<AtomicBool>,
    stale_after: Duration,
    stop: Option<mpsc::Sender<()>>,
    heartbeat: Option<JoinHandle<()>>,
}

pub(crate) type LockGuard = RepositoryLock;

impl RepositoryLock {
    /// Take a lock of `kind` on the repository in `storage`, waiting up to `wait` for
    /// conflicting holders (backing off with jitter). Locks whose storage timestamp is older
    /// than `stale_after` (see the module docs) are removed. A conflict still present after
    /// `wait` is [`BackupError::Locked`].
    pub fn acquire(
        storage: &Arc<dyn Storage>,
        kind: LockKind,
        wait: Duration,
        stale_after: Duration,
    ) -> Result<RepositoryLock> {
        acquire(storage, kind, wait, stale_after)
    }

    /// The lock object's key (`locks/...`).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Check that the lock is still ours before a step that others must not see half done
    /// (publishing an index or a manifest, deleting packs): the lock object still exists and
    /// was refreshed within half the stale limit. A holder that was suspended, or whose
    /// refreshes kept failing, may have been judged stale and removed by another process that
    /// then went ahead; it must stop here instead of publishing over that process's work.
    pub fn check(&self) -> Result<()> {
        let age = now_ms().saturating_sub(self.refreshed_at.load(Ordering::SeqCst));
        let reason = if self.lost.load(Ordering::SeqCst) || age >= half_stale_ms(self.stale_after) {
            Some(format!(
                "not refreshed for {}s (stale after {}s)",
                age / 1000,
                self.stale_after.as_secs()
            ))
        } else if !self.storage.exists(&self.key)? {
            Some("removed by another process".to_owned())
        } else {
            None
        };
        match reason {
            None => Ok(()),
            Some(reason) => Err(BackupError::LockLost {
                key: self.key.clone(),
                reason,
            }),
        }
    }

    /// Stop the heartbeat and delete the lock, reporting a failure to delete it.
    pub fn release(mut self) -> Result<()> {
        self.stop_heartbeat();
        self.released = true;
        self.storage.delete(&self.key)
    }

    fn stop_heartbeat(&mut self) {
        drop(self.stop.take());
        if let Some(h) = self.heartbeat.take() {
            let _ = h.join();
        }
    }
}

impl Drop for RepositoryLock {
    fn drop(&mut self) {
        self.stop_heartbeat();
        if self.released {
            return;
        }
        if let Err(e) = self.storage.delete(&self.key) {
            tracing::warn!(key = %self.key, error = %lightrag_config::ErrorChain(&e), "Could not remove repository lock");
        }
    }
}

/// How long a holder may go without a successful refresh before it must take its lock for
/// lost: half the stale limit (others take it for stale at the whole limit), at least 1 s.
fn half_stale_ms(stale_after: Duration) -> u64 {
    ((stale_after / 2).as_millis() as u64).max(1000)
}

/// A random duration in `[d/2, d*3/2)`.
fn jittered(d: Duration) -> Duration {
    let r: [u8; 8] = crate::crypto::random_bytes();
    let frac = u64::from_le_bytes(r) as f64 / u64::MAX as f64;
    d.mul_f64(0.5 + frac)
}

/// A conflicting lock: its key and a description of its holder.
type Conflict = (String, String);

/// After our lock at `own` is in place: remove stale locks, return the first conflicting one.
fn find_conflict(
    storage: &Arc<dyn Storage>,
    own: &str,
    kind: &LockKind,
    stale_after: Duration,
    me: &Identity,
) -> Result<Option<Conflict>> {
    let listed = storage.list_modified(LOCK_PREFIX)?;
    // The storage's "now": the time it gave our lock, written just before this listing.
    let storage_now = listed
        .iter()
        .find(|(o, _)| o.key == own)
        .and_then(|(_, m)| *m);
    for (obj, modified) in listed {
        if obj.key == own {
            continue;
        }
        let body = if obj.size > MAX_LOCK_BODY as u64 {
            Vec::new() // not a lock of ours: never read it whole
        } else {
            match storage.get(&obj.key) {
                Ok(b) => b,
                Err(BackupError::ObjectNotFound { .. }) => continue,
                Err(e) => return Err(e),
            }
        };
        let other: Option<LockInfo> = if body.len() > MAX_LOCK_BODY {
            None
        } else {
            serde_json::from_slice(&body).ok()
        };
        let age = match (storage_now, modified) {
            (Some(now), Some(m)) => now.duration_since(m).ok(),
            _ => None,
        };
        let stale = age.is_some_and(|a| a > stale_after);
        let gone = other.as_ref().is_some_and(|o| me.proves_gone(o));
        if stale || gone {
            tracing::warn!(
                key = %obj.key,
                age_secs = age.map(|a| a.as_secs()),
                holder_gone = gone,
                "Removing stale repository lock"
            );
            storage.delete(&obj.key)?;
            continue;
        }
        let holder = match &other {
            Some(o) if !kind.conflicts(&o.kind) => continue,
            Some(o) => format!(
                "{:?} lock of process {} (pid {} on {}), {}",
                o.kind,
                if o.instance.is_empty() {
                    "?"
                } else {
                    &o.instance
                },
                o.pid,
                o.hostname,
                match age {
                    Some(a) => format!("last refreshed {}s ago", a.as_secs()),
                    None => "refresh time unknown".to_owned(),
                }
            ),
            // Unreadable (another version's format?): assume it conflicts until it goes stale.
            None => "an unreadable lock".to_owned(),
        };
        return Ok(Some((obj.key, holder)));
    }
    Ok(None)
}

pub(crate) fn acquire(
    storage: &Arc<dyn Storage>,
    kind: LockKind,
    wait: Duration,
    stale_after: Duration,
) -> Result<RepositoryLock> {
    let me = Identity::current();
    let started = Instant::now();
    let mut backoff = FIRST_BACKOFF;
    loop {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let key = format!("{LOCK_PREFIX}{nanos:020}-{}", crate::crypto::random_hex(4));
        let written_at = now_ms();
        let info = LockInfo {
            kind: kind.clone(),
            instance: instance_id().to_owned(),
            hostname: hostname(),
            pid: std::process::id(),
            boot_id: me.boot_id.clone(),
            pid_ns: me.pid_ns.clone(),
            uid: me.uid,
            start_ticks: me.start_ticks,
            created: now_secs(),
            refreshed: now_secs(),
            beat: 0,
        };
        if let Err(e) = storage.put(&key, encode(&info)) {
            // The put may have stored the object and only lost the reply (a timeout, a
            // dropped connection): left there, a lock of this live process would block every
            // conflicting operation until it is stale. Remove it (best effort) before failing.
            if let Err(d) = storage.delete(&key) {
                tracing::warn!(key = %key, error = %d, "Could not remove a lock whose write failed");
            }
            return Err(e);
        }
        // From here on the guard removes our lock on every exit path.
        let mut guard = RepositoryLock {
            storage: storage.clone(),
            key: key.clone(),
            released: false,
            refreshed_at: Arc::new(AtomicU64::new(written_at)),
            lost: Arc::new(AtomicBool::new(false)),
            stale_after,
            stop: None,
            heartbeat: None,
        };
        let Some((bkey, holder)) = find_conflict(storage, &key, &kind, stale_after, &me)? else {
            start_heartbeat(&mut guard, info, stale_after)?;
            return Ok(guard);
        };
        // Step back so the other holder (or contender) can proceed.
        guard.release()?;
        let elapsed = started.elapsed();
        if elapsed >= wait {
            return Err(BackupError::Locked { holder, key: bkey });
        }
        std::thread::sleep(jittered(backoff).min(wait - elapsed));
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Refresh the lock every third of the stale limit so long operations are not taken for
/// stale ones (each refresh is a new put, so the storage's last-modified time moves).
fn start_heartbeat(
    guard: &mut RepositoryLock,
    mut info: LockInfo,
    stale_after: Duration,
) -> Result<()> {
    let (tx, rx) = mpsc::channel::<()>();
    let st = guard.storage.clone();
    let hb_key = guard.key.clone();
    let refreshed_at = guard.refreshed_at.clone();
    let lost = guard.lost.clone();
    let period = (stale_after / 3).max(Duration::from_secs(1));
    // After a failed refresh, try again soon: the lock must not drift towards stale.
    let retry = (period / 10).clamp(Duration::from_millis(200), Duration::from_secs(5));
    let handle = std::thread::Builder::new()
        .name("lightrag-lock-heartbeat".into())
        .spawn(move || {
            let mut wait = period;
            loop {
                match rx.recv_timeout(wait) {
                    Err(RecvTimeoutError::Timeout) => {
                        // Suspended past half the stale limit (or every refresh failed since):
                        // another process may have removed the lock as stale and gone ahead.
                        // Writing it again would hide that from `check`: stop instead.
                        let started = now_ms();
                        let age = started.saturating_sub(refreshed_at.load(Ordering::SeqCst));
                        if age >= half_stale_ms(stale_after) {
                            lost.store(true, Ordering::SeqCst);
                            tracing::warn!(key = %hb_key, age_s = age / 1000,
                                "Repository lock not refreshed for half its stale limit; no longer refreshed, treated as lost");
                            return;
                        }
                        info.refreshed = now_secs();
                        info.beat += 1;
                        match st.put(&hb_key, encode(&info)) {
                            Ok(()) => {
                                refreshed_at.store(started, Ordering::SeqCst);
                                wait = period;
                            }
                            Err(e) => {
                                tracing::warn!(key = %hb_key, error = %lightrag_config::ErrorChain(&e), "Could not refresh repository lock");
                                wait = retry;
                            }
                        }
                    }
                    _ => return,
                }
            }
        })
        .map_err(|e| BackupError::io("spawn lock heartbeat thread", "", e))?;
    guard.stop = Some(tx);
    guard.heartbeat = Some(handle);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

    use super::*;
    use crate::storage::{LocalStorage, ObjectInfo};

    const LONG: Duration = Duration::from_secs(3600);

    fn local() -> (tempfile::TempDir, Arc<dyn Storage>) {
        let dir = tempfile::tempdir().unwrap();
        let s: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()));
        (dir, s)
    }

    fn other_lock(kind: LockKind, hostname: String, pid: u32) -> Vec<u8> {
        encode(&LockInfo {
            kind,
            instance: "0123456789abcdef".into(),
            hostname,
            pid,
            boot_id: None,
            pid_ns: None,
            uid: None,
            start_ticks: None,
            created: now_secs(),
            refreshed: now_secs(),
            beat: 0,
        })
    }

    #[test]
    fn conflicts_wait_and_release() {
        let (_d, s) = local();
        let a = acquire(
            &s,
            LockKind::Backup { graph: "g".into() },
            Duration::ZERO,
            LONG,
        )
        .unwrap();
        // different graph: fine; read: fine
        let b = acquire(
            &s,
            LockKind::Backup { graph: "h".into() },
            Duration::ZERO,
            LONG,
        )
        .unwrap();
        let r = acquire(&s, LockKind::Read, Duration::ZERO, LONG).unwrap();
        // same graph and exclusive: blocked, and the loser leaves no lock behind
        assert!(matches!(
            acquire(
                &s,
                LockKind::Backup { graph: "g".into() },
                Duration::from_millis(200),
                LONG
            ),
            Err(BackupError::Locked { .. })
        ));
        assert!(matches!(
            acquire(&s, LockKind::Exclusive, Duration::ZERO, LONG),
            Err(BackupError::Locked { .. })
        ));
        assert_eq!(s.list(LOCK_PREFIX).unwrap().len(), 3);
        drop((a, b));
        r.release().unwrap();
        assert!(s.list(LOCK_PREFIX).unwrap().is_empty());
    }

    /// Injects a conflicting lock of another process right after our lock is put, before we
    /// list: the other process took its timestamp later (its key sorts after ours) but wrote
    /// and listed before we wrote. The old "only look at older keys" rule let both proceed.
    #[derive(Debug)]
    struct Interleave {
        inner: Arc<dyn Storage>,
        injected: AtomicBool,
    }

    impl Storage for Interleave {
        fn put(&self, key: &str, data: Vec<u8>) -> Result<()> {
            self.inner.put(key, data)?;
            if key.starts_with(LOCK_PREFIX) && !self.injected.swap(true, Ordering::SeqCst) {
                let later = format!("{key}-zz");
                self.inner.put(
                    &later,
                    other_lock(LockKind::Exclusive, "elsewhere".into(), 1),
                )?;
            }
            Ok(())
        }
        fn get(&self, key: &str) -> Result<Vec<u8>> {
            self.inner.get(key)
        }
        fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
            self.inner.get_range(key, offset, len)
        }
        fn exists(&self, key: &str) -> Result<bool> {
            self.inner.exists(key)
        }
        fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
            self.inner.list(prefix)
        }
        fn list_modified(&self, prefix: &str) -> Result<Vec<(ObjectInfo, Option<SystemTime>)>> {
            self.inner.list_modified(prefix)
        }
        fn delete(&self, key: &str) -> Result<()> {
            self.inner.delete(key)
        }
        fn location(&self) -> String {
            self.inner.location()
        }
    }

    /// Review finding: a holder suspended past the stale limit (or whose refreshes kept
    /// failing) may have been removed by another process, which then went ahead. It must
    /// notice before it publishes or deletes anything.
    #[test]
    fn a_holder_notices_a_lost_lock_before_publishing() {
        let (_d, s) = local();
        let lock = acquire(&s, LockKind::Exclusive, Duration::ZERO, LONG).unwrap();
        lock.check().unwrap();
        // Removed by another process that judged it stale.
        s.delete(lock.key()).unwrap();
        let err = lock.check().unwrap_err();
        assert!(matches!(err, BackupError::LockLost { .. }), "{err:?}");
        assert!(
            err.to_string().contains("removed by another process"),
            "{err}"
        );
        drop(lock);

        // Not refreshed for half the stale limit (suspended, or every refresh failed).
        let stale = Duration::from_secs(60);
        let lock = acquire(&s, LockKind::Read, Duration::ZERO, stale).unwrap();
        lock.check().unwrap();
        lock.refreshed_at.store(now_ms() - 31_000, Ordering::SeqCst);
        let err = lock.check().unwrap_err();
        assert!(err.to_string().contains("not refreshed for"), "{err}");
    }

    /// Review finding: a holder suspended past the stale limit woke with its heartbeat due,
    /// which wrote the lock again (after another process had removed it as stale and gone
    /// ahead), so `check` passed: a backup then indexed packs that process was deleting.
    #[test]
    fn a_heartbeat_late_by_half_the_stale_limit_never_writes_the_lock_again() {
        let (_d, s) = local();
        let lock = acquire(&s, LockKind::Read, Duration::ZERO, Duration::from_secs(3)).unwrap();
        lock.check().unwrap();
        // Suspended for 2 s (the heartbeat runs every second), meanwhile removed as stale.
        lock.refreshed_at.store(now_ms() - 2_000, Ordering::SeqCst);
        s.delete(lock.key()).unwrap();
        std::thread::sleep(Duration::from_millis(1_600));
        assert!(
            !s.exists(lock.key()).unwrap(),
            "the heartbeat wrote the lock again"
        );
        let err = lock.check().unwrap_err();
        assert!(matches!(err, BackupError::LockLost { .. }), "{err:?}");
    }

    #[test]
    fn a_lock_written_between_our_put_and_list_is_seen_whatever_its_key() {
        let (_d, inner) = local();
        let s: Arc<dyn Storage> = Arc::new(Interleave {
            inner: inner.clone(),
            injected: AtomicBool::new(false),
        });
        let err = acquire(&s, LockKind::Read, Duration::from_millis(300), LONG).unwrap_err();
        assert!(matches!(err, BackupError::Locked { .. }), "{err:?}");
        let left = inner.list(LOCK_PREFIX).unwrap();
        assert_eq!(
            left.len(),
            1,
            "only the other holder's lock remains: {left:?}"
        );
        assert!(left[0].key.ends_with("-zz"));
    }

    #[test]
    fn a_lock_with_a_key_from_the_future_still_conflicts() {
        // Clock skew: the other host's clock is ahead, so its key sorts after ours.
        let (_d, s) = local();
        s.put(
            "locks/99999999999999999999-aaaaaaaa",
            other_lock(LockKind::Exclusive, "skewed".into(), 7),
        )
        .unwrap();
        assert!(matches!(
            acquire(
                &s,
                LockKind::Backup { graph: "g".into() },
                Duration::ZERO,
                LONG
            ),
            Err(BackupError::Locked { .. })
        ));
    }

    #[test]
    fn exclusive_and_backup_never_overlap() {
        let (_d, s) = local();
        let inside = Arc::new(AtomicI32::new(0));
        let overlaps = Arc::new(Mutex::new(Vec::new()));
        let mut handles = Vec::new();
        for t in 0..2 {
            let s = s.clone();
            let inside = inside.clone();
            let overlaps = overlaps.clone();
            handles.push(std::thread::spawn(move || {
                let mut held = 0;
                for _ in 0..25 {
                    let kind = if t == 0 {
                        LockKind::Exclusive
                    } else {
                        LockKind::Backup { graph: "g".into() }
                    };
                    let lock = acquire(&s, kind, Duration::from_secs(60), LONG).unwrap();
                    held += 1;
                    let n = inside.fetch_add(1, Ordering::SeqCst);
                    if n != 0 {
                        overlaps.lock().unwrap().push(n);
                    }
                    std::thread::sleep(Duration::from_millis(2));
                    inside.fetch_sub(1, Ordering::SeqCst);
                    drop(lock);
                }
                held
            }));
        }
        let held: i32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(held, 50, "every acquire eventually succeeded (no livelock)");
        assert!(overlaps.lock().unwrap().is_empty(), "{:?}", overlaps.lock());
        assert!(s.list(LOCK_PREFIX).unwrap().is_empty());
    }

    #[test]
    fn a_fresh_lock_of_a_dead_pid_with_our_hostname_is_not_removed() {
        // Another container with the same hostname: its pid means nothing here.
        let (_d, s) = local();
        s.put(
            "locks/00000000000000000001-dead",
            other_lock(LockKind::Exclusive, hostname(), u32::MAX - 1),
        )
        .unwrap();
        assert!(matches!(
            acquire(&s, LockKind::Read, Duration::from_millis(100), LONG),
            Err(BackupError::Locked { .. })
        ));
        assert!(s.exists("locks/00000000000000000001-dead").unwrap());
    }

    #[test]
    fn a_lock_of_a_gone_process_in_our_own_namespace_is_removed() {
        let me = Identity::current();
        if me.start_ticks.is_none() {
            return; // no /proc of our own: nothing provable here
        }
        let (_d, s) = local();
        let mut info: LockInfo =
            serde_json::from_slice(&other_lock(LockKind::Exclusive, hostname(), u32::MAX - 1))
                .unwrap();
        info.boot_id = me.boot_id.clone();
        info.pid_ns = me.pid_ns.clone();
        info.uid = me.uid;
        info.start_ticks = Some(1);
        s.put("locks/00000000000000000001-gone", encode(&info))
            .unwrap();
        // Our own pid with another start time: the pid was reused.
        info.pid = std::process::id();
        s.put("locks/00000000000000000002-reused", encode(&info))
            .unwrap();
        let x = acquire(&s, LockKind::Exclusive, Duration::ZERO, LONG).unwrap();
        assert_eq!(s.list(LOCK_PREFIX).unwrap().len(), 1);
        drop(x);
    }

    #[test]
    fn a_lock_is_stale_by_the_storage_clock_only() {
        let dir = tempfile::tempdir().unwrap();
        let s: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()));
        // Its body claims it was refreshed just now (holder clock ahead), but the storage last
        // saw it written two hours ago.
        s.put(
            "locks/00000000000000000001-old",
            other_lock(LockKind::Exclusive, "elsewhere".into(), 1),
        )
        .unwrap();
        let f = std::fs::File::options()
            .write(true)
            .open(dir.path().join("locks/00000000000000000001-old"))
            .unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(7200))
            .unwrap();
        let x = acquire(&s, LockKind::Exclusive, Duration::ZERO, LONG / 2).unwrap();
        assert_eq!(s.list(LOCK_PREFIX).unwrap().len(), 1);
        drop(x);
        // A lock whose body says "refreshed long ago" but which the storage saw written just
        // now is fresh.
        let mut body: LockInfo =
            serde_json::from_slice(&other_lock(LockKind::Exclusive, "behind".into(), 1)).unwrap();
        body.refreshed = 1;
        body.created = 1;
        s.put("locks/00000000000000000002-behind", encode(&body))
            .unwrap();
        assert!(matches!(
            acquire(&s, LockKind::Read, Duration::ZERO, Duration::from_secs(60)),
            Err(BackupError::Locked { .. })
        ));
    }
}
