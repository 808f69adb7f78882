//! Validation proves restorability and names what is broken.

use std::path::{Path, PathBuf};

use lightrag_recovery::{CreatePointRequest, ValidationReport};
use lightrag_recovery_db::get_recovery_point;

use super::common::Env;
use super::support::TestDb;

crate::both_backends!(
    healthy_point_validates_and_is_recorded,
    deleted_chunk_is_named,
    flipped_byte_is_named,
    truncated_manifest_is_named,
    drills_run_on_disk_beside_the_repository_and_clean_up_killed_runs,
);

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// A point over `beta` only, backed up into an otherwise empty repository, so every pack
/// under `data/` holds beta's chunks.
fn beta_point(t: &TestDb, env: &Env) -> String {
    let m = env.manager(t.db().clone());
    let req = CreatePointRequest {
        graph_ids: vec!["beta".into()],
        description: "v".into(),
        fresh_backup: true,
        ..Default::default()
    };
    m.create_point(&env.repo, &req).unwrap().point.id
}

fn validate(t: &TestDb, env: &Env, id: &str) -> ValidationReport {
    env.manager(t.db().clone())
        .validate_point(&env.repo, id)
        .unwrap()
}

fn healthy_point_validates_and_is_recorded(t: &mut TestDb) {
    let env = Env::new().unwrap();
    let m = env.manager(t.db().clone());
    let req = CreatePointRequest {
        graph_ids: vec!["alpha".into(), "beta".into(), "gamma".into()],
        fresh_backup: true,
        ..Default::default()
    };
    let id = m.create_point(&env.repo, &req).unwrap().point.id;
    let r = m.validate_point(&env.repo, &id).unwrap();
    assert!(r.ok, "{:?}", r.error_text());
    assert_eq!(r.graphs.len(), 3);
    let beta = &r.graphs[1];
    assert_eq!(beta.graph_id, "beta");
    assert_eq!(beta.files_parsed, 12);
    assert_eq!(beta.bytes_restored, 677_608);
    assert!(beta.drill_ms.is_some());
    assert_eq!(r.graphs[0].files_parsed, 8);
    let stored = get_recovery_point(&mut t.db().conn().unwrap(), &id)
        .unwrap()
        .point;
    assert!(stored.validated);
    assert_eq!(stored.validated_at, Some(r.validated_at));
    assert_eq!(stored.validation_error, None);
    // The scratch directory is cleaned up.
    assert!(!std::fs::read_dir(env.dir.path()).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".lightrag-drill-")
    }));
    // validate_newest picks it.
    assert_eq!(m.validate_newest(&env.repo).unwrap().unwrap().point_id, id);
}

fn assert_failed_on_beta(
    t: &TestDb,
    id: &str,
    r: &ValidationReport,
    want_file: bool,
    needle: &str,
) {
    assert!(!r.ok);
    let problems: Vec<_> = r.problems().collect();
    assert!(!problems.is_empty());
    for p in &problems {
        assert_eq!(p.graph_id, "beta");
        assert_eq!(want_file, p.file.is_some(), "{p}");
    }
    let text = r.error_text().unwrap();
    assert!(text.contains("graph `beta`"), "{text}");
    assert!(text.to_lowercase().contains(needle), "{text}");
    let stored = get_recovery_point(&mut t.db().conn().unwrap(), id)
        .unwrap()
        .point;
    assert!(!stored.validated);
    assert_eq!(stored.validation_error.as_deref(), Some(text.as_str()));
}

fn deleted_chunk_is_named(t: &mut TestDb) {
    let env = Env::new().unwrap();
    let id = beta_point(t, &env);
    let packs = files_under(&env.repo_path.join("data"));
    assert!(!packs.is_empty());
    std::fs::remove_file(&packs[0]).unwrap();
    let r = validate(t, &env, &id);
    assert_failed_on_beta(t, &id, &r, true, "");
    // A named LightRAG file of beta is among the damaged ones.
    assert!(r.problems().any(|p| {
        p.file
            .as_deref()
            .is_some_and(|f| f.ends_with(".json") || f.ends_with(".graphml"))
    }));
}

fn flipped_byte_is_named(t: &mut TestDb) {
    let env = Env::new().unwrap();
    let id = beta_point(t, &env);
    let packs = files_under(&env.repo_path.join("data"));
    let mut bytes = std::fs::read(&packs[0]).unwrap();
    let mid = bytes.len() / 3;
    bytes[mid] ^= 0x40;
    std::fs::write(&packs[0], bytes).unwrap();
    let r = validate(t, &env, &id);
    assert_failed_on_beta(t, &id, &r, true, "");
}

