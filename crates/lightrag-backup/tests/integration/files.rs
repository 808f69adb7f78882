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

fn mkfifo(p: &Path) {
    let st = std::process::Command::new("mkfifo")
        .arg(p)
        .status()
        .unwrap();
    assert!(st.success());
}

fn owner(p: &Path) -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(p).unwrap();
    (m.uid(), m.gid())
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn in_place_restore_keeps_what_the_backup_does_not_capture() {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let env = TestEnv::new(super::common::Backend::Local);
    let g = env.path().join("g");
    write(&g.join("kv_store_a.json"), b"{\"a\": 1}");
    write(&g.join("sub/kv_store_b.json"), b"{\"b\": 1}");
    write(&g.join("notes.log"), b"log v1");
    write(&g.join("ws/w1/kv_store_c.json"), b"{\"c\": 1}");
    write(&g.join("ws/w1/deep/x"), b"x");
    std::os::unix::fs::symlink("kv_store_a.json", g.join("link")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/elsewhere", g.join("sub/dangling")).unwrap();
    mkfifo(&g.join("pipe"));
    let odd = g.join(std::ffi::OsStr::from_bytes(b"odd-\xff-name"));
    std::fs::write(&odd, b"not utf-8").unwrap();
    // Left by an interrupted partial restore: neither captured nor kept.
    write(
        &g.join("sub/.kv_store_b.json.lrtmp-0123456789ab"),
        b"{\"b\"",
    );
    std::fs::set_permissions(&g, std::fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::chown(g.join("kv_store_a.json"), Some(1234), Some(1234)).unwrap();
    std::os::unix::fs::chown(g.join("ws/w1/deep/x"), Some(1235), Some(1235)).unwrap();
    let repo = env.new_repo(None);
    let bopts = BackupOptions {
        excludes: vec!["*.log".into()],
        exclude_paths: vec!["ws/w1".into()],
        ..Default::default()
    };
    let s1 = repo.backup("g", &g, &bopts, &NoProgress).unwrap().snapshot;

    // Later: the graph changes, and so do the entries the backup did not capture.
    std::fs::write(g.join("kv_store_a.json"), b"{\"a\": 2}").unwrap();
    std::fs::remove_file(g.join("sub/kv_store_b.json")).unwrap();
    std::fs::write(g.join("notes.log"), b"log v2").unwrap();
    write(&g.join("ws/w1/kv_store_c.json"), b"{\"c\": 2}");

    let ropts = RestoreOptions {
        in_place: true,
        excludes: bopts.excludes.clone(),
        exclude_paths: bopts.exclude_paths.clone(),
        ..Default::default()
    };
    let r = repo.restore(&s1.id, &g, &ropts, &NoProgress).unwrap();
    assert!(r.kept >= 5, "{r:?}");
    // The snapshot's files are back, with their owners.
    assert_eq!(
        std::fs::read(g.join("kv_store_a.json")).unwrap(),
        b"{\"a\": 1}"
    );
    assert_eq!(owner(&g.join("kv_store_a.json")), (1234, 1234));
    assert_eq!(
        std::fs::read(g.join("sub/kv_store_b.json")).unwrap(),
        b"{\"b\": 1}"
    );
    // Everything else is exactly as it was.
    assert_eq!(
        std::fs::read_link(g.join("link")).unwrap(),
        Path::new("kv_store_a.json")
    );
    assert_eq!(
        std::fs::read_link(g.join("sub/dangling")).unwrap(),
        Path::new("/nonexistent/elsewhere")
    );
    assert!(
        std::fs::symlink_metadata(g.join("pipe"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(std::fs::read(&odd).unwrap(), b"not utf-8");
    assert_eq!(std::fs::read(g.join("notes.log")).unwrap(), b"log v2");
    assert_eq!(
        std::fs::read(g.join("ws/w1/kv_store_c.json")).unwrap(),
        b"{\"c\": 2}"
    );
    assert_eq!(std::fs::read(g.join("ws/w1/deep/x")).unwrap(), b"x");
    assert_eq!(owner(&g.join("ws/w1/deep/x")), (1235, 1235));
    assert_eq!(mode(&g), 0o750, "the folder keeps its mode");
    assert!(!g.join("sub/.kv_store_b.json.lrtmp-0123456789ab").exists());
    let left: Vec<_> = std::fs::read_dir(env.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".lrtmp-") || n.contains(".lrold-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn restore_never_writes_through_planted_links_and_masks_set_id_bits() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new(super::common::Backend::Local);
    let g = env.path().join("g");
    let outside = env.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    write(&outside.join("victim"), b"victim");
    write(&g.join("kv_store_a.json"), b"{\"a\": 1}");
    write(&g.join("sub/kv_store_b.json"), b"{\"b\": 1}");
    write(&g.join("tool"), b"#!/bin/sh\n");
    std::fs::set_permissions(g.join("tool"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    let repo = env.new_repo(None);
    let s1 = repo
        .backup("g", &g, &BackupOptions::default(), &NoProgress)
        .unwrap()
        .snapshot;
    let m = repo.snapshot(&s1.id).unwrap();
    assert_eq!(
        m.files.iter().find(|f| f.path == "tool").unwrap().mode,
        0o4755
    );

    // Set-id bits from a manifest are never applied.
    let out = env.path().join("out");
    repo.restore(&s1.id, &out, &RestoreOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(mode(&out.join("tool")), 0o755);

    // A directory link planted in the graph folder: a partial restore refuses, writes nothing
    // outside.
    std::fs::remove_dir_all(g.join("sub")).unwrap();
    std::os::unix::fs::symlink(&outside, g.join("sub")).unwrap();
    let partial = |files: &[&str]| RestoreOptions {
        in_place: true,
        files: files.iter().map(|f| (*f).to_owned()).collect(),
        safety_snapshot: false,
        ..Default::default()
    };
    let err = repo
        .restore(&s1.id, &g, &partial(&["sub/kv_store_b.json"]), &NoProgress)
        .unwrap_err();
    // The refusal names the link: in the message or in its cause.
    let text = lightrag_config::error_chain(&err);
    assert!(text.contains("symbolic link"), "{text}");
    let outside_names: Vec<_> = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside_names, ["victim"]);

    // A file link: replaced by the restored file, its target untouched.
    std::fs::remove_file(g.join("kv_store_a.json")).unwrap();
    std::os::unix::fs::symlink(outside.join("victim"), g.join("kv_store_a.json")).unwrap();
    repo.restore(&s1.id, &g, &partial(&["kv_store_a.json"]), &NoProgress)
        .unwrap();
    assert_eq!(std::fs::read(outside.join("victim")).unwrap(), b"victim");
    assert!(
        std::fs::symlink_metadata(g.join("kv_store_a.json"))
            .unwrap()
            .is_file()
    );
    assert_eq!(
        std::fs::read(g.join("kv_store_a.json")).unwrap(),
        b"{\"a\": 1}"
    );

    // A whole in-place restore replaces the planted directory link by the snapshot's folder.
    let full = RestoreOptions {
        in_place: true,
        safety_snapshot: false,
        ..Default::default()
    };
    repo.restore(&s1.id, &g, &full, &NoProgress).unwrap();
    assert!(std::fs::symlink_metadata(g.join("sub")).unwrap().is_dir());
    assert_eq!(
        std::fs::read(g.join("sub/kv_store_b.json")).unwrap(),
        b"{\"b\": 1}"
    );
    let outside_names: Vec<_> = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside_names, ["victim"]);
    assert_eq!(std::fs::read(outside.join("victim")).unwrap(), b"victim");
}

#[test]
fn file_swapped_for_a_link_mid_backup_is_not_read_through_it() {
    let env = TestEnv::new(super::common::Backend::Local);
    let g = env.path().join("g");
    let secret = env.path().join("secret.json");
    std::fs::write(&secret, b"{\"secret\": true}").unwrap();
    write(&g.join("kv_store_a.json"), b"{\"a\": 1}");
    write(&g.join("kv_store_b.json"), b"{\"b\": 1}");
    let repo = env.new_repo(None);
    let (g2, secret2) = (g.clone(), secret.clone());
    let hook = lightrag_backup::ReadHook(std::sync::Arc::new(move |p: &Path, attempt| {
        if attempt == 0 && p.ends_with("kv_store_a.json") {
            // Between this read and the next open, the file becomes a link to a secret.
            std::fs::remove_file(g2.join("kv_store_a.json")).unwrap();
            std::os::unix::fs::symlink(&secret2, g2.join("kv_store_a.json")).unwrap();
        }
    }));
    let opts = BackupOptions {
        read_hook: Some(hook),
        retry_backoff: std::time::Duration::from_millis(1),
        ..Default::default()
    };
    let s = repo.backup("g", &g, &opts, &NoProgress).unwrap();
    assert!(
        s.skipped.iter().any(|x| x.starts_with("kv_store_a.json")),
        "{:?}",
        s.skipped
    );
    let out = env.path().join("out");
    repo.restore(
        &s.snapshot.id,
        &out,
        &RestoreOptions::default(),
        &NoProgress,
    )
    .unwrap();
    for e in std::fs::read_dir(&out).unwrap() {
        let body = std::fs::read(e.unwrap().path()).unwrap();
        assert_ne!(
            body, b"{\"secret\": true}",
            "the link's target was captured"
        );
    }
    assert_eq!(
        std::fs::read(out.join("kv_store_b.json")).unwrap(),
        b"{\"b\": 1}"
    );
}

#[test]
fn lightrag_temp_files_are_not_captured_nor_written_back() {
    let env = TestEnv::new(super::common::Backend::Local);
    let g = env.path().join("g");
    write(
        &g.join("kv_store_a.json"),
        format!("{{\"a\": \"{}\"}}", "x".repeat(300_000)).as_bytes(),
    );
    let tmp_name = "kv_store_a.json.tmp.4242.140000.1733224000123456789";
    write(&g.join(tmp_name), b"");
    let repo = env
        .new_repo(None)
        .with_options(lightrag_backup::RepositoryOptions {
            threads: 1,
            ..Default::default()
        });

    // Default: skipped silently.
    let s = repo
        .backup("g", &g, &BackupOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(
        paths(&repo.snapshot(&s.snapshot.id).unwrap()),
        ["kv_store_a.json"]
    );
    assert!(s.skipped.is_empty(), "{:?}", s.skipped);

    // Captured when the operator turns the default off (as old snapshots did), and one that
    // vanishes mid-backup (renamed over its store) is not reported as a problem.
    let g2 = g.clone();
    let hook = lightrag_backup::ReadHook(std::sync::Arc::new(move |p: &Path, _| {
        if p.ends_with("kv_store_a.json") {
            let _ = std::fs::remove_file(g2.join("kv_store_b.json.tmp.1.2.3"));
        }
    }));
    write(&g.join("kv_store_b.json.tmp.1.2.3"), b"{");
    let all = BackupOptions {
        skip_lightrag_temp_files: false,
        force_reread: true,
        read_hook: Some(hook),
        ..Default::default()
    };
    let old = repo.backup("g", &g, &all, &NoProgress).unwrap();
    assert_eq!(
        paths(&repo.snapshot(&old.snapshot.id).unwrap()),
        ["kv_store_a.json", tmp_name]
    );
    assert!(old.skipped.is_empty(), "{:?}", old.skipped);

    // Restoring such a snapshot does not write them back...
    let out = env.path().join("out");
    repo.restore(
        &old.snapshot.id,
        &out,
        &RestoreOptions::default(),
        &NoProgress,
    )
    .unwrap();
    assert!(out.join("kv_store_a.json").exists());
    assert!(!out.join(tmp_name).exists());
    // ... and in place keeps the target's own temp files untouched.
    write(&out.join("vdb_x.json.tmp.7.8.9"), b"half");
    let r = repo
        .restore(
            &old.snapshot.id,
            &out,
            &RestoreOptions {
                in_place: true,
                ..Default::default()
            },
            &NoProgress,
        )
        .unwrap();
    assert_eq!(r.kept, 1);
    assert_eq!(
        std::fs::read(out.join("vdb_x.json.tmp.7.8.9")).unwrap(),
        b"half"
    );
    assert!(!out.join(tmp_name).exists());
}
