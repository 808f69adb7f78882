//! The sync engine: copy what a target lacks, data then index then manifests (oldest
//! snapshot first), so a target never lists a snapshot whose data it does not hold.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lightrag_backup::{BackupError, LockKind, RepositoryLock, RepositoryOptions, Storage};
use serde::{Deserialize, Serialize};

use crate::error::{ReplicationError, Result};
use crate::keys::{self, CONFIG_KEY, DATA_PREFIX, INDEX_PREFIX, ObjectKind, SNAPSHOT_PREFIX};
use crate::lag;
use crate::receiver::{Accepted, config_repository_id, content_hash};
use crate::store::ReplicaStore;

/// Called after each object the target stored, with its key (test hook; only with the
/// `test-hooks` feature).
#[cfg(any(test, feature = "test-hooks"))]
#[derive(Clone)]
pub struct SentHook(pub Arc<dyn Fn(&str) + Send + Sync>);

#[cfg(any(test, feature = "test-hooks"))]
impl std::fmt::Debug for SentHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SentHook")
    }
}

/// Test hooks: only with the `test-hooks` feature, which release builds never enable.
#[cfg(any(test, feature = "test-hooks"))]
#[derive(Debug, Clone, Default)]
pub struct SyncHooks {
    /// Called after each stored object (e.g. to kill the target mid-sync).
    pub after_sent: Option<SentHook>,
    /// Stop with [`ReplicationError::Interrupted`] once this many objects were sent in the
    /// attempt (simulates a crash or a killed target).
    pub fail_after_objects: Option<u64>,
    /// Flip one bit of the body of objects whose key contains this string, after the sender
    /// hashed it (simulates corruption in transit).
    pub corrupt_keys_containing: Option<String>,
}

#[cfg(any(test, feature = "test-hooks"))]
impl SyncHooks {
    /// `body` with one bit flipped when `key` contains `corrupt_keys_containing`.
    fn corrupt(&self, key: &str, mut body: Vec<u8>) -> Vec<u8> {
        let mid = body.len() / 2;
        if let Some(pat) = &self.corrupt_keys_containing
            && key.contains(pat.as_str())
            && let Some(b) = body.get_mut(mid)
        {
            *b ^= 0x01;
        }
        body
    }
}

/// Default of [`SyncOptions::delete_grace`]: 7 days.
pub const DEFAULT_DELETE_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);

/// How a sync runs.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Objects copied in parallel (at least 1).
    pub concurrency: usize,
    /// Average upload rate bound in bytes per second (`None`: unlimited).
    pub bandwidth_limit: Option<u64>,
    /// Keep on the target, for ever, the snapshots the primary forgot (an archive target
    /// keeps more). Off by default: forgets replicate after [`Self::delete_grace`].
    pub keep_forgotten: bool,
    /// How long the target keeps a snapshot after a sync first found it forgotten on the
    /// primary (default 7 days, `LIGHTRAG_REPLICATION_DELETE_GRACE`): a mistaken or malicious
    /// forget on the primary does not destroy the replicas' copies at once. Zero mirrors
    /// forgets at once.
    pub delete_grace: Duration,
    /// When each snapshot kept on the target after a forget was first found forgotten (unix
    /// ms), as returned by the previous attempt in [`SyncOutcome::forgotten_since`]
    /// (persisted in `replication_state.forgotten_since`). A forgotten snapshot absent here
    /// starts its grace now.
    pub forgotten_since: BTreeMap<String, i64>,
    /// The clock (unix ms) used for the delete grace; `None` = the system clock (tests
    /// inject time here).
    pub now_ms: Option<i64>,
    /// Take a read lock on the primary (excludes a concurrent prune). On by default.
    pub lock_primary: bool,
    /// How long to wait for a running prune on the primary.
    pub lock_wait: Duration,
    /// Set to stop the attempt between objects ([`ReplicationError::Interrupted`]).
    pub cancel: Option<Arc<AtomicBool>>,
    /// Newest snapshot known to be on the target (from `replication_state`): when the
    /// target cannot be listed, older primary snapshots count as present for the lag.
    pub assume_synced_through: Option<String>,
    /// Test hooks (only with the `test-hooks` feature).
    #[cfg(any(test, feature = "test-hooks"))]
    pub hooks: SyncHooks,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            concurrency: 4,
            bandwidth_limit: None,
            keep_forgotten: false,
            delete_grace: DEFAULT_DELETE_GRACE,
            forgotten_since: BTreeMap::new(),
            now_ms: None,
            lock_primary: true,
            lock_wait: Duration::from_secs(600),
            cancel: None,
            assume_synced_through: None,
            #[cfg(any(test, feature = "test-hooks"))]
            hooks: SyncHooks::default(),
        }
    }
}

