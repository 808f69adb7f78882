//! The plan's health-dashboard paths and the HTML page, rendered by a real headless Chromium.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{TestServer, copy_fixture, eventually, get, post, test_config};

fn server() -> (TestServer, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("rag_storage");
    copy_fixture("adamaslan-dickens", &work.join("dickens"));
    copy_fixture("bingofhy-rag_storage", &work.join("bingofhy"));
    let cfg = test_config(
        dir.path(),
        &[
            ("LIGHTRAG_HEALTH_CHECK_INTERVAL", "1s"),
            ("LIGHTRAG_RPO", "1h"),
        ],
    );
    (TestServer::start_with(cfg, dir), work)
}

fn graph_status(s: &TestServer, id: &str) -> serde_json::Value {
    get(
        &s.url(&format!("/api/v1/health-dashboard/graphs/{id}/status")),
        &[],
    )
    .json()
}

#[test]
fn health_dashboard_paths_report_real_checks() {
    let (s, work) = server();
    // No backup yet: DEGRADED with the reason.
    let st = get(&s.url("/api/v1/health-dashboard/status"), &[]);
    assert_eq!(st.status, 200, "{}", st.body);
    let j = st.json();
    assert_eq!(j["graphs"].as_array().unwrap().len(), 2, "{j}");
    let g = graph_status(&s, "dickens");
    assert_eq!(g["graph"]["status"], "DEGRADED", "{g}");

    // After a backup the graph becomes HEALTHY at the next check.
    let r = post(&s.url("/api/v1/graphs/dickens/backups?wait=true"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    eventually(30, || {
        (graph_status(&s, "dickens")["graph"]["status"] == "HEALTHY").then_some(())
    });
    let g = graph_status(&s, "dickens");
    assert_eq!(g["recent_backups"].as_array().unwrap().len(), 1, "{g}");

    // A core file that no longer parses makes it OFFLINE, with the file named.
    std::fs::write(
        work.join("dickens/vdb_entities.json"),
        b"{\"embedding_dim\": 768, \"data\": [",
    )
    .unwrap();
    let g = eventually(30, || {
        let g = graph_status(&s, "dickens");
        (g["graph"]["status"] == "OFFLINE").then_some(g)
    });
    let reasons = g["graph"]["reasons"].to_string();
    assert!(reasons.contains("vdb_entities.json"), "{reasons}");

    let summary = get(&s.url("/api/v1/health-dashboard/backups/summary"), &[]).json();
    let dickens = summary["graphs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["graph_id"] == "dickens")
        .unwrap()
        .clone();
    assert_eq!(dickens["snapshots"], 1, "{summary}");
    let rep = get(&s.url("/api/v1/health-dashboard/replication/status"), &[]);
    assert_eq!(rep.status, 200);
    assert_eq!(rep.json()["targets"], serde_json::json!([]));
    let m = get(&s.url("/api/v1/health-dashboard/metrics"), &[]);
    assert_eq!(m.status, 200);
    assert!(
        m.body.contains("lightrag_graph_health_status"),
        "{}",
        m.body
    );
    assert_eq!(
        graph_status(&s, "nope")
            .get("error")
            .map(|e| e["code"].clone()),
        Some("not_found".into())
    );

    // /health answers JSON when asked.
    let j = get(&s.url("/health"), &[("Accept", "application/json")]).json();
    assert_eq!(j["overall"], "OFFLINE", "{j}");
}

fn artifacts_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs headless Chromium with the flags this machine needs, bounded to 60 s.
fn chromium(args: &[&str]) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium must be installed (scripts/test installs Debian's chromium)");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn health_dashboard_renders_in_chromium() {
    let (s, _work) = server();
    let r = post(&s.url("/api/v1/graphs/bingofhy/backups?wait=true"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    eventually(30, || {
        let g = get(
            &s.url("/api/v1/health-dashboard/graphs/bingofhy/status"),
            &[],
        )
        .json();
        (g["graph"]["status"] == "HEALTHY").then_some(())
    });
    let url = s.url("/health");

    let out = chromium(&["--dump-dom", &url]);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(dom.contains("<table id=\"graphs\""), "{dom}");
    assert!(
        dom.contains("data-graph=\"bingofhy\" data-status=\"HEALTHY\""),
        "{dom}"
    );
    assert!(
        dom.contains("data-graph=\"dickens\" data-status=\"DEGRADED\""),
        "{dom}"
    );
    assert!(
        dom.contains("Recent backups") && dom.contains("Critical events"),
        "{dom}"
    );

    let png = artifacts_dir().join("dashboard.png");
    let _ = std::fs::remove_file(&png);
    let shot = format!("--screenshot={}", png.display());
    let out = chromium(&[&shot, "--window-size=1280,900", &url]);
    let bytes = std::fs::read(&png).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(
        bytes.len() > 10_000,
        "screenshot suspiciously small: {} bytes",
        bytes.len()
    );

    let phone = artifacts_dir().join("dashboard-phone.png");
    let shot = format!("--screenshot={}", phone.display());
    chromium(&[&shot, "--window-size=390,844", &url]);
    assert!(
        std::fs::metadata(&phone)
            .map(|m| m.len() > 5_000)
            .unwrap_or(false)
    );
}
