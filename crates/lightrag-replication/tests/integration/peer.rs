//! Peer targets against the loopback test server.

use std::sync::Arc;
use std::time::Duration;

use lightrag_backup::{LocalStorage, Repository, Storage};
use lightrag_recovery_db::HealthStatus;
use lightrag_replication::{
    HealthOptions, PeerClient, ReplicaStore, SyncHooks, SyncOptions, check_target_health,
    open_target_repository, sync_graph, target_snapshot_ids, target_snapshots,
};

use super::support::*;
use super::test_server::TestPeer;

const KEY: &str = "peer-test-key-0123456789";

fn client(base: &str, key: &str) -> Arc<PeerClient> {
    Arc::new(PeerClient::new(base, Some(key.to_owned()), Duration::from_secs(30)).unwrap())
}

#[test]
fn peer_sync_failover_restore_and_incremental() {
    let tmp = tempfile::tempdir().unwrap();
    let graph = tmp.path().join("graph");
    make_graph(&graph, 2_500_000);
    let repo = init_repo(&tmp.path().join("primary"), None);
    let snap1 = backup(&repo, "g", &graph);
    let primary: Arc<dyn Storage> = repo.storage().clone();
    let standby_dir = tmp.path().join("standby");
    let peer = TestPeer::start(&standby_dir, KEY, 0);
    let c = client(&peer.base, KEY);

    let out = sync_graph(&primary, c.as_ref(), "g", &SyncOptions::default());
    assert!(out.is_success(), "{out:?}");
    let all = objects(primary.as_ref());
    assert_eq!(out.objects_sent as usize, all.len());
    assert_eq!(out.bytes_sent, all.values().sum::<u64>());
    assert_eq!(objects(&LocalStorage::new(&standby_dir)), all);
    assert_eq!(out.lag_ms, 0);

    let keys: Vec<String> = all
        .keys()
        .cloned()
        .chain(["index/00000000000000000000".to_owned()])
        .collect();
    let present = c.have(&keys).unwrap();
    assert_eq!(present.iter().filter(|p| **p).count(), all.len());
    assert!(!present.last().unwrap());

    let again = sync_graph(&primary, c.as_ref(), "g", &SyncOptions::default());
    assert!(again.is_success(), "{again:?}");
    assert_eq!((again.objects_sent, again.bytes_sent), (0, 0));

    grow_graph(&graph, 1);
    let snap2 = backup(&repo, "g", &graph);
    let after = objects(primary.as_ref());
    let new_bytes: u64 = after
        .iter()
        .filter(|(k, _)| !all.contains_key(*k))
        .map(|(_, s)| *s)
        .sum();
    let new_count = after.keys().filter(|k| !all.contains_key(*k)).count();
    let inc = sync_graph(&primary, c.as_ref(), "g", &SyncOptions::default());
    assert!(inc.is_success(), "{inc:?}");
    assert_eq!(
        (inc.objects_sent as usize, inc.bytes_sent),
        (new_count, new_bytes)
    );

    // Failover: the peer's copy, read over HTTP, restores byte-identical.
    let store: Arc<dyn ReplicaStore> = c.clone();
    let listed = target_snapshots(store.clone(), None, Some("g")).unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        vec![snap1, snap2.clone()]
    );
    let remote = open_target_repository(store, None).unwrap();
    assert_restores_identical(&remote, &snap2, &graph, tmp.path());
    // And on the standby itself.
    let local = Repository::open(Arc::new(LocalStorage::new(&standby_dir)), None).unwrap();
    assert_restores_identical(&local, &snap2, &graph, &tmp.path().join("x"));

    let h = check_target_health(
        c.as_ref(),
        true,
        &[],
        &HealthOptions {
            min_free_bytes: 0,
            max_lag_ms: None,
        },
    );
    assert_eq!(
        (h.status, h.authenticated),
        (HealthStatus::Healthy, Some(true)),
        "{h:?}"
    );
    assert_eq!(h.repository_id.as_deref(), Some(repo.id()));
    peer.stop();
}

#[test]
fn wrong_api_key_is_reported_unauthenticated() {
    let tmp = tempfile::tempdir().unwrap();
    let graph = tmp.path().join("graph");
    make_graph(&graph, 10_000);
    let repo = init_repo(&tmp.path().join("primary"), None);
    backup(&repo, "g", &graph);
    let peer = TestPeer::start(&tmp.path().join("standby"), KEY, 0);
    let wrong = client(&peer.base, "not-the-key");
    let h = check_target_health(wrong.as_ref(), true, &[], &HealthOptions::default());
    assert_eq!(h.status, HealthStatus::Offline);
    assert_eq!(h.authenticated, Some(false));
    assert!(
        h.message.as_deref().unwrap().contains("unauthenticated"),
        "{h:?}"
    );
    assert!(!h.message.unwrap().contains("not-the-key"));
    let out = sync_graph(
        &repo.storage().clone(),
        wrong.as_ref(),
        "g",
        &SyncOptions::default(),
    );
    assert!(out.unauthenticated && out.target_unreachable, "{out:?}");
    assert_eq!(out.objects_sent, 0);
    assert!(!out.error.unwrap().contains("not-the-key"));
    let nokey = Arc::new(PeerClient::new(&peer.base, None, Duration::from_secs(5)).unwrap());
    assert_eq!(
        check_target_health(nokey.as_ref(), true, &[], &HealthOptions::default()).authenticated,
        Some(false)
    );
}

