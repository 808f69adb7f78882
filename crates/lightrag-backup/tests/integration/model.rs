//! Model-based randomized test of the repository.
//!
//! A reference model keeps what the system must hold: the expected contents (bytes, mode,
//! mtime) of two live graph folders, and for every snapshot id the file tree it captured. A
//! seeded PRNG draws a sequence of operations: back up, mutate a graph (LightRAG-like JSON
//! stores grown/edited/shrunk, binary files created/modified in place/appended/truncated/
//! deleted/chmod-ed), forget with a policy (checked against an independent computation of the
//! policy), prune, restore into a new directory, restore in place (whole and partial), backup
//! beside prune/restore/verify from two threads, prune in a second process beside a backup,
//! and a backup in a child process killed with SIGKILL at a random moment. Many operations
//! run with a fault plan on the storage (see `faulty.rs`): ENOSPC, EIO, short writes, lost
//! replies and a backend that goes away, at a random write or read of the operation.
//!
//! After every step the invariants are checked:
//! - an operation with an injected failing fault returns `Err` (never a panic, never `Ok`),
//!   one without returns `Ok`;
//! - the listed snapshots are exactly the model's (a failed operation may only add a
//!   complete snapshot of exactly what the model says was captured, e.g. after a lost reply
//!   to the manifest put, and a failed forget may only have removed what the policy removes);
//! - every listed snapshot's manifest records exactly the captured paths, sizes, modes and
//!   mtimes; every new snapshot is restored and compared byte for byte, plus one random older
//!   snapshot per step, and every snapshot at the end of a sequence;
//! - `verify` with `ReadData::All` finds nothing;
//! - a live folder is exactly the model's (an in-place restore left exactly the old or
//!   exactly the new contents), and no staging directory or lock is left behind.
//!
//! Default: a fixed seed set (`cargo test -p lightrag-backup --test integration model --
//! --nocapture` prints the figures). `LIGHTRAG_SOAK=<seconds>s` or `=<steps>` runs random
//! seeds until the budget is spent and prints the seed of every failure;
//! `LIGHTRAG_MODEL_SEED=<seed>` (with `LIGHTRAG_MODEL_STEPS=<n>`) replays one sequence.
//! The scenarios and seeds that found defects (same-size rewrites with the mtime put back,
//! seed 0x13's prune, transient read errors, lost replies to lock writes; their regression
//! tests are in `faulty.rs`) are part of the default run. A failing sequence can be kept
//! for inspection with `LIGHTRAG_MODEL_KEEP_FAILED=<dir>`, and its whole log printed with
//! `LIGHTRAG_MODEL_FULL_LOG=1`; a concurrent step's failure prints its lock requests in order.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use lightrag_backup::{
    BackupError, BackupOptions, NoProgress, PruneOptions, ReadData, Repository, RepositoryOptions,
    RestoreOptions, RetentionPolicy, Storage, VerifyOptions,
};
use time::OffsetDateTime;

use super::common::{Backend, TestEnv, copy_dir, fixtures, storage_from_spec};
use super::faulty::{Class, Fault, FaultyStorage, Op, Rng, Rule, Schedule, error_chain};

// ---- The model -------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct FileState {
    data: Vec<u8>,
    mode: u32,
    mtime: i64,
    nsec: u32,
}

type Files = BTreeMap<String, FileState>;

#[derive(Debug, Clone)]
struct Captured {
    graph: String,
    files: Files,
}

/// Figures of a run (printed at the end; the lead quotes them).
#[derive(Debug, Default)]
struct Figures {
    sequences: u64,
    steps: u64,
    ops: BTreeMap<&'static str, u64>,
    faults: BTreeMap<&'static str, u64>,
    ops_failed_by_fault: u64,
    backend_down: u64,
    processes_killed: u64,
    snapshots_created: u64,
    restores_compared: u64,
    verifies: u64,
    locks_left_by_faults: u64,
    staging_left_by_kills: u64,
    killed_restores_old: u64,
    killed_restores_new: u64,
    failures: Vec<String>,
}

impl Figures {
    fn print(&self, label: &str, elapsed: Duration) {
        let faults: u64 = self.faults.values().sum();
        println!(
            "model [{label}]: sequences={} steps={} faults_injected={faults} ops_failed_by_fault={} \
             backend_down={} processes_killed={} snapshots={} restores_compared={} verifies={} \
             locks_left_by_faults={} staging_left_by_kills={} killed_restores_old/new={}/{} \
             failures={} elapsed={:.1}s",
            self.sequences,
            self.steps,
            self.ops_failed_by_fault,
            self.backend_down,
            self.processes_killed,
            self.snapshots_created,
            self.restores_compared,
            self.verifies,
            self.locks_left_by_faults,
            self.staging_left_by_kills,
            self.killed_restores_old,
            self.killed_restores_new,
            self.failures.len(),
            elapsed.as_secs_f64()
        );
        println!("model [{label}]: ops {:?}", self.ops);
        println!("model [{label}]: faults {:?}", self.faults);
        for f in &self.failures {
            println!("model [{label}]: FAILURE {f}");
        }
    }
}

type Check = Result<(), String>;

macro_rules! fail {
    ($($t:tt)*) => { return Err(format!($($t)*)) };
}

const GRAPHS: [&str; 2] = ["a", "b"];
/// Fake mtimes, strictly increasing, in the past (no racy-mtime waits, every change visible).
const CLOCK_START: i64 = 1_700_000_000;

struct World<'f> {
    rng: Rng,
    backend: Backend,
    env: TestEnv,
    faulty: Arc<FaultyStorage>,
    repo: Repository,
    live_root: PathBuf,
    restore_root: PathBuf,
    live: BTreeMap<String, Files>,
    snaps: BTreeMap<String, Captured>,
    clock: i64,
    seq: u64,
    /// Locks that may legitimately exist (left by a killed child) until the next prune.
    killed_lock_pending: bool,
    /// Most mutating/reading requests an operation kind made (to aim "the Nth write").
    est: BTreeMap<&'static str, (u64, u64)>,
    /// Lock requests of the last concurrent step (printed when its check fails).
    last_lock_trace: Arc<std::sync::Mutex<Vec<String>>>,
    /// Encryption key (every third seed runs on an encrypted repository).
    key: Option<Vec<u8>>,
    fig: &'f mut Figures,
    log: &'f mut Vec<String>,
}

fn options() -> RepositoryOptions {
    RepositoryOptions {
        threads: 2,
        lock_wait: Duration::from_secs(60),
        ..RepositoryOptions::default()
    }
}

fn read_tree(dir: &Path) -> Files {
    let mut out = Files::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
                continue;
            }
            let rel = e
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let m = e.metadata().unwrap();
            out.insert(
                rel,
                FileState {
                    data: std::fs::read(e.path()).unwrap(),
                    mode: m.permissions().mode() & 0o7777,
                    mtime: m.mtime(),
                    nsec: m.mtime_nsec() as u32,
                },
            );
        }
    }
    out
}

fn diff_files(want: &Files, got: &Files) -> Option<String> {
    let wk: BTreeSet<&String> = want.keys().collect();
    let gk: BTreeSet<&String> = got.keys().collect();
    if wk != gk {
        return Some(format!(
            "file lists differ: missing {:?}, unexpected {:?}",
            wk.difference(&gk).collect::<Vec<_>>(),
            gk.difference(&wk).collect::<Vec<_>>()
        ));
    }
    for (k, w) in want {
        let g = &got[k];
        if w.data != g.data {
            return Some(format!(
                "content of {k} differs ({} vs {} bytes)",
                w.data.len(),
                g.data.len()
            ));
        }
        if (w.mode, w.mtime, w.nsec) != (g.mode, g.mtime, g.nsec) {
            return Some(format!(
                "mode/mtime of {k} differ: want {:o} {}.{}, got {:o} {}.{}",
                w.mode, w.mtime, w.nsec, g.mode, g.mtime, g.nsec
            ));
        }
    }
    None
}

