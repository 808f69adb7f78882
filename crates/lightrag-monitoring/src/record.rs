//! Typed recording functions: the only place that turns operations into samples.
//!
//! Every function records through the `metrics` facade, so it is a no-op when no recorder is
//! installed (`LIGHTRAG_METRICS_ENABLED=false`). Label values are bounded by construction: graph
//! ids, target names, enums and HTTP route patterns — never snapshot ids, paths or URLs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lightrag_recovery_db::{BackupStatus, BackupTrigger, ComponentType, HealthStatus, PoolState};
use metrics::{counter, gauge, histogram};

use crate::catalogue::Metric;

fn name(m: Metric) -> &'static str {
    m.name()
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Outcome label of restores and validations.
fn result_label(ok: bool) -> &'static str {
    if ok { "success" } else { "failure" }
}

/// Encoding of `lightrag_graph_health_status`: 0 = HEALTHY, 1 = DEGRADED, 2 = OFFLINE.
pub fn health_code(status: HealthStatus) -> f64 {
    match status {
        HealthStatus::Degraded => 1.0,
        HealthStatus::Offline => 2.0,
        _ => 0.0,
    }
}

/// Creates the graph's labelled series at 0, so `increase()` and absence alerts work from
/// start-up. Idempotent (adding 0 never lowers a counter).
pub fn register_graph(graph: &str) {
    let g = graph.to_owned();
    for status in [BackupStatus::Completed, BackupStatus::Failed] {
        for trigger in BackupTrigger::ALL {
            counter!(name(Metric::BackupSnapshots), "graph" => g.clone(), "status" => status.as_str(), "trigger" => trigger.as_str())
                .increment(0);
        }
    }
    counter!(name(Metric::BackupLogicalBytes), "graph" => g.clone()).increment(0);
    counter!(name(Metric::BackupWrittenBytes), "graph" => g.clone()).increment(0);
    counter!(name(Metric::BackupStorageRequests), "graph" => g.clone()).increment(0);
    // Registering the gauges without a value keeps an existing value (e.g. set by the collector).
    let _ = gauge!(name(Metric::BackupSize), "graph" => g.clone());
    let _ = gauge!(name(Metric::BackupLastSuccess), "graph" => g.clone());
    let _ = gauge!(name(Metric::UncapturedChangeSince), "graph" => g);
}

/// Creates the (graph, target) series at 0.
pub fn register_target(graph: &str, target: &str) {
    let (g, t) = (graph.to_owned(), target.to_owned());
    for status in [BackupStatus::Completed, BackupStatus::Failed] {
        counter!(name(Metric::ReplicationSyncs), "graph" => g.clone(), "target" => t.clone(), "status" => status.as_str())
            .increment(0);
    }
    counter!(name(Metric::ReplicationErrors), "graph" => g.clone(), "target" => t.clone())
        .increment(0);
    counter!(name(Metric::ReplicationBytes), "target" => t.clone()).increment(0);
    let _ = gauge!(name(Metric::ReplicationLag), "graph" => g, "target" => t);
}

/// Creates the unlabelled and fixed-label series at 0 (call once at start-up).
pub fn register_globals() {
    counter!(name(Metric::RecoveryPointsCreated)).increment(0);
    for ok in [true, false] {
        counter!(name(Metric::Restores), "result" => result_label(ok)).increment(0);
        counter!(name(Metric::RecoveryValidations), "result" => result_label(ok)).increment(0);
    }
    counter!(name(Metric::HealthChecks)).increment(0);
    for c in ComponentType::ALL {
        counter!(name(Metric::HealthCheckFailures), "component" => c.as_str()).increment(0);
    }
    counter!(name(Metric::EventLogWritten)).increment(0);
    register_auth_failures();
    event_log_queue_depth(0);
    for reason in [
        "queue_full",
        "closed",
        "invalid",
        "write_failed",
        "shutdown_deadline",
    ] {
        counter!(name(Metric::EventLogDropped), "reason" => reason).increment(0);
    }
}

/// What a finished backup did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupOutcome {
    /// Completed or failed.
    pub status: BackupStatus,
    /// Why it ran.
    pub trigger: BackupTrigger,
    /// How long it took.
    pub duration: Duration,
    /// Bytes of the graph's files (completed backups).
    pub logical_bytes: u64,
    /// Bytes newly written to the repository (completed backups).
    pub written_bytes: u64,
    /// When it finished.
    pub finished_at: SystemTime,
}

