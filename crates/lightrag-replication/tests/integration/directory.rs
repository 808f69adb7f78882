//! Directory targets: full flow, incremental, interrupted, corrupted, forget/prune, encrypted.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use lightrag_backup::{
    BackupError, LocalStorage, NoProgress, PruneOptions, ReadData, Repository, RetentionPolicy,
    Storage, VerifyOptions,
};
use lightrag_replication::{
    DirectoryTarget, HealthOptions, ReplicaStore, ReplicationError, SyncHooks, SyncOptions,
    check_target_health, open_target_repository, prune_target, sync_graph, target_snapshot_ids,
};

use super::support::*;

fn primary_storage(repo: &Repository) -> Arc<dyn Storage> {
    repo.storage().clone()
}

fn verify_all(repo: &Repository) {
    let report = repo
        .verify(
            &VerifyOptions {
                read_data: ReadData::All,
                ..VerifyOptions::default()
            },
            &NoProgress,
        )
        .unwrap();
    assert!(report.is_ok(), "{report:?}");
}

#[test]
fn sync_restore_incremental_and_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    let graph = tmp.path().join("graph");
    make_graph(&graph, 2_500_000);
    let repo = init_repo(&tmp.path().join("primary"), None);
    let snap1 = backup(&repo, "g1", &graph);
    let primary = primary_storage(&repo);
    let target_dir = tmp.path().join("replica");
    let target = DirectoryTarget::new(&target_dir);

    let first = sync_graph(&primary, &target, "g1", &SyncOptions::default());
    assert!(first.is_success(), "{first:?}");
    let all = objects(primary.as_ref());
    assert_eq!(
        first.objects_sent as usize,
        all.len(),
        "config, packs, index, manifest"
    );
    assert_eq!(first.bytes_sent, all.values().sum::<u64>());
    assert_eq!(first.snapshots_sent, 1);
    assert_eq!((first.lag_ms, first.lag_known), (0, true));
    assert_eq!(first.last_synced_snapshot.as_deref(), Some(snap1.as_str()));
    assert_eq!(objects(&LocalStorage::new(&target_dir)), all);

    // The copy is an openable repository that restores the graph byte-identical.
    let copy = Repository::open(Arc::new(LocalStorage::new(&target_dir)), None).unwrap();
    assert_eq!(copy.id(), repo.id());
    verify_all(&copy);
    assert_restores_identical(&copy, &snap1, &graph, tmp.path());

    // Nothing changed: nothing sent.
    let second = sync_graph(&primary, &target, "g1", &SyncOptions::default());
    assert!(second.is_success(), "{second:?}");
    assert_eq!((second.objects_sent, second.bytes_sent), (0, 0));
    assert_eq!(second.objects_skipped as usize, all.len());

    // After another backup, only the new objects are sent.
    grow_graph(&graph, 1);
    let snap2 = backup(&repo, "g1", &graph);
    let after = objects(primary.as_ref());
    let new: Vec<(&String, &u64)> = after
        .iter()
        .filter(|(k, _)| !all.contains_key(*k))
        .collect();
    assert!(
        new.len() >= 3,
        "new pack(s), an index and a manifest: {new:?}"
    );
    let third = sync_graph(
        &primary,
        &target,
        "g1",
        &SyncOptions {
            concurrency: 3,
            bandwidth_limit: Some(1 << 40),
            ..SyncOptions::default()
        },
    );
    assert!(third.is_success(), "{third:?}");
    assert_eq!(third.objects_sent as usize, new.len());
    assert_eq!(third.bytes_sent, new.iter().map(|(_, s)| **s).sum::<u64>());
    assert_eq!(third.snapshots_sent, 1);
    assert_eq!(third.last_synced_snapshot.as_deref(), Some(snap2.as_str()));
    let copy = Repository::open(Arc::new(LocalStorage::new(&target_dir)), None).unwrap();
    assert_restores_identical(&copy, &snap2, &graph, tmp.path());
    assert_eq!(
        copy.snapshots(Some("g1"))
            .unwrap()
            .iter()
            .map(|s| s.id.clone())
            .collect::<Vec<_>>(),
        vec![snap1, snap2]
    );

    assert_eq!(
        lightrag_replication::primary_graph_ids(primary.as_ref()).unwrap(),
        vec!["g1".to_owned()]
    );

    // Health of a directory target: reachable, free space known, last syncs fine.
    let h = check_target_health(
        &target,
        false,
        &[],
        &HealthOptions {
            min_free_bytes: 0,
            max_lag_ms: None,
        },
    );
    assert_eq!(
        h.status,
        lightrag_recovery_db::HealthStatus::Healthy,
        "{h:?}"
    );
    assert!(h.free_bytes.is_some());
    assert_eq!(h.repository_id.as_deref(), Some(repo.id()));
}

