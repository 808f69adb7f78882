//! Configuration → library handles: the one place that turns `LIGHTRAG_*` settings into the
//! options of the library crates (storage, repository, catalog, managers, replication,
//! retention). Every entry point gets them through [`crate::Service`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lightrag_backup::{InitOptions, Repository, RetentionPolicy};
use lightrag_config::Config;
use lightrag_recovery_db::{Db, DbConfig};

use crate::error::{Result, ServiceError};

/// A graph with a file written less than this long ago looks live (a running LightRAG).
pub const LIVE_WINDOW: Duration = Duration::from_secs(120);

/// Largest object a peer may send (packs are 8 MiB by default).
pub const RECEIVE_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// Object-store settings (`LIGHTRAG_S3_*`); credentials come from the standard environment.
pub fn object_store_options(c: &Config) -> lightrag_backup::ObjectStoreOptions {
    lightrag_backup::ObjectStoreOptions {
        endpoint: c.s3_endpoint.clone(),
        region: c.s3_region.clone(),
        path_style: c.s3_path_style,
        allow_http: c.s3_allow_http,
        ..lightrag_backup::ObjectStoreOptions::default()
    }
}

/// The storage of `LIGHTRAG_BACKUP_STORAGE` (a directory or an object-store URL).
pub fn open_storage(c: &Config) -> Result<Arc<dyn lightrag_backup::Storage>> {
    lightrag_backup::open_storage(&c.backup_storage, &object_store_options(c)).map_err(|e| {
        ServiceError::context(
            format!(
                "cannot open the backup storage {} (LIGHTRAG_BACKUP_STORAGE)",
                lightrag_config::redact_url(&c.backup_storage)
            ),
            e,
        )
    })
}

/// Opens the backup repository at `LIGHTRAG_BACKUP_STORAGE` (creating it when `create`).
pub fn open_repository(c: &Config, create: bool) -> Result<Repository> {
    let key = c.encryption_key.as_ref().map(|k| k.expose().as_bytes());
    let storage = open_storage(c)?;
    let repo = if create {
        let init = InitOptions {
            compression_level: c.compression_level,
            ..InitOptions::default()
        };
        Repository::open_or_init(storage, &init, key)
    } else {
        Repository::open(storage, key)
    };
    repo.map_err(|e| {
        ServiceError::context(
            format!(
                "cannot open the backup repository {} (LIGHTRAG_BACKUP_STORAGE)",
                lightrag_config::redact_url(&c.backup_storage)
            ),
            e,
        )
    })
}

/// Opens the recovery catalog (without migrating).
pub fn open_db(c: &Config) -> Result<Db> {
    Db::connect(&DbConfig::new(c.recovery_db_url.expose())).map_err(|e| {
        ServiceError::context(
            "cannot open the recovery database (LIGHTRAG_RECOVERY_DB_URL)".to_owned(),
            e,
        )
    })
}

/// Opens the recovery catalog without connecting yet; connections wait at most `timeout`.
pub fn open_db_lazily(c: &Config, timeout: Duration) -> Result<Db> {
    let mut cfg = DbConfig::new(c.recovery_db_url.expose());
    cfg.connect_timeout = timeout;
    Db::connect_lazily(&cfg).map_err(|e| {
        ServiceError::context(
            "cannot open the recovery database (LIGHTRAG_RECOVERY_DB_URL)".to_owned(),
            e,
        )
    })
}

/// Options of the recovery manager.
pub fn recovery_options(c: &Config) -> lightrag_recovery::RecoveryOptions {
    lightrag_recovery::RecoveryOptions {
        roots: vec![c.working_dir.clone()],
        live_window: LIVE_WINDOW,
        excludes: c.backup_excludes.clone(),
        scratch_dir: c.recovery_scratch_dir.clone(),
        settle: c.backup_settle,
        ..lightrag_recovery::RecoveryOptions::default()
    }
}

/// Bounds of the health checks (`LIGHTRAG_RPO`, `LIGHTRAG_REPLICATION_MAX_LAG`).
pub fn health_options(c: &Config) -> lightrag_recovery::HealthOptions {
    lightrag_recovery::HealthOptions {
        roots: vec![c.working_dir.clone()],
        rpo: c.rpo,
        max_replication_lag: c.replication_max_lag,
    }
}

/// How replication targets are defined and opened: object-store targets use the
/// `LIGHTRAG_S3_*` settings, peer URLs `LIGHTRAG_REPLICATION_ALLOW_HTTP`, and secrets are sealed
/// with [`target_secret_key_file`].
pub fn target_open_options(c: &Config) -> lightrag_replication::TargetOpenOptions {
    lightrag_replication::TargetOpenOptions {
        object_store: object_store_options(c),
        allow_http: c.replication_allow_http,
        secret_key_file: Some(target_secret_key_file(c)),
        ..lightrag_replication::TargetOpenOptions::default()
    }
}

