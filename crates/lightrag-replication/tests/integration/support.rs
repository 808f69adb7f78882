//! Fixtures: graphs from the real LightRAG fixtures, repositories, directory comparison,
//! per-test databases (SQLite temp file, PostgreSQL database per test).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use lightrag_backup::{
    BackupOptions, InitOptions, LocalStorage, NoProgress, Repository, RestoreOptions, Storage,
};
use lightrag_recovery_db::{BackendKind, Db, DbConfig, run_migrations};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/lightrag-real")
}

/// A graph directory: a copy of a real LightRAG workspace plus `blob.bin` (random bytes,
/// incompressible, so the repository has several packs with 1 MiB packs).
pub fn make_graph(dir: &Path, blob_bytes: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for e in std::fs::read_dir(fixtures().join("bingofhy-rag_storage")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    write_random(&dir.join("blob.bin"), blob_bytes, 1);
}

pub fn write_random(path: &Path, n: usize, seed: u64) {
    let mut out = Vec::with_capacity(n + 32);
    let mut i = 0u64;
    while out.len() < n {
        let mut h = blake3::Hasher::new();
        h.update(&seed.to_le_bytes());
        h.update(&i.to_le_bytes());
        out.extend_from_slice(h.finalize().as_bytes());
        i += 1;
    }
    out.truncate(n);
    std::fs::write(path, out).unwrap();
}

/// Change the graph as LightRAG would: a new document in `kv_store_full_docs.json` and new
/// random content appended to `blob.bin`.
pub fn grow_graph(dir: &Path, round: u64) {
    let p = dir.join("kv_store_full_docs.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    v.as_object_mut().unwrap().insert(
        format!("doc-added-{round}"),
        serde_json::json!({"content": format!("added document {round}")}),
    );
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    let extra = dir.join("extra.bin");
    write_random(&extra, 300_000, 100 + round);
    let mut blob = std::fs::read(dir.join("blob.bin")).unwrap();
    blob.extend(std::fs::read(&extra).unwrap());
    std::fs::remove_file(&extra).unwrap();
    std::fs::write(dir.join("blob.bin"), blob).unwrap();
}

pub fn init_repo(path: &Path, key: Option<&[u8]>) -> Repository {
    let opts = InitOptions {
        pack_size: 1024 * 1024,
        ..InitOptions::default()
    };
    Repository::init(Arc::new(LocalStorage::new(path)), &opts, key).unwrap()
}

pub fn backup(repo: &Repository, graph: &str, dir: &Path) -> String {
    repo.backup(graph, dir, &BackupOptions::default(), &NoProgress)
        .unwrap()
        .snapshot
        .id
}

/// Restore `snapshot` from `repo` into a new directory and check it equals `expected`.
pub fn assert_restores_identical(
    repo: &Repository,
    snapshot: &str,
    expected: &Path,
    scratch: &Path,
) {
    let out = scratch.join(format!(
        "restored-{}",
        lightrag_replication::content_hash(snapshot.as_bytes())
    ));
    repo.restore(snapshot, &out, &RestoreOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(
        dir_contents(&out),
        dir_contents(expected),
        "restored graph differs"
    );
}

pub fn dir_contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            out.insert(
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            );
        }
    }
    out
}

/// Keys (with sizes) of repository objects under the replicated prefixes.
pub fn objects(storage: &dyn Storage) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for p in ["config", "data/", "index/", "snapshots/"] {
        for o in storage.list(p).unwrap() {
            out.insert(o.key, o.size);
        }
    }
    out
}

// ---- databases ----

pub fn pg_admin_url() -> String {
    std::env::var("LIGHTRAG_TEST_PG_URL")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "postgres://root:root@127.0.0.1:5432/postgres".to_owned())
}

fn pg_url_with_db(url: &str, db: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("postgres:// URL");
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    let query = tail
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{scheme}://{authority}/{db}{query}")
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct TestDb {
    pub config: DbConfig,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDb {
    pub fn new(backend: BackendKind) -> Self {
        let t = match backend {
            BackendKind::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite:///{}", dir.path().join("catalog.db").display());
                TestDb {
                    config: DbConfig::new(url),
                    _dir: Some(dir),
                    pg_name: None,
                }
            }
            BackendKind::Postgres => {
                let nanos = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0);
                let name = format!(
                    "lrrepl_test_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed),
                    nanos
                );
                PgConnection::establish(&pg_admin_url())
                    .expect("PostgreSQL tests need a reachable server (LIGHTRAG_TEST_PG_URL)")
                    .batch_execute(&format!("CREATE DATABASE \"{name}\""))
                    .unwrap();
                let url = pg_url_with_db(&pg_admin_url(), &name);
                TestDb {
                    config: DbConfig::new(url),
                    _dir: None,
                    pg_name: Some(name),
                }
            }
        };
        let db = t.connect();
        run_migrations(&mut db.conn().unwrap()).unwrap();
        t
    }

    /// A new pool on the same database (a "restart").
    pub fn connect(&self) -> Db {
        let mut c = self.config.clone();
        c.connect_timeout = Duration::from_secs(10);
        Db::connect(&c).unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_name
            && let Ok(mut c) = PgConnection::establish(&pg_admin_url())
        {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
        }
    }
}

/// Generates `sqlite::<name>` and `postgres::<name>` tests calling `<name>(BackendKind)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(lightrag_recovery_db::BackendKind::Sqlite); } )+
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(lightrag_recovery_db::BackendKind::Postgres); } )+
        }
    };
}
