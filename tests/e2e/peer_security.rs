//! Issue 14 #2, end to end: the receive-only key opens the peer receive routes and nothing
//! else (every route of the OpenAPI document, the unlisted pages and the whitelisted probes),
//! a primary replicates with it, and plain `http://` peers beyond loopback are refused by the
//! API and the CLI with the setting named.

use std::process::Command;

use serde_json::{Value, json};

use crate::common::{TestServer, copy_fixture, eventually, get, post, test_config};

const API_KEY: &str = "standby-admin-key-0123456789";
const RECEIVE_KEY: &str = "standby-receive-key-0123456789";

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(20)))
        .build()
        .into()
}

/// `method path` with `headers`, a JSON body for state-changing methods; (status, body).
fn call(method: &str, url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let state_changing = matches!(method, "POST" | "PUT" | "PATCH" | "DELETE");
    let body = if state_changing {
        b"{}".to_vec()
    } else {
        Vec::new()
    };
    if state_changing {
        req = req.header("Content-Type", "application/json");
    }
    let mut res = agent()
        .run(req.body(body).unwrap())
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = res.status().as_u16();
    (status, res.body_mut().read_to_string().unwrap_or_default())
}

/// Every (method, concrete path) of the OpenAPI document, path parameters filled in.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (tpl, item) in doc["paths"].as_object().expect("paths") {
        let path: String = {
            let mut p = String::new();
            let mut in_param = false;
            for c in tpl.chars() {
                match c {
                    '{' => {
                        in_param = true;
                        p.push_str("x1");
                    }
                    '}' => in_param = false,
                    _ if in_param => {}
                    c => p.push(c),
                }
            }
            p
        };
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                out.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

fn standby() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let replica = dir.path().join("replica").display().to_string();
    TestServer::start_with(
        test_config(
            dir.path(),
            &[
                ("LIGHTRAG_API_KEY", API_KEY),
                ("LIGHTRAG_REPLICATION_RECEIVE_KEY", RECEIVE_KEY),
                ("LIGHTRAG_REPLICA_DIR", &replica),
            ],
        ),
        dir,
    )
}

