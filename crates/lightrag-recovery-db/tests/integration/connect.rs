//! URLs, configuration errors, SQLite pragmas, unreachable servers.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use lightrag_recovery_db::*;

use super::support::{TestDb, pg_admin_url, pg_url_with_db};

fn connect_err(url: &str) -> RecoveryDbError {
    let cfg = DbConfig {
        connect_timeout: Duration::from_secs(2),
        ..DbConfig::new(url)
    };
    match Db::connect(&cfg) {
        Ok(db) => panic!("{url} connected: {db:?}"),
        Err(e) => e,
    }
}

#[test]
fn bad_urls_are_rejected_naming_the_variable() {
    for url in [
        "",
        "   ",
        "mysql://root:pw-123@localhost/db",
        "sqlite://relative.db",
        "sqlite:///",
        "sqlite:///:memory:",
        ":memory:",
        "sqlite:lightrag.db",
        "postgres:localhost/db",
        "postgresql://",
        "http://example.com/db",
    ] {
        let err = connect_err(url);
        assert!(
            matches!(err, RecoveryDbError::InvalidUrl { .. }),
            "{url}: {err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("LIGHTRAG_RECOVERY_DB_URL"), "{msg}");
        assert!(
            msg.contains("sqlite:///"),
            "message shows the accepted forms: {msg}"
        );
        assert!(
            !msg.contains("pw-123") && !format!("{err:?}").contains("pw-123"),
            "{msg}"
        );
    }
}

#[test]
fn bad_settings_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("x.db").display().to_string();
    let zero = DbConfig {
        max_connections: 0,
        ..DbConfig::new(url.clone())
    };
    assert!(matches!(
        Db::connect(&zero),
        Err(RecoveryDbError::InvalidConfig {
            setting: "max_connections",
            ..
        })
    ));
    let zero = DbConfig {
        connect_timeout: Duration::ZERO,
        ..DbConfig::new(url)
    };
    assert!(matches!(
        Db::connect(&zero),
        Err(RecoveryDbError::InvalidConfig {
            setting: "connect_timeout",
            ..
        })
    ));
}

#[test]
fn sqlite_plain_path_and_unopenable_file() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.db");
    let db = Db::connect(&DbConfig::new(plain.display().to_string())).unwrap();
    assert_eq!(db.backend(), BackendKind::Sqlite);
    run_migrations(&mut db.conn().unwrap()).unwrap();
    assert!(plain.exists());

    // A file in a folder that does not exist: a misconfiguration, said at once (not an
    // unavailable database after the connection timeout), with the resolved path and the
    // slash rule of the URL.
    let missing = dir.path().join("no/such/dir/x.db");
    let started = Instant::now();
    let err = connect_err(&format!("sqlite:///{}", missing.display()));
    assert!(!err.is_unavailable(), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&missing.display().to_string()), "{msg}");
    assert!(
        msg.contains("does not exist") && msg.contains("sqlite:////"),
        "{msg}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[derive(QueryableByName, Debug)]
struct Pragma {
    #[diesel(sql_type = Text)]
    journal_mode: String,
    #[diesel(sql_type = BigInt)]
    foreign_keys: i64,
    #[diesel(sql_type = BigInt)]
    synchronous: i64,
    #[diesel(sql_type = BigInt)]
    busy_timeout: i64,
}

#[test]
fn sqlite_pragmas_are_set_on_every_connection() {
    let t = TestDb::sqlite();
    let db = t.db();
    // Hold several connections at once so more than one is opened.
    let mut held: Vec<_> = (0..3).map(|_| db.conn().unwrap()).collect();
    for conn in &mut held {
        let DbConn::Sqlite(c) = &mut **conn else {
            panic!("not sqlite")
        };
        let p: Pragma = diesel::sql_query(
            "SELECT (SELECT journal_mode FROM pragma_journal_mode) AS journal_mode, \
                    (SELECT foreign_keys FROM pragma_foreign_keys) AS foreign_keys, \
                    (SELECT synchronous FROM pragma_synchronous) AS synchronous, \
                    (SELECT timeout FROM pragma_busy_timeout) AS busy_timeout",
        )
        .get_result(c)
        .unwrap();
        assert_eq!(p.journal_mode, "wal", "{p:?}");
        assert_eq!(p.foreign_keys, 1, "{p:?}");
        assert_eq!(p.synchronous, 1, "NORMAL: {p:?}");
        assert_eq!(p.busy_timeout, 5_000, "{p:?}");
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn postgres_unreachable_is_unavailable_within_timeout_without_password() {
    let url = format!(
        "postgres://lightrag:Sup3r-S3cret@127.0.0.1:{}/catalog",
        free_port()
    );
    let started = Instant::now();
    let cfg = DbConfig {
        connect_timeout: Duration::from_secs(2),
        ..DbConfig::new(url)
    };
    let err = Db::connect(&cfg).unwrap_err();
    let elapsed = started.elapsed();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    for shown in [err.to_string(), format!("{err:?}"), format!("{cfg:?}")] {
        assert!(!shown.contains("Sup3r-S3cret"), "password leaked: {shown}");
    }
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
}

#[test]
fn postgres_missing_database_is_unavailable_without_password() {
    let admin = pg_admin_url();
    // Make sure the server itself is reachable: this test is about a missing database.
    drop(TestDb::postgres());
    let url = pg_url_with_db(&admin, "lrdb_test_does_not_exist");
    let err = connect_err(&url);
    assert!(err.is_unavailable(), "{err:?}");
    assert!(
        err.to_string().contains("lrdb_test_does_not_exist"),
        "{err}"
    );
    let shown = format!("{err} {err:?}");
    let password = admin
        .split_once("://")
        .and_then(|(_, r)| r.split_once('@'))
        .and_then(|(u, _)| u.split_once(':'))
        .map(|(_, p)| p)
        .filter(|p| !p.is_empty());
    if let Some(pw) = password {
        assert!(!shown.contains(&format!(":{pw}@")), "{shown}");
    }
}
