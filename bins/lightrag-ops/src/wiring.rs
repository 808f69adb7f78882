//! Configuration → library handles: the few functions that turn `LIGHTRAG_*` settings into the
//! options of the library crates. Shared by the CLI and the server.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use lightrag_backup::{InitOptions, Repository};
use lightrag_config::Config;
use lightrag_recovery_db::{Db, DbConfig};

/// A graph with a file written less than this long ago looks live (a running LightRAG).
pub const LIVE_WINDOW: Duration = Duration::from_secs(120);

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
pub fn open_storage(c: &Config) -> anyhow::Result<Arc<dyn lightrag_backup::Storage>> {
    lightrag_backup::open_storage(&c.backup_storage, &object_store_options(c)).with_context(|| {
        format!(
            "cannot open the backup storage {} (LIGHTRAG_BACKUP_STORAGE)",
            c.backup_storage
        )
    })
}

/// Opens the backup repository at `LIGHTRAG_BACKUP_STORAGE` (creating it when `create`).
pub fn open_repository(c: &Config, create: bool) -> anyhow::Result<Repository> {
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
    repo.with_context(|| {
        format!(
            "cannot open the backup repository {} (LIGHTRAG_BACKUP_STORAGE)",
            c.backup_storage
        )
    })
}

/// Opens the recovery catalog (without migrating).
pub fn open_db(c: &Config) -> anyhow::Result<Db> {
    Db::connect(&DbConfig::new(c.recovery_db_url.expose()))
        .context("cannot open the recovery database (LIGHTRAG_RECOVERY_DB_URL)")
}

/// Snapshot ids pinned by recovery points (kept by retention).
pub fn pinned_snapshots(c: &Config) -> anyhow::Result<BTreeSet<String>> {
    let db = open_db(c)?;
    db.migrate().context("migrating the recovery database")?;
    let mut conn = db.conn()?;
    Ok(lightrag_recovery_db::pinned_snapshot_ids(&mut conn)?
        .into_iter()
        .collect())
}

/// Every graph discovered under `LIGHTRAG_WORKING_DIR`, as `(id, directory)`. Folders that are
/// not valid graphs are logged and skipped.
pub fn discover(c: &Config) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let found = lightrag_recovery::discover_graphs(&c.working_dir).with_context(|| {
        format!(
            "cannot discover graphs under {} (LIGHTRAG_WORKING_DIR)",
            c.working_dir.display()
        )
    })?;
    for s in &found.skipped {
        tracing::warn!(path = %s.path.display(), reason = %s.reason, "Skipped a folder that is not a graph");
    }
    Ok(found.graphs.into_iter().map(|g| (g.id, g.path)).collect())
}

/// The directory of graph `id`, resolved under `LIGHTRAG_WORKING_DIR` only.
pub fn graph_dir(c: &Config, id: &str) -> anyhow::Result<PathBuf> {
    let g = lightrag_recovery::resolve_graph(&[&c.working_dir], id)?;
    Ok(g.path)
}

/// Discovers graphs under `LIGHTRAG_WORKING_DIR` and records them in the catalog (source
/// `discovered`); returns every graph id the catalog knows afterwards.
pub fn register_discovered_graphs(c: &Config, db: &Db) -> anyhow::Result<Vec<String>> {
    use lightrag_recovery_db::{GraphSource, NewGraph};
    let mut conn = db.conn()?;
    if c.working_dir.is_dir() {
        for (id, path) in discover(c)? {
            let new = NewGraph {
                id,
                path: path.display().to_string(),
                source: GraphSource::Discovered,
            };
            lightrag_recovery_db::upsert_graph(&mut conn, &new)?;
        }
    } else {
        tracing::warn!(dir = %c.working_dir.display(), "LIGHTRAG_WORKING_DIR does not exist yet; no graph discovered");
    }
    drop(conn);
    catalog_graph_ids(db)
}

/// Start-up reconciliation: every repository snapshot is in the catalog.
pub fn reconcile_catalog(
    db: &Db,
    repo: &Repository,
) -> anyhow::Result<lightrag_recovery::RebuildReport> {
    let mut conn = db.conn()?;
    lightrag_recovery::rebuild_catalog(&mut conn, repo)
        .context("reconciling the catalog with the repository")
}

/// Options of the recovery manager.
pub fn recovery_options(c: &Config) -> lightrag_recovery::RecoveryOptions {
    lightrag_recovery::RecoveryOptions {
        roots: vec![c.working_dir.clone()],
        live_window: LIVE_WINDOW,
        excludes: c.backup_excludes.clone(),
        scratch_dir: c.recovery_scratch_dir.clone(),
        ..lightrag_recovery::RecoveryOptions::default()
    }
}

/// Sends the recovery crate's events through the buffered event log.
#[derive(Debug)]
pub struct LoggerSink(pub lightrag_monitoring::EventLogger);

impl lightrag_recovery::EventSink for LoggerSink {
    fn emit(&self, event: lightrag_recovery_db::NewEvent) {
        self.0.log(event);
    }
}

/// Ids of every graph in the catalog.
pub fn catalog_graph_ids(db: &Db) -> anyhow::Result<Vec<String>> {
    use lightrag_recovery_db::{GraphFilter, MAX_PAGE_SIZE, Page};
    let mut conn = db.conn()?;
    let page = Page {
        limit: MAX_PAGE_SIZE,
        offset: 0,
    };
    Ok(
        lightrag_recovery_db::list_graphs(&mut conn, &GraphFilter::default(), page)?
            .into_iter()
            .map(|g| g.id)
            .collect(),
    )
}

/// Bounds of the health checks (`LIGHTRAG_RPO`, `LIGHTRAG_REPLICATION_MAX_LAG`).
pub fn health_options(c: &Config) -> lightrag_recovery::HealthOptions {
    lightrag_recovery::HealthOptions {
        roots: vec![c.working_dir.clone()],
        rpo: c.rpo,
        max_replication_lag: c.replication_max_lag,
    }
}

/// How replication targets are opened (object-store targets use the `LIGHTRAG_S3_*` settings).
pub fn target_open_options(c: &Config) -> lightrag_replication::TargetOpenOptions {
    lightrag_replication::TargetOpenOptions {
        object_store: object_store_options(c),
        ..lightrag_replication::TargetOpenOptions::default()
    }
}

/// How syncs run: targets keep forgotten snapshots for `LIGHTRAG_REPLICATION_DELETE_GRACE`.
pub fn sync_options(c: &Config) -> lightrag_replication::SyncOptions {
    lightrag_replication::SyncOptions {
        delete_grace: c.replication_delete_grace,
        ..lightrag_replication::SyncOptions::default()
    }
}

/// The receiver of peer replicas (`LIGHTRAG_REPLICA_DIR`); `None` without an API key, since
/// the receive routes must be authenticated.
pub fn receiver(c: &Config) -> Option<std::sync::Arc<lightrag_replication::Receiver>> {
    c.api_key.as_ref()?;
    if let Err(e) = std::fs::create_dir_all(&c.replica_dir) {
        tracing::warn!(dir = %c.replica_dir.display(), error = %e, "Cannot create LIGHTRAG_REPLICA_DIR; receiving replicas will fail");
    }
    Some(std::sync::Arc::new(
        lightrag_replication::Receiver::directory(&c.replica_dir)
            .with_max_object_bytes(crate::routes::RECEIVE_MAX_BYTES as u64),
    ))
}