#[test]
fn encrypted_repository_replicates_without_its_key() {
    let tmp = tempfile::tempdir().unwrap();
    let graph = tmp.path().join("graph");
    make_graph(&graph, 200_000);
    let key = [7u8; 32];
    let repo = init_repo(&tmp.path().join("primary"), Some(&key));
    let snap = backup(&repo, "enc", &graph);
    let target: Arc<dyn ReplicaStore> = Arc::new(DirectoryTarget::new(tmp.path().join("replica")));
    let out = sync_graph(
        &primary_storage(&repo),
        target.as_ref(),
        "enc",
        &SyncOptions::default(),
    );
    assert!(out.is_success(), "{out:?}");
    assert!(matches!(
        open_target_repository(target.clone(), None),
        Err(ReplicationError::Backup(BackupError::KeyRequired))
    ));
    let copy = open_target_repository(target, Some(&key)).unwrap();
    assert!(copy.is_encrypted());
    assert_restores_identical(&copy, &snap, &graph, tmp.path());
}

#[test]
fn interrupted_sync_resumes_without_resending() {
    let tmp = tempfile::tempdir().unwrap();
    let graph = tmp.path().join("graph");
    make_graph(&graph, 4_500_000);
    let repo = init_repo(&tmp.path().join("primary"), None);
    let snap = backup(&repo, "g", &graph);
    let primary = primary_storage(&repo);
    let total = objects(primary.as_ref()).len() as u64;
    assert!(total >= 6, "several packs expected, got {total} objects");
    let target_dir = tmp.path().join("replica");
    let target = DirectoryTarget::new(&target_dir);

    let opts = SyncOptions {
        concurrency: 3,
        hooks: SyncHooks {
            fail_after_objects: Some(3),
            ..SyncHooks::default()
        },
        ..SyncOptions::default()
    };
    let broken = sync_graph(&primary, &target, "g", &opts);
    assert!(
        broken.error.as_deref().unwrap().contains("interrupted"),
        "{broken:?}"
    );
    assert_eq!(broken.objects_sent, 3);
    assert!(
        target_snapshot_ids(&target).unwrap().is_empty(),
        "no manifest before its data"
    );
    assert!(broken.lag_ms > 0);

    let resumed = sync_graph(&primary, &target, "g", &SyncOptions::default());
    assert!(resumed.is_success(), "{resumed:?}");
    assert_eq!(resumed.objects_sent, total - 3, "nothing sent twice");
    assert_eq!(resumed.objects_skipped, 3);
    assert_eq!(resumed.lag_ms, 0);
    assert_eq!(
        objects(&LocalStorage::new(&target_dir)),
        objects(primary.as_ref())
    );
    let copy = Repository::open(Arc::new(LocalStorage::new(&target_dir)), None).unwrap();
    verify_all(&copy);
    assert_restores_identical(&copy, &snap, &graph, tmp.path());
}

#[test]
fn corrupted_objects_are_rejected_in_transit() {
    let tmp = tempfile::tempdir().unwrap();
    let graph = tmp.path().join("graph");
    make_graph(&graph, 1_500_000);
    let repo = init_repo(&tmp.path().join("primary"), None);
    backup(&repo, "g", &graph);
    let primary = primary_storage(&repo);
    let target_dir = tmp.path().join("replica");
    let target = DirectoryTarget::new(&target_dir);

    for pattern in ["data/", "index/", "snapshots/"] {
        let out = sync_graph(
            &primary,
            &target,
            "g",
            &SyncOptions {
                concurrency: 1,
                hooks: SyncHooks {
                    corrupt_keys_containing: Some(pattern.into()),
                    ..SyncHooks::default()
                },
                ..SyncOptions::default()
            },
        );
        let err = out.error.clone().unwrap_or_default();
        assert!(err.contains("hash check"), "{pattern}: {out:?}");
        assert!(
            target_snapshot_ids(&target).unwrap().is_empty(),
            "{pattern}: no manifest listed"
        );
        // Whatever was stored is intact.
        let tstore = LocalStorage::new(&target_dir);
        for (k, _) in objects(&tstore) {
            assert_eq!(tstore.get(&k).unwrap(), primary.get(&k).unwrap(), "{k}");
        }
    }
    let ok = sync_graph(&primary, &target, "g", &SyncOptions::default());
    assert!(ok.is_success(), "{ok:?}");
    verify_all(&Repository::open(Arc::new(LocalStorage::new(&target_dir)), None).unwrap());
}

