//! Targets and replication state in the recovery DB: CRUD, outcomes, lag while a target is
//! down, back-off, persistence across a pool reopen (SQLite and PostgreSQL).

use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;
use std::time::Duration;

use lightrag_backup::Storage;
use lightrag_recovery_db::{
    BackendKind, TargetKind, find_replication_state, list_replication_states,
};
use lightrag_replication::{
    BackoffPolicy, PeerClient, SyncHooks, SyncOptions, TargetChanges, TargetOpenOptions,
    TargetSpec, attempt_due, create_target, delete_target, find_target, list_targets, open_target,
    refresh_lag, sync_and_record, update_target,
};

use super::support::*;
use super::test_server::TestPeer;

const KEY: &str = "state-test-key";

fn open_opts(secs: u64) -> TargetOpenOptions {
    TargetOpenOptions {
        timeout: Duration::from_secs(secs),
        ..TargetOpenOptions::default()
    }
}

fn target_crud(backend: BackendKind) {
    let parsed: TargetSpec =
        serde_json::from_str(r#"{"kind": "peer", "url": "http://10.0.0.2:9622", "api_key": "k"}"#)
            .unwrap();
    assert_eq!(
        parsed,
        TargetSpec::Peer {
            url: "http://10.0.0.2:9622".into(),
            api_key: Some("k".into())
        }
    );
    let parsed: TargetSpec = serde_json::from_str(r#"{"kind": "path", "path": "/mnt/r"}"#).unwrap();
    assert_eq!(
        parsed,
        TargetSpec::Directory {
            path: "/mnt/r".into()
        }
    );
    assert!(
        serde_json::from_str::<TargetSpec>(r#"{"kind": "path", "path": "/mnt/r", "x": 1}"#)
            .is_err()
    );
    let t = TestDb::new(backend);
    let db = t.connect();
    let mut conn = db.conn().unwrap();
    let dir = create_target(
        &mut conn,
        "nfs",
        &TargetSpec::Directory {
            path: "/mnt/replica/".into(),
        },
        true,
        &TargetOpenOptions::default(),
    )
    .unwrap();
    assert_eq!(
        (dir.kind, dir.url.as_str(), dir.has_secret),
        (TargetKind::Path, "/mnt/replica", false)
    );
    let spec = TargetSpec::Peer {
        url: "https://standby.example:9622/".into(),
        api_key: Some("s3cret".into()),
    };
    assert!(!format!("{spec:?}").contains("s3cret"));
    let peer = create_target(
        &mut conn,
        "standby",
        &spec,
        true,
        &TargetOpenOptions::default(),
    )
    .unwrap();
    assert_eq!(peer.url, "https://standby.example:9622");
    assert!(peer.has_secret);
    assert!(!serde_json::to_string(&peer).unwrap().contains("s3cret"));
    for bad in ["ftp://x", "http://u:p@h", "http://h/#f"] {
        assert!(
            create_target(
                &mut conn,
                "bad",
                &TargetSpec::Peer {
                    url: bad.into(),
                    api_key: None
                },
                true,
                &TargetOpenOptions::default()
            )
            .is_err()
        );
    }
    assert!(
        create_target(
            &mut conn,
            "rel",
            &TargetSpec::Directory {
                path: "relative/dir".into()
            },
            true,
            &TargetOpenOptions::default()
        )
        .is_err()
    );
    assert!(
        create_target(
            &mut conn,
            "bad name!",
            &TargetSpec::Directory { path: "/x".into() },
            true,
            &TargetOpenOptions::default()
        )
        .is_err()
    );
    let to_plain_http = TargetChanges {
        location: Some("http://10.0.0.2:9622".into()),
        enabled: Some(false),
        ..TargetChanges::default()
    };
    // Plain http:// beyond loopback only when the operator allows it (issue 14 #2).
    let err = update_target(
        &mut conn,
        &peer.id,
        &to_plain_http,
        &TargetOpenOptions::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("LIGHTRAG_REPLICATION_ALLOW_HTTP"),
        "{err}"
    );
    let upd = update_target(
        &mut conn,
        &peer.id,
        &to_plain_http,
        &TargetOpenOptions {
            allow_http: true,
            ..TargetOpenOptions::default()
        },
    )
    .unwrap();
    assert_eq!(
        (upd.url.as_str(), upd.enabled, upd.has_secret),
        ("http://10.0.0.2:9622", false, true)
    );
    assert!(
        update_target(
            &mut conn,
            &dir.id,
            &TargetChanges {
                api_key: Some(Some("k".into())),
                ..TargetChanges::default()
            },
            &TargetOpenOptions::default()
        )
        .is_err()
    );
    assert!(
        update_target(
            &mut conn,
            &peer.id,
            &TargetChanges {
                location: Some("gopher://x".into()),
                ..TargetChanges::default()
            },
            &TargetOpenOptions::default()
        )
        .is_err()
    );
    assert_eq!(find_target(&mut conn, "standby").unwrap().id, peer.id);
    assert_eq!(list_targets(&mut conn, None).unwrap().len(), 2);
    assert_eq!(list_targets(&mut conn, Some(true)).unwrap().len(), 1);
    delete_target(&mut conn, &dir.id).unwrap();
    assert_eq!(list_targets(&mut conn, None).unwrap().len(), 1);
}

/// Directory target: lag grows while the target is unusable and falls to 0 after it returns;
/// failures back off; everything survives a pool reopen.
fn directory_lag_and_state_survive_restart(backend: BackendKind) {
    let t = TestDb::new(backend);
    let tmp = tempfile::tempdir().unwrap();
    let graph = tmp.path().join("graph");
    make_graph(&graph, 200_000);
    let repo = init_repo(&tmp.path().join("primary"), None);
    let s1 = backup(&repo, "g", &graph);
    let primary: Arc<dyn Storage> = repo.storage().clone();
    let replica = tmp.path().join("replica");

    let db = t.connect();
    let target = create_target(
        &mut db.conn().unwrap(),
        "dir",
        &TargetSpec::Directory {
            path: replica.clone(),
        },
        true,
        &TargetOpenOptions::default(),
    )
    .unwrap();
    let out = sync_and_record(
        &db,
        &primary,
        &target,
        "g",
        &SyncOptions::default(),
        &open_opts(5),
    )
    .unwrap();
    assert!(out.is_success(), "{out:?}");
    let st = find_replication_state(&mut db.conn().unwrap(), &target.id, "g")
        .unwrap()
        .unwrap();
    assert_eq!((st.lag_ms, st.consecutive_failures), (Some(0), 0));
    assert_eq!(st.last_synced_snapshot_id.as_deref(), Some(s1.as_str()));
    assert_eq!(st.bytes_synced as u64, out.bytes_sent);

    // The target goes away (its path is now a regular file); a new backup happens.
    let away = tmp.path().join("replica.away");
    std::fs::rename(&replica, &away).unwrap();
    std::fs::write(&replica, b"not a directory").unwrap();
    grow_graph(&graph, 1);
    let s2 = backup(&repo, "g", &graph);
    std::thread::sleep(Duration::from_millis(20));
    let failed = sync_and_record(
        &db,
        &primary,
        &target,
        "g",
        &SyncOptions::default(),
        &open_opts(5),
    )
    .unwrap();
    assert!(!failed.is_success());
    assert!(failed.target_unreachable, "{failed:?}");
    assert!(failed.lag_ms > 0, "{failed:?}");
    let st = find_replication_state(&mut db.conn().unwrap(), &target.id, "g")
        .unwrap()
        .unwrap();
    assert_eq!(st.consecutive_failures, 1);
    assert!(st.last_error.is_some());
    assert_eq!(st.last_synced_snapshot_id.as_deref(), Some(s1.as_str()));
    let policy = BackoffPolicy {
        base: Duration::from_secs(3600),
        cap: Duration::from_secs(7200),
    };
    let now = lightrag_recovery_db::Timestamp::now().unix_millis();
    assert!(!attempt_due(Some(&st), &policy, now), "backing off");
    assert!(attempt_due(Some(&st), &policy, now + 7_200_001));
    assert!(attempt_due(None, &policy, now));

    // Idle refresh keeps the lag growing while the target stays down.
    std::thread::sleep(Duration::from_millis(30));
    let store = open_target(&mut db.conn().unwrap(), &target, &open_opts(5)).unwrap();
    let lag1 = refresh_lag(
        &mut db.conn().unwrap(),
        primary.as_ref(),
        Some(store.as_ref()),
        &target.id,
        "g",
    )
    .unwrap();
    assert!(lag1 >= failed.lag_ms, "{lag1} vs {}", failed.lag_ms);
    let s2_ms = lightrag_replication::snapshot_time_ms(&s2).unwrap();
    assert!(lag1 >= lightrag_recovery_db::Timestamp::now().unix_millis() - s2_ms - 1000);

    // Restart: a new pool sees the same state.
    drop(db);
    let db = t.connect();
    let st = find_replication_state(&mut db.conn().unwrap(), &target.id, "g")
        .unwrap()
        .unwrap();
    assert_eq!((st.consecutive_failures, st.lag_ms), (1, Some(lag1)));
    let target = find_target(&mut db.conn().unwrap(), "dir").unwrap();

    // The target returns; the next sync catches up and the lag falls to 0.
    std::fs::remove_file(&replica).unwrap();
    std::fs::rename(&away, &replica).unwrap();
    let ok = sync_and_record(
        &db,
        &primary,
        &target,
        "g",
        &SyncOptions::default(),
        &open_opts(5),
    )
    .unwrap();
    assert!(ok.is_success(), "{ok:?}");
    assert_eq!((ok.lag_ms, ok.snapshots_sent), (0, 1));
    let st = find_replication_state(&mut db.conn().unwrap(), &target.id, "g")
        .unwrap()
        .unwrap();
    assert_eq!(
        (st.lag_ms, st.consecutive_failures, st.last_error.as_deref()),
        (Some(0), 0, None)
    );
    assert_eq!(st.last_synced_snapshot_id.as_deref(), Some(s2.as_str()));
    let lag = refresh_lag(
        &mut db.conn().unwrap(),
        primary.as_ref(),
        Some(store.as_ref()),
        &target.id,
        "g",
    )
    .unwrap();
    assert_eq!(lag, 0);
}

/// Peer target: the standby is stopped mid-sync; lag grows while it is down; after a restart
/// on the same port the sync resumes without re-sending, and the lag falls to 0.
fn peer_killed_mid_sync_resumes(backend: BackendKind) {
    let t = TestDb::new(backend);
    let tmp = tempfile::tempdir().unwrap();
    let graph = tmp.path().join("graph");
    make_graph(&graph, 4_500_000);
    let repo = init_repo(&tmp.path().join("primary"), None);
    let snap = backup(&repo, "g", &graph);
    let primary: Arc<dyn Storage> = repo.storage().clone();
    let total = objects(primary.as_ref()).len() as u64;
    let standby_dir = tmp.path().join("standby");
    let peer = TestPeer::start(&standby_dir, KEY, 0);
    let port = peer.port;
    let db = t.connect();
    let target = create_target(
        &mut db.conn().unwrap(),
        "standby",
        &TargetSpec::Peer {
            url: peer.base.clone(),
            api_key: Some(KEY.into()),
        },
        true,
        &TargetOpenOptions::default(),
    )
    .unwrap();

    let interrupted = SyncOptions {
        concurrency: 2,
        hooks: SyncHooks {
            fail_after_objects: Some(4),
            ..SyncHooks::default()
        },
        ..SyncOptions::default()
    };
    let out = sync_and_record(&db, &primary, &target, "g", &interrupted, &open_opts(10)).unwrap();
    assert_eq!(out.objects_sent, 4);
    peer.stop(); // the standby dies

    std::thread::sleep(Duration::from_millis(20));
    let down = sync_and_record(
        &db,
        &primary,
        &target,
        "g",
        &SyncOptions::default(),
        &open_opts(5),
    )
    .unwrap();
    assert!(down.target_unreachable && !down.unauthenticated, "{down:?}");
    assert_eq!(down.objects_sent, 0);
    let store = open_target(&mut db.conn().unwrap(), &target, &open_opts(5)).unwrap();
    let lag_down = refresh_lag(
        &mut db.conn().unwrap(),
        primary.as_ref(),
        Some(store.as_ref()),
        &target.id,
        "g",
    )
    .unwrap();
    assert!(lag_down > 0);
    std::thread::sleep(Duration::from_millis(20));
    let lag_later = refresh_lag(
        &mut db.conn().unwrap(),
        primary.as_ref(),
        None,
        &target.id,
        "g",
    )
    .unwrap();
    assert!(
        lag_later > lag_down,
        "lag grows while down: {lag_down} → {lag_later}"
    );
    let st = find_replication_state(&mut db.conn().unwrap(), &target.id, "g")
        .unwrap()
        .unwrap();
    assert_eq!(st.consecutive_failures, 2);

    // Primary "restarts" (new pool), standby restarts on the same port.
    drop(db);
    let db = t.connect();
    let peer = TestPeer::start(&standby_dir, KEY, port);
    let target = find_target(&mut db.conn().unwrap(), &target.id).unwrap();
    let ok = sync_and_record(
        &db,
        &primary,
        &target,
        "g",
        &SyncOptions::default(),
        &open_opts(10),
    )
    .unwrap();
    assert!(ok.is_success(), "{ok:?}");
    assert_eq!(ok.objects_sent, total - 4, "nothing sent twice");
    assert_eq!(ok.lag_ms, 0);
    let states = list_replication_states(
        &mut db.conn().unwrap(),
        &Default::default(),
        Default::default(),
    )
    .unwrap();
    assert_eq!(states.len(), 1);
    assert_eq!(
        (states[0].consecutive_failures, states[0].lag_ms),
        (0, Some(0))
    );
    assert_eq!(
        states[0].last_synced_snapshot_id.as_deref(),
        Some(snap.as_str())
    );
    let local = lightrag_backup::Repository::open(
        Arc::new(lightrag_backup::LocalStorage::new(&standby_dir)),
        None,
    )
    .unwrap();
    assert_restores_identical(&local, &snap, &graph, tmp.path());
    // Wrong key → unauthenticated through the DB-defined target too.
    update_target(
        &mut db.conn().unwrap(),
        &target.id,
        &TargetChanges {
            api_key: Some(Some("wrong".into())),
            ..TargetChanges::default()
        },
        &TargetOpenOptions::default(),
    )
    .unwrap();
    let target = find_target(&mut db.conn().unwrap(), &target.id).unwrap();
    let bad = sync_and_record(
        &db,
        &primary,
        &target,
        "g",
        &SyncOptions::default(),
        &open_opts(5),
    )
    .unwrap();
    assert!(bad.unauthenticated, "{bad:?}");
    let _ = PeerClient::new(&peer.base, None, Duration::from_secs(1)).unwrap();
    peer.stop();
}

/// Defect 13.10 through the DB: the time a snapshot was first found forgotten survives
/// between attempts in `replication_state.forgotten_since`, so the grace counts from the
/// first sighting and the target deletes the snapshot only after it.
fn forgotten_grace_is_persisted(backend: BackendKind) {
    let t = TestDb::new(backend);
    let tmp = tempfile::tempdir().unwrap();
    let graph = tmp.path().join("graph");
    make_graph(&graph, 50_000);
    let repo = init_repo(&tmp.path().join("primary"), None);
    let s1 = backup(&repo, "g", &graph);
    grow_graph(&graph, 1);
    let s2 = backup(&repo, "g", &graph);
    let primary: Arc<dyn Storage> = repo.storage().clone();
    let db = t.connect();
    let target = create_target(
        &mut db.conn().unwrap(),
        "dir",
        &TargetSpec::Directory {
            path: tmp.path().join("replica"),
        },
        true,
        &TargetOpenOptions::default(),
    )
    .unwrap();
    let t0: i64 = 1_800_000_000_000;
    let at = |ms: i64| SyncOptions {
        now_ms: Some(ms),
        delete_grace: Duration::from_secs(3600),
        ..SyncOptions::default()
    };
    let sync =
        |ms: i64| sync_and_record(&db, &primary, &target, "g", &at(ms), &open_opts(5)).unwrap();
    assert!(sync(t0).is_success());
    repo.delete_snapshot(&s1).unwrap();
    let out = sync(t0 + 1_000);
    assert_eq!(
        (out.snapshots_deleted, out.snapshots_retained),
        (0, 1),
        "{out:?}"
    );
    let st = find_replication_state(&mut db.conn().unwrap(), &target.id, "g")
        .unwrap()
        .unwrap();
    assert_eq!(
        lightrag_replication::forgotten_since(&st),
        [(s1.clone(), t0 + 1_000)].into_iter().collect()
    );
    // A later sync within the grace keeps the first sighting.
    let out = sync(t0 + 3_000_000);
    assert_eq!(out.snapshots_retained, 1, "{out:?}");
    let out = sync(t0 + 1_000 + 3_600_000);
    assert_eq!(out.snapshots_deleted, 1, "{out:?}");
    let st = find_replication_state(&mut db.conn().unwrap(), &target.id, "g")
        .unwrap()
        .unwrap();
    assert_eq!(st.forgotten_since, None);
    let on_target = lightrag_replication::target_snapshot_ids(
        &*open_target(&mut db.conn().unwrap(), &target, &open_opts(5)).unwrap(),
    )
    .unwrap();
    assert_eq!(on_target["g"], vec![s2]);
}

/// Issue 14 #2: peer targets at plain http:// to another host are refused when defined
/// (whatever the caller) and when a stored one is opened, unless allowed.
fn plain_http_peers_are_refused_unless_allowed(backend: BackendKind) {
    let t = TestDb::new(backend);
    let mut conn = t.db().conn().unwrap();
    let remote = TargetSpec::Peer {
        url: "http://192.0.2.10:9622".into(),
        api_key: Some("receive-key-0123456789".into()),
    };
    let err = create_target(&mut conn, "remote", &remote, true, &open_opts(1)).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("LIGHTRAG_REPLICATION_ALLOW_HTTP"), "{msg}");
    assert!(!msg.contains("receive-key"), "{msg}");
    assert!(
        list_targets(&mut conn, None).unwrap().is_empty(),
        "nothing stored"
    );
    // Loopback and https are fine; so is http when allowed.
    for (name, url) in [
        ("local", "http://127.0.0.1:9622"),
        ("tls", "https://192.0.2.10:9622"),
    ] {
        let spec = TargetSpec::Peer {
            url: url.into(),
            api_key: None,
        };
        create_target(&mut conn, name, &spec, true, &open_opts(1)).unwrap();
    }
    let allow = TargetOpenOptions {
        allow_http: true,
        ..open_opts(1)
    };
    let stored = create_target(&mut conn, "remote", &remote, true, &allow).unwrap();
    // A stored plain-http target (allowed once, or made by an older version) is refused at
    // sync time when the setting is off again: its key is never sent.
    let err = open_target(&mut conn, &stored, &open_opts(1)).expect_err("refused");
    assert!(
        err.to_string().contains("LIGHTRAG_REPLICATION_ALLOW_HTTP"),
        "{err}"
    );
    open_target(&mut conn, &stored, &allow).unwrap();
}

/// Issue 14 #2: target secrets are sealed in the catalog with a key kept beside it (0600),
/// never readable from the catalog alone; rows stored in plain text by an older version keep
/// working and are sealed when next read; a missing key file or another key is a clear error.
fn target_secrets_are_sealed_at_rest(backend: BackendKind) {
    let t = TestDb::new(backend);
    let tmp = tempfile::tempdir().unwrap();
    let standby_dir = tmp.path().join("standby");
    let peer = TestPeer::start(&standby_dir, KEY, 0);
    let key_file = tmp.path().join("secrets.key");
    let opts = TargetOpenOptions {
        secret_key_file: Some(key_file.clone()),
        ..open_opts(10)
    };
    let db = t.connect();
    let mut conn = db.conn().unwrap();
    let target = create_target(
        &mut conn,
        "standby",
        &TargetSpec::Peer {
            url: peer.base.clone(),
            api_key: Some(KEY.into()),
        },
        true,
        &opts,
    )
    .unwrap();
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the key file is private");
    let raw = lightrag_recovery_db::get_replication_target_secret(&mut conn, &target.id)
        .unwrap()
        .secret
        .unwrap();
    assert!(raw.starts_with("lrs1:"), "sealed: {raw:.12}");
    assert!(!raw.contains(KEY));
    // Object-store credentials are sealed the same way.
    let os = create_target(
        &mut conn,
        "bucket",
        &TargetSpec::ObjectStore {
            url: "s3://bucket/replica".into(),
            credentials: [(
                "aws_secret_access_key".to_owned(),
                "AWS-SECRET-1234".to_owned(),
            )]
            .into(),
        },
        true,
        &opts,
    )
    .unwrap();
    let raw_os = lightrag_recovery_db::get_replication_target_secret(&mut conn, &os.id)
        .unwrap()
        .secret
        .unwrap();
    assert!(raw_os.starts_with("lrs1:") && !raw_os.contains("AWS-SECRET"));
    // The sealed secret opens: the peer accepts the key.
    let store = open_target(&mut conn, &target, &opts).unwrap();
    assert!(store.status().is_ok());

    // A row written in plain text (as before this change) still works, and is sealed when read.
    lightrag_recovery_db::create_replication_target(
        &mut conn,
        &lightrag_recovery_db::NewReplicationTarget {
            id: "tgt-legacy".into(),
            name: "legacy".into(),
            kind: TargetKind::Peer,
            url: peer.base.clone(),
            secret: Some(KEY.into()),
            enabled: true,
        },
    )
    .unwrap();
    let legacy = find_target(&mut conn, "legacy").unwrap();
    let store = open_target(&mut conn, &legacy, &opts).unwrap();
    assert!(store.status().is_ok(), "the plain-text row still opens");
    let raw = lightrag_recovery_db::get_replication_target_secret(&mut conn, "tgt-legacy")
        .unwrap()
        .secret
        .unwrap();
    assert!(
        raw.starts_with("lrs1:") && !raw.contains(KEY),
        "sealed on read"
    );
    assert_eq!(
        find_target(&mut conn, "legacy").unwrap().updated_at,
        legacy.updated_at,
        "sealing is not a change of the target"
    );
    let store = open_target(&mut conn, &legacy, &opts).unwrap();
    assert!(store.status().is_ok(), "and opens sealed");

    // Reading the catalog alone reveals no secret: every file of a SQLite catalog.
    if let Some(path) = t.config.sqlite_path() {
        drop(conn);
        drop(db);
        let dir = path.parent().unwrap();
        // The test's own pool (`t.db`) stays open, as a running server's would.
        for entry in std::fs::read_dir(dir).unwrap() {
            let file = entry.unwrap().path();
            let bytes = std::fs::read(&file).unwrap();
            for secret in [KEY, "AWS-SECRET-1234"] {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "{} holds the secret {secret:?} in clear",
                    file.display()
                );
            }
        }
    }
    let db = t.connect();
    let mut conn = db.conn().unwrap();

    // Without the key file, or with another key, the secret cannot be opened: a clear error.
    let other = TargetOpenOptions {
        secret_key_file: Some(tmp.path().join("other.key")),
        ..open_opts(10)
    };
    let err = open_target(&mut conn, &target, &other).expect_err("missing key");
    assert!(err.to_string().contains("other.key"), "{err}");
    assert!(err.to_string().contains("missing"), "{err}");
    create_target(
        &mut conn,
        "make-other-key",
        &TargetSpec::Peer {
            url: peer.base.clone(),
            api_key: Some("x".into()),
        },
        true,
        &other,
    )
    .unwrap();
    let err = open_target(&mut conn, &target, &other).expect_err("wrong key");
    assert!(err.to_string().contains("does not open"), "{err}");
    assert!(!err.to_string().contains(KEY), "{err}");
}

crate::both_backends!(
    plain_http_peers_are_refused_unless_allowed,
    target_secrets_are_sealed_at_rest,
    forgotten_grace_is_persisted,
    target_crud,
    directory_lag_and_state_survive_restart,
    peer_killed_mid_sync_resumes
);
