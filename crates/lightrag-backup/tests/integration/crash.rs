//! Crashes between chunk writes and manifest publish never leave a listed-but-broken
//! snapshot, and the next backup works.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use lightrag_backup::{
    BackupError, BackupOptions, ChunkerParams, Failpoint, InitOptions, NoProgress, ObjectInfo,
    PruneOptions, ReadData, Repository, RestoreOptions, Storage, VerifyOptions,
};

use super::common::{
    Backend, TestEnv, assert_same_tree, backend_tests, copy_dir, fixtures, quick_options,
    storage_from_spec, xorshift,
};

backend_tests!(
    failpoints_before_index_and_manifest,
    killed_process_leaves_no_broken_snapshot
);

/// Restore `snapshot` into `out` and check it is `src` byte for byte.
fn assert_restores_same(repo: &Repository, snapshot: &str, src: &Path, out: &Path) {
    repo.restore(snapshot, out, &RestoreOptions::default(), &NoProgress)
        .unwrap();
    assert_same_tree(src, out);
}

fn verify_all(repo: &Repository) {
    let r = repo
        .verify(
            &VerifyOptions {
                read_data: ReadData::All,
                ..Default::default()
            },
            &NoProgress,
        )
        .unwrap();
    assert!(r.is_ok(), "{r:?}");
}

fn failpoints_before_index_and_manifest(backend: Backend) {
    for fp in [Failpoint::BeforeIndex, Failpoint::BeforeManifest] {
        let tmp = TestEnv::new(backend);
        let src = tmp.path().join("g");
        copy_dir(&fixtures()[0], &src);
        let repo = tmp.new_repo(None);
        let opts = BackupOptions {
            failpoint: Some(fp),
            ..Default::default()
        };
        let err = repo.backup("g", &src, &opts, &NoProgress).unwrap_err();
        assert!(matches!(err, BackupError::Injected(_)), "{err}");
        assert!(
            repo.snapshots(None).unwrap().is_empty(),
            "{fp:?}: a snapshot became visible"
        );
        verify_all(&repo);
        // A crash before the index leaves packs nothing indexes, which prune finds.
        let dry = PruneOptions {
            dry_run: true,
            ..Default::default()
        };
        let left = repo.prune(&dry, &NoProgress).unwrap();
        if fp == Failpoint::BeforeIndex {
            assert!(left.orphan_packs_deleted > 0, "{left:?}");
        }
        // The next run works and restores byte-identically.
        let s = repo
            .backup("g", &src, &BackupOptions::default(), &NoProgress)
            .unwrap();
        assert_restores_same(&repo, &s.snapshot.id, &src, &tmp.path().join("out"));
        verify_all(&repo);
        // Prune removes what the crashed run left behind and keeps the snapshot intact. (The
        // next run may have written some of those packs again byte for byte, hence indexed
        // them: packs are named by their content, and the order of their blobs depends on
        // the threads, so how many are still orphans varies; none may remain.)
        repo.prune(&PruneOptions::default(), &NoProgress).unwrap();
        let after = repo.prune(&dry, &NoProgress).unwrap();
        assert_eq!(after.orphan_packs_deleted, 0, "{after:?}");
        verify_all(&repo);
    }
}

/// A repository of tiny chunks (64 / 256 / 1024 bytes) and 1 MiB packs, and a graph of 16 MiB
/// of random bytes: about 65 000 blobs, four index parts or more.
fn tiny_chunks(tmp: &TestEnv, storage: Arc<dyn Storage>) -> (Repository, std::path::PathBuf) {
    let init = InitOptions {
        chunker: ChunkerParams {
            min_size: 64,
            avg_size: 256,
            max_size: 1024,
        },
        fine_chunker: None,
        pack_size: 1024 * 1024,
        ..InitOptions::default()
    };
    let repo = Repository::init(storage, &init, None)
        .unwrap()
        .with_options(quick_options());
    let src = tmp.path().join("g");
    std::fs::create_dir_all(&src).unwrap();
    let bytes: Vec<u8> = xorshift(41)
        .take(2 * 1024 * 1024)
        .flat_map(u64::to_le_bytes)
        .collect();
    std::fs::write(src.join("big.bin"), bytes).unwrap();
    (repo, src)
}

