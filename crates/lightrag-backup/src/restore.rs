//! Restore a snapshot into a new directory or in place (stage beside, verify, swap).

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use crate::backup::BackupOptions;
use crate::beneath::{self, DirSpec, Owner};
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
    /// As [`BackupOptions::skip_lightrag_temp_files`] (default true): LightRAG temp files
    /// held by an old snapshot are not written back, and those in an in-place target are
    /// kept as they are.
    pub skip_lightrag_temp_files: bool,
    /// Test hook: fail after staging, before the swap. Only with the `test-hooks` feature;
    /// never deserialised.
    #[cfg(any(test, feature = "test-hooks"))]
    #[serde(skip)]
    pub fail_before_swap: bool,
}

impl RestoreOptions {
    /// Whether the test hook asks to fail before the swap.
    #[cfg(any(test, feature = "test-hooks"))]
    fn fails_before_swap(&self) -> bool {
        self.fail_before_swap
    }

    /// Without the `test-hooks` feature a restore never fails on purpose.
    #[cfg(not(any(test, feature = "test-hooks")))]
    fn fails_before_swap(&self) -> bool {
        false
    }

    /// The exclusion rule of these options (the same as a backup with the same exclusions).
    pub(crate) fn selection(&self) -> Selection {
        Selection::new(
            &self.excludes,
            &self.exclude_paths,
            self.skip_lightrag_temp_files,
        )
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
            skip_lightrag_temp_files: true,
            #[cfg(any(test, feature = "test-hooks"))]
            fail_before_swap: false,
        }
    }
}

/// Result of a restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RestoreSummary {
    /// Restored snapshot id.
    pub snapshot: String,
    /// Target directory.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub target: PathBuf,
    /// Files written.
    pub files: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Safety snapshot taken before an in-place restore.
    pub safety_snapshot: Option<String>,
    /// Entries of an in-place target kept as they were because a backup with the same
    /// exclusions does not capture them (excluded paths, links, special files, ...).
    #[serde(default)]
    pub kept: u64,
    /// Whether the restored snapshot holds one quiescent state of its graph (`None`: not
    /// recorded, an older snapshot).
    #[serde(default)]
    pub consistent: Option<bool>,
    /// Set when the snapshot is not save-consistent: what that means and what to do.
    #[serde(default)]
    pub warning: Option<String>,
}

/// What to tell an operator who restores `m` when it is not save-consistent.
pub(crate) fn consistency_warning(m: &Manifest) -> Option<String> {
    (m.consistent == Some(false)).then(|| {
        format!(
            "snapshot {} of graph `{}` is not save-consistent ({}): each file is whole, but the stores may come from different LightRAG saves; LightRAG loads them, and a consistent snapshot of the graph (`lightrag-ops snapshots --graph {}`, column `consistent`) is a state LightRAG was in",
            m.id,
            m.graph_id,
            m.inconsistency.as_deref().unwrap_or("a save overlapped the backup"),
            m.graph_id
        )
    })
}

/// A restore writes its chunks in pieces of about this size (see `restore_segment`).
const WRITE_BYTES: usize = 1024 * 1024;

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

/// Clean up after restores into `parent/name` that were interrupted.
///
/// Never deletes the only copy of anything: a `.lrtmp-` folder is either a staged copy that
/// was never swapped in (the target still holds the old state) or, after the swap, the old
/// state (the target holds the new one; the safety snapshot holds the old). A `.lrold-`
/// folder with no target beside it is the old state moved aside by the two-rename fallback
/// swap just before a crash: it is moved back first, so the target is exactly the old state.
/// Leftovers are removed once they are more than an hour old.
fn remove_stale_staging(parent: &Path, name: &str) {
    let Ok(rd) = fs::read_dir(parent) else { return };
    let prefixes = [format!(".{name}.lrtmp-"), format!(".{name}.lrold-")];
    let entries: Vec<fs::DirEntry> = rd.flatten().collect();
    let target = parent.join(name);
    if fs::symlink_metadata(&target).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
        && let Some(old) = entries.iter().find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(prefixes[1].as_str())
        })
    {
        match fs::rename(old.path(), &target) {
            Ok(()) => {
                tracing::warn!(target = %target.display(), from = %old.path().display(),
                    "Moved the old state of an interrupted restore back into place");
                fsync_dir(parent);
            }
            Err(e) => {
                tracing::warn!(target = %target.display(), error = %e,
                    "Could not move the old state of an interrupted restore back");
                return;
            }
        }
    }
    for e in entries {
        let n = e.file_name().to_string_lossy().into_owned();
        let stale = e
            .metadata()
            .and_then(|m| m.modified())
            .map(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(3600))
            .unwrap_or(false);
        if stale && prefixes.iter().any(|p| n.starts_with(p.as_str())) && e.path().exists() {
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

/// Where one restored file is written.
struct Placement {
    file: File,
    /// For messages.
    shown: PathBuf,
    /// Owner to give the file (the owner of the file it replaces, or of the target folder).
    owner: Option<Owner>,
}

type PlaceFn<'a> = dyn Fn(&FileEntry) -> Result<Placement> + Sync + 'a;

fn beneath_err<'a>(
    what: &'static str,
    at: &'a Path,
) -> impl Fn(std::io::Error) -> BackupError + 'a {
    move |e| BackupError::io(what, at, e)
}

