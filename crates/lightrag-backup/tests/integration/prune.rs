//! Forget + prune, alone and beside concurrent backups.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};

use lightrag_backup::{
    BackupOptions, NoProgress, PruneOptions, ReadData, RestoreOptions, RetentionPolicy,
    VerifyOptions,
};

use super::common::{
    Backend, TestEnv, assert_same_tree, backend_tests, gen_workspace, grow_workspace, tree,
};

/// Issue 15 review: a large repository's consolidated index is several files (at most 16 384
/// blobs each); prune consolidates when there are more index files than that, and a prune with
/// nothing to do rewrites nothing (it used to rewrite every part on every run).
#[test]
fn prune_of_an_index_in_parts_settles() {
    use lightrag_backup::{ChunkerParams, InitOptions, Repository};
    let tmp = TestEnv::new(Backend::Local);
    let init = InitOptions {
        chunker: ChunkerParams {
            min_size: 64,
            avg_size: 256,
            max_size: 1024,
        },
        pack_size: 1024 * 1024,
        ..InitOptions::default()
    };
    let repo = Repository::init(tmp.storage(), &init, None)
        .unwrap()
        .with_options(super::common::quick_options());
    let live = tmp.path().join("live");
    std::fs::create_dir_all(&live).unwrap();
    // ~6 MiB that never repeats: about 24 000 chunks, so two index parts.
    let data: Vec<u8> = super::common::xorshift(0x2545_f491_4f6c_dd1d)
        .take((6 << 20) / 8)
        .flat_map(u64::to_le_bytes)
        .collect();
    std::fs::write(live.join("big.bin"), &data).unwrap();
    let index_keys = || -> BTreeSet<String> {
        tmp.storage()
            .list("index/")
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect()
    };
    repo.backup("g", &live, &BackupOptions::default(), &NoProgress)
        .unwrap();
    let parts = index_keys();
    assert_eq!(parts.len(), 2, "the first backup's index is in two parts");
    let r = repo.prune(&PruneOptions::default(), &NoProgress).unwrap();
    assert_eq!(r.indexes_replaced, 0);
    assert_eq!(index_keys(), parts, "nothing to do: nothing rewritten");
    // A second backup adds a third index file: prune folds it into two parts, then settles.
    std::fs::write(live.join("small.bin"), b"a new small file").unwrap();
    repo.backup("g", &live, &BackupOptions::default(), &NoProgress)
        .unwrap();
    assert_eq!(index_keys().len(), 3);
    let r = repo.prune(&PruneOptions::default(), &NoProgress).unwrap();
    assert_eq!(r.indexes_replaced, 3);
    let consolidated = index_keys();
    assert_eq!(consolidated.len(), 2);
    let r = repo.prune(&PruneOptions::default(), &NoProgress).unwrap();
    assert_eq!(r.indexes_replaced, 0);
    assert_eq!(index_keys(), consolidated);
    let out = tmp.path().join("out");
    let latest = repo.snapshots(Some("g")).unwrap().pop().unwrap();
    repo.restore(&latest.id, &out, &RestoreOptions::default(), &NoProgress)
        .unwrap();
    assert_same_tree(&live, &out);
}

backend_tests!(
    cloud: forget_and_prune_free_space_and_keep_the_rest_restorable,
    prune_beside_concurrent_backups_loses_nothing
);

