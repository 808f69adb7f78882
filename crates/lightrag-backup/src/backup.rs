//! Backup of one graph directory into the repository.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fastcdc::v2020::{FastCDC, Normalization};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::claimed::Claimed;
use crate::error::{BackupError, Result};
use crate::format::{self, ChunkId, FORMAT_VERSION, FileEntry, Index, Manifest, Totals};
use crate::lock::{LockGuard, LockKind, hostname};
use crate::pack::PackWriter;
use crate::progress::Progress;
use crate::repo::{Repository, SnapshotInfo, check_level};
use crate::summary::{LightRagSummary, Scanner, StoreKind, StoreStats};
use crate::tree::Selection;

/// Where to inject a failure (tests of crash safety). Only with the `test-hooks` feature.
#[cfg(any(test, feature = "test-hooks"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Failpoint {
    /// Return an error after the packs are written, before the index part of the last packs
    /// (earlier parts are written while the backup runs, as their packs are stored).
    BeforeIndex,
    /// Return an error after packs and index, before the manifest is published.
    BeforeManifest,
    /// Abort the whole process (no unwinding, no cleanup) before the manifest is published.
    AbortBeforeManifest,
}

/// Options of one backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupOptions {
    /// Tags stored in the manifest.
    pub tags: Vec<String>,
    /// Why the snapshot is taken (`manual`, `scheduled`, `pre_restore`, ...).
    pub trigger: String,
    /// Glob patterns (`*`, `?`) matched against each relative path and each file name;
    /// matching files and directories are skipped.
    pub excludes: Vec<String>,
    /// Relative, `/`-separated paths below the graph directory (files or directories) that
    /// are skipped exactly (not globbed): neither read nor recorded. Used to keep the folders
    /// of other graphs nested in this one out of its snapshots.
    pub exclude_paths: Vec<String>,
    /// Skip LightRAG's temporary files, `<file>.tmp.<pid>.<tid>.<ns>` (see
    /// [`is_lightrag_temp_file`](crate::is_lightrag_temp_file)): half-written by design and
    /// renamed over the store a moment later. Default true; set false to capture them.
    pub skip_lightrag_temp_files: bool,
    /// Parent snapshot for change detection; default: the graph's latest snapshot.
    pub parent: Option<String>,
    /// Read every file even when size, mtime, ctime, inode and mode match the parent.
    pub force_reread: bool,
    /// Re-reads of a file that changed while being read or does not parse (default 5).
    pub max_retries: u32,
    /// First back-off before a re-read; doubles each time, capped at 5 s (default 200 ms).
    pub retry_backoff: Duration,
    /// Check that LightRAG JSON/GraphML files parse (torn-write detection; default true).
    pub check_lightrag_files: bool,
    /// zstd level for this backup (default: the repository's level).
    pub compression_level: Option<i32>,
    /// How long the graph folder must have been still for a save to count as finished
    /// (default zero here; the service passes `LIGHTRAG_BACKUP_SETTLE`, 1 s by default). A
    /// snapshot is *consistent* when nothing in the folder changed from before its first read
    /// until at least this long after the folder's last change, no LightRAG temp file was
    /// pending, and no document in doc_status was mid-save: it then holds one state LightRAG
    /// left on disk. The backup waits out the rest of this time after reading when the folder
    /// changed shortly before.
    pub settle: Duration,
    /// Whole-graph re-reads when a save overlapped the reads (default 3), each after waiting
    /// `settle`; when every attempt overlapped one, the last is published marked not
    /// consistent (each file in it is still whole).
    pub consistency_retries: u32,
    /// Test hook: inject a failure. Only with the `test-hooks` feature; never deserialised:
    /// no request can reach it.
    #[cfg(any(test, feature = "test-hooks"))]
    #[serde(skip)]
    pub failpoint: Option<Failpoint>,
    /// Test hook: called after the first read buffer of every file attempt. Only with the
    /// `test-hooks` feature.
    #[cfg(any(test, feature = "test-hooks"))]
    #[serde(skip)]
    pub read_hook: Option<ReadHook>,
}

/// A test hook called as `hook(path, attempt)` after the first read buffer of a file. Only
/// with the `test-hooks` feature.
#[cfg(any(test, feature = "test-hooks"))]
#[derive(Clone)]
pub struct ReadHook(pub std::sync::Arc<ReadHookFn>);

/// The function type of a [`ReadHook`].
#[cfg(any(test, feature = "test-hooks"))]
pub type ReadHookFn = dyn Fn(&Path, u32) + Send + Sync;

#[cfg(any(test, feature = "test-hooks"))]
impl std::fmt::Debug for ReadHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadHook")
    }
}

impl BackupOptions {
    /// Runs the test read hook, if any.
    #[cfg(any(test, feature = "test-hooks"))]
    fn run_read_hook(&self, path: &Path, attempt: u32) {
        if let Some(h) = &self.read_hook {
            (h.0)(path, attempt);
        }
    }

    /// Without the `test-hooks` feature there is no read hook.
    #[cfg(not(any(test, feature = "test-hooks")))]
    fn run_read_hook(&self, _path: &Path, _attempt: u32) {}

    /// The exclusion rule of these options.
    pub(crate) fn selection(&self) -> Selection {
        Selection::new(
            &self.excludes,
            &self.exclude_paths,
            self.skip_lightrag_temp_files,
        )
    }
}

impl Default for BackupOptions {
    fn default() -> Self {
        BackupOptions {
            tags: Vec::new(),
            trigger: "manual".into(),
            excludes: Vec::new(),
            exclude_paths: Vec::new(),
            skip_lightrag_temp_files: true,
            parent: None,
            force_reread: false,
            max_retries: 5,
            retry_backoff: Duration::from_millis(200),
            check_lightrag_files: true,
            compression_level: None,
            settle: Duration::ZERO,
            consistency_retries: 3,
            #[cfg(any(test, feature = "test-hooks"))]
            failpoint: None,
            #[cfg(any(test, feature = "test-hooks"))]
            read_hook: None,
        }
    }
}

