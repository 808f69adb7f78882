//! Target health: reachability, authentication (exercised on every check), free space and
//! the last sync results → HEALTHY / DEGRADED / OFFLINE.

use lightrag_recovery_db::{
    DbConn, HealthStatus, ReplicationState, ReplicationTarget, Timestamp,
    record_replication_target_health,
};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::store::ReplicaStore;

/// Thresholds of [`check_target_health`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthOptions {
    /// Below this many free bytes (when knowable) the target is DEGRADED.
    pub min_free_bytes: u64,
    /// Lag above this (ms) makes the target DEGRADED (`None`: not checked).
    pub max_lag_ms: Option<i64>,
}

impl Default for HealthOptions {
    fn default() -> Self {
        HealthOptions {
            min_free_bytes: 1024 * 1024 * 1024,
            max_lag_ms: None,
        }
    }
}

/// Result of one health check of a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TargetHealth {
    /// Overall status.
    pub status: HealthStatus,
    /// The target answered (directory writable, peer reached).
    pub reachable: bool,
    /// The credentials were accepted (`Some(false)`: rejected); `None` when the target has
    /// none (directories).
    pub authenticated: Option<bool>,
    /// Free bytes where knowable (`statvfs` of the directory, or as reported by the peer).
    pub free_bytes: Option<u64>,
    /// Repository id held by the target (`None` while empty).
    pub repository_id: Option<String>,
    /// Why it is not HEALTHY.
    pub message: Option<String>,
    /// When checked (unix ms).
    pub checked_at_ms: i64,
}

/// Check one target: `store.status()` exercises reachability and the API key; `states` are
/// the target's `replication_state` rows (last sync results and lag).
pub fn check_target_health(
    store: &dyn ReplicaStore,
    has_credentials: bool,
    states: &[ReplicationState],
    opts: &HealthOptions,
) -> TargetHealth {
    let checked_at_ms = Timestamp::now().unix_millis();
    match store.status() {
        Err(e) => {
            let unauth = e.is_unauthenticated();
            TargetHealth {
                status: HealthStatus::Offline,
                reachable: unauth,
                authenticated: if unauth { Some(false) } else { None },
                free_bytes: None,
                repository_id: None,
                message: Some(if unauth {
                    format!("unauthenticated: {}", lightrag_config::ErrorChain(&e))
                } else {
                    format!("unreachable: {}", lightrag_config::ErrorChain(&e))
                }),
                checked_at_ms,
            }
        }
        Ok(st) => {
            let mut problems = Vec::new();
            if let Some(free) = st.free_bytes
                && free < opts.min_free_bytes
            {
                problems.push(format!("only {free} bytes free"));
            }
            for s in states {
                if s.consecutive_failures > 0 {
                    problems.push(format!(
                        "graph {}: {} failed syncs ({})",
                        s.graph_id,
                        s.consecutive_failures,
                        s.last_error.as_deref().unwrap_or("unknown error")
                    ));
                }
                if let (Some(max), Some(lag)) = (opts.max_lag_ms, s.lag_ms)
                    && lag > max
                {
                    problems.push(format!("graph {}: lag {lag} ms above {max} ms", s.graph_id));
                }
            }
            TargetHealth {
                status: if problems.is_empty() {
                    HealthStatus::Healthy
                } else {
                    HealthStatus::Degraded
                },
                reachable: true,
                authenticated: has_credentials.then_some(true),
                free_bytes: st.free_bytes,
                repository_id: st.repository_id,
                message: (!problems.is_empty()).then(|| problems.join("; ")),
                checked_at_ms,
            }
        }
    }
}

/// Store a health check result on the target row.
pub fn record_target_health(
    conn: &mut DbConn,
    target_id: &str,
    health: &TargetHealth,
) -> Result<ReplicationTarget> {
    Ok(record_replication_target_health(
        conn,
        target_id,
        Timestamp::from_unix_millis(health.checked_at_ms),
        health.status,
        health.message.as_deref(),
    )?)
}
