//! Issue 16 #1: change-triggered backups. Nothing runs while nothing changes; a change is
//! backed up once the writes pause; a burst of writes makes one snapshot, not one per write.

use std::time::Duration;

use crate::common::{TestServer, copy_fixture, eventually, get, test_config};

fn backups(s: &TestServer) -> Vec<serde_json::Value> {
    get(&s.url("/api/v1/backups?graph_id=dickens"), &[]).json()["backups"]
        .as_array()
        .unwrap()
        .clone()
}

fn touch(path: &std::path::Path, n: u32) {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v[format!("doc-change-{n}")] = serde_json::json!({"status": "processed"});
    std::fs::write(path, serde_json::to_vec(&v).unwrap()).unwrap();
}

#[test]
fn a_settled_change_is_backed_up_and_a_burst_makes_one_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("rag_storage");
    copy_fixture("adamaslan-dickens", &work.join("dickens"));
    // A planted link from the graph to a folder outside it: writes there are no change of the
    // graph (the watcher does not follow links).
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, work.join("dickens/planted")).unwrap();
    let cfg = test_config(
        dir.path(),
        &[
            ("LIGHTRAG_AUTO_BACKUP_INTERVAL", "0"),
            ("LIGHTRAG_BACKUP_ON_CHANGE", "true"),
            ("LIGHTRAG_BACKUP_ON_CHANGE_QUIET", "1s"),
            ("LIGHTRAG_BACKUP_ON_CHANGE_MIN_INTERVAL", "0"),
            ("LIGHTRAG_BACKUP_ON_CHANGE_MAX_DELAY", "20s"),
        ],
    );
    let s = TestServer::start_with(cfg, dir);
    let workers = get(&s.url("/api/v1/workers"), &[]).json();
    assert!(
        workers["workers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["name"] == "change_backup"),
        "{workers}"
    );
    // Idle (a write behind the planted link included): no change, no backup.
    std::fs::write(s.dir().join("outside/kv_store_full_docs.json"), b"{}").unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert!(backups(&s).is_empty(), "{:?}", backups(&s));

    // One change: one snapshot, taken by the watcher (trigger scheduled, tag `change`).
    let f = s.dir().join("rag_storage/dickens/kv_store_doc_status.json");
    touch(&f, 1);
    let first = eventually(30, || backups(&s).first().cloned());
    assert_eq!(first["trigger"], "scheduled", "{first}");
    // The watcher waited for the save to settle: the snapshot is save-consistent.
    assert_eq!(first["consistent"], true, "{first}");
    let id = first["snapshot_id"].as_str().unwrap().to_owned();
    let detail = get(&s.url(&format!("/api/v1/backups/{id}")), &[]).json();
    assert!(
        detail["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["path"] == "kv_store_doc_status.json"),
        "{detail}"
    );

    // A burst of writes closer together than the quiet period: one more snapshot.
    for n in 2..6 {
        touch(&f, n);
        std::thread::sleep(Duration::from_millis(150));
    }
    eventually(30, || (backups(&s).len() >= 2).then_some(()));
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(backups(&s).len(), 2, "{:?}", backups(&s));
    let status = get(&s.url("/api/v1/workers"), &[]).json();
    let w = status["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "change_backup")
        .cloned()
        .unwrap();
    assert_eq!(w["last_ok"], true, "{w}");
    assert_eq!(w["detail"], "0 graph(s) with uncaptured changes", "{w}");

    // A workspace created after start-up is watched too: its first save is backed up.
    let new_ws = s.dir().join("rag_storage/late_workspace");
    copy_fixture("adamaslan-dickens", &new_ws);
    let late = eventually(30, || {
        get(&s.url("/api/v1/backups?graph_id=late_workspace"), &[]).json()["backups"]
            .as_array()
            .and_then(|b| b.first().cloned())
    });
    assert_eq!(late["trigger"], "scheduled", "{late}");
}
