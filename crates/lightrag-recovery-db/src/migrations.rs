//! Embedded migrations, one set per backend.

use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::conn::DbConn;
use crate::error::{RecoveryDbError, Result};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

fn migration_error(source: Box<dyn std::error::Error + Send + Sync>) -> RecoveryDbError {
    RecoveryDbError::Migration { source }
}

fn versions<V: std::fmt::Display>(v: Vec<V>) -> Vec<String> {
    v.into_iter().map(|v| v.to_string()).collect()
}

/// Applies every pending migration of the connection's backend, each in a transaction, and
/// logs each one. Returns the versions applied (empty when up to date).
pub fn run_migrations(conn: &mut DbConn) -> Result<Vec<String>> {
    let applied = match conn {
        DbConn::Sqlite(c) => versions(
            c.run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(migration_error)?,
        ),
        DbConn::Postgres(c) => versions(
            c.run_pending_migrations(POSTGRES_MIGRATIONS)
                .map_err(migration_error)?,
        ),
    };
    for version in &applied {
        tracing::info!(%version, backend = %conn.backend(), "Applied recovery database migration");
    }
    if applied.is_empty() {
        tracing::debug!(backend = %conn.backend(), "Recovery database schema is up to date");
    }
    Ok(applied)
}

/// Reverts every applied migration (drops all tables). Returns the versions reverted.
pub fn revert_all_migrations(conn: &mut DbConn) -> Result<Vec<String>> {
    let reverted = match conn {
        DbConn::Sqlite(c) => versions(
            c.revert_all_migrations(SQLITE_MIGRATIONS)
                .map_err(migration_error)?,
        ),
        DbConn::Postgres(c) => versions(
            c.revert_all_migrations(POSTGRES_MIGRATIONS)
                .map_err(migration_error)?,
        ),
    };
    for version in &reverted {
        tracing::warn!(%version, backend = %conn.backend(), "Reverted recovery database migration");
    }
    Ok(reverted)
}

/// Versions not applied yet.
pub fn pending_migrations(conn: &mut DbConn) -> Result<Vec<String>> {
    let pending = match conn {
        DbConn::Sqlite(c) => {
            let p = c
                .pending_migrations(SQLITE_MIGRATIONS)
                .map_err(migration_error)?;
            p.iter().map(|m| m.name().version().to_string()).collect()
        }
        DbConn::Postgres(c) => {
            let p = c
                .pending_migrations(POSTGRES_MIGRATIONS)
                .map_err(migration_error)?;
            p.iter().map(|m| m.name().version().to_string()).collect()
        }
    };
    Ok(pending)
}

/// Versions applied, newest first.
pub fn applied_migrations(conn: &mut DbConn) -> Result<Vec<String>> {
    let applied = match conn {
        DbConn::Sqlite(c) => c.applied_migrations(),
        DbConn::Postgres(c) => c.applied_migrations(),
    }
    .map_err(migration_error)?;
    Ok(versions(applied))
}
