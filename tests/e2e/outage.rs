//! Defect 13.16: a catalog (PostgreSQL) outage. The server reaches the real PostgreSQL through
//! a loopback proxy the test cuts (the shared server keeps running for everyone else).
//! While the catalog is down: `/readyz` turns 503 within about 2 s, catalog calls fail fast
//! with a typed 503, backups into the repository keep working; when it returns, the snapshot
//! taken meanwhile is reconciled into the catalog.

use std::time::{Duration, Instant};

use crate::common::{PgDatabase, TestServer, copy_fixture, get, post, test_config};
use crate::proxy::Proxy;

#[test]
fn catalog_outage_fails_fast_and_backups_are_reconciled_when_it_returns() {
    let pg = PgDatabase::create();
    let proxy = Proxy::start("127.0.0.1:5432".parse().unwrap());
    let url = proxy.pg_url(&pg.url);
    let dir = tempfile::tempdir().unwrap();
    copy_fixture(
        "bingofhy-rag_storage",
        &dir.path().join("rag_storage").join("g1"),
    );
    let config = test_config(
        dir.path(),
        &[
            ("LIGHTRAG_RECOVERY_DB_URL", url.as_str()),
            ("LIGHTRAG_AUTO_BACKUP_INTERVAL", "0"),
            ("LIGHTRAG_HEALTH_CHECK_INTERVAL", "0"),
            ("LIGHTRAG_REPLICATION_INTERVAL", "0"),
            ("LIGHTRAG_RETENTION_INTERVAL", "0"),
            ("LIGHTRAG_VERIFY_INTERVAL", "0"),
        ],
    );
    let s = TestServer::start_with(config, dir);
    assert_eq!(get(&s.url("/readyz"), &[]).status, 200);
    assert_eq!(get(&s.url("/api/v1/graphs/g1"), &[]).status, 200);

    // The database becomes unreachable.
    let cut = Instant::now();
    proxy.cut();
    let not_ready = loop {
        let r = get(&s.url("/readyz"), &[]);
        if r.status == 503 {
            break cut.elapsed();
        }
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(
            cut.elapsed() < Duration::from_secs(10),
            "/readyz still 200 10 s after the database went away"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // The probe runs every 2 s with a 1 s bound: the outage shows within about 3 s (plus the
    // time to notice a cut connection on a loaded machine).
    assert!(
        not_ready < Duration::from_millis(4_500),
        "/readyz turned 503 only after {not_ready:?}"
    );

    // Catalog calls fail fast with a typed 503.
    for path in ["/api/v1/graphs", "/api/v1/backups", "/api/v1/events"] {
        let t = Instant::now();
        let r = get(&s.url(path), &[]);
        let took = t.elapsed();
        assert_eq!(r.status, 503, "{path}: {}", r.body);
        assert_eq!(r.json()["error"]["code"], "unavailable", "{}", r.body);
        assert!(r.body.contains("catalog unavailable"), "{}", r.body);
        assert!(!r.body.contains("root:root"), "{}", r.body);
        assert!(took < Duration::from_secs(1), "{path} took {took:?}");
    }

    // A backup into the repository still works.
    let r = post(&s.url("/api/v1/graphs/g1/backups?wait=true"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    let snapshot = j["result"]["snapshot"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no snapshot id in {j}"))
        .to_owned();

    // The database returns: ready again, and the snapshot is in the catalog.
    proxy.restore();
    let back = Instant::now();
    loop {
        let r = get(&s.url(&format!("/api/v1/backups/{snapshot}")), &[]);
        if r.status == 200 && get(&s.url("/readyz"), &[]).status == 200 {
            assert_eq!(
                r.json()["backup"]["snapshot_id"],
                snapshot.as_str(),
                "{}",
                r.body
            );
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(15),
            "snapshot {snapshot} not reconciled into the catalog: {} {}",
            r.status,
            r.body
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = get(&s.url("/api/v1/backups?graph_id=g1"), &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(&snapshot), "{}", r.body);
    drop(s);
    drop(pg);
}