/// Records a finished backup: count by status/trigger, duration; for a completed one also the
/// snapshot size, the last-success time and the logical/written byte counters.
pub fn record_backup(graph: &str, outcome: &BackupOutcome) {
    let g = graph.to_owned();
    counter!(name(Metric::BackupSnapshots), "graph" => g.clone(), "status" => outcome.status.as_str(), "trigger" => outcome.trigger.as_str())
        .increment(1);
    histogram!(name(Metric::BackupDuration), "graph" => g.clone())
        .record(outcome.duration.as_secs_f64());
    if outcome.status == BackupStatus::Completed {
        #[allow(clippy::cast_precision_loss)]
        gauge!(name(Metric::BackupSize), "graph" => g.clone()).set(outcome.logical_bytes as f64);
        gauge!(name(Metric::BackupLastSuccess), "graph" => g.clone())
            .set(unix_seconds(outcome.finished_at));
        counter!(name(Metric::BackupLogicalBytes), "graph" => g.clone())
            .increment(outcome.logical_bytes);
        counter!(name(Metric::BackupWrittenBytes), "graph" => g).increment(outcome.written_bytes);
    }
}

/// Sets the latest completed snapshot's size and time (from the catalog).
pub fn set_latest_backup(graph: &str, logical_bytes: u64, finished_at: SystemTime) {
    #[allow(clippy::cast_precision_loss)]
    gauge!(name(Metric::BackupSize), "graph" => graph.to_owned()).set(logical_bytes as f64);
    gauge!(name(Metric::BackupLastSuccess), "graph" => graph.to_owned())
        .set(unix_seconds(finished_at));
}

/// The graph's files changed at `since` and no snapshot holds that change yet (the oldest
/// such change is kept).
pub fn record_uncaptured_change(graph: &str, since: SystemTime) {
    gauge!(name(Metric::UncapturedChangeSince), "graph" => graph.to_owned())
        .set(unix_seconds(since));
}

/// Every change of the graph is in a snapshot.
pub fn record_change_captured(graph: &str) {
    gauge!(name(Metric::UncapturedChangeSince), "graph" => graph.to_owned()).set(0.0);
}

/// Adds the storage requests one backup made.
pub fn record_backup_requests(graph: &str, requests: u64) {
    counter!(name(Metric::BackupStorageRequests), "graph" => graph.to_owned()).increment(requests);
}

/// Sets the bytes the repository stores.
pub fn set_repository_stored_bytes(bytes: u64) {
    #[allow(clippy::cast_precision_loss)]
    gauge!(name(Metric::BackupStored)).set(bytes as f64);
}

/// Records a finished replication sync of one graph to one target. `lag` is the lag after the
/// sync when known.
pub fn record_sync(
    graph: &str,
    target: &str,
    ok: bool,
    duration: Duration,
    bytes: u64,
    lag: Option<Duration>,
) {
    let (g, t) = (graph.to_owned(), target.to_owned());
    let status = if ok { "completed" } else { "failed" };
    counter!(name(Metric::ReplicationSyncs), "graph" => g.clone(), "target" => t.clone(), "status" => status)
        .increment(1);
    if !ok {
        counter!(name(Metric::ReplicationErrors), "graph" => g.clone(), "target" => t.clone())
            .increment(1);
    }
    counter!(name(Metric::ReplicationBytes), "target" => t.clone()).increment(bytes);
    histogram!(name(Metric::ReplicationDuration), "target" => t.clone())
        .record(duration.as_secs_f64());
    if let Some(lag) = lag {
        set_replication_lag(graph, target, lag);
    }
}

/// Sets the lag of (graph, target).
pub fn set_replication_lag(graph: &str, target: &str, lag: Duration) {
    gauge!(name(Metric::ReplicationLag), "graph" => graph.to_owned(), "target" => target.to_owned())
        .set(lag.as_secs_f64());
}

/// Records a target health check (reachable or not); an unreachable target counts as a
/// failed health check of component `target`.
pub fn record_target_health(target: &str, reachable: bool) {
    set_target_up(target, reachable);
    if !reachable {
        counter!(name(Metric::HealthCheckFailures), "component" => ComponentType::Target.as_str())
            .increment(1);
    }
}

/// Sets `lightrag_replication_target_up{target}` (from the catalog's last status).
pub fn set_target_up(target: &str, up: bool) {
    gauge!(name(Metric::ReplicationTargetUp), "target" => target.to_owned()).set(if up {
        1.0
    } else {
        0.0
    });
}

