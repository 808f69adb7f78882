//! Every LightRAG workspace is protected by default (issue 17 #1): a folder whose name is not a
//! valid graph id gets a stable id by the documented rule, with the name kept as its label; a
//! folder that still cannot become a graph is reported as unprotected on the dashboard, in
//! `/api/v1/health-dashboard/status`, in a metric and once in the log, and `backup --all`
//! names it.

use std::io::Read as _;
use std::time::Duration;

use crate::child::{self, ChildServer};
use crate::common::{copy_fixture, eventually, get, post};

/// The documented rule, computed here independently of the server's code.
fn mapped(slug: &str, name: &str) -> String {
    format!("{slug}-{}", &blake3::hash(name.as_bytes()).to_hex()[..10])
}

#[test]
fn folders_whose_names_are_not_ids_are_protected_and_the_rest_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("rag_storage");
    copy_fixture("adamaslan-dickens", &work.join("備援"));
    copy_fixture("bingofhy-rag_storage", &work.join("my graph"));
    // Discovery never follows a link: this one cannot be protected.
    let outside = dir.path().join("outside");
    copy_fixture("adamaslan-dickens", &outside);
    std::os::unix::fs::symlink(&outside, work.join("linked")).unwrap();
    let cjk = mapped("ws", "備援");
    let spaced = mapped("my-graph", "my graph");

    // The log level stays `warn` (a pipe nobody reads while the server runs must not fill).
    let env = [("LIGHTRAG_HEALTH_CHECK_INTERVAL", "1s".to_owned())];
    let mut s = ChildServer::start(dir.path(), &env, |s| {
        get(&format!("http://127.0.0.1:{}/livez", s.api_port), &[]).status == 200
    });
    let url = |p: &str| format!("http://127.0.0.1:{}{p}", s.api_port);

    let status = eventually(30, || {
        let j = get(&url("/api/v1/health-dashboard/status"), &[]).json();
        (j["graphs"].as_array().map_or(0, Vec::len) == 2).then_some(j)
    });
    let graph = |id: &str| {
        status["graphs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["id"] == id)
            .unwrap_or_else(|| panic!("no graph {id}: {status}"))
            .clone()
    };
    assert_eq!(graph(&cjk)["label"], "備援", "{status}");
    assert_eq!(graph(&spaced)["label"], "my graph", "{status}");
    let unprotected = status["unprotected"].as_array().unwrap();
    assert_eq!(unprotected.len(), 1, "{status}");
    assert!(
        unprotected[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("rag_storage/linked"),
        "{status}"
    );
    assert!(
        unprotected[0]["reason"]
            .as_str()
            .unwrap()
            .contains("symbolic link"),
        "{status}"
    );

    // A mapped graph is an ordinary graph: backed up through the API under its id.
    let r = post(
        &url(&format!("/api/v1/graphs/{cjk}/backups?wait=true")),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let listed = get(&url(&format!("/api/v1/backups?graph_id={cjk}")), &[]);
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert!(listed.body.contains(&cjk), "{}", listed.body);

    // The metric and the dashboard.
    let metrics = get(&format!("http://127.0.0.1:{}/metrics", s.metrics_port), &[]);
    assert!(
        metrics.body.contains("lightrag_unprotected_folders 1"),
        "{}",
        metrics.body
    );
    let page = get(&url("/health"), &[]).body;
    assert!(page.contains("Unprotected folders: 1"), "{page}");
    assert!(page.contains("rag_storage/linked"), "{page}");
    assert!(page.contains("備援"), "the label is shown: {page}");

    // Several health checks later, the folder was logged once.
    std::thread::sleep(Duration::from_millis(3_500));
    let _ = s.child.kill();
    let _ = s.child.wait();
    let mut log = String::new();
    s.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert_eq!(
        log.matches("is not protected").count(),
        1,
        "one warning for one folder, however many checks ran:\n{log}"
    );
    assert!(!log.contains("Skipped"), "{log}");

    // `backup --all` backs up both mapped graphs and names the folder it cannot protect.
    let out = child::run(dir.path(), &[], &["backup", "--all"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&cjk) && stdout.contains(&spaced),
        "{stdout}"
    );
    assert_eq!(stderr.matches("not protected").count(), 1, "{stderr}");
    assert!(stderr.contains("symbolic link"), "{stderr}");
}