/// What one sync attempt of (graph, target) did. Turned into an event and metrics by the
/// server; `error` is set when the attempt failed (everything sent before it stays valid).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncOutcome {
    /// Graph.
    pub graph_id: String,
    /// Target location (never contains a secret).
    pub target: String,
    /// Start, unix ms.
    pub started_at_ms: i64,
    /// Duration of the attempt.
    pub duration_ms: u64,
    /// Objects sent (config, packs, indexes, manifests).
    pub objects_sent: u64,
    /// Objects the target already held (not sent).
    pub objects_skipped: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Manifests sent.
    pub snapshots_sent: u64,
    /// Manifests deleted on the target (forget replicated once the delete grace passed).
    pub snapshots_deleted: u64,
    /// Manifests the primary forgot that the target keeps (within the delete grace, or for
    /// ever with `keep_forgotten`).
    #[serde(default)]
    pub snapshots_retained: u64,
    /// The forgotten snapshots the target keeps within the grace, with the time each was
    /// first found forgotten (unix ms): pass it back as [`SyncOptions::forgotten_since`] on
    /// the next attempt. `None` when the attempt stopped before comparing (keep the
    /// previous value).
    #[serde(default)]
    pub forgotten_since: Option<BTreeMap<String, i64>>,
    /// Snapshots of the graph on the primary.
    pub primary_snapshots: u64,
    /// Newest primary snapshot present on the target after the attempt.
    pub last_synced_snapshot: Option<String>,
    /// Lag after the attempt (ms): age of the oldest primary snapshot not on the target.
    pub lag_ms: i64,
    /// `false` when the primary could not be listed (then `lag_ms` means nothing).
    pub lag_known: bool,
    /// Error, when the attempt failed.
    pub error: Option<String>,
    /// The failure means the target is unreachable or rejected the key.
    pub target_unreachable: bool,
    /// The failure was an authentication failure.
    pub unauthenticated: bool,
}

impl SyncOutcome {
    /// Whether the attempt succeeded.
    pub fn is_success(&self) -> bool {
        self.error.is_none()
    }
}

/// Delay to wait before sending more, so that `bytes` sent since `elapsed` started stay
/// within `limit` bytes/s on average.
pub fn throttle_delay(elapsed: Duration, bytes: u64, limit: u64) -> Duration {
    if limit == 0 {
        return Duration::ZERO;
    }
    let due = Duration::from_secs_f64(bytes as f64 / limit as f64);
    due.saturating_sub(elapsed)
}

#[derive(Debug)]
struct Throttle {
    limit: Option<u64>,
    start: Instant,
    bytes: Mutex<u64>,
}

impl Throttle {
    fn wait(&self, n: u64) {
        let Some(limit) = self.limit else { return };
        let total = {
            let mut b = self
                .bytes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *b += n;
            *b
        };
        let d = throttle_delay(self.start.elapsed(), total, limit);
        if !d.is_zero() {
            std::thread::sleep(d);
        }
    }
}

/// A read lock on the primary (the repository's own lock, kind `read`): it excludes only
/// prune, so a prune cannot delete or repack packs between the listing and the copy.
fn read_lock(primary: &Arc<dyn Storage>, wait: Duration) -> Result<RepositoryLock> {
    Ok(RepositoryLock::acquire(
        primary,
        LockKind::Read,
        wait,
        RepositoryOptions::default().stale_lock_after,
    )?)
}

