//! Issue 16 #4: change-triggered backups of the real LightRAG. LightRAG 1.5.7 (provisioned by
//! scripts/test into a virtual environment, `LIGHTRAG_TEST_PYTHON`) inserts documents with
//! deterministic fake models (tests/lightrag/fakes.py) while the server backs up on change.
//! Afterwards every snapshot restores to files LightRAG opens, every snapshot marked consistent
//! holds one state LightRAG left on disk outside a multi-store save (the driver records each
//! state through LightRAG's `os.replace`) and its cross-store counts agree with its doc_status,
//! and the last snapshot equals the final state.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{TestServer, catalog_url, eventually, get, test_config};

/// The Python of the LightRAG virtual environment; the test fails (never skips) without it.
fn python() -> PathBuf {
    let p = std::env::var_os("LIGHTRAG_TEST_PYTHON").unwrap_or_else(|| {
        panic!(
            "LIGHTRAG_TEST_PYTHON is not set: run scripts/test (it installs lightrag-hku 1.5.7 \
             into ~/.cache/lightrag-venv and exports LIGHTRAG_TEST_PYTHON=<venv>/bin/python)"
        )
    });
    let p = PathBuf::from(p);
    assert!(
        p.is_file(),
        "LIGHTRAG_TEST_PYTHON={} does not exist: run scripts/test",
        p.display()
    );
    p
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("lightrag")
        .join(name)
}

/// Runs a script of tests/lightrag with the venv's Python; its stderr (LightRAG's log) goes
/// to `log`. Returns stdout; panics with the log's tail when it fails or overruns `limit`.
fn run_py(py: &Path, args: &[&str], log: &Path, limit: Duration) -> String {
    let mut child = Command::new(py)
        .args(args)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap());
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} overran {limit:?}:\n{}", tail(log));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = reader.join().unwrap();
    assert!(
        status.success(),
        "{args:?} failed ({status}):\n{}",
        tail(log)
    );
    out
}

