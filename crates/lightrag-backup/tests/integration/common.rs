//! Shared helpers.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use lightrag_backup::{InitOptions, LocalStorage, Repository, RepositoryOptions, Storage};

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
