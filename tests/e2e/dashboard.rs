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

/// Adds one document to the graph's doc_status store (LightRAG's own format: a JSON object of
/// records), so the next snapshot counts one more document.
fn add_document(graph_dir: &Path, id: &str) {
    let path = graph_dir.join("kv_store_doc_status.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    v.as_object_mut().unwrap().insert(
        id.to_owned(),
        serde_json::json!({"status": "processed", "content_summary": "added by the test", "content_length": 17, "chunks_count": 1, "created_at": "2026-12-03T00:00:00+00:00", "updated_at": "2026-12-03T00:00:00+00:00", "file_path": "test.txt"}),
    );
    std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
}

/// Screenshot of `url` at `width`×`height` into the artifacts folder; a real PNG of some size.
fn screenshot(url: &str, name: &str, width: u32, height: u32) -> PathBuf {
    let png = artifacts_dir().join(name);
    let _ = std::fs::remove_file(&png);
    let shot = format!("--screenshot={}", png.display());
    let size = format!("--window-size={width},{height}");
    let out = chromium(&[&shot, &size, "--hide-scrollbars", url]);
    let bytes = std::fs::read(&png).unwrap_or_else(|e| {
        panic!(
            "no screenshot {name} ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{name} is not a PNG"
    );
    assert!(
        bytes.len() > 8_000,
        "{name} suspiciously small: {} bytes",
        bytes.len()
    );
    png
}

#[test]
fn history_charts_and_the_graph_page_render_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("rag_storage");
    copy_fixture("bingofhy-rag_storage", &work.join("bingofhy"));
    copy_fixture("adamaslan-dickens", &work.join("dickens"));
    let replicas = dir.path().join("replicas");
    std::fs::create_dir_all(&replicas).unwrap();
    let roots = replicas.display().to_string();
    let cfg = test_config(
        dir.path(),
        &[
            ("LIGHTRAG_HEALTH_CHECK_INTERVAL", "1s"),
            ("LIGHTRAG_REPLICATION_ENABLED", "true"),
            ("LIGHTRAG_REPLICATION_PATH_ROOTS", roots.as_str()),
        ],
    );
    let s = TestServer::start_with(cfg, dir);

    // Two backups with one more document between them, a replica, a recovery point.
    let backup = || {
        let r = post(&s.url("/api/v1/graphs/bingofhy/backups?wait=true"), None);
        assert_eq!(r.status, 200, "{}", r.body);
    };
    backup();
    add_document(&work.join("bingofhy"), "doc-added-by-the-dashboard-test");
    backup();
    let r = post(
        &s.url("/api/v1/replication/targets"),
        Some(
            serde_json::json!({"name": "standby", "spec": {"kind": "path", "path": format!("{roots}/standby")}}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let r = post(&s.url("/api/v1/replication/sync?wait=true"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post(
        &s.url("/api/v1/recovery/points"),
        Some(serde_json::json!({"graph_ids": ["bingofhy"], "description": "before the upgrade"})),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let point_id = r.json()["id"].as_str().unwrap().to_owned();
    eventually(30, || {
        let g = get(
            &s.url("/api/v1/health-dashboard/graphs/bingofhy/status"),
            &[],
        )
        .json();
        (g["graph"]["status"] == "HEALTHY").then_some(())
    });

    // The graph page as JSON: snapshots with counts and the diff, lags, events per day.
    let j = get(
        &s.url("/health/graphs/bingofhy"),
        &[("Accept", "application/json")],
    );
    assert_eq!(j.status, 200, "{}", j.body);
    let j = j.json();
    let snaps = j["snapshots"].as_array().unwrap();
    assert_eq!(snaps.len(), 2, "{j}");
    let docs = snaps[0]["counts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "docs")
        .unwrap()
        .clone();
    assert_eq!(
        docs["delta"], 1,
        "one document more than the snapshot before: {j}"
    );
    assert_eq!(docs["b"], docs["a"].as_i64().unwrap() + 1, "{j}");
    assert_eq!(j["history"]["backups"].as_array().unwrap().len(), 2, "{j}");
    assert_eq!(j["history"]["lags"].as_array().unwrap().len(), 1, "{j}");
    assert!(!j["events_per_day"].as_array().unwrap().is_empty(), "{j}");
    assert!(!j["events"].as_array().unwrap().is_empty(), "{j}");

    // Rendered by Chromium: the elements an operator looks for.
    let page = s.url("/health/graphs/bingofhy");
    let dom = String::from_utf8_lossy(&chromium(&["--dump-dom", &page]).stdout).into_owned();
    for needle in [
        r#"data-chart="bingofhy:size""#,
        r#"data-chart="bingofhy:new""#,
        r#"data-chart="bingofhy:duration""#,
        r#"data-chart="bingofhy:lag:tgt-"#,
        r#"data-chart="events-per-day""#,
        r#"<table id="snapshots""#,
        r#"data-delta="docs">+1<"#,
        r#"<table id="recovery-points""#,
        r#"<table id="events""#,
        r#"data-severity="info""#,
        "<time datetime=\"",
        r#"href="/health""#,
    ] {
        assert!(dom.contains(needle), "graph page lacks {needle}:\n{dom}");
    }
    assert_eq!(dom.matches("<tr data-snapshot=").count(), 2, "{dom}");
    assert!(
        dom.split(r#"data-chart="bingofhy:size""#)
            .nth(1)
            .unwrap()
            .split("</figure>")
            .next()
            .unwrap()
            .matches("<circle")
            .count()
            == 2,
        "two backups, two points on the size chart:\n{dom}"
    );
    assert!(
        dom.contains(&point_id),
        "recovery point {point_id} listed:\n{dom}"
    );

    // The main page: a history card per graph with backups, links to the graph pages,
    // relative times with the absolute time on hover.
    let main =
        String::from_utf8_lossy(&chromium(&["--dump-dom", &s.url("/health")]).stdout).into_owned();
    for needle in [
        r#"data-history="bingofhy""#,
        r#"<a href="/health/graphs/bingofhy">"#,
        r#"data-chart="events-per-day""#,
        "<time datetime=\"",
        "just now</time>",
    ] {
        assert!(main.contains(needle), "dashboard lacks {needle}:\n{main}");
    }
    assert!(!main.contains("Unprotected folders"), "{main}");

    // Screenshots kept as artifacts (target/test-artifacts), desktop and phone width.
    screenshot(&s.url("/health"), "dashboard-history.png", 1280, 2200);
    screenshot(&s.url("/health"), "dashboard-history-phone.png", 390, 2400);
    screenshot(&page, "graph-page.png", 1280, 2000);
    screenshot(&page, "graph-page-phone.png", 390, 2600);

    // An unknown or malformed graph gets a clear 4xx.
    assert_eq!(get(&s.url("/health/graphs/nope"), &[]).status, 404);
    assert_eq!(get(&s.url("/health/graphs/..%2Fetc"), &[]).status, 400);
}

/// The main dashboard charts each graph's own newest backups: a graph backed up once keeps its
/// chart beside a graph with hundreds of newer backups (the page used to chart the newest 500
/// backups across all graphs, so at fleet size a quiet graph lost its history).
#[test]
fn a_quiet_graph_keeps_its_chart_beside_a_busy_one() {
    use lightrag_recovery_db::{
        BackupRecord, BackupStatus, BackupTrigger, Db, DbConfig, Timestamp,
    };
    let (s, work) = server();
    let r = post(&s.url("/api/v1/graphs/dickens/backups?wait=true"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    // 600 newer completed rows of the other graph, straight into the catalog.
    let db = Db::connect(&DbConfig::new(crate::common::catalog_url(
        work.parent().unwrap(),
    )))
    .unwrap();
    let mut c = db.conn().unwrap();
    let now = Timestamp::now();
    let mut completed = |id: String, graph: &str, at: Timestamp| {
        let mut b = BackupRecord::new(id, graph, BackupTrigger::Manual);
        b.status = BackupStatus::Completed;
        b.created_at = at;
        b.finished_at = Some(at);
        lightrag_recovery_db::create_backup(&mut c, &b).unwrap();
    };
    for i in 0..600 {
        completed(
            format!("20990101T000000000Z-busy{i:04}"),
            "bingofhy",
            now.add_millis(1000 + i),
        );
    }
    // A graph whose folder is gone keeps its chart while the catalog has its backups.
    for i in 0..3 {
        completed(
            format!("20990101T000000000Z-gone{i:04}"),
            "gone",
            now.add_millis(i),
        );
    }
    drop(c);
    let j = get(&s.url("/health"), &[("Accept", "application/json")]).json();
    let history = j["history"].as_array().expect("history").clone();
    let charted = |id: &str| {
        history
            .iter()
            .find(|h| h["graph_id"] == id)
            .map(|h| h["backups"].as_array().unwrap().len())
    };
    assert_eq!(charted("dickens"), Some(1), "{j}");
    // lightrag_service::HISTORY_BACKUPS per graph.
    assert_eq!(charted("bingofhy"), Some(30), "{j}");
    assert_eq!(charted("gone"), Some(3), "{j}");
    // The page draws both cards.
    let page = get(&s.url("/health"), &[]).body;
    assert!(page.contains(r#"data-history="dickens""#), "{page}");
    assert!(page.contains(r#"data-history="bingofhy""#), "{page}");
}
