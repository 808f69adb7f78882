//! The connection type, the pool and the async helper.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::R2D2Connection;
use diesel::{ConnectionError, PgConnection, SqliteConnection};

use crate::config::{BackendKind, DbConfig, DbLocation, parse_url};
use crate::error::{RecoveryDbError, Result};

/// One connection to either backend. Repository functions take `&mut DbConn`.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    /// PostgreSQL.
    Postgres(PgConnection),
    /// SQLite.
    Sqlite(SqliteConnection),
}

impl fmt::Debug for DbConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DbConn({})", self.backend())
    }
}

impl DbConn {
    /// Which backend this connection talks to.
    pub fn backend(&self) -> BackendKind {
        match self {
            Self::Postgres(_) => BackendKind::Postgres,
            Self::Sqlite(_) => BackendKind::Sqlite,
        }
    }
}

/// r2d2 manager that opens the backend chosen by the parsed URL (never guessing).
#[derive(Debug)]
pub(crate) struct DbManager {
    location: DbLocation,
}

impl r2d2::ManageConnection for DbManager {
    type Connection = DbConn;
    type Error = ConnectionError;

    fn connect(&self) -> std::result::Result<DbConn, ConnectionError> {
        let scrub = |e: ConnectionError| match e {
            ConnectionError::BadConnection(m) => {
                ConnectionError::BadConnection(self.location.scrub(&m))
            }
            other => other,
        };
        match &self.location {
            DbLocation::Sqlite { path } => {
                let path = path.to_str().ok_or_else(|| {
                    ConnectionError::InvalidConnectionUrl("SQLite path is not UTF-8".to_owned())
                })?;
                SqliteConnection::establish(path)
                    .map(DbConn::Sqlite)
                    .map_err(scrub)
            }
            DbLocation::Postgres { url, .. } => PgConnection::establish(url)
                .map(DbConn::Postgres)
                .map_err(scrub),
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> std::result::Result<(), ConnectionError> {
        conn.ping()
            .map_err(ConnectionError::CouldntSetupConfiguration)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        conn.is_broken()
    }
}

/// Sets the SQLite pragmas on every new connection; does nothing for PostgreSQL.
#[derive(Debug)]
pub(crate) struct SqlitePragmas {
    busy_timeout_ms: u128,
}

impl r2d2::CustomizeConnection<DbConn, ConnectionError> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut DbConn) -> std::result::Result<(), ConnectionError> {
        if let DbConn::Sqlite(c) = conn {
            // busy_timeout first, so switching to WAL waits for a concurrent opener.
            c.batch_execute(&format!(
                "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; \
                 PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                self.busy_timeout_ms
            ))
            .map_err(ConnectionError::CouldntSetupConfiguration)?;
        }
        Ok(())
    }
}

/// Sends pool connection errors to tracing (debug level: callers get a typed error anyway).
#[derive(Debug)]
struct TracingErrorHandler {
    location: DbLocation,
}

impl r2d2::HandleError<ConnectionError> for TracingErrorHandler {
    fn handle_error(&self, error: ConnectionError) {
        tracing::debug!(
            db = %self.location.describe(),
            error = %self.location.scrub(&error.to_string()),
            "Recovery database connection attempt failed"
        );
    }
}

/// A pooled connection; derefs to [`DbConn`] and returns to the pool when dropped.
pub struct PooledConn(r2d2::PooledConnection<DbManager>);

impl fmt::Debug for PooledConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PooledConn({})", self.0.backend())
    }
}

impl std::ops::Deref for PooledConn {
    type Target = DbConn;
    fn deref(&self) -> &DbConn {
        &self.0
    }
}

impl std::ops::DerefMut for PooledConn {
    fn deref_mut(&mut self) -> &mut DbConn {
        &mut self.0
    }
}

/// Pool gauges (for metrics refreshed at scrape time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PoolState {
    /// Open connections.
    pub connections: u32,
    /// Of which idle.
    pub idle_connections: u32,
    /// Pool capacity.
    pub max_connections: u32,
}

/// How long an open breaker stays trusted without a new failure: after that a call may try
/// the database again (half-open), so a process without a prober does not fail fast for ever.
const BREAKER_STALE_AFTER: Duration = Duration::from_secs(5);

/// Circuit breaker of the catalog: opened by a failed probe ([`Db::probe`]), closed by any
/// successful checkout. While open (and recently confirmed), checkouts fail at once with
/// [`RecoveryDbError::CatalogUnavailable`] instead of waiting for the checkout timeout.
#[derive(Debug, Default)]
struct Breaker {
    open: AtomicBool,
    state: Mutex<Option<Down>>,
}

#[derive(Debug, Clone)]
struct Down {
    since: Instant,
    confirmed: Instant,
    reason: String,
}

impl Breaker {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Down>> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The reason to fail fast, when the breaker is open and recently confirmed.
    fn fail_fast(&self) -> Option<String> {
        if !self.open.load(Ordering::Acquire) {
            return None;
        }
        let st = self.lock();
        st.as_ref()
            .filter(|d| d.confirmed.elapsed() < BREAKER_STALE_AFTER)
            .map(|d| d.reason.clone())
    }