/// Result of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SnapshotSummary {
    /// The new snapshot.
    pub snapshot: SnapshotInfo,
    /// Paths skipped (symlinks, special files, files that vanished), with the reason.
    pub skipped: Vec<String>,
    /// Files that had to be re-read because they changed while being read.
    pub retried: Vec<String>,
    /// Storage requests this backup sent (object stores; zero for a local directory).
    /// Exact when no other operation uses the same storage concurrently.
    #[serde(default)]
    pub requests: crate::storage::StorageStats,
    /// Times the graph was read: 1, plus one per re-read because a save overlapped the reads.
    #[serde(default)]
    pub attempts: u32,
}

/// Simple glob: `*` any run of characters, `?` one character.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[derive(Debug)]
struct WalkEntry {
    rel: String,
    abs: PathBuf,
    size: u64,
    /// `lstat` of the walked entry: the file read must be this one (same device and inode).
    meta: std::fs::Metadata,
}

/// What one walk of the graph folder saw.
struct Walked {
    /// Regular files the selection keeps (LightRAG temp files included; see [`FolderState`]).
    files: Vec<WalkEntry>,
    /// The newest status change of the folder and every folder walked below it: creating,
    /// renaming or deleting an entry changes its folder.
    folders_changed: SystemTime,
}

fn walk(root: &Path, selection: &Selection, skipped: &mut Vec<String>) -> Result<Walked> {
    let mut out = Vec::new();
    let root_meta =
        std::fs::metadata(root).map_err(|e| BackupError::io("open graph directory", root, e))?;
    let mut folders_changed = ctime_of(&root_meta);
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            // A subfolder removed since it was listed: nothing left to capture.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !rel.is_empty() => continue,
            Err(e) => return Err(BackupError::io("read directory", &dir, e)),
        };
        for entry in rd {
            let entry = entry.map_err(|e| BackupError::io("read directory", &dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                skipped.push(format!(
                    "{}: file name is not UTF-8",
                    entry.path().display()
                ));
                continue;
            };
            let rel_path = if rel.is_empty() {
                name.to_owned()
            } else {
                format!("{rel}/{name}")
            };
            if selection.skips(&rel_path, name) {
                continue;
            }
            let ft = entry
                .file_type()
                .map_err(|e| BackupError::io("stat", entry.path(), e))?;
            if ft.is_dir() {
                if let Ok(m) = entry.metadata() {
                    folders_changed = folders_changed.max(ctime_of(&m));
                }
                stack.push((entry.path(), rel_path));
            } else if ft.is_file() {
                let meta = match entry.metadata() {
                    Ok(m) => m,
                    // Deleted since it was listed (LightRAG renames files over each other).
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(BackupError::io("stat", entry.path(), e)),
                };
                out.push(WalkEntry {
                    rel: rel_path,
                    abs: entry.path(),
                    size: meta.len(),
                    meta,
                });
            } else {
                skipped.push(format!("{rel_path}: not a regular file"));
            }
        }
    }
    Ok(Walked {
        files: out,
        folders_changed,
    })
}

/// A file's status change time (any write, rename or chmod moves it; nothing can set it back).
fn ctime_of(m: &std::fs::Metadata) -> SystemTime {
    let secs = Duration::from_secs(m.ctime().unsigned_abs())
        + Duration::from_nanos(m.ctime_nsec().unsigned_abs());
    if m.ctime() >= 0 {
        UNIX_EPOCH + secs
    } else {
        UNIX_EPOCH
    }
}

/// The state of a graph folder as far as save-consistency is concerned: every file the
/// snapshot may hold with its stamp, LightRAG's pending temp files, and the newest change.
/// Two equal states taken around the reads prove no store changed in between.
#[derive(PartialEq, Eq)]
struct FolderState {
    /// (relative path, stamp), sorted by path; LightRAG temp files are in `pending` instead.
    files: Vec<(String, Stamp)>,
    /// LightRAG temp files (`<file>.tmp.<pid>.<tid>.<ns>`): a save is writing.
    pending: Vec<String>,
    /// Newest status change of any file or folder seen.
    changed: SystemTime,
}

impl FolderState {
    fn of(walked: &Walked) -> FolderState {
        let mut files = Vec::new();
        let mut pending = Vec::new();
        let mut changed = walked.folders_changed;
        for w in &walked.files {
            changed = changed.max(ctime_of(&w.meta));
            let name = w.rel.rsplit('/').next().unwrap_or(&w.rel);
            if crate::tree::is_lightrag_temp_file(name) {
                pending.push(w.rel.clone());
            } else {
                files.push((w.rel.clone(), Stamp::of(&w.meta)));
            }
        }
        files.sort_by(|a, b| a.0.cmp(&b.0));
        pending.sort();
        FolderState {
            files,
            pending,
            changed,
        }
    }

    /// Walks `dir` now (the consistency rule sees temp files whatever the options capture).
    fn read(dir: &Path, opts: &BackupOptions) -> Result<FolderState> {
        let selection = Selection::new(&opts.excludes, &opts.exclude_paths, false);
        Ok(FolderState::of(&walk(dir, &selection, &mut Vec::new())?))
    }

    /// Why the state `later` shows that a save overlapped the reads begun at `self`, if it does.
    fn overlap(&self, later: &FolderState) -> Option<String> {
        if let Some(t) = self.pending.first().or(later.pending.first()) {
            return Some(format!("a LightRAG save was writing ({t} pending)"));
        }
        if self.files != later.files {
            let changed = later
                .files
                .iter()
                .filter(|f| !self.files.contains(f))
                .map(|f| f.0.as_str())
                .chain(
                    self.files
                        .iter()
                        .filter(|f| !later.files.iter().any(|l| l.0 == f.0))
                        .map(|f| f.0.as_str()),
                )
                .take(3)
                .collect::<Vec<_>>()
                .join(", ");
            return Some(format!("{changed} changed while the graph was read"));
        }
        if self.changed != later.changed {
            return Some("the graph folder changed while it was read".into());
        }
        None
    }
}

