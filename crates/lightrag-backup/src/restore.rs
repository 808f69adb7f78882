//! Restore a snapshot into a new directory or in place (stage beside, verify, swap).

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::backup::BackupOptions;
use crate::crypto::random_hex;
use crate::error::{BackupError, Result};
use crate::format::{self, FileEntry, Index, Manifest};
use crate::lock::LockKind;
use crate::progress::{NoProgress, Progress};
use crate::repo::Repository;
use crate::tree::Selection;

/// Options of a restore.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RestoreOptions {
    /// Replace the contents of an existing, non-empty target directory. The whole directory
    /// is staged beside the target and swapped in atomically (`renameat2(RENAME_EXCHANGE)`);
    /// with `files` set, each chosen file is replaced atomically instead.
    pub in_place: bool,
    /// Restore only these relative paths (a directory path selects everything below it).
    /// Empty = the whole snapshot.
    pub files: Vec<String>,
    /// Before an in-place restore, back up the current target (trigger `pre_restore`).
    /// Default true.
    pub safety_snapshot: bool,
    /// Graph id for the safety snapshot (default: the restored snapshot's graph).
    pub safety_graph_id: Option<String>,
    /// Refuse an in-place restore when a file in the target was modified less than this long
    /// ago: a running LightRAG keeps its stores in memory and would overwrite the restored
    /// files on its next save ([`BackupError::GraphLooksLive`]). `None` (default) = no check.
    #[serde(with = "opt_secs")]
    pub refuse_if_modified_within: Option<Duration>,
    /// Glob patterns, as [`BackupOptions::excludes`]: matching snapshot files are not
    /// restored, and matching entries of an in-place target are kept as they are.
    pub excludes: Vec<String>,
    /// Exact relative paths, as [`BackupOptions::exclude_paths`]: not restored, and kept as
    /// they are in an in-place target (e.g. the folders of graphs nested in this one).
    pub exclude_paths: Vec<String>,
    /// Test hook: fail after staging, before the swap. Never deserialised.
    #[doc(hidden)]
    #[serde(skip)]
    pub fail_before_swap: bool,
}

impl RestoreOptions {
    /// The exclusion rule of these options (the same as a backup with the same exclusions).
    pub(crate) fn selection(&self) -> Selection {
        Selection::new(&self.excludes, &self.exclude_paths, false)
    }
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            in_place: false,
            files: Vec::new(),
            safety_snapshot: true,
            safety_graph_id: None,
            refuse_if_modified_within: None,
            excludes: Vec::new(),
            exclude_paths: Vec::new(),
            fail_before_swap: false,
        }
    }
}

/// Result of a restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreSummary {
    /// Restored snapshot id.
    pub snapshot: String,
    /// Target directory.
    pub target: PathBuf,
    /// Files written.
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Safety snapshot taken before an in-place restore.
    pub safety_snapshot: Option<String>,
}

/// Bytes written to a file between two early-writeback hints.
const EARLY_SYNC_BYTES: u64 = 32 * 1024 * 1024;

fn safe_rel(p: &str) -> bool {
    !p.is_empty()
        && Path::new(p)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

fn dir_is_empty(p: &Path) -> Result<bool> {
    Ok(fs::read_dir(p)
        .map_err(|e| BackupError::io("read directory", p, e))?
        .next()
        .is_none())
}

fn fsync_dir(p: &Path) {
    if let Ok(f) = File::open(p) {
        let _ = f.sync_all();
    }
}

/// Remove a directory tree, ignoring a missing one.
fn remove_tree(p: &Path) {
    if let Err(e) = fs::remove_dir_all(p)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %p.display(), error = %e, "Could not remove staging directory");
    }
}

/// Remove staging directories of restores into `parent/name` that were interrupted more than
/// an hour ago (a crash between staging and swap leaves one behind).
fn remove_stale_staging(parent: &Path, name: &str) {
    let Ok(rd) = fs::read_dir(parent) else { return };
    let prefixes = [format!(".{name}.lrtmp-"), format!(".{name}.lrold-")];
    for e in rd.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        let stale = e
            .metadata()
            .and_then(|m| m.modified())
            .map(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(3600))
            .unwrap_or(false);
        if stale && prefixes.iter().any(|p| n.starts_with(p.as_str())) {
            tracing::info!(path = %e.path().display(), "Removing stale restore staging directory");
            remove_tree(&e.path());
        }
    }
}

