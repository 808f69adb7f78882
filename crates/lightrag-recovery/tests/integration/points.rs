//! Recovery points on both backends.

use lightrag_backup::{BackupOptions, NoProgress};
use lightrag_recovery::{CreatePointRequest, RecoveryError};
use lightrag_recovery_db::{Page, RecoveryPointFilter, find_backup};

use super::common::{Env, GRAPHS, copy_fixture, tree};
use super::support::TestDb;

crate::both_backends!(
    point_over_three_graphs_survives_pool_reopen,
    pin_latest_needs_a_snapshot_and_fills_the_catalog,
    delete_keeps_snapshots_other_points_pin,
    mapped_graph_is_recreated_under_its_folder_name,
);

fn req(graphs: &[&str], fresh: bool) -> CreatePointRequest {
    CreatePointRequest {
        graph_ids: graphs.iter().map(|s| s.to_string()).collect(),
        description: "before upgrade".into(),
        created_by: Some("test".into()),
        fresh_backup: fresh,
    }
}

fn point_over_three_graphs_survives_pool_reopen(t: &mut TestDb) {
    let env = Env::new().unwrap();
    let m = env.manager(t.db().clone());
    let p = m.create_point(&env.repo, &req(&GRAPHS, true)).unwrap();
    assert_eq!(p.snapshots.len(), 3);
    let pinned = m.pinned_snapshots().unwrap();
    assert_eq!(pinned.len(), 3);

    // Close every connection, open a new pool ("server restart").
    drop(m);
    t.db.take();
    let db = t.connect();
    let m = env.manager(db);
    let got = m.get_point(&p.point.id).unwrap();
    assert_eq!(got, p);
    assert_eq!(got.point.description, "before upgrade");
    let graphs: Vec<_> = got.snapshots.iter().map(|s| s.graph_id.as_str()).collect();
    assert_eq!(graphs, GRAPHS);
    for s in &got.snapshots {
        // Pinned snapshot really is in the repository and is that graph's.
        let man = env.repo.snapshot(&s.snapshot_id).unwrap();
        assert_eq!(man.graph_id, s.graph_id);
    }
    let listed = m
        .list_points(&RecoveryPointFilter::default(), Page::default())
        .unwrap();
    assert_eq!(listed.len(), 1);
    let mut pinned2 = m.pinned_snapshots().unwrap();
    pinned2.sort();
    let mut pinned = pinned;
    pinned.sort();
    assert_eq!(pinned, pinned2);
}

fn pin_latest_needs_a_snapshot_and_fills_the_catalog(t: &mut TestDb) {
    let env = Env::new().unwrap();
    let m = env.manager(t.db().clone());
    let err = m
        .create_point(&env.repo, &req(&["alpha"], false))
        .unwrap_err();
    assert!(
        matches!(err, RecoveryError::NoSnapshot(ref g) if g == "alpha"),
        "{err}"
    );
    assert!(err.to_string().contains("take a backup first"));

    // Backups taken outside the manager (not in the catalog yet): two of alpha, newest pinned.
    let o = BackupOptions::default();
    env.repo
        .backup("alpha", &env.work.join("alpha"), &o, &NoProgress)
        .unwrap();
    std::fs::write(env.work.join("alpha/kv_store_full_docs.json"), "{}").unwrap();
    let newest = env
        .repo
        .backup("alpha", &env.work.join("alpha"), &o, &NoProgress)
        .unwrap()
        .snapshot
        .id;
    let p = m.create_point(&env.repo, &req(&["alpha"], false)).unwrap();
    assert_eq!(p.snapshots[0].snapshot_id, newest);
    let row = find_backup(&mut t.db().conn().unwrap(), &newest)
        .unwrap()
        .expect("catalog row");
    assert_eq!(row.graph_id, "alpha");

    let err = m
        .create_point(&env.repo, &req(&["alpha", "alpha"], false))
        .unwrap_err();
    assert!(matches!(err, RecoveryError::InvalidRequest(_)), "{err}");
    let err = m.create_point(&env.repo, &req(&[], false)).unwrap_err();
    assert!(matches!(err, RecoveryError::InvalidRequest(_)), "{err}");
    let err = m
        .create_point(&env.repo, &req(&["../etc"], false))
        .unwrap_err();
    assert!(matches!(err, RecoveryError::InvalidGraphId(_)), "{err}");
    let err = m
        .create_point(&env.repo, &req(&["nope"], true))
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

fn delete_keeps_snapshots_other_points_pin(t: &mut TestDb) {
    let env = Env::new().unwrap();
    let m = env.manager(t.db().clone());
    let a = m
        .create_point(&env.repo, &req(&["alpha", "beta"], true))
        .unwrap();
    // b pins the same latest snapshots of alpha and beta; c pins gamma only.
    let b = m
        .create_point(&env.repo, &req(&["alpha", "beta"], false))
        .unwrap();
    assert_eq!(
        a.snapshots
            .iter()
            .map(|s| &s.snapshot_id)
            .collect::<Vec<_>>(),
        b.snapshots
            .iter()
            .map(|s| &s.snapshot_id)
            .collect::<Vec<_>>()
    );
    let c = m.create_point(&env.repo, &req(&["gamma"], true)).unwrap();
    let d = m.delete_point(&a.point.id).unwrap();
    assert!(d.released.is_empty());
    assert_eq!(d.still_pinned.len(), 2);
    let d = m.delete_point(&c.point.id).unwrap();
    assert_eq!(d.released, vec![c.snapshots[0].snapshot_id.clone()]);
    // Snapshots themselves are never deleted.
    env.repo.snapshot(&c.snapshots[0].snapshot_id).unwrap();
    assert_eq!(m.pinned_snapshots().unwrap().len(), 2);
    let err = m.delete_point(&a.point.id).unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

/// Disaster recovery on a fresh host: a graph whose id was mapped from its folder's name
/// (`備援`) comes back in a folder of that name, where LightRAG looks for it, not in one named
/// after the id.
fn mapped_graph_is_recreated_under_its_folder_name(t: &mut TestDb) {
    let env = Env::new().unwrap();
    let folder = env.work.join("備援");
    copy_fixture("adamaslan-dickens", &folder).unwrap();
    let id = lightrag_recovery::graph_id_for_folder("備援");
    let m = env.manager(t.db().clone());
    let p = m.create_point(&env.repo, &req(&[&id], true)).unwrap();
    let before = tree(&folder).unwrap();
    std::fs::remove_dir_all(&folder).unwrap();
    // The catalog no longer knows where the graph lived.
    let mut conn = t.db().conn().unwrap();
    if lightrag_recovery_db::find_graph(&mut conn, &id)
        .unwrap()
        .is_some()
    {
        lightrag_recovery_db::delete_graph(&mut conn, &id).unwrap();
    }
    drop(conn);
    let opts = lightrag_recovery::RestorePointOptions {
        in_place: true,
        force: true,
        ..Default::default()
    };
    m.restore_point(&env.repo, None, &p.point.id, &opts)
        .unwrap();
    assert_eq!(
        tree(&folder).unwrap(),
        before,
        "restored under its own name"
    );
    assert!(!env.work.join(&id).exists(), "no folder named after the id");
    // Discovery finds it under the same id again.
    let d = lightrag_recovery::discover_graphs(&env.work).unwrap();
    assert_eq!(d.get(&id).unwrap().path, folder);
}
