//! The original plan's integration tests (Phase 5B Task 5, Phase 5C), against the real app.

use std::io::Write as _;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::common::{TestServer, copy_fixture, eventually, free_port, get, post, test_config};

fn server(extra: &[(&str, &str)]) -> (TestServer, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("rag_storage");
    copy_fixture("adamaslan-dickens", &work.join("dickens"));
    copy_fixture("bingofhy-rag_storage", &work.join("bingofhy"));
    let cfg = test_config(dir.path(), extra);
    (TestServer::start_with(cfg, dir), work)
}

#[test]
fn managers_initialized() {
    let (s, _) = server(&[]);
    let ready = get(&s.url("/readyz"), &[]).json();
    let components: Vec<&str> = ready["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(components, ["database", "repository", "startup"], "{ready}");
    let st = get(&s.url("/api/v1/health-dashboard/status"), &[]).json();
    let kinds: Vec<&str> = st["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"database") && kinds.contains(&"repository"),
        "{st}"
    );
    let tasks: Vec<&str> = st["scheduler"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    // The scheduler's tasks, then every other background worker (issue 12: one runner shows
    // all background work).
    assert_eq!(
        tasks,
        [
            "health",
            "auto_backup",
            "replication",
            "retention",
            "verify",
            "event_purge",
            "db_probe",
            "metrics_upkeep",
            "api_jobs",
            "event_log"
        ]
    );
    assert_eq!(
        get(&s.url("/api/v1/replication/targets"), &[]).json()["targets"],
        json!([])
    );
    assert_eq!(
        get(&s.url("/api/v1/recovery/points"), &[]).json()["recovery_points"],
        json!([])
    );
}

#[test]
fn config_loading() {
    // The real binary reads .env from its working directory; the environment wins.
    let dir = tempfile::tempdir().unwrap();
    let (port, other) = (free_port(), free_port());
    let mut env = std::fs::File::create(dir.path().join(".env")).unwrap();
    writeln!(
        env,
        "LIGHTRAG_PORT={other}\nLIGHTRAG_METRICS_ENABLED=false\nLIGHTRAG_API_KEY=from-dotenv-0123456789"
    )
    .unwrap();
    let mut child = Command::new(crate::common::bin_path())
        .current_dir(dir.path())
        .env("LIGHTRAG_PORT", port.to_string())
        .env_remove("LIGHTRAG_API_KEY")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ok = eventually(30, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    drop(ok);
    let url = format!("http://127.0.0.1:{port}/api/v1/graphs");
    assert_eq!(get(&url, &[]).status, 401, "the .env API key applies");
    assert_eq!(
        get(&url, &[("X-API-Key", "from-dotenv-0123456789")]).status,
        200
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", other)).is_err(),
        ".env port lost to the environment"
    );
    let _ = child.kill();
    let _ = child.wait();
}

fn graph_status(s: &TestServer, g: &str) -> String {
    get(
        &s.url(&format!("/api/v1/health-dashboard/graphs/{g}/status")),
        &[],
    )
    .json()["graph"]["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn health_check_integration() {
    let (s, work) = server(&[
        ("LIGHTRAG_HEALTH_CHECK_INTERVAL", "1s"),
        ("LIGHTRAG_RPO", "3s"),
    ]);
    post(&s.url("/api/v1/graphs/dickens/backups?wait=true"), None);
    eventually(30, || {
        (graph_status(&s, "dickens") == "HEALTHY").then_some(())
    });
    // The RPO passes without a new backup.
    eventually(30, || {
        (graph_status(&s, "dickens") == "DEGRADED").then_some(())
    });
    // The directory disappears.
    let aside = work.join("../dickens-aside");
    std::fs::rename(work.join("dickens"), &aside).unwrap();
    eventually(30, || {
        (graph_status(&s, "dickens") == "OFFLINE").then_some(())
    });
    // Back, with a fresh backup.
    std::fs::rename(&aside, work.join("dickens")).unwrap();
    post(&s.url("/api/v1/graphs/dickens/backups?wait=true"), None);
    eventually(30, || {
        (graph_status(&s, "dickens") == "HEALTHY").then_some(())
    });
    // Exactly one stored event per transition of this graph.
    let ev = eventually(30, || {
        let e = get(
            &s.url("/api/v1/events?kind=health&graph_id=dickens&order=oldest_first"),
            &[],
        )
        .json();
        let n = e["events"].as_array().unwrap().len();
        let last_healthy = e["events"]
            .as_array()
            .unwrap()
            .last()
            .is_some_and(|l| l["message"].as_str().unwrap().contains("-> HEALTHY"));
        (n >= 4 && last_healthy).then_some(e)
    });
    let mut msgs: Vec<String> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_owned())
        .collect();
    // The first check runs at start-up and may come before the first backup finished.
    if msgs
        .first()
        .is_some_and(|m| m.contains("unknown -> DEGRADED"))
    {
        msgs.remove(0);
    }
    // A check between the folder's return and the end of the fresh backup (which waits for
    // the folder to settle) sees it back but with an old backup.
    if let Some(i) = msgs.iter().position(|m| m.contains("OFFLINE -> DEGRADED")) {
        msgs.remove(i);
    }
    assert_eq!(msgs.len(), 4, "{msgs:#?}");
    for (m, to) in msgs
        .iter()
        .zip(["HEALTHY", "DEGRADED", "OFFLINE", "HEALTHY"])
    {
        assert!(m.contains(to), "{msgs:#?}");
    }
}

fn promtool_check(exposition: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool must be installed (scripts/test installs Debian's prometheus)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn metrics_collection_and_prometheus_export() {
    let (s, _) = server(&[("LIGHTRAG_HEALTH_CHECK_INTERVAL", "1s")]);
    post(&s.url("/api/v1/graphs/dickens/backups?wait=true"), None);
    post(
        &s.url("/api/v1/backups/verify?wait=true"),
        Some(json!({"read_data": "all"})),
    );
    post(
        &s.url("/api/v1/recovery/points"),
        Some(json!({"graph_ids": ["dickens"], "description": "m"})),
    );
    eventually(30, || {
        (graph_status(&s, "dickens") == "HEALTHY").then_some(())
    });
    let first = get(&s.metrics_url(), &[]);
    assert!(
        first.content_type.starts_with("text/plain; version=0.0.4"),
        "{}",
        first.content_type
    );
    promtool_check(&first.body);
    let value = |body: &str, prefix: &str| -> f64 {
        body.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{body}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    for metric in [
        "lightrag_backup_snapshots_total{",
        "lightrag_backup_size_bytes{graph=\"dickens\"}",
        "lightrag_backup_last_success_timestamp_seconds{graph=\"dickens\"}",
        "lightrag_graph_health_status{graph=\"dickens\"}",
        "lightrag_recovery_validations_total{",
        "lightrag_http_request_duration_seconds_bucket{",
        "lightrag_build_info{",
        "process_resident_memory_bytes",
    ] {
        value(&first.body, metric);
    }
    assert_eq!(
        value(
            &first.body,
            "lightrag_graph_health_status{graph=\"dickens\"}"
        ),
        0.0
    );
    let requests = "lightrag_backup_storage_requests_total{graph=\"dickens\"}";
    // A local directory has no per-request cost: the series exists at 0.
    assert_eq!(value(&first.body, requests), 0.0, "{}", first.body);
    // Counters only grow between scrapes.
    let before = value(
        &first.body,
        "lightrag_backup_snapshots_total{graph=\"dickens\",status=\"completed\",trigger=\"manual\"}",
    );
    post(&s.url("/api/v1/graphs/dickens/backups?wait=true"), None);
    let second = get(&s.url("/api/v1/health-dashboard/metrics"), &[]).body;
    promtool_check(&second);
    let after = value(
        &second,
        "lightrag_backup_snapshots_total{graph=\"dickens\",status=\"completed\",trigger=\"manual\"}",
    );
    // At least our backup: the metrics recorder is per process and other tests in this binary
    // back up their own `dickens` graphs concurrently.
    assert!(after >= before + 1.0, "before {before}, after {after}");
}

#[test]
fn event_logging_and_analytics_queries() {
    let (s, work) = server(&[]);
    post(&s.url("/api/v1/graphs/dickens/backups?wait=true"), None);
    post(&s.url("/api/v1/graphs/dickens/backups?wait=true"), None);
    // A backup that fails: a LightRAG file that never parses.
    std::fs::write(
        work.join("bingofhy/vdb_chunks.json"),
        b"{\"embedding_dim\": 512, \"data\": [",
    )
    .unwrap();
    let r = post(&s.url("/api/v1/graphs/bingofhy/backups?wait=true"), None);
    assert!(r.status >= 400, "{}", r.body);
    let e = eventually(30, || {
        let e = get(&s.url("/api/v1/events?kind=backup&order=oldest_first"), &[]).json();
        (e["events"].as_array().unwrap().len() == 6).then_some(e)
    });
    let types: Vec<&str> = e["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types.iter().filter(|t| **t == "backup.completed").count(),
        2,
        "{types:?}"
    );
    assert_eq!(
        types.iter().filter(|t| **t == "backup.failed").count(),
        1,
        "{types:?}"
    );
    let failed = e["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "backup.failed")
        .unwrap();
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("vdb_chunks.json"),
        "{failed}"
    );
    // Time range: nothing before the first event; `until` is exclusive.
    let first_at = e["events"][0]["occurred_at"].as_str().unwrap().to_owned();
    let none = get(
        &s.url(&format!("/api/v1/events?kind=backup&until={first_at}")),
        &[],
    )
    .json();
    assert!(none["events"].as_array().unwrap().is_empty(), "{none}");
    let all = get(
        &s.url(&format!("/api/v1/events?kind=backup&since={first_at}")),
        &[],
    )
    .json();
    assert_eq!(all["events"].as_array().unwrap().len(), 6);
    // Analytics equal the hand count: 2 of 3 finished backups succeeded.
    let a = get(&s.url("/api/v1/events/analytics?window=1h"), &[]).json();
    let backup = a["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "backup")
        .unwrap_or_else(|| panic!("{a}"));
    assert_eq!(backup["completed"], 2, "{a}");
    assert_eq!(backup["failed"], 1, "{a}");
    let rate = backup["success_rate"].as_f64().unwrap();
    assert!((rate - 2.0 / 3.0).abs() < 1e-9, "{a}");
    assert_eq!(a["by_severity"]["error"], 1, "{a}");
    assert_eq!(a["by_type"]["backup.started"], 3, "{a}");
}
