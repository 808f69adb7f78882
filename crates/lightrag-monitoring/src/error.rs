//! The crate's error type.

use metrics_exporter_prometheus::BuildError;

/// Errors of lightrag-monitoring.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitoringError {
    /// The recovery database failed (see the source); event queries and collector refreshes
    /// need it.
    #[error("recovery database error: {source}")]
    Db {
        /// The database error.
        #[from]
        source: lightrag_recovery_db::RecoveryDbError,
    },
    /// The Prometheus recorder could not be configured.
    #[error("invalid Prometheus recorder configuration: {source}")]
    Recorder {
        /// Why.
        #[source]
        source: BuildError,
    },
    /// A global metrics recorder was already installed; install it exactly once at start-up.
    #[error(
        "a global metrics recorder is already installed; install the recorder once at start-up"
    )]
    RecorderInstalled,
    /// The event logger was shut down; events can no longer be queued.
    #[error("the event logger is shut down")]
    LoggerClosed,
}

/// Result alias of this crate.
pub type Result<T, E = MonitoringError> = std::result::Result<T, E>;