/// Index parts are written while the backup runs, as soon as their packs are stored (memory
/// holds one part, not the graph's whole blob list): a backup that fails before its last part
/// has already indexed the others, every pack they name is stored, and the next backup
/// deduplicates against them.
#[test]
fn index_parts_are_written_while_the_backup_runs() {
    let tmp = TestEnv::new(Backend::Local);
    let (repo, src) = tiny_chunks(&tmp, tmp.storage());
    let crash = BackupOptions {
        failpoint: Some(Failpoint::BeforeIndex),
        ..Default::default()
    };
    let err = repo.backup("g", &src, &crash, &NoProgress).unwrap_err();
    assert!(matches!(err, BackupError::Injected(_)), "{err}");
    let parts = tmp.storage().list("index/").unwrap();
    assert!(
        parts.len() >= 2,
        "index parts written before the last one: {}",
        parts.len()
    );
    assert!(repo.snapshots(None).unwrap().is_empty());
    let size = std::fs::metadata(src.join("big.bin")).unwrap().len();
    let s = repo
        .backup("g", &src, &BackupOptions::default(), &NoProgress)
        .unwrap();
    let stored = s.snapshot.totals.new_bytes;
    assert!(
        stored < size / 2,
        "the next backup stored {stored} of {size} bytes again: the parts written early did not index them"
    );
    assert_restores_same(&repo, &s.snapshot.id, &src, &tmp.path().join("out"));
    verify_all(&repo);
    repo.prune(&PruneOptions::default(), &NoProgress).unwrap();
    verify_all(&repo);
}

/// A storage that runs `hook` (given the inner storage and the key) before each put.
struct BeforePut<F> {
    inner: Arc<dyn Storage>,
    hook: F,
}

impl<F> std::fmt::Debug for BeforePut<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BeforePut")
            .field("inner", &self.inner)
            .finish()
    }
}

impl<F> Storage for BeforePut<F>
where
    F: Fn(&dyn Storage, &str) -> lightrag_backup::Result<()> + Send + Sync,
{
    fn put(&self, key: &str, data: Vec<u8>) -> lightrag_backup::Result<()> {
        (self.hook)(self.inner.as_ref(), key)?;
        self.inner.put(key, data)
    }
    fn get(&self, key: &str) -> lightrag_backup::Result<Vec<u8>> {
        self.inner.get(key)
    }
    fn get_range(&self, key: &str, offset: u64, len: u64) -> lightrag_backup::Result<Vec<u8>> {
        self.inner.get_range(key, offset, len)
    }
    fn exists(&self, key: &str) -> lightrag_backup::Result<bool> {
        self.inner.exists(key)
    }
    fn list(&self, prefix: &str) -> lightrag_backup::Result<Vec<ObjectInfo>> {
        self.inner.list(prefix)
    }
    fn delete(&self, key: &str) -> lightrag_backup::Result<()> {
        self.inner.delete(key)
    }
    fn location(&self) -> String {
        self.inner.location()
    }
}

