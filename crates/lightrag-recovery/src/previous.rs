//! The previous state of a graph during a recovery-point restore, kept on disk until the whole
//! point has succeeded, so that a failure can put every graph back — whether or not a safety
//! snapshot was taken.
//!
//! Before a graph is replaced in place, its entries are hard-linked (no data copied; a plain
//! copy where links are impossible) into `.<name>.lrprev-<hex>` beside the graph folder — the
//! same file system, so putting it back is a rename. The in-place restore replaces files by
//! new inodes and never writes into the old ones, so the links keep the previous bytes.
//!
//! - A graph folder: everything in it, the folders of other graphs nested inside
//!   (`exclude_paths`) included. The restore carries those nested folders over untouched, so
//!   putting back moves the *current* nested folders into the kept copy (replacing their kept
//!   links; a nested graph may have been restored in the same point, or changed), then
//!   exchanges the two folders atomically. Should a nested folder be gone, its kept links
//!   bring it back.
//! - The `default` graph (files directly in the working directory, replaced file by file): its
//!   top-level files, kept in `<working dir>/.default.lrprev-<hex>`. Putting back renames each
//!   restored file's previous version over it (or removes it when it did not exist before).
//!
//! A kept copy left by a killed process is never deleted automatically (it may be the only
//! copy of the previous state); discovery reports it (see [`is_kept_state_name`]).

use std::{
    fs,
    path::{Path, PathBuf},
};

use crate::error::{RecoveryError, Result};

/// Marker in the name of a kept previous state.
pub(crate) const KEPT_MARKER: &str = ".lrprev-";
/// Name used for the `default` graph's kept files.
const ROOT_NAME: &str = "default";

/// Whether a folder name is a kept previous state (`.<name>.lrprev-<hex>`) or a staging folder
/// of an in-place restore (`.<name>.lrtmp-<hex>`, `.<name>.lrold-<hex>`).
pub(crate) fn is_kept_state_name(name: &str) -> bool {
    lightrag_backup::is_operation_leftover(name)
}

/// A graph's previous state, kept until [`Kept::discard`] or [`Kept::put_back`].
#[derive(Debug)]
pub(crate) struct Kept {
    /// The graph's directory.
    dir: PathBuf,
    /// Where the previous state is kept.
    kept: PathBuf,
    /// Whether this is the `default` graph's top-level files (file-level put back).
    root_files: bool,
    /// Nested graphs' folders (relative): the current ones win when putting back.
    exclude_paths: Vec<String>,
}

/// A fresh 12-hex-digit name suffix (kept states, drill folders).
pub(crate) fn random_hex() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    format!("{:012x}", h.finish() & 0xffff_ffff_ffff)
}

/// Hard-link (or copy) the non-directory entry `from` to `to`.
fn link_entry(from: &Path, to: &Path, ft: fs::FileType) -> Result<()> {
    match fs::hard_link(from, to) {
        Ok(()) => Ok(()),
        Err(link_err) if ft.is_file() => {
            // No hard links here (another file system, a link limit, protected_hardlinks):
            // a copy keeps the bytes and mode; the time is restored too.
            fs::copy(from, to).map_err(|e| RecoveryError::io("copy", from, e))?;
            if let Ok(t) = fs::metadata(from).and_then(|m| m.modified()) {
                let _ = fs::File::options()
                    .write(true)
                    .open(to)
                    .and_then(|f| f.set_modified(t));
            }
            tracing::debug!(path = %from.display(), error = %link_err, "Copied instead of hard-linking");
            Ok(())
        }
        Err(e) => Err(RecoveryError::io("hard-link", from, e)),
    }
}

