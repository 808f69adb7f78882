//! Issue 15 #2: listings (snapshots, stats) answer from the snapshot header index, and always
//! equal what reading every manifest gives: across backup, forget, prune and delete, with the
//! index missing, damaged, stale or older than manifests written without it, in an encrypted
//! repository, beside concurrent backups; and a listing reads a bounded number of objects.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use lightrag_backup::{
    BackupOptions, NoProgress, ObjectInfo, PruneOptions, Repository, RetentionPolicy, Storage,
    StorageStats,
};

use super::common::{
    Backend, TestEnv, backend_tests, gen_workspace, grow_workspace, quick_options,
    storage_from_spec,
};

backend_tests!(
    listing_equals_the_manifests_across_backup_forget_prune_delete,
    missing_damaged_and_older_indexes_never_change_a_listing,
    listing_reads_a_bounded_number_of_objects,
    encrypted_index_hides_graph_names_and_is_bound_to_its_key,
    failed_index_writes_and_concurrent_writers_lose_nothing,
    killed_between_manifest_and_header_or_during_consolidation
);

const HEADERS: &str = "headers/v1/";

/// A storage that counts the requests of each kind (and the keys read), and can refuse every
/// put under `headers/` (what a crash between a manifest and its header leaves).
#[derive(Debug)]
struct Counting {
    inner: Arc<dyn Storage>,
    gets: AtomicU64,
    lists: AtomicU64,
    puts: AtomicU64,
    deletes: AtomicU64,
    read: Mutex<Vec<String>>,
    refuse_headers: AtomicBool,
    /// Abort the process at the first put (resp. delete) under `headers/`: a kill -9 there.
    abort_at_header_put: AtomicBool,
    abort_at_header_delete: AtomicBool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Counts {
    gets: u64,
    lists: u64,
    puts: u64,
    deletes: u64,
    /// Keys read by `get`, in order.
    read: Vec<String>,
}

impl Counts {
    fn manifests_read(&self) -> usize {
        self.read
            .iter()
            .filter(|k| k.starts_with("snapshots/"))
            .count()
    }
    fn segments_read(&self) -> usize {
        self.read.iter().filter(|k| k.starts_with(HEADERS)).count()
    }
}

impl Counting {
    fn new(inner: Arc<dyn Storage>) -> Arc<Counting> {
        Arc::new(Counting {
            inner,
            gets: AtomicU64::new(0),
            lists: AtomicU64::new(0),
            puts: AtomicU64::new(0),
            deletes: AtomicU64::new(0),
            read: Mutex::new(Vec::new()),
            refuse_headers: AtomicBool::new(false),
            abort_at_header_put: AtomicBool::new(false),
            abort_at_header_delete: AtomicBool::new(false),
        })
    }

    /// The counts since the last call.
    fn take(&self) -> Counts {
        Counts {
            gets: self.gets.swap(0, Ordering::SeqCst),
            lists: self.lists.swap(0, Ordering::SeqCst),
            puts: self.puts.swap(0, Ordering::SeqCst),
            deletes: self.deletes.swap(0, Ordering::SeqCst),
            read: std::mem::take(&mut *self.read.lock().unwrap()),
        }
    }
}

impl Storage for Counting {
    fn put(&self, key: &str, data: Vec<u8>) -> lightrag_backup::Result<()> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        if key.starts_with("headers/") && self.abort_at_header_put.load(Ordering::SeqCst) {
            std::process::abort();
        }
        if key.starts_with("headers/") && self.refuse_headers.load(Ordering::SeqCst) {
            return Err(lightrag_backup::BackupError::Injected(
                "snapshot header put refused",
            ));
        }
        self.inner.put(key, data)
    }
    fn get(&self, key: &str) -> lightrag_backup::Result<Vec<u8>> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.read.lock().unwrap().push(key.to_owned());
        self.inner.get(key)
    }
    fn get_range(&self, key: &str, offset: u64, len: u64) -> lightrag_backup::Result<Vec<u8>> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get_range(key, offset, len)
    }
    fn exists(&self, key: &str) -> lightrag_backup::Result<bool> {
        self.inner.exists(key)
    }
    fn list(&self, prefix: &str) -> lightrag_backup::Result<Vec<ObjectInfo>> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.list(prefix)
    }
    fn list_modified(
        &self,
        prefix: &str,
    ) -> lightrag_backup::Result<Vec<(ObjectInfo, Option<SystemTime>)>> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        self.inner.list_modified(prefix)
    }
    fn delete(&self, key: &str) -> lightrag_backup::Result<()> {
        self.deletes.fetch_add(1, Ordering::SeqCst);
        if key.starts_with("headers/") && self.abort_at_header_delete.load(Ordering::SeqCst) {
            std::process::abort();
        }
        self.inner.delete(key)
    }
    fn location(&self) -> String {
        format!("counting({})", self.inner.location())
    }
    fn cleanup_incomplete(&self, older_than: Duration) -> lightrag_backup::Result<u64> {
        self.inner.cleanup_incomplete(older_than)
    }
    fn stats(&self) -> StorageStats {
        self.inner.stats()
    }
    fn listing_may_lag(&self) -> bool {
        self.inner.listing_may_lag()
    }
    fn prefers_large_reads(&self) -> bool {
        self.inner.prefers_large_reads()
    }
}