fn regular_owner(dir: &OwnedFd, name: &OsStr) -> Option<Owner> {
    let st = beneath::lstat_at(dir, name).ok()?;
    (FileType::from_raw_mode(st.st_mode) == FileType::RegularFile).then_some((st.st_uid, st.st_gid))
}

/// Create `name` in `dir` for writing, never through a link, never over an existing entry.
fn create_new(dir: &OwnedFd, name: &OsStr) -> std::io::Result<File> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    Ok(File::from(fd))
}

/// fsync every directory of the tree below `dir` (not following links).
fn fsync_tree(dir: &OwnedFd) -> std::io::Result<()> {
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = beneath::os(entry.file_name());
        if name == "." || name == ".." {
            continue;
        }
        if entry.file_type() == FileType::Directory {
            let sub = beneath::open_dir(dir, Path::new(name), None)?;
            fsync_tree(&sub)?;
        }
    }
    rustix::fs::fsync(dir)?;
    Ok(())
}

/// Carries the entries of an in-place target that a backup with the same exclusions would
/// not capture (excluded paths and patterns, symbolic links, FIFOs and other special files,
/// non-UTF-8 names, LightRAG temp files) into the staged folder, before the swap. Regular
/// files are hard-linked (copied when a link is impossible), directories recreated, links
/// recreated with the same target, special files recreated with `mknod`; modes and owners
/// are kept. Nothing in the target is modified, so a crash at any moment leaves it as it was.
struct Carry<'a> {
    selection: &'a Selection,
    kept: u64,
}

