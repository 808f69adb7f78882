//! Shared helpers.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use lightrag_backup::{
    InitOptions, LocalStorage, ObjectStoreOptions, Repository, RepositoryOptions, Storage,
    open_storage,
};

pub(crate) fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/lightrag-real")
}

/// Every fixture directory (sorted). Panics when the fixtures are absent: they are part of
/// the shared test inputs.
pub(crate) fn fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures_root())
        .expect("shared fixtures present")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no fixtures found");
    v
}

/// Copy a directory tree, keeping mtimes and permissions.
pub(crate) fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
            let m = e.metadata().unwrap();
            let f = std::fs::File::options().write(true).open(&to).unwrap();
            f.set_modified(m.modified().unwrap()).unwrap();
        }
    }
}

/// A deterministic synthetic LightRAG workspace (small).
pub(crate) fn gen_workspace(dir: &Path, docs: u32, extra: &[&str]) {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench/gen_workspace.py");
    let status = Command::new("python3")
        .arg(script)
        .arg("--out")
        .arg(dir)
        .args(["--docs", &docs.to_string(), "--dim", "64", "-q"])
        .args(extra)
        .status()
        .expect("python3 runs");
    assert!(status.success(), "gen_workspace failed");
}

/// Grow a synthetic workspace by `pct` percent.
pub(crate) fn grow_workspace(dir: &Path, pct: u32) {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench/gen_workspace.py");
    let status = Command::new("python3")
        .arg(script)
        .arg("--out")
        .arg(dir)
        .args(["--grow", &pct.to_string(), "-q"])
        .status()
        .expect("python3 runs");
    assert!(status.success(), "gen_workspace --grow failed");
}

pub(crate) fn storage(path: &Path) -> Arc<dyn Storage> {
    Arc::new(LocalStorage::new(path))
}

pub(crate) fn quick_options() -> RepositoryOptions {
    RepositoryOptions {
        threads: 2,
        ..RepositoryOptions::default()
    }
}

/// A fresh repository with small packs so tests produce several of them.
pub(crate) fn new_repo(path: &Path, key: Option<&[u8]>) -> Repository {
    let init = InitOptions {
        pack_size: 1024 * 1024,
        ..InitOptions::default()
    };
    Repository::init(storage(path), &init, key)
        .unwrap()
        .with_options(quick_options())
}

/// Relative path → (content, mode, mtime ns) of every file below `dir`.
pub(crate) fn tree(dir: &Path) -> BTreeMap<String, (Vec<u8>, u32, i64, i64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
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
                (
                    std::fs::read(e.path()).unwrap(),
                    m.permissions().mode() & 0o7777,
                    m.mtime(),
                    m.mtime_nsec(),
                ),
            );
        }
    }
    out
}

/// Assert two directories hold byte-identical files with the same modes and mtimes.
pub(crate) fn assert_same_tree(a: &Path, b: &Path) {
    let (ta, tb) = (tree(a), tree(b));
    assert_eq!(
        ta.keys().collect::<Vec<_>>(),
        tb.keys().collect::<Vec<_>>(),
        "file lists differ"
    );
    for (k, va) in &ta {
        let vb = &tb[k];
        assert!(va.0 == vb.0, "content of {k} differs");
        assert_eq!(
            (va.1, va.2, va.3),
            (vb.1, vb.2, vb.3),
            "mode/mtime of {k} differ"
        );
    }
}

/// Paths of every pack file in a local repository.
pub(crate) fn pack_files(repo: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(repo.join("data")) else {
        return out;
    };
    for sub in rd {
        for f in std::fs::read_dir(sub.unwrap().path()).unwrap() {
            out.push(f.unwrap().path());
        }
    }
    out.sort();
    out
}

// ---- Backends: the same suite runs on a local directory and on a real S3 server ----------

/// Where a test repository lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// A local directory.
    Local,
    /// A bucket of an `s3s-fs` server started on loopback for the test.
    S3,
}

pub(crate) const S3_BUCKET: &str = "lightrag-test";
pub(crate) const S3_ACCESS_KEY: &str = "lightrag-test-access";
pub(crate) const S3_SECRET_KEY: &str = "lightrag-test-secret-key";

