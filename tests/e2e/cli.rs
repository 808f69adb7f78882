//! The real binary: version, help, configuration errors, bind errors, graceful shutdown.

use std::io::Read as _;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{free_port, get};

fn bin() -> Command {
    let mut c = Command::new(crate::common::bin_path());
    // Only what the test sets: no LIGHTRAG_* leaking in from the developer's shell.
    for (k, _) in std::env::vars() {
        if k.starts_with("LIGHTRAG_") {
            c.env_remove(k);
        }
    }
    c.env("RUST_LOG", "info");
    c
}

#[test]
fn version_and_help() {
    let out = bin().arg("--version").output().unwrap();
    assert!(out.status.success());
    let v = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        v.trim(),
        format!("lightrag-ops {}", env!("CARGO_PKG_VERSION"))
    );

    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    let h = String::from_utf8(out.stdout).unwrap();
    for word in ["serve", "config", "Exit codes", "LIGHTRAG_"] {
        assert!(h.contains(word), "--help lacks {word}:\n{h}");
    }
}

#[test]
fn config_command_shows_env_over_dotenv_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "LIGHTRAG_PORT=9700\nLIGHTRAG_RPO=3h\nLIGHTRAG_API_KEY=dotenv-secret-0123456789\n",
    )
    .unwrap();
    let out = bin()
        .current_dir(dir.path())
        .args(["--json", "config"])
        .env("LIGHTRAG_PORT", "9800")
        .env(
            "LIGHTRAG_RECOVERY_DB_URL",
            "postgres://u:pgpass@127.0.0.1/x",
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["LIGHTRAG_PORT"], "9800");
    assert_eq!(j["LIGHTRAG_RPO"], "3h");
    assert_eq!(j["LIGHTRAG_API_KEY"], "***");
    assert_eq!(
        j["LIGHTRAG_RECOVERY_DB_URL"],
        "postgres://u:***@127.0.0.1/x"
    );
    let all = String::from_utf8_lossy(&out.stdout);
    assert!(!all.contains("dotenv-secret") && !all.contains("pgpass"));
}

#[test]
fn invalid_configuration_exits_2_naming_every_variable() {
    let out = bin()
        .args(["config"])
        .env("LIGHTRAG_PORT", "nope")
        .env("LIGHTRAG_RPO", "never")
        .env("LIGHTRAG_API_KEY", "leak-me-not-0123456789")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("LIGHTRAG_PORT=\"nope\""), "{err}");
    assert!(err.contains("LIGHTRAG_RPO=\"never\""), "{err}");
    assert!(err.contains("2 problems"), "{err}");
    assert!(!err.contains("leak-me-not-0123456789"), "{err}");
}

#[test]
fn busy_metrics_port_fails_start_up_with_a_clear_message() {
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .current_dir(dir.path())
        .env("LIGHTRAG_PORT", "0")
        .env("LIGHTRAG_METRICS_PORT", &port)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot bind the metrics listener"), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.contains("LIGHTRAG_METRICS_PORT"), "{err}");
    drop(busy);
}

#[test]
fn serves_then_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = bin()
        .current_dir(dir.path())
        .env("LIGHTRAG_PORT", port.to_string())
        .env("LIGHTRAG_METRICS_ENABLED", "false")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded wait for the listener.
    let url = format!("http://127.0.0.1:{port}/livez");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "server did not listen within 30 s"
        );
        assert!(child.try_wait().unwrap().is_none(), "server exited early");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(get(&url, &[]).status, 200);
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit within 30 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{status:?}\n{err}");
    assert!(err.contains("Shutting down"), "{err}");
    assert!(err.contains("Stopped"), "{err}");
}

#[test]
fn db_migrate_applies_once_then_reports_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:///{}", dir.path().join("cat.db").display());
    let run = |args: &[&str]| {
        let out = bin()
            .current_dir(dir.path())
            .args(args)
            .env("LIGHTRAG_RECOVERY_DB_URL", &url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let first = run(&["db", "migrate"]);
    assert!(first.contains("applied "), "{first}");
    let second = run(&["db", "migrate"]);
    assert!(second.contains("up to date"), "{second}");
    let status = run(&["db", "status"]);
    assert!(
        status.contains("applied ") && !status.contains("pending "),
        "{status}"
    );

    let out = bin()
        .args(["db", "migrate"])
        .env(
            "LIGHTRAG_RECOVERY_DB_URL",
            "postgres://u:hidden-pw@127.0.0.1:1/x",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("LIGHTRAG_RECOVERY_DB_URL"), "{err}");
    assert!(!err.contains("hidden-pw"), "{err}");
}

/// Defect 13.1: `lightrag-ops backup default` walked every workspace folder of the working
/// directory, and a multi-graph parent captured the workspace graphs nested in it. Each
/// snapshot now holds exactly its graph's files (the server's graph locator).
#[test]
fn backup_captures_each_graph_without_the_graphs_nested_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("rag_storage");
    let doc = r#"{"doc-1": {"content": "x"}}"#;
    for f in [
        "kv_store_full_docs.json",
        "ws/kv_store_full_docs.json",
        "graphs/g1/kv_store_full_docs.json",
        "graphs/g1/w1/kv_store_full_docs.json",
    ] {
        let p = work.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, doc).unwrap();
    }
    std::fs::write(work.join("graphs_config.json"), "{}").unwrap();
    let out = bin()
        .current_dir(dir.path())
        .env("LIGHTRAG_WORKING_DIR", &work)
        .env("LIGHTRAG_BACKUP_STORAGE", dir.path().join("repo"))
        .env(
            "LIGHTRAG_RECOVERY_DB_URL",
            format!("sqlite:///{}", dir.path().join("cat.db").display()),
        )
        .args(["--json", "backup", "--all"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files: std::collections::BTreeMap<String, u64> = j
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["snapshot"]["graph_id"].as_str().unwrap().to_owned(),
                s["snapshot"]["totals"]["files"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: std::collections::BTreeMap<String, u64> = [
        // The root files: its own store and graphs_config.json, no workspace file.
        ("default", 2),
        ("ws", 1),
        ("g1", 1),
        ("g1.w1", 1),
    ]
    .into_iter()
    .map(|(g, n)| (g.to_owned(), n))
    .collect();
    assert_eq!(files, expected, "{j}");
}
