//! A PostgreSQL server that stops and starts again: typed error within the checkout timeout,
//! then the same pool works again.
//!
//! Runs a private throwaway cluster (initdb + pg_ctl as the `postgres` OS user on a free
//! loopback port), never the shared one other tests use.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lightrag_recovery_db::*;

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

struct PrivatePg {
    _dir: tempfile::TempDir,
    data: PathBuf,
    log: PathBuf,
    socket_dir: PathBuf,
    port: u16,
}

fn as_postgres(args: &[&str]) -> std::process::Output {
    Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("runuser {args:?}: {e}"))
}

fn check(out: std::process::Output, what: &str, log: Option<&Path>) {
    if !out.status.success() {
        let log = log
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        panic!(
            "{what} failed ({}):\n{}\n{}\nserver log:\n{log}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl PrivatePg {
    fn init() -> Self {
        assert!(
            Path::new(PG_BIN).join("initdb").exists(),
            "this test needs PostgreSQL 15 server binaries in {PG_BIN} (Debian package postgresql-15)"
        );
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "chown of the private cluster dir to postgres failed"
        );
        let data = dir.path().join("data");
        let log = dir.path().join("server.log");
        let socket_dir = dir.path().to_path_buf();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        check(
            as_postgres(&[
                &format!("{PG_BIN}/initdb"),
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "--no-instructions",
            ]),
            "initdb",
            None,
        );
        Self {
            _dir: dir,
            data,
            log,
            socket_dir,
            port,
        }
    }

    fn start(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=16MB",
            self.port,
            self.socket_dir.display()
        );
        check(
            as_postgres(&[
                &format!("{PG_BIN}/pg_ctl"),
                "-D",
                self.data.to_str().unwrap(),
                "-l",
                self.log.to_str().unwrap(),
                "-o",
                &opts,
                "-w",
                "-t",
                "60",
                "start",
            ]),
            "pg_ctl start",
            Some(&self.log),
        );
    }

    fn stop(&self, mode: &str) -> std::process::Output {
        as_postgres(&[
            &format!("{PG_BIN}/pg_ctl"),
            "-D",
            self.data.to_str().unwrap(),
            "-m",
            mode,
            "-w",
            "stop",
        ])
    }

    fn url(&self) -> String {
        format!(
            "postgres://postgres:not-needed-pw@127.0.0.1:{}/postgres",
            self.port
        )
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = self.stop("immediate");
    }
}

fn list(db: &Db) -> Result<Vec<Graph>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = db.clone();
    rt.block_on(async move {
        db.run(|conn| list_graphs(conn, &GraphFilter::default(), Page::default()))
            .await
    })
}

#[test]
fn postgres_stop_gives_unavailable_then_pool_recovers_after_start() {
    let pg = PrivatePg::init();
    pg.start();
    let timeout = Duration::from_secs(2);
    let cfg = DbConfig {
        connect_timeout: timeout,
        max_connections: 4,
        ..DbConfig::new(pg.url())
    };
    let db = Db::connect(&cfg).unwrap();
    db.migrate().unwrap();
    db.conn()
        .map(|mut c| {
            create_graph(
                &mut c,
                &NewGraph {
                    id: "alpha".into(),
                    path: "/p".into(),
                    source: GraphSource::Api,
                },
            )
        })
        .unwrap()
        .unwrap();
    assert_eq!(list(&db).unwrap().len(), 1);

    let mut held = db.conn().unwrap();
    check(pg.stop("fast"), "pg_ctl stop", Some(&pg.log));

    // A connection checked out before the stop fails with Unavailable, not a panic.
    let err = list_graphs(&mut held, &GraphFilter::default(), Page::default()).unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    drop(held);

    for attempt in 0..2 {
        let started = Instant::now();
        let err = list(&db).unwrap_err();
        let elapsed = started.elapsed();
        assert!(err.is_unavailable(), "attempt {attempt}: {err:?}");
        assert!(
            elapsed < timeout + Duration::from_secs(3),
            "attempt {attempt} took {elapsed:?}"
        );
        assert!(!err.to_string().contains("not-needed-pw"), "{err}");
    }
    // The blocking checkout path too.
    let started = Instant::now();
    assert!(db.conn().unwrap_err().is_unavailable());
    assert!(started.elapsed() < timeout + Duration::from_secs(3));

    pg.start();
    let graphs = list(&db).expect("the same pool works again after PostgreSQL restarts");
    assert_eq!(graphs[0].id, "alpha");
    let conn = &mut *db.conn().unwrap();
    insert_event(
        conn,
        &NewEvent::new(EventKind::System, "db.recovered", Severity::Info, "back"),
    )
    .unwrap();
    assert_eq!(count_events(conn, &EventFilter::default()).unwrap(), 1);
}
