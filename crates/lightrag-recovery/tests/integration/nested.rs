//! Defect 1: graphs nested in graphs. Every backup and restore of a graph covers exactly that
//! graph's files: `graphs/g1/` holds the workspace `graphs/g1/w1/` (graph `g1.w1`), and the
//! working dir itself (`default`) holds every workspace.

use std::path::{Path, PathBuf};

use lightrag_backup::NoProgress;
use lightrag_recovery::{
    CreatePointRequest, GraphLayout, RecoveryError, RecoveryManager, RestorePointOptions,
    RestoreSnapshotOptions, discover_graphs, resolve_graph_location,
};
use lightrag_recovery_db::BackupTrigger;

use super::common::{Env, copy_fixture, tree};
use super::support::TestDb;

crate::both_backends!(
    parent_backup_holds_no_file_of_the_nested_graph,
    default_backup_holds_no_workspace_file,
    in_place_restore_of_the_parent_leaves_the_nested_graph_alone,
    failed_point_puts_back_parent_and_nested_graph_without_safety_snapshots,
);

/// `Env`'s three workspaces, root files (`default`), and the multi-graph layout with
/// `graphs/g1/` (graph `g1`) holding `graphs/g1/w1/` (graph `g1.w1`).
fn nested_env() -> Env {
    let env = Env::new().unwrap();
    copy_fixture("adamaslan-dickens", &env.work).unwrap();
    std::fs::write(env.work.join("graphs_config.json"), "{}").unwrap();
    copy_fixture("adamaslan-dickens", &g1(&env)).unwrap();
    copy_fixture("bingofhy-rag_storage", &w1(&env)).unwrap();
    let d = discover_graphs(&env.work).unwrap();
    let ids: Vec<&str> = d.graphs.iter().map(|g| g.id.as_str()).collect();
    assert_eq!(ids, ["default", "alpha", "beta", "gamma", "g1", "g1.w1"]);
    env
}

fn g1(env: &Env) -> PathBuf {
    env.work.join("graphs/g1")
}

fn w1(env: &Env) -> PathBuf {
    env.work.join("graphs/g1/w1")
}

fn manager(t: &TestDb, env: &Env) -> RecoveryManager {
    env.manager(t.db().clone())
}

fn paths(env: &Env, snapshot: &str) -> Vec<String> {
    env.repo
        .snapshot(snapshot)
        .unwrap()
        .files
        .into_iter()
        .map(|f| f.path)
        .collect()
}

/// Top-level files of `dir` only.
fn own_files(dir: &Path) -> super::common::Tree {
    tree(dir)
        .unwrap()
        .into_iter()
        .filter(|(k, _)| !k.contains('/'))
        .collect()
}

fn parent_backup_holds_no_file_of_the_nested_graph(t: &mut TestDb) {
    let env = nested_env();
    let m = manager(t, &env);
    let s = m
        .backup_graph(&env.repo, "g1", BackupTrigger::Manual)
        .unwrap();
    let files = paths(&env, &s.snapshot.id);
    assert!(!files.is_empty());
    assert!(
        files.iter().all(|f| !f.starts_with("w1/") && f != "w1"),
        "{files:?}"
    );
    assert_eq!(files.len(), own_files(&g1(&env)).len());
    // The nested graph's own backup has its files.
    let s = m
        .backup_graph(&env.repo, "g1.w1", BackupTrigger::Manual)
        .unwrap();
    assert_eq!(paths(&env, &s.snapshot.id).len(), 12);
    // The locator says so, for the CLI (no catalog) too; configured excludes ride along.
    let loc = resolve_graph_location(&[&env.work], "g1", &["*.log".to_owned()]).unwrap();
    assert_eq!(loc.exclude_paths, ["w1"]);
    assert_eq!(loc.excludes, ["*.log"]);
    assert_eq!(loc.layout, GraphLayout::MultiGraph);
    // Configured excludes apply to the server's backups too.
    std::fs::write(g1(&env).join("notes.log"), "x").unwrap();
    let mut opts = m.options().clone();
    opts.excludes = vec!["*.log".into()];
    let m2 = RecoveryManager::new(t.db().clone(), opts);
    let s = m2
        .backup_graph(&env.repo, "g1", BackupTrigger::Manual)
        .unwrap();
    assert!(!paths(&env, &s.snapshot.id).contains(&"notes.log".to_owned()));
}

fn default_backup_holds_no_workspace_file(t: &mut TestDb) {
    let env = nested_env();
    // A subfolder that is no graph (no LightRAG file at its top) belongs to no graph either.
    std::fs::create_dir_all(env.work.join("misc/deeper")).unwrap();
    std::fs::write(env.work.join("misc/deeper/kv_store_x.json"), "{}").unwrap();
    let m = manager(t, &env);
    let s = m
        .backup_graph(&env.repo, "default", BackupTrigger::Manual)
        .unwrap();
    let files = paths(&env, &s.snapshot.id);
    assert_eq!(files.len(), own_files(&env.work).len(), "{files:?}");
    assert!(files.iter().all(|f| !f.contains('/')), "{files:?}");
    let loc = resolve_graph_location(&[&env.work], "default", &[]).unwrap();
    assert_eq!(
        loc.exclude_paths,
        ["alpha", "beta", "gamma", "graphs", "misc"]
    );
}