/// The receive key is refused (401/403) on every route but the receive routes — each operation
/// of the OpenAPI document, the pages it does not list, and the whitelisted probes — in both
/// header forms; it works on every receive route, as does the admin key (compatibility).
#[test]
fn the_receive_key_opens_the_receive_routes_and_nothing_else() {
    let s = standby();
    let (st, doc) = call(
        "GET",
        &s.url("/api/v1/openapi.json"),
        &[("X-API-Key", API_KEY)],
    );
    assert_eq!(st, 200, "{doc}");
    let doc: Value = serde_json::from_str(&doc).unwrap();
    let mut ops = operations(&doc);
    assert!(
        ops.len() >= 30,
        "the document lists the routes: {}",
        ops.len()
    );
    for extra in [
        "/api/v1/openapi.json",
        "/health",
        "/livez",
        "/readyz",
        "/metrics",
        "/",
    ] {
        ops.push(("GET".to_owned(), extra.to_owned()));
    }
    let bearer = format!("Bearer {RECEIVE_KEY}");
    let mut checked = 0;
    for (method, path) in &ops {
        assert!(
            !path.starts_with("/api/v1/replication/receive"),
            "receive routes are not in the public document"
        );
        for header in [
            ("X-API-Key", RECEIVE_KEY),
            ("Authorization", bearer.as_str()),
        ] {
            let (status, body) = call(method, &s.url(path), &[header]);
            assert!(
                status == 401 || status == 403,
                "{method} {path} with the receive key ({}) answered {status}: {body}",
                header.0
            );
            checked += 1;
        }
        // Sanity: the admin key is not refused by the guard on the same request.
        let (status, body) = call(method, &s.url(path), &[("X-API-Key", API_KEY)]);
        assert!(
            !body.contains("receive key"),
            "{method} {path} with the admin key: {status} {body}"
        );
    }
    assert!(checked >= 70, "{checked}");
    // The message names the scope, never the key.
    let (status, body) = call(
        "GET",
        &s.url("/api/v1/graphs"),
        &[("X-API-Key", RECEIVE_KEY)],
    );
    assert_eq!(status, 403);
    assert!(body.contains("/api/v1/replication/receive"), "{body}");
    assert!(!body.contains(RECEIVE_KEY), "{body}");

    // Every receive route works with the receive key, and with the admin key.
    let data = b"replica pack bytes".to_vec();
    let id = blake3::hash(&data).to_hex().to_string();
    let key = format!("data/{}/{id}", &id[..2]);
    for k in [RECEIVE_KEY, API_KEY] {
        let (st, body) = call(
            "GET",
            &s.url("/api/v1/replication/receive/status"),
            &[("X-API-Key", k)],
        );
        assert_eq!(st, 200, "{body}");
        let res = agent()
            .put(s.url(&format!("/api/v1/replication/receive/objects/{key}")))
            .header("X-API-Key", k)
            .header("Content-Type", "application/octet-stream")
            .send(&data[..])
            .unwrap();
        assert!(
            [200, 201].contains(&res.status().as_u16()),
            "{}",
            res.status()
        );
        let res = agent()
            .post(s.url("/api/v1/replication/receive/have"))
            .header("X-API-Key", k)
            .send_json(json!({"keys": [key]}))
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        let (st, body) = call(
            "GET",
            &s.url("/api/v1/replication/receive/objects?prefix=data/"),
            &[("X-API-Key", k)],
        );
        assert_eq!(st, 200, "{body}");
        assert!(body.contains(&id), "{body}");
        let (st, _) = call(
            "GET",
            &s.url(&format!("/api/v1/replication/receive/objects/{key}")),
            &[("X-API-Key", k)],
        );
        assert_eq!(st, 200);
    }
    let res = agent()
        .delete(s.url(&format!("/api/v1/replication/receive/objects/{key}")))
        .header("X-API-Key", RECEIVE_KEY)
        .call()
        .unwrap();
    assert_eq!(res.status().as_u16(), 204);
    // Without a key, or with a wrong one, the receive routes stay closed.
    let (st, _) = call("GET", &s.url("/api/v1/replication/receive/status"), &[]);
    assert_eq!(st, 401);
    let (st, _) = call(
        "GET",
        &s.url("/api/v1/replication/receive/status"),
        &[("X-API-Key", "not-the-receive-key-000")],
    );
    assert_eq!(st, 403);
}