fn copy_dir_meta(from: &Path, to: &Path) -> Result<()> {
    let md = fs::metadata(from).map_err(|e| RecoveryError::io("inspect", from, e))?;
    fs::set_permissions(to, md.permissions()).map_err(|e| RecoveryError::io("chmod", to, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // Keep the owner when we may (running as root); otherwise it is ours anyway.
        let _ = std::os::unix::fs::chown(to, Some(md.uid()), Some(md.gid()));
    }
    Ok(())
}

/// Mirror `from` into the new directory `to`: directories recreated, everything else linked.
fn mirror(from: &Path, to: &Path) -> Result<()> {
    let rd = fs::read_dir(from).map_err(|e| RecoveryError::io("read directory", from, e))?;
    for entry in rd {
        let entry = entry.map_err(|e| RecoveryError::io("read directory", from, e))?;
        let name = entry.file_name();
        let src = entry.path();
        let dst = to.join(&name);
        let ft = entry
            .file_type()
            .map_err(|e| RecoveryError::io("inspect", &src, e))?;
        if ft.is_dir() {
            fs::create_dir(&dst).map_err(|e| RecoveryError::io("create directory", &dst, e))?;
            mirror(&src, &dst)?;
            copy_dir_meta(&src, &dst)?;
        } else {
            link_entry(&src, &dst, ft)?;
        }
    }
    Ok(())
}

fn fsync_dir(p: &Path) {
    if let Ok(f) = fs::File::open(p) {
        let _ = f.sync_all();
    }
}

fn remove_tree(p: &Path) -> Result<()> {
    match fs::remove_dir_all(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(RecoveryError::io("remove", p, e)),
    }
}

impl Kept {
    /// Keep the previous state of the graph folder `dir` (not the `default` graph);
    /// `exclude_paths` are the folders of other graphs nested inside.
    pub(crate) fn folder(dir: &Path, exclude_paths: &[String]) -> Result<Kept> {
        let name = dir.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
            RecoveryError::PathNotAllowed {
                path: dir.to_path_buf(),
                reason: "a graph folder needs a UTF-8 name",
            }
        })?;
        let parent = dir.parent().unwrap_or(Path::new("."));
        let kept = parent.join(format!(".{name}{KEPT_MARKER}{}", random_hex()));
        fs::create_dir(&kept).map_err(|e| RecoveryError::io("create directory", &kept, e))?;
        let k = Kept {
            dir: dir.to_path_buf(),
            kept,
            root_files: false,
            exclude_paths: exclude_paths.to_vec(),
        };
        if let Err(e) = mirror(dir, &k.kept).and_then(|()| copy_dir_meta(dir, &k.kept)) {
            let _ = remove_tree(&k.kept);
            return Err(e);
        }
        fsync_dir(&k.kept);
        fsync_dir(parent);
        Ok(k)
    }

    /// Keep the top-level files (every non-directory entry) of the working directory `dir`,
    /// the `default` graph.
    pub(crate) fn root_files(dir: &Path) -> Result<Kept> {
        let kept = dir.join(format!(".{ROOT_NAME}{KEPT_MARKER}{}", random_hex()));
        fs::create_dir(&kept).map_err(|e| RecoveryError::io("create directory", &kept, e))?;
        let k = Kept {
            dir: dir.to_path_buf(),
            kept,
            root_files: true,
            exclude_paths: Vec::new(),
        };
        let res = (|| {
            let rd = fs::read_dir(dir).map_err(|e| RecoveryError::io("read directory", dir, e))?;
            for entry in rd {
                let entry = entry.map_err(|e| RecoveryError::io("read directory", dir, e))?;
                let ft = entry
                    .file_type()
                    .map_err(|e| RecoveryError::io("inspect", entry.path(), e))?;
                if !ft.is_dir() {
                    link_entry(&entry.path(), &k.kept.join(entry.file_name()), ft)?;
                }
            }
            Ok(())
        })();
        if let Err(e) = res {
            let _ = remove_tree(&k.kept);
            return Err(e);
        }
        fsync_dir(&k.kept);
        fsync_dir(dir);
        Ok(k)
    }

    /// Where the previous state is kept.
    pub(crate) fn path(&self) -> &Path {
        &self.kept
    }

    /// The restore succeeded for the whole point: drop the kept copy.
    pub(crate) fn discard(self) {
        if let Err(e) = remove_tree(&self.kept) {
            tracing::warn!(path = %self.kept.display(), error = %lightrag_config::ErrorChain(&e), "Could not remove the kept previous state of a restored graph; remove it by hand");
        }
    }

    /// Put the previous state back. `restored_top_level` lists the files the restore wrote
    /// (used for the `default` graph only). On error the kept copy stays where it is.
    pub(crate) fn put_back(self, restored_top_level: &[String]) -> Result<()> {
        if self.root_files {
            for f in restored_top_level {
                let prev = self.kept.join(f);
                let cur = self.dir.join(f);
                match fs::symlink_metadata(&prev) {
                    Ok(_) => fs::rename(&prev, &cur)
                        .map_err(|e| RecoveryError::io("put back", &cur, e))?,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        match fs::remove_file(&cur) {
                            Ok(()) => {}
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                            Err(e) => return Err(RecoveryError::io("remove", &cur, e)),
                        }
                    }
                    Err(e) => return Err(RecoveryError::io("inspect", &prev, e)),
                }
            }
            fsync_dir(&self.dir);
            return remove_tree(&self.kept);
        }
        if fs::symlink_metadata(&self.dir).is_err() {
            // The folder is gone (e.g. a swap interrupted half-way): the kept copy is it.
            fs::rename(&self.kept, &self.dir)
                .map_err(|e| RecoveryError::io("put back", &self.dir, e))?;
            fsync_dir(self.dir.parent().unwrap_or(Path::new(".")));
            return Ok(());
        }
        // Nested graphs live on in the current folder: move them into the kept copy first.
        let mut moved = Vec::new();
        let mut res = Ok(());
        for rel in &self.exclude_paths {
            let from = self.dir.join(rel);
            if fs::symlink_metadata(&from).is_err() {
                continue;
            }
            let to = self.kept.join(rel);
            // The kept links of the nested folder give way to the current one.
            if let Err(e) = remove_tree(&to) {
                res = Err(e);
                break;
            }
            if let Some(p) = to.parent()
                && let Err(e) = fs::create_dir_all(p)
            {
                res = Err(RecoveryError::io("create directory", p, e));
                break;
            }
            if let Err(e) = fs::rename(&from, &to) {
                res = Err(RecoveryError::io("move nested graph", &from, e));
                break;
            }
            moved.push((from, to));
        }
        if res.is_ok() {
            res = exchange(&self.kept, &self.dir);
        }
        if let Err(e) = res {
            for (from, to) in moved.into_iter().rev() {
                let _ = fs::rename(&to, &from);
            }
            return Err(e);
        }
        fsync_dir(self.dir.parent().unwrap_or(Path::new(".")));
        // `kept` now holds what the failed restore wrote.
        remove_tree(&self.kept)
    }
}

