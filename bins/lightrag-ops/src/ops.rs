//! Glue around the managers' operations: each runs the library call, then logs its event and
//! records its metrics. No decisions are made here.

use std::collections::BTreeSet;
use std::time::{Instant, SystemTime};

use lightrag_backup::{
    ForgetReport, Progress, PruneOptions, PruneReport, SnapshotSummary, VerifyOptions, VerifyReport,
};
use lightrag_monitoring::record::{self, BackupOutcome};
use lightrag_monitoring::{EventDetails, EventType};
use lightrag_recovery_db::{BackupStatus, BackupTrigger};
use serde::Serialize;

use crate::error::ApiError;
use crate::state::AppState;

/// Backs up one graph into the repository and the catalog.
pub(crate) fn backup(
    st: &AppState,
    graph: &str,
    trigger: BackupTrigger,
    progress: &dyn Progress,
) -> Result<SnapshotSummary, ApiError> {
    let started = Instant::now();
    st.events
        .log_backup_event(graph, EventType::BackupStarted, EventDetails::default());
    let result = st
        .recovery
        .backup_graph_with_progress(&st.repo, graph, trigger, progress);
    let duration = started.elapsed();
    let (status, logical, written) = match &result {
        Ok(s) => (
            BackupStatus::Completed,
            s.snapshot.totals.bytes,
            s.snapshot.totals.new_bytes_stored,
        ),
        Err(_) => (BackupStatus::Failed, 0, 0),
    };
    record::record_backup(
        graph,
        &BackupOutcome {
            status,
            trigger,
            duration,
            logical_bytes: logical,
            written_bytes: written,
            finished_at: SystemTime::now(),
        },
    );
    let details = EventDetails {
        duration: Some(duration),
        ..EventDetails::default()
    };
    match &result {
        Ok(s) => st.events.log_backup_event(
            graph,
            EventType::BackupCompleted,
            EventDetails {
                snapshot_id: Some(s.snapshot.id.clone()),
                bytes: Some(s.snapshot.totals.bytes),
                extra: serde_json::to_value(&s.snapshot.totals).ok(),
                ..details
            },
        ),
        Err(e) => st.events.log_backup_event(
            graph,
            EventType::BackupFailed,
            EventDetails {
                message: Some(e.to_string()),
                ..details
            },
        ),
    };
    let summary = result?;
    record::record_backup_requests(graph, summary.requests.requests);
    if st.config.replication_enabled {
        // Right after a backup: push it to every enabled target (back-off ignored).
        if let Err(e) = replicate(st, Some(graph), None, true) {
            tracing::warn!(graph, error = %e, "Replication after backup failed");
        }
    }
    Ok(summary)
}

/// Verifies the repository (or some snapshots); records a validation metric and event.
pub(crate) fn verify(
    st: &AppState,
    opts: &VerifyOptions,
    progress: &dyn Progress,
) -> Result<VerifyReport, ApiError> {
    let started = Instant::now();
    let report = st.repo.verify(opts, progress)?;
    record::record_validation(report.is_ok());
    let ty = if report.is_ok() {
        EventType::ValidationCompleted
    } else {
        EventType::ValidationFailed
    };
    let message = report
        .damage
        .first()
        .map(|d| format!("{} problem(s); first: {}", report.damage.len(), d.problem));
    st.events.log(lightrag_monitoring::EventLogger::build(
        ty,
        EventDetails {
            duration: Some(started.elapsed()),
            bytes: Some(report.bytes_read),
            message,
            ..EventDetails::default()
        },
    ));
    Ok(report)
}

/// Result of a retention run.
#[derive(Debug, Serialize)]
pub(crate) struct RetentionReport {
    forget: ForgetReport,
    prune: Option<PruneReport>,
}

impl RetentionReport {
    /// One line for logs and the scheduler status.
    pub(crate) fn summary(&self) -> String {
        format!(
            "{} snapshot(s) forgotten, {} kept; {} byte(s) freed",
            self.forget.removed.len(),
            self.forget.kept.len(),
            self.prune.as_ref().map_or(0, |p| p.bytes_freed)
        )
    }
}