impl Carry<'_> {
    /// Walk `from` (a directory of the target at `shown`) whose staged counterpart is `to`.
    /// `rel` is its relative path when every component is UTF-8; `all` = carry everything.
    fn dir(
        &mut self,
        from: &OwnedFd,
        to: &OwnedFd,
        rel: Option<&str>,
        shown: &Path,
        all: bool,
    ) -> Result<()> {
        let io =
            |e: std::io::Error| BackupError::io("keep what the snapshot does not hold", shown, e);
        let mut names = Vec::new();
        for entry in rustix::fs::Dir::read_from(from).map_err(|e| io(e.into()))? {
            let entry = entry.map_err(|e| io(e.into()))?;
            let name = beneath::os(entry.file_name()).to_os_string();
            if name != "." && name != ".." {
                names.push(name);
            }
        }
        for name in names {
            let path = shown.join(&name);
            let st = match beneath::lstat_at(from, &name) {
                Ok(st) => st,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(BackupError::io("stat", &path, e)),
            };
            let ft = FileType::from_raw_mode(st.st_mode);
            let name_str = name.to_str();
            let child_rel = match (rel, name_str) {
                (Some(""), Some(n)) => Some(n.to_owned()),
                (Some(r), Some(n)) => Some(format!("{r}/{n}")),
                _ => None,
            };
            let captured = !all
                && child_rel
                    .as_deref()
                    .zip(name_str)
                    .is_some_and(|(r, n)| !self.selection.skips(r, n));
            let staged = beneath::lstat_at(to, &name).ok();
            let staged_is_dir =
                staged.is_some_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory);
            if ft == FileType::Directory && staged.is_some() && !staged_is_dir {
                return Err(BackupError::InvalidArgument(format!(
                    "cannot restore in place: {} is a directory in the target but a file in the snapshot; move it away first",
                    path.display()
                )));
            }
            match ft {
                FileType::RegularFile if captured => {} // the snapshot decides
                FileType::Directory if captured => {
                    let sub_from = beneath::open_dir(from, Path::new(&name), None)
                        .map_err(|e| BackupError::io("open directory", &path, e))?;
                    let sub_to = self.mkdir(to, &name, &st, staged_is_dir, &path)?;
                    self.dir(&sub_from, &sub_to, child_rel.as_deref(), &path, false)?;
                }
                _ if staged.is_some() && ft != FileType::Directory => {
                    // The snapshot holds a file at this path: it replaces the entry.
                    tracing::info!(path = %path.display(), "Replaced by the snapshot's file");
                }
                FileType::Directory => {
                    let sub_from = beneath::open_dir(from, Path::new(&name), None)
                        .map_err(|e| BackupError::io("open directory", &path, e))?;
                    let sub_to = self.mkdir(to, &name, &st, staged_is_dir, &path)?;
                    self.kept += 1;
                    self.dir(&sub_from, &sub_to, None, &path, true)?;
                }
                FileType::RegularFile
                    if name_str.is_some_and(crate::tree::is_restore_temp_file) =>
                {
                    // Left by an interrupted partial restore: not data, not kept.
                    tracing::info!(path = %path.display(), "Dropping a leftover of an interrupted restore");
                }
                _ => {
                    self.entry(from, to, &name, &st, ft, &path)?;
                    self.kept += 1;
                }
            }
        }
        rustix::fs::fsync(to).map_err(|e| BackupError::io("fsync", shown, e.into()))?;
        Ok(())
    }

    fn mkdir(
        &self,
        to: &OwnedFd,
        name: &OsStr,
        st: &rustix::fs::Stat,
        exists: bool,
        path: &Path,
    ) -> Result<OwnedFd> {
        let err = |e: std::io::Error| BackupError::io("create staged directory", path, e);
        if !exists {
            rustix::fs::mkdirat(to, name, Mode::from_raw_mode(0o700)).map_err(|e| err(e.into()))?;
        }
        let fd = beneath::open_dir(to, Path::new(name), None).map_err(err)?;
        beneath::chown_fd(&fd, Some((st.st_uid, st.st_gid))).map_err(err)?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(st.st_mode & 0o7777))
            .map_err(|e| err(e.into()))?;
        Ok(fd)
    }

    fn entry(
        &self,
        from: &OwnedFd,
        to: &OwnedFd,
        name: &OsStr,
        st: &rustix::fs::Stat,
        ft: FileType,
        path: &Path,
    ) -> Result<()> {
        let owner = Some((st.st_uid, st.st_gid));
        let err =
            |e: std::io::Error| BackupError::io("keep (the snapshot does not hold it)", path, e);
        match ft {
            FileType::RegularFile => {
                match rustix::fs::linkat(from, name, to, name, AtFlags::empty()) {
                    Ok(()) => Ok(()),
                    Err(
                        rustix::io::Errno::XDEV
                        | rustix::io::Errno::PERM
                        | rustix::io::Errno::MLINK
                        | rustix::io::Errno::NOTSUP,
                    ) => self.copy(from, to, name, st, path),
                    Err(e) => Err(err(e.into())),
                }
            }
            FileType::Symlink => {
                let dest =
                    rustix::fs::readlinkat(from, name, Vec::new()).map_err(|e| err(e.into()))?;
                rustix::fs::symlinkat(&*dest, to, name).map_err(|e| err(e.into()))?;
                beneath::chown_at(to, name, owner).map_err(err)
            }
            FileType::Fifo
            | FileType::Socket
            | FileType::CharacterDevice
            | FileType::BlockDevice => {
                rustix::fs::mknodat(
                    to,
                    name,
                    ft,
                    Mode::from_raw_mode(st.st_mode & 0o7777),
                    st.st_rdev,
                )
                .map_err(|e| {
                    BackupError::io(
                        "recreate special file (move it away to restore in place)",
                        path,
                        e.into(),
                    )
                })?;
                beneath::chown_at(to, name, owner).map_err(err)?;
                rustix::fs::chmodat(
                    to,
                    name,
                    Mode::from_raw_mode(st.st_mode & 0o7777),
                    AtFlags::empty(),
                )
                .map_err(|e| err(e.into()))
            }
            _ => Err(BackupError::InvalidArgument(format!(
                "cannot restore in place: {} is of an unknown file type; move it away first",
                path.display()
            ))),
        }
    }

    /// Copy a regular file that cannot be hard-linked (content, mode, owner, mtime).
    fn copy(
        &self,
        from: &OwnedFd,
        to: &OwnedFd,
        name: &OsStr,
        st: &rustix::fs::Stat,
        path: &Path,
    ) -> Result<()> {
        let err =
            |e: std::io::Error| BackupError::io("copy (the snapshot does not hold it)", path, e);
        let src = rustix::fs::openat(
            from,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
            Mode::empty(),
        )
        .map_err(|e| err(e.into()))?;
        let mut src = File::from(src);
        let mut dst = create_new(to, name).map_err(err)?;
        std::io::copy(&mut src, &mut dst).map_err(err)?;
        beneath::chown_fd(&dst, Some((st.st_uid, st.st_gid))).map_err(err)?;
        rustix::fs::fchmod(&dst, Mode::from_raw_mode(st.st_mode & 0o7777))
            .map_err(|e| err(e.into()))?;
        let times = rustix::fs::Timestamps {
            last_access: rustix::fs::Timespec {
                tv_sec: st.st_atime as _,
                tv_nsec: st.st_atime_nsec as _,
            },
            last_modification: rustix::fs::Timespec {
                tv_sec: st.st_mtime as _,
                tv_nsec: st.st_mtime_nsec as _,
            },
        };
        rustix::fs::futimens(&dst, &times).map_err(|e| err(e.into()))?;
        dst.sync_all().map_err(err)?;
        Ok(())
    }
}

