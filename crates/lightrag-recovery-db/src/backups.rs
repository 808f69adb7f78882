//! `backup_metadata`: the snapshot catalog.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::conn::{DbConn, MultiBackend};
use crate::error::{RecoveryDbError, Result};
use crate::schema::{backup_metadata, recovery_point_snapshots};
use crate::text::{check_id, check_non_negative, check_text, clean_opt, normalize_json};
use crate::types::{BackupStatus, BackupTrigger, Order, Page, Timestamp};

const ENTITY: &str = "backup";

/// One snapshot in the catalog. Also the input of [`create_backup`] (build it with
/// [`BackupRecord::new`] or fill every field, e.g. when rebuilding the catalog).
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = backup_metadata, check_for_backend(MultiBackend))]
#[diesel(treat_none_as_default_value = false)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackupRecord {
    /// Snapshot id (primary key).
    pub snapshot_id: String,
    /// Graph the snapshot belongs to.
    pub graph_id: String,
    /// Start of the backup.
    pub created_at: Timestamp,
    /// End of the backup (completed or failed).
    pub finished_at: Option<Timestamp>,
    /// State.
    pub status: BackupStatus,
    /// Why it was taken.
    #[diesel(column_name = trigger_kind)]
    pub trigger: BackupTrigger,
    /// Bytes of the graph's files.
    pub logical_size_bytes: i64,
    /// Bytes newly written to the repository (after dedup and compression).
    pub stored_size_bytes: i64,
    /// Files in the snapshot.
    pub file_count: i64,
    /// Chunks referenced.
    pub chunk_count: i64,
    /// Hash of the manifest.
    pub manifest_hash: Option<String>,
    /// Backup duration.
    pub duration_ms: Option<i64>,
    /// Why it failed.
    pub error_message: Option<String>,
    /// Kept at least until then.
    pub retention_until: Option<Timestamp>,
    /// Last verification.
    pub verified_at: Option<Timestamp>,
    /// Result of the last verification.
    pub verification_ok: Option<bool>,
    /// What the last verification found.
    pub verification_error: Option<String>,
    /// LightRAG summary (doc/chunk/entity/relation/vector counts and dims), JSON text.
    pub summary_json: Option<String>,
    /// Whether the snapshot holds one quiescent state of the graph (no LightRAG save
    /// overlapped it); `None`: not recorded (older snapshot, or not completed).
    pub consistent: Option<bool>,
    /// Why it is not consistent.
    pub inconsistency: Option<String>,
}

impl BackupRecord {
    /// A running backup started now, with zero counters.
    pub fn new(
        snapshot_id: impl Into<String>,
        graph_id: impl Into<String>,
        trigger: BackupTrigger,
    ) -> Self {
        Self {
            snapshot_id: snapshot_id.into(),
            graph_id: graph_id.into(),
            created_at: Timestamp::now(),
            finished_at: None,
            status: BackupStatus::Running,
            trigger,
            logical_size_bytes: 0,
            stored_size_bytes: 0,
            file_count: 0,
            chunk_count: 0,
            manifest_hash: None,
            duration_ms: None,
            error_message: None,
            retention_until: None,
            verified_at: None,
            verification_ok: None,
            verification_error: None,
            summary_json: None,
            consistent: None,
            inconsistency: None,
        }
    }

    /// The summary parsed as JSON.
    pub fn summary(&self) -> Option<serde_json::Value> {
        self.summary_json
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
    }
}

/// Changes for [`update_backup`]; `None` leaves a column as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, AsChangeset)]
#[diesel(table_name = backup_metadata)]
pub struct BackupUpdate {
    /// New state.
    pub status: Option<BackupStatus>,
    /// End time.
    pub finished_at: Option<Timestamp>,
    /// Bytes of the graph's files.
    pub logical_size_bytes: Option<i64>,
    /// Bytes newly stored.
    pub stored_size_bytes: Option<i64>,
    /// Files.
    pub file_count: Option<i64>,
    /// Chunks.
    pub chunk_count: Option<i64>,
    /// Manifest hash.
    pub manifest_hash: Option<String>,
    /// Duration.
    pub duration_ms: Option<i64>,
    /// Failure message.
    pub error_message: Option<String>,
    /// Retention deadline.
    pub retention_until: Option<Timestamp>,
    /// LightRAG summary, JSON text.
    pub summary_json: Option<String>,
    /// Save-consistency.
    pub consistent: Option<bool>,
    /// Why not consistent.
    pub inconsistency: Option<String>,
}

