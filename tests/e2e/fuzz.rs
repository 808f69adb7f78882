//! Issue 14 #9: a bounded property-based run of schemathesis over every operation of the served
//! OpenAPI document, against the real binary: with an API key configured and sent, with the
//! default configuration (no key), and (shorter) with a key configured but not sent: no 5xx,
//! every response as the document says (status, content type, body schema), and nothing
//! written outside the test's temp area.
//!
//! The server runs as a subprocess whose working directory, `HOME` and `TMPDIR` are fresh
//! folders of the temp area and whose path settings are left at their (relative) defaults, so
//! everything it writes by default lands in its working directory; a canary folder beside them
//! must not change, and `HOME` and `TMPDIR` must stay empty.
//!
//! schemathesis comes from `LIGHTRAG_TEST_SCHEMATHESIS` (set by `scripts/test`, which installs
//! a pinned version into a venv) or that venv's default place; a missing fuzzer fails the test.
//! Bounds: `LIGHTRAG_FUZZ_MAX_EXAMPLES` examples per operation (default 20; 5 for the run
//! without the key) and `LIGHTRAG_FUZZ_MAX_TIME` seconds per run (default 60; 30); `LIGHTRAG_FUZZ_SEED` (default 14).
//! Checks: no 5xx, documented status codes, content types and response bodies, and invalid
//! input (per the document) refused with a 4xx.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{catalog_url, copy_fixture, free_port, get};

const API_KEY: &str = "fuzz-admin-key-0123456789";
const SCHEMATHESIS_VERSION: &str = "4.32.5";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The schemathesis executable; panics with the way to install it.
fn schemathesis() -> PathBuf {
    let path = std::env::var_os("LIGHTRAG_TEST_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_default();
            Path::new(&home)
                .join(".cache")
                .join(format!("lightrag-ops-schemathesis-{SCHEMATHESIS_VERSION}"))
                .join("bin")
                .join("schemathesis")
        });
    assert!(
        path.is_file(),
        "schemathesis not found at {}: run scripts/test (it installs schemathesis=={SCHEMATHESIS_VERSION} into a venv), or set LIGHTRAG_TEST_SCHEMATHESIS",
        path.display()
    );
    path
}

/// Every file and folder under `root` with its size (folders: 0), relative to `root`.
fn listing(root: &Path) -> BTreeMap<PathBuf, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let rel = p.strip_prefix(root).unwrap_or(&p).to_owned();
            if meta.is_dir() {
                stack.push(p);
                out.insert(rel, 0);
            } else {
                out.insert(rel, meta.len());
            }
        }
    }
    out
}

/// The real binary serving from `cwd`; killed (SIGTERM, then SIGKILL) on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(area: &Area, key: Option<&str>) -> Server {
        let port = free_port();
        let mut c = Command::new(crate::common::bin_path());
        for (k, _) in std::env::vars() {
            if k.starts_with("LIGHTRAG_") {
                c.env_remove(k);
            }
        }
        c.current_dir(&area.cwd)
            .env("HOME", &area.home)
            .env("TMPDIR", &area.tmp)
            .env("RUST_LOG", "warn")
            .env("LIGHTRAG_PORT", port.to_string())
            .env("LIGHTRAG_METRICS_PORT", "0")
            // Directory targets through the API may only go below the server's folder.
            .env(
                "LIGHTRAG_REPLICATION_PATH_ROOTS",
                area.cwd.join("replicas").display().to_string(),
            )
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(area.root.join("server.log")).unwrap());
        // SQLite: the default relative catalog in the server's folder. PostgreSQL: a fresh
        // database (the secret key file then defaults to ./lightrag_recovery.key, also there).
        if std::env::var("LIGHTRAG_TEST_SERVER_DB").as_deref() == Ok("postgres") {
            c.env("LIGHTRAG_RECOVERY_DB_URL", catalog_url(&area.cwd));
        }
        if let Some(k) = key {
            c.env("LIGHTRAG_API_KEY", k);
        }
        let child = c.spawn().unwrap();
        let s = Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let up = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(2)))
                .build()
                .new_agent()
                .get(s.url("/livez"))
                .call()
                .is_ok_and(|r| r.status() == 200);
            if up {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not start: {}",
                std::fs::read_to_string(area.root.join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The temp area of one run: the server's folder, its HOME and TMPDIR, schemathesis' folder,
/// and a canary.
struct Area {
    _dir: tempfile::TempDir,
    root: PathBuf,
    cwd: PathBuf,
    home: PathBuf,
    tmp: PathBuf,
    fuzzer: PathBuf,
    canary: PathBuf,
}

impl Area {
    fn new() -> Area {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        let a = Area {
            cwd: root.join("server"),
            home: root.join("home"),
            tmp: root.join("tmp"),
            fuzzer: root.join("fuzzer"),
            canary: root.join("canary"),
            root,
            _dir: dir,
        };
        for d in [&a.cwd, &a.home, &a.tmp, &a.fuzzer, &a.canary] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(a.canary.join("keep.txt"), "canary\n").unwrap();
        copy_fixture(
            "bingofhy-rag_storage",
            &a.cwd.join("rag_storage").join("bingofhy"),
        );
        a
    }
}

/// What one schemathesis run did, from its HAR report.
#[derive(Debug, Default)]
struct Figures {
    requests: usize,
    operations: BTreeSet<String>,
    statuses: BTreeMap<u16, usize>,
    server_errors: Vec<String>,
    /// (path, status) of every answer.
    answered: Vec<(String, u16)>,
    duration: Duration,
}

/// Operation templates of the document, to map a request URL back to its operation.
fn templates(doc: &Value) -> Vec<(String, Vec<String>)> {
    doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(tpl, item)| {
            let methods = item
                .as_object()
                .unwrap()
                .keys()
                .map(|m| m.to_uppercase())
                .collect();
            (tpl.clone(), methods)
        })
        .collect()
}

fn matches_template(tpl: &str, path: &str) -> bool {
    let a: Vec<&str> = tpl.split('/').collect();
    let b: Vec<&str> = path.split('/').collect();
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(t, p)| (t.starts_with('{') && t.ends_with('}')) || t == p)
}

