//! In-place restore: safety snapshot, atomic swap, partial restore.

use lightrag_backup::{BackupError, BackupOptions, NoProgress, RestoreOptions};

use super::common::{Backend, TestEnv, assert_same_tree, backend_tests, copy_dir, fixtures, tree};

backend_tests!(
    cloud: in_place_restore_is_atomic_and_takes_a_safety_snapshot,
    partial_restore,
    live_graph_guard_stats_and_delete
);

mod segments {
    use super::{Backend, large_file_is_restored_in_segments};

    #[test]
    fn local() {
        large_file_is_restored_in_segments(Backend::Local);
    }

    #[test]
    fn s3() {
        large_file_is_restored_in_segments(Backend::S3);
    }
}

/// Writes a file into `dir` when the restore begins: after the restore checked that its
/// target is empty, before it stages and swaps (as a second restore into the same new graph,
/// or any writer, would).
struct FillsTarget(std::path::PathBuf);

impl lightrag_backup::Progress for FillsTarget {
    fn begin(&self, operation: &str, _files: u64, _bytes: u64) {
        if operation == "restore" {
            std::fs::create_dir_all(&self.0).unwrap();
            std::fs::write(self.0.join("written-meanwhile.json"), b"{}").unwrap();
        }
    }
}

/// A target that filled after the check is refused as not empty (a conflict, not an I/O
/// failure): what was written there stays, alone, and nothing staged is left. For a target
/// that was absent and one that was an empty folder.
#[test]
fn a_target_filled_during_the_restore_is_refused_and_kept() {
    let tmp = TestEnv::new(Backend::Local);
    let src = tmp.path().join("src");
    copy_dir(&fixtures()[1], &src);
    let repo = tmp.new_repo(None);
    let s = repo
        .backup("g", &src, &BackupOptions::default(), &NoProgress)
        .unwrap()
        .snapshot;
    for empty_dir in [false, true] {
        let target = tmp.path().join(format!("new-{empty_dir}"));
        if empty_dir {
            std::fs::create_dir(&target).unwrap();
        }
        let err = repo
            .restore(
                &s.id,
                &target,
                &RestoreOptions::default(),
                &FillsTarget(target.clone()),
            )
            .unwrap_err();
        assert!(matches!(err, BackupError::TargetNotEmpty(_)), "{err}");
        let left: Vec<_> = std::fs::read_dir(&target)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["written-meanwhile.json"], "empty_dir {empty_dir}");
        no_staging_left(tmp.path());
    }
}