/// Files modified less than this before a read began are re-read (coarse mtime clocks).
const RACY_WINDOW: Duration = Duration::from_millis(50);

/// Read buffer per worker: large reads, and the chunker works in place (no per-chunk copy).
const READ_BUFFER: usize = 1024 * 1024;

type BlobMsg = (ChunkId, u32, Vec<u8>);
/// Chunks travel between the pipeline's threads in batches of about this many bytes: one
/// channel hand-over (and thread wake-up) per batch instead of per chunk, which with small
/// chunks cost more CPU than hashing them.
const BATCH_BYTES: usize = 256 * 1024;
type Batch = Vec<BlobMsg>;
const KNOWN_SHARDS: usize = 64;

struct Ctx<'a> {
    repo: &'a Repository,
    /// The graph folder, opened once: files are opened beneath it.
    root: std::os::fd::OwnedFd,
    opts: &'a BackupOptions,
    level: i32,
    index: &'a Index,
    /// Chunks whose indexed copy is known bad (`verify`/`repair` marks): stored again.
    bad: HashSet<ChunkId>,
    /// Chunks claimed by this run (exact, ~36 bytes per id, see `claimed.rs`), sharded by the
    /// id's first byte: one lock per shard, and a shard grows (and merges) alone.
    known: Vec<Mutex<Claimed>>,
    parent: Option<&'a Manifest>,
    progress: &'a dyn Progress,
    bytes_read: std::sync::atomic::AtomicU64,
    new_chunks: std::sync::atomic::AtomicU64,
    new_bytes: std::sync::atomic::AtomicU64,
    retried: Mutex<Vec<String>>,
    skipped: Mutex<Vec<String>>,
    failed: std::sync::atomic::AtomicBool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
    ctime: i64,
    ctime_nsec: i64,
    ino: u64,
}

impl Stamp {
    fn of(m: &std::fs::Metadata) -> Stamp {
        Stamp {
            size: m.size(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
            ctime: m.ctime(),
            ctime_nsec: m.ctime_nsec(),
            ino: m.ino(),
        }
    }
}

enum Attempt {
    Done(Box<(FileEntry, Option<StoreStats>)>),
    Torn(String),
    /// Modified too recently to prove the read consistent: wait out the window, re-read.
    Racy,
    Vanished,
    /// Now a link, a FIFO or another non-regular file: not captured (as the walk would not).
    NotRegular,
}

impl Ctx<'_> {
    fn known_shard(&self, id: &ChunkId) -> &Mutex<Claimed> {
        &self.known[usize::from(id.0[0]) % self.known.len()]
    }

    fn is_known(&self, id: &ChunkId) -> bool {
        (self.index.contains(id) && !self.bad.contains(id))
            || self
                .known_shard(id)
                .lock()
                .map(|k| k.contains(id))
                .unwrap_or(false)
    }

    /// Returns true when the caller must store the chunk (first sighting in this run).
    fn claim(&self, id: ChunkId) -> bool {
        if self.index.contains(&id) && !self.bad.contains(&id) {
            return false;
        }
        match self.known_shard(&id).lock() {
            Ok(mut k) => k.insert(id),
            Err(p) => p.into_inner().insert(id),
        }
    }

    fn note_retry(&self, rel: &str) {
        if let Ok(mut r) = self.retried.lock()
            && !r.iter().any(|x| x == rel)
        {
            r.push(rel.to_owned());
        }
    }

    fn reuse_from_parent(&self, w: &WalkEntry) -> Option<(FileEntry, Option<StoreStats>)> {
        if self.opts.force_reread {
            return None;
        }
        let parent = self.parent?;
        let old = parent
            .files
            .binary_search_by(|f| f.path.as_str().cmp(&w.rel))
            .ok()
            .map(|i| &parent.files[i])?;
        if !same_stat(old, &w.meta) || released(old) || !old.chunks.iter().all(|c| self.is_known(c))
        {
            return None;
        }
        Some((old.clone(), parent.summary.stores.get(&w.rel).cloned()))
    }