    fn trip(&self, reason: String) {
        let mut st = self.lock();
        let now = Instant::now();
        let since = st.as_ref().map_or(now, |d| d.since);
        if st.is_none() {
            tracing::warn!(%reason, "Recovery database is down: catalog calls fail fast until it answers again");
        }
        *st = Some(Down {
            since,
            confirmed: now,
            reason,
        });
        self.open.store(true, Ordering::Release);
    }

    /// Closes the breaker; returns how long it was open.
    fn close(&self) -> Option<Duration> {
        if !self.open.load(Ordering::Acquire) {
            return None;
        }
        let mut st = self.lock();
        self.open.store(false, Ordering::Release);
        let down = st.take()?;
        let d = down.since.elapsed();
        tracing::info!(
            down_ms = d.as_millis() as u64,
            "Recovery database answers again"
        );
        Some(d)
    }
}

/// The recovery catalog: a connection pool plus the async helper. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<DbManager>,
    location: Arc<DbLocation>,
    breaker: Arc<Breaker>,
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db")
            .field("location", &self.location.describe())
            .field("state", &self.state())
            .finish()
    }
}

/// A SQLite file is created on first use, its folder is not: a missing folder is a
/// misconfiguration (often the slash rule of the URL), said at once rather than after the
/// connection timeout as "unavailable".
fn check_sqlite_folder(url: &str, path: &std::path::Path) -> Result<()> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    if folder.is_dir() {
        return Ok(());
    }
    let resolved = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let resolved_folder = std::path::absolute(folder).unwrap_or_else(|_| folder.to_owned());
    Err(RecoveryDbError::InvalidUrl {
        url: url.trim().to_owned(),
        reason: format!(
            "the database file resolves to {}, in the folder {}, which does not exist; create the folder or fix the URL: `sqlite:///relative/path.db` (three slashes) is relative to the current directory, `sqlite:////absolute/path.db` (four) is absolute",
            resolved.display(),
            resolved_folder.display()
        ),
    })
}

impl Db {
    /// Parses the URL and opens the pool, checking that one connection can be made.
    ///
    /// Blocks for at most `connect_timeout`; from async code call it inside
    /// `spawn_blocking` or before the runtime starts. Does not run migrations: see
    /// [`run_migrations`](crate::run_migrations) and [`Db::migrate`].
    pub fn connect(config: &DbConfig) -> Result<Self> {
        Self::open(config, true)
    }

    /// Like [`Db::connect`], but makes no connection yet: the first checkout (or
    /// [`Db::probe`]) does. For short-lived programs that may not need the catalog at all.
    pub fn connect_lazily(config: &DbConfig) -> Result<Self> {
        Self::open(config, false)
    }

    fn open(config: &DbConfig, eager: bool) -> Result<Self> {
        if config.max_connections == 0 {
            return Err(RecoveryDbError::InvalidConfig {
                setting: "max_connections",
                reason: "must be at least 1".to_owned(),
            });
        }
        if config.connect_timeout.is_zero() {
            return Err(RecoveryDbError::InvalidConfig {
                setting: "connect_timeout",
                reason: "must be greater than zero".to_owned(),
            });
        }
        let location = parse_url(&config.url, config.connect_timeout)?;
        if let DbLocation::Sqlite { path } = &location {
            check_sqlite_folder(&config.url, path)?;
        }
        let builder = r2d2::Pool::builder()
            .max_size(config.max_connections)
            .min_idle(Some(u32::from(eager)))
            .connection_timeout(config.connect_timeout)
            .test_on_check_out(true)
            .error_handler(Box::new(TracingErrorHandler {
                location: location.clone(),
            }))
            .connection_customizer(Box::new(SqlitePragmas {
                busy_timeout_ms: config.busy_timeout.as_millis(),
            }));
        let manager = DbManager {
            location: location.clone(),
        };
        let pool = if eager {
            builder
                .build(manager)
                .map_err(|e| unavailable(&location, &e))?
        } else {
            builder.build_unchecked(manager)
        };
        tracing::info!(db = %location.describe(), max_connections = config.max_connections, "Recovery database pool opened");
        Ok(Self {
            pool,
            location: Arc::new(location),
            breaker: Arc::default(),
        })
    }

    /// The backend in use.
    pub fn backend(&self) -> BackendKind {
        self.location.kind()
    }

    /// Backend and location without secrets, e.g. `postgres root@127.0.0.1:5432/catalog`.
    pub fn describe(&self) -> String {
        self.location.describe()
    }

    /// Pool gauges.
    pub fn state(&self) -> PoolState {
        let s = self.pool.state();
        PoolState {
            connections: s.connections,
            idle_connections: s.idle_connections,
            max_connections: self.pool.max_size(),
        }
    }