/// The most recently modified file below `dir` and how long ago.
fn newest_file(dir: &Path) -> Option<(PathBuf, Duration)> {
    let mut best: Option<(PathBuf, std::time::SystemTime)> = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).ok()?.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else if let Ok(t) = m.modified()
                && best.as_ref().is_none_or(|b| t > b.1)
            {
                best = Some((e.path(), t));
            }
        }
    }
    let (p, t) = best?;
    Some((
        p,
        std::time::SystemTime::now()
            .duration_since(t)
            .unwrap_or_default(),
    ))
}

mod opt_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_secs))
    }
}

impl Repository {
    fn restore_file(
        &self,
        index: &Index,
        m: &Manifest,
        e: &FileEntry,
        dest: &Path,
        progress: &dyn Progress,
        syncer: &SyncSender<Arc<File>>,
    ) -> Result<()> {
        let damaged = |reason: String| BackupError::DamagedFile {
            snapshot: m.id.clone(),
            file: e.path.clone(),
            reason,
        };
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)
                .map_err(|err| BackupError::io("create directory", parent, err))?;
        }
        let f = Arc::new(File::create(dest).map_err(|err| BackupError::io("create", dest, err))?);
        let (mut written, mut unsynced) = (0u64, 0u64);
        self.for_each_chunk(index, &e.chunks, |_, data| {
            (&*f)
                .write_all(&data)
                .map_err(|err| BackupError::io("write", dest, err))?;
            written += data.len() as u64;
            unsynced += data.len() as u64;
            if unsynced >= EARLY_SYNC_BYTES {
                // Let the syncer thread push this file's dirty pages to disk while we go on
                // decoding, so the final fsync has little left to wait for.
                unsynced = 0;
                let _ = syncer.try_send(f.clone());
            }
            progress.advance(0, data.len() as u64);
            Ok(())
        })
        .map_err(|err| match err {
            BackupError::Io { .. } => err,
            other => damaged(other.to_string()),
        })?;
        if written != e.size || format::file_hash(&e.chunks) != e.hash {
            return Err(damaged(
                "restored content does not match the recorded file size/hash".into(),
            ));
        }
        f.set_permissions(fs::Permissions::from_mode(e.mode))
            .map_err(|err| BackupError::io("chmod", dest, err))?;
        let mtime = if e.mtime >= 0 {
            UNIX_EPOCH + Duration::new(e.mtime as u64, e.mtime_nsec)
        } else {
            UNIX_EPOCH - Duration::from_secs(e.mtime.unsigned_abs())
                + Duration::from_nanos(u64::from(e.mtime_nsec))
        };
        f.set_modified(mtime)
            .map_err(|err| BackupError::io("set mtime", dest, err))?;
        f.sync_all()
            .map_err(|err| BackupError::io("fsync", dest, err))?;
        progress.advance(1, 0);
        Ok(())
    }

    /// Write `entries` in parallel; `dest_of` maps an entry to its destination path.
    fn write_entries(
        &self,
        index: &Index,
        m: &Manifest,
        entries: &[&FileEntry],
        dest_of: &(dyn Fn(&FileEntry) -> PathBuf + Sync),
        progress: &dyn Progress,
    ) -> Result<()> {
        let next = Mutex::new(0usize);
        let (sync_tx, sync_rx) = sync_channel::<Arc<File>>(2);
        let failed = std::sync::atomic::AtomicBool::new(false);
        let errors = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            s.spawn(move || {
                for f in sync_rx {
                    let _ = f.sync_data();
                }
            });
            for _ in 0..self.threads().min(entries.len().max(1)) {
                let sync_tx = sync_tx.clone();
                let (next, failed, errors) = (&next, &failed, &errors);
                s.spawn(move || {
                    loop {
                        if failed.load(std::sync::atomic::Ordering::Relaxed) {
                            return;
                        }
                        let i = match next.lock() {
                            Ok(mut n) => {
                                *n += 1;
                                *n - 1
                            }
                            Err(_) => return,
                        };
                        let Some(e) = entries.get(i) else { return };
                        if let Err(err) =
                            self.restore_file(index, m, e, &dest_of(e), progress, &sync_tx)
                        {
                            failed.store(true, std::sync::atomic::Ordering::Relaxed);
                            if let Ok(mut v) = errors.lock() {
                                v.push(err);
                            }
                            return;
                        }
                    }
                });
            }
            drop(sync_tx); // the syncer ends when the last worker is done
        });
        match errors.into_inner().ok().and_then(|mut v| {
            if v.is_empty() {
                None
            } else {
                Some(v.remove(0))
            }
        }) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Restore snapshot `snapshot` (id or unique prefix) into `target`.
    ///
    /// A new or empty `target` receives the snapshot through a staging directory renamed into
    /// place. An existing non-empty `target` needs `in_place`: a safety snapshot of it is taken
    /// first, the snapshot is staged beside it and verified chunk by chunk, then the two are
    /// swapped atomically. Any damaged chunk stops the restore with
    /// [`BackupError::DamagedFile`] and leaves the target untouched.
    pub fn restore(
        &self,
        snapshot: &str,
        target: &Path,
        opts: &RestoreOptions,
        progress: &dyn Progress,
    ) -> Result<RestoreSummary> {
        // Lock first: a prune cannot remove chunks between reading the manifest and the data.
        let _lock = self.lock(LockKind::Read)?;
        let m = self.snapshot(snapshot)?;
        let mut selected: Vec<&FileEntry> = Vec::new();
        if opts.files.is_empty() {
            selected.extend(m.files.iter());
        } else {
            let mut seen = HashSet::new();
            for want in &opts.files {
                let want = want.trim_end_matches('/');
                let before = selected.len();
                for e in m
                    .files
                    .iter()
                    .filter(|e| e.path == want || e.path.starts_with(&format!("{want}/")))
                {
                    if seen.insert(e.path.as_str()) {
                        selected.push(e);
                    }
                }
                if selected.len() == before && !m.files.iter().any(|e| e.path == want) {
                    return Err(BackupError::InvalidArgument(format!(
                        "`{want}` is not in snapshot {}",
                        m.id
                    )));
                }
            }
        }
        // Only what a backup with the same exclusions would capture is restored (and, in
        // place, replaced).
        let selection = opts.selection();
        selected.retain(|e| !selection.skips_path(&e.path));
        if let Some(bad) = selected.iter().find(|e| !safe_rel(&e.path)) {
            return Err(BackupError::DamagedFile {
                snapshot: m.id.clone(),
                file: bad.path.clone(),
                reason: "unsafe path in manifest".into(),
            });
        }
        let index = self.load_index_covering(selected.iter().flat_map(|e| e.chunks.iter()))?;
        for e in &selected {
            if let Some(id) = e.chunks.iter().find(|id| !index.blobs.contains_key(id)) {
                return Err(BackupError::DamagedFile {
                    snapshot: m.id.clone(),
                    file: e.path.clone(),
                    reason: format!("chunk {id} is missing from the repository"),
                });
            }
        }
        let total: u64 = selected.iter().map(|e| e.size).sum();
        let target = target.to_path_buf();
        let exists_nonempty = target.exists() && !dir_is_empty(&target)?;
        if exists_nonempty && !opts.in_place {
            return Err(BackupError::TargetNotEmpty(target));
        }
        let name = target
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| {
                BackupError::InvalidArgument(format!("bad restore target {}", target.display()))
            })?
            .to_owned();
        let parent = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        fs::create_dir_all(&parent).map_err(|e| BackupError::io("create directory", &parent, e))?;
        remove_stale_staging(&parent, &name);

        if exists_nonempty
            && let Some(window) = opts.refuse_if_modified_within
            && let Some((path, age)) = newest_file(&target)
            && age < window
        {
            return Err(BackupError::GraphLooksLive {
                path,
                seconds_ago: age.as_secs(),
            });
        }
        let mut safety = None;
        if exists_nonempty && opts.safety_snapshot {
            progress.note("taking a safety snapshot of the current state");
            let graph = opts
                .safety_graph_id
                .clone()
                .unwrap_or_else(|| m.graph_id.clone());
            let bo = BackupOptions {
                trigger: "pre_restore".into(),
                tags: vec![format!("pre-restore-of:{}", m.id)],
                excludes: opts.excludes.clone(),
                exclude_paths: opts.exclude_paths.clone(),
                ..BackupOptions::default()
            };
            safety = Some(self.backup(&graph, &target, &bo, &NoProgress)?.snapshot.id);
        }
        progress.begin("restore", selected.len() as u64, total);

        if exists_nonempty && !opts.files.is_empty() {
            // Partial in place: stage each file beside its destination, then rename each.
            let suffix = random_hex(6);
            let tmp_of = |e: &FileEntry| {
                let dest = target.join(&e.path);
                let fname = dest
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                dest.with_file_name(format!(".{fname}.lrtmp-{suffix}"))
            };
            let res = self.write_entries(&index, &m, &selected, &tmp_of, progress);
            if res.is_err() || opts.fail_before_swap {
                for e in &selected {
                    let _ = fs::remove_file(tmp_of(e));
                }
                res?;
                return Err(BackupError::Injected("before swap"));
            }
            for e in &selected {
                let dest = target.join(&e.path);
                fs::rename(tmp_of(e), &dest)
                    .map_err(|err| BackupError::io("rename into place", &dest, err))?;
                if let Some(p) = dest.parent() {
                    fsync_dir(p);
                }
            }
        } else {
            let stage = parent.join(format!(".{name}.lrtmp-{}", random_hex(6)));
            fs::create_dir(&stage)
                .map_err(|e| BackupError::io("create staging directory", &stage, e))?;
            let dest_of = |e: &FileEntry| stage.join(&e.path);
            let res = self.write_entries(&index, &m, &selected, &dest_of, progress);
            if let Err(e) = res {
                remove_tree(&stage);
                return Err(e);
            }
            fsync_dir(&stage);
            if opts.fail_before_swap {
                remove_tree(&stage);
                return Err(BackupError::Injected("before swap"));
            }
            if exists_nonempty {
                match rustix::fs::renameat_with(
                    rustix::fs::CWD,
                    &stage,
                    rustix::fs::CWD,
                    &target,
                    rustix::fs::RenameFlags::EXCHANGE,
                ) {
                    Ok(()) => {}
                    Err(err)
                        if err == rustix::io::Errno::INVAL || err == rustix::io::Errno::NOSYS =>
                    {
                        // No atomic exchange on this filesystem: two renames.
                        let old = parent.join(format!(".{name}.lrold-{}", random_hex(6)));
                        fs::rename(&target, &old)
                            .map_err(|e| BackupError::io("move aside", &target, e))?;
                        if let Err(e) = fs::rename(&stage, &target) {
                            let _ = fs::rename(&old, &target);
                            return Err(BackupError::io("rename into place", &target, e));
                        }
                        fs::rename(&old, &stage).map_err(|e| BackupError::io("rename", &old, e))?;
                    }
                    Err(err) => return Err(BackupError::io("swap", &target, err.into())),
                }
                fsync_dir(&parent);
                remove_tree(&stage); // now holds the old contents
            } else {
                if target.exists() {
                    fs::remove_dir(&target)
                        .map_err(|e| BackupError::io("replace empty directory", &target, e))?;
                }
                fs::rename(&stage, &target)
                    .map_err(|e| BackupError::io("rename into place", &target, e))?;
                fsync_dir(&parent);
            }
        }
        progress.end();
        tracing::info!(snapshot = %m.id, target = %target.display(), files = selected.len(), "Restore finished");
        Ok(RestoreSummary {
            snapshot: m.id.clone(),
            target,
            files: selected.len() as u64,
            bytes: total,
            safety_snapshot: safety,
        })
    }
}