/// How one run is made.
struct Run<'a> {
    label: &'a str,
    /// `LIGHTRAG_API_KEY` of the server.
    configured: Option<&'a str>,
    /// Whether requests carry it.
    send_key: bool,
    /// Default bounds (examples per operation, seconds).
    max_examples: u32,
    max_time: u32,
}

fn run_fuzzer(area: &Area, server: &Server, run: &Run<'_>) -> (Figures, String) {
    let (label, key) = (run.label, run.configured.filter(|_| run.send_key));
    // The document, read with the key when the server has one; handed to schemathesis as a
    // file, so a run without the key still knows every operation.
    let doc: Value = {
        let headers: Vec<(&str, &str)> = run
            .configured
            .map(|k| ("X-API-Key", k))
            .into_iter()
            .collect();
        let r = get(&server.url("/api/v1/openapi.json"), &headers);
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    };
    let doc_file = area.fuzzer.join(format!("{label}-openapi.json"));
    std::fs::write(&doc_file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let har = area.fuzzer.join(format!("{label}.har"));
    let max_examples: u32 = env_or("LIGHTRAG_FUZZ_MAX_EXAMPLES", run.max_examples);
    let max_time: u32 = env_or("LIGHTRAG_FUZZ_MAX_TIME", run.max_time);
    let seed: u64 = env_or("LIGHTRAG_FUZZ_SEED", 14);
    let mut c = Command::new(schemathesis());
    c.current_dir(&area.fuzzer)
        .env("HOME", &area.fuzzer)
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_HOOKS", "")
        .arg("run")
        .arg(&doc_file)
        .arg("--url")
        .arg(server.url(""))
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection",
            "--phases",
            "examples,coverage,fuzzing",
            "--workers",
            "1",
            "--request-timeout",
            "60",
            "--suppress-health-check",
            "all",
            "--no-shrink",
            "--max-failures",
            "50",
            "--report",
            "har",
        ])
        .arg("--report-har-path")
        .arg(&har)
        .arg("--max-examples")
        .arg(max_examples.to_string())
        .arg("--max-time")
        .arg(max_time.to_string())
        .arg("--seed")
        .arg(seed.to_string());
    if let Some(k) = key {
        c.arg("-H").arg(format!("X-API-Key: {k}"));
    }
    let start = Instant::now();
    let out = c.output().unwrap();
    let duration = start.elapsed();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(area.fuzzer.join(format!("{label}.log")), &text).unwrap();
    assert!(
        out.status.success(),
        "schemathesis ({label}) found failures (exit {:?}); its report:\n{text}\nserver log:\n{}",
        out.status.code(),
        std::fs::read_to_string(area.root.join("server.log")).unwrap_or_default()
    );
    let har: Value = serde_json::from_slice(&std::fs::read(&har).unwrap()).unwrap();
    let tpls = templates(&doc);
    let mut f = Figures {
        duration,
        ..Figures::default()
    };
    for e in har["log"]["entries"].as_array().expect("HAR entries") {
        let method = e["request"]["method"].as_str().unwrap_or("").to_uppercase();
        let url = e["request"]["url"].as_str().unwrap_or("");
        let status = e["response"]["status"].as_u64().unwrap_or(0) as u16;
        let path = url
            .split_once("://")
            .and_then(|(_, r)| r.find('/').map(|i| &r[i..]))
            .unwrap_or("")
            .split('?')
            .next()
            .unwrap_or("");
        f.requests += 1;
        f.answered.push((path.to_owned(), status));
        *f.statuses.entry(status).or_default() += 1;
        if status >= 500 {
            f.server_errors.push(format!("{method} {url} → {status}"));
        }
        if let Some((tpl, _)) = tpls
            .iter()
            .find(|(t, ms)| ms.contains(&method) && matches_template(t, path))
        {
            f.operations.insert(format!("{method} {tpl}"));
        }
    }
    let all: BTreeSet<String> = tpls
        .iter()
        .flat_map(|(t, ms)| ms.iter().map(move |m| format!("{m} {t}")))
        .collect();
    let missed: Vec<&String> = all.difference(&f.operations).collect();
    assert!(
        missed.is_empty(),
        "{label}: operations never exercised: {missed:?}"
    );
    (f, text)
}

