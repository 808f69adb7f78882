//! The real `lightrag-ops` binary as a child process in a private directory: for tests that
//! look at the process itself (its memory, its start-up errors) or that should run unchanged
//! against another build (`LIGHTRAG_OPS_BIN`).

use std::io::Read as _;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `lightrag-ops` with no inherited `LIGHTRAG_*` or LightRAG `SSL*` variable, in `dir`, with
/// every background task off unless `env` turns it on.
pub fn command(dir: &Path, env: &[(&str, String)]) -> Command {
    let mut c = Command::new(crate::common::bin_path());
    for (k, _) in std::env::vars() {
        if k.starts_with("LIGHTRAG_")
            || lightrag_config::LIGHTRAG_TLS_VARIABLES.contains(&k.as_str())
        {
            c.env_remove(k);
        }
    }
    c.current_dir(dir)
        .env("RUST_LOG", "warn")
        .env("LIGHTRAG_WORKING_DIR", dir.join("rag_storage"))
        .env("LIGHTRAG_BACKUP_STORAGE", dir.join("backups"))
        .env(
            "LIGHTRAG_RECOVERY_DB_URL",
            format!("sqlite:///{}", dir.join("catalog.db").display()),
        )
        .env("LIGHTRAG_AUTO_BACKUP_INTERVAL", "0")
        .env("LIGHTRAG_REPLICATION_INTERVAL", "0")
        .env("LIGHTRAG_RETENTION_INTERVAL", "0")
        .env("LIGHTRAG_VERIFY_INTERVAL", "0");
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// Runs the binary to completion (start-up failures).
pub fn run(dir: &Path, env: &[(&str, String)], args: &[&str]) -> Output {
    let mut c = command(dir, env);
    c.args(args);
    // A server that starts despite the test's expectation must not hang the test.
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// A running server; killed on drop.
pub struct ChildServer {
    pub child: Child,
    pub api_port: u16,
    pub metrics_port: u16,
}

impl ChildServer {
    /// Starts `lightrag-ops serve` on free loopback ports and waits until `ready` says so
    /// (at most 60 s; the process's stderr is shown if it exits or never gets ready).
    pub fn start(dir: &Path, env: &[(&str, String)], ready: impl Fn(&Self) -> bool) -> Self {
        let (api_port, metrics_port) = (crate::common::free_port(), crate::common::free_port());
        let child = command(dir, env)
            .env("LIGHTRAG_PORT", api_port.to_string())
            .env("LIGHTRAG_METRICS_PORT", metrics_port.to_string())
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut s = Self {
            child,
            api_port,
            metrics_port,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", api_port)).is_ok() && ready(&s) {
                return s;
            }
            if s.child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                let _ = s.child.kill();
                let _ = s.child.wait();
                let mut err = String::new();
                let _ = s.child.stderr.take().unwrap().read_to_string(&mut err);
                panic!("the server did not get ready within 60 s:\n{err}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `VmHWM` (peak resident set) of the process, in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        proc_status_kib(self.child.id(), "VmHWM:")
    }
}

fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
