//! Crashes between chunk writes and manifest publish never leave a listed-but-broken
//! snapshot, and the next backup works.

use lightrag_backup::{
    BackupError, BackupOptions, Failpoint, NoProgress, PruneOptions, ReadData, Repository,
    RestoreOptions, VerifyOptions,
};

use super::common::{
    Backend, TestEnv, assert_same_tree, backend_tests, copy_dir, fixtures, quick_options,
    storage_from_spec,
};

backend_tests!(
    failpoints_before_index_and_manifest,
    killed_process_leaves_no_broken_snapshot
);

fn verify_all(repo: &Repository) {
    let r = repo
        .verify(
            &VerifyOptions {
                read_data: ReadData::All,
                ..Default::default()
            },
            &NoProgress,
        )
        .unwrap();
    assert!(r.is_ok(), "{r:?}");
}

fn failpoints_before_index_and_manifest(backend: Backend) {
    for fp in [Failpoint::BeforeIndex, Failpoint::BeforeManifest] {
        let tmp = TestEnv::new(backend);
        let src = tmp.path().join("g");
        copy_dir(&fixtures()[0], &src);
        let repo = tmp.new_repo(None);
        let opts = BackupOptions {
            failpoint: Some(fp),
            ..Default::default()
        };
        let err = repo.backup("g", &src, &opts, &NoProgress).unwrap_err();
        assert!(matches!(err, BackupError::Injected(_)), "{err}");
        assert!(
            repo.snapshots(None).unwrap().is_empty(),
            "{fp:?}: a snapshot became visible"
        );
        verify_all(&repo);
        // A crash before the index leaves packs nothing indexes, which prune finds.
        let dry = PruneOptions {
            dry_run: true,
            ..Default::default()
        };
        let left = repo.prune(&dry, &NoProgress).unwrap();
        if fp == Failpoint::BeforeIndex {
            assert!(left.orphan_packs_deleted > 0, "{left:?}");
        }
        // The next run works and restores byte-identically.
        let s = repo
            .backup("g", &src, &BackupOptions::default(), &NoProgress)
            .unwrap();
        let out = tmp.path().join("out");
        repo.restore(
            &s.snapshot.id,
            &out,
            &RestoreOptions::default(),
            &NoProgress,
        )
        .unwrap();
        assert_same_tree(&src, &out);
        verify_all(&repo);
        // Prune removes what the crashed run left behind and keeps the snapshot intact. (The
        // next run may have written some of those packs again byte for byte, hence indexed
        // them: packs are named by their content, and the order of their blobs depends on
        // the threads, so how many are still orphans varies; none may remain.)
        repo.prune(&PruneOptions::default(), &NoProgress).unwrap();
        let after = repo.prune(&dry, &NoProgress).unwrap();
        assert_eq!(after.orphan_packs_deleted, 0, "{after:?}");
        verify_all(&repo);
    }
}

const CHILD_ENV: &str = "LIGHTRAG_BACKUP_TEST_CRASH_CHILD";

/// Runs the backup that aborts the process when started as the crash child; a no-op otherwise.
#[test]
fn crash_child_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (dir, spec) = spec.split_once('|').unwrap();
    let dir = std::path::PathBuf::from(dir);
    let repo = Repository::open(storage_from_spec(spec), None)
        .unwrap()
        .with_options(quick_options());
    let opts = BackupOptions {
        failpoint: Some(Failpoint::AbortBeforeManifest),
        ..Default::default()
    };
    let _ = repo.backup("g", &dir.join("g"), &opts, &NoProgress);
    unreachable!("the failpoint aborts the process");
}

fn killed_process_leaves_no_broken_snapshot(backend: Backend) {
    let tmp = TestEnv::new(backend);
    let src = tmp.path().join("g");
    copy_dir(&fixtures()[1], &src);
    let repo = tmp.new_repo(None);
    let first = repo
        .backup("g", &src, &BackupOptions::default(), &NoProgress)
        .unwrap()
        .snapshot
        .id;
    std::fs::write(
        src.join("kv_store_full_docs.json"),
        b"{\"new\": {\"content\": \"changed\"}}",
    )
    .unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "integration::crash::crash_child_process",
            "--test-threads",
            "1",
        ])
        .env(
            CHILD_ENV,
            format!("{}|{}", tmp.path().display(), tmp.spec("repo")),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(
        !status.success(),
        "the child should have been killed by its failpoint"
    );
    // The child's lock is still there, its data packs too, but no new snapshot is listed.
    assert!(tmp.repo_dir().join("locks").read_dir().unwrap().count() >= 1);
    let ids: Vec<String> = repo
        .snapshots(None)
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, [first]);
    verify_all(&repo);
    // The next backup works (the dead process's lock is recognised as stale).
    let s = repo
        .backup("g", &src, &BackupOptions::default(), &NoProgress)
        .unwrap();
    let out = tmp.path().join("out");
    repo.restore(
        &s.snapshot.id,
        &out,
        &RestoreOptions::default(),
        &NoProgress,
    )
    .unwrap();
    assert_same_tree(&src, &out);
    // The changed store is captured (docs() counts doc_status, which did not change).
    assert_eq!(
        s.snapshot.summary.stores["kv_store_full_docs.json"].records,
        Some(1)
    );
}