/// The repository `repo` of `tmp` opened through a counting storage.
fn counted(tmp: &TestEnv, key: Option<&[u8]>) -> (Repository, Arc<Counting>) {
    let c = Counting::new(tmp.storage());
    let repo = Repository::open(c.clone(), key)
        .unwrap()
        .with_options(super::common::quick_options());
    c.take();
    (repo, c)
}

/// Every listing the index serves equals the one read from the manifests, per graph and for
/// all, and so do the snapshot figures of `stats`.
#[track_caller]
fn assert_same_as_manifests(repo: &Repository, context: &str) {
    let all = repo.snapshots_from_manifests(None).unwrap();
    let graphs: BTreeSet<String> = all.iter().map(|s| s.graph_id.clone()).collect();
    assert_eq!(repo.snapshots(None).unwrap(), all, "{context}: all graphs");
    for g in graphs.iter().map(String::as_str).chain(["absent"]) {
        assert_eq!(
            repo.snapshots(Some(g)).unwrap(),
            repo.snapshots_from_manifests(Some(g)).unwrap(),
            "{context}: graph {g}"
        );
    }
    let st = repo.stats().unwrap();
    assert_eq!(st.snapshots, all.len() as u64, "{context}");
    assert_eq!(
        st.logical_bytes,
        all.iter().map(|s| s.totals.bytes).sum::<u64>(),
        "{context}"
    );
    for g in &graphs {
        let of_g: Vec<_> = all.iter().filter(|s| &s.graph_id == g).collect();
        let last = of_g.last().unwrap();
        let gs = &st.graphs[g];
        assert_eq!(gs.snapshots, of_g.len() as u64, "{context}: {g}");
        assert_eq!(
            gs.latest.as_deref(),
            Some(last.id.as_str()),
            "{context}: {g}"
        );
        assert_eq!(
            gs.latest_created_at,
            Some(last.created_at),
            "{context}: {g}"
        );
        assert_eq!(gs.latest_bytes, last.totals.bytes, "{context}: {g}");
    }
    assert_eq!(st.graphs.len(), graphs.len(), "{context}");
}

fn segments(st: &dyn Storage) -> Vec<ObjectInfo> {
    st.list(HEADERS).unwrap()
}

/// A one-file graph folder (fast to back up many times); `n` changes its content.
fn tiny_graph(dir: &Path, n: u64) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("kv_store_full_docs.json"),
        format!("{{\"doc-{n}\": {{\"content\": \"text {n}\"}}}}"),
    )
    .unwrap();
}

fn backup(repo: &Repository, graph: &str, dir: &Path) -> String {
    repo.backup(graph, dir, &BackupOptions::default(), &NoProgress)
        .unwrap()
        .snapshot
        .id
}