fn truncated_manifest_is_named(t: &mut TestDb) {
    let env = Env::new().unwrap();
    let id = beta_point(t, &env);
    let manifests = files_under(&env.repo_path.join("snapshots/beta"));
    assert_eq!(manifests.len(), 1);
    let bytes = std::fs::read(&manifests[0]).unwrap();
    std::fs::write(&manifests[0], &bytes[..bytes.len() / 2]).unwrap();
    let r = validate(t, &env, &id);
    assert_failed_on_beta(t, &id, &r, false, "manifest");
}

/// Defect 12: drills restored into the system temp dir (often tmpfs). Without a configured
/// scratch dir they now run in `.lightrag-drills` beside a local repository, and the leftovers
/// of a killed drill (its lock no longer held) are removed by the next one.
fn drills_run_on_disk_beside_the_repository_and_clean_up_killed_runs(t: &mut TestDb) {
    let env = Env::new().unwrap();
    let id = beta_point(t, &env);
    let mut opts = env.manager(t.db().clone()).options().clone();
    opts.scratch_dir = None;
    let m = lightrag_recovery::RecoveryManager::new(t.db().clone(), opts);
    let expected = std::fs::canonicalize(env.dir.path())
        .unwrap()
        .join(".lightrag-drills");
    assert_eq!(m.drill_scratch_root(&env.repo).unwrap(), expected);
    // A drill killed with -9: its folder (with restored graph files) and its unlocked lock file.
    let killed = expected.join(".lightrag-drill-0123456789abcdef");
    std::fs::create_dir_all(killed.join("beta")).unwrap();
    std::fs::write(killed.join("beta/kv_store_full_docs.json"), b"{}").unwrap();
    let lock = expected.join(".lightrag-drill-0123456789abcdef.lock");
    std::fs::write(&lock, b"").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&lock)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .unwrap();

    let r = m.validate_point(&env.repo, &id).unwrap();
    assert!(r.ok, "{:?}", r.error_text());
    assert_eq!(r.scratch_dir, expected);
    assert_ne!(r.scratch_dir, std::env::temp_dir());
    assert!(
        r.scratch_dir
            .starts_with(std::fs::canonicalize(env.dir.path()).unwrap())
    );
    assert!(
        !killed.exists() && !lock.exists(),
        "leftovers of the killed drill removed"
    );
    assert_eq!(
        std::fs::read_dir(&expected).unwrap().count(),
        0,
        "this drill cleaned up after itself"
    );
    // A repository that is not a local directory: the first working dir holds the drills.
    let mut opts = m.options().clone();
    opts.roots = vec![env.work.clone()];
    let m = lightrag_recovery::RecoveryManager::new(t.db().clone(), opts);
    let remote_like = lightrag_backup::Repository::init(
        std::sync::Arc::new(NotLocal(lightrag_backup::LocalStorage::new(
            env.dir.path().join("other-repo"),
        ))),
        &lightrag_backup::InitOptions::default(),
        None,
    )
    .unwrap();
    assert_eq!(
        m.drill_scratch_root(&remote_like).unwrap(),
        env.work.join(".lightrag-ops/drills")
    );
}

/// A storage whose location is not a directory (like an object store's URL).
#[derive(Debug)]
struct NotLocal(lightrag_backup::LocalStorage);

impl lightrag_backup::Storage for NotLocal {
    fn put(&self, key: &str, data: Vec<u8>) -> lightrag_backup::Result<()> {
        self.0.put(key, data)
    }
    fn get(&self, key: &str) -> lightrag_backup::Result<Vec<u8>> {
        self.0.get(key)
    }
    fn get_range(&self, key: &str, offset: u64, len: u64) -> lightrag_backup::Result<Vec<u8>> {
        self.0.get_range(key, offset, len)
    }
    fn exists(&self, key: &str) -> lightrag_backup::Result<bool> {
        self.0.exists(key)
    }
    fn list(&self, prefix: &str) -> lightrag_backup::Result<Vec<lightrag_backup::ObjectInfo>> {
        self.0.list(prefix)
    }
    fn delete(&self, key: &str) -> lightrag_backup::Result<()> {
        self.0.delete(key)
    }
    fn location(&self) -> String {
        "s3://bucket/prefix".into()
    }
}