/// Locate the S3 test server binary. A missing binary fails the test: it is provisioned by
/// `scripts/test`.
pub(crate) fn s3s_fs_binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join("s3s-fs"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "s3s-fs (the S3-compatible test server) is not on PATH: run scripts/test, which \
                 installs it (`cargo install s3s-fs@0.14.1 --locked --features binary`)"
            )
        })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An `s3s-fs` process on a loopback port, serving `root` (objects are files at
/// `root/<bucket>/<key>`); killed when dropped.
#[derive(Debug)]
pub(crate) struct S3Server {
    child: Option<std::process::Child>,
    pub(crate) port: u16,
    pub(crate) root: PathBuf,
}

impl S3Server {
    pub(crate) fn start(root: &Path) -> S3Server {
        std::fs::create_dir_all(root.join(S3_BUCKET)).unwrap();
        for _ in 0..5 {
            let mut s = S3Server {
                child: None,
                port: free_port(),
                root: root.to_path_buf(),
            };
            if s.try_start() {
                return s;
            }
        }
        panic!("s3s-fs did not start (5 attempts)");
    }

    /// Start again on the same port and data (after [`S3Server::stop`]).
    pub(crate) fn restart(&mut self) {
        for _ in 0..50 {
            if self.try_start() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("s3s-fs did not restart on port {}", self.port);
    }

    fn try_start(&mut self) -> bool {
        let child = Command::new(s3s_fs_binary())
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
            .arg(&self.root)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn s3s-fs");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(_)) = c.try_wait()
            {
                self.child = None;
                return false; // exited: port taken?
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        self.stop();
        false
    }

    /// Kill the server (as a crash or an outage would).
    pub(crate) fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Options for the test server at `endpoint` (quick retries so outages fail fast).
pub(crate) fn s3_options(endpoint: &str) -> ObjectStoreOptions {
    ObjectStoreOptions {
        endpoint: Some(endpoint.to_owned()),
        region: Some("us-east-1".into()),
        path_style: true,
        allow_http: true,
        max_retries: 4,
        retry_timeout: std::time::Duration::from_secs(5),
        initial_backoff: std::time::Duration::from_millis(20),
        max_backoff: std::time::Duration::from_millis(200),
        connect_timeout: std::time::Duration::from_secs(2),
        extra: [
            ("aws_access_key_id".to_owned(), S3_ACCESS_KEY.to_owned()),
            ("aws_secret_access_key".to_owned(), S3_SECRET_KEY.to_owned()),
        ]
        .into(),
        ..ObjectStoreOptions::default()
    }
}

/// One test's scratch space and repository backend. `path()` is a temporary directory for
/// sources and restores; repositories are named (default `repo`) and, whatever the backend,
/// their objects are files under [`TestEnv::repo_dir`] (s3s-fs stores `bucket/key` as files),
/// so damage can be injected the same way on both.
#[derive(Debug)]
pub(crate) struct TestEnv {
    pub(crate) server: Option<S3Server>,
    tmp: tempfile::TempDir,
}

impl TestEnv {
    pub(crate) fn new(backend: Backend) -> TestEnv {
        let tmp = tempfile::tempdir().unwrap();
        let server = match backend {
            Backend::Local => None,
            Backend::S3 => Some(S3Server::start(&tmp.path().join("s3-data"))),
        };
        TestEnv { server, tmp }
    }

    pub(crate) fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Where the objects of repository `name` are on disk.
    pub(crate) fn repo_dir_named(&self, name: &str) -> PathBuf {
        match &self.server {
            None => self.tmp.path().join(name),
            Some(s) => s.root.join(S3_BUCKET).join(name),
        }
    }

    pub(crate) fn repo_dir(&self) -> PathBuf {
        self.repo_dir_named("repo")
    }

    /// A string from which [`storage_from_spec`] reopens repository `name` (child processes).
    pub(crate) fn spec(&self, name: &str) -> String {
        match &self.server {
            None => format!("local {}", self.repo_dir_named(name).display()),
            Some(s) => format!("s3 {} {name}", s.endpoint()),
        }
    }

    pub(crate) fn storage_named(&self, name: &str) -> Arc<dyn Storage> {
        storage_from_spec(&self.spec(name))
    }

    pub(crate) fn storage(&self) -> Arc<dyn Storage> {
        self.storage_named("repo")
    }

    pub(crate) fn new_repo_named(&self, name: &str, key: Option<&[u8]>) -> Repository {
        Repository::init(self.storage_named(name), &small_packs(), key)
            .unwrap()
            .with_options(quick_options())
    }

    pub(crate) fn new_repo(&self, key: Option<&[u8]>) -> Repository {
        self.new_repo_named("repo", key)
    }
}

pub(crate) fn storage_from_spec(spec: &str) -> Arc<dyn Storage> {
    let parts: Vec<&str> = spec.splitn(3, ' ').collect();
    match parts.as_slice() {
        ["local", path] => storage(Path::new(path)),
        ["s3", endpoint, name] => {
            open_storage(&format!("s3://{S3_BUCKET}/{name}"), &s3_options(endpoint)).unwrap()
        }
        _ => panic!("bad storage spec {spec}"),
    }
}

fn small_packs() -> InitOptions {
    InitOptions {
        pack_size: 1024 * 1024,
        ..InitOptions::default()
    }
}

/// Generate `backend::local` and `backend::s3` test modules calling `fn name(Backend)`.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod local {
            $(#[test]
            fn $name() {
                super::$name($crate::integration::common::Backend::Local)
            })*
        }
        mod s3 {
            $(#[test]
            fn $name() {
                super::$name($crate::integration::common::Backend::S3)
            })*
        }
    };
}
pub(crate) use backend_tests;
