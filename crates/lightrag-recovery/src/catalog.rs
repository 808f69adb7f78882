//! The snapshot catalog (`backup_metadata`) kept in step with the repository.
//!
//! The repository is the source of truth for snapshots; the catalog can always be re-created
//! from its manifests ([`rebuild_catalog`]). Recovery points cannot: they exist only in the DB.

use lightrag_backup::{Repository, SnapshotInfo};
use lightrag_recovery_db::{
    BackupRecord, BackupStatus, BackupTrigger, BackupUpdate, DbConn, create_backup, find_backup,
    update_backup,
};
use serde::Serialize;

use crate::error::{RecoveryError, Result};

/// Outcome of [`rebuild_catalog`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RebuildReport {
    /// Snapshots in the repository.
    pub snapshots: u64,
    /// Rows inserted.
    pub inserted: u64,
    /// Rows that existed but were not `completed` (e.g. left `running` by a crash) and were
    /// refreshed from the manifest.
    pub refreshed: u64,
    /// Rows already correct.
    pub unchanged: u64,
}

fn trigger_of(s: &str) -> BackupTrigger {
    s.parse().unwrap_or(BackupTrigger::Manual)
}

fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The catalog row describing a repository snapshot.
pub fn record_from_snapshot(info: &SnapshotInfo) -> BackupRecord {
    let mut rec = BackupRecord::new(&info.id, &info.graph_id, trigger_of(&info.trigger));
    rec.created_at = info.created_at.into();
    // The backup's end: its start plus its duration (older manifests: the start).
    let duration = info.duration_ms.unwrap_or(0);
    rec.finished_at = Some(
        (info.created_at + time::Duration::milliseconds(i64::try_from(duration).unwrap_or(0)))
            .into(),
    );
    rec.duration_ms = info.duration_ms.and_then(|d| i64::try_from(d).ok());
    rec.status = BackupStatus::Completed;
    rec.logical_size_bytes = clamp_i64(info.totals.bytes);
    rec.stored_size_bytes = clamp_i64(info.totals.new_bytes_stored);
    rec.file_count = clamp_i64(info.totals.files);
    rec.chunk_count = clamp_i64(info.totals.chunks);
    rec.summary_json = serde_json::to_string(&info.summary).ok();
    rec.consistent = info.consistent;
    rec.inconsistency = info.inconsistency.clone();
    rec
}

/// Outcome of putting one snapshot into the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upsert {
    Inserted,
    Refreshed,
    Unchanged,
}

/// Make sure `info` is a `completed` row of the catalog.
pub(crate) fn upsert_snapshot(conn: &mut DbConn, info: &SnapshotInfo) -> Result<Upsert> {
    match find_backup(conn, &info.id)? {
        None => {
            create_backup(conn, &record_from_snapshot(info))?;
            Ok(Upsert::Inserted)
        }
        Some(row) if row.status == BackupStatus::Completed && row.graph_id == info.graph_id => {
            Ok(Upsert::Unchanged)
        }
        Some(row) => {
            if row.graph_id != info.graph_id {
                return Err(RecoveryError::InvalidRequest(format!(
                    "catalog row of snapshot `{}` names graph `{}` but the repository says `{}`; delete the row and run catalog rebuild",
                    info.id, row.graph_id, info.graph_id
                )));
            }
            let rec = record_from_snapshot(info);
            let update = BackupUpdate {
                status: Some(BackupStatus::Completed),
                finished_at: rec.finished_at,
                duration_ms: rec.duration_ms,
                logical_size_bytes: Some(rec.logical_size_bytes),
                stored_size_bytes: Some(rec.stored_size_bytes),
                file_count: Some(rec.file_count),
                chunk_count: Some(rec.chunk_count),
                summary_json: rec.summary_json,
                consistent: rec.consistent,
                inconsistency: rec.inconsistency,
                ..BackupUpdate::default()
            };
            update_backup(conn, &info.id, &update)?;
            Ok(Upsert::Refreshed)
        }
    }
}

/// Re-create the catalog rows of every snapshot in `repo` (the DB was lost, emptied or is
/// behind). Idempotent; existing rows that are already `completed` are left alone. Rows of
/// snapshots no longer in the repository are not deleted here (retention owns deletion).
pub fn rebuild_catalog(conn: &mut DbConn, repo: &Repository) -> Result<RebuildReport> {
    let snaps = repo
        .snapshots(None)
        .map_err(|e| RecoveryError::backup("list snapshots", None, e))?;
    let mut report = RebuildReport {
        snapshots: snaps.len() as u64,
        ..RebuildReport::default()
    };
    for info in &snaps {
        match upsert_snapshot(conn, info)? {
            Upsert::Inserted => report.inserted += 1,
            Upsert::Refreshed => report.refreshed += 1,
            Upsert::Unchanged => report.unchanged += 1,
        }
    }
    tracing::info!(
        snapshots = report.snapshots,
        inserted = report.inserted,
        refreshed = report.refreshed,
        "Rebuilt snapshot catalog from repository"
    );
    Ok(report)
}

impl crate::manager::RecoveryManager {
    /// [`rebuild_catalog`] on this manager's DB, with an event. Run it after the DB was lost
    /// and at start-up (reconciliation): snapshots taken while the DB was down appear again.
    /// Recovery points cannot be re-derived from the repository.
    pub fn rebuild_catalog(&self, repo: &Repository) -> Result<RebuildReport> {
        let report = rebuild_catalog(&mut *self.conn()?, repo)?;
        if report.inserted + report.refreshed > 0 {
            self.emit(
                lightrag_recovery_db::NewEvent::new(
                    lightrag_recovery_db::EventKind::System,
                    "catalog.rebuilt",
                    lightrag_recovery_db::Severity::Info,
                    format!(
                        "Snapshot catalog rebuilt from repository {}: {} snapshot(s), {} added, {} refreshed",
                        repo.id(),
                        report.snapshots,
                        report.inserted,
                        report.refreshed
                    ),
                )
                .with_details(&serde_json::json!(report)),
            );
        }
        Ok(report)
    }
}
