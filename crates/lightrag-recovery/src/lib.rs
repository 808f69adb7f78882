//! `lightrag-recovery`: graph discovery, recovery points, validation, restore/failover
//! orchestration and graph health for LightRAG knowledge graphs.
//!
//! The API is synchronous (the layers below — `lightrag-backup` and the diesel catalog of
//! `lightrag-recovery-db` — are synchronous and file/CPU heavy). An async server calls it through
//! `tokio::task::spawn_blocking` (or `Db::run` for catalog-only work).
//!
//! ```no_run
//! use std::{path::Path, time::Duration};
//! use lightrag_recovery::{discover_graphs, looks_live, resolve_graph};
//!
//! # fn main() -> Result<(), lightrag_recovery::RecoveryError> {
//! let found = discover_graphs(Path::new("./rag_storage"))?;
//! for g in &found.graphs {
//!     println!("{} -> {}", g.id, g.path.display());
//! }
//! for s in &found.skipped {
//!     eprintln!("skipped {}: {}", s.path.display(), s.reason);
//! }
//! let g = resolve_graph(&[Path::new("./rag_storage")], "default")?;
//! if looks_live(&g.path, Duration::from_secs(300))? {
//!     eprintln!("graph {} is being written; stop LightRAG before restoring in place", g.id);
//! }
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
mod restore;
mod validate;

pub use crate::catalog::{RebuildReport, rebuild_catalog, record_from_snapshot};
pub use crate::error::{RecoveryError, Result};
pub use crate::events::{DbEventSink, EventSink, MemoryEventSink};
pub use crate::graphs::{
    DEFAULT_GRAPH_ID, DiscoveredGraph, Discovery, GRAPHS_CONFIG_FILE, GraphLayout, MULTI_GRAPH_DIR,
    SkippedEntry, check_graph_id, discover_graphs, is_lightrag_file, is_valid_graph_id,
    lightrag_files, looks_live, looks_live_at, new_graph_dir, resolve_graph, resolve_under,
};
pub use crate::health::{
    Clock, ComponentHealth, HealthMonitor, HealthOptions, HealthReport, ManualClock, SystemClock,
    worst,
};
pub use crate::manager::{CreatePointRequest, DeletedPoint, RecoveryManager, RecoveryOptions};
pub use crate::objectives::{GraphObjectives, ReplicaObjective};
pub use crate::parse::{FileFacts, FileKind, parse_bytes, parse_lightrag_file};
pub use crate::restore::{GraphRestore, RestorePointOptions, RestorePointReport};
pub use crate::validate::{GraphValidation, ValidationProblem, ValidationReport};
