//! Shared helpers: real LightRAG fixtures copied into temp dirs.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// `/work/shared/fixtures/lightrag-real`, resolved from this crate.
pub fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/lightrag-real")
}

/// Copy fixture `name` (e.g. `adamaslan-dickens`) into `dest` (created). Never touches the source.
pub fn copy_fixture(name: &str, dest: &Path) -> anyhow::Result<()> {
    let src = fixtures_root().join(name);
    anyhow::ensure!(src.is_dir(), "fixture {} missing", src.display());
    copy_dir(&src, dest)
}

/// Recursive copy of regular files and folders.
pub fn copy_dir(src: &Path, dest: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dest)?;
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let to = dest.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &to)?;
        } else if e.file_type()?.is_file() {
            std::fs::copy(e.path(), &to)?;
        }
    }
    Ok(())
}

use std::sync::Arc;

use lightrag_backup::{InitOptions, LocalStorage, Repository};
use lightrag_recovery::{RecoveryManager, RecoveryOptions};

/// A working dir with three graphs copied from the real fixtures (`alpha`, `beta`, `gamma`),
/// a repository, and the temp dirs that hold them.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub work: PathBuf,
    pub repo_path: PathBuf,
    pub repo: Repository,
}

pub const GRAPHS: [&str; 3] = ["alpha", "beta", "gamma"];

impl Env {
    pub fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let work = dir.path().join("work");
        copy_fixture("adamaslan-dickens", &work.join("alpha"))?;
        copy_fixture("bingofhy-rag_storage", &work.join("beta"))?;
        copy_fixture("adamaslan-dickens", &work.join("gamma"))?;
        // Make gamma differ from alpha.
        std::fs::write(
            work.join("gamma/kv_store_full_docs.json"),
            r#"{"doc-1": {"content": "gamma"}}"#,
        )?;
        let repo_path = dir.path().join("repo");
        let repo = init_repo(&repo_path)?;
        Ok(Self {
            dir,
            work,
            repo_path,
            repo,
        })
    }

    pub fn manager(&self, db: lightrag_recovery_db::Db) -> RecoveryManager {
        RecoveryManager::new(
            db,
            RecoveryOptions {
                roots: vec![self.work.clone()],
                live_window: std::time::Duration::ZERO,
                scratch_dir: Some(self.dir.path().to_path_buf()),
                ..RecoveryOptions::default()
            },
        )
    }
}

pub fn init_repo(path: &Path) -> anyhow::Result<Repository> {
    Ok(Repository::init(
        Arc::new(LocalStorage::new(path)),
        &InitOptions::default(),
        None,
    )?)
}

pub fn open_repo(path: &Path) -> anyhow::Result<Repository> {
    Ok(Repository::open(Arc::new(LocalStorage::new(path)), None)?)
}

/// Files by relative path, with their bytes.
pub type Tree = std::collections::BTreeMap<String, Vec<u8>>;

/// Every regular file under `dir` with its bytes, by relative path.
pub fn tree(dir: &Path) -> anyhow::Result<std::collections::BTreeMap<String, Vec<u8>>> {
    let mut out = std::collections::BTreeMap::new();
    fn walk(
        base: &Path,
        dir: &Path,
        out: &mut std::collections::BTreeMap<String, Vec<u8>>,
    ) -> anyhow::Result<()> {
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                walk(base, &e.path(), out)?;
            } else {
                let rel = e.path().strip_prefix(base)?.to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(e.path())?);
            }
        }
        Ok(())
    }
    walk(dir, dir, &mut out)?;
    Ok(out)
}
