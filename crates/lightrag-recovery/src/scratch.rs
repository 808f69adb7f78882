//! Scratch directories of restore drills: on disk, never the system temp dir (often a
//! RAM-backed tmpfs that a graph's restore could fill).
//!
//! Where ([`drill_root`]): the configured `scratch_dir`; else, for a repository in a local
//! directory, `.lightrag-drills/` beside it (same disk as the backups); else
//! `<first working dir>/.lightrag-ops/drills`. Each drill gets `.lightrag-drill-<hex>/` in there,
//! guarded by `.lightrag-drill-<hex>.lock`, held (`flock`) for the drill's whole life. The lock
//! dies with the process, so the next drill removes what a killed run left behind and never
//! touches a drill that is still running.

use std::{
    fs::{self, File},
    path::{Path, PathBuf},
    time::Duration,
};

use lightrag_backup::Repository;

use crate::error::{RecoveryError, Result};

/// Name prefix of drill directories and their lock files.
pub(crate) const DRILL_PREFIX: &str = ".lightrag-drill-";
/// Folder beside a local repository that holds its drills.
pub(crate) const DRILLS_DIR: &str = ".lightrag-drills";
const LOCK_SUFFIX: &str = ".lock";
/// A lock file this young may belong to a drill that has created but not yet locked it.
const GRACE: Duration = Duration::from_secs(60);

/// Directory drills against `repo` run in (see the module docs). Not created here.
pub(crate) fn drill_root(
    configured: Option<&Path>,
    repo: &Repository,
    roots: &[PathBuf],
) -> Result<PathBuf> {
    if let Some(dir) = configured {
        return Ok(dir.to_path_buf());
    }
    // A `LocalStorage` reports its directory as its location; a repository there has a
    // `config` object. Object stores report a URL, which is no directory here.
    let location = PathBuf::from(repo.storage().location());
    if location.join("config").is_file() {
        let repo_dir = fs::canonicalize(&location)
            .map_err(|e| RecoveryError::io("resolve repository directory", &location, e))?;
        if let Some(parent) = repo_dir.parent() {
            return Ok(parent.join(DRILLS_DIR));
        }
    }
    match roots.first() {
        Some(root) => Ok(root.join(".lightrag-ops").join("drills")),
        None => Err(RecoveryError::InvalidRequest(
            "no directory for restore drills: the repository is not a local directory and no working directory is configured; set the recovery scratch directory".into(),
        )),
    }
}

/// One drill's directory; removed (with its lock file) when dropped.
#[derive(Debug)]
pub(crate) struct DrillDir {
    path: PathBuf,
    lock_path: PathBuf,
    _lock: File,
}

impl DrillDir {
    /// Create a fresh drill directory under `root` (created if needed), after removing the
    /// leftovers of drills whose process died.
    pub(crate) fn create(root: &Path) -> Result<DrillDir> {
        fs::create_dir_all(root)
            .map_err(|e| RecoveryError::io("create scratch directory", root, e))?;
        remove_stale(root);
        for _ in 0..16 {
            let name = format!("{DRILL_PREFIX}{}", crate::previous::random_hex());
            let lock_path = root.join(format!("{name}{LOCK_SUFFIX}"));
            let lock = match File::options()
                .write(true)
                .create_new(true)
                .open(&lock_path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(RecoveryError::io("create lock file", &lock_path, e)),
            };
            lock.lock()
                .map_err(|e| RecoveryError::io("lock", &lock_path, e))?;
            let path = root.join(&name);
            if let Err(e) = fs::create_dir(&path) {
                let _ = fs::remove_file(&lock_path);
                return Err(RecoveryError::io("create scratch directory", &path, e));
            }
            return Ok(DrillDir {
                path,
                lock_path,
                _lock: lock,
            });
        }
        Err(RecoveryError::InvalidRequest(format!(
            "could not pick a free scratch directory name under {}",
            root.display()
        )))
    }

    /// The drill's directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DrillDir {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %e, "Could not remove drill scratch directory; the next drill retries");
            return; // keep the lock file: the next drill sees a stale pair and removes both
        }
        let _ = fs::remove_file(&self.lock_path);
    }
}

fn older_than_grace(p: &Path) -> bool {
    fs::symlink_metadata(p)
        .and_then(|m| m.modified())
        .map(|t| t.elapsed().unwrap_or_default() > GRACE)
        .unwrap_or(false)
}

/// Remove drill directories under `root` whose lock is not held (their process died).
/// Returns how many were removed.
pub(crate) fn remove_stale(root: &Path) -> usize {
    let Ok(rd) = fs::read_dir(root) else {
        return 0;
    };
    let mut bases = std::collections::BTreeSet::new();
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(rest) = name.strip_prefix(DRILL_PREFIX) {
            let base = rest.strip_suffix(LOCK_SUFFIX).unwrap_or(rest);
            bases.insert(format!("{DRILL_PREFIX}{base}"));
        }
    }
    let mut removed = 0;
    for base in bases {
        let dir = root.join(&base);
        let lock_path = root.join(format!("{base}{LOCK_SUFFIX}"));
        let lock = match File::options().write(true).open(&lock_path) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(_) => continue,
        };
        let stale = match &lock {
            // Not locked by a running drill, and not one just being created.
            Some(f) => f.try_lock().is_ok() && older_than_grace(&lock_path),
            // Lock files are created before their directory and removed after it.
            None => older_than_grace(&dir),
        };
        if !stale {
            continue;
        }
        match fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %dir.display(), error = %e, "Could not remove a stale drill scratch directory");
                continue;
            }
        }
        let _ = fs::remove_file(&lock_path);
        tracing::info!(path = %dir.display(), "Removed the scratch directory of an interrupted restore drill");
        removed += 1;
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(p: &Path) {
        let old = std::time::SystemTime::now() - Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(p)
            .or_else(|_| File::open(p))
            .unwrap()
            .set_modified(old)
            .unwrap();
    }

    #[test]
    fn stale_drills_are_removed_live_ones_kept() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        // A killed run: directory + unlocked lock file, both old.
        let dead = root.join(format!("{DRILL_PREFIX}dead"));
        fs::create_dir_all(dead.join("g")).unwrap();
        fs::write(dead.join("g/kv_store_full_docs.json"), b"{}").unwrap();
        let dead_lock = root.join(format!("{DRILL_PREFIX}dead{LOCK_SUFFIX}"));
        fs::write(&dead_lock, b"").unwrap();
        age(&dead_lock);
        // A running drill in this process.
        let live = DrillDir::create(root).unwrap();
        age(&live.lock_path);
        // Something else in the directory is never touched.
        fs::write(root.join("other"), b"x").unwrap();
        assert_eq!(
            remove_stale(root),
            0,
            "dead one was already removed by create"
        );
        assert!(!dead.exists() && !dead_lock.exists());
        assert!(live.path().is_dir(), "a running drill is kept");
        let p = live.path().to_path_buf();
        drop(live);
        assert!(!p.exists());
        let left: Vec<_> = fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("other")]);
    }
}