/// Raw bytes per restore work item: a large file is cut into segments of about this size,
/// read, decoded and written at their offsets by all threads at once.
const SEGMENT_BYTES: u64 = 16 * 1024 * 1024;

/// One file being restored by one or more segment writers.
struct FileWork<'a> {
    e: &'a FileEntry,
    /// Created by the first writer of the file; `None` after it failed.
    place: Mutex<Option<Option<Arc<OpenPlace>>>>,
    /// Segments not written yet; the writer of the last one finishes the file.
    remaining: std::sync::atomic::AtomicUsize,
    written: std::sync::atomic::AtomicU64,
}

struct OpenPlace {
    file: Arc<File>,
    /// The same file opened with `O_DIRECT` (large files, where the filesystem allows it).
    direct: Option<File>,
    shown: PathBuf,
    owner: Option<Owner>,
}

/// Files of at least this size are written with `O_DIRECT` (see `restore_segment`).
const DIRECT_MIN_FILE: u64 = 1024 * 1024;

/// `f` opened again, for writing with `O_DIRECT` (through `/proc/self/fd`, so it is the same
/// inode whatever happens to its name meanwhile); `None` where that cannot be done.
fn reopen_direct(f: &File) -> Option<File> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    // The segments' edges go through the page cache while other writers write the blocks
    // beside them directly: safe only if no page or filesystem block spans both (a 64 KiB page
    // or block read in for an edge, dirtied, then written back, would put old bytes over a
    // direct write).
    let block = rustix::fs::fstat(f).ok()?.st_blksize;
    if rustix::param::page_size() != crate::storage::DIRECT_ALIGN
        || usize::try_from(block).ok()? > crate::storage::DIRECT_ALIGN
    {
        return None;
    }
    fs::OpenOptions::new()
        .write(true)
        .custom_flags(OFlags::DIRECT.bits() as i32)
        .open(format!("/proc/self/fd/{}", f.as_raw_fd()))
        .ok()
}

/// A segment: `e.chunks[lo..hi]`, written at byte `offset` of the file.
struct Segment {
    file: usize,
    lo: usize,
    hi: usize,
    offset: u64,
}

/// Cut every entry into segments of about [`SEGMENT_BYTES`] (by the chunks' indexed raw
/// lengths; a chunk the index does not know ends the cutting of that file, whose reading then
/// reports it).
fn segments(index: &Index, entries: &[&FileEntry]) -> Vec<Segment> {
    let mut out = Vec::new();
    for (file, e) in entries.iter().enumerate() {
        let (mut lo, mut offset, mut acc) = (0, 0u64, 0u64);
        for (k, id) in e.chunks.iter().enumerate() {
            let Some(l) = index.get(id) else {
                break;
            };
            acc += u64::from(l.raw_length);
            if acc >= SEGMENT_BYTES && k + 1 < e.chunks.len() {
                out.push(Segment {
                    file,
                    lo,
                    hi: k + 1,
                    offset,
                });
                (lo, offset, acc) = (k + 1, offset + acc, 0);
            }
        }
        out.push(Segment {
            file,
            lo,
            hi: e.chunks.len(),
            offset,
        });
    }
    out
}