fn set_meta(path: &Path, st: &FileState) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(st.mode)).unwrap();
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(UNIX_EPOCH + Duration::new(st.mtime as u64, st.nsec))
        .unwrap();
}

/// Does the fault list contain one the operation must report? (A failed release of a lock
/// is only logged, by design: it is left for the stale-lock rules.)
fn must_fail(fired: &[super::faulty::Injected]) -> bool {
    fired
        .iter()
        .any(|f| f.fault.fails() && !(f.op == Op::Delete && f.key.starts_with("locks/")))
}

impl World<'_> {
    fn new<'f>(
        seed: u64,
        backend: Backend,
        fig: &'f mut Figures,
        log: &'f mut Vec<String>,
    ) -> World<'f> {
        let env = TestEnv::new(backend);
        let key = seed
            .is_multiple_of(3)
            .then(|| format!("model-key-{seed}").into_bytes());
        env.new_repo(key.as_deref());
        let faulty = FaultyStorage::new(env.storage(), backend);
        let repo = Repository::open(faulty.clone(), key.as_deref())
            .unwrap()
            .with_options(options());
        let live_root = env.path().join("live");
        let restore_root = env.path().join("restores");
        std::fs::create_dir_all(&restore_root).unwrap();
        let mut w = World {
            rng: Rng::new(seed),
            backend,
            env,
            faulty,
            repo,
            live_root,
            restore_root,
            live: BTreeMap::new(),
            snaps: BTreeMap::new(),
            clock: CLOCK_START,
            seq: 0,
            killed_lock_pending: false,
            est: BTreeMap::new(),
            last_lock_trace: Default::default(),
            key,
            fig,
            log,
        };
        let fx = fixtures();
        for (i, g) in GRAPHS.iter().enumerate() {
            let dir = w.live_root.join(g);
            copy_dir(&fx[i % fx.len()], &dir);
            let mut files = Files::new();
            for (rel, mut st) in read_tree(&dir) {
                st.mode = 0o644;
                (st.mtime, st.nsec) = w.tick();
                set_meta(&dir.join(&rel), &st);
                files.insert(rel, st);
            }
            w.live.insert((*g).to_owned(), files);
        }
        w
    }

    fn tick(&mut self) -> (i64, u32) {
        self.clock += 1 + self.rng.below(3) as i64;
        (self.clock, self.rng.below(1_000_000_000) as u32)
    }

    fn dir(&self, g: &str) -> PathBuf {
        self.live_root.join(g)
    }

    fn note(&mut self, s: String) {
        self.log.push(s);
    }

    // ---- mutations ---------------------------------------------------------------------------

    fn write_file(&mut self, g: &str, rel: &str, data: Vec<u8>, mode: u32, via_rename: bool) {
        let path = self.dir(g).join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).unwrap();
        }
        if via_rename {
            // LightRAG >= 1.5: write a temp file beside the store, rename it over the store.
            let tmp = path.with_file_name(format!(
                "{}.tmp.{}.1.{}",
                path.file_name().unwrap().to_string_lossy(),
                std::process::id(),
                self.rng.next_u64()
            ));
            std::fs::write(&tmp, &data).unwrap();
            std::fs::rename(&tmp, &path).unwrap();
        } else {
            let mut f = std::fs::File::options()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .unwrap();
            use std::io::Write;
            f.write_all(&data).unwrap();
            f.set_len(data.len() as u64).unwrap();
        }
        let (mtime, nsec) = self.tick();
        let st = FileState {
            data,
            mode,
            mtime,
            nsec,
        };
        set_meta(&path, &st);
        self.live.get_mut(g).unwrap().insert(rel.to_owned(), st);
    }

    fn random_content(&mut self, g: &str) -> Vec<u8> {
        let size = match self.rng.below(100) {
            0..=4 => self.rng.range(1_000_000, 2_500_000),
            5..=29 => self.rng.range(64_000, 400_000),
            30..=34 => 0,
            _ => self.rng.range(1, 64_000),
        } as usize;
        let mut out = Vec::with_capacity(size);
        let donors: Vec<Vec<u8>> = self.live[g]
            .values()
            .filter(|f| f.data.len() > 4096)
            .map(|f| f.data.clone())
            .collect();
        while out.len() < size {
            let n = (self.rng.range(1_000, 100_000) as usize).min(size - out.len());
            if !donors.is_empty() && self.rng.chance(40) {
                // copied from another file: content-defined chunking deduplicates it
                let d = self.rng.pick(&donors);
                let at = self.rng.below(d.len().saturating_sub(n).max(1) as u64) as usize;
                out.extend_from_slice(&d[at..(at + n).min(d.len())]);
            } else {
                out.extend(self.rng.bytes(n));
            }
        }
        out.truncate(size);
        out
    }

    fn words(&mut self, n: usize) -> String {
        const W: [&str; 12] = [
            "Scrooge",
            "Marley",
            "ghost",
            "Christmas",
            "London",
            "fog",
            "counting",
            "house",
            "Cratchit",
            "Fezziwig",
            "chain",
            "candle",
        ];
        (0..n)
            .map(|_| *self.rng.pick(&W))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn stores(&self, g: &str) -> Vec<String> {
        self.live[g]
            .keys()
            .filter(|k| {
                let name = k.rsplit('/').next().unwrap_or(k);
                name.starts_with("kv_store_") && name.ends_with(".json")
            })
            .cloned()
            .collect()
    }

    fn plain_files(&self, g: &str) -> Vec<String> {
        self.live[g]
            .keys()
            .filter(|k| !k.ends_with(".json") && !k.ends_with(".graphml"))
            .cloned()
            .collect()
    }

    fn mutate(&mut self, g: &str) -> Check {
        let n = self.rng.range(1, 3);
        for _ in 0..n {
            let stores = self.stores(g);
            let plain = self.plain_files(g);
            let all: Vec<String> = self.live[g].keys().cloned().collect();
            let kind = self.rng.below(10);
            match kind {
                // Grow a LightRAG kv store (temp file renamed over it, as LightRAG does).
                0 | 1 if !stores.is_empty() => {
                    let rel = self.rng.pick(&stores).clone();
                    let old = &self.live[g][&rel];
                    let mut v: serde_json::Map<String, serde_json::Value> =
                        serde_json::from_slice(&old.data).unwrap_or_default();
                    let mode = old.mode;
                    for _ in 0..self.rng.range(1, 40) {
                        let key = format!("doc-model-{:016x}", self.rng.next_u64());
                        let n = self.rng.range(5, 400) as usize;
                        let content = self.words(n);
                        v.insert(
                            key,
                            serde_json::json!({"content": content, "chunk_order_index": 0}),
                        );
                    }
                    let data = serde_json::to_vec_pretty(&v).unwrap();
                    self.note(format!("  grow {g}/{rel} to {} bytes", data.len()));
                    self.write_file(g, &rel, data, mode, true);
                }
                // Edit a store in place keeping its size (only the mtime tells the change).
                2 if !stores.is_empty() => {
                    let rel = self.rng.pick(&stores).clone();
                    let old = self.live[g][&rel].clone();
                    let mut data = old.data.clone();
                    let letters: Vec<usize> = data
                        .iter()
                        .enumerate()
                        .filter(|(_, b)| b.is_ascii_lowercase())
                        .map(|(i, _)| i)
                        .collect();
                    if letters.is_empty() {
                        continue;
                    }
                    for _ in 0..self.rng.range(1, 20) {
                        let i = *self.rng.pick(&letters);
                        let before = data[i];
                        data[i] = b'a' + self.rng.below(26) as u8;
                        // Letters of escapes (`\u00e9`, `\n`) and of literals (`true`)
                        // matter: keep the store valid JSON, as LightRAG writes it.
                        if serde_json::from_slice::<serde_json::Value>(&data).is_err() {
                            data[i] = before;
                        }
                    }
                    self.note(format!("  edit {g}/{rel} in place, same size"));
                    self.write_file(g, &rel, data, old.mode, false);
                }
                // Drop keys from a store.
                3 if !stores.is_empty() => {
                    let rel = self.rng.pick(&stores).clone();
                    let old = self.live[g][&rel].clone();
                    let mut v: serde_json::Map<String, serde_json::Value> =
                        serde_json::from_slice(&old.data).unwrap_or_default();
                    let keys: Vec<String> = v.keys().cloned().collect();
                    for k in keys {
                        if self.rng.chance(30) {
                            v.remove(&k);
                        }
                    }
                    let data = serde_json::to_vec(&v).unwrap();
                    self.note(format!("  shrink {g}/{rel} to {} bytes", data.len()));
                    self.write_file(g, &rel, data, old.mode, true);
                }
                // A new file (root or a subfolder).
                4 | 5 => {
                    let rel = if self.rng.chance(50) {
                        format!("extra/f{:08x}.bin", self.rng.next_u64() as u32)
                    } else {
                        format!("notes-{:04x}.txt", self.rng.below(0x10000))
                    };
                    let data = self.random_content(g);
                    let mode = *self.rng.pick(&[0o644, 0o600, 0o640, 0o755]);
                    self.note(format!("  create {g}/{rel} ({} bytes)", data.len()));
                    self.write_file(g, &rel, data, mode, false);
                }
                // Overwrite a range in place, append, truncate.
                6 if !plain.is_empty() => {
                    let rel = self.rng.pick(&plain).clone();
                    let old = self.live[g][&rel].clone();
                    let mut data = old.data.clone();
                    match self.rng.below(3) {
                        0 if !data.is_empty() => {
                            let at = self.rng.below(data.len() as u64) as usize;
                            let n = (self.rng.range(1, 50_000) as usize).min(data.len() - at);
                            let b = self.rng.bytes(n);
                            data[at..at + n].copy_from_slice(&b);
                        }
                        1 => {
                            let n = self.rng.range(1, 100_000) as usize;
                            data.extend(self.rng.bytes(n));
                        }
                        _ => {
                            let n = self.rng.below(data.len() as u64 + 1) as usize;
                            data.truncate(n);
                        }
                    }
                    self.note(format!("  modify {g}/{rel} ({} bytes)", data.len()));
                    self.write_file(g, &rel, data, old.mode, false);
                }
                // Mode change only.
                7 if !all.is_empty() => {
                    let rel = self.rng.pick(&all).clone();
                    let mode = *self.rng.pick(&[0o644, 0o600, 0o640, 0o755]);
                    let path = self.dir(g).join(&rel);
                    let st = self.live.get_mut(g).unwrap().get_mut(&rel).unwrap();
                    st.mode = mode;
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
                    self.note(format!("  chmod {g}/{rel} {mode:o}"));
                }
                // Delete a file (never the last few).
                8 if all.len() > 3 => {
                    let rel = self.rng.pick(&all).clone();
                    std::fs::remove_file(self.dir(g).join(&rel)).unwrap();
                    self.live.get_mut(g).unwrap().remove(&rel);
                    self.note(format!("  delete {g}/{rel}"));
                }
                _ => {
                    let data = self.random_content(g);
                    let rel = format!("extra/f{:08x}.bin", self.rng.next_u64() as u32);
                    self.note(format!("  create {g}/{rel} ({} bytes)", data.len()));
                    self.write_file(g, &rel, data, 0o644, false);
                }
            }
        }
        Ok(())
    }

    // ---- fault plans -------------------------------------------------------------------------

    /// Draw a fault plan for one operation of kind `kind` (or none).
    fn draw_plan(&mut self, kind: &'static str) -> Option<String> {
        if !self.rng.chance(45) {
            self.faulty.set_plan(Vec::new(), None);
            return None;
        }
        let (writes, reads) = self.est.get(kind).copied().unwrap_or((4, 8));
        let data_classes = [Class::Pack, Class::Index, Class::Snapshot, Class::Config];
        let (rules, schedule, desc) = match self.rng.below(100) {
            0..=44 => {
                let fault = *self.rng.pick(&[
                    Fault::NoSpace,
                    Fault::Io,
                    Fault::ShortWrite,
                    Fault::LostAck,
                    Fault::Down,
                ]);
                let nth = self.rng.range(1, writes.max(1));
                (
                    vec![Rule::nth(&[Op::Put, Op::Delete], &data_classes, nth, fault)],
                    None,
                    format!("{fault:?} at write {nth}/{writes}"),
                )
            }
            45..=69 => {
                let fault = *self.rng.pick(&[Fault::Io, Fault::Down]);
                let nth = self.rng.range(1, reads.max(1));
                (
                    vec![Rule::nth(
                        &[Op::Get, Op::GetRange, Op::List, Op::Exists],
                        &data_classes,
                        nth,
                        fault,
                    )],
                    None,
                    format!("{fault:?} at read {nth}/{reads}"),
                )
            }
            70..=79 => {
                let (op, fault) = *self.rng.pick(&[
                    (Op::Put, Fault::NoSpace),
                    (Op::Put, Fault::LostAck),
                    (Op::List, Fault::Io),
                    (Op::Delete, Fault::Io),
                ]);
                (
                    vec![Rule::nth(&[op], &[Class::Lock], 1, fault)],
                    None,
                    format!("{fault:?} on lock {op:?}"),
                )
            }
            80..=89 => {
                let percent = self.rng.range(2, 12);
                (
                    Vec::new(),
                    Some(Schedule {
                        rng: Rng::new(self.rng.next_u64()),
                        percent,
                        ops: Vec::new(),
                        classes: data_classes.to_vec(),
                        faults: vec![
                            Fault::NoSpace,
                            Fault::Io,
                            Fault::ShortWrite,
                            Fault::LostAck,
                            Fault::Slow(Duration::from_millis(20)),
                        ],
                    }),
                    format!("seeded schedule {percent}%"),
                )
            }
            _ => {
                let ms = self.rng.range(1, 4);
                (
                    vec![Rule::every(
                        &[],
                        &[],
                        Fault::Slow(Duration::from_millis(ms)),
                    )],
                    None,
                    format!("every request slow by {ms} ms"),
                )
            }
        };
        self.faulty.set_plan(rules, schedule);
        Some(desc)
    }

    /// Run `f` (one repository operation) under a drawn fault plan. Returns the result, and
    /// whether a failing fault was injected that the operation had to report.
    fn faulted<T: std::fmt::Debug>(
        &mut self,
        kind: &'static str,
        f: impl FnOnce(&Repository) -> Result<T, BackupError>,
    ) -> Result<(Result<T, BackupError>, bool), String> {
        let plan = self.draw_plan(kind);
        if let Some(p) = &plan {
            self.note(format!("  fault plan: {p}"));
        }
        let before_inj = self.faulty.injected().len();
        let before_req = self.faulty.requests();
        let res = f(&self.repo);
        let fired = self.faulty.injected_since(before_inj);
        let down = self.faulty.is_down();
        self.faulty.clear();
        // Learn how many requests this kind of operation makes.
        let after_req = self.faulty.requests();
        let (mut w, mut r) = (0, 0);
        for (k, v) in &after_req {
            if k.1 == Class::Lock {
                continue;
            }
            let d = v - before_req.get(k).copied().unwrap_or(0);
            if k.0.mutates() {
                w += d;
            } else {
                r += d;
            }
        }
        let e = self.est.entry(kind).or_insert((0, 0));
        *e = (e.0.max(w), e.1.max(r));
        for i in &fired {
            *self.fig.faults.entry(i.fault.name()).or_default() += 1;
        }
        if down {
            self.fig.backend_down += 1;
        }
        let must = must_fail(&fired);
        if !fired.is_empty() {
            self.note(format!(
                "  injected: {:?}",
                fired
                    .iter()
                    .map(|i| format!("{:?} {:?} {}", i.fault, i.op, i.key))
                    .collect::<Vec<_>>()
            ));
        }
        match &res {
            Ok(v) if must => fail!(
                "{kind}: a failing fault was injected ({fired:?}) but the operation returned Ok({v:?})"
            ),
            Err(e) if !must => {
                fail!(
                    "{kind}: failed without an injected fault: {}",
                    error_chain(e)
                )
            }
            Err(e) => {
                self.fig.ops_failed_by_fault += 1;
                if matches!(e, BackupError::WorkerPanicked(_)) {
                    fail!("{kind}: a worker panicked: {}", error_chain(e));
                }
                if matches!(
                    e,
                    BackupError::DamagedFile { .. } | BackupError::Corrupt { .. }
                ) {
                    // see `restore_reports_a_transient_read_error_as_damage`
                    fail!(
                        "{kind}: a storage fault is reported as damage: {}",
                        error_chain(e)
                    );
                }
                if !error_chain(e).contains("injected") {
                    fail!(
                        "{kind}: the error does not say what failed: {}",
                        error_chain(e)
                    );
                }
                self.note(format!("  -> Err: {e}"));
            }
            Ok(_) => {}
        }
        // A failed release of a lock, or a backend that went away, leaves the lock behind
        // (a crashed process would too; the stale-lock rules handle it after a while).
        // A lost reply to a lock write does not: the failed acquire removes its lock (see
        // `lost_reply_on_lock_write_leaves_a_blocking_lock`).
        let lock_fault = fired
            .iter()
            .any(|i| i.key.starts_with("locks/") && i.op == Op::Delete && i.fault.fails());
        if down || lock_fault {
            let n = self.remove_locks();
            self.fig.locks_left_by_faults += n;
        }
        Ok((res, must))
    }

    fn remove_locks(&self) -> u64 {
        let locks = self.faulty.inner().list("locks/").unwrap();
        for l in &locks {
            self.faulty.inner().delete(&l.key).unwrap();
        }
        locks.len() as u64
    }

    // ---- operations --------------------------------------------------------------------------

    fn listed(&self) -> Result<Vec<lightrag_backup::SnapshotInfo>, String> {
        self.repo
            .snapshots(None)
            .map_err(|e| format!("listing snapshots failed: {}", error_chain(&e)))
    }

    /// Snapshots listed that the model does not know: allowed only when complete and equal
    /// to `captured` (a failed operation whose manifest put did land), then adopted.
    fn adopt_new(
        &mut self,
        candidates: &[(String, Files)],
        why: &str,
    ) -> Result<Vec<String>, String> {
        let mut adopted = Vec::new();
        for s in self.listed()? {
            if self.snaps.contains_key(&s.id) {
                continue;
            }
            let Some((graph, files)) = candidates.iter().find(|(g, _)| *g == s.graph_id) else {
                fail!(
                    "unexpected snapshot {} of graph {} appeared ({why})",
                    s.id,
                    s.graph_id
                );
            };
            self.note(format!("  adopted snapshot {} ({why})", s.id));
            self.snaps.insert(
                s.id.clone(),
                Captured {
                    graph: graph.clone(),
                    files: files.clone(),
                },
            );
            adopted.push(s.id);
        }
        Ok(adopted)
    }

    fn op_backup(&mut self, g: &str) -> Result<Vec<String>, String> {
        let dir = self.dir(g);
        let captured = self.live[g].clone();
        let (res, _) = self.faulted("backup", |r| {
            r.backup(g, &dir, &BackupOptions::default(), &NoProgress)
        })?;
        let mut new = Vec::new();
        if let Ok(s) = &res {
            self.snaps.insert(
                s.snapshot.id.clone(),
                Captured {
                    graph: g.to_owned(),
                    files: captured.clone(),
                },
            );
            new.push(s.snapshot.id.clone());
            self.note(format!("  -> snapshot {}", s.snapshot.id));
        }
        new.extend(self.adopt_new(&[(g.to_owned(), captured)], "failed backup")?);
        Ok(new)
    }

    fn expected_forget(
        &mut self,
        graph: Option<&str>,
        policy: &RetentionPolicy,
        pinned: &BTreeSet<String>,
    ) -> Result<BTreeSet<String>, String> {
        // Independent computation of keep_last / keep_daily / pinned per graph.
        let mut by_graph: BTreeMap<String, Vec<(OffsetDateTime, String)>> = BTreeMap::new();
        for s in self.listed()? {
            if graph.is_none_or(|g| g == s.graph_id) {
                by_graph
                    .entry(s.graph_id.clone())
                    .or_default()
                    .push((s.created_at, s.id.clone()));
            }
        }
        let mut remove = BTreeSet::new();
        for (_, mut list) in by_graph {
            list.sort_by(|a, b| b.cmp(a)); // newest first
            let mut keep: BTreeSet<&String> = list
                .iter()
                .take(policy.keep_last as usize)
                .map(|x| &x.1)
                .collect();
            let mut days = Vec::new();
            for (t, id) in &list {
                let d = t.to_offset(time::UtcOffset::UTC).date();
                if !days.contains(&d) {
                    if days.len() < policy.keep_daily as usize {
                        keep.insert(id);
                    }
                    days.push(d);
                }
            }
            for (_, id) in &list {
                if !keep.contains(id) && !pinned.contains(id) {
                    remove.insert(id.clone());
                }
            }
        }
        Ok(remove)
    }

    fn op_forget(&mut self) -> Check {
        let graph = if self.rng.chance(50) {
            Some(*self.rng.pick(&GRAPHS))
        } else {
            None
        };
        let policy = RetentionPolicy {
            keep_last: self.rng.range(1, 4) as u32,
            keep_daily: if self.rng.chance(20) { 1 } else { 0 },
            ..Default::default()
        };
        let ids: Vec<String> = self.snaps.keys().cloned().collect();
        let mut pinned = BTreeSet::new();
        for _ in 0..self.rng.below(3) {
            if !ids.is_empty() {
                pinned.insert(self.rng.pick(&ids).clone());
            }
        }
        let expected = self.expected_forget(graph, &policy, &pinned)?;
        self.note(format!(
            "  forget {graph:?} keep_last={} keep_daily={} pinned={} expect removing {}",
            policy.keep_last,
            policy.keep_daily,
            pinned.len(),
            expected.len()
        ));
        let (res, _) = self.faulted("forget", |r| r.forget(graph, &policy, &pinned, false))?;
        if let Ok(rep) = &res {
            let removed: BTreeSet<String> = rep.removed.iter().cloned().collect();
            if removed != expected {
                fail!("forget removed {removed:?}, the policy removes {expected:?}");
            }
        }
        // Whatever happened, only snapshots the policy removes may be gone.
        let listed: BTreeSet<String> = self.listed()?.into_iter().map(|s| s.id).collect();
        let gone: Vec<String> = self
            .snaps
            .keys()
            .filter(|id| !listed.contains(*id))
            .cloned()
            .collect();
        for id in gone {
            if !expected.contains(&id) {
                fail!("forget removed snapshot {id}, which the policy keeps");
            }
            self.snaps.remove(&id);
        }
        Ok(())
    }

    fn op_prune(&mut self) -> Check {
        let opts = PruneOptions {
            dry_run: self.rng.chance(10),
            repack_threshold: *self.rng.pick(&[0.0, 0.3, 0.3, 1.0]),
        };
        self.note(format!("  prune {opts:?}"));
        let (res, _) = self.faulted("prune", |r| r.prune(&opts, &NoProgress))?;
        if res.is_ok() {
            self.killed_lock_pending = false;
        }
        Ok(())
    }

    fn restore_target_clean(&self, target: &Path) -> Check {
        if target.exists() && target.read_dir().unwrap().next().is_some() {
            fail!(
                "a failed restore left a non-empty target {}",
                target.display()
            );
        }
        Ok(())
    }

    fn op_restore_new(&mut self) -> Check {
        let Some(id) = self.random_snapshot(None) else {
            return Ok(());
        };
        self.seq += 1;
        let target = self.restore_root.join(format!("r{}", self.seq));
        self.note(format!("  restore {id} into {}", target.display()));
        let (res, _) = self.faulted("restore", |r| {
            r.restore(&id, &target, &RestoreOptions::default(), &NoProgress)
        })?;
        match res {
            Ok(_) => {
                let got = read_tree(&target);
                if let Some(d) = diff_files(&self.snaps[&id].files, &got) {
                    fail!("restore of {id} differs from what it captured: {d}");
                }
                self.fig.restores_compared += 1;
            }
            Err(_) => self.restore_target_clean(&target)?,
        }
        let _ = std::fs::remove_dir_all(&target);
        Ok(())
    }

    fn random_snapshot(&mut self, graph: Option<&str>) -> Option<String> {
        let ids: Vec<String> = self
            .snaps
            .iter()
            .filter(|(_, c)| graph.is_none_or(|g| c.graph == g))
            .map(|(id, _)| id.clone())
            .collect();
        if ids.is_empty() {
            None
        } else {
            Some(self.rng.pick(&ids).clone())
        }
    }

    fn op_restore_in_place(&mut self, g: &str, partial: bool) -> Result<Vec<String>, String> {
        let from = if self.rng.chance(80) { Some(g) } else { None };
        let Some(id) = self.random_snapshot(from) else {
            return Ok(Vec::new());
        };
        let snap = self.snaps[&id].clone();
        let files: Vec<String> = if partial {
            let all: Vec<&String> = snap.files.keys().collect();
            if all.is_empty() {
                return Ok(Vec::new());
            }
            let mut v: Vec<String> = (0..self.rng.range(1, 3))
                .map(|_| (*self.rng.pick(&all)).clone())
                .collect();
            v.sort();
            v.dedup();
            v
        } else {
            Vec::new()
        };
        let safety = self.rng.chance(70);
        let old = self.live[g].clone();
        let dir = self.dir(g);
        self.note(format!(
            "  restore {id} in place into {g} (files {files:?}, safety {safety})"
        ));
        let opts = RestoreOptions {
            in_place: true,
            files: files.clone(),
            safety_snapshot: safety,
            safety_graph_id: Some(g.to_owned()),
            ..Default::default()
        };
        let (res, _) = self.faulted("restore-in-place", |r| {
            r.restore(&id, &dir, &opts, &NoProgress)
        })?;
        let now = read_tree(&dir);
        let mut new = Vec::new();
        match &res {
            Ok(sum) => {
                let mut want = old.clone();
                if files.is_empty() {
                    want = snap.files.clone();
                } else {
                    for f in &files {
                        want.insert(f.clone(), snap.files[f].clone());
                    }
                }
                if let Some(d) = diff_files(&want, &now) {
                    fail!("in-place restore of {id} left the target neither old nor new: {d}");
                }
                if let Some(sid) = &sum.safety_snapshot {
                    self.snaps.insert(
                        sid.clone(),
                        Captured {
                            graph: g.to_owned(),
                            files: old.clone(),
                        },
                    );
                    new.push(sid.clone());
                }
                if safety != sum.safety_snapshot.is_some() {
                    fail!(
                        "safety snapshot requested: {safety}, taken: {:?}",
                        sum.safety_snapshot
                    );
                }
                self.live.insert(g.to_owned(), want);
            }
            Err(_) => {
                if let Some(d) = diff_files(&old, &now) {
                    fail!("a failed in-place restore of {id} changed the target: {d}");
                }
            }
        }
        new.extend(self.adopt_new(
            &[(g.to_owned(), old)],
            "safety snapshot of a failed restore",
        )?);
        Ok(new)
    }

    /// A backup beside a prune, a restore and a verify, from threads (each with its own
    /// handle on the storage).
    fn op_concurrent(&mut self) -> Result<Vec<String>, String> {
        let g = *self.rng.pick(&GRAPHS);
        let other = if g == "a" { "b" } else { "a" };
        let dir = self.dir(g);
        let captured = self.live[g].clone();
        let restore_id = self.random_snapshot(None);
        self.seq += 1;
        let target = self.restore_root.join(format!("c{}", self.seq));
        let key = self.key.clone();
        let open = |slow_lock_put: bool| {
            let f = FaultyStorage::new(self.faulty.inner().clone(), self.backend);
            if slow_lock_put {
                // Widens the window between taking a lock's timestamp and writing it.
                f.set_plan(
                    vec![Rule::every(
                        &[Op::Put],
                        &[Class::Lock],
                        Fault::Slow(Duration::from_millis(300)),
                    )],
                    None,
                );
            }
            (
                Repository::open(f.clone(), key.as_deref())
                    .unwrap()
                    .with_options(options()),
                f,
            )
        };
        let slow = self.rng.chance(50);
        let ((ra, fa), (rb, fb), (rc, fc)) = (open(slow), open(false), open(false));
        let trace = Arc::new(std::sync::Mutex::new(Vec::new()));
        let origin = Instant::now();
        fa.trace_locks(origin, "backup", trace.clone());
        fb.trace_locks(origin, "prune", trace.clone());
        fc.trace_locks(origin, "restore/verify/backup2", trace.clone());
        self.last_lock_trace = trace.clone();
        // Sometimes the prune fails at one of its writes while the backup waits for it.
        let prune_fault = self.rng.chance(30).then(|| {
            let fault = *self.rng.pick(&[Fault::NoSpace, Fault::Io, Fault::LostAck]);
            let nth = self.rng.range(1, 4);
            fb.set_plan(
                vec![Rule::nth(
                    &[Op::Put, Op::Delete],
                    &[Class::Pack, Class::Index],
                    nth,
                    fault,
                )],
                None,
            );
            format!("{fault:?} at prune write {nth}")
        });
        let prune_delay = Duration::from_millis(self.rng.below(150));
        let second_graph = self.rng.chance(40);
        let other_dir = self.dir(other);
        let other_captured = self.live[other].clone();
        self.note(format!(
            "  concurrent: backup {g} | prune (after {prune_delay:?}) | restore {restore_id:?} | verify{}{}",
            if second_graph { " | backup of the other graph" } else { "" },
            if slow { " (slow lock writes)" } else { "" }
        ));
        if let Some(f) = &prune_fault {
            self.note(format!("  prune fault plan: {f}"));
        }
        let (b, p, r, v, b2) = std::thread::scope(|s| {
            let b = s.spawn(|| ra.backup(g, &dir, &BackupOptions::default(), &NoProgress));
            let p = s.spawn(|| {
                std::thread::sleep(prune_delay);
                rb.prune(&PruneOptions::default(), &NoProgress)
            });
            let r = s.spawn(|| {
                restore_id
                    .as_ref()
                    .map(|id| rc.restore(id, &target, &RestoreOptions::default(), &NoProgress))
            });
            let v = s.spawn(|| {
                rc.verify(
                    &VerifyOptions {
                        read_data: ReadData::All,
                        ..Default::default()
                    },
                    &NoProgress,
                )
            });
            let b2 = s.spawn(|| {
                second_graph
                    .then(|| rc.backup(other, &other_dir, &BackupOptions::default(), &NoProgress))
            });
            (
                b.join().unwrap(),
                p.join().unwrap(),
                r.join().unwrap(),
                v.join().unwrap(),
                b2.join().unwrap(),
            )
        });
        let mut new = Vec::new();
        let s = b.map_err(|e| format!("concurrent backup failed: {}", error_chain(&e)))?;
        self.snaps.insert(
            s.snapshot.id.clone(),
            Captured {
                graph: g.to_owned(),
                files: captured,
            },
        );
        new.push(s.snapshot.id);
        if let Some(b2) = b2 {
            let s = b2.map_err(|e| format!("concurrent backup 2 failed: {}", error_chain(&e)))?;
            self.snaps.insert(
                s.snapshot.id.clone(),
                Captured {
                    graph: other.to_owned(),
                    files: other_captured,
                },
            );
            new.push(s.snapshot.id);
        }
        let fired = fb.injected();
        for i in &fired {
            *self.fig.faults.entry(i.fault.name()).or_default() += 1;
        }
        match p {
            Ok(rep) if must_fail(&fired) => {
                fail!("concurrent prune: fault {fired:?} injected, prune returned Ok {rep:?}")
            }
            Ok(_) => self.killed_lock_pending = false,
            Err(e) if must_fail(&fired) => {
                self.fig.ops_failed_by_fault += 1;
                self.note(format!("  -> prune Err: {e}"));
            }
            Err(e) => fail!("concurrent prune failed: {}", error_chain(&e)),
        }
        if let Some(r) = r {
            r.map_err(|e| format!("concurrent restore failed: {}", error_chain(&e)))?;
            let id = restore_id.unwrap();
            if let Some(d) = diff_files(&self.snaps[&id].files, &read_tree(&target)) {
                fail!("restore of {id} beside a prune differs: {d}");
            }
            self.fig.restores_compared += 1;
            let _ = std::fs::remove_dir_all(&target);
        }
        let v = v.map_err(|e| format!("concurrent verify failed: {}", error_chain(&e)))?;
        if !v.is_ok() {
            fail!(
                "verify beside a backup and a prune found damage: {:?}",
                v.damage
            );
        }
        Ok(new)
    }

    /// A prune in a second process beside a backup in this one.
    fn op_two_processes(&mut self) -> Result<Vec<String>, String> {
        let g = *self.rng.pick(&GRAPHS);
        let dir = self.dir(g);
        let captured = self.live[g].clone();
        self.note(format!("  prune in a child process | backup {g}"));
        let mut child = spawn_child(
            &format!("prune|{}", self.env.spec("repo")),
            self.key.as_deref(),
        )?;
        std::thread::sleep(Duration::from_millis(self.rng.below(100)));
        let res = self
            .repo
            .backup(g, &dir, &BackupOptions::default(), &NoProgress);
        let status = child.wait().map_err(|e| e.to_string())?;
        let s =
            res.map_err(|e| format!("backup beside a prune process failed: {}", error_chain(&e)))?;
        if !status.success() {
            fail!("the prune process failed: {status}");
        }
        self.killed_lock_pending = false;
        self.snaps.insert(
            s.snapshot.id.clone(),
            Captured {
                graph: g.to_owned(),
                files: captured,
            },
        );
        Ok(vec![s.snapshot.id])
    }

    /// An in-place restore in a child process killed with SIGKILL at a random moment: the
    /// target is exactly the old or exactly the new contents; a staging directory may be
    /// left (counted, then removed as the stale-staging rule would an hour later).
    fn op_kill_restore(&mut self) -> Result<Vec<String>, String> {
        let g = *self.rng.pick(&GRAPHS);
        let Some(id) = self.random_snapshot(Some(g)) else {
            return Ok(Vec::new());
        };
        let dir = self.dir(g);
        let old = self.live[g].clone();
        let delay = Duration::from_millis(self.rng.range(10, 500));
        self.note(format!(
            "  restore {id} in place into {g} in a child process killed after {delay:?}"
        ));
        let mut child = spawn_child(
            &format!(
                "restore|{}|{id}|{}|{g}",
                self.env.spec("repo"),
                dir.display()
            ),
            self.key.as_deref(),
        )?;
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        self.fig.processes_killed += 1;
        self.killed_lock_pending = true;
        let now = read_tree(&dir);
        let new_files = self.snaps[&id].files.clone();
        if diff_files(&new_files, &now).is_none() {
            self.note("  -> target holds the new contents".into());
            self.fig.killed_restores_new += 1;
            self.live.insert(g.to_owned(), new_files);
        } else if let Some(d) = diff_files(&old, &now) {
            fail!("a killed in-place restore left the target neither old nor new: {d}");
        } else {
            self.note("  -> target holds the old contents".into());
            self.fig.killed_restores_old += 1;
        }
        for e in std::fs::read_dir(&self.live_root).unwrap().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(&format!(".{g}.lrtmp-")) || n.starts_with(&format!(".{g}.lrold-")) {
                self.fig.staging_left_by_kills += 1;
                std::fs::remove_dir_all(e.path()).unwrap();
            }
        }
        self.adopt_new(
            &[(g.to_owned(), old)],
            "safety snapshot of a killed restore",
        )
    }

    /// A backup in a child process killed with SIGKILL at a random moment.
    fn op_kill(&mut self) -> Result<Vec<String>, String> {
        if self.rng.chance(50) {
            return self.op_kill_restore();
        }
        let g = *self.rng.pick(&GRAPHS);
        let dir = self.dir(g);
        let captured = self.live[g].clone();
        let delay = Duration::from_millis(self.rng.range(20, 600));
        self.note(format!(
            "  backup {g} in a child process killed after {delay:?}"
        ));
        let mut child = spawn_child(
            &format!("backup|{}|{g}|{}", self.env.spec("repo"), dir.display()),
            self.key.as_deref(),
        )?;
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        self.fig.processes_killed += 1;
        self.killed_lock_pending = true;
        self.adopt_new(&[(g.to_owned(), captured)], "backup of a killed process")
    }

    /// `verify` under a read fault: an error, or (no fault fired) a clean report.
    fn op_verify_faulted(&mut self) -> Check {
        // A transient read error is an error, never damage findings (see
        // `verify_reports_a_transient_read_error_as_damage`): `faulted` fails an Ok.
        let res = self.faulted("verify", |r| {
            r.verify(
                &VerifyOptions {
                    read_data: ReadData::All,
                    ..Default::default()
                },
                &NoProgress,
            )
        });
        let (res, _) = res?;
        match res {
            Ok(rep) if !rep.is_ok() => fail!("verify found damage: {:?}", rep.damage),
            _ => {}
        }
        Ok(())
    }

    /// Rewrite a file in place with the same size and put its mtime back (what `rsync
    /// --inplace -t`, `cp -p` over an existing file or `touch -r` do): change detection must
    /// see it by ctime (see `same_size_rewrite_with_mtime_put_back_is_not_captured`).
    fn mutate_keep_mtime(&mut self, g: &str) -> Check {
        let candidates: Vec<String> = self
            .plain_files(g)
            .into_iter()
            .filter(|k| !self.live[g][k].data.is_empty())
            .collect();
        if candidates.is_empty() {
            return Ok(());
        }
        let rel = self.rng.pick(&candidates).clone();
        let old = self.live[g][&rel].clone();
        let mut data = old.data.clone();
        let at = self.rng.below(data.len() as u64) as usize;
        data[at] = data[at].wrapping_add(1);
        let path = self.dir(g).join(&rel);
        std::fs::write(&path, &data).unwrap();
        let st = FileState { data, ..old };
        set_meta(&path, &st);
        self.note(format!(
            "  rewrite {g}/{rel} in place, same size, mtime put back"
        ));
        self.live.get_mut(g).unwrap().insert(rel, st);
        Ok(())
    }

    // ---- invariants --------------------------------------------------------------------------

    fn restore_compare(&mut self, id: &str) -> Check {
        self.seq += 1;
        let target = self.restore_root.join(format!("v{}", self.seq));
        self.repo
            .restore(id, &target, &RestoreOptions::default(), &NoProgress)
            .map_err(|e| format!("listed snapshot {id} does not restore: {}", error_chain(&e)))?;
        let got = read_tree(&target);
        if let Some(d) = diff_files(&self.snaps[id].files, &got) {
            fail!("snapshot {id} does not restore what it captured: {d}");
        }
        self.fig.restores_compared += 1;
        std::fs::remove_dir_all(&target).unwrap();
        Ok(())
    }

    fn check(&mut self, new: &[String], restore_all: bool) -> Check {
        // Live folders and their parent (no staging leftovers).
        for g in GRAPHS {
            if let Some(d) = diff_files(&self.live[g], &read_tree(&self.dir(g))) {
                fail!("live graph {g} differs from the model: {d}");
            }
        }
        for root in [&self.live_root, &self.restore_root] {
            let names: Vec<String> = std::fs::read_dir(root)
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !GRAPHS.contains(&n.as_str()))
                .collect();
            if !names.is_empty() {
                fail!("leftovers beside the graphs/restores: {names:?}");
            }
        }
        // Listed snapshots are the model's, and their manifests record what was captured.
        let listed: BTreeSet<String> = self.listed()?.into_iter().map(|s| s.id).collect();
        let model: BTreeSet<String> = self.snaps.keys().cloned().collect();
        if listed != model {
            fail!(
                "listed snapshots differ from the model: missing {:?}, unexpected {:?}",
                model.difference(&listed).collect::<Vec<_>>(),
                listed.difference(&model).collect::<Vec<_>>()
            );
        }
        for (id, cap) in &self.snaps {
            let m = self
                .repo
                .snapshot(id)
                .map_err(|e| format!("manifest {id} unreadable: {}", error_chain(&e)))?;
            if m.graph_id != cap.graph {
                fail!(
                    "snapshot {id} is of graph {}, captured {}",
                    m.graph_id,
                    cap.graph
                );
            }
            let got: BTreeMap<&str, (u64, u32, i64, u32)> = m
                .files
                .iter()
                .map(|f| (f.path.as_str(), (f.size, f.mode, f.mtime, f.mtime_nsec)))
                .collect();
            let want: BTreeMap<&str, (u64, u32, i64, u32)> = cap
                .files
                .iter()
                .map(|(p, s)| (p.as_str(), (s.data.len() as u64, s.mode, s.mtime, s.nsec)))
                .collect();
            if got != want {
                let diff: Vec<_> = want
                    .iter()
                    .filter(|(k, v)| got.get(*k) != Some(v))
                    .map(|(k, _)| *k)
                    .chain(got.keys().filter(|k| !want.contains_key(*k)).copied())
                    .collect();
                fail!("manifest of {id} does not record what was captured: {diff:?}");
            }
        }
        // Read every chunk.
        let rep = self
            .repo
            .verify(
                &VerifyOptions {
                    read_data: ReadData::All,
                    ..Default::default()
                },
                &NoProgress,
            )
            .map_err(|e| format!("verify failed to run: {}", error_chain(&e)))?;
        self.fig.verifies += 1;
        if !rep.is_ok() {
            fail!("verify --read-data found damage: {:?}", rep.damage);
        }
        // Byte-identical restores: new snapshots, one random older one, or all.
        let mut to_restore: Vec<String> = if restore_all {
            self.snaps.keys().cloned().collect()
        } else {
            new.to_vec()
        };
        if !restore_all && let Some(id) = self.random_snapshot(None) {
            to_restore.push(id);
        }
        to_restore.sort();
        to_restore.dedup();
        for id in to_restore {
            if self.snaps.contains_key(&id) {
                self.restore_compare(&id)?;
            }
        }
        // No lock left behind (except a killed process's, until the next prune).
        let locks = self
            .faulty
            .inner()
            .list("locks/")
            .map_err(|e| e.to_string())?;
        if !locks.is_empty() && !self.killed_lock_pending {
            fail!(
                "locks left behind: {:?}",
                locks.iter().map(|l| &l.key).collect::<Vec<_>>()
            );
        }
        Ok(())
    }

    fn step(&mut self) -> Check {
        let g = *self.rng.pick(&GRAPHS);
        let pick = self.rng.below(100);
        let (name, new): (&'static str, Vec<String>) = match pick {
            0..=21 => ("backup", self.op_backup(g)?),
            22..=23 => {
                self.mutate_keep_mtime(g)?;
                ("mutate-keep-mtime", Vec::new())
            }
            24..=43 => {
                self.mutate(g)?;
                ("mutate", Vec::new())
            }
            44..=46 => {
                self.op_verify_faulted()?;
                ("verify", Vec::new())
            }
            47..=54 => {
                self.op_forget()?;
                ("forget", Vec::new())
            }
            55..=62 => {
                self.op_prune()?;
                ("prune", Vec::new())
            }
            63..=71 => {
                self.op_restore_new()?;
                ("restore-new", Vec::new())
            }
            72..=80 => ("restore-in-place", self.op_restore_in_place(g, false)?),
            81..=84 => ("restore-partial", self.op_restore_in_place(g, true)?),
            85..=92 => match self.op_concurrent() {
                Ok(new) => ("concurrent", new),
                Err(e) => {
                    self.note_lock_trace();
                    return Err(e);
                }
            },
            93..=96 => ("two-processes", self.op_two_processes()?),
            _ => ("kill", self.op_kill()?),
        };
        *self.fig.ops.entry(name).or_default() += 1;
        self.fig.snapshots_created += new.len() as u64;
        let res = self.check(&new, false);
        if res.is_err() && name == "concurrent" {
            self.note_lock_trace();
        }
        res
    }

    fn note_lock_trace(&mut self) {
        let mut t = self.last_lock_trace.lock().unwrap().clone();
        t.sort();
        self.note(format!(
            "  lock requests of the concurrent step:\n        {}",
            t.join("\n        ")
        ));
    }
}

