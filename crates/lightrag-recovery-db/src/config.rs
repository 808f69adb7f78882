//! Connection settings and `LIGHTRAG_RECOVERY_DB_URL` parsing.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use lightrag_config::redact_url;

use crate::error::{RecoveryDbError, Result};

/// Default `LIGHTRAG_RECOVERY_DB_URL`.
pub const DEFAULT_DB_URL: &str = "sqlite:///./lightrag_recovery.db";

/// Settings for [`Db::connect`](crate::Db::connect), passed in as values.
///
/// `Debug` never shows the password of a PostgreSQL URL.
#[derive(Clone, PartialEq, Eq)]
pub struct DbConfig {
    /// `sqlite:///./relative.db`, `sqlite:////absolute/path.db`, a plain file path,
    /// `postgres://user:password@host:port/db` or `postgresql://…`.
    pub url: String,
    /// Most connections the pool holds (default 8; at least 1).
    pub max_connections: u32,
    /// How long a checkout (and a new connection) may take before
    /// [`RecoveryDbError::Unavailable`] (default 5 s).
    pub connect_timeout: Duration,
    /// SQLite only: how long a writer waits for a lock held by another (default 5 s).
    pub busy_timeout: Duration,
}

impl Default for DbConfig {
    fn default() -> Self {
        Self {
            url: DEFAULT_DB_URL.to_owned(),
            max_connections: 8,
            connect_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
        }
    }
}

impl DbConfig {
    /// Default settings for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }

    /// The SQLite file the URL names (`None` for PostgreSQL or an invalid URL): where files
    /// that belong beside the catalog go (the target secret key).
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        match parse_url(&self.url, self.connect_timeout) {
            Ok(DbLocation::Sqlite { path }) => Some(path),
            _ => None,
        }
    }
}

impl fmt::Debug for DbConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbConfig")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("connect_timeout", &self.connect_timeout)
            .field("busy_timeout", &self.busy_timeout)
            .finish()
    }
}

/// Which backend a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        })
    }
}

/// A parsed database location.
#[derive(Clone)]
pub(crate) enum DbLocation {
    Sqlite {
        path: PathBuf,
    },
    Postgres {
        /// The URL handed to libpq (with `connect_timeout` added when absent). Secret.
        url: String,
        /// `user@host:port/db`, no password.
        display: String,
        /// Password, to scrub it from driver messages.
        password: Option<String>,
    },
}

impl fmt::Debug for DbLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl DbLocation {
    pub(crate) fn kind(&self) -> BackendKind {
        match self {
            Self::Sqlite { .. } => BackendKind::Sqlite,
            Self::Postgres { .. } => BackendKind::Postgres,
        }
    }

    /// Human description without secrets, e.g. `sqlite ./x.db`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Sqlite { path } => format!("sqlite {}", path.display()),
            Self::Postgres { display, .. } => format!("postgres {display}"),
        }
    }

    /// Removes the password from a driver message.
    pub(crate) fn scrub(&self, message: &str) -> String {
        match self {
            Self::Postgres {
                password: Some(pw), ..
            } if !pw.is_empty() => message.replace(pw.as_str(), "***"),
            _ => message.to_owned(),
        }
    }
}

fn invalid(url: &str, reason: impl Into<String>) -> RecoveryDbError {
    RecoveryDbError::InvalidUrl {
        url: redact_url(url),
        reason: reason.into(),
    }
}

/// Parses `LIGHTRAG_RECOVERY_DB_URL`. `connect_timeout` is added to PostgreSQL URLs that do not
/// set one.
pub(crate) fn parse_url(raw: &str, connect_timeout: Duration) -> Result<DbLocation> {
    let url = raw.trim();
    if url.is_empty() {
        return Err(invalid(raw, "it is empty"));
    }
    if url.contains('\0') {
        return Err(invalid(raw, "it contains a NUL byte"));
    }
    if let Some((scheme, rest)) = url.split_once("://") {
        return match scheme.to_ascii_lowercase().as_str() {
            "sqlite" | "sqlite3" => parse_sqlite(url, rest),
            "postgres" | "postgresql" => parse_postgres(url, rest, connect_timeout),
            other => Err(invalid(
                url,
                format!("unsupported scheme `{other}` (only sqlite and postgres/postgresql)"),
            )),
        };
    }
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("sqlite:")
        || lower.starts_with("postgres:")
        || lower.starts_with("postgresql:")
    {
        return Err(invalid(url, "a scheme must be followed by `://`"));
    }
    if url == ":memory:" {
        return Err(invalid(
            url,
            "in-memory SQLite is not supported (every pooled connection would see a different empty database); use a file path",
        ));
    }
    Ok(DbLocation::Sqlite {
        path: PathBuf::from(url),
    })
}

