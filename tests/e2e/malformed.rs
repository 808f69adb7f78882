//! Defect 13.15: every malformed input answers a 4xx with a JSON error — never a 5xx. A table
//! of NUL bytes, overlong and odd-unicode values in ids, paths, query parameters, target URLs
//! and bodies, sent to every route family. Operations that run as jobs are asked to wait
//! (`?wait=true`), so the job's error is the answer. (Multibyte snapshot ids on the receive
//! routes are defect 13.7's regression test.)

use std::time::Duration;

use crate::common::TestServer;

const KEY: &str = "malformed-key-0123456789";

struct Case {
    method: &'static str,
    path: String,
    body: Option<Vec<u8>>,
}

fn case(method: &'static str, path: impl Into<String>, body: Option<serde_json::Value>) -> Case {
    Case {
        method,
        path: path.into(),
        body: body.map(|b| serde_json::to_vec(&b).unwrap()),
    }
}

fn raw(method: &'static str, path: impl Into<String>, body: &[u8]) -> Case {
    Case {
        method,
        path: path.into(),
        body: Some(body.to_vec()),
    }
}

fn send(s: &TestServer, c: &Case) -> (u16, String, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    // Operations that run as jobs answer with the job's error when asked to wait.
    let path = if c.method == "POST" && !c.path.contains('?') {
        format!("{}?wait=true", c.path)
    } else {
        c.path.clone()
    };
    let url = s.url(&path);
    let res = match (c.method, &c.body) {
        ("GET", _) => agent.get(&url).header("X-API-Key", KEY).call(),
        ("DELETE", _) => agent.delete(&url).header("X-API-Key", KEY).call(),
        (m, body) => {
            let req = match m {
                "POST" => agent.post(&url),
                "PUT" => agent.put(&url),
                "PATCH" => agent.patch(&url),
                _ => unreachable!(),
            }
            .header("X-API-Key", KEY)
            .header("Content-Type", "application/json");
            match body {
                Some(b) => req.send(&b[..]),
                None => req.send_empty(),
            }
        }
    };
    let mut res = res.unwrap_or_else(|e| panic!("{} {}: {e}", c.method, c.path));
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = res.body_mut().read_to_string().unwrap_or_default();
    (res.status().as_u16(), ct, body)
}