impl Repository {
    /// Write one segment of a file; the writer of its last segment checks and finishes it.
    #[allow(clippy::too_many_arguments)]
    fn restore_segment(
        &self,
        index: &Index,
        m: &Manifest,
        work: &FileWork<'_>,
        seg: &Segment,
        place_of: &PlaceFn<'_>,
        progress: &dyn Progress,
    ) -> Result<()> {
        let e = work.e;
        let damaged = |reason: String| BackupError::DamagedFile {
            snapshot: m.id.clone(),
            file: e.path.clone(),
            reason,
        };
        let place = {
            let mut slot = work
                .place
                .lock()
                .map_err(|_| BackupError::WorkerPanicked("restore writer".into()))?;
            match &*slot {
                Some(Some(p)) => p.clone(),
                Some(None) => return Ok(()), // another writer failed on it and reported that
                None => match place_of(e) {
                    Ok(p) => {
                        let direct = (e.size >= DIRECT_MIN_FILE)
                            .then(|| reopen_direct(&p.file))
                            .flatten();
                        let p = Arc::new(OpenPlace {
                            file: Arc::new(p.file),
                            direct,
                            shown: p.shown,
                            owner: p.owner,
                        });
                        *slot = Some(Some(p.clone()));
                        p
                    }
                    Err(err) => {
                        *slot = Some(None);
                        return Err(err);
                    }
                },
            }
        };
        // Once the file is finished or failed, the slot lets go of it (its descriptor closes
        // when the last segment writer drops its handle): a restore of many files never
        // holds more open than it is writing.
        let release = || {
            if let Ok(mut slot) = work.place.lock() {
                *slot = Some(None);
            }
        };
        let dest = place.shown.as_path();
        let f = &place.file;
        let mut at = seg.offset;
        // Chunks are gathered into writes of WRITE_BYTES: one write per chunk took the file's
        // inode lock ~30 times per MiB, and with every thread writing segments of one large
        // file the kernel spent more time spinning on that lock than copying.
        // Whole 4 KiB blocks of a large file go straight to the device (`O_DIRECT`, from the
        // aligned buffer, at aligned offsets): copying them into the page cache was most of a
        // restore's system time. What lies before the segment's first 4 KiB boundary, and
        // its last partial block, go through the page cache (`f`).
        const ALIGN: usize = crate::storage::DIRECT_ALIGN;
        let mut direct: Option<&File> = place.direct.as_ref();
        let mut pending = crate::storage::PackBuf::new();
        pending.reserve_exact(WRITE_BYTES + 128 * 1024);
        let write_err = |err| BackupError::io("write", dest, err);
        let mut write_out =
            |pending: &mut crate::storage::PackBuf, at: &mut u64, last: bool| -> Result<()> {
                while !pending.is_empty() {
                    let len = pending.len();
                    let skew = (*at % ALIGN as u64) as usize;
                    let n = match direct {
                        Some(d) if skew == 0 && len >= ALIGN => {
                            let n = len - len % ALIGN;
                            match d.write_all_at(&pending.as_slice()[..n], *at) {
                                Ok(()) => n,
                                // Opened but refused: the rest of this segment the ordinary way.
                                Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
                                    direct = None;
                                    continue;
                                }
                                Err(e) => return Err(write_err(e)),
                            }
                        }
                        // A partial block waits for the next chunks (or the segment's end).
                        Some(_) if !last && len < ALIGN - skew => break,
                        Some(_) if skew != 0 => {
                            let n = (ALIGN - skew).min(len);
                            f.write_all_at(&pending.as_slice()[..n], *at)
                                .map_err(write_err)?;
                            n
                        }
                        _ => {
                            f.write_all_at(pending.as_slice(), *at).map_err(write_err)?;
                            len
                        }
                    };
                    pending.drain_front(n);
                    *at += n as u64;
                }
                Ok(())
            };
        self.for_each_chunk(index, &e.chunks[seg.lo..seg.hi], |_, data| {
            pending.extend_from_slice(&data);
            progress.advance(0, data.len() as u64);
            if pending.len() >= WRITE_BYTES {
                write_out(&mut pending, &mut at, false)?;
            }
            Ok(())
        })
        .and_then(|()| write_out(&mut pending, &mut at, true))
        .map_err(|err| {
            release();
            // Could not read (or write): an error naming the operation, retryable; only data
            // read and found wrong (or missing) is damage.
            if err.is_access_failure() {
                err
            } else {
                damaged(lightrag_config::error_chain(&err))
            }
        })?;
        use std::sync::atomic::Ordering::AcqRel;
        work.written.fetch_add(at - seg.offset, AcqRel);
        if work.remaining.fetch_sub(1, AcqRel) != 1 {
            return Ok(());
        }
        // The last segment of the file: every other one is written.
        release();
        if work.written.load(std::sync::atomic::Ordering::Acquire) != e.size
            || format::file_hash(&e.chunks) != e.hash
        {
            return Err(damaged(
                "restored content does not match the recorded file size/hash".into(),
            ));
        }
        // Owner first (chown clears set-id bits), then the mode: permission bits only, never
        // set-uid/set-gid/sticky bits from a manifest.
        beneath::chown_fd(&**f, place.owner).map_err(|err| BackupError::io("chown", dest, err))?;
        f.set_permissions(fs::Permissions::from_mode(e.mode & 0o777))
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