fn listing_equals_the_manifests_across_backup_forget_prune_delete(backend: Backend) {
    let tmp = TestEnv::new(backend);
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    gen_workspace(&a, 8, &[]);
    tiny_graph(&b, 0);
    let repo = tmp.new_repo(None);
    assert!(repo.snapshots(None).unwrap().is_empty());
    assert_same_as_manifests(&repo, "empty");
    let mut ids = Vec::new();
    for i in 0..4u64 {
        if i > 0 {
            grow_workspace(&a, 10);
            tiny_graph(&b, i);
        }
        ids.push(backup(&repo, "a", &a));
        backup(&repo, "b", &b);
        assert_same_as_manifests(&repo, &format!("after backup round {i}"));
    }
    // Each backup put its header: the index covers every snapshot.
    let (counted_repo, c) = counted(&tmp, None);
    assert_eq!(counted_repo.snapshots(None).unwrap().len(), 8);
    assert_eq!(c.take().manifests_read(), 0);

    let policy = RetentionPolicy {
        keep_last: 2,
        ..Default::default()
    };
    let pinned: BTreeSet<String> = [ids[0].clone()].into();
    let f = repo.forget(Some("a"), &policy, &pinned, false).unwrap();
    assert_eq!(f.removed, [ids[1].clone()]);
    assert_same_as_manifests(&repo, "after forget");
    assert!(repo.snapshots(None).unwrap().iter().all(|s| s.id != ids[1]));

    repo.prune(&PruneOptions::default(), &NoProgress).unwrap();
    assert_same_as_manifests(&repo, "after prune");

    repo.delete_snapshot(&ids[3]).unwrap();
    assert_same_as_manifests(&repo, "after delete");
    let left: Vec<String> = repo
        .snapshots(Some("a"))
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left, [ids[0].clone(), ids[2].clone()]);

    // Forget everything of `b`'s but the last, then back up again: still equal.
    let one = RetentionPolicy {
        keep_last: 1,
        ..Default::default()
    };
    repo.forget(Some("b"), &one, &BTreeSet::new(), false)
        .unwrap();
    tiny_graph(&b, 99);
    backup(&repo, "b", &b);
    assert_same_as_manifests(&repo, "after forget + backup");
    // Listings served from the index read no manifest.
    let (counted_repo, c) = counted(&tmp, None);
    counted_repo.snapshots(None).unwrap();
    counted_repo.snapshots(None).unwrap();
    let n = c.take();
    assert_eq!(n.manifests_read(), 0, "{n:?}");
}

fn missing_damaged_and_older_indexes_never_change_a_listing(backend: Backend) {
    let tmp = TestEnv::new(backend);
    let g = tmp.path().join("g");
    let repo = tmp.new_repo(None);
    let st = repo.storage().clone();
    for i in 0..6u64 {
        tiny_graph(&g, i);
        backup(&repo, if i % 2 == 0 { "even" } else { "odd" }, &g);
    }
    assert_same_as_manifests(&repo, "start");

    // An index from before three snapshots were added by a writer that does not know it (an
    // older binary, a replication copy): put the index back as it was.
    let before: Vec<(String, Vec<u8>)> = segments(st.as_ref())
        .into_iter()
        .map(|o| (o.key.clone(), st.get(&o.key).unwrap()))
        .collect();
    assert!(!before.is_empty());
    let mut added = Vec::new();
    for i in 6..9u64 {
        tiny_graph(&g, i);
        added.push(backup(&repo, "odd", &g));
    }
    for o in segments(st.as_ref()) {
        st.delete(&o.key).unwrap();
    }
    for (k, v) in &before {
        st.put(k, v.clone()).unwrap();
    }
    let (r, c) = counted(&tmp, None);
    let listed: Vec<String> = r
        .snapshots(None)
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert!(added.iter().all(|id| listed.contains(id)), "{listed:?}");
    let n = c.take();
    // Exactly the three manifests the index did not cover were read.
    assert_eq!(n.manifests_read(), 3, "{n:?}");
    assert_same_as_manifests(&repo, "older index");
    // ...and indexed by that listing: the next one reads none.
    r.snapshots(None).unwrap();
    assert_eq!(c.take().manifests_read(), 0);

    // No index at all.
    for o in segments(st.as_ref()) {
        st.delete(&o.key).unwrap();
    }
    let all = r.snapshots(None).unwrap();
    let n = c.take();
    assert_eq!(n.manifests_read(), all.len(), "{n:?}");
    assert_same_as_manifests(&repo, "no index");
    r.snapshots(None).unwrap();
    let n = c.take();
    assert_eq!((n.manifests_read(), n.segments_read()), (0, 1), "{n:?}");

    // Damaged segments: a flipped bit (same size), a truncated one, garbage, an empty one, a
    // body without its checksum. Each time the one segment there is gets damaged.
    for what in ["flipped", "truncated", "garbage", "empty", "raw json"] {
        let seg = segments(st.as_ref()).remove(0).key;
        let good = st.get(&seg).unwrap();
        let bytes = match what {
            "flipped" => {
                let mut b = good.clone();
                let mid = b.len() / 2;
                b[mid] ^= 0x10;
                b
            }
            "truncated" => good[..good.len() / 2].to_vec(),
            "garbage" => b"\x01not zstd at all".to_vec(),
            "empty" => Vec::new(),
            _ => {
                let mut v = vec![0u8];
                v.extend_from_slice(b"{\"headers\": []}");
                v
            }
        };
        st.put(&seg, bytes).unwrap();
        assert_eq!(
            r.snapshots(None).unwrap(),
            repo.snapshots_from_manifests(None).unwrap(),
            "{what}"
        );
        assert_eq!(c.take().manifests_read(), 9, "{what}");
        // The damaged segment was replaced by a good one: the next listing reads no manifest.
        assert!(
            !st.exists(&seg).unwrap(),
            "{what}: damaged segment not removed"
        );
        assert_eq!(segments(st.as_ref()).len(), 1, "{what}");
        r.snapshots(None).unwrap();
        assert_eq!(c.take().manifests_read(), 0, "{what}");
        assert_same_as_manifests(&repo, what);
    }

    // Headers of forgotten snapshots (a stale index) are ignored.
    let policy = RetentionPolicy {
        keep_last: 1,
        ..Default::default()
    };
    repo.forget(None, &policy, &BTreeSet::new(), false).unwrap();
    assert_same_as_manifests(&repo, "stale index");
    assert_eq!(repo.snapshots(None).unwrap().len(), 2);

    // A foreign-version segment and unknown objects under `headers/` are left alone.
    st.put(
        "headers/v2/0123456789abcdef0123456789abcdef",
        b"future".to_vec(),
    )
    .unwrap();
    st.put("headers/v1/not-a-segment", b"x".to_vec()).unwrap();
    assert_same_as_manifests(&repo, "foreign objects");
    assert!(
        st.exists("headers/v2/0123456789abcdef0123456789abcdef")
            .unwrap()
    );
    assert!(st.exists("headers/v1/not-a-segment").unwrap());
}