/// The pack ids an (unencrypted) index part names: a flag byte (0 plain, 1 zstd), then
/// `{"packs": [{"id": …}, …]}`.
fn packs_named(body: &[u8]) -> Vec<String> {
    let json = match body[0] {
        0 => body[1..].to_vec(),
        1 => zstd::decode_all(&body[1..]).unwrap(),
        f => panic!("index part with flag {f}"),
    };
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    v["packs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

/// An index part is put only once every pack it names is stored (not while the last one is
/// still being written): with slow pack writes, each part's packs are all in a listing taken
/// at the moment of its put.
#[test]
fn an_index_part_names_only_packs_already_stored() {
    let tmp = TestEnv::new(Backend::Local);
    // (index key, pack keys stored at its put)
    let seen = Arc::new(std::sync::Mutex::new(Vec::<(String, Vec<String>)>::new()));
    let witness = {
        let seen = seen.clone();
        BeforePut {
            inner: tmp.storage(),
            hook: move |inner: &dyn Storage, key: &str| {
                if key.starts_with("data/") {
                    std::thread::sleep(std::time::Duration::from_millis(150));
                }
                if key.starts_with("index/") {
                    let packs = inner.list("data/")?.into_iter().map(|o| o.key).collect();
                    seen.lock().unwrap().push((key.to_owned(), packs));
                }
                Ok(())
            },
        }
    };
    let (repo, src) = tiny_chunks(&tmp, Arc::new(witness));
    repo.backup("g", &src, &BackupOptions::default(), &NoProgress)
        .unwrap();
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(seen.len() >= 3, "index parts: {}", seen.len());
    for (key, stored) in &seen {
        let named = packs_named(&tmp.storage().get(key).unwrap());
        assert!(!named.is_empty());
        for id in named {
            assert!(
                stored.iter().any(|k| k.ends_with(&id)),
                "{key} names pack {id}, not yet stored when the part was put"
            );
        }
    }
}

/// A backup whose lock is removed while it runs writes no index part from then on: each part
/// is written after a check that the lock is still held. (An index part naming packs that a
/// prune deleted would make later backups deduplicate against chunks that are gone.)
#[test]
fn a_backup_that_lost_its_lock_writes_no_index_part() {
    let tmp = TestEnv::new(Backend::Local);
    // At the first pack put, every lock object is deleted: a prune that judged the backup's
    // lock stale removed it.
    let packs = AtomicUsize::new(0);
    let thief = BeforePut {
        inner: tmp.storage(),
        hook: move |inner: &dyn Storage, key: &str| {
            if key.starts_with("data/") && packs.fetch_add(1, Ordering::SeqCst) == 0 {
                for lock in inner.list("locks/")? {
                    inner.delete(&lock.key)?;
                }
            }
            Ok(())
        },
    };
    let (repo, src) = tiny_chunks(&tmp, Arc::new(thief));
    let err = repo
        .backup("g", &src, &BackupOptions::default(), &NoProgress)
        .unwrap_err();
    assert!(matches!(err, BackupError::LockLost { .. }), "{err}");
    assert!(
        tmp.storage().list("index/").unwrap().is_empty(),
        "an index part was written after the lock was lost"
    );
    assert!(repo.snapshots(None).unwrap().is_empty());
    // The packs are orphans: prune removes them, and the next backup works.
    let plain = Repository::open(tmp.storage(), None)
        .unwrap()
        .with_options(quick_options());
    let report = plain.prune(&PruneOptions::default(), &NoProgress).unwrap();
    assert!(report.orphan_packs_deleted > 0, "{report:?}");
    let s = plain
        .backup("g", &src, &BackupOptions::default(), &NoProgress)
        .unwrap();
    assert_restores_same(&plain, &s.snapshot.id, &src, &tmp.path().join("out"));
}

const CHILD_ENV: &str = "LIGHTRAG_BACKUP_TEST_CRASH_CHILD";

/// Runs the backup that aborts the process when started as the crash child; a no-op otherwise.
#[test]
fn crash_child_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (dir, spec) = spec.split_once('|').unwrap();
    let dir = std::path::PathBuf::from(dir);
    let repo = Repository::open(storage_from_spec(spec), None)
        .unwrap()
        .with_options(quick_options());
    let opts = BackupOptions {
        failpoint: Some(Failpoint::AbortBeforeManifest),
        ..Default::default()
    };
    let _ = repo.backup("g", &dir.join("g"), &opts, &NoProgress);
    unreachable!("the failpoint aborts the process");
}

fn killed_process_leaves_no_broken_snapshot(backend: Backend) {
    let tmp = TestEnv::new(backend);
    let src = tmp.path().join("g");
    copy_dir(&fixtures()[1], &src);
    let repo = tmp.new_repo(None);
    let first = repo
        .backup("g", &src, &BackupOptions::default(), &NoProgress)
        .unwrap()
        .snapshot
        .id;
    std::fs::write(
        src.join("kv_store_full_docs.json"),
        b"{\"new\": {\"content\": \"changed\"}}",
    )
    .unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "integration::crash::crash_child_process",
            "--test-threads",
            "1",
        ])
        .env(
            CHILD_ENV,
            format!("{}|{}", tmp.path().display(), tmp.spec("repo")),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(
        !status.success(),
        "the child should have been killed by its failpoint"
    );
    // The child's lock is still there, its data packs too, but no new snapshot is listed.
    assert!(tmp.repo_dir().join("locks").read_dir().unwrap().count() >= 1);
    let ids: Vec<String> = repo
        .snapshots(None)
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, [first]);
    verify_all(&repo);
    // The next backup works (the dead process's lock is recognised as stale).
    let s = repo
        .backup("g", &src, &BackupOptions::default(), &NoProgress)
        .unwrap();
    assert_restores_same(&repo, &s.snapshot.id, &src, &tmp.path().join("out"));
    // The changed store is captured (docs() counts doc_status, which did not change).
    assert_eq!(
        s.snapshot.summary.stores["kv_store_full_docs.json"].records,
        Some(1)
    );
}