    fn read_once(
        &self,
        w: &WalkEntry,
        kind: Option<StoreKind>,
        tx: &SyncSender<Batch>,
        attempt: u32,
        expect: &mut (u64, u64),
    ) -> Result<Attempt> {
        // Opened beneath the graph folder without following any link: a file (or folder)
        // swapped for a link since the walk is not read through it.
        let file = match crate::beneath::open_file(&self.root, Path::new(&w.rel)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Attempt::Vanished),
            Err(e)
                if e.kind() == std::io::ErrorKind::Other
                    || e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) =>
            {
                return Ok(Attempt::NotRegular);
            }
            Err(e) => return Err(BackupError::io("open", &w.abs, e)),
        };
        let before = file
            .metadata()
            .map_err(|e| BackupError::io("stat", &w.abs, e))?;
        if !before.file_type().is_file() {
            return Ok(Attempt::NotRegular);
        }
        if (before.dev(), before.ino()) != *expect {
            // Replaced since it was walked (or since the last attempt): read the new file on
            // the next attempt.
            *expect = (before.dev(), before.ino());
            return Ok(Attempt::Torn(
                "replaced by another file while being opened".into(),
            ));
        }
        let stamp = Stamp::of(&before);
        // Racy-stamp rule (as git does): file timestamps come from a coarse clock, so a write
        // during the read could leave mtime unchanged if an earlier write fell in the same
        // tick. A file modified less than RACY_WINDOW ago cannot be proven stable: wait first.
        // (A timestamp in the future says nothing about this read: clock skew; not waited on.)
        if let Ok(mtime) = before.modified() {
            let now = std::time::SystemTime::now();
            if mtime + RACY_WINDOW >= now && mtime <= now + Duration::from_secs(1) {
                return Ok(Attempt::Racy);
            }
        }
        let mut scanner = kind.map(Scanner::new);
        let cp = self.repo.config.chunker_for(kind);
        let max = cp.max_size as usize;
        let mut file = file;
        let mut buf = vec![0u8; READ_BUFFER.max(2 * max)];
        let (mut len, mut eof, mut bytes, mut first_fill) = (0usize, false, 0u64, true);
        let mut chunks = Vec::new();
        loop {
            while !eof && len < buf.len() {
                let n = match file.read(&mut buf[len..]) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(BackupError::io("read", &w.abs, e)),
                };
                if n == 0 {
                    eof = true;
                } else {
                    if let Some(s) = scanner.as_mut() {
                        s.feed(&buf[len..len + n]);
                    }
                    len += n;
                    bytes += n as u64;
                }
            }
            if len == 0 {
                break;
            }
            if first_fill {
                first_fill = false;
                self.opts.run_read_hook(&w.abs, attempt);
            }
            if self.failed.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(BackupError::Injected("another worker failed"));
            }
            // Same cut points as a streaming FastCDC: a cut is only taken with at least
            // `max_size` bytes ahead (or at end of file).
            let cdc = FastCDC::with_level(
                &buf[..len],
                cp.min_size,
                cp.avg_size,
                cp.max_size,
                Normalization::Level1,
            );
            let mut start = 0;
            let (mut batch, mut batch_bytes): (Batch, usize) = (Vec::new(), 0);
            // The compressors stopped: their error is reported by the caller.
            let send = |batch: Batch| {
                tx.send(batch)
                    .map_err(|_| BackupError::Injected("pack writer stopped"))
            };
            while start < len && (eof || len - start >= max) {
                let (_, end) = cdc.cut(start, len - start);
                let data = &buf[start..end];
                let id = self.repo.chunk_id(data);
                if self.claim(id) {
                    self.new_chunks
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    self.new_bytes
                        .fetch_add(data.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    batch.push((id, data.len() as u32, data.to_vec()));
                    batch_bytes += data.len();
                    if batch_bytes >= BATCH_BYTES {
                        send(std::mem::take(&mut batch))?;
                        batch_bytes = 0;
                    }
                }
                chunks.push(id);
                start = end;
            }
            // Every claimed chunk is sent before the next read (or return).
            if !batch.is_empty() {
                send(batch)?;
            }
            self.progress.advance(0, start as u64);
            drop(cdc);
            buf.copy_within(start..len, 0);
            len -= start;
            if eof && len == 0 {
                break;
            }
        }
        self.bytes_read
            .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
        let after = file
            .metadata()
            .map_err(|e| BackupError::io("stat", &w.abs, e))?;
        if Stamp::of(&after) != stamp || bytes != stamp.size {
            return Ok(Attempt::Torn(format!(
                "changed while being read (size {} -> {}, read {bytes} bytes)",
                stamp.size,
                after.size()
            )));
        }
        let stats = match scanner.map(Scanner::finish) {
            None => None,
            Some(Ok(s)) => Some(s),
            Some(Err(reason)) if self.opts.check_lightrag_files => {
                return Ok(Attempt::Torn(format!("does not parse: {reason}")));
            }
            Some(Err(_)) => None,
        };
        // Held until the manifest is written: without the growth slack (up to half).
        chunks.shrink_to_fit();
        let entry = FileEntry {
            path: w.rel.clone(),
            size: bytes,
            mode: before.mode() & 0o7777,
            mtime: before.mtime(),
            mtime_nsec: before.mtime_nsec() as u32,
            inode: before.ino(),
            ctime: Some(before.ctime()),
            ctime_nsec: before.ctime_nsec() as u32,
            hash: format::file_hash(&chunks),
            chunks,
        };
        Ok(Attempt::Done(Box::new((entry, stats))))
    }

    fn backup_file(
        &self,
        w: &WalkEntry,
        tx: &SyncSender<Batch>,
    ) -> Result<Option<(FileEntry, Option<StoreStats>)>> {
        if let Some(r) = self.reuse_from_parent(w) {
            self.progress.advance(1, w.size);
            return Ok(Some(r));
        }
        let name = w.rel.rsplit('/').next().unwrap_or(&w.rel);
        let kind = StoreKind::classify(name);
        let mut backoff = self.opts.retry_backoff;
        let mut last = String::new();
        let mut racy_waits = 0u32;
        let mut attempt = 0u32;
        let mut expect = (w.meta.dev(), w.meta.ino());
        while attempt <= self.opts.max_retries {
            match self.read_once(w, kind, tx, attempt, &mut expect)? {
                Attempt::Done(done) => {
                    self.progress.advance(1, 0);
                    return Ok(Some(*done));
                }
                Attempt::Vanished if crate::tree::is_lightrag_temp_file(name) => {
                    // LightRAG renamed its temp file over the store: expected, not a problem.
                    return Ok(None);
                }
                Attempt::Vanished => {
                    if let Ok(mut s) = self.skipped.lock() {
                        s.push(format!("{}: vanished during backup", w.rel));
                    }
                    return Ok(None);
                }
                Attempt::NotRegular => {
                    if let Ok(mut s) = self.skipped.lock() {
                        s.push(format!(
                            "{}: replaced by a link or special file during backup; not captured",
                            w.rel
                        ));
                    }
                    return Ok(None);
                }
                Attempt::Racy => {
                    // Not a failed attempt: the file may simply have been saved a moment ago.
                    racy_waits += 1;
                    if racy_waits == 1 {
                        self.note_retry(&w.rel);
                    }
                    if racy_waits > 20 * (self.opts.max_retries + 1) {
                        last = "modified during or just before every read".into();
                        break;
                    }
                    std::thread::sleep(RACY_WINDOW + Duration::from_millis(5));
                    continue;
                }
                Attempt::Torn(reason) => {
                    tracing::warn!(file = %w.abs.display(), attempt, %reason, "File changed while read, retrying");
                    self.progress
                        .note(&format!("{}: {reason}; retrying", w.rel));
                    self.note_retry(&w.rel);
                    last = reason;
                    if attempt < self.opts.max_retries {
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                    attempt += 1;
                }
            }
        }
        Err(BackupError::FileUnstable {
            path: w.abs.clone(),
            attempts: self.opts.max_retries + 1,
            reason: last,
        })
    }
}