struct Run<'a> {
    primary: &'a dyn Storage,
    target: &'a dyn ReplicaStore,
    opts: &'a SyncOptions,
    throttle: Throttle,
    #[cfg(any(test, feature = "test-hooks"))]
    reserved: AtomicU64,
    sent: AtomicU64,
    skipped: AtomicU64,
    bytes: AtomicU64,
    vanished: AtomicU64,
}

impl Run<'_> {
    fn stop_requested(&self) -> Option<ReplicationError> {
        if self
            .opts
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            return Some(ReplicationError::Interrupted {
                sent: self.sent.load(Ordering::Relaxed),
            });
        }
        None
    }

    /// Copy one object. `Ok(false)` when it vanished from the primary.
    fn copy(&self, key: &str) -> Result<bool> {
        if let Some(e) = self.stop_requested() {
            return Err(e);
        }
        let body = match self.primary.get(key) {
            Ok(b) => b,
            Err(BackupError::ObjectNotFound { .. }) => {
                self.vanished.fetch_add(1, Ordering::Relaxed);
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        };
        let hash = content_hash(&body);
        if let Ok(ObjectKind::Pack { id }) = keys::parse_key(key)
            && id != hash
        {
            return Err(ReplicationError::HashMismatch {
                key: key.to_owned(),
                reason: "the primary's copy does not match its pack id (not sent)".into(),
            });
        }
        #[cfg(any(test, feature = "test-hooks"))]
        if let Some(limit) = self.opts.hooks.fail_after_objects
            && self.reserved.fetch_add(1, Ordering::SeqCst) >= limit
        {
            return Err(ReplicationError::Interrupted {
                sent: self.sent.load(Ordering::SeqCst),
            });
        }
        #[cfg(any(test, feature = "test-hooks"))]
        let body = self.opts.hooks.corrupt(key, body);
        let n = body.len() as u64;
        self.throttle.wait(n);
        match self.target.send(key, body, &hash)? {
            Accepted::Stored => {
                self.sent.fetch_add(1, Ordering::SeqCst);
                self.bytes.fetch_add(n, Ordering::Relaxed);
                #[cfg(any(test, feature = "test-hooks"))]
                if let Some(hook) = &self.opts.hooks.after_sent {
                    (hook.0)(key);
                }
            }
            Accepted::AlreadyPresent => {
                self.skipped.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(true)
    }

    /// Copy `keys` with bounded concurrency; the first error stops the others.
    fn copy_all(&self, keys_: &[String]) -> Result<()> {
        let workers = self.opts.concurrency.max(1).min(keys_.len());
        if workers <= 1 {
            for k in keys_ {
                self.copy(k)?;
            }
            return Ok(());
        }
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let first_err: Mutex<Option<ReplicationError>> = Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    while !stop.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(k) = keys_.get(i) else { break };
                        if let Err(e) = self.copy(k) {
                            stop.store(true, Ordering::Relaxed);
                            let mut slot = first_err
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner);
                            if slot.is_none() {
                                *slot = Some(e);
                            }
                            break;
                        }
                    }
                });
            }
        });
        match first_err
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Snapshot ids of `graph` under a listing, oldest first.
fn snapshot_ids(objs: &[lightrag_backup::ObjectInfo], graph: &str) -> Vec<String> {
    let mut ids: Vec<String> = objs
        .iter()
        .filter_map(|o| match keys::parse_key(&o.key) {
            Ok(ObjectKind::Snapshot { graph: g, id }) if g == graph => Some(id),
            _ => None,
        })
        .collect();
    ids.sort();
    ids
}

fn now_ms() -> i64 {
    lightrag_recovery_db::Timestamp::now().unix_millis()
}

