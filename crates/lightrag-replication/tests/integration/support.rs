//! Fixtures: graphs from the real LightRAG fixtures, repositories, directory comparison,
//! per-test databases (SQLite temp file, PostgreSQL database per test).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use lightrag_backup::{
    BackupOptions, InitOptions, LocalStorage, NoProgress, Repository, RestoreOptions, Storage,
};

/// A graph directory: a copy of a real LightRAG workspace plus `blob.bin` (random bytes,
/// incompressible, so the repository has several packs with 1 MiB packs).
pub fn make_graph(dir: &Path, blob_bytes: usize) {
    lightrag_testing::copy_fixture("bingofhy-rag_storage", dir);
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

// ---- databases: the shared harness of `lightrag-testing` ----

pub use lightrag_testing::TestDb;
