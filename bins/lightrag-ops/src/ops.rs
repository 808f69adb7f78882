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
    _progress: &dyn Progress,
) -> Result<SnapshotSummary, ApiError> {
    let started = Instant::now();
    st.events
        .log_backup_event(graph, EventType::BackupStarted, EventDetails::default());
    let result = st.recovery.backup_graph(&st.repo, graph, trigger);
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
    Ok(result?)
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

/// Deletes one snapshot from the repository and the catalog; refused while pinned.
pub(crate) fn delete_snapshot(st: &AppState, id: &str) -> Result<(), ApiError> {
    let manifest = st.repo.snapshot(id)?;
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