// ---- child processes -------------------------------------------------------------------------

const CHILD_ENV: &str = "LIGHTRAG_BACKUP_TEST_MODEL_CHILD";

const CHILD_KEY_ENV: &str = "LIGHTRAG_BACKUP_TEST_MODEL_CHILD_KEY";

fn spawn_child(spec: &str, key: Option<&[u8]>) -> Result<std::process::Child, String> {
    // /proc/self/exe still runs this binary when a rebuild has replaced it on disk.
    std::process::Command::new("/proc/self/exe")
        .args([
            "--exact",
            "integration::model::model_child_process",
            "--test-threads",
            "1",
            "--nocapture",
        ])
        .env(CHILD_ENV, spec)
        .env(
            CHILD_KEY_ENV,
            key.map(|k| String::from_utf8_lossy(k).into_owned())
                .unwrap_or_default(),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .map_err(|e| format!("spawn child: {e}"))
}

/// Every request a little slow, so a kill lands in the middle of an operation.
fn slow(storage: Arc<dyn Storage>) -> Arc<dyn Storage> {
    let f = FaultyStorage::new(storage, Backend::Local);
    f.set_plan(
        vec![Rule::every(&[], &[], Fault::Slow(Duration::from_millis(4)))],
        None,
    );
    f
}

/// The other process of `two-processes` and `kill`; a no-op in a normal test run.
#[test]
fn model_child_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let storage: Arc<dyn Storage> = storage_from_spec(parts[1]);
    let key = std::env::var(CHILD_KEY_ENV).ok().filter(|k| !k.is_empty());
    let key = key.as_deref().map(str::as_bytes);
    match parts[0] {
        "prune" => {
            let repo = Repository::open(storage, key)
                .unwrap()
                .with_options(options());
            if let Err(e) = repo.prune(&PruneOptions::default(), &NoProgress) {
                eprintln!("child prune failed: {}", error_chain(&e));
                std::process::exit(1);
            }
        }
        "backup" => {
            let repo = Repository::open(slow(storage), key)
                .unwrap()
                .with_options(options());
            let _ = repo.backup(
                parts[2],
                Path::new(parts[3]),
                &BackupOptions::default(),
                &NoProgress,
            );
        }
        "restore" => {
            let repo = Repository::open(slow(storage), key)
                .unwrap()
                .with_options(options());
            let opts = RestoreOptions {
                in_place: true,
                safety_graph_id: Some(parts[4].to_owned()),
                ..Default::default()
            };
            let _ = repo.restore(parts[2], Path::new(parts[3]), &opts, &NoProgress);
        }
        other => panic!("unknown child mode {other}"),
    }
}

