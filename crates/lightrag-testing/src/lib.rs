//! Test support shared by the integration tests of lightrag-ops: a migrated, isolated catalog
//! database per test on SQLite (a temp file) or PostgreSQL (a database of its own, created
//! through `LIGHTRAG_TEST_PG_URL`, default `postgres://root:root@127.0.0.1:5432/postgres`, and
//! dropped at the end), a macro running a test on both backends, and the real LightRAG fixtures.
//!
//! Only ever a `[dev-dependencies]` entry. PostgreSQL tests fail, never skip, when the server
//! is unreachable.
//!
//! ```no_run
//! use lightrag_testing::{BackendKind, TestDb};
//!
//! let t = TestDb::new(BackendKind::Sqlite);
//! let _conn = t.db().conn().unwrap();
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use lightrag_config::{ErrorChain, redact_url};
use lightrag_recovery_db::{Db, DbConfig, run_migrations};

pub use lightrag_recovery_db::BackendKind;

/// Default admin URL when `LIGHTRAG_TEST_PG_URL` is unset or blank.
pub const DEFAULT_PG_URL: &str = "postgres://root:root@127.0.0.1:5432/postgres";

/// Admin URL used to create per-test PostgreSQL databases (`LIGHTRAG_TEST_PG_URL`).
pub fn pg_admin_url() -> String {
    std::env::var("LIGHTRAG_TEST_PG_URL")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_PG_URL.to_owned())
}

/// `url` with its database name replaced by `db` (the query string is kept).
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

/// A database name unique to this process and call.
fn unique_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "lrtest_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// A connection to the admin database; panics (the test fails) when PostgreSQL is unreachable.
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

/// A new, empty PostgreSQL database on the test server, dropped (`WITH (FORCE)`) on drop.
#[derive(Debug)]
pub struct PgDatabase {
    name: String,
    /// Connection URL of the new database.
    pub url: String,
}

impl PgDatabase {
    /// Creates the database; panics when PostgreSQL is unreachable (never skips).
    pub fn create() -> Self {
        let name = unique_name();
        admin_connect()
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name} failed: {e}"));
        let url = pg_url_with_db(&pg_admin_url(), &name);
        Self { name, url }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = &self.name;
        let _ = admin_connect()
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
    }
}

#[derive(Debug)]
enum Cleanup {
    /// Removed (with the database file) on drop.
    Sqlite {
        _dir: tempfile::TempDir,
    },
    Postgres {
        _db: PgDatabase,
    },
}

/// A migrated, isolated catalog database for one test.
#[derive(Debug)]
pub struct TestDb {
    /// The pool opened (and migrated) at creation; `take` it to close it.
    pub db: Option<Db>,
    /// Configuration of the database (10 s connect timeout).
    pub config: DbConfig,
    _cleanup: Cleanup,
}

impl TestDb {
    /// A new database on `backend`.
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
        let pg = PgDatabase::create();
        Self::open(DbConfig::new(pg.url.clone()), Cleanup::Postgres { _db: pg })
    }

    fn open(mut config: DbConfig, cleanup: Cleanup) -> Self {
        config.connect_timeout = Duration::from_secs(10);
        let mut t = Self {
            db: None,
            config,
            _cleanup: cleanup,
        };
        let db = t.connect();
        run_migrations(&mut db.conn().expect("checkout")).expect("migrations");
        t.db = Some(db);
        t
    }

    /// A new pool on the same database (a "restart").
    pub fn connect(&self) -> Db {
        Db::connect(&self.config)
            .unwrap_or_else(|e| panic!("connect {:?}: {}", self.config, ErrorChain(&e)))
    }

    /// The pool opened at creation.
    pub fn db(&self) -> &Db {
        self.db.as_ref().expect("pool open")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Close the pool before `cleanup` drops the database or its directory.
        self.db.take();
    }
}

/// Marks a test taking `&mut TestDb`.
#[derive(Debug)]
pub enum ByMut {}
/// Marks a test taking `&TestDb`.
#[derive(Debug)]
pub enum ByRef {}
/// Marks a test taking the [`BackendKind`] and creating its databases itself.
#[derive(Debug)]
pub enum ByKind {}

/// A test body [`both_backends!`] can run: `fn(&mut TestDb)`, `fn(&TestDb)` or
/// `fn(BackendKind)`; `M` is one of [`ByMut`], [`ByRef`], [`ByKind`].
pub trait BackendTest<M> {
    /// Runs the test on `backend`.
    fn run(self, backend: BackendKind);
}

impl<F: FnOnce(&mut TestDb)> BackendTest<ByMut> for F {
    fn run(self, backend: BackendKind) {
        let mut t = TestDb::new(backend);
        self(&mut t);
    }
}

impl<F: FnOnce(&TestDb)> BackendTest<ByRef> for F {
    fn run(self, backend: BackendKind) {
        let t = TestDb::new(backend);
        self(&t);
    }
}

impl<F: FnOnce(BackendKind)> BackendTest<ByKind> for F {
    fn run(self, backend: BackendKind) {
        self(backend);
    }
}

/// Runs `test` on `backend` (used by [`both_backends!`]).
pub fn run_on<M>(backend: BackendKind, test: impl BackendTest<M>) {
    test.run(backend);
}

/// Generates `sqlite::<name>` and `postgres::<name>` tests calling `super::<name>` with a new
/// [`TestDb`] (`&mut` or `&`) or with the [`BackendKind`].
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    $crate::run_on($crate::BackendKind::Sqlite, super::$name);
                }
            )+
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    $crate::run_on($crate::BackendKind::Postgres, super::$name);
                }
            )+
        }
    };
}

/// The real LightRAG fixtures: `../shared/fixtures/lightrag-real` from the workspace root.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/lightrag-real")
}

/// Copies the files of fixture `name` (a directory of [`fixtures_dir`]) into `to`, creating it.
pub fn copy_fixture(name: &str, to: &Path) {
    let from = fixtures_dir().join(name);
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(&from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}