#[test]
fn malformed_inputs_answer_4xx_with_a_json_error() {
    let dir = tempfile::tempdir().unwrap();
    let roots = dir.path().join("replicas");
    std::fs::create_dir_all(&roots).unwrap();
    std::fs::create_dir_all(dir.path().join("rag_storage").join("g1")).unwrap();
    crate::common::copy_fixture(
        "bingofhy-rag_storage",
        &dir.path().join("rag_storage").join("g1"),
    );
    let roots_s = roots.display().to_string();
    let replica = dir.path().join("replica-in").display().to_string();
    let config = crate::common::test_config(
        dir.path(),
        &[
            ("LIGHTRAG_API_KEY", KEY),
            ("LIGHTRAG_REPLICATION_PATH_ROOTS", roots_s.as_str()),
            ("LIGHTRAG_REPLICA_DIR", replica.as_str()),
            ("LIGHTRAG_AUTO_BACKUP_INTERVAL", "0"),
            ("LIGHTRAG_HEALTH_CHECK_INTERVAL", "0"),
            ("LIGHTRAG_REPLICATION_INTERVAL", "0"),
            ("LIGHTRAG_RETENTION_INTERVAL", "0"),
            ("LIGHTRAG_VERIFY_INTERVAL", "0"),
        ],
    );
    let s = TestServer::start_with(config, dir);

    let long = "a".repeat(5_000);
    let long_seg = "b".repeat(300);
    let nul = "a\u{0}b";
    let odd = "\u{202e}\u{feff}é\u{1F600}";
    let snap_bad = "aaa%C3%A9aaaT000000000Z-00000000";
    let mut cases = vec![
        // The reproducer and its relatives.
        case(
            "POST",
            "/api/v1/graphs",
            Some(serde_json::json!({"id": "x", "path": nul})),
        ),
        case(
            "POST",
            "/api/v1/graphs",
            Some(serde_json::json!({"id": "x", "path": long})),
        ),
        case(
            "POST",
            "/api/v1/graphs",
            Some(serde_json::json!({"id": "x", "path": long_seg})),
        ),
        case(
            "POST",
            "/api/v1/graphs",
            Some(serde_json::json!({"id": "x", "path": format!("{long_seg}/c")})),
        ),
        case(
            "POST",
            "/api/v1/graphs",
            Some(serde_json::json!({"id": "x", "path": odd})),
        ),
        case(
            "POST",
            "/api/v1/graphs",
            Some(serde_json::json!({"id": "x", "path": "/etc"})),
        ),
        case(
            "POST",
            "/api/v1/graphs",
            Some(serde_json::json!({"id": "x", "path": "../x"})),
        ),
        case(
            "POST",
            "/api/v1/graphs",
            Some(serde_json::json!({"id": nul})),
        ),
        case(
            "POST",
            "/api/v1/graphs",
            Some(serde_json::json!({"id": long})),
        ),
        case(
            "POST",
            "/api/v1/graphs",
            Some(serde_json::json!({"id": odd})),
        ),
        case("POST", "/api/v1/graphs", Some(serde_json::json!({"id": 5}))),
        raw("POST", "/api/v1/graphs", b"{\"id\": \"x\xff\"}"),
        raw("POST", "/api/v1/graphs", b"{\"id\": \"\\ud800\"}"),
        raw("POST", "/api/v1/graphs", b"\x00\x01"),
        // Ids in paths.
        case("GET", "/api/v1/graphs/a%00b", None),
        case("GET", format!("/api/v1/graphs/{long}"), None),
        case("GET", "/api/v1/graphs/%E2%80%AE%F0%9F%98%80", None),
        case("GET", "/api/v1/graphs/%FF%FE", None),
        case("DELETE", "/api/v1/graphs/a%00b", None),
        case("POST", "/api/v1/graphs/a%00b/backups", None),
        case("POST", format!("/api/v1/graphs/{long}/backups"), None),
        case("GET", "/api/v1/backups/a%00b", None),
        case("GET", format!("/api/v1/backups/{snap_bad}"), None),
        case("GET", format!("/api/v1/backups/{long}"), None),
        case("GET", "/api/v1/backups/%FF", None),
        case("DELETE", "/api/v1/backups/a%00b", None),
        case("DELETE", format!("/api/v1/backups/{snap_bad}"), None),
        case("GET", "/api/v1/jobs/a%00b", None),
        case("GET", format!("/api/v1/jobs/{long}"), None),
        case("GET", "/api/v1/recovery/points/a%00b", None),
        case("GET", format!("/api/v1/recovery/points/{long}"), None),
        case("DELETE", "/api/v1/recovery/points/a%00b", None),
        case("POST", "/api/v1/recovery/points/a%00b/validate", None),
        case("POST", "/api/v1/recovery/points/a%00b/restore", None),
        case("GET", "/api/v1/replication/targets/a%00b", None),
        case("GET", format!("/api/v1/replication/targets/{long}"), None),
        case("GET", "/api/v1/replication/targets/a%00b/health", None),
        case("DELETE", "/api/v1/replication/targets/a%00b", None),
        case(
            "PATCH",
            "/api/v1/replication/targets/a%00b",
            Some(serde_json::json!({"enabled": false})),
        ),
        case("GET", "/api/v1/health-dashboard/graphs/a%00b/status", None),
        case(
            "GET",
            format!("/api/v1/health-dashboard/graphs/{long}/status"),
            None,
        ),
        // Query parameters.
        case("GET", "/api/v1/backups?graph_id=a%00b", None),
        case("GET", format!("/api/v1/backups?graph_id={long}"), None),
        case("GET", "/api/v1/backups?limit=-1", None),
        case("GET", "/api/v1/backups?limit=99999999999999999999", None),
        case("GET", "/api/v1/backups?status=%00", None),
        case("GET", "/api/v1/graphs?limit=abc", None),
        case("GET", "/api/v1/events?graph_id=a%00b", None),
        case("GET", "/api/v1/events?target_id=a%00b", None),
        case("GET", "/api/v1/events?snapshot_id=a%00b", None),
        case("GET", "/api/v1/events?recovery_point_id=a%00b", None),
        case("GET", "/api/v1/events?event_type=a%00b", None),
        case("GET", format!("/api/v1/events?event_type={long}"), None),
        case("GET", "/api/v1/events?since=a%00b", None),
        case("GET", "/api/v1/events?since=99999999999999999999", None),
        case("GET", "/api/v1/events?since=-99999999999999", None),
        case("GET", "/api/v1/events/analytics?window=a%00b", None),
        case(
            "GET",
            format!("/api/v1/events/analytics?window={long}"),
            None,
        ),
        case(
            "GET",
            "/api/v1/events/analytics?window=99999999999999999999d",
            None,
        ),
        case("GET", "/api/v1/events/analytics?graph_id=a%00b", None),
        case(
            "GET",
            "/api/v1/replication/receive/objects?prefix=a%00b",
            None,
        ),
        case(
            "GET",
            format!("/api/v1/replication/receive/objects?prefix={long}"),
            None,
        ),
        case(
            "GET",
            "/api/v1/replication/receive/objects?prefix=snapshots%2F%C3%A9%2F",
            None,
        ),
        // Receive routes (peer replication).
        case("GET", "/api/v1/replication/receive/objects/a%00b", None),
        case(
            "GET",
            format!("/api/v1/replication/receive/objects/{long}"),
            None,
        ),
        raw("PUT", "/api/v1/replication/receive/objects/a%00b", b"x"),
        case("DELETE", "/api/v1/replication/receive/objects/a%00b", None),
        case(
            "POST",
            "/api/v1/replication/receive/have",
            Some(serde_json::json!({"keys": [nul, long, odd]})),
        ),
        // Target definitions: NUL, overlong and odd unicode in names, paths and URLs.
        case(
            "POST",
            "/api/v1/replication/targets",
            Some(
                serde_json::json!({"name": nul, "spec": {"kind": "path", "path": format!("{roots_s}/t")}}),
            ),
        ),
        case(
            "POST",
            "/api/v1/replication/targets",
            Some(
                serde_json::json!({"name": "t1", "spec": {"kind": "path", "path": format!("{roots_s}/a\u{0}b")}}),
            ),
        ),
        case(
            "POST",
            "/api/v1/replication/targets",
            Some(
                serde_json::json!({"name": "t2", "spec": {"kind": "path", "path": format!("{roots_s}/{long}")}}),
            ),
        ),
        case(
            "POST",
            "/api/v1/replication/targets",
            Some(
                serde_json::json!({"name": "t3", "spec": {"kind": "path", "path": format!("{roots_s}/{long_seg}")}}),
            ),
        ),
        case(
            "POST",
            "/api/v1/replication/targets",
            Some(
                serde_json::json!({"name": "t4", "spec": {"kind": "peer", "url": "http://a\u{0}b"}}),
            ),
        ),
        case(
            "POST",
            "/api/v1/replication/targets",
            Some(
                serde_json::json!({"name": "t5", "spec": {"kind": "peer", "url": format!("http://{long}")}}),
            ),
        ),
        case(
            "POST",
            "/api/v1/replication/targets",
            Some(
                serde_json::json!({"name": "t6", "spec": {"kind": "peer", "url": format!("http://h\u{202e}\u{1F600}/")}}),
            ),
        ),
        case(
            "POST",
            "/api/v1/replication/targets",
            Some(
                serde_json::json!({"name": "t7", "spec": {"kind": "peer", "url": "http://127.0.0.1:9/", "api_key": nul}}),
            ),
        ),
        case(
            "POST",
            "/api/v1/replication/targets",
            Some(
                serde_json::json!({"name": "t8", "spec": {"kind": "object_store", "url": "s3://a\u{0}b"}}),
            ),
        ),
        case(
            "POST",
            "/api/v1/replication/targets",
            Some(
                serde_json::json!({"name": "t9", "spec": {"kind": "object_store", "url": format!("s3://{long}")}}),
            ),
        ),
        case(
            "POST",
            "/api/v1/replication/targets",
            Some(
                serde_json::json!({"name": "t10", "spec": {"kind": "object_store", "url": "s3://bucket/p", "credentials": {"aws_access_key_id": nul}}}),
            ),
        ),
        case(
            "POST",
            "/api/v1/replication/targets",
            Some(
                serde_json::json!({"name": "t11", "spec": {"kind": "object_store", "url": "s3://bucket/p", "credentials": {nul: "x"}}}),
            ),
        ),
        case(
            "POST",
            "/api/v1/replication/sync",
            Some(serde_json::json!({"graph_id": nul})),
        ),
        case(
            "POST",
            "/api/v1/replication/sync",
            Some(serde_json::json!({"graph_id": long})),
        ),
        case(
            "POST",
            "/api/v1/replication/sync",
            Some(serde_json::json!({"target": nul})),
        ),
        case(
            "POST",
            "/api/v1/replication/sync",
            Some(serde_json::json!({"target": long})),
        ),
        // Bodies of operations.
        case(
            "POST",
            "/api/v1/backups/verify",
            Some(serde_json::json!({"snapshots": [nul]})),
        ),
        case(
            "POST",
            "/api/v1/backups/verify",
            Some(serde_json::json!({"snapshots": [long]})),
        ),
        case(
            "POST",
            "/api/v1/backups/verify",
            Some(serde_json::json!({"snapshots": [snap_bad]})),
        ),
        case(
            "POST",
            "/api/v1/backups/verify",
            Some(serde_json::json!({"read_data": {"percent": 1e300}})),
        ),
        case(
            "POST",
            "/api/v1/backups/retention/run",
            Some(serde_json::json!({"dry_run": nul})),
        ),
        case(
            "POST",
            "/api/v1/restore",
            Some(serde_json::json!({"snapshot_id": nul, "target_graph_id": "g1"})),
        ),
        case(
            "POST",
            "/api/v1/restore",
            Some(serde_json::json!({"snapshot_id": long})),
        ),
        case(
            "POST",
            "/api/v1/restore",
            Some(serde_json::json!({"snapshot_id": "x", "target_graph_id": nul})),
        ),
        case(
            "POST",
            "/api/v1/restore",
            Some(serde_json::json!({"snapshot_id": "x", "files": [nul, "../../etc/passwd", long]})),
        ),
        case(
            "POST",
            "/api/v1/recovery/points",
            Some(serde_json::json!({"graph_ids": [nul], "description": "d"})),
        ),
        case(
            "POST",
            "/api/v1/recovery/points",
            Some(serde_json::json!({"graph_ids": [long], "description": "d"})),
        ),
        case(
            "POST",
            "/api/v1/recovery/points",
            Some(serde_json::json!({"graph_ids": ["g1"], "description": nul})),
        ),
        case(
            "POST",
            "/api/v1/recovery/points",
            Some(serde_json::json!({"graph_ids": ["g1"], "description": "d", "created_by": nul})),
        ),
        case(
            "POST",
            "/api/v1/recovery/points",
            Some(serde_json::json!({"graph_ids": ["g1"], "description": long.repeat(20)})),
        ),
    ];
    // A target to PATCH with bad values.
    let t = send(
        &s,
        &case(
            "POST",
            "/api/v1/replication/targets",
            Some(
                serde_json::json!({"name": "good", "spec": {"kind": "path", "path": format!("{roots_s}/good")}}),
            ),
        ),
    );
    assert_eq!(t.0, 201, "{t:?}");
    for body in [
        serde_json::json!({"name": nul}),
        serde_json::json!({"name": long}),
        serde_json::json!({"location": format!("{roots_s}/a\u{0}b")}),
        serde_json::json!({"location": format!("{roots_s}/{long}")}),
        serde_json::json!({"location": "relative"}),
        serde_json::json!({"api_key": nul}),
    ] {
        cases.push(case(
            "PATCH",
            "/api/v1/replication/targets/good",
            Some(body),
        ));
    }

    let mut bad = Vec::new();
    for c in &cases {
        let (status, ct, body) = send(&s, c);
        let json: Option<serde_json::Value> = serde_json::from_str(&body).ok();
        let has_error = json
            .as_ref()
            .is_some_and(|j| j["error"]["code"].is_string() && j["error"]["message"].is_string());
        if !(400..500).contains(&status) || !ct.starts_with("application/json") || !has_error {
            let shown: String = c.path.chars().take(100).collect();
            let sent: String = c
                .body
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).chars().take(160).collect())
                .unwrap_or_default();
            bad.push(format!(
                "{} {shown} {sent} -> {status} {ct} {}",
                c.method,
                body.chars().take(200).collect::<String>()
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} malformed inputs did not answer a JSON 4xx:\n{}",
        bad.len(),
        cases.len(),
        bad.join("\n")
    );
    // The server is still serving.
    let (status, _, _) = send(&s, &case("GET", "/api/v1/graphs", None));
    assert_eq!(status, 200);
}
