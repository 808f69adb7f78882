//! A real Prometheus server (Debian's `prometheus` package) scrapes the exposition over HTTP and
//! a query of its HTTP API reads the series back.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use lightrag_monitoring::record::{self, BackupOutcome};
use lightrag_monitoring::{
    MetricsCollector, PROMETHEUS_CONTENT_TYPE, describe_all, prometheus_builder,
};
use lightrag_recovery_db::{BackupStatus, BackupTrigger, ComponentType, HealthStatus};

use super::support::{TestDb, runtime};

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn prometheus_bin() -> std::path::PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("prometheus"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("prometheus is required: apt-get install -y --no-install-recommends prometheus")
        })
}

/// Serves `body` as the metrics endpoint for every request, on a background thread.
fn serve(body: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: {PROMETHEUS_CONTENT_TYPE}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())
}

#[test]
fn prometheus_scrapes_the_exposition_and_reads_series_back() {
    let t = TestDb::sqlite();
    let recorder = prometheus_builder().unwrap().build_recorder();
    let handle = recorder.handle();
    let db = t.db().clone();
    let body = metrics::with_local_recorder(&recorder, || {
        runtime().block_on(async {
            describe_all();
            record::record_build_info("0.1.0", "test");
            let collector = MetricsCollector::new(handle.clone(), db, Duration::ZERO);
            collector.register_graph("alpha");
            record::record_backup(
                "alpha",
                &BackupOutcome {
                    status: BackupStatus::Completed,
                    trigger: BackupTrigger::Manual,
                    duration: Duration::from_secs(2),
                    logical_bytes: 777,
                    written_bytes: 7,
                    finished_at: SystemTime::now(),
                },
            );
            record::record_health_check(ComponentType::Graph, "alpha", HealthStatus::Offline);
            collector.export_to_prometheus().await
        })
    });
    let target_port = serve(body);
    let web_port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: lightrag-ops\n    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
        ),
    )
    .unwrap();
    let _prom = KillOnDrop(
        Command::new(prometheus_bin())
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{web_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    let query = |q: &str| http_get(web_port, &format!("/api/v1/query?query={q}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let health = query("lightrag_graph_health_status%7Bgraph%3D%22alpha%22%7D");
        let size = query("lightrag_backup_size_bytes%7Bgraph%3D%22alpha%22%7D");
        let up = query("up%7Bjob%3D%22lightrag-ops%22%7D");
        if let (Some(h), Some(s), Some(u)) = (&health, &size, &up)
            && h.contains("\"result\":[{")
        {
            assert!(h.contains("\"2\""), "OFFLINE reads back as 2: {h}");
            assert!(s.contains("\"777\""), "size reads back: {s}");
            assert!(u.contains("\"1\""), "scrape succeeded (up == 1): {u}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never returned the series: {health:?} {up:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