impl BackupUpdate {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Filter of [`list_backups`] and [`count_backups`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackupFilter {
    /// Only this graph.
    pub graph_id: Option<String>,
    /// Only this state.
    pub status: Option<BackupStatus>,
    /// Only this trigger.
    pub trigger: Option<BackupTrigger>,
    /// `created_at >= since`.
    pub since: Option<Timestamp>,
    /// `created_at < until`.
    pub until: Option<Timestamp>,
    /// Only backups whose `retention_until` is before this instant.
    pub retention_before: Option<Timestamp>,
    /// Sort by `created_at`.
    pub order: Order,
}

fn check_counts(values: [(&'static str, Option<i64>); 5]) -> Result<()> {
    for (field, v) in values {
        if let Some(v) = v {
            check_non_negative(field, v)?;
        }
    }
    Ok(())
}

/// Adds a snapshot to the catalog. [`RecoveryDbError::Conflict`] if the id exists.
pub fn create_backup(conn: &mut DbConn, record: &BackupRecord) -> Result<BackupRecord> {
    let mut record = record.clone();
    check_id("snapshot id", &record.snapshot_id)?;
    check_id("graph id", &record.graph_id)?;
    if let Some(h) = &record.manifest_hash {
        check_text("manifest hash", h)?;
    }
    check_counts([
        ("logical_size_bytes", Some(record.logical_size_bytes)),
        ("stored_size_bytes", Some(record.stored_size_bytes)),
        ("file_count", Some(record.file_count)),
        ("chunk_count", Some(record.chunk_count)),
        ("duration_ms", record.duration_ms),
    ])?;
    clean_opt(&mut record.error_message);
    clean_opt(&mut record.verification_error);
    normalize_json("summary_json", &mut record.summary_json)?;
    diesel::insert_into(backup_metadata::table)
        .values(&record)
        .execute(conn)
        .map_err(|e| match RecoveryDbError::from_diesel(ENTITY, e) {
            RecoveryDbError::Conflict { entity, .. } => RecoveryDbError::Conflict {
                entity,
                message: format!(
                    "snapshot `{}` is already in the catalog",
                    record.snapshot_id
                ),
            },
            other => other,
        })?;
    Ok(record)
}

/// One snapshot. [`RecoveryDbError::NotFound`] if absent.
pub fn get_backup(conn: &mut DbConn, snapshot_id: &str) -> Result<BackupRecord> {
    find_backup(conn, snapshot_id)?.ok_or_else(|| RecoveryDbError::not_found(ENTITY, snapshot_id))
}

/// One snapshot, or `None`.
pub fn find_backup(conn: &mut DbConn, snapshot_id: &str) -> Result<Option<BackupRecord>> {
    backup_metadata::table
        .find(snapshot_id)
        .select(BackupRecord::as_select())
        .first(conn)
        .optional()
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))
}

/// A filter value PostgreSQL cannot compare (NUL) or no id can have is malformed input
/// ([`RecoveryDbError::InvalidInput`]), not a database failure.
fn check_filter(filter: &BackupFilter) -> Result<()> {
    crate::text::check_opt_id("graph id", filter.graph_id.as_deref())
}

fn filtered(filter: &BackupFilter) -> backup_metadata::BoxedQuery<'_, MultiBackend> {
    let mut q = backup_metadata::table.into_boxed::<MultiBackend>();
    if let Some(g) = &filter.graph_id {
        q = q.filter(backup_metadata::graph_id.eq(g));
    }
    if let Some(s) = filter.status {
        q = q.filter(backup_metadata::status.eq(s));
    }
    if let Some(t) = filter.trigger {
        q = q.filter(backup_metadata::trigger_kind.eq(t));
    }
    if let Some(t) = filter.since {
        q = q.filter(backup_metadata::created_at.ge(t));
    }
    if let Some(t) = filter.until {
        q = q.filter(backup_metadata::created_at.lt(t));
    }
    if let Some(t) = filter.retention_before {
        q = q.filter(backup_metadata::retention_until.lt(t));
    }
    q
}

/// Snapshots matching `filter`, ordered by `created_at` (then id).
pub fn list_backups(
    conn: &mut DbConn,
    filter: &BackupFilter,
    page: Page,
) -> Result<Vec<BackupRecord>> {
    check_filter(filter)?;
    let q = filtered(filter).select(BackupRecord::as_select());
    let q = match filter.order {
        Order::NewestFirst => q.order((
            backup_metadata::created_at.desc(),
            backup_metadata::snapshot_id.desc(),
        )),
        Order::OldestFirst => q.order((
            backup_metadata::created_at.asc(),
            backup_metadata::snapshot_id.asc(),
        )),
    };
    q.limit(page.limit_i64())
        .offset(page.offset_i64())
        .load(conn)
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))
}

