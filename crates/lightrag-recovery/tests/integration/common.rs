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