fn listing_reads_a_bounded_number_of_objects(backend: Backend) {
    let tmp = TestEnv::new(backend);
    let n: u64 = match backend {
        Backend::Local => 300,
        _ => 120,
    };
    let graphs = ["g0", "g1", "g2", "g3"];
    let dir = tmp.path().join("g");
    // The same content each time: the backups add manifests, no chunks (and no chunk index
    // files, so `stats` below reads one).
    tiny_graph(&dir, 0);
    let repo = tmp.new_repo(None);
    for i in 0..n {
        backup(&repo, graphs[(i % 4) as usize], &dir);
    }
    let st = repo.storage().clone();
    // Backups keep the index to a few segments (one per backup, folded past 16).
    let segs = segments(st.as_ref()).len();
    assert!(
        (1..=17).contains(&segs),
        "{segs} segments after {n} backups"
    );
    let (r, c) = counted(&tmp, None);
    let before = st.stats();
    let all = r.snapshots(None).unwrap();
    assert_eq!(all.len() as u64, n);
    let k = c.take();
    // One LIST of snapshots/, one of headers/v1/, one GET per segment, no manifest.
    assert_eq!(k.lists, 2, "{k:?}");
    assert_eq!(k.manifests_read(), 0, "{k:?}");
    assert_eq!(k.gets, segs as u64, "{k:?}");
    assert!(k.gets <= 17);
    let requests = st.stats().since(&before);
    if backend != Backend::Local {
        // The same on the wire: listing pages + segment GETs (+ a consolidation's put and
        // deletes when the backups left more than 16 segments).
        assert!(requests.requests <= 2 + 17 + 1 + 17 + 4, "{requests:?}");
        assert!(requests.get <= 2 + 17 + 2, "{requests:?}");
    }
    // Nothing to add or fold: the next listing reads the same and writes nothing.
    r.snapshots(None).unwrap();
    let k = c.take();
    assert_eq!((k.lists, k.gets, k.puts), (2, segs as u64, 0), "{k:?}");
    // One graph: the same reads (the index is not per graph), and the same answer.
    let one = r.snapshots(Some("g2")).unwrap();
    assert_eq!(one.len() as u64, n / 4);
    assert_eq!(c.take().manifests_read(), 0);
    assert_same_as_manifests(&repo, "many");
    c.take();
    // Stats: the chunk indexes and the snapshot header index, never a manifest.
    let s = r.stats().unwrap();
    assert_eq!(s.snapshots, n);
    let k = c.take();
    assert_eq!(k.manifests_read(), 0, "{k:?}");
    // The segments, the one chunk index file (and any bad-chunk marks: none here).
    assert_eq!(k.gets, segs as u64 + 1, "{k:?}");
    // What reading every manifest costs, for comparison.
    r.snapshots_from_manifests(None).unwrap();
    assert_eq!(c.take().manifests_read() as u64, n);

    // Without an index, the first listing reads every manifest once and indexes them all.
    for o in segments(st.as_ref()) {
        st.delete(&o.key).unwrap();
    }
    c.take();
    assert_eq!(r.snapshots(None).unwrap(), all);
    let k = c.take();
    assert_eq!(k.manifests_read() as u64, n, "{k:?}");
    assert_eq!(k.puts, 1, "{k:?}");
    assert_eq!(r.snapshots(None).unwrap(), all);
    let k = c.take();
    assert_eq!((k.gets, k.manifests_read()), (1, 0), "{k:?}");
}