/// The graphs that have at least one row, in id order (one walk of the `(graph_id,
/// created_at)` index).
pub fn backup_graph_ids(conn: &mut DbConn) -> Result<Vec<String>> {
    backup_metadata::table
        .select(backup_metadata::graph_id)
        .distinct()
        .order(backup_metadata::graph_id.asc())
        .load(conn)
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))
}

/// Number of snapshots matching `filter`.
pub fn count_backups(conn: &mut DbConn, filter: &BackupFilter) -> Result<i64> {
    check_filter(filter)?;
    filtered(filter)
        .count()
        .get_result(conn)
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))
}

/// Updates a snapshot's row. [`RecoveryDbError::NotFound`] if absent.
pub fn update_backup(
    conn: &mut DbConn,
    snapshot_id: &str,
    update: &BackupUpdate,
) -> Result<BackupRecord> {
    let mut update = update.clone();
    check_counts([
        ("logical_size_bytes", update.logical_size_bytes),
        ("stored_size_bytes", update.stored_size_bytes),
        ("file_count", update.file_count),
        ("chunk_count", update.chunk_count),
        ("duration_ms", update.duration_ms),
    ])?;
    if let Some(h) = &update.manifest_hash {
        check_text("manifest hash", h)?;
    }
    clean_opt(&mut update.error_message);
    normalize_json("summary_json", &mut update.summary_json)?;
    if !update.is_empty() {
        let n = diesel::update(backup_metadata::table.find(snapshot_id))
            .set(&update)
            .execute(conn)
            .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))?;
        if n == 0 {
            return Err(RecoveryDbError::not_found(ENTITY, snapshot_id));
        }
    }
    get_backup(conn, snapshot_id)
}

/// Records the result of verifying a snapshot: `error` is `None` when it verified.
pub fn record_backup_verification(
    conn: &mut DbConn,
    snapshot_id: &str,
    verified_at: Timestamp,
    error: Option<&str>,
) -> Result<BackupRecord> {
    let mut error = error.map(str::to_owned);
    clean_opt(&mut error);
    let n = diesel::update(backup_metadata::table.find(snapshot_id))
        .set((
            backup_metadata::verified_at.eq(Some(verified_at)),
            backup_metadata::verification_ok.eq(Some(error.is_none())),
            backup_metadata::verification_error.eq(error.as_deref()),
        ))
        .execute(conn)
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))?;
    if n == 0 {
        return Err(RecoveryDbError::not_found(ENTITY, snapshot_id));
    }
    get_backup(conn, snapshot_id)
}

/// Recovery point ids that pin `snapshot_id`.
pub fn recovery_points_pinning(conn: &mut DbConn, snapshot_id: &str) -> Result<Vec<String>> {
    recovery_point_snapshots::table
        .filter(recovery_point_snapshots::snapshot_id.eq(snapshot_id))
        .select(recovery_point_snapshots::recovery_point_id)
        .order(recovery_point_snapshots::recovery_point_id.asc())
        .load(conn)
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))
}

/// Every snapshot id pinned by some recovery point (prune must keep them).
pub fn pinned_snapshot_ids(conn: &mut DbConn) -> Result<Vec<String>> {
    recovery_point_snapshots::table
        .select(recovery_point_snapshots::snapshot_id)
        .distinct()
        .order(recovery_point_snapshots::snapshot_id.asc())
        .load(conn)
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))
}

/// Removes a snapshot from the catalog. [`RecoveryDbError::NotFound`] if absent,
/// [`RecoveryDbError::Conflict`] while a recovery point pins it.
pub fn delete_backup(conn: &mut DbConn, snapshot_id: &str) -> Result<()> {
    let result = diesel::delete(backup_metadata::table.find(snapshot_id)).execute(conn);
    match result {
        Ok(0) => Err(RecoveryDbError::not_found(ENTITY, snapshot_id)),
        Ok(_) => Ok(()),
        Err(e) => match RecoveryDbError::from_diesel(ENTITY, e) {
            RecoveryDbError::Conflict { entity, .. } => {
                let pins = recovery_points_pinning(conn, snapshot_id).unwrap_or_default();
                Err(RecoveryDbError::Conflict {
                    entity,
                    message: format!(
                        "snapshot `{snapshot_id}` is pinned by recovery point(s) {}; delete those first",
                        pins.join(", ")
                    ),
                })
            }
            other => Err(other),
        },
    }
}
