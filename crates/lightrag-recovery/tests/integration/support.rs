//! Per-test databases and the macro that runs a test on both backends (pattern copied from
//! lightrag-recovery-db's integration tests). PostgreSQL tests fail, never skip, when the
//! server at `LIGHTRAG_TEST_PG_URL` (default `postgres://root:root@127.0.0.1:5432/postgres`)
//! is unreachable.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use lightrag_recovery_db::{BackendKind, Db, DbConfig, redact_url, run_migrations};

/// Admin URL used to create per-test PostgreSQL databases.
pub fn pg_admin_url() -> String {
    std::env::var("LIGHTRAG_TEST_PG_URL")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "postgres://root:root@127.0.0.1:5432/postgres".to_owned())
}

/// `url` with its database name replaced by `db`.
pub fn pg_url_with_db(url: &str, db: &str) -> String {
    let (scheme, rest) = url
        .split_once("://")
        .expect("LIGHTRAG_TEST_PG_URL must be a postgres:// URL");
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    let query = tail
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{scheme}://{authority}/{db}{query}")
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "lrrec_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

fn admin_connect() -> PgConnection {
    let url = pg_admin_url();
    PgConnection::establish(&url).unwrap_or_else(|e| {
        panic!(
            "PostgreSQL tests need a reachable server: could not connect to {} ({e}). \
             Start PostgreSQL (scripts/test does) or set LIGHTRAG_TEST_PG_URL to an admin URL.",
            redact_url(&url)
        )
    })
}

enum Cleanup {
    /// Removed (with the database file) on drop.
    Sqlite {
        _dir: tempfile::TempDir,
    },
    Postgres {
        name: String,
    },
}

/// A migrated, isolated database for one test.
pub struct TestDb {
    pub db: Option<Db>,
    pub config: DbConfig,
    cleanup: Cleanup,
}

impl TestDb {
    pub fn new(backend: BackendKind) -> Self {
        match backend {
            BackendKind::Sqlite => Self::sqlite(),
            BackendKind::Postgres => Self::postgres(),
        }
    }

    /// SQLite on `<tempdir>/catalog.db`, addressed with the four-slash absolute URL form.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("create temp dir");
        let url = format!("sqlite:///{}", dir.path().join("catalog.db").display());
        Self::open(DbConfig::new(url), Cleanup::Sqlite { _dir: dir })
    }

    /// A new PostgreSQL database, dropped at the end of the test.
    pub fn postgres() -> Self {
        let name = unique_name();
        admin_connect()
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name} failed: {e}"));
        let url = pg_url_with_db(&pg_admin_url(), &name);
        Self::open(DbConfig::new(url), Cleanup::Postgres { name })
    }

    fn open(mut config: DbConfig, cleanup: Cleanup) -> Self {
        config.connect_timeout = Duration::from_secs(10);
        let mut t = Self {
            db: None,
            config,
            cleanup,
        };
        let db = t.connect();
        run_migrations(&mut db.conn().expect("checkout")).expect("migrations");
        t.db = Some(db);
        t
    }

    /// A new pool on the same database.
    pub fn connect(&self) -> Db {
        Db::connect(&self.config).unwrap_or_else(|e| panic!("connect {:?}: {e}", self.config))
    }

    pub fn db(&self) -> &Db {
        self.db.as_ref().expect("pool open")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        self.db.take();
        if let Cleanup::Postgres { name } = &self.cleanup {
            let _ = admin_connect()
                .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
        }
    }
}

/// Generates `sqlite::<name>` and `postgres::<name>` tests calling `<name>(&mut TestDb)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    let mut t = $crate::integration::support::TestDb::new(lightrag_recovery_db::BackendKind::Sqlite);
                    super::$name(&mut t);
                }
            )+
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    let mut t = $crate::integration::support::TestDb::new(lightrag_recovery_db::BackendKind::Postgres);
                    super::$name(&mut t);
                }
            )+
        }
    };
}
