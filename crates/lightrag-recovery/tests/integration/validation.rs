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