#[test]
fn peer_rejects_corruption_and_bad_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let graph = tmp.path().join("graph");
    make_graph(&graph, 1_500_000);
    let repo = init_repo(&tmp.path().join("primary"), None);
    backup(&repo, "g", &graph);
    let primary: Arc<dyn Storage> = repo.storage().clone();
    let peer = TestPeer::start(&tmp.path().join("standby"), KEY, 0);
    let c = client(&peer.base, KEY);
    for pattern in ["data/", "snapshots/"] {
        let out = sync_graph(
            &primary,
            c.as_ref(),
            "g",
            &SyncOptions {
                hooks: SyncHooks {
                    corrupt_keys_containing: Some(pattern.into()),
                    ..SyncHooks::default()
                },
                ..SyncOptions::default()
            },
        );
        assert!(
            out.error
                .as_deref()
                .unwrap_or_default()
                .contains("hash check"),
            "{out:?}"
        );
        assert!(target_snapshot_ids(c.as_ref()).unwrap().is_empty());
    }
    // Keys outside the repository's shapes are refused by the receiver.
    for bad in [
        "locks/00000000000000000001-aaaaaaaa",
        "data/zz/../../config",
        "index/UPPER1234",
    ] {
        let r = c.send(
            bad,
            b"x".to_vec(),
            &lightrag_replication::content_hash(b"x"),
        );
        assert!(r.is_err(), "{bad}");
    }
    assert!(c.list("locks/").is_err());
    let ok = sync_graph(&primary, c.as_ref(), "g", &SyncOptions::default());
    assert!(ok.is_success(), "{ok:?}");
}

/// The standby is killed while objects are in flight (from the sender's own progress, not a
/// timer); after a restart on the same port the sync completes, sending only what the standby
/// does not hold.
#[test]
fn standby_killed_mid_transfer_then_resumed() {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};

    let tmp = tempfile::tempdir().unwrap();
    let graph = tmp.path().join("graph");
    make_graph(&graph, 6_500_000);
    let repo = init_repo(&tmp.path().join("primary"), None);
    let snap = backup(&repo, "g", &graph);
    let primary: Arc<dyn Storage> = repo.storage().clone();
    let total = objects(primary.as_ref()).len() as u64;
    assert!(total >= 8, "{total}");
    let standby_dir = tmp.path().join("standby");
    let peer = TestPeer::start(&standby_dir, KEY, 0);
    let (base, port) = (peer.base.clone(), peer.port);
    let peer = Arc::new(Mutex::new(Some(peer)));
    let count = Arc::new(AtomicU64::new(0));
    let hook = {
        let (peer, count) = (peer.clone(), count.clone());
        lightrag_replication::SentHook(Arc::new(move |_key: &str| {
            if count.fetch_add(1, Ordering::SeqCst) + 1 == 3
                && let Some(p) = peer.lock().unwrap().take()
            {
                p.stop(); // other workers have requests in flight
            }
        }))
    };
    let c = client(&base, KEY);
    let killed = sync_graph(
        &primary,
        c.as_ref(),
        "g",
        &SyncOptions {
            concurrency: 3,
            hooks: SyncHooks {
                after_sent: Some(hook),
                ..SyncHooks::default()
            },
            ..SyncOptions::default()
        },
    );
    assert!(killed.target_unreachable, "{killed:?}");
    assert!(
        target_snapshot_ids(&lightrag_replication::DirectoryTarget::new(&standby_dir))
            .unwrap()
            .is_empty()
    );
    let held = objects(&LocalStorage::new(&standby_dir)).len() as u64;
    assert!(
        held >= killed.objects_sent && held < total,
        "{held} {killed:?}"
    );

    let peer = TestPeer::start(&standby_dir, KEY, port);
    let resumed = sync_graph(&primary, c.as_ref(), "g", &SyncOptions::default());
    assert!(resumed.is_success(), "{resumed:?}");
    // Requests in flight at the kill (at most concurrency - 1 = 2) may still land after `held`
    // was counted (the server's blocking pool finishes them): they are then skipped, not
    // re-sent.
    assert!(resumed.objects_sent <= total - held, "{held} {resumed:?}");
    assert!(
        resumed.objects_sent + 2 >= total - held,
        "{held} {resumed:?}"
    );
    assert!(
        killed.objects_sent + resumed.objects_sent <= total,
        "nothing stored twice"
    );
    assert_eq!(
        objects(&LocalStorage::new(&standby_dir)),
        objects(primary.as_ref())
    );
    let local = Repository::open(Arc::new(LocalStorage::new(&standby_dir)), None).unwrap();
    assert_restores_identical(&local, &snap, &graph, tmp.path());
    peer.stop();
}
