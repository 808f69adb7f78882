//! The composed lightrag-ops service.
//!
//! One [`Service`] value, built once from the configuration and shared as `Arc`, offers one
//! method per operation — back up, restore, verify, retention and prune, delete a snapshot,
//! replicate, recovery points, health, catalog rebuild, dashboard — and each method does the
//! whole operation (graph location and exclusions, locks, catalog rows, events, metrics,
//! replication after backup). The CLI, the HTTP API and the scheduler call these methods and
//! nothing below them, so they cannot drift apart.
//!
//! Background work of every kind is a [`Worker`] run by one runner ([`Workers`]) that shows
//! all of it and drains it on shutdown within a deadline.
//!
//! ```no_run
//! # fn demo() -> Result<(), lightrag_service::ServiceError> {
//! use lightrag_service::{Mode, Service, ServiceOptions};
//! let rt = tokio::runtime::Runtime::new().unwrap();
//! let _enter = rt.enter();
//! let config = lightrag_config::Config::from_vars([("LIGHTRAG_WORKING_DIR", "/srv/rag")]).unwrap();
//! let svc = Service::open(config, ServiceOptions {
//!     mode: Mode::Command { create_repository: true },
//!     metrics: None,
//! })?;
//! let graph = lightrag_service::GraphId::new("default")?;
//! let summary = svc.backup(&graph, lightrag_recovery_db::BackupTrigger::Manual, &[],
//!     &lightrag_backup::NoProgress)?;
//! println!("snapshot {}", summary.snapshot.id);
//! rt.block_on(svc.shutdown(std::time::Duration::from_secs(5)));
//! # Ok(()) }
//! ```

mod dashboard;
mod error;
mod jobs;
mod ops;
mod service;
pub mod settings;
mod tasks;
mod watch;
mod workers;

pub use dashboard::{
    BackupPoint, Dashboard, GraphBackups, GraphHistory, GraphPage, GraphStatus, HISTORY_DAYS,
    LagPoint, SnapshotRow, TargetStatus,
};
pub use error::{ErrorKind, Result, ServiceError, chain};
pub use jobs::{Job, JobState, JobView, Jobs, MAX_RUNNING_JOBS};
pub use lightrag_backup::GraphId;
pub use ops::{RestoreRequest, RetentionReport, TargetUpdate};
pub use service::{Mode, Readiness, Service, ServiceOptions};
pub use workers::{BoxFuture, Clock, WorkResult, Worker, WorkerStatus, Workers};