/// Forgets what the configured retention does not keep (recovery points pinned), removes the
/// forgotten snapshots from the catalog, then prunes.
pub(crate) fn retention(
    st: &AppState,
    dry_run: bool,
    prune: Option<PruneOptions>,
    progress: &dyn Progress,
) -> Result<RetentionReport, ApiError> {
    let started = Instant::now();
    let pinned: BTreeSet<String> = st.recovery.pinned_snapshots()?.into_iter().collect();
    let policy = crate::routes::retention_policy(&st.config);
    let forget = st.repo.forget(None, &policy, &pinned, dry_run)?;
    if !dry_run {
        let mut conn = st.db.conn()?;
        for id in &forget.removed {
            match lightrag_recovery_db::delete_backup(&mut conn, id) {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    let prune = match prune {
        Some(p) => Some(st.repo.prune(&p, progress)?),
        None => None,
    };
    st.events.log(lightrag_monitoring::EventLogger::build(
        EventType::RetentionCompleted,
        EventDetails {
            duration: Some(started.elapsed()),
            bytes: prune.as_ref().map(|p| p.bytes_freed),
            message: Some(format!(
                "{} snapshot(s) {}",
                forget.removed.len(),
                if dry_run {
                    "would be forgotten"
                } else {
                    "forgotten"
                }
            )),
            ..EventDetails::default()
        },
    ));
    Ok(RetentionReport { forget, prune })
}

/// Deletes one snapshot (by its full id, never a prefix) from the repository and the catalog;
/// refused while pinned.
pub(crate) fn delete_snapshot(st: &AppState, id: &str) -> Result<(), ApiError> {
    let manifest = st.repo.snapshot_exact(id)?;
    let mut conn = st.db.conn()?;
    let pins = lightrag_recovery_db::recovery_points_pinning(&mut conn, &manifest.id)?;
    if !pins.is_empty() {
        return Err(ApiError::Conflict(format!(
            "snapshot {} is pinned by recovery point(s) {}; delete those first",
            manifest.id,
            pins.join(", ")
        )));
    }
    st.repo.delete_snapshot(&manifest.id)?;
    match lightrag_recovery_db::delete_backup(&mut conn, &manifest.id) {
        Ok(()) => {}
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e.into()),
    }
    st.events.log_backup_event(
        &manifest.graph_id,
        EventType::BackupDeleted,
        EventDetails {
            snapshot_id: Some(manifest.id),
            ..EventDetails::default()
        },
    );
    Ok(())
}

/// Runs every health check once and records the health metrics.
pub(crate) fn health_check(st: &AppState) -> std::sync::Arc<lightrag_recovery::HealthReport> {
    let report = st.health.check(Some(&st.repo));
    for c in report.graphs.iter().chain(&report.components) {
        record::record_health_check(c.component_type, &c.id, c.status);
    }
    report
}

/// Syncs graphs to targets (all enabled targets and all graphs with snapshots by default),
/// honouring each pair's back-off unless `force`; records metrics and events per attempt.
pub(crate) fn replicate(
    st: &AppState,
    graph: Option<&str>,
    target: Option<&str>,
    force: bool,
) -> Result<Vec<lightrag_replication::SyncOutcome>, ApiError> {
    let open = crate::wiring::target_open_options(&st.config);
    let outcomes = lightrag_replication::sync_targets(
        &st.db,
        st.repo.storage(),
        graph,
        target,
        force,
        &crate::wiring::sync_options(&st.config),
        &open,
        |t, o| {
            let duration = std::time::Duration::from_millis(o.duration_ms);
            let lag = o
                .lag_known
                .then(|| std::time::Duration::from_millis(u64::try_from(o.lag_ms).unwrap_or(0)));
            record::record_sync(
                &o.graph_id,
                &t.name,
                o.is_success(),
                duration,
                o.bytes_sent,
                lag,
            );
            let (ty, message) = match &o.error {
                None => (
                    EventType::ReplicationCompleted,
                    Some(format!(
                        "{} object(s), {} snapshot(s) sent",
                        o.objects_sent, o.snapshots_sent
                    )),
                ),
                Some(e) => (EventType::ReplicationFailed, Some(e.clone())),
            };
            st.events.log_replication_event(
                Some(&o.graph_id),
                &t.id,
                ty,
                EventDetails {
                    duration: Some(duration),
                    bytes: Some(o.bytes_sent),
                    message,
                    snapshot_id: o.last_synced_snapshot.clone(),
                    ..EventDetails::default()
                },
            );
        },
    )?;
    Ok(outcomes)
}

/// Checks one target now (reachability, authentication, free space, last syncs) and stores it.
pub(crate) fn target_health(
    st: &AppState,
    id: &str,
) -> Result<lightrag_replication::TargetHealth, ApiError> {
    use lightrag_replication as rep;
    let mut c = st.db.conn()?;
    let t = rep::find_target(&mut c, id)?;
    let states = lightrag_recovery_db::list_replication_states(
        &mut c,
        &lightrag_recovery_db::ReplicationStateFilter {
            target_id: Some(t.id.clone()),
            ..Default::default()
        },
        lightrag_recovery_db::Page::new(10_000, 0),
    )?;
    let h = match rep::open_target(&mut c, &t, &crate::wiring::target_open_options(&st.config)) {
        Ok(store) => rep::check_target_health(
            &*store,
            t.has_secret,
            &states,
            &rep::HealthOptions::default(),
        ),
        Err(e) => rep::TargetHealth {
            status: lightrag_recovery_db::HealthStatus::Offline,
            reachable: false,
            authenticated: None,
            free_bytes: None,
            repository_id: None,
            message: Some(e.to_string()),
            checked_at_ms: lightrag_recovery_db::Timestamp::now().unix_millis(),
        },
    };
    rep::record_target_health(&mut c, &t.id, &h)?;
    record::record_target_health(&t.name, h.reachable && h.authenticated != Some(false));
    Ok(h)
}