    /// Write `entries` in parallel, a large file by several threads at once (segments);
    /// `place_of` creates an entry's destination file.
    fn write_entries(
        &self,
        index: &Index,
        m: &Manifest,
        entries: &[&FileEntry],
        place_of: &PlaceFn<'_>,
        progress: &dyn Progress,
    ) -> Result<()> {
        let segs = segments(index, entries);
        let mut per_file = vec![0usize; entries.len()];
        for s in &segs {
            per_file[s.file] += 1;
        }
        let works: Vec<FileWork<'_>> = entries
            .iter()
            .zip(per_file)
            .map(|(e, n)| FileWork {
                e,
                place: Mutex::new(None),
                remaining: n.into(),
                written: 0.into(),
            })
            .collect();
        let next = Mutex::new(0usize);
        let failed = std::sync::atomic::AtomicBool::new(false);
        let errors = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            // One writer more than cores (unless the thread count was set): a direct write
            // waits for the device, and the extra writer decodes meanwhile (a 5.5 GB restore:
            // 5.9 s -> 5.3 s, +5 MiB).
            let writers = self.threads() + usize::from(self.options.threads == 0);
            for _ in 0..writers.min(segs.len().max(1)) {
                let (next, failed, errors, segs, works) = (&next, &failed, &errors, &segs, &works);
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
                        let Some(seg) = segs.get(i) else { return };
                        let res = self.restore_segment(
                            index,
                            m,
                            &works[seg.file],
                            seg,
                            place_of,
                            progress,
                        );
                        if let Err(err) = res {
                            failed.store(true, std::sync::atomic::Ordering::Relaxed);
                            if let Ok(mut v) = errors.lock() {
                                v.push(err);
                            }
                            return;
                        }
                    }
                });
            }
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

    /// Write the snapshot into the fresh staging folder `stage`; with `in_place`, give each
    /// file the owner of the file it replaces and carry over what the snapshot does not
    /// cover. Returns the number of entries carried over.
    #[allow(clippy::too_many_arguments)]
    fn stage(
        &self,
        index: &Index,
        m: &Manifest,
        selected: &[&FileEntry],
        stage: &Path,
        in_place: Option<&PathBuf>,
        selection: &Selection,
        opts: &RestoreOptions,
        progress: &dyn Progress,
    ) -> Result<u64> {
        let _ = opts;
        let stage_fd = beneath::open_root(stage).map_err(beneath_err("open", stage))?;
        let target_fd = match in_place {
            Some(t) => Some(beneath::open_root(t).map_err(beneath_err("open", t))?),
            None => None,
        };
        let dir_owner = in_place
            .and_then(|t| fs::metadata(t).ok())
            .map(|md| (md.uid(), md.gid()));
        let spec = DirSpec {
            like: target_fd.as_ref(),
            mode: 0o755,
            owner: dir_owner,
        };
        let place = |e: &FileEntry| -> Result<Placement> {
            let rel = Path::new(&e.path);
            let shown = stage.join(rel);
            let (p, n) = beneath::split(rel).map_err(beneath_err("create", &shown))?;
            let dir = beneath::open_dir(&stage_fd, p, Some(&spec))
                .map_err(beneath_err("create directory", &shown))?;
            let owner = target_fd
                .as_ref()
                .and_then(|t| beneath::open_dir(t, p, None).ok())
                .and_then(|d| regular_owner(&d, n))
                .or(dir_owner);
            let file = create_new(&dir, n).map_err(beneath_err("create", &shown))?;
            Ok(Placement { file, shown, owner })
        };
        self.write_entries(index, m, selected, &place, progress)?;
        let mut kept = 0;
        if let (Some(t), Some(tfd)) = (in_place, &target_fd) {
            let mut carry = Carry { selection, kept: 0 };
            carry.dir(tfd, &stage_fd, Some(""), t, false)?;
            kept = carry.kept;
            if kept > 0 {
                tracing::info!(target = %t.display(), kept, "Kept entries the snapshot does not cover");
            }
        }
        fsync_tree(&stage_fd).map_err(|e| BackupError::io("fsync", stage, e))?;
        Ok(kept)
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
            if let Some(id) = e.chunks.iter().find(|id| !index.contains(id)) {
                return Err(BackupError::DamagedFile {
                    snapshot: m.id.clone(),
                    file: e.path.clone(),
                    reason: format!("chunk {id} is missing from the repository"),
                });
            }
        }
        let total: u64 = selected.iter().map(|e| e.size).sum();
        let target = target.to_path_buf();
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
        let exists_nonempty = target.exists() && !dir_is_empty(&target)?;
        if exists_nonempty && !opts.in_place {
            return Err(BackupError::TargetNotEmpty(target));
        }

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
                skip_lightrag_temp_files: opts.skip_lightrag_temp_files,
                ..BackupOptions::default()
            };
            safety = Some(self.backup(&graph, &target, &bo, &NoProgress)?.snapshot.id);
        }
        progress.begin("restore", selected.len() as u64, total);

        let target_meta = fs::metadata(&target).ok().filter(|md| md.is_dir());
        let dir_owner = target_meta.as_ref().map(|md| (md.uid(), md.gid()));
        let mut kept = 0;
        if exists_nonempty && !opts.files.is_empty() {
            // Partial in place: stage each file beside its destination, then rename each.
            // Every directory is opened without following links: a link planted in the
            // graph folder cannot send a write outside it (the restore fails instead).
            let root = beneath::open_root(&target).map_err(beneath_err("open", &target))?;
            let spec = DirSpec {
                like: None,
                mode: 0o755,
                owner: dir_owner,
            };
            let suffix = random_hex(6);
            let tmp_name = |n: &OsStr| {
                let mut t = std::ffi::OsString::from(".");
                t.push(n);
                t.push(format!(".lrtmp-{suffix}"));
                t
            };
            let place = |e: &FileEntry| -> Result<Placement> {
                let rel = Path::new(&e.path);
                let shown = target.join(rel);
                let (p, n) = beneath::split(rel).map_err(beneath_err("open", &shown))?;
                let dir = beneath::open_dir(&root, p, Some(&spec))
                    .map_err(beneath_err("open directory", &shown))?;
                let owner = regular_owner(&dir, n).or(dir_owner);
                let file = create_new(&dir, &tmp_name(n)).map_err(beneath_err("create", &shown))?;
                Ok(Placement { file, shown, owner })
            };
            let res = self.write_entries(&index, &m, &selected, &place, progress);
            if res.is_err() || opts.fails_before_swap() {
                for e in &selected {
                    let rel = Path::new(&e.path);
                    if let Ok((p, n)) = beneath::split(rel)
                        && let Ok(dir) = beneath::open_dir(&root, p, None)
                    {
                        let _ = rustix::fs::unlinkat(&dir, tmp_name(n), AtFlags::empty());
                    }
                }
                res?;
                return Err(BackupError::Injected("before swap"));
            }
            for e in &selected {
                let rel = Path::new(&e.path);
                let dest = target.join(rel);
                let (p, n) = beneath::split(rel).map_err(beneath_err("open", &dest))?;
                let dir = beneath::open_dir(&root, p, None)
                    .map_err(beneath_err("open directory", &dest))?;
                rustix::fs::renameat(&dir, tmp_name(n), &dir, n)
                    .map_err(|err| BackupError::io("rename into place", &dest, err.into()))?;
                let _ = rustix::fs::fsync(&dir);
            }
        } else {
            let stage = parent.join(format!(".{name}.lrtmp-{}", random_hex(6)));
            fs::create_dir(&stage)
                .map_err(|e| BackupError::io("create staging directory", &stage, e))?;
            let res = self.stage(
                &index,
                &m,
                &selected,
                &stage,
                exists_nonempty.then_some(&target),
                &selection,
                opts,
                progress,
            );
            match res {
                Ok(k) => kept = k,
                Err(e) => {
                    remove_tree(&stage);
                    return Err(e);
                }
            }
            if let Some(md) = &target_meta {
                // The folder keeps its mode and owner.
                let err = |e: std::io::Error| BackupError::io("set mode of", &stage, e);
                let fd = beneath::open_root(&stage).map_err(err)?;
                beneath::chown_fd(&fd, dir_owner).map_err(err)?;
                rustix::fs::fchmod(&fd, Mode::from_raw_mode(md.mode() & 0o7777))
                    .map_err(|e| err(e.into()))?;
                let _ = rustix::fs::fsync(&fd);
            }
            if opts.fails_before_swap() {
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
                        // No atomic exchange on this filesystem: two renames. A crash between
                        // them leaves the old state in `.lrold-`, moved back by the next
                        // restore into this target (`remove_stale_staging`).
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
                // One rename, atomic: it replaces an empty directory and refuses a non-empty
                // one. A target that filled since it was checked (another restore into the
                // same new graph, or any writer) is refused as not empty, never merged into
                // or replaced; the staged copy is removed.
                if let Err(e) = fs::rename(&stage, &target) {
                    remove_tree(&stage);
                    // ENOTEMPTY or EEXIST: rename(2) may answer either for a filled folder.
                    let filled = matches!(
                        e.kind(),
                        std::io::ErrorKind::DirectoryNotEmpty | std::io::ErrorKind::AlreadyExists
                    );
                    return Err(if filled {
                        BackupError::TargetNotEmpty(target)
                    } else {
                        BackupError::io("rename into place", &target, e)
                    });
                }
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
            kept,
            consistent: m.consistent,
            warning: consistency_warning(&m),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{ChunkId, IndexBlob, IndexFile, IndexPack};

    fn entry(path: &str, chunks: Vec<ChunkId>) -> FileEntry {
        FileEntry {
            path: path.into(),
            size: 0,
            mode: 0o644,
            mtime: 0,
            mtime_nsec: 0,
            inode: 0,
            ctime: None,
            ctime_nsec: 0,
            hash: String::new(),
            chunks,
        }
    }

    /// A file is cut at chunk boundaries into segments of about 16 MiB whose offsets add up;
    /// a small or empty file is one segment; an unindexed chunk stops the cutting.
    #[test]
    fn files_are_cut_into_segments_at_chunk_boundaries() {
        let id = |n: u32| {
            let mut b = [7u8; 32];
            b[..4].copy_from_slice(&n.to_le_bytes());
            ChunkId(b)
        };
        let mib = 1 << 20;
        // 40 chunks of 1 MiB.
        let mut index = Index::default();
        index.add(&IndexFile {
            packs: vec![IndexPack {
                id: "ab".repeat(32),
                size: 40 * 1000,
                blobs: (0..40)
                    .map(|n| IndexBlob(id(n), u64::from(n) * 1000, 1000, mib))
                    .collect(),
            }],
        });
        index.seal();
        let big = entry("big", (0..40).map(id).collect());
        let small = entry("small", vec![id(0)]);
        let empty = entry("empty", vec![]);
        let unknown = entry("unknown", vec![id(1), id(99), id(2)]);
        let segs = segments(&index, &[&big, &small, &empty, &unknown]);
        let of = |f: usize| -> Vec<(usize, usize, u64)> {
            segs.iter()
                .filter(|s| s.file == f)
                .map(|s| (s.lo, s.hi, s.offset))
                .collect()
        };
        let m = u64::from(mib);
        assert_eq!(of(0), [(0, 16, 0), (16, 32, 16 * m), (32, 40, 32 * m)]);
        assert_eq!(of(1), [(0, 1, 0)]);
        assert_eq!(of(2), [(0, 0, 0)]);
        assert_eq!(of(3), [(0, 3, 0)]);
    }
}
