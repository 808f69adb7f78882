//! The metric catalogue: every series lightrag-ops exports, in one typed place.

use metrics::Unit;
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use crate::error::MonitoringError;

/// Prometheus metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// Monotonic counter (`_total`).
    Counter,
    /// Value that goes up and down.
    Gauge,
    /// Bucketed histogram.
    Histogram,
}

impl MetricType {
    /// The word used in `# TYPE` lines.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// Buckets (seconds) of the HTTP request-duration histogram.
pub const HTTP_DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets (seconds) of the backup, sync and restore duration histograms (1 s … 1 h).
pub const OPERATION_DURATION_BUCKETS: &[f64] = &[
    0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

macro_rules! catalogue {
    ($(
        $(#[$doc:meta])*
        $variant:ident = ($name:literal, $ty:ident, $unit:expr, [$($label:literal),*], $help:literal);
    )+) => {
        /// Every metric in the catalogue. Names, help, units and labels live only here.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Metric {
            $( $(#[$doc])* $variant, )+
        }

        impl Metric {
            /// Every metric recorded through the `metrics` facade.
            pub const ALL: &'static [Metric] = &[$(Metric::$variant),+];

            /// Exposition name.
            pub const fn name(self) -> &'static str {
                match self { $( Self::$variant => $name, )+ }
            }

            /// Prometheus type.
            pub const fn metric_type(self) -> MetricType {
                match self { $( Self::$variant => MetricType::$ty, )+ }
            }

            /// Base unit.
            pub const fn unit(self) -> Unit {
                match self { $( Self::$variant => $unit, )+ }
            }

            /// Label names, in order.
            pub const fn labels(self) -> &'static [&'static str] {
                match self { $( Self::$variant => &[$($label),*], )+ }
            }

            /// `# HELP` text.
            pub const fn help(self) -> &'static str {
                match self { $( Self::$variant => $help, )+ }
            }
        }
    };
}

catalogue! {
    /// Backups finished, by outcome and trigger.
    BackupSnapshots = ("lightrag_backup_snapshots_total", Counter, Unit::Count,
        ["graph", "status", "trigger"], "Backups finished, by graph, status (completed|failed) and trigger.");
    /// Logical size of the latest completed snapshot.
    BackupSize = ("lightrag_backup_size_bytes", Gauge, Unit::Bytes, ["graph"],
        "Logical size (bytes of the graph's files) of the latest completed snapshot of the graph.");
    /// Bytes the repository holds.
    BackupStored = ("lightrag_backup_stored_bytes", Gauge, Unit::Bytes, [],
        "Bytes the backup repository stores (after deduplication and compression).");
    /// Logical bytes read by completed backups.
    BackupLogicalBytes = ("lightrag_backup_logical_bytes_total", Counter, Unit::Bytes, ["graph"],
        "Logical bytes covered by completed backups (dedup ratio = written / logical).");
    /// New bytes written to the repository by completed backups.
    BackupWrittenBytes = ("lightrag_backup_written_bytes_total", Counter, Unit::Bytes, ["graph"],
        "Bytes newly written to the repository by completed backups.");
    /// Storage requests made by backups (operators pay per request on object stores).
    BackupStorageRequests = ("lightrag_backup_storage_requests_total", Counter, Unit::Count, ["graph"],
        "HTTP requests to object storage made by backups, retries included (0 for a local directory).");
    /// Backup durations.
    BackupDuration = ("lightrag_backup_duration_seconds", Histogram, Unit::Seconds, ["graph"],
        "Duration of backups (completed and failed).");
    /// Time of the last completed backup.
    BackupLastSuccess = ("lightrag_backup_last_success_timestamp_seconds", Gauge, Unit::Seconds,
        ["graph"], "Unix time of the last completed backup of the graph (0 = never).");
    /// Oldest change of a graph not yet captured in a snapshot (change-triggered backups).
    UncapturedChangeSince = ("lightrag_backup_uncaptured_change_timestamp_seconds", Gauge,
        Unit::Seconds, ["graph"],
        "Unix time of the oldest change to the graph's files not yet in a snapshot (0 = none; LIGHTRAG_BACKUP_ON_CHANGE).");
    /// Replication lag.
    ReplicationLag = ("lightrag_replication_lag_seconds", Gauge, Unit::Seconds, ["graph", "target"],
        "Age of the oldest snapshot of the graph not yet on the target (0 = in sync).");
    /// Replication syncs.
    ReplicationSyncs = ("lightrag_replication_syncs_total", Counter, Unit::Count,
        ["graph", "target", "status"], "Replication syncs finished, by status (completed|failed).");
    /// Failed syncs.
    ReplicationErrors = ("lightrag_replication_errors_total", Counter, Unit::Count, ["graph", "target"],
        "Failed replication syncs.");
    /// Bytes sent to targets.
    ReplicationBytes = ("lightrag_replication_bytes_total", Counter, Unit::Bytes, ["target"],
        "Bytes copied to the replication target.");
    /// Sync durations.
    ReplicationDuration = ("lightrag_replication_sync_duration_seconds", Histogram, Unit::Seconds,
        ["target"], "Duration of replication syncs.");
    /// Target reachability.
    ReplicationTargetUp = ("lightrag_replication_target_up", Gauge, Unit::Count, ["target"],
        "1 when the last health check reached the replication target, else 0.");
    /// Recovery points created.
    RecoveryPointsCreated = ("lightrag_recovery_points_total", Counter, Unit::Count, [],
        "Recovery points created since the server started.");
    /// Recovery points in the catalog.
    RecoveryPoints = ("lightrag_recovery_points", Gauge, Unit::Count, [],
        "Recovery points currently in the recovery catalog.");
    /// Restores.
    Restores = ("lightrag_restores_total", Counter, Unit::Count, ["result"],
        "Restores and failovers finished, by result (success|failure).");
    /// Restore durations.
    RestoreDuration = ("lightrag_restore_duration_seconds", Histogram, Unit::Seconds, [],
        "Duration of restores and failovers.");
    /// Validations.
    RecoveryValidations = ("lightrag_recovery_validations_total", Counter, Unit::Count, ["result"],
        "Recovery point and snapshot validations, by result (success|failure).");
    /// Health check runs.
    HealthChecks = ("lightrag_health_checks_total", Counter, Unit::Count, [],
        "Health check runs (every graph and component checked once); callers that arrive while one runs share it.");
    /// Failed health checks.
    HealthCheckFailures = ("lightrag_health_check_failures_total", Counter, Unit::Count,
        ["component"], "Health checks that found a component DEGRADED or OFFLINE, by component type (graph|database|repository|target).");
    /// Graph health.
    GraphHealth = ("lightrag_graph_health_status", Gauge, Unit::Count, ["graph"],
        "Health of the graph: 0 = HEALTHY, 1 = DEGRADED, 2 = OFFLINE.");
    /// Unprotected folders.
    UnprotectedFolders = ("lightrag_unprotected_folders", Gauge, Unit::Count, [],
        "Folders under the working directory that hold LightRAG files but are not backed up (no graph id could be given to them: a symlink, an id already taken, a non-UTF-8 name, an unreadable folder, a folder left by an interrupted restore). The health dashboard lists them with the reason.");
    /// HTTP latency.
    HttpRequestDuration = ("lightrag_http_request_duration_seconds", Histogram, Unit::Seconds,
        ["method", "route", "status"], "Duration of HTTP requests by method, route pattern and status code.");
    /// Failed API authentications.
    AuthFailures = ("lightrag_auth_failures_total", Counter, Unit::Count, ["reason"],
        "Failed API authentications, by reason (missing|invalid|rate_limited).");
    /// Open DB connections.
    DbPoolConnections = ("lightrag_db_pool_connections", Gauge, Unit::Count, [],
        "Open connections of the recovery database pool.");
    /// Idle DB connections.
    DbPoolIdleConnections = ("lightrag_db_pool_idle_connections", Gauge, Unit::Count, [],
        "Idle connections of the recovery database pool.");
    /// DB pool capacity.
    DbPoolMaxConnections = ("lightrag_db_pool_max_connections", Gauge, Unit::Count, [],
        "Capacity of the recovery database pool.");
    /// Events stored.
    EventLogWritten = ("lightrag_event_log_written_total", Counter, Unit::Count, [],
        "Events written to the event log.");
    /// Events lost.
    EventLogDropped = ("lightrag_event_log_dropped_total", Counter, Unit::Count, ["reason"],
        "Events not written, by reason (queue_full|closed|invalid|write_failed|shutdown_deadline).");
    /// Queue depth.
    EventLogQueueDepth = ("lightrag_event_log_queue_depth", Gauge, Unit::Count, [],
        "Events waiting in the event-log queue.");
    /// Build information.
    BuildInfo = ("lightrag_build_info", Gauge, Unit::Count, ["version", "revision"],
        "Constant 1, labelled with the version and source revision of the running build.");
}

impl Metric {
    /// Buckets of a histogram (`None` for other types).
    pub fn buckets(self) -> Option<&'static [f64]> {
        match (self, self.metric_type()) {
            (Self::HttpRequestDuration, _) => Some(HTTP_DURATION_BUCKETS),
            (_, MetricType::Histogram) => Some(OPERATION_DURATION_BUCKETS),
            _ => None,
        }
    }
}