fn no_staging_left(parent: &std::path::Path) {
    let left: Vec<String> = std::fs::read_dir(parent)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".lrtmp-") || n.contains(".lrold-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

fn in_place_restore_is_atomic_and_takes_a_safety_snapshot(backend: Backend) {
    let tmp = TestEnv::new(backend);
    let live = tmp.path().join("live");
    copy_dir(&fixtures()[1], &live);
    let pristine = tmp.path().join("pristine");
    copy_dir(&live, &pristine);
    let repo = tmp.new_repo(None);
    let s1 = repo
        .backup("g", &live, &BackupOptions::default(), &NoProgress)
        .unwrap()
        .snapshot;

    // LightRAG moves on: a file rewritten, one added, one deleted.
    std::fs::write(
        live.join("kv_store_full_docs.json"),
        b"{\"d\": {\"content\": \"new\"}}",
    )
    .unwrap();
    std::fs::write(live.join("extra.log"), b"log").unwrap();
    std::fs::remove_file(live.join("vdb_chunks.json")).unwrap();
    let modified = tree(&live);

    // A staging directory left by a restore that crashed long ago is cleaned up.
    let stale = tmp.path().join(".live.lrtmp-deadbeef");
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join("half.json"), b"{").unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::open(&stale)
        .unwrap()
        .set_modified(old)
        .unwrap();

    // Refused without in_place.
    let err = repo
        .restore(&s1.id, &live, &RestoreOptions::default(), &NoProgress)
        .unwrap_err();
    assert!(matches!(err, BackupError::TargetNotEmpty(_)), "{err}");

    // Killed before the swap: the target is the old state, nothing staged is left.
    let opts = RestoreOptions {
        in_place: true,
        fail_before_swap: true,
        ..Default::default()
    };
    assert!(repo.restore(&s1.id, &live, &opts, &NoProgress).is_err());
    assert_eq!(tree(&live), modified);
    no_staging_left(tmp.path());

    // The real restore: the new state, entirely.
    let opts = RestoreOptions {
        in_place: true,
        ..Default::default()
    };
    let r = repo.restore(&s1.id, &live, &opts, &NoProgress).unwrap();
    assert!(!stale.exists());
    assert_same_tree(&pristine, &live);
    no_staging_left(tmp.path());

    // The safety snapshot holds the state that was replaced.
    let safety = r.safety_snapshot.expect("safety snapshot");
    let info = repo
        .snapshots(Some("g"))
        .unwrap()
        .into_iter()
        .find(|s| s.id == safety)
        .unwrap();
    assert_eq!(info.trigger, "pre_restore");
    let back = tmp.path().join("back");
    repo.restore(&safety, &back, &RestoreOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(tree(&back), modified);
}

fn partial_restore(backend: Backend) {
    let tmp = TestEnv::new(backend);
    let live = tmp.path().join("live");
    copy_dir(&fixtures()[0], &live);
    let repo = tmp.new_repo(None);
    let s1 = repo
        .backup("g", &live, &BackupOptions::default(), &NoProgress)
        .unwrap()
        .snapshot;
    let original = tree(&live);

    let out = tmp.path().join("one");
    let opts = RestoreOptions {
        files: vec!["kv_store_full_docs.json".into()],
        ..Default::default()
    };
    let r = repo.restore(&s1.id, &out, &opts, &NoProgress).unwrap();
    assert_eq!(r.files, 1);
    let t = tree(&out);
    assert_eq!(t.len(), 1);
    assert_eq!(
        t["kv_store_full_docs.json"],
        original["kv_store_full_docs.json"]
    );

    // In place, only the chosen file is replaced.
    std::fs::write(live.join("kv_store_full_docs.json"), b"{}").unwrap();
    std::fs::write(live.join("kv_store_text_chunks.json"), b"{}").unwrap();
    let opts = RestoreOptions {
        in_place: true,
        files: vec!["kv_store_full_docs.json".into()],
        ..Default::default()
    };
    repo.restore(&s1.id, &live, &opts, &NoProgress).unwrap();
    let now = tree(&live);
    assert_eq!(
        now["kv_store_full_docs.json"],
        original["kv_store_full_docs.json"]
    );
    assert_eq!(now["kv_store_text_chunks.json"].0, b"{}");
    no_staging_left(&live);

    let bad = RestoreOptions {
        files: vec!["nope.json".into()],
        ..Default::default()
    };
    assert!(matches!(
        repo.restore(&s1.id, &tmp.path().join("x"), &bad, &NoProgress),
        Err(BackupError::InvalidArgument(_))
    ));
    assert!(matches!(
        repo.restore(
            "zzz",
            &tmp.path().join("x"),
            &RestoreOptions::default(),
            &NoProgress
        ),
        Err(BackupError::SnapshotNotFound(_))
    ));
}

fn live_graph_guard_stats_and_delete(backend: Backend) {
    let tmp = TestEnv::new(backend);
    let live = tmp.path().join("live");
    copy_dir(&fixtures()[0], &live);
    let repo = tmp.new_repo(None);
    let s1 = repo
        .backup("g", &live, &BackupOptions::default(), &NoProgress)
        .unwrap()
        .snapshot;
    // LightRAG just saved a file: an in-place restore with the guard is refused, untouched.
    std::fs::write(live.join("kv_store_full_docs.json"), b"{}").unwrap();
    let before = tree(&live);
    let guarded = RestoreOptions {
        in_place: true,
        refuse_if_modified_within: Some(std::time::Duration::from_secs(3600)),
        ..Default::default()
    };
    let err = repo
        .restore(&s1.id, &live, &guarded, &NoProgress)
        .unwrap_err();
    assert!(matches!(err, BackupError::GraphLooksLive { .. }), "{err}");
    assert!(err.to_string().contains("kv_store_full_docs.json"));
    assert_eq!(tree(&live), before);
    assert_eq!(
        repo.snapshots(None).unwrap().len(),
        1,
        "no safety snapshot for a refused restore"
    );

    let st = repo.stats().unwrap();
    assert_eq!((st.snapshots, st.graphs["g"].snapshots), (1, 1));
    assert_eq!(st.graphs["g"].latest.as_deref(), Some(s1.id.as_str()));
    assert!(st.stored_bytes > 0 && st.dedup_ratio() > 1.0, "{st:?}");
    // Issue 13 #14: deleting needs the full id; a unique prefix is refused, nothing deleted.
    assert!(matches!(
        repo.delete_snapshot(&s1.id[..s1.id.len() - 2]),
        Err(BackupError::FullIdRequired(_))
    ));
    assert!(matches!(
        repo.delete_snapshot(&s1.id[..1]),
        Err(BackupError::FullIdRequired(_))
    ));
    assert_eq!(repo.snapshots(None).unwrap().len(), 1);
    assert_eq!(repo.delete_snapshot(&s1.id).unwrap(), s1.id);
    assert!(repo.snapshots(None).unwrap().is_empty());
    assert!(matches!(
        repo.snapshot(&s1.id),
        Err(BackupError::SnapshotNotFound(_))
    ));
}

/// Issue 15: a file larger than one restore segment (16 MiB) is written by several threads at
/// their offsets; it comes back byte for byte with its mode and mtime, beside small files, and
/// a second restore of the same snapshot gives the same tree.
fn large_file_is_restored_in_segments(backend: Backend) {
    use std::os::unix::fs::PermissionsExt;
    let tmp = TestEnv::new(backend);
    let live = tmp.path().join("live");
    std::fs::create_dir_all(&live).unwrap();
    // 40 MiB that compress some (text-like lines with a counter) but never repeat.
    let mut big = Vec::with_capacity(40 << 20);
    for x in super::common::xorshift(0x9e37_79b9_7f4a_7c15) {
        if big.len() >= 40 << 20 {
            break;
        }
        big.extend_from_slice(
            format!("{{\"__id__\": \"ent-{x:016x}\", \"v\": {}}},\n", x % 977).as_bytes(),
        );
    }
    std::fs::write(live.join("big.bin"), &big).unwrap();
    std::fs::set_permissions(live.join("big.bin"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::write(live.join("kv_store_doc_status.json"), b"{}").unwrap();
    std::fs::write(live.join("empty.json"), b"").unwrap();
    // Just past the size written with O_DIRECT, and not a whole number of 4 KiB blocks.
    let odd: Vec<u8> = super::common::xorshift(7)
        .flat_map(u64::to_le_bytes)
        .take((1 << 20) + 4097)
        .collect();
    std::fs::write(live.join("odd.bin"), &odd).unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(live.join("big.bin"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let repo = tmp.new_repo(None);
    let s = repo
        .backup("g", &live, &BackupOptions::default(), &NoProgress)
        .unwrap()
        .snapshot;
    for n in 0..2 {
        let out = tmp.path().join(format!("out{n}"));
        repo.restore(&s.id, &out, &RestoreOptions::default(), &NoProgress)
            .unwrap();
        assert_same_tree(&live, &out);
        let got = std::fs::read(out.join("big.bin")).unwrap();
        assert!(got == big, "the large file differs after restore {n}");
        assert!(std::fs::read(out.join("odd.bin")).unwrap() == odd);
        let meta = std::fs::metadata(out.join("big.bin")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o640);
        assert_eq!(meta.modified().unwrap(), old);
    }
}