/// `m` (an `lstat`) has the size, times, inode and mode `old` recorded: the file is taken as
/// unchanged. Each of these is a field of [`FileEntry`], so an entry read from a file whose
/// stat differs is never equal to `old`.
fn same_stat(old: &FileEntry, m: &std::fs::Metadata) -> bool {
    m.size() == old.size
        && m.mtime() == old.mtime
        && m.mtime_nsec() == i64::from(old.mtime_nsec)
        && m.ino() == old.inode
        && old.ctime == Some(m.ctime())
        && m.ctime_nsec() == i64::from(old.ctime_nsec)
        && (m.mode() & 0o7777) == old.mode
}

/// Whether [`release_unreusable`] freed this entry's chunk list: never reused then.
fn released(entry: &FileEntry) -> bool {
    entry.size > 0 && entry.chunks.is_empty()
}

/// Free the chunk lists of the parent's files that this attempt will read again because
/// their stat changed. The parent is held for the whole backup and these lists would only be
/// compared with the new entries, which differ from them anyway (`same_stat`); at 20 000
/// docs, where every store is rewritten between two backups, that is ~11 MB of chunk ids. A
/// released entry is never reused ([`released`]). Files this walk did not see keep theirs: a
/// later attempt may find them as they were.
fn release_unreusable(parent: &mut Manifest, files: &[WalkEntry]) {
    let walked: std::collections::HashMap<&str, &std::fs::Metadata> =
        files.iter().map(|w| (w.rel.as_str(), &w.meta)).collect();
    for f in &mut parent.files {
        if walked
            .get(f.path.as_str())
            .is_some_and(|m| !same_stat(f, m))
        {
            f.chunks = Vec::new();
        }
    }
}

fn pack_writer_loop(
    mut writer: PackWriter<'_>,
    rx: Receiver<Batch>,
) -> Result<(Vec<format::IndexPack>, u64)> {
    for batch in rx {
        for (id, raw, data) in batch {
            writer.add(id, raw, &data)?;
        }
    }
    writer.finish()
}

/// Why the stores read are not at a save boundary, by their content: LightRAG (≥ 1.5) marks a
/// document `processing` with `kg_write_state` `graph_mutation_started` while it writes the
/// stores derived from it, and the folder can be still for seconds in the middle of that (the
/// vector stores are written after their embeddings are computed).
fn mid_save(results: &[(FileEntry, Option<StoreStats>)]) -> Option<String> {
    results.iter().find_map(|(f, st)| {
        let n = st.as_ref()?.docs_mid_save;
        (n > 0).then(|| {
            format!(
                "LightRAG was writing the stores derived from {n} document(s) ({}: status processing, kg_write_state graph_mutation_started)",
                f.path
            )
        })
    })
}

/// What one read of the whole graph produced.
struct ReadOutcome {
    results: Vec<(FileEntry, Option<StoreStats>)>,
    /// Packs stored and not yet indexed.
    packs: Vec<format::IndexPack>,
    /// Index files written while reading.
    indexed: Vec<String>,
    stored: u64,
    bytes_read: u64,
    new_chunks: u64,
    new_bytes: u64,
    skipped: Vec<String>,
    retried: Vec<String>,
}