/// Records the creation of a recovery point.
pub fn record_recovery_point_created() {
    counter!(name(Metric::RecoveryPointsCreated)).increment(1);
}

/// Sets the number of recovery points in the catalog.
pub fn set_recovery_points(n: u64) {
    #[allow(clippy::cast_precision_loss)]
    gauge!(name(Metric::RecoveryPoints)).set(n as f64);
}

/// Records a finished restore or failover.
pub fn record_restore(ok: bool, duration: Duration) {
    counter!(name(Metric::Restores), "result" => result_label(ok)).increment(1);
    histogram!(name(Metric::RestoreDuration)).record(duration.as_secs_f64());
}

/// Records a finished validation (recovery point or snapshot verification).
pub fn record_validation(ok: bool) {
    counter!(name(Metric::RecoveryValidations), "result" => result_label(ok)).increment(1);
}

/// Records one health check run (all graphs and components).
pub fn record_health_check_run() {
    counter!(name(Metric::HealthChecks)).increment(1);
}

/// Records a health check of a component. A non-HEALTHY result counts as a failure; for a
/// graph, `lightrag_graph_health_status{graph=id}` is set.
pub fn record_health_check(component: ComponentType, id: &str, status: HealthStatus) {
    if status != HealthStatus::Healthy {
        counter!(name(Metric::HealthCheckFailures), "component" => component.as_str()).increment(1);
    }
    if component == ComponentType::Graph {
        set_graph_health(id, status);
    }
}

/// Sets the number of unprotected folders (LightRAG files no graph id could be given to).
pub fn record_unprotected_folders(n: usize) {
    gauge!(name(Metric::UnprotectedFolders)).set(n as f64);
}

/// Sets the graph's health gauge (0 HEALTHY, 1 DEGRADED, 2 OFFLINE).
pub fn set_graph_health(graph: &str, status: HealthStatus) {
    gauge!(name(Metric::GraphHealth), "graph" => graph.to_owned()).set(health_code(status));
}

/// Records one HTTP request. `route` must be the route pattern (e.g. `/api/v1/graphs/{id}`),
/// never the raw path.
pub fn record_http_request(method: &str, route: &str, status: u16, duration: Duration) {
    histogram!(name(Metric::HttpRequestDuration), "method" => method.to_owned(), "route" => route.to_owned(), "status" => status.to_string())
        .record(duration.as_secs_f64());
}

/// Reasons of `lightrag_auth_failures_total`: no key presented, a wrong key, or refused
/// unseen because the address failed too often.
pub const AUTH_FAILURE_REASONS: &[&str] = &["missing", "invalid", "rate_limited"];

/// Creates the `lightrag_auth_failures_total` series at 0 (so alerts on `increase()` work
/// from start-up).
pub fn register_auth_failures() {
    for reason in AUTH_FAILURE_REASONS {
        counter!(name(Metric::AuthFailures), "reason" => *reason).increment(0);
    }
}

/// Records one failed API authentication; `reason` is one of [`AUTH_FAILURE_REASONS`].
pub fn record_auth_failure(reason: &'static str) {
    counter!(name(Metric::AuthFailures), "reason" => reason).increment(1);
}

/// Sets the database pool gauges.
pub fn set_db_pool(state: PoolState) {
    gauge!(name(Metric::DbPoolConnections)).set(f64::from(state.connections));
    gauge!(name(Metric::DbPoolIdleConnections)).set(f64::from(state.idle_connections));
    gauge!(name(Metric::DbPoolMaxConnections)).set(f64::from(state.max_connections));
}

/// Sets `lightrag_build_info{version, revision} 1`.
pub fn record_build_info(version: &str, revision: &str) {
    gauge!(name(Metric::BuildInfo), "version" => version.to_owned(), "revision" => revision.to_owned())
        .set(1.0);
}

pub(crate) fn event_log_written(n: u64) {
    counter!(name(Metric::EventLogWritten)).increment(n);
}

pub(crate) fn event_log_dropped(reason: &'static str, n: u64) {
    counter!(name(Metric::EventLogDropped), "reason" => reason).increment(n);
}

pub(crate) fn event_log_queue_depth(n: usize) {
    #[allow(clippy::cast_precision_loss)]
    gauge!(name(Metric::EventLogQueueDepth)).set(n as f64);
}