/// The key file sealing replication target secrets: `LIGHTRAG_REPLICATION_SECRET_KEY_FILE`, else
/// `<catalog>.key` beside a SQLite catalog, else `./lightrag_recovery.key` (PostgreSQL). Never
/// inside the catalog, so a copy of the catalog (file, dump, replica) does not reveal secrets.
pub fn target_secret_key_file(c: &Config) -> PathBuf {
    if let Some(p) = &c.replication_secret_key_file {
        return p.clone();
    }
    match lightrag_recovery_db::DbConfig::new(c.recovery_db_url.expose()).sqlite_path() {
        Some(db) => {
            let mut name = db.file_name().unwrap_or_default().to_os_string();
            name.push(".key");
            db.with_file_name(name)
        }
        None => PathBuf::from("./lightrag_recovery.key"),
    }
}

/// How syncs run: targets keep forgotten snapshots for `LIGHTRAG_REPLICATION_DELETE_GRACE`.
pub fn sync_options(c: &Config) -> lightrag_replication::SyncOptions {
    lightrag_replication::SyncOptions {
        delete_grace: c.replication_delete_grace,
        ..lightrag_replication::SyncOptions::default()
    }
}

/// The retention policy of the configuration: the one mapping, used by the server, the
/// scheduler and the CLI (which overrides single rules). The age rule stays an exact duration.
pub fn retention_policy(c: &Config) -> RetentionPolicy {
    let r = &c.retention;
    RetentionPolicy {
        keep_last: r.keep_last,
        keep_hourly: r.keep_hourly,
        keep_daily: r.keep_daily,
        keep_weekly: r.keep_weekly,
        keep_monthly: r.keep_monthly,
        keep_within: (!r.keep_within.is_zero()).then_some(r.keep_within),
    }
}

/// The receiver of peer replicas (`LIGHTRAG_REPLICA_DIR`); `None` without a receive key or an
/// API key, since the receive routes must be authenticated.
pub(crate) fn receiver(c: &Config) -> Option<Arc<lightrag_replication::Receiver>> {
    if c.replication_receive_key.is_none() && c.api_key.is_none() {
        return None;
    }
    if let Err(e) = std::fs::create_dir_all(&c.replica_dir) {
        tracing::warn!(dir = %c.replica_dir.display(), error = %e, "Cannot create LIGHTRAG_REPLICA_DIR; receiving replicas will fail");
    }
    Some(Arc::new(
        lightrag_replication::Receiver::directory(&c.replica_dir)
            .with_max_object_bytes(RECEIVE_MAX_BYTES),
    ))
}

/// What [`discover`] found.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    /// Graphs, as `(id, directory)`.
    pub graphs: Vec<(String, PathBuf)>,
    /// Folders with LightRAG files that could not become a graph: unprotected.
    pub unprotected: Vec<lightrag_recovery::SkippedEntry>,
}

/// Every graph discovered under `LIGHTRAG_WORKING_DIR`, as `(id, directory)`, and the folders
/// with LightRAG files that could not become a graph (unprotected; not logged here: the
/// server's health checks log each once, the CLI prints them).
pub fn discover(c: &Config) -> Result<Discovered> {
    let found = lightrag_recovery::discover_graphs(&c.working_dir).map_err(|e| {
        ServiceError::context(
            format!(
                "cannot discover graphs under {} (LIGHTRAG_WORKING_DIR)",
                c.working_dir.display()
            ),
            e,
        )
    })?;
    Ok(Discovered {
        graphs: found.graphs.into_iter().map(|g| (g.id, g.path)).collect(),
        unprotected: found.skipped,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use time::OffsetDateTime;

    use super::retention_policy;

    /// Issue 13 #4: `LIGHTRAG_BACKUP_RETENTION_DAYS=12h` kept nothing by age (rounded down to
    /// 0 days) and `36h` kept one day.
    #[test]
    fn retention_age_from_the_configuration_is_not_rounded_to_days() {
        let now = OffsetDateTime::from_unix_timestamp(1_735_689_600).unwrap();
        let ago = |h: i64| now - time::Duration::hours(h);
        let snaps = vec![
            ("h06".to_owned(), ago(6)),
            ("h13".to_owned(), ago(13)),
            ("h30".to_owned(), ago(30)),
        ];
        let kept = |within: &str| -> Vec<String> {
            // Only the age rule: every count rule off.
            let c = lightrag_config::Config::from_vars([
                ("LIGHTRAG_BACKUP_RETENTION_DAYS", within),
                ("LIGHTRAG_BACKUP_KEEP_LAST", "0"),
                ("LIGHTRAG_BACKUP_KEEP_HOURLY", "0"),
                ("LIGHTRAG_BACKUP_KEEP_DAILY", "0"),
                ("LIGHTRAG_BACKUP_KEEP_WEEKLY", "0"),
                ("LIGHTRAG_BACKUP_KEEP_MONTHLY", "0"),
            ])
            .unwrap();
            let p = retention_policy(&c);
            lightrag_backup::apply_policy(&snaps, &p, &BTreeSet::new(), now)
                .into_keys()
                .collect()
        };
        assert_eq!(kept("12h"), ["h06"]);
        assert_eq!(kept("36h"), ["h06", "h13", "h30"]);
        assert_eq!(kept("1"), ["h06", "h13"]);
    }
}