/// Swap two directories atomically (`renameat2(RENAME_EXCHANGE)`), or by two renames where the
/// file system cannot.
fn exchange(a: &Path, b: &Path) -> Result<()> {
    match rustix::fs::renameat_with(
        rustix::fs::CWD,
        a,
        rustix::fs::CWD,
        b,
        rustix::fs::RenameFlags::EXCHANGE,
    ) {
        Ok(()) => Ok(()),
        Err(err) if err == rustix::io::Errno::INVAL || err == rustix::io::Errno::NOSYS => {
            let parent = b.parent().unwrap_or(Path::new("."));
            let aside = parent.join(format!(
                ".{}{KEPT_MARKER}swap-{}",
                b.file_name().and_then(|n| n.to_str()).unwrap_or("graph"),
                random_hex()
            ));
            fs::rename(b, &aside).map_err(|e| RecoveryError::io("move aside", b, e))?;
            if let Err(e) = fs::rename(a, b) {
                let _ = fs::rename(&aside, b);
                return Err(RecoveryError::io("put back", b, e));
            }
            fs::rename(&aside, a).map_err(|e| RecoveryError::io("rename", &aside, e))
        }
        Err(err) => Err(RecoveryError::io("swap", b, err.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(p: &Path, s: &str) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, s).unwrap();
    }

    fn read(p: &Path) -> String {
        fs::read_to_string(p).unwrap()
    }

    #[test]
    fn folder_put_back_keeps_nested_graphs_current() {
        let t = tempfile::tempdir().unwrap();
        let g = t.path().join("g1");
        write(&g.join("kv_store_a.json"), "old-a");
        write(&g.join("sub/x.txt"), "old-x");
        write(&g.join("w1/kv_store_a.json"), "child-v1");
        let k = Kept::folder(&g, &["w1".to_owned()]).unwrap();
        assert!(
            k.path().join("w1/kv_store_a.json").exists(),
            "nested graph linked too"
        );
        // A "restore" replaces the folder by a new one, carrying the nested graph over.
        let new = t.path().join("new");
        write(&new.join("kv_store_a.json"), "new-a");
        write(&new.join("kv_store_b.json"), "new-b");
        fs::rename(g.join("w1"), new.join("w1")).unwrap();
        fs::remove_dir_all(&g).unwrap();
        fs::rename(&new, &g).unwrap();
        write(&g.join("w1/kv_store_a.json"), "child-v2"); // the child changes meanwhile
        k.put_back(&[]).unwrap();
        assert_eq!(read(&g.join("kv_store_a.json")), "old-a");
        assert_eq!(read(&g.join("sub/x.txt")), "old-x");
        assert!(!g.join("kv_store_b.json").exists());
        assert_eq!(read(&g.join("w1/kv_store_a.json")), "child-v2");
        let names: Vec<_> = fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("g1")],
            "nothing left over"
        );
    }

    #[test]
    fn folder_put_back_restores_a_nested_graph_that_vanished() {
        let t = tempfile::tempdir().unwrap();
        let g = t.path().join("g1");
        write(&g.join("kv_store_a.json"), "old-a");
        write(&g.join("w1/kv_store_a.json"), "child");
        let k = Kept::folder(&g, &["w1".to_owned()]).unwrap();
        fs::remove_dir_all(&g).unwrap();
        write(&g.join("kv_store_a.json"), "new-a");
        k.put_back(&[]).unwrap();
        assert_eq!(read(&g.join("kv_store_a.json")), "old-a");
        assert_eq!(read(&g.join("w1/kv_store_a.json")), "child");
    }

    #[test]
    fn root_files_put_back_file_by_file() {
        let t = tempfile::tempdir().unwrap();
        let w = t.path();
        write(&w.join("kv_store_a.json"), "old-a");
        write(&w.join("kv_store_b.json"), "old-b");
        write(&w.join("ws/kv_store_a.json"), "ws");
        let k = Kept::root_files(w).unwrap();
        write(&w.join("kv_store_a.json.tmp"), "x");
        fs::rename(w.join("kv_store_a.json.tmp"), w.join("kv_store_a.json")).unwrap();
        write(&w.join("kv_store_c.json"), "new-c");
        k.put_back(&["kv_store_a.json".into(), "kv_store_c.json".into()])
            .unwrap();
        assert_eq!(read(&w.join("kv_store_a.json")), "old-a");
        assert_eq!(read(&w.join("kv_store_b.json")), "old-b");
        assert!(!w.join("kv_store_c.json").exists());
        assert_eq!(read(&w.join("ws/kv_store_a.json")), "ws");
        assert_eq!(fs::read_dir(w).unwrap().count(), 3);
    }

    #[test]
    fn kept_names_are_recognised() {
        assert!(is_kept_state_name(".g1.lrprev-0123"));
        assert!(is_kept_state_name(".g1.lrtmp-abc"));
        assert!(!is_kept_state_name("g1.lrprev-0123"));
        assert!(!is_kept_state_name(".hidden"));
    }
}
