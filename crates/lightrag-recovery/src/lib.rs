//! `lightrag-recovery`: graph discovery, recovery points, validation, restore/failover
//! orchestration, graph health and RPO/RTO reporting for LightRAG knowledge graphs.
//!
//! - [`discover_graphs`], [`resolve_graph`], [`looks_live_at`]: graphs under the working dirs,
//!   never client-supplied paths; [`resolve_graph_location`]: a graph's
//!   folder and exactly what in it belongs to other graphs (used by every backup and restore);
//! - [`RecoveryManager`]: recovery points ([`RecoveryManager::create_point`], list, get,
//!   delete, [`RecoveryManager::pinned_snapshots`] for retention), validation
//!   ([`RecoveryManager::validate_point`]), restore/failover
//!   ([`RecoveryManager::restore_point`], [`RecoveryManager::failover_point`]), catalog rebuild
//!   ([`RecoveryManager::rebuild_catalog`]) and [`RecoveryManager::objectives`] (RPO/RTO);
//! - [`HealthMonitor`]: HEALTHY / DEGRADED / OFFLINE with reasons, transitions stored once.
//!
//! The API is synchronous (the layers below — `lightrag-backup` and the diesel catalog of
//! `lightrag-recovery-db` — are synchronous and file/CPU heavy). An async server calls it
//! through `tokio::task::spawn_blocking`. Events go to an [`EventSink`] ([`DbEventSink`] by
//! default). The guarantees are described in `docs/recovery.md`.
//!
//! ```no_run
//! use std::{path::{Path, PathBuf}, sync::Arc, time::Duration};
//! use lightrag_backup::{LocalStorage, Repository};
//! use lightrag_recovery::{
//!     CreatePointRequest, HealthMonitor, HealthOptions, RecoveryManager, RecoveryOptions,
//!     RestorePointOptions, discover_graphs,
//! };
//! use lightrag_recovery_db::{Db, DbConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let found = discover_graphs(Path::new("./rag_storage"))?;
//! for s in &found.skipped {
//!     eprintln!("skipped {}: {}", s.path.display(), s.reason);
//! }
//! let db = Db::connect(&DbConfig::new("sqlite:///./lightrag_recovery.db"))?;
//! let repo = Repository::open(Arc::new(LocalStorage::new("/var/backups/lightrag")), None)?;
//! let roots = vec![PathBuf::from("./rag_storage")];
//! let m = RecoveryManager::new(db.clone(), RecoveryOptions { roots: roots.clone(), ..Default::default() });
//! let point = m.create_point(&repo, &CreatePointRequest {
//!     graph_ids: found.graphs.iter().map(|g| g.id.clone()).collect(),
//!     description: "before upgrade".into(),
//!     fresh_backup: true,
//!     ..Default::default()
//! })?;
//! let report = m.validate_point(&repo, &point.point.id)?;
//! assert!(report.ok, "{:?}", report.error_text());
//! // Failover: restore every graph in place from a replica. Safety snapshots of the current
//! // state go to the primary (or a local safety repository when it is gone), never the replica.
//! let replica = Repository::open(Arc::new(LocalStorage::new("/mnt/dr/lightrag")), None)?;
//! let done = m.failover_point(&replica, Some(&repo), None, &point.point.id,
//!     &RestorePointOptions { in_place: true, ..Default::default() })?;
//! println!("{}", done.next_step);
//!
//! let health = HealthMonitor::new(db, HealthOptions { roots, rpo: Duration::from_secs(3600), ..Default::default() });
//! println!("overall {}", health.check(Some(&repo)).overall);
//! # Ok(()) }
//! ```

mod catalog;
mod error;
mod events;
mod graphs;
mod health;
mod manager;
mod objectives;
mod parse;
mod previous;
mod restore;
mod scratch;
mod validate;

pub use crate::catalog::{RebuildReport, rebuild_catalog};
pub use crate::error::{RecoveryError, Result};
pub use crate::events::{DbEventSink, EventSink, MemoryEventSink};
pub use crate::graphs::{
    DiscoveredGraph, Discovery, GraphLayout, GraphLocation, SkippedEntry, discover_graphs,
    graph_id_for_folder, is_lightrag_file, lightrag_files, looks_live_at, resolve_graph,
    resolve_graph_location, resolve_under,
};
pub use crate::health::{
    Clock, ComponentHealth, HealthMonitor, HealthOptions, HealthReport, ManualClock, SharedCheck,
    SystemClock, worst,
};
pub use crate::manager::{CreatePointRequest, DeletedPoint, RecoveryManager, RecoveryOptions};
pub use crate::objectives::{GraphObjectives, ReplicaObjective};

pub use crate::restore::{
    GraphRestore, RestorePointOptions, RestorePointReport, RestoreSnapshotOptions,
    SafetyRepository, SnapshotRestoreReport,
};
pub use crate::validate::{GraphValidation, ValidationProblem, ValidationReport};