#[test]
fn forget_and_prune_replicate_unless_target_keeps_more() {
    let tmp = tempfile::tempdir().unwrap();
    let graph = tmp.path().join("graph");
    make_graph(&graph, 1_200_000);
    let repo = init_repo(&tmp.path().join("primary"), None);
    let s1 = backup(&repo, "g", &graph);
    grow_graph(&graph, 1);
    let s2 = backup(&repo, "g", &graph);
    grow_graph(&graph, 2);
    let s3 = backup(&repo, "g", &graph);
    let primary = primary_storage(&repo);
    let mirror = DirectoryTarget::new(tmp.path().join("mirror"));
    let archive = DirectoryTarget::new(tmp.path().join("archive"));
    let keep = SyncOptions {
        keep_forgotten: true,
        ..SyncOptions::default()
    };
    // A mirror without delete grace replicates forgets at once.
    let now = SyncOptions {
        delete_grace: Duration::ZERO,
        ..SyncOptions::default()
    };
    assert!(sync_graph(&primary, &mirror, "g", &now).is_success());
    assert!(sync_graph(&primary, &archive, "g", &keep).is_success());

    let policy = RetentionPolicy {
        keep_last: 1,
        ..RetentionPolicy::default()
    };
    repo.forget(Some("g"), &policy, &BTreeSet::new(), false)
        .unwrap();
    let out = sync_graph(&primary, &mirror, "g", &now);
    assert!(out.is_success(), "{out:?}");
    assert_eq!(out.snapshots_deleted, 2);
    assert_eq!(target_snapshot_ids(&mirror).unwrap()["g"], vec![s3.clone()]);
    let out = sync_graph(&primary, &archive, "g", &keep);
    assert!(out.is_success(), "{out:?}");
    assert_eq!(out.snapshots_deleted, 0);
    assert_eq!(
        target_snapshot_ids(&archive).unwrap()["g"],
        vec![s1, s2, s3.clone()]
    );

    // Prune on the primary, then replicate it to the mirror: same objects, still verifies.
    repo.prune(&PruneOptions::default(), &NoProgress).unwrap();
    let report = prune_target(&primary, &mirror, &now).unwrap();
    assert!(
        report.packs_deleted + report.indexes_deleted > 0,
        "{report:?}"
    );
    let mirror_store = LocalStorage::new(tmp.path().join("mirror"));
    assert_eq!(objects(&mirror_store), objects(primary.as_ref()));
    let copy = Repository::open(Arc::new(mirror_store), None).unwrap();
    verify_all(&copy);
    assert_restores_identical(&copy, &s3, &graph, tmp.path());
    assert!(
        prune_target(&primary, &archive, &keep).is_err(),
        "an archive keeps its data"
    );
}

#[test]
fn target_holding_another_repository_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let graph = tmp.path().join("graph");
    make_graph(&graph, 10_000);
    let a = init_repo(&tmp.path().join("a"), None);
    let b = init_repo(&tmp.path().join("b"), None);
    backup(&a, "g", &graph);
    backup(&b, "g", &graph);
    let target = DirectoryTarget::new(tmp.path().join("replica"));
    assert!(sync_graph(&primary_storage(&a), &target, "g", &SyncOptions::default()).is_success());
    let out = sync_graph(&primary_storage(&b), &target, "g", &SyncOptions::default());
    assert!(out.error.unwrap().contains("another repository"));
}

/// Issue 13 #2: a sync takes the repository's own lock (one implementation): it waits for a
/// running prune, and a prune waits for a running sync's read lock.
#[test]
fn sync_and_prune_exclude_each_other_through_the_repository_lock() {
    use std::time::Duration;

    use lightrag_backup::{LockKind, RepositoryLock, RepositoryOptions};

    let tmp = tempfile::tempdir().unwrap();
    let graph = tmp.path().join("graph");
    make_graph(&graph, 200_000);
    let repo = init_repo(&tmp.path().join("primary"), None).with_options(RepositoryOptions {
        lock_wait: Duration::from_millis(300),
        ..RepositoryOptions::default()
    });
    backup(&repo, "g", &graph);
    let primary = primary_storage(&repo);
    let target = DirectoryTarget::new(tmp.path().join("replica"));
    let opts = SyncOptions {
        lock_wait: Duration::from_millis(300),
        ..SyncOptions::default()
    };
    let stale = RepositoryOptions::default().stale_lock_after;

    // A prune holds the repository: the sync waits, then gives up without copying.
    let prune =
        RepositoryLock::acquire(&primary, LockKind::Exclusive, Duration::ZERO, stale).unwrap();
    let out = sync_graph(&primary, &target, "g", &opts);
    assert!(
        out.error.as_deref().is_some_and(|e| e.contains("busy")),
        "{out:?}"
    );
    assert_eq!(out.objects_sent, 0);
    prune.release().unwrap();

    // A sync's read lock (the same lock a sync takes) makes a prune wait.
    let read = RepositoryLock::acquire(&primary, LockKind::Read, Duration::ZERO, stale).unwrap();
    assert!(matches!(
        repo.prune(&PruneOptions::default(), &NoProgress),
        Err(BackupError::Locked { .. })
    ));
    drop(read);
    assert!(sync_graph(&primary, &target, "g", &opts).is_success());
    assert!(primary.list("locks/").unwrap().is_empty());
}