fn forget_and_prune_free_space_and_keep_the_rest_restorable(backend: Backend) {
    let tmp = TestEnv::new(backend);
    let src = tmp.path().join("ws");
    gen_workspace(&src, 10, &[]);
    let repo = tmp.new_repo(None);
    let mut ids = Vec::new();
    for i in 0..3 {
        if i > 0 {
            grow_workspace(&src, 20);
        }
        ids.push(
            repo.backup("ws", &src, &BackupOptions::default(), &NoProgress)
                .unwrap()
                .snapshot
                .id,
        );
    }
    let pinned: BTreeSet<String> = [ids[0].clone()].into();
    let policy = RetentionPolicy {
        keep_last: 1,
        ..Default::default()
    };
    assert!(
        repo.forget(None, &RetentionPolicy::default(), &pinned, false)
            .is_err(),
        "empty policy refused"
    );
    // Issue 13 #14: an abbreviated pinned id would protect nothing: refused, nothing removed.
    let abbreviated: BTreeSet<String> = [ids[1][..ids[1].len() - 3].to_owned()].into();
    assert!(matches!(
        repo.forget(None, &policy, &abbreviated, false),
        Err(lightrag_backup::BackupError::FullIdRequired(_))
    ));
    assert_eq!(repo.snapshots(None).unwrap().len(), 3);
    let dry = repo.forget(None, &policy, &pinned, true).unwrap();
    assert_eq!(dry.removed, [ids[1].clone()]);
    assert_eq!(repo.snapshots(None).unwrap().len(), 3);
    let f = repo.forget(None, &policy, &pinned, false).unwrap();
    assert_eq!(f.removed, [ids[1].clone()]);
    assert_eq!(f.kept.len(), 2);

    let before: u64 = tmp.packs().iter().map(|p| p.size).sum();
    let p = repo
        .prune(
            &PruneOptions {
                repack_threshold: 0.0,
                ..Default::default()
            },
            &NoProgress,
        )
        .unwrap();
    let after: u64 = tmp.packs().iter().map(|p| p.size).sum();
    assert!(p.chunks_removed > 0 && after < before, "{p:?}");
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
    // A second prune has nothing left to do.
    let p2 = repo.prune(&PruneOptions::default(), &NoProgress).unwrap();
    assert_eq!(
        (p2.chunks_removed, p2.packs_deleted, p2.orphan_packs_deleted),
        (0, 0, 0)
    );
    let out = tmp.path().join("out");
    repo.restore(&ids[2], &out, &RestoreOptions::default(), &NoProgress)
        .unwrap();
    assert_same_tree(&src, &out);
}

fn prune_beside_concurrent_backups_loses_nothing(backend: Backend) {
    let tmp = TestEnv::new(backend);
    let src = tmp.path().join("ws");
    gen_workspace(&src, 10, &[]);
    let repo = tmp.new_repo(None);
    let done = AtomicBool::new(false);
    let mut expected = Vec::new();
    std::thread::scope(|s| {
        let pruner = s.spawn(|| {
            let mut runs = 0;
            while !done.load(Ordering::Relaxed) || runs == 0 {
                let policy = RetentionPolicy {
                    keep_last: 2,
                    ..Default::default()
                };
                repo.forget(None, &policy, &BTreeSet::new(), false).unwrap();
                repo.prune(
                    &PruneOptions {
                        repack_threshold: 0.0,
                        ..Default::default()
                    },
                    &NoProgress,
                )
                .unwrap();
                runs += 1;
                // Locks are not granted in arrival order: a contender backs off with jitter (up
                // to ~3 s) and can be starved by a holder that re-takes the lock at once, so the
                // pruner leaves the backups a window (see docs/repository-format.md, Locks).
                std::thread::sleep(std::time::Duration::from_millis(3500));
            }
            runs
        });
        for i in 0..4 {
            let snap = repo
                .backup("ws", &src, &BackupOptions::default(), &NoProgress)
                .unwrap()
                .snapshot;
            let copy = tmp.path().join(format!("state{i}"));
            super::common::copy_dir(&src, &copy);
            expected.push((snap.id, copy));
            grow_workspace(&src, 10);
        }
        done.store(true, Ordering::Relaxed);
        assert!(pruner.join().unwrap() > 0);
    });
    // Final forget+prune, then everything still listed restores exactly.
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
    let listed: BTreeSet<String> = repo
        .snapshots(None)
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert!(listed.len() >= 2);
    for (id, state) in &expected {
        if !listed.contains(id) {
            continue;
        }
        let out = tmp.path().join(format!("out-{id}"));
        repo.restore(id, &out, &RestoreOptions::default(), &NoProgress)
            .unwrap();
        assert_eq!(
            tree(&out)
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect::<Vec<_>>(),
            tree(state)
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect::<Vec<_>>()
        );
    }
}
