//! Metrics, event log and analytics of lightrag-ops.
//!
//! - **Catalogue** ([`Metric`]): every exported series — name, help, unit, type, labels — in one
//!   place; [`describe_all`] registers HELP/units, [`build_recorder`] /
//!   [`install_global_recorder`] give the Prometheus recorder with the right histogram buckets.
//! - **Recording** ([`record`]): small typed functions called at the point of an operation
//!   (`record::record_backup`, `record::record_sync`, …); no metric name strings elsewhere.
//! - **[`MetricsCollector`]**: state gauges refreshed from the recovery catalog with bounded,
//!   indexed queries, and the exposition (`export_to_prometheus`), process metrics included.
//! - **[`EventLogger`]**: buffered, batched writes of the event log; flush on shutdown;
//!   retention purge.
//! - **[`analytics`]**: counts, success rates, duration percentiles, bytes and latest critical
//!   events over a window, aggregated in the database.
//!
//! ```no_run
//! use std::time::Duration;
//! use lightrag_monitoring::{EventLogger, EventLoggerConfig, MetricsCollector, install_global_recorder};
//! # async fn demo(db: lightrag_recovery_db::Db) -> Result<(), lightrag_monitoring::MonitoringError> {
//! let handle = install_global_recorder()?; // once, when LIGHTRAG_METRICS_ENABLED
//! lightrag_monitoring::record::record_build_info(env!("CARGO_PKG_VERSION"), "unknown");
//! let collector = MetricsCollector::new(handle, db.clone(), Duration::from_secs(5));
//! collector.register_graph("default");
//! let events = EventLogger::start(db, EventLoggerConfig::default());
//! let body = collector.export_to_prometheus().await; // GET /metrics
//! # let _ = body;
//! events.shutdown().await; // graceful stop: everything queued is stored
//! # Ok(()) }
//! ```

mod analytics;
mod catalogue;
mod collector;
mod error;
mod events;
mod process;
pub mod record;

pub use crate::analytics::{
    AnalyticsReport, DurationPercentiles, OPERATION_KINDS, OperationStats, PERCENTILES, analytics,
};
pub use crate::catalogue::{
    HTTP_DURATION_BUCKETS, Metric, MetricType, OPERATION_DURATION_BUCKETS, PROCESS_METRICS,
    build_recorder, describe_all, install_global_recorder, prometheus_builder,
};
pub use crate::collector::{MetricsCollector, PROMETHEUS_CONTENT_TYPE};
pub use crate::error::{MonitoringError, Result};
pub use crate::events::{
    EventDetails, EventLogger, EventLoggerConfig, EventType, ShutdownReport, TimeRange,
};
pub use crate::process::ProcessStats;
pub use lightrag_recovery_db::EventWindow;