// ---- drivers ---------------------------------------------------------------------------------

/// Run one sequence; `Err` is the first broken invariant (or a panic), with the log tail.
fn run_sequence(seed: u64, steps: u64, backend: Backend, fig: &mut Figures) -> Check {
    let mut log = Vec::new();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut w = World::new(seed, backend, fig, &mut log);
        let mut res = Ok(());
        for i in 0..steps {
            w.note(format!("step {i}"));
            w.fig.steps += 1;
            if let Err(e) = w.step() {
                res = Err(format!("step {i}: {e}"));
                break;
            }
        }
        if res.is_ok() {
            // The end: every listed snapshot restores byte-identically.
            res = w.check(&[], true).map_err(|e| format!("final check: {e}"));
        }
        if res.is_err()
            && let Ok(keep) = std::env::var("LIGHTRAG_MODEL_KEEP_FAILED")
        {
            // Keep the repository and folders of a failing sequence for inspection.
            let dest = Path::new(&keep).join(format!("seed-{seed}"));
            let _ = std::fs::remove_dir_all(&dest);
            let _ = std::fs::create_dir_all(&keep);
            let _ = std::process::Command::new("cp")
                .arg("-a")
                .arg(w.env.path())
                .arg(&dest)
                .status();
            w.note(format!("  kept in {}", dest.display()));
        }
        res
    }));
    let res = match outcome {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            Err(format!("panic: {msg}"))
        }
    };
    fig.sequences += 1;
    res.map_err(|e| {
        let tail = if env_flag("LIGHTRAG_MODEL_FULL_LOG") {
            0
        } else {
            log.len().saturating_sub(25)
        };
        format!(
            "seed {seed} ({backend:?}, {steps} steps): {e}\n    replay: LIGHTRAG_MODEL_SEED={seed} \
             LIGHTRAG_MODEL_STEPS={steps} cargo test -p lightrag-backup --test integration \
             model_{}_seeds -- --nocapture\n    last steps:\n      {}",
            if backend == Backend::Local {
                "local"
            } else {
                "s3"
            },
            log[tail..].join("\n      ")
        )
    })
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "yes"))
}

