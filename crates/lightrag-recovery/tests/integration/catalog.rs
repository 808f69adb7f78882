//! Catalog rebuild from repository manifests.

use lightrag_recovery::CreatePointRequest;
use lightrag_recovery_db::{
    BackupFilter, BackupTrigger, Db, DbConfig, Page, RecoveryPointFilter, delete_backup,
    list_backups, list_recovery_points, run_migrations,
};

use super::common::{Env, GRAPHS};
use super::support::TestDb;

crate::both_backends!(rebuild_after_catalog_emptied);

fn catalog_ids(db: &Db) -> Vec<String> {
    let mut ids: Vec<String> = list_backups(
        &mut db.conn().unwrap(),
        &BackupFilter::default(),
        Page::new(1000, 0),
    )
    .unwrap()
    .into_iter()
    .map(|b| b.snapshot_id)
    .collect();
    ids.sort();
    ids
}

fn repo_ids(env: &Env) -> Vec<String> {
    let mut ids: Vec<String> = env
        .repo
        .snapshots(None)
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    ids.sort();
    ids
}

fn backups(env: &Env, db: &Db) {
    let m = env.manager(db.clone());
    for g in GRAPHS {
        m.backup_graph(&env.repo, g, BackupTrigger::Manual).unwrap();
        std::fs::write(env.work.join(g).join("kv_store_full_docs.json"), "{}").unwrap();
        m.backup_graph(&env.repo, g, BackupTrigger::Scheduled)
            .unwrap();
    }
}

fn rebuild_after_catalog_emptied(t: &mut TestDb) {
    let env = Env::new().unwrap();
    backups(&env, t.db());
    // Two more snapshots taken while the catalog was not told (e.g. CLI without DB).
    let o = lightrag_backup::BackupOptions::default();
    env.repo
        .backup(
            "alpha",
            &env.work.join("alpha"),
            &o,
            &lightrag_backup::NoProgress,
        )
        .unwrap();
    assert_eq!(catalog_ids(t.db()).len(), 6);
    for id in catalog_ids(t.db()) {
        delete_backup(&mut t.db().conn().unwrap(), &id).unwrap();
    }
    let m = env.manager(t.db().clone());
    let r = m.rebuild_catalog(&env.repo).unwrap();
    assert_eq!((r.snapshots, r.inserted, r.unchanged), (7, 7, 0));
    assert_eq!(catalog_ids(t.db()), repo_ids(&env));
    // Idempotent.
    let r = m.rebuild_catalog(&env.repo).unwrap();
    assert_eq!((r.inserted, r.unchanged), (0, 7));
    // Rows carry the manifest's facts.
    let rows = list_backups(
        &mut t.db().conn().unwrap(),
        &BackupFilter {
            graph_id: Some("beta".into()),
            ..Default::default()
        },
        Page::default(),
    )
    .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|b| b.file_count == 12 && b.summary_json.is_some())
    );
    assert!(rows.iter().any(|b| b.trigger == BackupTrigger::Scheduled));
    // The backup's end and duration come from the manifest (a rebuilt row says what the
    // original said), and whether it is save-consistent.
    for b in &rows {
        let d = b.duration_ms.expect("duration recorded");
        let end = b.finished_at.expect("end recorded");
        assert_eq!(
            end.unix_millis() - b.created_at.unix_millis(),
            d,
            "finished_at = created_at + duration_ms: {b:?}"
        );
        assert!(b.consistent.is_some(), "{b:?}");
    }
}

#[test]
fn sqlite_file_deleted_then_rebuilt() {
    let env = Env::new().unwrap();
    let db_path = env.dir.path().join("catalog.db");
    let connect = || {
        let db = Db::connect(&DbConfig::new(format!("sqlite:///{}", db_path.display()))).unwrap();
        run_migrations(&mut db.conn().unwrap()).unwrap();
        db
    };
    let db = connect();
    backups(&env, &db);
    let m = env.manager(db.clone());
    let req = CreatePointRequest {
        graph_ids: vec!["alpha".into()],
        ..Default::default()
    };
    m.create_point(&env.repo, &req).unwrap();
    drop(m);
    drop(db);
    for suffix in ["", "-wal", "-shm"] {
        let p = env.dir.path().join(format!("catalog.db{suffix}"));
        if p.exists() {
            std::fs::remove_file(p).unwrap();
        }
    }
    let db = connect();
    assert!(catalog_ids(&db).is_empty());
    env.manager(db.clone()).rebuild_catalog(&env.repo).unwrap();
    assert_eq!(catalog_ids(&db), repo_ids(&env));
    assert_eq!(catalog_ids(&db).len(), 6);
    // Recovery points are not in the repository: they are gone with the DB.
    assert!(
        list_recovery_points(
            &mut db.conn().unwrap(),
            &RecoveryPointFilter::default(),
            Page::default()
        )
        .unwrap()
        .is_empty()
    );
}