impl Repository {
    /// Back up the graph directory `dir` as a new snapshot of `graph_id`.
    ///
    /// Chunks and packs are written first, then the index parts that name them (each once its
    /// packs are stored, while the backup runs), then the manifest; only the
    /// manifest makes the snapshot visible. Backups of the same graph are serialized by a
    /// repository lock; different graphs run in parallel.
    ///
    /// The folder is walked before and after the reads: when a save overlapped them (a store
    /// changed, a LightRAG temp file was pending, or the folder had not been still for
    /// [`BackupOptions::settle`]) the whole graph is read again, up to
    /// [`BackupOptions::consistency_retries`] times; the manifest records whether the snapshot
    /// is consistent.
    pub fn backup(
        &self,
        graph_id: &str,
        dir: &Path,
        opts: &BackupOptions,
        progress: &dyn Progress,
    ) -> Result<SnapshotSummary> {
        format::validate_graph_id(graph_id)?;
        let level = opts
            .compression_level
            .unwrap_or(self.config.compression_level);
        check_level(level)?;
        let dir_meta =
            std::fs::metadata(dir).map_err(|e| BackupError::io("open graph directory", dir, e))?;
        if !dir_meta.is_dir() {
            return Err(BackupError::InvalidArgument(format!(
                "{} is not a directory",
                dir.display()
            )));
        }
        let requests_before = self.storage.stats();
        let _lock = self.lock(LockKind::Backup {
            graph: graph_id.to_owned(),
        })?;
        let started = OffsetDateTime::now_utc();
        let mut index = self.load_index()?;
        let mut parent = match &opts.parent {
            Some(p) => Some(self.snapshot(p)?),
            None => match self.manifest_keys(Some(graph_id))?.last() {
                Some((_, _, key)) => self.read_manifest_opt(key)?,
                None => None,
            },
        };
        let (mut stored, mut bytes_read, mut new_chunks, mut new_bytes) = (0, 0, 0, 0);
        let mut attempts = 0u32;
        // Files re-read because they changed while read, over all attempts.
        let mut retried: Vec<String> = Vec::new();
        let (read, inconsistency) = loop {
            attempts += 1;
            let mut skipped = Vec::new();
            let walked = walk(
                dir,
                &Selection::new(&opts.excludes, &opts.exclude_paths, false),
                &mut skipped,
            )?;
            let before = FolderState::of(&walked);
            let selection = opts.selection();
            let files = walked
                .files
                .into_iter()
                .filter(|w| {
                    let name = w.rel.rsplit('/').next().unwrap_or(&w.rel);
                    !selection.skips(&w.rel, name)
                })
                .collect::<Vec<_>>();
            if let Some(p) = parent.as_mut() {
                release_unreusable(p, &files);
            }
            let read = self.read_files(
                ReadPlan {
                    dir,
                    opts,
                    level,
                    index: &index,
                    parent: parent.as_ref(),
                    progress,
                    lock: &_lock,
                },
                files,
                skipped,
            )?;
            for r in &read.retried {
                if !retried.contains(r) {
                    retried.push(r.clone());
                }
            }
            stored += read.stored;
            bytes_read += read.bytes_read;
            new_chunks += read.new_chunks;
            new_bytes += read.new_bytes;
            let inconsistency = match self.overlap_after_reads(dir, opts, &before)? {
                Some(reason) => Some(reason),
                None => mid_save(&read.results),
            };
            match inconsistency {
                Some(reason) if attempts <= opts.consistency_retries => {
                    // Chunks stored by this attempt are known to the next one: its last index
                    // part is written (the others were, as their packs were stored), and every
                    // part it wrote is added to the index, read back by key.
                    _lock.check()?;
                    let mut written = read.indexed;
                    written.extend(self.write_index(&read.packs, level)?);
                    self.add_index_files(&mut index, &written)?;
                    tracing::info!(graph = graph_id, attempt = attempts, %reason,
                        "A save overlapped the backup; reading the graph again once it settles");
                    progress.note(&format!("{reason}; reading the graph again"));
                    std::thread::sleep(opts.settle.max(Duration::from_millis(50)));
                }
                other => break (read, other),
            }
        };
        #[cfg(any(test, feature = "test-hooks"))]
        if opts.failpoint == Some(Failpoint::BeforeIndex) {
            return Err(BackupError::Injected("before index"));
        }
        // Still ours? A prune that judged this lock stale may have deleted the new packs (or
        // chunks this backup deduplicated against): publish nothing then. One existence check
        // per backup; the manifest follows immediately.
        _lock.check()?;
        let ReadOutcome {
            mut results,
            skipped,
            packs,
            ..
        } = read;
        self.write_index(&packs, level)?;
        drop(packs);
        #[cfg(any(test, feature = "test-hooks"))]
        match opts.failpoint {
            Some(Failpoint::BeforeManifest) => {
                return Err(BackupError::Injected("before manifest"));
            }
            Some(Failpoint::AbortBeforeManifest) => std::process::abort(),
            _ => {}
        }

        results.sort_by(|a, b| a.0.path.cmp(&b.0.path));
        let mut summary = LightRagSummary::default();
        let mut totals = Totals {
            bytes_read,
            new_chunks,
            new_bytes,
            new_bytes_stored: stored,
            ..Totals::default()
        };
        let parent_files: BTreeMap<&str, &FileEntry> = parent
            .iter()
            .flat_map(|p| p.files.iter().map(|f| (f.path.as_str(), f)))
            .collect();
        let mut entries = Vec::with_capacity(results.len());
        for (entry, stats) in results {
            if let Some(s) = stats {
                summary.stores.insert(entry.path.clone(), s);
            }
            totals.files += 1;
            totals.bytes += entry.size;
            totals.chunks += entry.chunks.len() as u64;
            if parent_files
                .get(entry.path.as_str())
                .is_some_and(|p| **p == entry)
            {
                totals.files_unchanged += 1;
            }
            entries.push(entry);
        }
        if let Some(reason) = &inconsistency {
            tracing::warn!(graph = graph_id, attempts, %reason,
                "Snapshot is not save-consistent: every attempt overlapped a LightRAG save");
        }
        let manifest = Manifest {
            version: FORMAT_VERSION,
            id: format::new_snapshot_id(started),
            graph_id: graph_id.to_owned(),
            created_at: started,
            parent: parent.as_ref().map(|p| p.id.clone()),
            tags: opts.tags.clone(),
            trigger: opts.trigger.clone(),
            hostname: hostname(),
            source: dir.display().to_string(),
            files: entries,
            totals,
            summary,
            consistent: Some(inconsistency.is_none()),
            inconsistency,
            duration_ms: Some(
                u64::try_from((OffsetDateTime::now_utc() - started).whole_milliseconds())
                    .unwrap_or(0),
            ),
        };
        self.write_manifest(&manifest)?;
        progress.end();
        tracing::info!(graph = graph_id, snapshot = %manifest.id, files = manifest.totals.files,
            new_bytes_stored = manifest.totals.new_bytes_stored, attempts,
            consistent = manifest.inconsistency.is_none(), "Backup finished");
        Ok(SnapshotSummary {
            snapshot: SnapshotInfo::from(&manifest),
            skipped,
            retried,
            requests: self.storage.stats().since(&requests_before),
            attempts,
        })
    }

    /// After the reads that began at `before`: why a save overlapped them, or `None` when the
    /// folder stayed as it was and had been still for `settle` (waiting out the rest of
    /// `settle` here when it changed shortly before the reads).
    fn overlap_after_reads(
        &self,
        dir: &Path,
        opts: &BackupOptions,
        before: &FolderState,
    ) -> Result<Option<String>> {
        let after = FolderState::read(dir, opts)?;
        if let Some(reason) = before.overlap(&after) {
            return Ok(Some(reason));
        }
        // Still since `changed`: a save is over once the folder has been still for `settle`
        // (a clock behind a timestamp counts as not still yet).
        let still = SystemTime::now()
            .duration_since(before.changed)
            .unwrap_or(Duration::ZERO);
        if still >= opts.settle {
            return Ok(None);
        }
        std::thread::sleep(opts.settle - still);
        let settled = FolderState::read(dir, opts)?;
        Ok(before
            .overlap(&settled)
            .map(|r| format!("{r} (within {} ms of the reads)", opts.settle.as_millis())))
    }

