//! Object-store specifics, on a real S3 server (s3s-fs) on loopback: wrong credentials,
//! missing bucket, an outage in the middle of a backup, throttling/5xx retried, multipart
//! uploads and ranged reads, request counts, and lagging listings. The error and outage tests
//! also run on Azurite (Azure Blob) and, where it behaves like GCS, on fake-gcs-server.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lightrag_backup::{
    BackupError, BackupOptions, NoProgress, ObjectInfo, ReadData, ReadHook, RemoteProblem,
    Repository, RepositoryOptions, RestoreOptions, Storage, VerifyOptions, check_storage,
    open_storage,
};

use super::common::{
    Backend, S3_BUCKET, TestEnv, assert_same_tree, copy_dir, fixtures, gen_workspace,
    grow_workspace, quick_options, remote_backend_tests, s3_options, storage,
};

// Not on GCS: fake-gcs-server checks no credentials, and answers a listing of a missing
// bucket with a 500 (GCS itself: 404 NoSuchBucket).
remote_backend_tests!(
    unreachable_endpoint_is_reported_as_such,
    server_stopped_mid_backup_fails_cleanly_then_recovers;
    s3_azure: wrong_credentials_fail_clearly_and_write_nothing,
    missing_bucket_is_reported_as_such,
);

fn problem(e: &BackupError) -> Option<RemoteProblem> {
    match e {
        BackupError::Remote { problem, .. } => Some(*problem),
        _ => None,
    }
}

fn wrong_credentials_fail_clearly_and_write_nothing(backend: Backend) {
    let tmp = TestEnv::new(backend);
    let server = tmp.server.as_ref().unwrap();
    let secrets: Vec<String> = server.options().extra.into_values().collect();
    let wrong = server.emulator().wrong_credentials();
    assert!(!wrong.is_empty(), "{backend:?} checks no credentials");
    for (key, value) in wrong {
        let mut opts = server.options();
        opts.extra.insert(key.to_owned(), value.to_owned());
        let st = open_storage(&server.url("repo"), &opts).unwrap();
        let err = check_storage(st.as_ref()).unwrap_err();
        assert_eq!(
            problem(&err),
            Some(RemoteProblem::WrongCredentials),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.contains("credentials were rejected"), "{msg}");
        assert!(!msg.contains(value), "{msg}");
        for secret in secrets.iter().filter(|s| s.len() > 16) {
            assert!(!msg.contains(secret.as_str()), "{msg}");
        }
        let err = Repository::init(st.clone(), &Default::default(), None).unwrap_err();
        assert_eq!(
            problem(&err),
            Some(RemoteProblem::WrongCredentials),
            "{err}"
        );
        let err = Repository::open(st, None).unwrap_err();
        assert_eq!(
            problem(&err),
            Some(RemoteProblem::WrongCredentials),
            "{err}"
        );
    }
    let written = tmp.storage().list("").unwrap();
    assert!(written.is_empty(), "something was written: {written:?}");
    // The right credentials work on the same server.
    check_storage(tmp.storage().as_ref()).unwrap();
}

fn missing_bucket_is_reported_as_such(backend: Backend) {
    let tmp = TestEnv::new(backend);
    let server = tmp.server.as_ref().unwrap();
    let url = server.emulator().url_in("no-such-bucket", "repo");
    let st = open_storage(&url, &server.options()).unwrap();
    let err = check_storage(st.as_ref()).unwrap_err();
    assert_eq!(problem(&err), Some(RemoteProblem::BucketNotFound), "{err}");
    assert!(err.to_string().contains("bucket"), "{err}");
    let err = Repository::open(st, None).unwrap_err();
    assert_eq!(problem(&err), Some(RemoteProblem::BucketNotFound), "{err}");
}

fn unreachable_endpoint_is_reported_as_such(backend: Backend) {
    let tmp = TestEnv::new(backend);
    let mut server = tmp.server.unwrap();
    server.stop();
    let st = open_storage(&server.url("repo"), &server.options()).unwrap();
    let err = check_storage(st.as_ref()).unwrap_err();
    assert_eq!(problem(&err), Some(RemoteProblem::Unreachable), "{err}");
}