fn tail(log: &Path) -> String {
    let s = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn backups(s: &TestServer) -> Vec<serde_json::Value> {
    get(&s.url("/api/v1/backups?graph_id=lr&limit=1000"), &[]).json()["backups"]
        .as_array()
        .unwrap()
        .clone()
}

/// `consistent` of a snapshot's catalog row (issue 16 #2; absent only for older snapshots).
fn consistent(b: &serde_json::Value) -> Option<bool> {
    b.get("consistent").and_then(serde_json::Value::as_bool)
}

#[test]
fn real_lightrag_inserts_are_backed_up_on_change_and_consistent_snapshots_hold_one_save() {
    let py = python();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let work = root.join("rag_storage");
    let trace = root.join("trace.jsonl");
    let (work_s, trace_s) = (work.display().to_string(), trace.display().to_string());
    let driver = script("driver.py").display().to_string();
    // The graph exists before the server starts (the watcher watches the graphs it knows).
    run_py(
        &py,
        &[
            &driver,
            "--working-dir",
            &work_s,
            "--workspace",
            "lr",
            "--docs",
            "0:1",
            "--trace",
            &trace_s,
        ],
        &root.join("seed.log"),
        Duration::from_secs(60),
    );
    let cfg = test_config(
        &root,
        &[
            ("LIGHTRAG_AUTO_BACKUP_INTERVAL", "0"),
            ("LIGHTRAG_BACKUP_ON_CHANGE", "true"),
            ("LIGHTRAG_BACKUP_ON_CHANGE_QUIET", "300ms"),
            ("LIGHTRAG_BACKUP_ON_CHANGE_MIN_INTERVAL", "0"),
            ("LIGHTRAG_BACKUP_ON_CHANGE_MAX_DELAY", "3s"),
        ],
    );
    let s = TestServer::start_with(cfg, dir);
    assert!(backups(&s).is_empty(), "{:?}", backups(&s));

    // 30 documents, one `ainsert` each. The fake LLM answers in 20 ms and each embedding call
    // takes 150 ms (one at a time), so one save has pauses of 150-600 ms between its writes;
    // after some documents LightRAG rests longer than the quiet period, after others not.
    run_py(
        &py,
        &[
            &driver,
            "--working-dir",
            &work_s,
            "--workspace",
            "lr",
            "--docs",
            "1:31",
            "--trace",
            &trace_s,
            "--llm-delay",
            "0.02",
            "--embed-delay",
            "0.15",
            "--pauses",
            "0.05,0.6,0.05,0.05,1.2",
        ],
        &root.join("driver.log"),
        Duration::from_secs(150),
    );

    // Every change captured: nothing pending and the watcher not backing up (a running
    // backup has no catalog row before it ends, so the worker's own state is what tells).
    std::thread::sleep(Duration::from_millis(500));
    eventually(90, || {
        let w = get(&s.url("/api/v1/workers"), &[]).json();
        w["workers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| {
                w["name"] == "change_backup"
                    && w["running"] == false
                    && w["detail"] == "0 graph(s) with uncaptured changes"
            })
            .then_some(())
    });
    let all = backups(&s);
    let done: Vec<&serde_json::Value> = all.iter().filter(|b| b["status"] == "completed").collect();
    assert_eq!(done.len(), all.len(), "a backup did not complete: {all:?}");
    assert!(
        done.len() >= 5,
        "only {} change-triggered snapshots during 30 inserts",
        done.len()
    );

    // Restore each snapshot with the CLI into its own folder.
    let mut dirs = Vec::new();
    for b in &done {
        let id = b["snapshot_id"].as_str().unwrap();
        let to = s.dir().join("restored").join(id);
        let out = Command::new(crate::common::bin_path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .env("LIGHTRAG_WORKING_DIR", s.dir().join("rag_storage"))
            .env("LIGHTRAG_BACKUP_STORAGE", s.dir().join("backups"))
            .env("LIGHTRAG_RECOVERY_DB_URL", catalog_url(s.dir()))
            .args(["--json", "restore", id, "--to", to.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "snapshot {id} does not restore: {}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        dirs.push(to.display().to_string());
    }

    // Open every restored copy with LightRAG and classify it against the recorded states.
    let final_dir = s.dir().join("rag_storage/lr").display().to_string();
    let mut args = vec![
        script("check.py").display().to_string(),
        "--trace".into(),
        s.dir().join("trace.jsonl").display().to_string(),
        "--final".into(),
        final_dir,
    ];
    args.extend(dirs.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_py(
        &py,
        &args,
        &s.dir().join("check.log"),
        Duration::from_secs(120),
    );
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), done.len());

    let mut summary = Vec::new();
    let mut failures = Vec::new();
    let (mut marked, mut unmarked) = (0, 0);
    for (b, r) in done.iter().zip(results) {
        let id = b["snapshot_id"].as_str().unwrap();
        let c = consistent(b);
        summary.push(format!(
            "{id} consistent={c:?} ({}) state={} doc={} violations={}",
            b["inconsistency"], r["state"], r["state_doc"], r["violations"]
        ));
        if r["opened"] != true {
            failures.push(format!("{id}: LightRAG cannot open it: {}", r["error"]));
            continue;
        }
        let counts = &r["counts"];
        if counts["text_chunks"].as_u64().unwrap() > 0 && counts["query_hits"].as_u64() == Some(0) {
            failures.push(format!("{id}: a chunk's own text finds nothing: {counts}"));
        }
        match c {
            Some(true) => {
                marked += 1;
                if r["state"] != "boundary" || !r["violations"].as_array().unwrap().is_empty() {
                    failures.push(format!(
                        "{id}: marked consistent but holds state {} (doc {}) with violations {}",
                        r["state"], r["state_doc"], r["violations"]
                    ));
                }
            }
            Some(false) => {}
            None => {
                unmarked += 1;
                failures.push(format!("{id}: no `consistent` flag: {b}"));
            }
        }
    }
    eprintln!(
        "{} snapshots, {marked} marked consistent, {unmarked} without the flag:\n{}",
        done.len(),
        summary.join("\n")
    );
    // The newest snapshot is the final state, byte for byte.
    assert_eq!(
        results[0]["files"], report["final"],
        "the last snapshot is not the final state"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