    /// Reads `files` into chunks and packs (one attempt; publishes nothing).
    fn read_files(
        &self,
        plan: ReadPlan<'_>,
        mut files: Vec<WalkEntry>,
        skipped: Vec<String>,
    ) -> Result<ReadOutcome> {
        let ReadPlan {
            dir,
            opts,
            level,
            index,
            parent,
            progress,
            lock,
        } = plan;
        files.sort_by(|a, b| b.size.cmp(&a.size).then(a.rel.cmp(&b.rel)));
        let total_bytes = files.iter().map(|f| f.size).sum();
        progress.begin("backup", files.len() as u64, total_bytes);

        let ctx = Ctx {
            repo: self,
            root: crate::beneath::open_root(dir)
                .map_err(|e| BackupError::io("open graph directory", dir, e))?,
            opts,
            level,
            index,
            bad: crate::repair::unusable(index, &self.bad_marks()?.0),
            known: (0..KNOWN_SHARDS)
                .map(|_| Mutex::new(Claimed::default()))
                .collect(),
            parent,
            progress,
            bytes_read: 0.into(),
            new_chunks: 0.into(),
            new_bytes: 0.into(),
            retried: Mutex::new(Vec::new()),
            skipped: Mutex::new(skipped),
            failed: false.into(),
        };
        let queue = Mutex::new(files.into_iter().collect::<VecDeque<_>>());
        let results = Mutex::new(Vec::new());
        // Readers (one file each: read, scan, chunk, hash) -> compressors (zstd, seal) ->
        // one pack writer. Compression is spread over all threads even for one huge file.
        let threads = self.threads();
        let (tx, compress_rx) = sync_channel::<Batch>(threads);
        let compress_rx = Mutex::new(compress_rx);
        let (pack_tx, rx) = sync_channel::<Batch>(threads);
        // Index parts are written as their packs are stored, each after a check that the
        // lock is still ours (a prune that judged it stale may have deleted packs of ours it
        // saw unindexed): memory holds one part, not the whole graph's blob list.
        let indexed = Mutex::new(Vec::new());
        let write_part = |part: &[format::IndexPack]| -> Result<()> {
            lock.check()?;
            let keys = self.write_index(part, level)?;
            if let Ok(mut all) = indexed.lock() {
                all.extend(keys);
            }
            Ok(())
        };
        let writer = PackWriter::new(
            self.storage.clone(),
            self.keys.clone(),
            level,
            self.config.pack_size,
        )
        .indexing_into(&write_part);
        let (worker_err, packs) = std::thread::scope(|s| {
            let writer_handle = s.spawn(move || pack_writer_loop(writer, rx));
            let mut handles = Vec::new();
            for _ in 0..threads {
                let pack_tx = pack_tx.clone();
                let (ctx, compress_rx) = (&ctx, &compress_rx);
                let base64 = ctx.repo.stores_base64_decoded();
                handles.push(s.spawn(move || -> Result<()> {
                    // On any failure keep draining, so no reader blocks on a full channel.
                    let mut err = None;
                    let mut compressor = zstd::bulk::Compressor::new(ctx.level)
                        .map_err(|e| {
                            ctx.failed.store(true, std::sync::atomic::Ordering::Relaxed);
                            err = Some(BackupError::compress("", e));
                        })
                        .ok();
                    loop {
                        let msg = match compress_rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return Err(BackupError::WorkerPanicked("compressor".into())),
                        };
                        let Ok(batch) = msg else { break };
                        let Some(compressor) = compressor.as_mut() else {
                            continue;
                        };
                        if err.is_some() || ctx.failed.load(std::sync::atomic::Ordering::Relaxed) {
                            continue;
                        }
                        let mut encoded = Vec::with_capacity(batch.len());
                        for (id, raw_len, data) in batch {
                            match format::encode_chunk(
                                compressor,
                                ctx.repo.keys(),
                                &id,
                                &data,
                                base64,
                            ) {
                                Ok(enc) => encoded.push((id, raw_len, enc)),
                                Err(e) => {
                                    ctx.failed.store(true, std::sync::atomic::Ordering::Relaxed);
                                    err = Some(e);
                                    break;
                                }
                            }
                        }
                        if err.is_none() && pack_tx.send(encoded).is_err() {
                            // the pack writer failed; its error is reported
                            ctx.failed.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                    err.map_or(Ok(()), Err)
                }));
            }
            drop(pack_tx);
            for _ in 0..threads {
                let tx = tx.clone();
                let (ctx, queue, results) = (&ctx, &queue, &results);
                handles.push(s.spawn(move || -> Result<()> {
                    loop {
                        let next = queue.lock().map(|mut q| q.pop_front()).unwrap_or(None);
                        let Some(w) = next else { return Ok(()) };
                        match ctx.backup_file(&w, &tx) {
                            Ok(Some(r)) => {
                                if let Ok(mut res) = results.lock() {
                                    res.push(r);
                                }
                            }
                            Ok(None) => {}
                            Err(e) => {
                                ctx.failed.store(true, std::sync::atomic::Ordering::Relaxed);
                                return Err(e);
                            }
                        }
                    }
                }));
            }
            drop(tx);
            let mut first_err = None;
            for h in handles {
                let r = h
                    .join()
                    .unwrap_or_else(|_| Err(BackupError::WorkerPanicked("backup worker".into())));
                if let Err(e) = r
                    && (first_err.is_none() || matches!(first_err, Some(BackupError::Injected(_))))
                {
                    first_err = Some(e);
                }
            }
            let packs = writer_handle
                .join()
                .unwrap_or_else(|_| Err(BackupError::WorkerPanicked("pack writer".into())));
            (first_err, packs)
        });
        // A pack-writer error explains a worker's "pack writer stopped".
        let (packs, stored) = match (worker_err, packs) {
            (_, Err(e)) => return Err(e),
            (Some(e), _) => return Err(e),
            (None, Ok(p)) => p,
        };
        Ok(ReadOutcome {
            results: results.into_inner().unwrap_or_default(),
            packs,
            indexed: indexed.into_inner().unwrap_or_default(),
            stored,
            bytes_read: ctx.bytes_read.into_inner(),
            new_chunks: ctx.new_chunks.into_inner(),
            new_bytes: ctx.new_bytes.into_inner(),
            skipped: ctx.skipped.into_inner().unwrap_or_default(),
            retried: ctx.retried.into_inner().unwrap_or_default(),
        })
    }
}

/// The fixed inputs of [`Repository::read_files`].
struct ReadPlan<'a> {
    dir: &'a Path,
    opts: &'a BackupOptions,
    level: i32,
    index: &'a Index,
    parent: Option<&'a Manifest>,
    progress: &'a dyn Progress,
    /// The backup's lock, checked before each index part is written.
    lock: &'a LockGuard,
}

