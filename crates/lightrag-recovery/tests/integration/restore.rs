//! Restore / failover of recovery points.

use std::collections::BTreeMap;

use lightrag_recovery::{CreatePointRequest, RecoveryError, RestorePointOptions, discover_graphs};
use lightrag_recovery_db::{EventFilter, EventKind, Page, find_graph, list_events};

use super::common::{Env, GRAPHS, copy_dir, open_repo, tree};
use super::support::TestDb;

crate::both_backends!(
    failure_in_second_graph_rolls_back_the_first,
    failure_without_safety_snapshots_puts_back_what_was_swapped,
    failover_from_replica_with_primary_deleted,
    failover_safety_snapshots_go_to_the_primary_not_the_replica,
    restore_into_new_ids,
    live_graph_refused_unless_forced,
);

type Tree = BTreeMap<String, Vec<u8>>;

fn snapshot_trees(env: &Env) -> Vec<Tree> {
    GRAPHS
        .iter()
        .map(|g| tree(&env.work.join(g)).unwrap())
        .collect()
}

fn point(t: &TestDb, env: &Env) -> String {
    let req = CreatePointRequest {
        graph_ids: GRAPHS.iter().map(|s| s.to_string()).collect(),
        fresh_backup: true,
        ..Default::default()
    };
    env.manager(t.db().clone())
        .create_point(&env.repo, &req)
        .unwrap()
        .point
        .id
}