fn in_place_restore_of_the_parent_leaves_the_nested_graph_alone(t: &mut TestDb) {
    let env = nested_env();
    let m = manager(t, &env);
    let g1_before = own_files(&g1(&env));
    // A snapshot of g1 taken by an old version that captured the nested graph too.
    let legacy = env
        .repo
        .backup(
            "g1",
            &g1(&env),
            &lightrag_backup::BackupOptions::default(),
            &NoProgress,
        )
        .unwrap()
        .snapshot
        .id;
    assert!(paths(&env, &legacy).iter().any(|f| f.starts_with("w1/")));
    let req = CreatePointRequest {
        graph_ids: vec!["g1".into()],
        fresh_backup: true,
        ..Default::default()
    };
    let id = m.create_point(&env.repo, &req).unwrap().point.id;
    // Both graphs change afterwards.
    std::fs::write(g1(&env).join("kv_store_full_docs.json"), "{}").unwrap();
    std::fs::write(w1(&env).join("kv_store_full_docs.json"), r#"{"new": 1}"#).unwrap();
    std::fs::write(w1(&env).join("kv_store_added.json"), "{}").unwrap();
    let w1_now = tree(&w1(&env)).unwrap();

    let opts = RestorePointOptions {
        in_place: true,
        force: true,
        ..Default::default()
    };
    let r = m.restore_point(&env.repo, None, &id, &opts).unwrap();
    assert_eq!(own_files(&g1(&env)), g1_before, "g1 restored");
    assert_eq!(tree(&w1(&env)).unwrap(), w1_now, "g1.w1 byte-identical");
    // Its safety snapshot holds g1's files only.
    let safety = r.graphs[0].safety_snapshot.clone().unwrap();
    assert!(paths(&env, &safety).iter().all(|f| !f.contains('/')));

    // One snapshot in place, even the legacy one that holds w1/*: w1 stays as it is.
    std::fs::write(g1(&env).join("kv_store_full_docs.json"), "{}").unwrap();
    let ropts = RestoreSnapshotOptions {
        in_place: true,
        force: true,
        ..Default::default()
    };
    m.restore_snapshot(&env.repo, &legacy, &ropts, &NoProgress)
        .unwrap();
    assert_eq!(own_files(&g1(&env)), g1_before);
    assert_eq!(tree(&w1(&env)).unwrap(), w1_now, "g1.w1 byte-identical");
}

fn failed_point_puts_back_parent_and_nested_graph_without_safety_snapshots(t: &mut TestDb) {
    let env = nested_env();
    let m = manager(t, &env);
    // Whatever the point's order, the parent is restored before the graph nested in it (the
    // graphs run shallowest folder first); the nested graph fails.
    let req = CreatePointRequest {
        graph_ids: vec!["g1.w1".into(), "g1".into(), "beta".into()],
        fresh_backup: true,
        ..Default::default()
    };
    let id = m.create_point(&env.repo, &req).unwrap().point.id;
    std::fs::write(g1(&env).join("kv_store_full_docs.json"), "{}").unwrap();
    std::fs::write(w1(&env).join("kv_store_full_docs.json"), "{}").unwrap();
    std::fs::remove_file(w1(&env).join("vdb_chunks.json")).unwrap();
    std::fs::write(env.work.join("beta/kv_store_full_docs.json"), "{}").unwrap();
    let g1_changed = tree(&g1(&env)).unwrap(); // w1 included
    let beta_changed = tree(&env.work.join("beta")).unwrap();
    let opts = RestorePointOptions {
        in_place: true,
        force: true,
        skip_safety_snapshot: true,
        fail_before_swap_of: Some("g1.w1".into()),
        ..Default::default()
    };
    let err = m.restore_point(&env.repo, None, &id, &opts).unwrap_err();
    match &err {
        RecoveryError::RestoreFailed {
            rolled_back,
            rollback_failed,
            ..
        } => {
            // g1 and beta were swapped before g1.w1 failed (which is left as it was).
            assert_eq!(rolled_back, &["beta".to_owned(), "g1".to_owned()], "{err}");
            assert!(rollback_failed.is_empty(), "{rollback_failed:?}");
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(tree(&g1(&env)).unwrap(), g1_changed, "both as before");
    assert_eq!(tree(&env.work.join("beta")).unwrap(), beta_changed);
    let names: Vec<String> = std::fs::read_dir(env.work.join("graphs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["g1"], "nothing left beside g1");
    // Without the failure, both come back to the point and nothing is left over.
    let ok = RestorePointOptions {
        fail_before_swap_of: None,
        ..opts
    };
    let r = m.restore_point(&env.repo, None, &id, &ok).unwrap();
    let order: Vec<&str> = r.graphs.iter().map(|g| g.graph_id.as_str()).collect();
    let pinned: Vec<String> = m
        .get_point(&id)
        .unwrap()
        .snapshots
        .into_iter()
        .map(|p| p.graph_id)
        .collect();
    assert_eq!(order, pinned, "reported in the point's order");
    assert_ne!(tree(&g1(&env)).unwrap(), g1_changed);
    assert_eq!(
        discover_graphs(&env.work).unwrap().skipped,
        vec![],
        "no kept copy left"
    );
}