/// Copy the repository config (first: the copy is then an openable repository), refusing a
/// target that holds another repository. Returns whether it was sent.
fn sync_config(run: &Run<'_>) -> Result<()> {
    let primary_cfg = run.primary.get(CONFIG_KEY)?;
    let primary_id = config_repository_id(&primary_cfg).ok_or_else(|| {
        ReplicationError::Backup(BackupError::NotARepository {
            location: run.primary.location(),
        })
    })?;
    match run.target.get(CONFIG_KEY) {
        Ok(existing) => {
            let found = config_repository_id(&existing).unwrap_or_default();
            if found != primary_id {
                return Err(ReplicationError::RepositoryMismatch {
                    target: run.target.location(),
                    found,
                    expected: primary_id,
                });
            }
            run.skipped.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        Err(ReplicationError::Backup(BackupError::ObjectNotFound { .. })) => {
            run.copy(CONFIG_KEY).map(|_| ())
        }
        Err(e) => Err(e),
    }
}

/// Keys under `prefix` on the primary that the target lacks (one listing on each side).
fn missing(run: &Run<'_>, prefix: &str) -> Result<Vec<String>> {
    let have: BTreeSet<String> = run
        .target
        .list(prefix)?
        .into_iter()
        .map(|o| o.key)
        .collect();
    let mut out = Vec::new();
    for o in run.primary.list(prefix)? {
        if keys::parse_key(&o.key).is_err() {
            continue;
        }
        if have.contains(&o.key) {
            run.skipped.fetch_add(1, Ordering::Relaxed);
        } else {
            out.push(o.key);
        }
    }
    Ok(out)
}

/// Sync one graph to one target. Never panics; the outcome carries the error.
///
/// Order: config; packs and index files the target lacks (repository-wide: packs are shared
/// between graphs by deduplication, and an encrypted repository replicates without its key);
/// then the graph's manifests the target lacks, oldest first; then (unless
/// [`SyncOptions::keep_forgotten`]) the graph's manifests the primary no longer has are
/// deleted from the target. Existence is checked with one listing per prefix per attempt, so
/// a re-run after an interruption sends only what is still missing.
pub fn sync_graph(
    primary: &Arc<dyn Storage>,
    target: &dyn ReplicaStore,
    graph: &str,
    opts: &SyncOptions,
) -> SyncOutcome {
    let started = Instant::now();
    let started_at_ms = now_ms();
    let mut outcome = SyncOutcome {
        graph_id: graph.to_owned(),
        target: target.location(),
        started_at_ms,
        ..SyncOutcome::default()
    };
    // Held (and refreshed by its heartbeat) until the run ends.
    let lock = if opts.lock_primary {
        match read_lock(primary, opts.lock_wait) {
            Ok(l) => Some(l),
            Err(e) => {
                outcome.error = Some(lightrag_config::error_chain(&e));
                outcome.duration_ms = started.elapsed().as_millis() as u64;
                return outcome;
            }
        }
    } else {
        None
    };
    let run = Run {
        primary: primary.as_ref(),
        target,
        opts,
        throttle: Throttle {
            limit: opts.bandwidth_limit,
            start: Instant::now(),
            bytes: Mutex::new(0),
        },
        #[cfg(any(test, feature = "test-hooks"))]
        reserved: AtomicU64::new(0),
        sent: AtomicU64::new(0),
        skipped: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        vanished: AtomicU64::new(0),
    };
    let mut on_target: BTreeSet<String> = BTreeSet::new();
    let mut primary_ids: Vec<String> = Vec::new();
    let result = sync_inner(&run, graph, &mut outcome, &mut primary_ids, &mut on_target);
    outcome.objects_sent = run.sent.load(Ordering::SeqCst);
    outcome.objects_skipped = run.skipped.load(Ordering::Relaxed);
    outcome.bytes_sent = run.bytes.load(Ordering::Relaxed);
    outcome.primary_snapshots = primary_ids.len() as u64;
    outcome.last_synced_snapshot =
        lag::newest_contiguous(&primary_ids, |id| on_target.contains(id));
    outcome.lag_ms = lag::lag_ms(&primary_ids, |id| on_target.contains(id), now_ms());
    if let Err(e) = result {
        outcome.unauthenticated = e.is_unauthenticated();
        outcome.target_unreachable = e.is_unreachable();
        outcome.error = Some(lightrag_config::error_chain(&e));
        tracing::warn!(graph, target = %outcome.target, error = %lightrag_config::ErrorChain(&e), sent = outcome.objects_sent, "Replication attempt failed");
    } else {
        tracing::info!(graph, target = %outcome.target, sent = outcome.objects_sent, bytes = outcome.bytes_sent, "Replication attempt finished");
    }
    drop(lock);
    outcome.duration_ms = started.elapsed().as_millis() as u64;
    outcome
}

fn sync_inner(
    run: &Run<'_>,
    graph: &str,
    outcome: &mut SyncOutcome,
    primary_ids: &mut Vec<String>,
    on_target: &mut BTreeSet<String>,
) -> Result<()> {
    lightrag_backup::validate_graph_id(graph)?;
    let snap_prefix = format!("{SNAPSHOT_PREFIX}{graph}/");
    // Manifests are listed before data: a backup writes packs and index before its manifest,
    // so every manifest listed here has its data in the listings below.
    *primary_ids = snapshot_ids(&run.primary.list(&snap_prefix)?, graph);
    outcome.lag_known = true;
    let target_ids = match run.target.list(&snap_prefix) {
        Ok(l) => snapshot_ids(&l, graph),
        Err(e) => {
            if let Some(last) = &run.opts.assume_synced_through {
                on_target.extend(primary_ids.iter().filter(|id| *id <= last).cloned());
            }
            return Err(e);
        }
    };
    on_target.extend(target_ids.iter().cloned());

    sync_config(run)?;
    // Indexes are listed before data too: a backup writes an index part while it runs, once
    // the packs it names are stored, so every part listed here has its packs in the data
    // listing (listed the other way round, a part written in between would reach the target
    // without its packs, and backups there would deduplicate against chunks it lacks). They
    // are copied after the data.
    let indexes = missing(run, INDEX_PREFIX)?;
    let packs = missing(run, DATA_PREFIX)?;
    run.copy_all(&packs)?;
    run.copy_all(&indexes)?;
    let vanished = run.vanished.load(Ordering::Relaxed);
    if vanished > 0 {
        return Err(ReplicationError::SourceChanged { count: vanished });
    }
    // Manifests one by one, oldest first.
    let mut gone = Vec::new();
    for id in primary_ids.iter() {
        if on_target.contains(id) {
            run.skipped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let before = run.sent.load(Ordering::SeqCst);
        if run.copy(&keys::snapshot_key(graph, id))? {
            on_target.insert(id.clone());
            if run.sent.load(Ordering::SeqCst) > before {
                outcome.snapshots_sent += 1;
            }
        } else {
            gone.push(id.clone()); // forgotten on the primary meanwhile
        }
    }
    primary_ids.retain(|id| !gone.contains(id));
    // Forgets replicate only after the delete grace: the target keeps what the primary
    // forgot (with its data: syncs never delete packs) until the grace has passed since a
    // sync first found it forgotten.
    let now = run.opts.now_ms.unwrap_or_else(now_ms);
    let grace_ms = i64::try_from(run.opts.delete_grace.as_millis()).unwrap_or(i64::MAX);
    let on_primary: BTreeSet<&String> = primary_ids.iter().collect();
    let mut pending = BTreeMap::new();
    for id in &target_ids {
        if on_primary.contains(id) {
            continue;
        }
        if run.opts.keep_forgotten {
            outcome.snapshots_retained += 1;
            continue;
        }
        let since = run.opts.forgotten_since.get(id).copied().unwrap_or(now);
        if now.saturating_sub(since) >= grace_ms {
            run.target.delete(&keys::snapshot_key(graph, id))?;
            on_target.remove(id);
            outcome.snapshots_deleted += 1;
            tracing::info!(graph, snapshot = %id, target = %outcome.target, "Deleted a forgotten snapshot from the target after the delete grace");
        } else {
            pending.insert(id.clone(), since);
            outcome.snapshots_retained += 1;
        }
    }
    outcome.forgotten_since = Some(pending);
    Ok(())
}

/// What [`prune_target`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetPruneReport {
    /// Manifests removed (all graphs).
    pub snapshots_deleted: u64,
    /// Index files removed.
    pub indexes_deleted: u64,
    /// Packs removed.
    pub packs_deleted: u64,
    /// Manifests the primary forgot that the target keeps within the delete grace: while
    /// there are any, no index file or pack is removed (their data must stay restorable, and
    /// which packs they need cannot be told without the repository key).
    pub snapshots_retained: u64,
}

/// Replicate a prune: after the primary's prune, make the target's object set equal to the
/// primary's. First copies what the target lacks (config, packs, indexes, every graph's
/// manifests), then deletes the target's manifests the primary forgot longer than the
/// delete grace ago, then — only when the target keeps no forgotten manifest — index files,
/// then packs that the primary no longer has; each step leaves an openable repository.
/// Runs under a read lock on the primary; refuses with `keep_forgotten` (the target keeps
/// more, so it must keep their data too).
pub fn prune_target(
    primary: &Arc<dyn Storage>,
    target: &dyn ReplicaStore,
    opts: &SyncOptions,
) -> Result<TargetPruneReport> {
    if opts.keep_forgotten {
        return Err(ReplicationError::invalid(
            "options",
            "the target keeps forgotten snapshots, so their data cannot be pruned",
        ));
    }
    let mut report = TargetPruneReport::default();
    let mut graphs = BTreeSet::new();
    for o in primary
        .list(SNAPSHOT_PREFIX)?
        .into_iter()
        .chain(target.list(SNAPSHOT_PREFIX)?)
    {
        if let Ok(ObjectKind::Snapshot { graph, .. }) = keys::parse_key(&o.key) {
            graphs.insert(graph);
        }
    }
    let mut inner = opts.clone();
    inner.lock_primary = false;
    let _lock = read_lock(primary, opts.lock_wait)?;
    for g in &graphs {
        let out = sync_graph(primary, target, g, &inner);
        if let Some(e) = out.error {
            return Err(ReplicationError::Target {
                target: target.location(),
                message: format!("sync of graph {g} before pruning failed: {e}"),
            });
        }
        report.snapshots_deleted += out.snapshots_deleted;
        report.snapshots_retained += out.snapshots_retained;
    }
    if report.snapshots_retained > 0 {
        tracing::info!(target = %target.location(), kept = report.snapshots_retained, "Target keeps forgotten snapshots within the delete grace: its packs and index files are not pruned yet");
        return Ok(report);
    }
    for prefix in [INDEX_PREFIX, DATA_PREFIX] {
        let on_primary: BTreeSet<String> =
            primary.list(prefix)?.into_iter().map(|o| o.key).collect();
        for o in target.list(prefix)? {
            if !on_primary.contains(&o.key) {
                target.delete(&o.key)?;
                if prefix == INDEX_PREFIX {
                    report.indexes_deleted += 1;
                } else {
                    report.packs_deleted += 1;
                }
            }
        }
    }
    Ok(report)
}

/// Snapshot ids per graph on a target (failover listing without a key).
pub fn target_snapshot_ids(target: &dyn ReplicaStore) -> Result<BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for o in target.list(SNAPSHOT_PREFIX)? {
        if let Ok(ObjectKind::Snapshot { graph, id }) = keys::parse_key(&o.key) {
            out.entry(graph).or_default().push(id);
        }
    }
    for v in out.values_mut() {
        v.sort();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_math() {
        assert_eq!(
            throttle_delay(Duration::ZERO, 1000, 1000),
            Duration::from_secs(1)
        );
        assert_eq!(
            throttle_delay(Duration::from_secs(2), 1000, 1000),
            Duration::ZERO
        );
        assert_eq!(
            throttle_delay(Duration::from_millis(500), 2000, 1000),
            Duration::from_millis(1500)
        );
        assert_eq!(throttle_delay(Duration::ZERO, 5, 0), Duration::ZERO);
    }
}