/// The fixed seeds of the default run (about 30 s in a debug build on an idle 2-core machine,
/// two minutes under heavy load). Seeds divisible by 3 run on an encrypted repository.
const SEEDS: [u64; 4] = [0x5eed_0001, 0xdead_beef, 0x0bad_cafe, 0x1337_2026];
const STEPS: u64 = 32;
/// Sequences that found a defect, kept in the default run (local backend): seed 0x13 hit
/// `prune_deletes_a_repacked_pack_named_like_a_deleted_one` at step 35 in most runs.
const DEFECT_SEEDS: [(u64, u64); 1] = [(0x13, 40)];

fn run(backend: Backend) {
    let started = Instant::now();
    let mut fig = Figures::default();
    let label = format!("{backend:?}");
    if let Ok(seed) = std::env::var("LIGHTRAG_MODEL_SEED") {
        let seed: u64 = seed.parse().expect("LIGHTRAG_MODEL_SEED is a number");
        let steps = std::env::var("LIGHTRAG_MODEL_STEPS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(STEPS);
        if let Err(e) = run_sequence(seed, steps, backend, &mut fig) {
            fig.failures.push(e);
        }
    } else if let Ok(soak) = std::env::var("LIGHTRAG_SOAK") {
        // "<n>s" / "<n>m": a time budget; "<n>": a step budget. Random seeds, printed.
        let (deadline, max_steps) = match soak.strip_suffix('s') {
            Some(secs) => (
                Some(Duration::from_secs(secs.parse().expect("LIGHTRAG_SOAK"))),
                u64::MAX,
            ),
            None => match soak.strip_suffix('m') {
                Some(m) => (
                    Some(Duration::from_secs(
                        60 * m.parse::<u64>().expect("LIGHTRAG_SOAK"),
                    )),
                    u64::MAX,
                ),
                None => (
                    None,
                    soak.parse().expect("LIGHTRAG_SOAK: <seconds>s or <steps>"),
                ),
            },
        };
        let mut seeder = Rng::new(
            std::time::SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64,
        );
        while deadline.is_none_or(|d| started.elapsed() < d) && fig.steps < max_steps {
            let seed = seeder.next_u64() >> 1;
            let steps = 60;
            println!("model soak: seed {seed}");
            if let Err(e) = run_sequence(seed, steps, backend, &mut fig) {
                println!("model soak: FAILURE {e}");
                fig.failures.push(e);
            }
        }
    } else {
        // An object store costs more per operation (prune waits for listings to settle):
        // fewer seeds there.
        let (seeds, steps, extra) = match backend {
            Backend::Local => (&SEEDS[..], STEPS, &DEFECT_SEEDS[..]),
            Backend::S3 | Backend::Azure | Backend::Gcs => (&SEEDS[..3], 30, &[][..]),
        };
        let all = seeds
            .iter()
            .map(|&s| (s, steps))
            .chain(extra.iter().copied());
        for (seed, steps) in all {
            if let Err(e) = run_sequence(seed, steps, backend, &mut fig) {
                fig.failures.push(e);
            }
        }
    }
    fig.print(&label, started.elapsed());
    assert!(
        fig.failures.is_empty(),
        "{} failing sequence(s):\n{}",
        fig.failures.len(),
        fig.failures.join("\n")
    );
}

#[test]
fn model_local_seeds() {
    run(Backend::Local);
}

/// On an S3 server (needs `s3s-fs`, provisioned by `scripts/test`).
#[test]
fn model_s3_seeds() {
    run(Backend::S3);
}