/// Defect 13.10: a forget on the primary (mistaken or malicious) does not destroy the
/// target's copies. The target keeps the forgotten snapshots — and the packs they need, even
/// through a replicated prune — for the delete grace, then a sync removes them. Time is
/// injected (`SyncOptions::now_ms`), no sleeps.
#[test]
fn forgotten_snapshots_stay_on_target_for_the_delete_grace() {
    const HOUR: i64 = 3_600_000;
    let tmp = tempfile::tempdir().unwrap();
    let graph = tmp.path().join("graph");
    make_graph(&graph, 600_000);
    let repo = init_repo(&tmp.path().join("primary"), None);
    let s1 = backup(&repo, "g", &graph);
    let state1 = tmp.path().join("state1");
    copy_dir(&graph, &state1);
    grow_graph(&graph, 1);
    write_random(&graph.join("blob.bin"), 600_000, 99);
    let s2 = backup(&repo, "g", &graph);
    let primary = primary_storage(&repo);
    let target_dir = tmp.path().join("replica");
    let target = DirectoryTarget::new(&target_dir);
    let t0: i64 = 1_800_000_000_000;
    let at = |ms: i64, since: &std::collections::BTreeMap<String, i64>| SyncOptions {
        now_ms: Some(ms),
        forgotten_since: since.clone(),
        ..SyncOptions::default()
    };
    let none = std::collections::BTreeMap::new();
    let out = sync_graph(&primary, &target, "g", &at(t0, &none));
    assert!(out.is_success(), "{out:?}");
    assert_eq!(out.snapshots_sent, 2);

    // Everything but the newest is forgotten on the primary, and the primary prunes.
    repo.forget(
        Some("g"),
        &RetentionPolicy {
            keep_last: 1,
            ..RetentionPolicy::default()
        },
        &BTreeSet::new(),
        false,
    )
    .unwrap();
    repo.prune(&PruneOptions::default(), &NoProgress).unwrap();
    assert!(
        repo.snapshot(&s1).is_err(),
        "the primary forgot the first snapshot"
    );

    // The next sync keeps it on the target, and remembers since when it is forgotten.
    let out = sync_graph(&primary, &target, "g", &at(t0 + HOUR, &none));
    assert!(out.is_success(), "{out:?}");
    assert_eq!((out.snapshots_deleted, out.snapshots_retained), (0, 1));
    let since = out.forgotten_since.clone().unwrap();
    assert_eq!(since, [(s1.clone(), t0 + HOUR)].into_iter().collect());
    assert_eq!(
        target_snapshot_ids(&target).unwrap()["g"],
        vec![s1.clone(), s2.clone()]
    );
    // A replicated prune within the grace deletes neither the manifest nor its data.
    let report = prune_target(&primary, &target, &at(t0 + 2 * HOUR, &since)).unwrap();
    assert_eq!(
        (
            report.snapshots_deleted,
            report.packs_deleted,
            report.indexes_deleted,
            report.snapshots_retained
        ),
        (0, 0, 0, 1),
        "{report:?}"
    );
    let copy = Repository::open(Arc::new(LocalStorage::new(&target_dir)), None).unwrap();
    verify_all(&copy);
    assert_restores_identical(&copy, &s1, &state1, tmp.path());

    // Still kept one millisecond before the grace ends (the first sighting counts, not the
    // latest sync).
    let grace = i64::try_from(SyncOptions::default().delete_grace.as_millis()).unwrap();
    assert_eq!(grace, 7 * 24 * HOUR, "default grace is 7 days");
    let out = sync_graph(&primary, &target, "g", &at(t0 + HOUR + grace - 1, &since));
    assert!(out.is_success(), "{out:?}");
    assert_eq!(out.snapshots_deleted, 0);
    assert_eq!(out.forgotten_since.as_ref(), Some(&since));

    // After the grace, the sync removes it; then a replicated prune removes its data.
    let out = sync_graph(&primary, &target, "g", &at(t0 + HOUR + grace, &since));
    assert!(out.is_success(), "{out:?}");
    assert_eq!((out.snapshots_deleted, out.snapshots_retained), (1, 0));
    assert_eq!(out.forgotten_since, Some(none.clone()));
    assert_eq!(target_snapshot_ids(&target).unwrap()["g"], vec![s2.clone()]);
    let report = prune_target(&primary, &target, &at(t0 + HOUR + grace, &none)).unwrap();
    assert!(report.packs_deleted > 0, "{report:?}");
    assert_eq!(
        objects(&LocalStorage::new(&target_dir)),
        objects(primary.as_ref())
    );
    let copy = Repository::open(Arc::new(LocalStorage::new(&target_dir)), None).unwrap();
    verify_all(&copy);
    assert_restores_identical(&copy, &s2, &graph, tmp.path());
}

