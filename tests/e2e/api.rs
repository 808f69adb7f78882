//! The JSON API over real SQLite, a real repository and copies of real LightRAG graphs.

use serde_json::json;

use crate::common::{TestServer, copy_fixture, delete, eventually, get, post, test_config};

/// A server whose working dir holds both real fixtures as workspaces.
fn server_with_graphs(extra: &[(&str, &str)]) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("rag_storage");
    copy_fixture("adamaslan-dickens", &work.join("dickens"));
    copy_fixture("bingofhy-rag_storage", &work.join("bingofhy"));
    let cfg = test_config(dir.path(), extra);
    TestServer::start_with(cfg, dir)
}

#[test]
fn graphs_are_discovered_registered_and_unregistered() {
    let s = server_with_graphs(&[]);
    let r = get(&s.url("/api/v1/graphs"), &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let ids: Vec<String> = r.json()["graphs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["bingofhy", "dickens"]);
    assert_eq!(
        get(&s.url("/api/v1/graphs/dickens"), &[]).json()["source"],
        "discovered"
    );

    // Registration resolves under the working dir only.
    let r = post(
        &s.url("/api/v1/graphs"),
        Some(json!({"id": "evil", "path": "../../etc"})),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "bad_request");
    let r = post(
        &s.url("/api/v1/graphs"),
        Some(json!({"id": "abs", "path": "/etc"})),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let r = post(&s.url("/api/v1/graphs"), Some(json!({"id": "x y"})));
    assert_eq!(r.status, 400, "{}", r.body);
    let r = post(
        &s.url("/api/v1/graphs"),
        Some(json!({"id": "dickens2", "path": "dickens", "extra": 1})),
    );
    assert_eq!(r.status, 400, "unknown fields are rejected: {}", r.body);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("extra")
    );
    let r = post(
        &s.url("/api/v1/graphs"),
        Some(json!({"id": "dickens2", "path": "dickens"})),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["source"], "api");
    let r = post(
        &s.url("/api/v1/graphs"),
        Some(json!({"id": "dickens2", "path": "dickens"})),
    );
    assert_eq!(r.status, 409, "{}", r.body);

    assert_eq!(delete(&s.url("/api/v1/graphs/dickens2")).status, 204);
    assert_eq!(get(&s.url("/api/v1/graphs/dickens2"), &[]).status, 404);
    assert_eq!(delete(&s.url("/api/v1/graphs/dickens2")).status, 404);
}

#[test]
fn backup_workflow_with_server() {
    let s = server_with_graphs(&[]);
    // Synchronous backup.
    let r = post(&s.url("/api/v1/graphs/bingofhy/backups?wait=true"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    let job = r.json();
    assert_eq!(job["state"], "succeeded");
    let first = job["result"]["snapshot"]["id"].as_str().unwrap().to_owned();
    assert_eq!(job["result"]["snapshot"]["totals"]["files"], 12);
    // The job reported the backup's progress.
    assert_eq!(job["phase"], "backup", "{job}");
    assert!(job["bytes_total"].as_u64().unwrap() > 600_000, "{job}");
    assert_eq!(job["bytes_done"], job["bytes_total"], "{job}");

    // Asynchronous backup: 202, then poll the job (bounded).
    let r = post(&s.url("/api/v1/graphs/bingofhy/backups"), None);
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let done = eventually(60, || {
        let j = get(&s.url(&format!("/api/v1/jobs/{id}")), &[]).json();
        (j["state"] != "running").then_some(j)
    });
    assert_eq!(done["state"], "succeeded", "{done}");

    // The catalog lists both, newest first.
    let list = get(&s.url("/api/v1/backups?graph_id=bingofhy"), &[]).json();
    let backups = list["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 2, "{list}");
    assert_eq!(backups[1]["snapshot_id"], first.as_str());
    assert_eq!(backups[0]["status"], "completed");

    let one = get(&s.url(&format!("/api/v1/backups/{first}")), &[]).json();
    assert_eq!(one["files"].as_array().unwrap().len(), 12);

    // Verify with data reading.
    let r = post(
        &s.url("/api/v1/backups/verify?wait=true"),
        Some(json!({"read_data": "all"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["result"]["damage"], json!([]));
    assert_eq!(r.json()["result"]["snapshots_checked"], 2);

    let stats = get(&s.url("/api/v1/backups/stats"), &[]).json();
    assert_eq!(stats["stats"]["snapshots"], 2);
    assert!(stats["dedup_ratio"].as_f64().unwrap() > 1.0, "{stats}");

    // Events reach the log (buffered writer: bounded wait).
    let events = eventually(30, || {
        let e = get(
            &s.url("/api/v1/events?graph_id=bingofhy&type=backup.completed"),
            &[],
        )
        .json();
        (e["events"].as_array().unwrap().len() == 2).then_some(e)
    });
    assert_eq!(events["events"][0]["kind"], "backup");
    let a = get(
        &s.url("/api/v1/events/analytics?window=1h&graph_id=bingofhy"),
        &[],
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.json()["total"].as_i64().unwrap() >= 4, "{}", a.body);

    // Metrics after the operation.
    let m = get(&s.metrics_url(), &[]).body;
    assert!(
        m.lines()
            .any(|l| l.starts_with("lightrag_backup_snapshots_total{")
                && l.contains("graph=\"bingofhy\"")
                && l.contains("status=\"completed\"")
                && l.ends_with(" 2")),
        "{m}"
    );

    // Issue 13 #14: deleting by a (unique) prefix is refused with a 400; nothing is deleted.
    let prefix = &first[..first.len() - 2];
    let r = delete(&s.url(&format!("/api/v1/backups/{prefix}")));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("full snapshot id"),
        "{}",
        r.body
    );
    assert_eq!(
        get(&s.url(&format!("/api/v1/backups/{first}")), &[]).status,
        200
    );

    // Deleting a snapshot removes it from the repository and the catalog.
    assert_eq!(
        delete(&s.url(&format!("/api/v1/backups/{first}"))).status,
        204
    );
    assert_eq!(
        get(&s.url(&format!("/api/v1/backups/{first}")), &[]).status,
        404
    );
}

#[test]
fn client_errors_are_4xx_json() {
    let s = server_with_graphs(&[]);
    let r = post(
        &s.url("/api/v1/graphs/no-such-graph/backups?wait=true"),
        None,
    );
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "not_found");
    let r = post(&s.url("/api/v1/graphs/bad%20id/backups"), None);
    assert_eq!(r.status, 400, "{}", r.body);
    let r = get(&s.url("/api/v1/backups?status=weird"), &[]);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("weird"),
        "{}",
        r.body
    );
    let r = get(&s.url("/api/v1/events?since=yesterday"), &[]);
    assert_eq!(r.status, 400, "{}", r.body);
    let r = get(&s.url("/api/v1/events/analytics?window=forever"), &[]);
    assert_eq!(r.status, 400, "{}", r.body);
    let r = get(&s.url("/api/v1/jobs/job-999999"), &[]);
    assert_eq!(r.status, 404, "{}", r.body);
    let r = post(
        &s.url("/api/v1/backups/verify"),
        Some(json!({"read_data": "sometimes"})),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let r = delete(&s.url("/api/v1/backups/0000deadbeef"));
    assert_eq!(r.status, 404, "{}", r.body);
}

#[test]
fn scheduler_backs_up_on_its_interval_and_reports_status() {
    let s = server_with_graphs(&[
        ("LIGHTRAG_AUTO_BACKUP_INTERVAL", "1s"),
        ("LIGHTRAG_RETENTION_INTERVAL", "0"),
    ]);
    let status = get(&s.url("/api/v1/scheduler"), &[]).json();
    let tasks = status["tasks"].as_array().unwrap();
    let retention = tasks.iter().find(|t| t["name"] == "retention").unwrap();
    assert_eq!(retention["interval_seconds"], 0);
    // Bounded wait for the first scheduled round to finish.
    let task = eventually(60, || {
        let st = get(&s.url("/api/v1/scheduler"), &[]).json();
        st["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "auto_backup" && t["runs"].as_u64().unwrap_or(0) >= 1)
            .cloned()
    });
    assert_eq!(task["last_ok"], true, "{task}");
    let list = get(&s.url("/api/v1/backups?trigger=scheduled"), &[]).json();
    let graphs: std::collections::BTreeSet<_> = list["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["graph_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        graphs.contains("dickens") && graphs.contains("bingofhy"),
        "{list}"
    );
}

#[test]
fn routes_registered() {
    let s = server_with_graphs(&[]);
    let r = get(&s.url("/api/v1/openapi.json"), &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let doc = r.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/health-dashboard/status",
        "/api/v1/health-dashboard/metrics",
        "/api/v1/health-dashboard/graphs/{id}/status",
        "/api/v1/health-dashboard/backups/summary",
        "/api/v1/health-dashboard/replication/status",
        "/api/v1/graphs",
        "/api/v1/graphs/{id}/backups",
        "/api/v1/backups/verify",
        "/api/v1/restore",
        "/api/v1/recovery/points",
        "/api/v1/recovery/points/{id}/validate",
        "/api/v1/events/analytics",
        "/api/v1/jobs/{id}",
    ] {
        assert!(
            paths.contains_key(p),
            "{p} missing from the OpenAPI document"
        );
    }
    // Every documented GET route without a path parameter is really served (not a 404 for a
    // missing route).
    for (p, ops) in paths {
        if ops.get("get").is_some() && !p.contains('{') {
            let r = get(&s.url(p), &[]);
            assert!(
                !(r.status == 404 && r.body.contains("no route")),
                "documented route {p} is not served"
            );
        }
    }
    assert!(
        doc["components"]["securitySchemes"]["api_key"].is_object(),
        "{doc}"
    );
}
