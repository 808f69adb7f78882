//! What a backup captures and what an in-place restore keeps: exclusions, symlinks, special
//! files, modes and owners, LightRAG temp files (issue 13, defects 5, 6 and 8).

use std::path::Path;

use lightrag_backup::{BackupOptions, NoProgress, RestoreOptions};

use super::common::TestEnv;

fn write(p: &Path, body: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, body).unwrap();
}

fn paths(m: &lightrag_backup::Manifest) -> Vec<&str> {
    m.files.iter().map(|f| f.path.as_str()).collect()
}

#[test]
fn exclude_paths_are_skipped_exactly() {
    let env = TestEnv::new(super::common::Backend::Local);
    let g = env.path().join("g");
    write(&g.join("kv_store_a.json"), b"{}");
    write(&g.join("ws/w1/kv_store_b.json"), b"{}");
    write(&g.join("ws/w10/kv_store_c.json"), b"{}");
    write(&g.join("notes"), b"n");
    write(&g.join("sub/notes"), b"n");
    let repo = env.new_repo(None);
    let opts = BackupOptions {
        exclude_paths: vec!["ws/w1/".into(), "./notes".into()],
        ..Default::default()
    };
    let s = repo.backup("g", &g, &opts, &NoProgress).unwrap();
    let m = repo.snapshot(&s.snapshot.id).unwrap();
    assert_eq!(
        paths(&m),
        ["kv_store_a.json", "sub/notes", "ws/w10/kv_store_c.json"]
    );
    assert!(s.skipped.is_empty(), "{:?}", s.skipped);

    // A restore with the same exclusions does not write them either.
    let full = repo
        .backup("g", &g, &BackupOptions::default(), &NoProgress)
        .unwrap();
    let out = env.path().join("out");
    let ropts = RestoreOptions {
        exclude_paths: vec!["ws/w1".into()],
        excludes: vec!["notes".into()],
        ..Default::default()
    };
    repo.restore(&full.snapshot.id, &out, &ropts, &NoProgress)
        .unwrap();
    assert!(out.join("kv_store_a.json").exists());
    assert!(out.join("ws/w10/kv_store_c.json").exists());
    assert!(!out.join("ws/w1").exists());
    assert!(!out.join("notes").exists() && !out.join("sub/notes").exists());
}
