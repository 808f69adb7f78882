//! Defect 13.11, over the real binary: events queued just before SIGTERM are in the catalog
//! after the process exits. The catalog is the real PostgreSQL behind a loopback proxy that
//! the test slows down, so the event writer is busy and later events wait in its queue when
//! the signal arrives.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lightrag_recovery_db::{Db, DbConfig, EventFilter, count_events};

use crate::common::{PgDatabase, copy_fixture, free_port, get, post};
use crate::proxy::Proxy;

fn validations(db: &Db) -> i64 {
    let filter = EventFilter {
        event_type: Some("validation.completed".to_owned()),
        ..EventFilter::default()
    };
    count_events(&mut db.conn().unwrap(), &filter).unwrap()
}

#[test]
fn events_queued_before_sigterm_are_stored_before_exit() {
    let pg = PgDatabase::create();
    let direct = Db::connect(&DbConfig::new(pg.url.clone())).unwrap();
    let proxy = Proxy::start("127.0.0.1:5432".parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(
        "bingofhy-rag_storage",
        &dir.path().join("rag_storage").join("g1"),
    );
    let port = free_port();
    let mut cmd = Command::new(crate::common::bin_path());
    for (k, _) in std::env::vars() {
        if k.starts_with("LIGHTRAG_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .current_dir(dir.path())
        .env("RUST_LOG", "info")
        .env("LIGHTRAG_PORT", port.to_string())
        .env("LIGHTRAG_METRICS_ENABLED", "false")
        .env("LIGHTRAG_RECOVERY_DB_URL", proxy.pg_url(&pg.url))
        .env("LIGHTRAG_WORKING_DIR", dir.path().join("rag_storage"))
        .env("LIGHTRAG_BACKUP_STORAGE", dir.path().join("backups"))
        .env("LIGHTRAG_AUTO_BACKUP_INTERVAL", "0")
        .env("LIGHTRAG_HEALTH_CHECK_INTERVAL", "0")
        .env("LIGHTRAG_REPLICATION_INTERVAL", "0")
        .env("LIGHTRAG_RETENTION_INTERVAL", "0")
        .env("LIGHTRAG_VERIFY_INTERVAL", "0")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && get(&format!("{base}/readyz"), &[]).status == 200
        {
            break;
        }
        assert!(Instant::now() < deadline, "server not ready within 60 s");
        assert!(child.try_wait().unwrap().is_none(), "server exited early");
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = post(&format!("{base}/api/v1/graphs/g1/backups?wait=true"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(validations(&direct), 0);

    // Slow catalog: each write of the event log now takes seconds. Three verifications log
    // three events (verify itself needs no catalog): the writer is busy with the first while
    // the others wait in its queue — then SIGTERM.
    proxy.set_delay(Duration::from_millis(200));
    for _ in 0..3 {
        let r = post(&format!("{base}/api/v1/backups/verify?wait=true"), None);
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit within 60 s of SIGTERM");
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
    assert_eq!(
        validations(&direct),
        3,
        "events queued at SIGTERM were lost\n{err}"
    );
    assert!(err.contains("Event log drained at shutdown"), "{err}");
    assert!(!err.contains("with losses"), "{err}");
    drop(proxy);
    drop(direct);
    drop(pg);
}