    /// Checks out a connection, blocking up to the checkout timeout. For synchronous callers
    /// (CLI); async code uses [`Db::run`]. While the catalog is known down (see
    /// [`Db::probe`]) it fails at once with [`RecoveryDbError::CatalogUnavailable`].
    pub fn conn(&self) -> Result<PooledConn> {
        if let Some(reason) = self.breaker.fail_fast() {
            return Err(RecoveryDbError::CatalogUnavailable {
                target: self.location.describe(),
                reason,
            });
        }
        self.checkout(None)
    }

    /// A checkout; `Some(timeout)` is a probe, whose failure opens the breaker. A failed
    /// ordinary checkout does not: a process without a prober (the CLI) keeps plain
    /// timeouts rather than failing fast on stale knowledge.
    fn checkout(&self, timeout: Option<Duration>) -> Result<PooledConn> {
        let got = match timeout {
            Some(t) => self.pool.get_timeout(t),
            None => self.pool.get(),
        };
        match got {
            Ok(c) => {
                self.breaker.close();
                Ok(PooledConn(c))
            }
            Err(e) => {
                if timeout.is_some() {
                    self.breaker.trip(self.location.scrub(&e.to_string()));
                }
                Err(unavailable(&self.location, &e))
            }
        }
    }

    /// Health probe feeding the circuit breaker: checks out (and so tests) a connection,
    /// waiting at most `timeout`, whatever the breaker's state. A failure opens the breaker
    /// (catalog calls then fail fast), a success closes it. Call it periodically (the server
    /// does, every 500 ms) so an outage is noticed within about `interval + timeout`.
    pub fn probe(&self, timeout: Duration) -> Result<()> {
        self.checkout(Some(timeout)).map(drop)
    }

    /// Whether the catalog is known to be down (the breaker is open).
    pub fn is_known_down(&self) -> bool {
        self.breaker.open.load(Ordering::Acquire)
    }

    /// Runs `f` with a pooled connection on tokio's blocking pool, inside the caller's
    /// tracing span. A checkout that times out yields [`RecoveryDbError::Unavailable`].
    pub async fn run<F, T>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&mut DbConn) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let started = Instant::now();
            let mut conn = db.conn()?;
            let waited = started.elapsed();
            if waited.as_millis() > 500 {
                tracing::debug!(
                    waited_ms = waited.as_millis() as u64,
                    "Slow recovery database checkout"
                );
            }
            f(&mut conn)
        })
        .await
        .map_err(|source| RecoveryDbError::Task { source })?
    }

    /// Applies pending migrations (logged); returns the versions applied.
    pub fn migrate(&self) -> Result<Vec<String>> {
        crate::migrations::run_migrations(&mut *self.conn()?)
    }
}

fn unavailable(location: &DbLocation, err: &r2d2::Error) -> RecoveryDbError {
    RecoveryDbError::Unavailable {
        target: location.describe(),
        source: location.scrub(&err.to_string()).into(),
    }
}

#[cfg(test)]
mod tests {
    use tracing::Instrument;

    use super::*;

    #[test]
    fn open_breaker_fails_fast_and_a_probe_closes_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&DbConfig::new(
            dir.path().join("c.db").display().to_string(),
        ))
        .unwrap();
        assert!(db.conn().is_ok() && !db.is_known_down());
        db.breaker.trip("connection refused".to_owned());
        assert!(db.is_known_down());
        let t = Instant::now();
        let err = db.conn().map(drop).unwrap_err();
        assert!(t.elapsed() < Duration::from_millis(100));
        assert!(err.is_unavailable(), "{err:?}");
        assert!(
            matches!(&err, RecoveryDbError::CatalogUnavailable { reason, .. } if reason == "connection refused"),
            "{err:?}"
        );
        assert!(err.to_string().starts_with("catalog unavailable"), "{err}");
        // The probe ignores the breaker; its success closes it.
        db.probe(Duration::from_secs(1)).unwrap();
        assert!(!db.is_known_down());
        assert!(db.conn().is_ok());
        // A stale open breaker lets a call try again (half-open).
        db.breaker.trip("down".to_owned());
        db.breaker.lock().as_mut().unwrap().confirmed =
            Instant::now() - BREAKER_STALE_AFTER - Duration::from_millis(1);
        assert!(db.conn().is_ok());
        assert!(!db.is_known_down());
    }

    #[test]
    fn run_keeps_the_callers_span_and_maps_panics() {
        tracing::subscriber::set_global_default(tracing_subscriber::registry()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&DbConfig::new(
            dir.path().join("c.db").display().to_string(),
        ))
        .unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let name = rt
            .block_on(
                db.run(|conn| {
                    assert_eq!(conn.backend(), BackendKind::Sqlite);
                    Ok(tracing::Span::current().metadata().map(|m| m.name()))
                })
                .instrument(tracing::info_span!("handler_span")),
            )
            .unwrap();
        assert_eq!(name, Some("handler_span"));

        let err = rt
            .block_on(db.run(|_| -> Result<()> { panic!("boom") }))
            .unwrap_err();
        assert!(matches!(err, RecoveryDbError::Task { .. }), "{err:?}");
        assert!(format!("{db:?}").contains("sqlite"));
    }
}
