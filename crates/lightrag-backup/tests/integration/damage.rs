//! A flipped byte is found by verify (naming snapshot and file) and stops restore.

use lightrag_backup::{
    BackupError, BackupOptions, NoProgress, ReadData, RestoreOptions, VerifyOptions,
};

use super::common::{Backend, TestEnv, backend_tests, copy_dir, fixtures, tree};

backend_tests!(
    cloud: flipped_byte_found_by_verify_and_stops_restore,
    lost_index_is_rebuilt_from_pack_trailers
);

fn flipped_byte_found_by_verify_and_stops_restore(backend: Backend) {
    let tmp = TestEnv::new(backend);
    let src = tmp.path().join("g");
    copy_dir(&fixtures()[1], &src);
    let repo = tmp.new_repo(None);
    let snap = repo
        .backup("g", &src, &BackupOptions::default(), &NoProgress)
        .unwrap()
        .snapshot;
    let packs = tmp.packs();
    assert!(!packs.is_empty());
    tmp.flip_byte(&packs[0].key, 100);

    // Structure is intact (same size), data is not.
    let structural = repo.verify(&VerifyOptions::default(), &NoProgress).unwrap();
    assert!(structural.is_ok(), "{structural:?}");
    let report = repo
        .verify(
            &VerifyOptions {
                read_data: ReadData::All,
                ..Default::default()
            },
            &NoProgress,
        )
        .unwrap();
    assert!(!report.is_ok());
    assert!(report.damaged_snapshots.contains(&snap.id));
    let damaged_files: Vec<&str> = report
        .damage
        .iter()
        .filter_map(|d| d.file.as_deref())
        .collect();
    assert_eq!(damaged_files.len(), 1, "{report:?}");
    let file = damaged_files[0].to_owned();
    assert!(
        report
            .damage
            .iter()
            .all(|d| d.snapshot.as_deref() == Some(snap.id.as_str()))
    );

    // Restore into a new directory: fails naming snapshot and file, creates nothing.
    let out = tmp.path().join("out");
    let err = repo
        .restore(&snap.id, &out, &RestoreOptions::default(), &NoProgress)
        .unwrap_err();
    match &err {
        BackupError::DamagedFile {
            snapshot, file: f, ..
        } => {
            assert_eq!(snapshot, &snap.id);
            assert_eq!(f, &file);
        }
        other => panic!("unexpected {other}"),
    }
    assert!(err.to_string().contains(&file));
    assert!(!out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".lrtmp-"))
        .collect();
    assert!(leftovers.is_empty());

    // In place: the live directory is left exactly as it was.
    std::fs::write(src.join("kv_store_full_docs.json"), b"{\"changed\": {}}").unwrap();
    let before = tree(&src);
    let opts = RestoreOptions {
        in_place: true,
        ..Default::default()
    };
    let err = repo
        .restore(&snap.id, &src, &opts, &NoProgress)
        .unwrap_err();
    assert!(matches!(err, BackupError::DamagedFile { .. }), "{err}");
    assert_eq!(tree(&src), before);

    // A missing pack is a structural error.
    tmp.storage().delete(&packs[0].key).unwrap();
    let r = repo
        .verify(
            &VerifyOptions {
                snapshots: vec![snap.id.clone()],
                ..Default::default()
            },
            &NoProgress,
        )
        .unwrap();
    assert!(
        r.damage.iter().any(|d| d.problem.contains("missing")),
        "{r:?}"
    );
}

fn lost_index_is_rebuilt_from_pack_trailers(backend: Backend) {
    for key in [None, Some(&b"0123456789abcdef0123456789abcdef"[..])] {
        let tmp = TestEnv::new(backend);
        let src = tmp.path().join("g");
        copy_dir(&fixtures()[1], &src);
        let repo = tmp.new_repo(key);
        let snap = repo
            .backup("g", &src, &BackupOptions::default(), &NoProgress)
            .unwrap()
            .snapshot;
        tmp.delete_prefix("index/");
        let r = repo.verify(&VerifyOptions::default(), &NoProgress).unwrap();
        assert!(r.damaged_snapshots.contains(&snap.id), "{r:?}");
        let out = tmp.path().join("out");
        assert!(matches!(
            repo.restore(&snap.id, &out, &RestoreOptions::default(), &NoProgress),
            Err(BackupError::DamagedFile { .. })
        ));
        // Prune must not take the unindexed packs for crash leftovers.
        let packs = tmp.packs().len();
        let p = repo
            .prune(&lightrag_backup::PruneOptions::default(), &NoProgress)
            .unwrap();
        assert_eq!(p.orphan_packs_deleted, 0, "{p:?}");
        assert_eq!(tmp.packs().len(), packs);
        let rep = repo.repair_index(&NoProgress).unwrap();
        assert!(
            rep.packs_indexed > 0 && rep.packs_unreadable.is_empty(),
            "{rep:?}"
        );
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
        repo.restore(&snap.id, &out, &RestoreOptions::default(), &NoProgress)
            .unwrap();
        assert_eq!(tree(&out), tree(&src));
    }
}