/// A primary replicates to a standby with only its receive key.
#[test]
fn a_primary_replicates_with_the_receive_key() {
    let standby = standby();
    let primary_dir = tempfile::tempdir().unwrap();
    copy_fixture(
        "bingofhy-rag_storage",
        &primary_dir.path().join("rag_storage").join("bingofhy"),
    );
    let primary = TestServer::start_with(test_config(primary_dir.path(), &[]), primary_dir);
    let base = format!("http://{}", standby.api);
    let r = post(
        &primary.url("/api/v1/replication/targets"),
        Some(
            json!({"name": "standby", "spec": {"kind": "peer", "url": base, "api_key": RECEIVE_KEY}}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let h = get(
        &primary.url("/api/v1/replication/targets/standby/health"),
        &[],
    )
    .json();
    assert_eq!(h["authenticated"], true, "{h}");
    let r = post(
        &primary.url("/api/v1/graphs/bingofhy/backups?wait=true"),
        None,
    );
    assert!(r.status == 200 || r.status == 201, "{}", r.body);
    let r = post(&primary.url("/api/v1/replication/sync?wait=true"), None);
    assert!(r.status < 300, "{}", r.body);
    eventually(60, || {
        let st = get(&primary.url("/api/v1/replication/status"), &[]).json();
        let states = st["states"].as_array().cloned().unwrap_or_default();
        states
            .iter()
            .any(|s| s["last_synced_snapshot_id"].is_string())
            .then_some(())
    });
    let received = std::fs::read_dir(standby.dir().join("replica").join("snapshots"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(received > 0, "the standby holds the snapshot");
    // The primary's catalog holds the receive key sealed (not in clear) beside its key file.
    let key_file = primary.dir().join("recovery.db.key");
    if std::env::var("LIGHTRAG_TEST_SERVER_DB").as_deref() != Ok("postgres") {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

/// Plain http:// to a host that is not loopback: 400 from the API (create and move) naming
/// LIGHTRAG_REPLICATION_ALLOW_HTTP, nothing stored; accepted once the setting is on.
#[test]
fn plain_http_peers_are_refused_by_the_api_unless_allowed() {
    let s = TestServer::start(&[]);
    let spec = json!({"kind": "peer", "url": "http://192.0.2.10:9622", "api_key": RECEIVE_KEY});
    let r = post(
        &s.url("/api/v1/replication/targets"),
        Some(json!({"name": "remote", "spec": spec})),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("LIGHTRAG_REPLICATION_ALLOW_HTTP"),
        "{}",
        r.body
    );
    assert!(!r.body.contains(RECEIVE_KEY), "{}", r.body);
    let list = get(&s.url("/api/v1/replication/targets"), &[]).json();
    assert_eq!(list["targets"].as_array().map(Vec::len), Some(0), "{list}");
    // https is fine; moving it to plain http is refused the same way.
    let r = post(
        &s.url("/api/v1/replication/targets"),
        Some(
            json!({"name": "remote", "spec": {"kind": "peer", "url": "https://192.0.2.10:9622", "api_key": RECEIVE_KEY}}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = crate::common::patch(
        &s.url("/api/v1/replication/targets/remote"),
        json!({"location": "http://192.0.2.10:9622", "api_key": RECEIVE_KEY}),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("LIGHTRAG_REPLICATION_ALLOW_HTTP"),
        "{}",
        r.body
    );
    let t = get(&s.url("/api/v1/replication/targets/remote"), &[]).json();
    assert_eq!(t["url"], "https://192.0.2.10:9622", "unchanged: {t}");

    let allowed = TestServer::start(&[("LIGHTRAG_REPLICATION_ALLOW_HTTP", "true")]);
    let r = post(
        &allowed.url("/api/v1/replication/targets"),
        Some(json!({"name": "remote", "spec": spec})),
    );
    assert_eq!(r.status, 201, "{}", r.body);
}

/// The CLI refuses the same URL with a clear error naming the setting (exit code ≠ 0).
#[test]
fn plain_http_peers_are_refused_by_the_cli_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let run = |allow: bool| {
        let mut c = Command::new(crate::common::bin_path());
        for (k, _) in std::env::vars() {
            if k.starts_with("LIGHTRAG_") {
                c.env_remove(k);
            }
        }
        c.current_dir(dir.path())
            .env(
                "LIGHTRAG_RECOVERY_DB_URL",
                crate::common::catalog_url(dir.path()),
            )
            .env("LIGHTRAG_WORKING_DIR", dir.path().join("rag_storage"))
            .env("LIGHTRAG_BACKUP_STORAGE", dir.path().join("backups"))
            .env("LIGHTRAG_PEER_API_KEY", RECEIVE_KEY)
            .env("LIGHTRAG_REPLICATION_ALLOW_HTTP", allow.to_string())
            .args(["targets", "add-peer", "remote", "http://192.0.2.10:9622"]);
        c.output().unwrap()
    };
    let out = run(false);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("LIGHTRAG_REPLICATION_ALLOW_HTTP"), "{err}");
    assert!(!err.contains(RECEIVE_KEY), "{err}");
    let out = run(true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
