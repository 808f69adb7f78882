//! Test harness: a server on ephemeral loopback ports in a background actix system, and a
//! blocking HTTP client.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use lightrag_config::Config;

/// Real LightRAG fixtures and a fresh PostgreSQL database per test (fails, never skips, when
/// PostgreSQL is unreachable): the shared harness of `lightrag-testing`.
pub use lightrag_testing::{PgDatabase, copy_fixture};

/// The `lightrag-ops` binary of this build: `LIGHTRAG_OPS_BIN`, or `lightrag-ops` beside the
/// test executable's `deps/` folder (`cargo test --workspace` builds it: the binary's own
/// tests need it; alone, run `cargo build -p lightrag-ops` first).
pub fn bin_path() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("LIGHTRAG_OPS_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().expect("the test executable's path");
    let bin = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target/<profile>/deps")
        .join("lightrag-ops");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo test --workspace` or `cargo build -p lightrag-ops` first",
        bin.display()
    );
    bin
}

/// A server running in its own thread; stopped on drop.
pub struct TestServer {
    pub api: SocketAddr,
    pub metrics: Option<SocketAddr>,
    handles: Vec<actix_web::dev::ServerHandle>,
    thread: Option<JoinHandle<()>>,
    dir: Option<tempfile::TempDir>,
}

/// PostgreSQL databases of test servers, by their directory (kept across a restart of a
/// server on the same directory; dropped with the server that owns the directory).
static PG_BY_DIR: std::sync::Mutex<Vec<(std::path::PathBuf, PgDatabase)>> =
    std::sync::Mutex::new(Vec::new());

/// The catalog URL of a test server: a SQLite file in `dir`, or with
/// `LIGHTRAG_TEST_SERVER_DB=postgres` (scripts/test runs the suite both ways) a fresh
/// PostgreSQL database tied to `dir`.
pub fn catalog_url(dir: &std::path::Path) -> String {
    if std::env::var("LIGHTRAG_TEST_SERVER_DB").as_deref() != Ok("postgres") {
        return format!("sqlite:///{}", dir.join("recovery.db").display());
    }
    let mut dbs = PG_BY_DIR.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, db)) = dbs.iter().find(|(d, _)| d == dir) {
        return db.url.clone();
    }
    let db = PgDatabase::create();
    let url = db.url.clone();
    dbs.push((dir.to_owned(), db));
    url
}

/// Configuration for a test server: ephemeral ports, a private temp dir, plus `extra`.
pub fn test_config(dir: &std::path::Path, extra: &[(&str, &str)]) -> Config {
    let db = if extra.iter().any(|(k, _)| *k == "LIGHTRAG_RECOVERY_DB_URL") {
        String::new() // overridden below
    } else {
        catalog_url(dir)
    };
    let work = dir.join("rag_storage").display().to_string();
    let backups = dir.join("backups").display().to_string();
    let mut vars: Vec<(String, String)> = vec![
        ("LIGHTRAG_PORT".into(), "0".into()),
        ("LIGHTRAG_METRICS_PORT".into(), "0".into()),
        ("LIGHTRAG_RECOVERY_DB_URL".into(), db),
        ("LIGHTRAG_WORKING_DIR".into(), work),
        ("LIGHTRAG_BACKUP_STORAGE".into(), backups),
        // Defaults relative to the process's folder would land outside the test's directory.
        (
            "LIGHTRAG_REPLICA_DIR".into(),
            dir.join("lightrag_replica").display().to_string(),
        ),
        (
            "LIGHTRAG_REPLICATION_SECRET_KEY_FILE".into(),
            dir.join("recovery.db.key").display().to_string(),
        ),
    ];
    vars.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    Config::from_vars(vars).expect("valid test configuration")
}

impl TestServer {
    pub fn start(extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = test_config(dir.path(), extra);
        Self::start_with(config, dir)
    }

    pub fn start_with(config: Config, dir: tempfile::TempDir) -> Self {
        if std::env::var_os("LIGHTRAG_TEST_LOG").is_some() {
            lightrag_ops::telemetry::init_tracing(config.log_format);
        }
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                match lightrag_ops::bind(config).await {
                    Ok(l) => {
                        tx.send(Ok((l.api_addr, l.metrics_addr, l.handles())))
                            .unwrap();
                        l.run().await.unwrap();
                    }
                    Err(e) => tx.send(Err(format!("{e:#}"))).unwrap(),
                }
            });
        });
        let (api, metrics, handles) = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server thread answered")
            .expect("server started");
        Self {
            api,
            metrics,
            handles,
            thread: Some(thread),
            dir: Some(dir),
        }
    }

    /// The server's directory.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.as_ref().unwrap().path()
    }

    /// Stops the server and hands back its directory (to start another on the same state).
    pub fn stop(mut self) -> tempfile::TempDir {
        self.shutdown();
        self.dir.take().unwrap()
    }

    fn shutdown(&mut self) {
        // `stop` sends its command at once; the returned future only awaits completion.
        for h in &self.handles {
            drop(h.stop(true));
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.api, path)
    }

    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.metrics.expect("metrics enabled"))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
        if let Some(dir) = self.dir.take() {
            let mut dbs = PG_BY_DIR.lock().unwrap_or_else(|p| p.into_inner());
            dbs.retain(|(d, _)| d != dir.path());
        }
    }
}

/// A response reduced to what tests look at.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// GET with optional headers.
pub fn get(url: &str, headers: &[(&str, &str)]) -> Resp {
    let mut req = agent().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    into_resp(url, req.call())
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn into_resp(url: &str, r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Resp {
    let mut res = r.unwrap_or_else(|e| panic!("{url}: {e}"));
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    Resp {
        status: res.status().as_u16(),
        content_type,
        body: res.body_mut().read_to_string().unwrap(),
    }
}

/// POST a JSON body (or nothing with `None`).
pub fn post(url: &str, body: Option<serde_json::Value>) -> Resp {
    let req = agent().post(url);
    let r = match body {
        Some(b) => req.send_json(b),
        None => req.send_empty(),
    };
    into_resp(url, r)
}

/// PATCH a JSON body.
pub fn patch(url: &str, body: serde_json::Value) -> Resp {
    into_resp(url, agent().patch(url).send_json(body))
}

/// DELETE.
pub fn delete(url: &str) -> Resp {
    into_resp(url, agent().delete(url).call())
}

/// Polls `f` every 50 ms until it returns `Some`, at most `secs` seconds.
pub fn eventually<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "condition not met within {secs} s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