#[cfg(test)]
mod tests {
    use super::{BackupOptions, glob_match};

    #[test]
    fn test_hooks_are_not_deserialisable() {
        // A request body must never reach a failpoint, however the variant is spelled.
        let variant = serde_json::to_string(&super::Failpoint::BeforeIndex).unwrap();
        for body in [
            r#"{"failpoint":"before_index"}"#.to_owned(),
            format!(r#"{{"failpoint":{variant}}}"#),
        ] {
            let r = serde_json::from_str::<BackupOptions>(&body);
            assert!(r.is_err(), "failpoint accepted from {body}: {r:?}");
        }
        let o: BackupOptions = serde_json::from_str(r#"{"exclude_paths":["w1"]}"#).unwrap();
        assert_eq!(o.exclude_paths, ["w1"]);
        assert!(o.failpoint.is_none());
    }

    /// The parent's chunk lists of files whose stat changed are freed before the files are
    /// read; the others are kept and reused, and an entry without chunks is never reused,
    /// even if its stat matches.
    #[test]
    fn chunk_lists_the_backup_cannot_reuse_are_released() {
        use crate::{InitOptions, LocalStorage, NoProgress, Repository, Storage};
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("g");
        std::fs::create_dir_all(&src).unwrap();
        for (name, fill) in [
            ("same.txt", b'a'),
            ("changed.txt", b'b'),
            ("gone.txt", b'c'),
        ] {
            std::fs::write(src.join(name), vec![fill; 100_000]).unwrap();
        }
        let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path().join("r")));
        let repo = Repository::init(storage, &InitOptions::default(), None).unwrap();
        let opts = BackupOptions {
            check_lightrag_files: false,
            ..Default::default()
        };
        let first = repo.backup("g", &src, &opts, &NoProgress).unwrap();
        let mut parent = repo.snapshot(&first.snapshot.id).unwrap();
        let kept = parent.clone();
        std::fs::write(src.join("changed.txt"), vec![b'x'; 100_001]).unwrap();
        std::fs::remove_file(src.join("gone.txt")).unwrap();
        let walked = super::walk(
            &src,
            &super::Selection::new(&[], &[], false),
            &mut Vec::new(),
        )
        .unwrap();
        super::release_unreusable(&mut parent, &walked.files);
        for (f, before) in parent.files.iter().zip(&kept.files) {
            assert!(!before.chunks.is_empty());
            // Gone from this walk: kept (a later attempt may find it unchanged).
            let released = f.path == "changed.txt";
            assert_eq!(f.chunks.is_empty(), released, "{}", f.path);
            assert_eq!(super::released(f), released, "{}", f.path);
        }
        // An entry without chunks whose stat matches the file (a released one, or a forged
        // parent as here) is read again, never reused as an empty file.
        let mut forged = kept.clone();
        forged.id = crate::format::new_snapshot_id(time::OffsetDateTime::now_utc());
        for f in &mut forged.files {
            f.chunks.clear();
        }
        repo.write_manifest(&forged).unwrap();
        let same = walked.files.iter().find(|w| w.rel == "same.txt").unwrap();
        let forged_same = forged.files.iter().find(|f| f.path == "same.txt").unwrap();
        assert!(super::same_stat(forged_same, &same.meta));
        let reread = repo
            .backup(
                "g",
                &src,
                &BackupOptions {
                    parent: Some(forged.id.clone()),
                    ..opts.clone()
                },
                &NoProgress,
            )
            .unwrap();
        assert_eq!(reread.snapshot.totals.files_unchanged, 0);
        let out = dir.path().join("out-forged");
        repo.restore(
            &reread.snapshot.id,
            &out,
            &crate::RestoreOptions::default(),
            &NoProgress,
        )
        .unwrap();
        assert_eq!(
            std::fs::read(out.join("same.txt")).unwrap(),
            vec![b'a'; 100_000]
        );
        let second = repo
            .backup(
                "g",
                &src,
                &BackupOptions {
                    parent: Some(first.snapshot.id.clone()),
                    ..opts.clone()
                },
                &NoProgress,
            )
            .unwrap();
        assert_eq!(second.snapshot.totals.files_unchanged, 1);
        let out = dir.path().join("out");
        repo.restore(
            &second.snapshot.id,
            &out,
            &crate::RestoreOptions::default(),
            &NoProgress,
        )
        .unwrap();
        assert_eq!(
            std::fs::read(out.join("changed.txt")).unwrap(),
            vec![b'x'; 100_001]
        );
        assert_eq!(
            std::fs::read(out.join("same.txt")).unwrap(),
            vec![b'a'; 100_000]
        );
    }

    #[test]
    fn globs() {
        assert!(glob_match("*.log", "lightrag.log"));
        assert!(glob_match("logs/*", "logs/a/b.txt"));
        assert!(glob_match("kv_store_?.json", "kv_store_a.json"));
        assert!(!glob_match("*.log", "x.json"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("a", ""));
    }
}