fn server_stopped_mid_backup_fails_cleanly_then_recovers(backend: Backend) {
    let mut tmp = TestEnv::new(backend);
    let src = tmp.path().join("ws");
    gen_workspace(&src, 30, &[]);
    let opts = RepositoryOptions {
        // The failed backup cannot remove its lock while the server is down; the lock of a
        // live process is then taken over once stale. Not shorter: a holder must refresh its
        // lock within half this limit or fail with LockLost, and under a loaded CI machine
        // (2 cores, the whole suite in parallel) a 1 s window was missed once.
        stale_lock_after: Duration::from_secs(6),
        lock_wait: Duration::from_secs(60),
        ..quick_options()
    };
    let repo = tmp.new_repo(None).with_options(opts);
    let s1 = repo
        .backup("ws", &src, &BackupOptions::default(), &NoProgress)
        .unwrap()
        .snapshot;
    grow_workspace(&src, 50);
    let server = Arc::new(Mutex::new(tmp.server.take().unwrap()));
    let calls = Arc::new(AtomicUsize::new(0));
    let hook = {
        let (server, calls) = (server.clone(), calls.clone());
        ReadHook(Arc::new(move |_path, _attempt| {
            // The third file being read: the biggest one is chunked and partly stored.
            if calls.fetch_add(1, Ordering::SeqCst) == 2 {
                server.lock().unwrap().stop();
            }
        }))
    };
    let bopts = BackupOptions {
        read_hook: Some(hook),
        force_reread: true,
        ..Default::default()
    };
    let err = repo.backup("ws", &src, &bopts, &NoProgress).unwrap_err();
    assert!(calls.load(Ordering::SeqCst) >= 3);
    assert!(
        matches!(problem(&err), Some(RemoteProblem::Unreachable)),
        "{err}"
    );
    server.lock().unwrap().restart();
    // No new snapshot is listed; what is listed verifies.
    let ids: Vec<String> = repo
        .snapshots(None)
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, std::slice::from_ref(&s1.id));
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
    // The next backup succeeds and restores exactly.
    let s2 = repo
        .backup("ws", &src, &BackupOptions::default(), &NoProgress)
        .unwrap()
        .snapshot;
    let out = tmp.path().join("out");
    repo.restore(&s2.id, &out, &RestoreOptions::default(), &NoProgress)
        .unwrap();
    assert_same_tree(&src, &out);
}

/// A loopback TCP proxy that answers the first `fail_first` connections with
/// `503 SlowDown` (closing each) and splices later ones to `target`.
struct FaultProxy {
    port: u16,
    served_faults: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl FaultProxy {
    fn start(target: u16, fail_first: usize) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let served_faults = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (faults, stop2) = (served_faults.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                n += 1;
                if n <= fail_first {
                    let faults = faults.clone();
                    std::thread::spawn(move || {
                        if answer_503(conn).is_ok() {
                            faults.fetch_add(1, Ordering::SeqCst);
                        }
                    });
                } else {
                    std::thread::spawn(move || {
                        let _ = splice(conn, target);
                    });
                }
            }
        });
        FaultProxy {
            port,
            served_faults,
            stop,
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Read one request (headers and Content-Length body), answer 503 and close.
fn answer_503(mut conn: TcpStream) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let header_end = loop {
        let n = conn.read(&mut tmp)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut have = buf.len() - header_end;
    while have < len {
        let n = conn.read(&mut tmp)?;
        if n == 0 {
            break;
        }
        have += n;
    }
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
    write!(
        conn,
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()
}

fn splice(client: TcpStream, target: u16) -> std::io::Result<()> {
    let server = TcpStream::connect(("127.0.0.1", target))?;
    let (mut c2, mut s2) = (client.try_clone()?, server.try_clone()?);
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c2, &mut s2);
        let _ = s2.shutdown(std::net::Shutdown::Write);
    });
    let (mut c, mut s) = (client, server);
    let _ = std::io::copy(&mut s, &mut c);
    let _ = c.shutdown(std::net::Shutdown::Write);
    let _ = up.join();
    Ok(())
}