/// The primary seen by a sync, where a backup of another graph writes its packs and its index
/// right after the first listing of `data/` or `index/` (as a backup running beside the sync
/// does: it writes index parts while it runs).
#[derive(Debug)]
struct BackupBetweenListings {
    inner: Arc<dyn Storage>,
    graph: std::path::PathBuf,
    done: std::sync::atomic::AtomicBool,
}

impl Storage for BackupBetweenListings {
    fn put(&self, key: &str, data: Vec<u8>) -> lightrag_backup::Result<()> {
        self.inner.put(key, data)
    }
    fn get(&self, key: &str) -> lightrag_backup::Result<Vec<u8>> {
        self.inner.get(key)
    }
    fn get_range(&self, key: &str, offset: u64, len: u64) -> lightrag_backup::Result<Vec<u8>> {
        self.inner.get_range(key, offset, len)
    }
    fn exists(&self, key: &str) -> lightrag_backup::Result<bool> {
        self.inner.exists(key)
    }
    fn list(&self, prefix: &str) -> lightrag_backup::Result<Vec<lightrag_backup::ObjectInfo>> {
        let listed = self.inner.list(prefix)?;
        if (prefix == "data/" || prefix == "index/")
            && !self.done.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            let repo = Repository::open(self.inner.clone(), None).unwrap();
            backup(&repo, "g2", &self.graph);
        }
        Ok(listed)
    }
    fn list_modified(
        &self,
        prefix: &str,
    ) -> lightrag_backup::Result<Vec<(lightrag_backup::ObjectInfo, Option<std::time::SystemTime>)>>
    {
        self.inner.list_modified(prefix)
    }
    fn delete(&self, key: &str) -> lightrag_backup::Result<()> {
        self.inner.delete(key)
    }
    fn location(&self) -> String {
        self.inner.location()
    }
}

/// A backup that writes packs and an index while a sync lists the primary: the target never
/// gets an index naming packs it lacks (indexes are listed before data). Otherwise a backup on
/// the target (after a failover) deduplicates against chunks that are not there and publishes
/// a broken snapshot.
#[test]
fn an_index_written_during_a_sync_never_reaches_the_target_without_its_packs() {
    let tmp = tempfile::tempdir().unwrap();
    let g1 = tmp.path().join("g1");
    make_graph(&g1, 500_000);
    let g2 = tmp.path().join("g2");
    std::fs::create_dir_all(&g2).unwrap();
    write_random(&g2.join("other.bin"), 3_000_000, 7);
    let repo = init_repo(&tmp.path().join("primary"), None);
    backup(&repo, "g1", &g1);
    let primary: Arc<dyn Storage> = Arc::new(BackupBetweenListings {
        inner: primary_storage(&repo),
        graph: g2.clone(),
        done: false.into(),
    });
    let target_dir = tmp.path().join("replica");
    let out = sync_graph(
        &primary,
        &DirectoryTarget::new(&target_dir),
        "g1",
        &SyncOptions::default(),
    );
    assert!(out.is_success(), "{out:?}");
    assert_eq!(
        repo.snapshots(Some("g2")).unwrap().len(),
        1,
        "the backup ran"
    );
    // Failover: the target backs up g2 itself.
    let copy = Repository::open(Arc::new(LocalStorage::new(&target_dir)), None).unwrap();
    let snap = backup(&copy, "g2", &g2);
    verify_all(&copy);
    assert_restores_identical(&copy, &snap, &g2, tmp.path());
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}
