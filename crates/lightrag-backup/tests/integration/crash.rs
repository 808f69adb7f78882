//! Crashes between chunk writes and manifest publish never leave a listed-but-broken
//! snapshot, and the next backup works.

use lightrag_backup::{
    BackupError, BackupOptions, Failpoint, NoProgress, PruneOptions, ReadData, Repository,
    RestoreOptions, VerifyOptions,
};

use super::common::{assert_same_tree, copy_dir, fixtures, new_repo, quick_options, storage};

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

#[test]
fn failpoints_before_index_and_manifest() {
    for fp in [Failpoint::BeforeIndex, Failpoint::BeforeManifest] {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("g");
        copy_dir(&fixtures()[0], &src);
        let repo = new_repo(&tmp.path().join("repo"), None);
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
        // Prune removes what the crashed run left behind and keeps the snapshot intact.
        let p = repo.prune(&PruneOptions::default(), &NoProgress).unwrap();
        if fp == Failpoint::BeforeIndex {
            assert!(p.orphan_packs_deleted > 0, "{p:?}");
        }
        verify_all(&repo);
    }
}

const CHILD_ENV: &str = "LIGHTRAG_BACKUP_TEST_CRASH_CHILD";

/// Runs the backup that aborts the process when started as the crash child; a no-op otherwise.
#[test]
fn crash_child_process() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let repo = Repository::open(storage(&dir.join("repo")), None)
        .unwrap()
        .with_options(quick_options());
    let opts = BackupOptions {
        failpoint: Some(Failpoint::AbortBeforeManifest),
        ..Default::default()
    };
    let _ = repo.backup("g", &dir.join("g"), &opts, &NoProgress);
    unreachable!("the failpoint aborts the process");
}

#[test]
fn killed_process_leaves_no_broken_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("g");
    copy_dir(&fixtures()[1], &src);
    let repo = new_repo(&tmp.path().join("repo"), None);
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
        .env(CHILD_ENV, tmp.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(
        !status.success(),
        "the child should have been killed by its failpoint"
    );
    // The child's lock is still there, its data packs too, but no new snapshot is listed.
    assert!(tmp.path().join("repo/locks").read_dir().unwrap().count() >= 1);
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
    assert_eq!(s.snapshot.summary.docs(), Some(1));
}