fn encrypted_index_hides_graph_names_and_is_bound_to_its_key(backend: Backend) {
    const KEY: &[u8] = b"listing test key, thirty-two b!!";
    let tmp = TestEnv::new(backend);
    let g = tmp.path().join("g");
    let graph = "confidential-graph-7f3a";
    let repo = tmp.new_repo(Some(KEY));
    for i in 0..3u64 {
        tiny_graph(&g, i);
        let opts = BackupOptions {
            tags: vec!["tag-visible-only-decrypted".into()],
            ..BackupOptions::default()
        };
        repo.backup(graph, &g, &opts, &NoProgress).unwrap();
    }
    assert_same_as_manifests(&repo, "encrypted");
    let st = repo.storage().clone();
    let segs = segments(st.as_ref());
    assert!(!segs.is_empty());
    let host = repo.snapshots(None).unwrap()[0].hostname.clone();
    for s in &segs {
        assert!(!s.key.contains(graph), "{}", s.key);
        let bytes = st.get(&s.key).unwrap();
        // (A short host name, `vm`, would turn up in random ciphertext by chance.)
        let host = Some(host.as_str()).filter(|h| h.len() >= 8);
        for needle in [graph, "tag-visible-only-decrypted", "kv_store_full_docs"]
            .into_iter()
            .chain(host)
        {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} in plaintext in {}",
                s.key
            );
        }
    }
    // A segment copied under another segment's key fails authentication: ignored, and the
    // listing is still the manifests'.
    let (r, c) = counted(&tmp, Some(KEY));
    r.snapshots(None).unwrap();
    let seg = segments(st.as_ref()).remove(0);
    let moved = "headers/v1/00000000000000000000000000000000";
    st.put(moved, st.get(&seg.key).unwrap()).unwrap();
    st.delete(&seg.key).unwrap();
    c.take();
    assert_eq!(
        r.snapshots(None).unwrap(),
        repo.snapshots_from_manifests(None).unwrap()
    );
    // The one snapshot the moved segment described is read from its manifest.
    assert_eq!(c.take().manifests_read(), 1);
    assert!(
        !st.exists(moved).unwrap(),
        "unauthenticated segment removed"
    );
    assert_same_as_manifests(&repo, "moved segment");
    // Opened without the key: nothing to list.
    assert!(Repository::open(st.clone(), None).is_err());
}

fn failed_index_writes_and_concurrent_writers_lose_nothing(backend: Backend) {
    let tmp = TestEnv::new(backend);
    let (r, c) = {
        tmp.new_repo(None);
        counted(&tmp, None)
    };
    // A manifest without its header (the index put fails, as after a kill between the two):
    // the backup succeeds, the listing reads that manifest.
    c.refuse_headers.store(true, Ordering::SeqCst);
    let g = tmp.path().join("g");
    tiny_graph(&g, 0);
    let id = backup(&r, "g", &g);
    assert_eq!(r.snapshots(None).unwrap()[0].id, id);
    assert_same_as_manifests(&r, "header never written");
    assert!(segments(r.storage().as_ref()).is_empty());
    c.refuse_headers.store(false, Ordering::SeqCst);

    // Two backups of different graphs and two listers at once (each its own process-like
    // repository handle): every listing is a consistent answer, the final one complete.
    let dirs: Vec<_> = (0..2).map(|i| tmp.path().join(format!("w{i}"))).collect();
    let stop = Arc::new(AtomicBool::new(false));
    std::thread::scope(|sc| {
        let writers: Vec<_> = dirs
            .iter()
            .enumerate()
            .map(|(i, dir)| {
                let repo = Repository::open(tmp.storage(), None)
                    .unwrap()
                    .with_options(super::common::quick_options());
                sc.spawn(move || {
                    for k in 0..12u64 {
                        tiny_graph(dir, k);
                        backup(&repo, &format!("w{i}"), dir);
                    }
                })
            })
            .collect();
        for _ in 0..2 {
            let repo = Repository::open(tmp.storage(), None).unwrap();
            let stop = stop.clone();
            sc.spawn(move || {
                let mut last = 0;
                while !stop.load(Ordering::SeqCst) {
                    let n = repo.snapshots(None).unwrap().len();
                    assert!(n >= last, "a listing lost snapshots: {n} < {last}");
                    last = n;
                }
            });
        }
        for w in writers {
            w.join().unwrap();
        }
        stop.store(true, Ordering::SeqCst);
    });
    assert_eq!(r.snapshots(None).unwrap().len(), 1 + 2 * 12);
    assert_same_as_manifests(&r, "after concurrent writers");
}

