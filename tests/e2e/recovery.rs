//! Recovery points through the server: persistence across restarts, validation, restore.

use serde_json::json;

use crate::common::{PgDatabase, TestServer, copy_fixture, get, post, test_config};

fn start(dir: tempfile::TempDir) -> TestServer {
    start_on(dir, None)
}

fn start_on(dir: tempfile::TempDir, db_url: Option<&str>) -> TestServer {
    let mut extra = vec![("LIGHTRAG_HEALTH_CHECK_INTERVAL", "0")];
    if let Some(u) = db_url {
        extra.push(("LIGHTRAG_RECOVERY_DB_URL", u));
    }
    let cfg = test_config(dir.path(), &extra);
    TestServer::start_with(cfg, dir)
}

#[test]
fn recovery_points_persisted() {
    recovery_points_persisted_on(None);
}

#[test]
fn recovery_points_persisted_on_postgres() {
    let pg = PgDatabase::create();
    recovery_points_persisted_on(Some(&pg.url));
}

fn recovery_points_persisted_on(db_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("rag_storage");
    copy_fixture("adamaslan-dickens", &work.join("dickens"));
    copy_fixture("bingofhy-rag_storage", &work.join("bingofhy"));
    let s = start_on(dir, db_url);

    // Without snapshots the point cannot be created: a clear 404.
    let r = post(
        &s.url("/api/v1/recovery/points"),
        Some(json!({"graph_ids": ["dickens"], "description": "x"})),
    );
    assert_eq!(r.status, 404, "{}", r.body);

    // With fresh backups (a job).
    let r = post(
        &s.url("/api/v1/recovery/points?wait=true"),
        Some(
            json!({"graph_ids": ["dickens", "bingofhy"], "description": "before upgrade", "fresh_backup": true}),
        ),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let point = r.json()["result"].clone();
    let id = point["id"].as_str().unwrap().to_owned();
    assert_eq!(point["snapshots"].as_array().unwrap().len(), 2, "{point}");

    // Restart the server on the same catalog: the point is still there.
    let dir = s.stop();
    let s = start_on(dir, db_url);
    let list = get(&s.url("/api/v1/recovery/points"), &[]).json();
    let points = list["recovery_points"].as_array().unwrap();
    assert_eq!(points.len(), 1, "{list}");
    assert_eq!(points[0]["description"], "before upgrade");

    // Validation proves it restores.
    let r = post(
        &s.url(&format!("/api/v1/recovery/points/{id}/validate?wait=true")),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["result"]["ok"], true, "{}", r.body);
    let p = get(&s.url(&format!("/api/v1/recovery/points/{id}")), &[]).json();
    assert_eq!(p["validated"], true, "{p}");

    // Pinned snapshots cannot be deleted.
    let snap = p["snapshots"][0]["snapshot_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = crate::common::delete(&s.url(&format!("/api/v1/backups/{snap}")));
    assert_eq!(r.status, 409, "{}", r.body);

    // Restore under new ids, then RPO/RTO status.
    let r = post(
        &s.url(&format!("/api/v1/recovery/points/{id}/restore?wait=true")),
        Some(json!({"in_place": false, "id_suffix": "-copy"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let graphs = r.json()["result"]["graphs"].clone();
    assert_eq!(graphs.as_array().unwrap().len(), 2, "{graphs}");
    assert!(get(&s.url("/api/v1/graphs/dickens-copy"), &[]).status == 200);
    let status = get(&s.url("/api/v1/recovery/status"), &[]).json();
    assert!(
        status["graphs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["graph_id"] == "dickens" && g["rpo_seconds"].is_number()),
        "{status}"
    );
}

#[test]
fn restore_snapshot_in_place_refuses_live_graphs_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("rag_storage");
    copy_fixture("adamaslan-dickens", &work.join("dickens"));
    let s = start(dir);
    let r = post(&s.url("/api/v1/graphs/dickens/backups?wait=true"), None);
    let snap = r.json()["result"]["snapshot"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = std::fs::read(work.join("dickens/kv_store_full_docs.json")).unwrap();
    std::fs::write(work.join("dickens/kv_store_full_docs.json"), b"{}").unwrap();

    let r = post(
        &s.url("/api/v1/restore?wait=true"),
        Some(json!({"snapshot_id": snap, "in_place": true})),
    );
    assert_eq!(r.status, 409, "{}", r.body);
    let r = post(
        &s.url("/api/v1/restore?wait=true"),
        Some(json!({"snapshot_id": snap, "in_place": true, "force": true})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.json()["result"]["next_step"]
            .as_str()
            .unwrap()
            .contains("restart LightRAG")
    );
    assert_eq!(
        std::fs::read(work.join("dickens/kv_store_full_docs.json")).unwrap(),
        before
    );
    let r = post(
        &s.url("/api/v1/restore?wait=true"),
        Some(json!({"snapshot_id": snap, "target_graph_id": "dickens-2"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        std::fs::read(work.join("dickens-2/kv_store_full_docs.json")).unwrap(),
        before
    );
    let r = post(
        &s.url("/api/v1/restore"),
        Some(json!({"snapshot_id": snap})),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    // Every restore is an event (the refused one too).
    crate::common::eventually(30, || {
        let e = get(&s.url("/api/v1/events?kind=restore"), &[]).json();
        let types: Vec<String> = e["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event_type"].as_str().unwrap().to_owned())
            .collect();
        (types.iter().filter(|t| *t == "restore.completed").count() == 2
            && types.iter().any(|t| t == "restore.failed"))
        .then_some(())
    });
    // The safety snapshot is in the catalog.
    let list = get(&s.url("/api/v1/backups?trigger=pre_restore"), &[]).json();
    assert_eq!(list["backups"].as_array().unwrap().len(), 1, "{list}");
}

#[test]
fn restoring_the_default_graph_in_place_leaves_the_other_graphs_alone() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("rag_storage");
    copy_fixture("adamaslan-dickens", &work); // root files: graph `default`
    copy_fixture("bingofhy-rag_storage", &work.join("bingofhy"));
    let s = start(dir);
    let r = post(&s.url("/api/v1/graphs/default/backups?wait=true"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    let snap = r.json()["result"]["snapshot"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = std::fs::read(work.join("kv_store_full_docs.json")).unwrap();
    std::fs::write(work.join("kv_store_full_docs.json"), b"{}").unwrap();
    let other = std::fs::read(work.join("bingofhy/vdb_entities.json")).unwrap();

    let r = post(
        &s.url("/api/v1/restore?wait=true"),
        Some(json!({"snapshot_id": snap, "in_place": true, "force": true})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        std::fs::read(work.join("kv_store_full_docs.json")).unwrap(),
        before
    );
    assert_eq!(
        std::fs::read(work.join("bingofhy/vdb_entities.json")).unwrap(),
        other,
        "the other graph's folder must survive"
    );
}