/// Change every graph after the point was taken (a new doc, a removed file).
fn mutate(env: &Env) {
    for g in GRAPHS {
        std::fs::write(
            env.work.join(g).join("kv_store_full_docs.json"),
            format!(r#"{{"changed": "{g}"}}"#),
        )
        .unwrap();
        std::fs::remove_file(env.work.join(g).join("vdb_chunks.json")).unwrap();
    }
}

fn in_place() -> RestorePointOptions {
    RestorePointOptions {
        in_place: true,
        force: true,
        ..Default::default()
    }
}

fn failure_in_second_graph_rolls_back_the_first(t: &mut TestDb) {
    let env = Env::new().unwrap();
    let original = snapshot_trees(&env);
    let id = point(t, &env);
    mutate(&env);
    let changed = snapshot_trees(&env);
    assert_ne!(original, changed);
    let m = env.manager(t.db().clone());

    let opts = RestorePointOptions {
        fail_before_swap_of: Some("beta".into()),
        ..in_place()
    };
    let err = m.restore_point(&env.repo, None, &id, &opts).unwrap_err();
    match &err {
        RecoveryError::RestoreFailed {
            graph,
            rolled_back,
            rollback_failed,
            ..
        } => {
            assert_eq!(graph, "beta");
            assert_eq!(rolled_back, &vec!["alpha".to_string()]);
            assert!(rollback_failed.is_empty());
        }
        other => panic!("unexpected {other}"),
    }
    assert!(err.to_string().contains("rolled back: [alpha]"), "{err}");
    // The set is consistent: every graph is as it was before the attempt.
    assert_eq!(snapshot_trees(&env), changed);
    // No staging leftovers in the working dir.
    let d = discover_graphs(&env.work).unwrap();
    assert_eq!(d.graphs.len(), 3);
    assert!(d.skipped.is_empty(), "{:?}", d.skipped);

    // Without the failure every graph comes back to the point.
    let r = m.restore_point(&env.repo, None, &id, &in_place()).unwrap();
    assert_eq!(r.graphs.len(), 3);
    assert!(r.graphs.iter().all(|g| g.safety_snapshot.is_some()));
    assert!(r.next_step.contains("restart LightRAG"), "{}", r.next_step);
    assert_eq!(snapshot_trees(&env), original);

    let events = list_events(
        &mut t.db().conn().unwrap(),
        &EventFilter {
            kind: Some(EventKind::Restore),
            ..Default::default()
        },
        Page::default(),
    )
    .unwrap();
    let types: Vec<_> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert!(types.contains(&"restore.failed"), "{types:?}");
    assert_eq!(
        types.iter().filter(|t| **t == "restore.completed").count(),
        4,
        "{types:?}"
    );
}

fn failover_from_replica_with_primary_deleted(t: &mut TestDb) {
    let env = Env::new().unwrap();
    let original = snapshot_trees(&env);
    let id = point(t, &env);
    // A directory replication target is another repository path; a full sync = a copy.
    let replica_path = env.dir.path().join("replica");
    copy_dir(&env.repo_path, &replica_path).unwrap();
    std::fs::remove_dir_all(&env.repo_path).unwrap();
    assert!(open_repo(&env.repo_path).is_err());
    mutate(&env);
    std::fs::remove_dir_all(env.work.join("gamma")).unwrap(); // a graph lost entirely

    let m = env.manager(t.db().clone());
    let replica_before = snapshot_ids(&open_repo(&replica_path).unwrap());
    // The replica is a registered directory replication target, opened by name.
    let target = lightrag_recovery_db::NewReplicationTarget {
        id: "t-dr".into(),
        name: "dr".into(),
        kind: lightrag_recovery_db::TargetKind::Path,
        url: replica_path.display().to_string(),
        secret: None,
        enabled: true,
    };
    lightrag_recovery_db::create_replication_target(&mut t.db().conn().unwrap(), &target).unwrap();
    let replica = m.open_target_repository("dr", None).unwrap();
    assert_eq!(replica.id(), open_repo(&replica_path).unwrap().id());
    assert!(
        m.open_target_repository("nope", None)
            .unwrap_err()
            .is_not_found()
    );
    // The point still proves restorable from the replica.
    assert!(m.validate_point(&replica, &id).unwrap().ok);
    let r = m
        .failover_point(&replica, None, None, &id, &in_place())
        .unwrap();
    assert_eq!(r.source_repository, replica.id());
    assert_eq!(snapshot_trees(&env), original);
    assert!(
        r.graphs[2].safety_snapshot.is_none(),
        "gamma did not exist: nothing to save"
    );
    // Defect 9: the primary is gone, so the safety snapshots of the current state went to the
    // local safety repository — not into the replica, whose next sync would delete them.
    assert_eq!(snapshot_ids(&replica), replica_before, "replica untouched");
    let local_path = env.work.join(".lightrag-ops/safety-repository");
    assert_eq!(
        r.safety_repository.as_deref(),
        Some(local_path.display().to_string().as_str())
    );
    let local = open_repo(&local_path).unwrap();
    let safety: Vec<String> = r
        .graphs
        .iter()
        .filter_map(|g| g.safety_snapshot.clone())
        .collect();
    assert_eq!(safety.len(), 2);
    assert_eq!(snapshot_ids(&local), safety.iter().cloned().collect());
    // The local safety repository is not a graph and not part of `default`.
    assert_eq!(discover_graphs(&env.work).unwrap().graphs.len(), 3);
}

fn snapshot_ids(repo: &lightrag_backup::Repository) -> std::collections::BTreeSet<String> {
    repo.snapshots(None)
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect()
}

/// Defect 9: an in-place failover wrote its safety snapshots into the replica it restored
/// from (read-only on a peer; deleted by the next sync on a directory target). They go to the
/// primary while it is reachable.
fn failover_safety_snapshots_go_to_the_primary_not_the_replica(t: &mut TestDb) {
    let env = Env::new().unwrap();
    let original = snapshot_trees(&env);
    let id = point(t, &env);
    let replica_path = env.dir.path().join("replica");
    copy_dir(&env.repo_path, &replica_path).unwrap();
    let replica = open_repo(&replica_path).unwrap();
    let replica_before = snapshot_ids(&replica);
    let primary_before = snapshot_ids(&env.repo);
    mutate(&env);
    let changed = snapshot_trees(&env);
    let m = env.manager(t.db().clone());
    let r = m
        .failover_point(&replica, Some(&env.repo), None, &id, &in_place())
        .unwrap();
    assert_eq!(snapshot_trees(&env), original);
    assert_eq!(
        snapshot_ids(&replica),
        replica_before,
        "replica gained nothing"
    );
    let safety: std::collections::BTreeSet<String> = r
        .graphs
        .iter()
        .map(|g| g.safety_snapshot.clone().unwrap())
        .collect();
    let gained: std::collections::BTreeSet<String> = snapshot_ids(&env.repo)
        .difference(&primary_before)
        .cloned()
        .collect();
    assert_eq!(gained, safety, "the safety snapshots are in the primary");
    assert_eq!(
        r.safety_repository,
        Some(env.repo.storage().location()),
        "the report says where they are"
    );
    // The safety snapshot holds the state just replaced.
    let beta_safety = r.graphs[1].safety_snapshot.clone().unwrap();
    let back = env.dir.path().join("beta-back");
    env.repo
        .restore(
            &beta_safety,
            &back,
            &lightrag_backup::RestoreOptions::default(),
            &lightrag_backup::NoProgress,
        )
        .unwrap();
    assert_eq!(tree(&back).unwrap(), changed[1]);
    assert!(
        !env.work.join(".lightrag-ops").exists(),
        "no local safety repository needed"
    );

    // One snapshot from the replica (the CLI's `restore --from-target --in-place`): same rule.
    let before = snapshot_ids(&env.repo);
    let snap = m.get_point(&id).unwrap().snapshots[0].snapshot_id.clone();
    let one = m
        .failover_snapshot(
            &replica,
            Some(&env.repo),
            None,
            &snap,
            &lightrag_recovery::RestoreSnapshotOptions {
                in_place: true,
                force: true,
                ..Default::default()
            },
            &lightrag_backup::NoProgress,
        )
        .unwrap();
    assert_eq!(snapshot_ids(&replica), replica_before);
    let s = one.safety_snapshot.unwrap();
    assert!(snapshot_ids(&env.repo).contains(&s) && !before.contains(&s));
}

/// Defect 3: with `skip_safety_snapshot`, a failure at the 2nd graph deleted the 1st graph's
/// folder ("no safety snapshot" was taken for "did not exist") and reported it rolled back.
fn failure_without_safety_snapshots_puts_back_what_was_swapped(t: &mut TestDb) {
    let env = Env::new().unwrap();
    let id = point(t, &env);
    mutate(&env);
    let changed = snapshot_trees(&env);
    let m = env.manager(t.db().clone());
    let before = snapshot_ids(&env.repo);
    let opts = RestorePointOptions {
        skip_safety_snapshot: true,
        fail_before_swap_of: Some("beta".into()),
        ..in_place()
    };
    let err = m.restore_point(&env.repo, None, &id, &opts).unwrap_err();
    match &err {
        RecoveryError::RestoreFailed {
            graph,
            rolled_back,
            rollback_failed,
            ..
        } => {
            assert_eq!(graph, "beta");
            assert_eq!(rolled_back, &vec!["alpha".to_string()]);
            assert!(rollback_failed.is_empty(), "{rollback_failed:?}");
        }
        other => panic!("unexpected {other}"),
    }
    assert!(
        env.work.join("alpha").is_dir(),
        "alpha's folder still exists"
    );
    assert_eq!(
        snapshot_trees(&env),
        changed,
        "every graph as before the attempt"
    );
    assert_eq!(
        snapshot_ids(&env.repo),
        before,
        "no safety snapshot was taken"
    );
    let names: Vec<String> = std::fs::read_dir(&env.work)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "no kept copy or staging left: {names:?}");
    // Test hooks are unreachable from request bodies.
    let body = r#"{"in_place": true, "fail_before_swap_of": "beta"}"#;
    assert!(serde_json::from_str::<RestorePointOptions>(body).is_err());
    let ok: RestorePointOptions = serde_json::from_str(r#"{"in_place": true}"#).unwrap();
    assert!(ok.fail_before_swap_of.is_none());
    assert!(
        !serde_json::to_string(&opts)
            .unwrap()
            .contains("fail_before_swap_of")
    );
    // And without the hook the same options restore the point.
    let r = m
        .restore_point(
            &env.repo,
            None,
            &id,
            &RestorePointOptions {
                fail_before_swap_of: None,
                ..opts
            },
        )
        .unwrap();
    assert!(r.graphs.iter().all(|g| g.safety_snapshot.is_none()));
    assert_ne!(snapshot_trees(&env), changed);
}

fn restore_into_new_ids(t: &mut TestDb) {
    let env = Env::new().unwrap();
    let original = snapshot_trees(&env);
    let id = point(t, &env);
    mutate(&env);
    let m = env.manager(t.db().clone());
    let mut opts = RestorePointOptions {
        id_suffix: Some("-restored".into()),
        ..Default::default()
    };
    opts.new_ids.insert("beta".into(), "beta2".into());
    let r = m.restore_point(&env.repo, None, &id, &opts).unwrap();
    let ids: Vec<_> = r
        .graphs
        .iter()
        .map(|g| g.target_graph_id.as_str())
        .collect();
    assert_eq!(ids, ["alpha-restored", "beta2", "gamma-restored"]);
    for (i, g) in ids.iter().enumerate() {
        assert_eq!(tree(&env.work.join(g)).unwrap(), original[i], "{g}");
        assert!(
            find_graph(&mut t.db().conn().unwrap(), g)
                .unwrap()
                .is_some()
        );
    }
    assert_eq!(discover_graphs(&env.work).unwrap().graphs.len(), 6);
    // Again: the targets are taken now.
    let err = m.restore_point(&env.repo, None, &id, &opts).unwrap_err();
    assert!(matches!(err, RecoveryError::TargetNotEmpty { .. }), "{err}");
    let bad = RestorePointOptions {
        id_suffix: Some("/../x".into()),
        ..Default::default()
    };
    let err = m.restore_point(&env.repo, None, &id, &bad).unwrap_err();
    assert!(matches!(err, RecoveryError::InvalidGraphId(_)), "{err}");
    let none = RestorePointOptions::default();
    assert!(matches!(
        m.restore_point(&env.repo, None, &id, &none).unwrap_err(),
        RecoveryError::InvalidRequest(_)
    ));
}

fn live_graph_refused_unless_forced(t: &mut TestDb) {
    let env = Env::new().unwrap();
    let id = point(t, &env);
    mutate(&env);
    let changed = snapshot_trees(&env);
    let mut m_opts = env.manager(t.db().clone()).options().clone();
    m_opts.live_window = std::time::Duration::from_secs(3600);
    let m = lightrag_recovery::RecoveryManager::new(t.db().clone(), m_opts);
    let opts = RestorePointOptions {
        in_place: true,
        ..Default::default()
    };
    let err = m.restore_point(&env.repo, None, &id, &opts).unwrap_err();
    assert!(
        matches!(err, RecoveryError::GraphLooksLive { ref graph, .. } if graph == "alpha"),
        "{err}"
    );
    assert!(err.to_string().contains("stop LightRAG"));
    assert_eq!(snapshot_trees(&env), changed, "nothing touched");
    m.restore_point(
        &env.repo,
        None,
        &id,
        &RestorePointOptions {
            force: true,
            ..opts
        },
    )
    .unwrap();
}

mod root_graph {
    use super::*;

    crate::both_backends!(
        default_graph_in_place_leaves_sibling_graphs_alone,
        rollback_covers_the_default_graph,
        snapshot_of_default_with_subfolders_never_touches_them,
    );

    fn whole(env: &Env) -> Tree {
        tree(&env.work).unwrap()
    }

    fn rollback_covers_the_default_graph(t: &mut TestDb) {
        let env = Env::new().unwrap();
        super::super::common::copy_fixture("bingofhy-rag_storage", &env.work).unwrap();
        let m = env.manager(t.db().clone());
        let ids = vec![
            "alpha".to_string(),
            "default".to_string(),
            "gamma".to_string(),
        ];
        let req = CreatePointRequest {
            graph_ids: ids,
            fresh_backup: true,
            ..Default::default()
        };
        let id = m.create_point(&env.repo, &req).unwrap().point.id;
        let original = whole(&env);
        // Change the root graph (one file changed, one added, one removed) and alpha.
        std::fs::write(env.work.join("kv_store_full_docs.json"), "{}").unwrap();
        std::fs::write(env.work.join("kv_store_extra.json"), "{}").unwrap();
        std::fs::remove_file(env.work.join("vdb_chunks.json")).unwrap();
        std::fs::write(env.work.join("alpha/kv_store_full_docs.json"), "{}").unwrap();
        let changed = whole(&env);
        let opts = RestorePointOptions {
            fail_before_swap_of: Some("gamma".into()),
            ..in_place()
        };
        let err = m.restore_point(&env.repo, None, &id, &opts).unwrap_err();
        assert!(
            err.to_string().contains("rolled back: [alpha, default]"),
            "{err}"
        );
        assert_eq!(whole(&env), changed);
        m.restore_point(&env.repo, None, &id, &in_place()).unwrap();
        let mut expected = original;
        // Files the snapshot does not know are left in the working dir (file-level swap).
        expected.insert("kv_store_extra.json".into(), b"{}".to_vec());
        assert_eq!(whole(&env), expected);
    }

    fn snapshot_of_default_with_subfolders_never_touches_them(t: &mut TestDb) {
        let env = Env::new().unwrap();
        super::super::common::copy_fixture("adamaslan-dickens", &env.work).unwrap();
        // A backup of `default` taken by a tool that did not exclude the subfolders.
        let o = lightrag_backup::BackupOptions::default();
        let snap = env
            .repo
            .backup("default", &env.work, &o, &lightrag_backup::NoProgress)
            .unwrap()
            .snapshot;
        assert!(
            env.repo
                .snapshot(&snap.id)
                .unwrap()
                .files
                .iter()
                .any(|f| f.path.starts_with("alpha/"))
        );
        let m = env.manager(t.db().clone());
        let req = CreatePointRequest {
            graph_ids: vec!["default".into()],
            ..Default::default()
        };
        let id = m.create_point(&env.repo, &req).unwrap().point.id;
        std::fs::write(env.work.join("alpha/kv_store_full_docs.json"), "{}").unwrap();
        std::fs::write(env.work.join("kv_store_full_docs.json"), "{}").unwrap();
        let alpha_now = tree(&env.work.join("alpha")).unwrap();
        m.restore_point(&env.repo, None, &id, &in_place()).unwrap();
        assert_eq!(
            tree(&env.work.join("alpha")).unwrap(),
            alpha_now,
            "subfolder untouched"
        );
        let root_doc = std::fs::read(env.work.join("kv_store_full_docs.json")).unwrap();
        assert_ne!(root_doc, b"{}", "root file restored");
    }

    fn default_graph_in_place_leaves_sibling_graphs_alone(t: &mut TestDb) {
        let env = Env::new().unwrap();
        // Root files = graph `default`, next to the three workspace graphs.
        super::super::common::copy_fixture("adamaslan-dickens", &env.work).unwrap();
        let root_files = |env: &Env| -> Tree {
            tree(&env.work)
                .unwrap()
                .into_iter()
                .filter(|(k, _)| !k.contains('/'))
                .collect()
        };
        let before_root = root_files(&env);
        let before_ws = snapshot_trees(&env);
        let m = env.manager(t.db().clone());
        let req = CreatePointRequest {
            graph_ids: vec!["default".into()],
            fresh_backup: true,
            ..Default::default()
        };
        let id = m.create_point(&env.repo, &req).unwrap().point.id;
        // The snapshot of `default` holds only the root files.
        let pin = &m.get_point(&id).unwrap().snapshots[0];
        assert_eq!(env.repo.snapshot(&pin.snapshot_id).unwrap().files.len(), 8);
        std::fs::write(env.work.join("kv_store_full_docs.json"), "{}").unwrap();
        std::fs::write(env.work.join("alpha/kv_store_full_docs.json"), "{}").unwrap();
        let ws_changed = snapshot_trees(&env);
        m.restore_point(&env.repo, None, &id, &in_place()).unwrap();
        assert_eq!(root_files(&env), before_root);
        assert_eq!(snapshot_trees(&env), ws_changed, "sibling graphs untouched");
        assert_ne!(ws_changed, before_ws);
    }
}
