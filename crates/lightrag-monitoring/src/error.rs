//! The crate's error type.

use metrics_exporter_prometheus::BuildError;

/// Errors of lightrag-monitoring.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitoringError {
    /// The recovery database failed (see the source); event queries and collector refreshes
    /// need it.
    #[error(transparent)]
    Db {
        /// The database error.
        #[from]
        source: lightrag_recovery_db::RecoveryDbError,
    },
    /// The Prometheus recorder could not be configured.
    #[error("invalid Prometheus recorder configuration")]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_errors_name_their_cause_once() {
        let err = MonitoringError::from(lightrag_recovery_db::RecoveryDbError::Unavailable {
            target: "sqlite ./x.db".into(),
            source: "database is locked (db)".into(),
        });
        let chained = lightrag_config::error_chain(&err);
        let full = format!("{:#}", anyhow::Error::from(err));
        assert_eq!(full, chained);
        assert_eq!(full.matches("database is locked (db)").count(), 1, "{full}");
    }
}