fn fuzz(run: &Run<'_>) {
    let (label, key) = (run.label, run.configured);
    let st = schemathesis();
    let area = Area::new();
    let canary_before = listing(&area.canary);
    let server = Server::start(&area, key);
    // Real data first, so listings and details are exercised with content.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();
    let with_key = |r: ureq::RequestBuilder<ureq::typestate::WithBody>| match key {
        Some(k) => r.header("X-API-Key", k),
        None => r,
    };
    let r = with_key(agent.post(server.url("/api/v1/graphs/bingofhy/backups?wait=true")))
        .send_empty()
        .unwrap();
    assert_eq!(r.status(), 200, "seed backup");
    let r = with_key(agent.post(server.url("/api/v1/recovery/points")))
        .send_json(serde_json::json!({"graph_ids": ["bingofhy"], "description": "seed"}))
        .unwrap();
    assert_eq!(r.status(), 201, "seed recovery point");

    let (f, report) = run_fuzzer(&area, &server, run);
    drop(server);
    eprintln!(
        "fuzz {label} (schemathesis {}): {} requests, {} operations, {:.1} s, statuses {:?}",
        st.display(),
        f.requests,
        f.operations.len(),
        f.duration.as_secs_f64(),
        f.statuses
    );
    eprintln!(
        "{}",
        report
            .lines()
            .filter(|l| !l.trim().is_empty())
            .rev()
            .take(25)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        f.server_errors.is_empty(),
        "{label}: 5xx answers: {:#?}",
        f.server_errors
    );
    assert!(f.requests >= 200, "{label}: only {} requests", f.requests);
    if key.is_some() && !run.send_key {
        // Without the key nothing under /api/v1 gets through: 401, then 429 for the address.
        let through: Vec<_> = f
            .answered
            .iter()
            .filter(|(path, status)| {
                path.starts_with("/api/v1/") && ![401, 403, 429].contains(status)
            })
            .collect();
        assert!(
            through.is_empty(),
            "{label}: answered without the key: {through:?}"
        );
    }

    // Nothing written outside the temp area: the canary is unchanged, and the server wrote
    // nothing to HOME or TMPDIR (its defaults all land in its own folder).
    assert_eq!(listing(&area.canary), canary_before, "the canary changed");
    assert!(
        listing(&area.home).is_empty(),
        "the server wrote to HOME: {:?}",
        listing(&area.home)
    );
    assert!(
        listing(&area.tmp).is_empty(),
        "the server wrote to TMPDIR: {:?}",
        listing(&area.tmp)
    );
}

/// With `LIGHTRAG_API_KEY` configured; every request carries it.
#[test]
fn fuzz_every_operation_with_the_api_key() {
    fuzz(&Run {
        label: "with-key",
        configured: Some(API_KEY),
        send_key: true,
        max_examples: 20,
        max_time: 60,
    });
}

/// The default configuration: no API key, loopback only.
#[test]
fn fuzz_every_operation_without_a_key() {
    fuzz(&Run {
        label: "without-key",
        configured: None,
        send_key: false,
        max_examples: 20,
        max_time: 60,
    });
}

/// A server with a key, requests without it: only the guard answers (401, then 429 for the
/// address), and those answers must be documented too. Short: no handler is reached.
#[test]
fn fuzz_every_operation_of_a_keyed_server_without_the_key() {
    fuzz(&Run {
        label: "keyed-server-anonymous",
        configured: Some(API_KEY),
        send_key: false,
        max_examples: 5,
        max_time: 30,
    });
}