const CHILD_ENV: &str = "LIGHTRAG_BACKUP_TEST_LISTING_CHILD";

/// The crash child: `backup` aborts the process between the manifest put and the header put;
/// `list` aborts a consolidating listing after its new segment, at the first old segment's
/// delete. A no-op when not started as the child.
#[test]
fn listing_crash_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut parts = spec.splitn(3, '|');
    let (mode, dir, spec) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let c = Counting::new(storage_from_spec(spec));
    let repo = Repository::open(c.clone(), None)
        .unwrap()
        .with_options(quick_options());
    match mode {
        "backup" => {
            c.abort_at_header_put.store(true, Ordering::SeqCst);
            let _ = repo.backup("g", Path::new(dir), &BackupOptions::default(), &NoProgress);
        }
        _ => {
            c.abort_at_header_delete.store(true, Ordering::SeqCst);
            let _ = repo.snapshots(None);
        }
    }
    unreachable!("the child aborts itself");
}

fn run_child(tmp: &TestEnv, mode: &str, dir: &Path) {
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "integration::listing::listing_crash_child",
            "--test-threads",
            "1",
        ])
        .env(
            CHILD_ENV,
            format!("{mode}|{}|{}", dir.display(), tmp.spec("repo")),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "{mode}: the child should have aborted");
}

fn killed_between_manifest_and_header_or_during_consolidation(backend: Backend) {
    let tmp = TestEnv::new(backend);
    let g = tmp.path().join("g");
    tiny_graph(&g, 0);
    let repo = tmp.new_repo(None);
    let first = backup(&repo, "g", &g);
    let st = repo.storage().clone();
    assert_eq!(segments(st.as_ref()).len(), 1);

    // Killed after the manifest, before its header: the snapshot is listed (it exists), from
    // its manifest, and indexed by that listing.
    tiny_graph(&g, 1);
    run_child(&tmp, "backup", &g);
    assert_eq!(segments(st.as_ref()).len(), 1, "no header was written");
    let (r, c) = counted(&tmp, None);
    let listed = r.snapshots(None).unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].id, first);
    assert_eq!(c.take().manifests_read(), 1);
    assert_same_as_manifests(&repo, "killed before the header");
    r.snapshots(None).unwrap();
    assert_eq!(c.take().manifests_read(), 0);

    // Killed in a consolidation, after the new segment and before the old ones are deleted:
    // duplicates only, and the next consolidation folds them.
    for i in 0..20u64 {
        let id = format!("{:032x}", 0xabc0 + i);
        let one = st.get(&segments(st.as_ref())[0].key).unwrap();
        st.put(&format!("{HEADERS}{id}"), one).unwrap();
    }
    let before = segments(st.as_ref()).len();
    assert!(before > 17, "{before}");
    run_child(&tmp, "list", &g);
    let after = segments(st.as_ref()).len();
    assert_eq!(
        after,
        before + 1,
        "the consolidated segment was written, nothing deleted"
    );
    assert_same_as_manifests(&repo, "killed in a consolidation");
    r.snapshots(None).unwrap();
    let n = c.take();
    assert_eq!(n.manifests_read(), 0, "{n:?}");
    let folded = segments(st.as_ref()).len();
    assert!(folded <= 2, "{folded} segments left");
    r.snapshots(None).unwrap();
    let n = c.take();
    assert_eq!(n.segments_read(), folded, "{n:?}");
}
