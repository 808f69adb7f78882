//! Two real servers on loopback: a primary replicating to a standby peer.

use std::sync::Arc;

use serde_json::json;

use crate::common::{TestServer, copy_fixture, eventually, get, post, test_config};

#[test]
fn replication_workflow_with_server() {
    // The standby receives replicas (it needs an API key to accept them).
    let standby_dir = tempfile::tempdir().unwrap();
    let replica = standby_dir.path().join("replica");
    let replica_s = replica.display().to_string();
    let standby = TestServer::start_with(
        test_config(
            standby_dir.path(),
            &[
                ("LIGHTRAG_API_KEY", "standby-key-0123456789"),
                ("LIGHTRAG_REPLICA_DIR", &replica_s),
            ],
        ),
        standby_dir,
    );
    // A receiving server without a key refuses.
    let open = TestServer::start(&[]);
    let r = get(&open.url("/api/v1/replication/receive/status"), &[]);
    assert_eq!(r.status, 403, "{}", r.body);

    let primary_dir = tempfile::tempdir().unwrap();
    let work = primary_dir.path().join("rag_storage");
    copy_fixture("bingofhy-rag_storage", &work.join("bingofhy"));
    let primary = TestServer::start_with(
        test_config(
            primary_dir.path(),
            &[("LIGHTRAG_REPLICATION_ENABLED", "true")],
        ),
        primary_dir,
    );

    // Targets: a wrong key, then the right one.
    let base = format!("http://{}", standby.api);
    let r = post(
        &primary.url("/api/v1/replication/targets"),
        Some(json!({"name": "wrong", "spec": {"kind": "peer", "url": base, "api_key": "nope"}})),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(
        !r.body.contains("nope"),
        "secrets are never echoed: {}",
        r.body
    );
    let h = get(
        &primary.url("/api/v1/replication/targets/wrong/health"),
        &[],
    )
    .json();
    assert_eq!(h["authenticated"], false, "{h}");
    assert_ne!(h["status"], "HEALTHY", "{h}");
    assert_eq!(
        crate::common::delete(&primary.url("/api/v1/replication/targets/wrong")).status,
        204
    );

    let r = post(
        &primary.url("/api/v1/replication/targets"),
        Some(
            json!({"name": "standby", "spec": {"kind": "peer", "url": base, "api_key": "standby-key-0123456789"}}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let h = get(
        &primary.url("/api/v1/replication/targets/standby/health"),
        &[],
    )
    .json();
    assert_eq!(h["authenticated"], true, "{h}");
    // Moving a peer target elsewhere needs its key again (the stored key never follows).
    let r = crate::common::patch(
        &primary.url("/api/v1/replication/targets/standby"),
        json!({"location": "http://127.0.0.1:9"}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    // A huge Range on the receive routes is refused, not allocated.
    let r = get(
        &standby.url("/api/v1/replication/receive/objects/config"),
        &[
            ("X-API-Key", "standby-key-0123456789"),
            ("Range", "bytes=0-1099511627775"),
        ],
    );
    assert_eq!(r.status, 413, "{}", r.body);
    let r = get(
        &standby.url("/api/v1/replication/receive/objects/config"),
        &[
            ("X-API-Key", "standby-key-0123456789"),
            ("Range", "bytes=5-1"),
        ],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    // Directory targets through the API only under the configured roots.
    let r = post(
        &primary.url("/api/v1/replication/targets"),
        Some(json!({"name": "etc", "spec": {"kind": "path", "path": "/etc/lightrag"}})),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let r = post(
        &primary.url("/api/v1/replication/targets"),
        Some(json!({"name": "bad", "spec": {"kind": "peer", "url": "ftp://user:pw@host/"}})),
    );
    assert_eq!(r.status, 400, "{}", r.body);

    // A backup replicates right away (LIGHTRAG_REPLICATION_ENABLED).
    let r = post(
        &primary.url("/api/v1/graphs/bingofhy/backups?wait=true"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let snap = r.json()["result"]["snapshot"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let st = eventually(30, || {
        let s = get(&primary.url("/api/v1/replication/status"), &[]).json();
        let st = s["states"].as_array().unwrap().first().cloned()?;
        (st["last_synced_snapshot_id"] == snap.as_str()).then_some(st)
    });
    assert_eq!(st["lag_ms"], 0, "{st}");
    assert!(st["bytes_synced"].as_i64().unwrap() > 100_000, "{st}");

    // The standby holds a complete repository: it restores the graph byte-identical.
    let repo = lightrag_backup::Repository::open(
        Arc::new(lightrag_backup::LocalStorage::new(&replica)),
        None,
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("restored");
    repo.restore(
        &snap,
        &target,
        &lightrag_backup::RestoreOptions::default(),
        &lightrag_backup::NoProgress,
    )
    .unwrap();
    for e in std::fs::read_dir(work.join("bingofhy")).unwrap() {
        let e = e.unwrap();
        assert_eq!(
            std::fs::read(e.path()).unwrap(),
            std::fs::read(target.join(e.file_name())).unwrap(),
            "{:?}",
            e.file_name()
        );
    }

    // Sync now: nothing left to send.
    let r = post(
        &primary.url("/api/v1/replication/sync?wait=true"),
        Some(json!({"graph_id": "bingofhy"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["result"][0]["objects_sent"], 0, "{}", r.body);

    // Events and metrics of the sync.
    eventually(30, || {
        let e = get(&primary.url("/api/v1/events?kind=replication"), &[]).json();
        (e["events"].as_array().unwrap().len() >= 2).then_some(())
    });
    let m = get(&primary.metrics_url(), &[]).body;
    assert!(
        m.contains("lightrag_replication_lag_seconds{") && m.contains("target=\"standby\""),
        "{m}"
    );
    let dash = get(
        &primary.url("/api/v1/health-dashboard/replication/status"),
        &[],
    )
    .json();
    assert_eq!(dash["targets"][0]["target"]["name"], "standby", "{dash}");
    assert!(!dash.to_string().contains("standby-key-0123456789"));
    let html = get(&primary.url("/health"), &[]).body;
    assert!(
        html.contains("Recent syncs") && html.contains("replication.completed"),
        "{html}"
    );
}