fn parse_sqlite(url: &str, rest: &str) -> Result<DbLocation> {
    // sqlite:///relative.db → rest = "/relative.db"; sqlite:////abs.db → rest = "//abs.db".
    let Some(path) = rest.strip_prefix('/') else {
        return Err(invalid(
            url,
            "SQLite URLs need three slashes for a relative path (sqlite:///./file.db) \
             or four for an absolute one (sqlite:////var/lib/file.db)",
        ));
    };
    if path.is_empty() {
        return Err(invalid(url, "no file path after `sqlite:///`"));
    }
    if path == ":memory:" {
        return Err(invalid(
            url,
            "in-memory SQLite is not supported (every pooled connection would see a different empty database); use a file path",
        ));
    }
    if path.contains('?') {
        return Err(invalid(
            url,
            "query parameters are not supported in SQLite URLs",
        ));
    }
    Ok(DbLocation::Sqlite {
        path: PathBuf::from(path),
    })
}

fn parse_postgres(url: &str, rest: &str, connect_timeout: Duration) -> Result<DbLocation> {
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (user, password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((user, pw)) => (Some(user), Some(pw)),
            None => (Some(u), None),
        },
        None => (None, None),
    };
    if hostport.contains(char::is_whitespace) {
        return Err(invalid(url, "the host contains whitespace"));
    }
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (tail, None),
    };
    let dbname = path.trim_start_matches('/');
    if hostport.is_empty() && dbname.is_empty() {
        return Err(invalid(url, "no host and no database name"));
    }
    let display = format!(
        "{}{}/{}",
        user.map(|u| format!("{u}@")).unwrap_or_default(),
        if hostport.is_empty() {
            "localhost"
        } else {
            hostport
        },
        dbname
    );
    let has_timeout = query.is_some_and(|q| {
        q.split('&')
            .any(|kv| kv.split('=').next() == Some("connect_timeout"))
    });
    let mut libpq_url = url.to_owned();
    if !has_timeout {
        // libpq treats values below 2 as 2.
        let secs = connect_timeout.as_secs().max(2);
        libpq_url.push(if query.is_some() { '&' } else { '?' });
        libpq_url.push_str(&format!("connect_timeout={secs}"));
    }
    Ok(DbLocation::Postgres {
        url: libpq_url,
        display,
        password: password.map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path_of(url: &str) -> String {
        match parse_url(url, Duration::from_secs(5)).unwrap() {
            DbLocation::Sqlite { path } => path.display().to_string(),
            DbLocation::Postgres { .. } => panic!("{url} parsed as postgres"),
        }
    }

    #[test]
    fn sqlite_forms() {
        assert_eq!(
            path_of("sqlite:///./lightrag_recovery.db"),
            "./lightrag_recovery.db"
        );
        assert_eq!(path_of("sqlite:///rel/x.db"), "rel/x.db");
        assert_eq!(path_of("sqlite:////var/lib/x.db"), "/var/lib/x.db");
        assert_eq!(path_of("/abs/plain.db"), "/abs/plain.db");
        assert_eq!(path_of("plain.db"), "plain.db");
        assert_eq!(path_of("  sqlite:///./t.db\n"), "./t.db");
    }

    #[test]
    fn postgres_forms_add_timeout_and_hide_password() {
        for url in [
            "postgres://u:s3cret@db:5432/cat",
            "postgresql://u:s3cret@db/cat?sslmode=disable",
        ] {
            let loc = parse_url(url, Duration::from_secs(3)).unwrap();
            let DbLocation::Postgres {
                url: libpq,
                display,
                ..
            } = &loc
            else {
                panic!()
            };
            assert!(libpq.contains("connect_timeout=3"), "{libpq}");
            assert!(!display.contains("s3cret"));
            assert!(!format!("{loc:?}").contains("s3cret"));
            assert_eq!(loc.scrub("bad password s3cret"), "bad password ***");
        }
        let loc = parse_url("postgres://h/db?connect_timeout=9", Duration::from_secs(3)).unwrap();
        let DbLocation::Postgres { url, .. } = loc else {
            panic!()
        };
        assert_eq!(url, "postgres://h/db?connect_timeout=9");
    }

    #[test]
    fn bad_urls_name_the_variable() {
        for url in [
            "",
            "mysql://u:pw@h/db",
            "sqlite://x.db",
            "sqlite:///",
            "sqlite:///:memory:",
            ":memory:",
            "sqlite:x.db",
            "postgres:/x",
            "postgres://",
        ] {
            let err = parse_url(url, Duration::from_secs(1))
                .err()
                .unwrap_or_else(|| panic!("{url} accepted"));
            let msg = err.to_string();
            assert!(msg.contains("LIGHTRAG_RECOVERY_DB_URL"), "{msg}");
            assert!(matches!(err, RecoveryDbError::InvalidUrl { .. }));
            assert!(!msg.contains(":pw@"), "{msg}");
        }
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact_url("postgres://u:pw@h:5432/d"),
            "postgres://u:***@h:5432/d"
        );
        assert_eq!(redact_url("postgres://u@h/d"), "postgres://***@h/d");
        assert_eq!(redact_url("./x.db"), "./x.db");
        let cfg = DbConfig::new("postgres://u:hunter2@h/d");
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }
}
