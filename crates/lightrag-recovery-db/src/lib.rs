//! Persistent catalog of lightrag-ops on SQLite or PostgreSQL.
//!
//! One connection type ([`DbConn`], a diesel `MultiConnection`), an r2d2 pool ([`Db`]) that
//! sets SQLite pragmas on every connection, embedded migrations for both backends, and plain
//! repository functions taking `&mut DbConn`. Async code runs them through [`Db::run`], which
//! uses tokio's blocking pool; handlers never touch r2d2.
//!
//! Times are stored as UTC unix milliseconds ([`Timestamp`]) on both backends.
//!
//! ```no_run
//! use lightrag_recovery_db::{Db, DbConfig, GraphSource, NewGraph, Page, create_graph, list_graphs, run_migrations};
//!
//! # async fn demo() -> Result<(), lightrag_recovery_db::RecoveryDbError> {
//! let db = Db::connect(&DbConfig::new("sqlite:///./lightrag_recovery.db"))?;
//! db.run(|conn| run_migrations(conn)).await?;
//! db.run(|conn| {
//!     create_graph(conn, &NewGraph { id: "default".into(), path: "/srv/rag".into(), source: GraphSource::Discovered })
//! })
//! .await?;
//! let graphs = db.run(|conn| list_graphs(conn, &Default::default(), Page::default())).await?;
//! assert_eq!(graphs.len(), 1);
//! # Ok(()) }
//! ```

mod analytics;
mod backups;
mod config;
mod conn;
mod error;
mod events;
mod graphs;
mod health;
mod migrations;
mod recovery_points;
mod replication;
mod schema;
mod text;
mod types;

pub use crate::analytics::{
    DaySeverityCount, EventTypeStats, EventWindow, count_recovery_points, duration_percentiles,
    event_window_stats, events_per_day, read_snapshot,
};
pub use crate::backups::{
    BackupFilter, BackupRecord, BackupUpdate, backup_graph_ids, count_backups, create_backup,
    delete_backup, find_backup, get_backup, list_backups, pinned_snapshot_ids,
    record_backup_verification, recovery_points_pinning, update_backup,
};
pub use crate::config::{BackendKind, DEFAULT_DB_URL, DbConfig};
pub use crate::conn::{Db, DbConn, PoolState, PooledConn};
pub use crate::error::{BoxError, RecoveryDbError, Result};
pub use crate::events::{
    Event, EventCount, EventFilter, NewEvent, count_events, count_events_by_type,
    delete_events_before, get_event, insert_event, insert_events, list_events,
};
pub use crate::graphs::{
    Graph, GraphFilter, GraphUpdate, NewGraph, create_graph, delete_graph, find_graph, get_graph,
    list_graphs, update_graph, upsert_graph,
};
pub use crate::health::{
    HealthCheckEvent, HealthCheckFilter, NewHealthCheckEvent, delete_health_checks_before,
    get_health_check, insert_health_check, list_health_checks,
};
pub use crate::migrations::{
    applied_migrations, pending_migrations, revert_all_migrations, run_migrations,
};
pub use crate::recovery_points::{
    NewRecoveryPoint, PinnedSnapshot, RecoveryPoint, RecoveryPointDetails, RecoveryPointFilter,
    create_recovery_point, delete_recovery_point, get_recovery_point, list_recovery_points,
    record_recovery_point_validation, update_recovery_point_description,
};
pub use crate::replication::{
    NewReplicationTarget, ReplicationState, ReplicationStateFilter, ReplicationTarget,
    ReplicationTargetSecret, ReplicationTargetUpdate, create_replication_target,
    delete_replication_state, delete_replication_target, find_replication_state,
    get_replication_state, get_replication_target, get_replication_target_by_name,
    get_replication_target_secret, list_replication_states, list_replication_targets,
    record_replication_target_health, record_sync_failure, record_sync_success,
    set_replication_target_secret, update_replication_target, upsert_replication_state,
};
pub use crate::types::{
    BackupStatus, BackupTrigger, ComponentType, EventKind, GraphSource, HealthStatus,
    MAX_PAGE_SIZE, Order, Page, Severity, TargetKind, Timestamp, UnknownVariant,
};