#[test]
fn throttling_and_5xx_responses_are_retried() {
    let tmp = TestEnv::new(Backend::S3);
    let target = tmp.server.as_ref().unwrap().port;
    let src = tmp.path().join("g");
    copy_dir(&fixtures()[0], &src);

    // The first 3 requests get 503 SlowDown: retried with back-off, the backup succeeds.
    let proxy = FaultProxy::start(target, 3);
    let st = open_storage(
        &format!("s3://{S3_BUCKET}/repo"),
        &s3_options(&format!("http://127.0.0.1:{}", proxy.port)),
    )
    .unwrap();
    let repo = Repository::init(st.clone(), &Default::default(), None)
        .unwrap()
        .with_options(quick_options());
    let s = repo
        .backup("g", &src, &BackupOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(proxy.served_faults.load(Ordering::SeqCst), 3);
    let out = tmp.path().join("out");
    repo.restore(
        &s.snapshot.id,
        &out,
        &RestoreOptions::default(),
        &NoProgress,
    )
    .unwrap();
    assert_same_tree(&src, &out);

    // A service that never recovers: the error says so once retries are exhausted.
    let proxy = FaultProxy::start(target, usize::MAX);
    let st = open_storage(
        &format!("s3://{S3_BUCKET}/repo"),
        &s3_options(&format!("http://127.0.0.1:{}", proxy.port)),
    )
    .unwrap();
    let err = check_storage(st.as_ref()).unwrap_err();
    assert_eq!(problem(&err), Some(RemoteProblem::Throttled), "{err}");
    // 1 try + 4 retries (s3_options), all counted.
    assert_eq!(st.stats().requests, 5, "{:?}", st.stats());
}

#[test]
fn multipart_uploads_and_ranged_reads() {
    let tmp = TestEnv::new(Backend::S3);
    let mut opts = s3_options(&tmp.server.as_ref().unwrap().endpoint());
    opts.multipart_threshold = 6 * 1024 * 1024;
    opts.multipart_part_size = 5 * 1024 * 1024;
    let st = open_storage(&format!("s3://{S3_BUCKET}/mp"), &opts).unwrap();
    let big: Vec<u8> = (0..12 * 1024 * 1024 + 123)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let before = st.stats();
    st.put("data/ab/big", big.clone()).unwrap();
    let d = st.stats().since(&before);
    assert_eq!((d.post, d.put), (2, 3), "create+complete, 3 parts: {d:?}");
    assert_eq!(st.get("data/ab/big").unwrap(), big);
    assert_eq!(
        st.get_range("data/ab/big", 5_000_000, 1000).unwrap(),
        &big[5_000_000..5_001_000]
    );
    assert!(
        st.get_range("data/ab/big", big.len() as u64 - 10, 20)
            .is_err()
    );
    st.put("data/ab/small", b"x".to_vec()).unwrap();
    let keys =
        |p: &str| -> Vec<String> { st.list(p).unwrap().into_iter().map(|o| o.key).collect() };
    assert_eq!(keys("data/ab/b"), ["data/ab/big"]);
    assert_eq!(keys("data/"), ["data/ab/big", "data/ab/small"]);
    assert_eq!(st.list("").unwrap()[0].size, big.len() as u64);
    assert!(st.exists("data/ab/small").unwrap());
    assert!(!st.exists("data/ab/none").unwrap());
    assert!(matches!(
        st.get("data/ab/none"),
        Err(BackupError::ObjectNotFound { .. })
    ));
    st.delete("data/ab/small").unwrap();
    st.delete("data/ab/small").unwrap();
    assert!(st.put("../evil", vec![]).is_err());
    assert_eq!(
        std::fs::read(tmp.repo_dir_named("mp").join("data/ab/big")).unwrap(),
        big
    );
}

#[test]
fn requests_per_backup_are_counted() {
    let tmp = TestEnv::new(Backend::S3);
    let src = tmp.path().join("ws");
    gen_workspace(&src, 30, &[]);
    let repo = tmp.new_repo(None);
    let full = repo
        .backup("ws", &src, &BackupOptions::default(), &NoProgress)
        .unwrap();
    let r = full.requests;
    let packs = super::common::pack_files(&tmp.repo_dir()).len() as u64;
    assert!(packs >= 1, "{packs}");
    // lock + packs + index + manifest + snapshot header puts, no existence checks per chunk.
    assert!(
        r.put >= packs + 3 && r.put <= packs + 5,
        "{r:?} packs={packs}"
    );
    // One existence check of our own lock before publishing, none per chunk.
    assert!(r.head <= 1, "{r:?}");
    assert!(r.requests < packs + 20, "{r:?}");
    let unchanged = repo
        .backup("ws", &src, &BackupOptions::default(), &NoProgress)
        .unwrap()
        .requests;
    // lock, manifest, snapshot header (+ the lock's release).
    assert!(
        unchanged.put <= 4 && unchanged.requests < 17,
        "{unchanged:?}"
    );
    // Restore reads pack windows, not one range per chunk.
    let st = repo.storage().clone();
    let before = st.stats();
    let out = tmp.path().join("out");
    repo.restore(
        &full.snapshot.id,
        &out,
        &RestoreOptions::default(),
        &NoProgress,
    )
    .unwrap();
    assert_same_tree(&src, &out);
    let restore = st.stats().since(&before);
    let files = full.snapshot.totals.files;
    assert!(
        restore.get <= 2 * (packs + files) + 10,
        "{restore:?} packs={packs} files={files} chunks={}",
        full.snapshot.totals.chunks
    );
    // A local directory reports no requests.
    let local = TestEnv::new(Backend::Local);
    let lrepo = local.new_repo(None);
    let l = lrepo
        .backup("ws", &src, &BackupOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(l.requests.requests, 0);
}

/// A local directory whose listings miss `index/` and `data/` objects the first few times,
/// as an eventually consistent object store may.
#[derive(Debug)]
struct LaggyListing {
    inner: Arc<dyn Storage>,
    hidden_lists: AtomicUsize,
}

impl Storage for LaggyListing {
    fn put(&self, key: &str, data: Vec<u8>) -> lightrag_backup::Result<()> {
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
        let lagging = (prefix.starts_with("index/") || prefix.starts_with("data/"))
            && self
                .hidden_lists
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if lagging {
            return Ok(Vec::new());
        }
        self.inner.list(prefix)
    }
    fn delete(&self, key: &str) -> lightrag_backup::Result<()> {
        self.inner.delete(key)
    }
    fn location(&self) -> String {
        self.inner.location()
    }
    fn listing_may_lag(&self) -> bool {
        true
    }
}

#[test]
fn lagging_listings_are_rechecked_before_reporting_damage() {
    let tmp = TestEnv::new(Backend::Local);
    let src = tmp.path().join("g");
    copy_dir(&fixtures()[1], &src);
    let repo = tmp.new_repo(None);
    repo.backup("g", &src, &BackupOptions::default(), &NoProgress)
        .unwrap();
    let laggy = Arc::new(LaggyListing {
        inner: storage(&tmp.repo_dir()),
        hidden_lists: AtomicUsize::new(2),
    });
    let repo = Repository::open(laggy.clone(), None)
        .unwrap()
        .with_options(quick_options());
    let r = repo.verify(&VerifyOptions::default(), &NoProgress).unwrap();
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(laggy.hidden_lists.load(Ordering::SeqCst), 0);
    // A restore that first misses the index looks again instead of failing.
    laggy.hidden_lists.store(1, Ordering::SeqCst);
    let id = repo.snapshots(None).unwrap()[0].id.clone();
    let out = tmp.path().join("out");
    repo.restore(&id, &out, &RestoreOptions::default(), &NoProgress)
        .unwrap();
    assert_same_tree(&src, &out);
    assert_eq!(laggy.hidden_lists.load(Ordering::SeqCst), 0);
    // Real damage is still reported after the re-check.
    std::fs::remove_dir_all(tmp.repo_dir().join("index")).unwrap();
    let r = repo.verify(&VerifyOptions::default(), &NoProgress).unwrap();
    assert!(!r.is_ok());
}