/// Process metrics, rendered by hand at scrape time (see [`crate::process`]): name, type, help.
pub const PROCESS_METRICS: &[(&str, MetricType, &str)] = &[
    (
        "process_cpu_seconds_total",
        MetricType::Counter,
        "Total user and system CPU time spent in seconds.",
    ),
    (
        "process_resident_memory_bytes",
        MetricType::Gauge,
        "Resident memory size in bytes.",
    ),
    (
        "process_virtual_memory_bytes",
        MetricType::Gauge,
        "Virtual memory size in bytes.",
    ),
    (
        "process_open_fds",
        MetricType::Gauge,
        "Number of open file descriptors.",
    ),
    (
        "process_max_fds",
        MetricType::Gauge,
        "Maximum number of open file descriptors.",
    ),
    (
        "process_start_time_seconds",
        MetricType::Gauge,
        "Start time of the process since unix epoch in seconds.",
    ),
];

/// Registers HELP text and units of every catalogue metric with the current recorder.
/// Call once after installing the recorder (and inside a test's local recorder).
pub fn describe_all() {
    for m in Metric::ALL {
        let (name, unit, help) = (m.name(), m.unit(), m.help());
        match m.metric_type() {
            MetricType::Counter => metrics::describe_counter!(name, unit, help),
            MetricType::Gauge => metrics::describe_gauge!(name, unit, help),
            MetricType::Histogram => metrics::describe_histogram!(name, unit, help),
        }
    }
}

/// A Prometheus builder with the catalogue's histogram buckets (no HTTP listener).
pub fn prometheus_builder() -> Result<PrometheusBuilder, MonitoringError> {
    let mut builder = PrometheusBuilder::new();
    for m in Metric::ALL {
        if let Some(buckets) = m.buckets() {
            builder = builder
                .set_buckets_for_metric(Matcher::Full(m.name().to_owned()), buckets)
                .map_err(|source| MonitoringError::Recorder { source })?;
        }
    }
    Ok(builder)
}

/// The recorder the binary installs once (histograms with the catalogue's buckets).
pub fn build_recorder() -> Result<PrometheusRecorder, MonitoringError> {
    Ok(prometheus_builder()?.build_recorder())
}

/// Builds the recorder, installs it as the process's global recorder and describes every
/// metric. Returns the handle that renders the exposition. Call once, at start-up, only when
/// `LIGHTRAG_METRICS_ENABLED` is true (without a recorder every recording is a no-op).
pub fn install_global_recorder() -> Result<PrometheusHandle, MonitoringError> {
    let recorder = build_recorder()?;
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|_| MonitoringError::RecorderInstalled)?;
    describe_all();
    Ok(handle)
}
