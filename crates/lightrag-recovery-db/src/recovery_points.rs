//! `recovery_points` and `recovery_point_snapshots`: persistent named checkpoints.
//!
//! These rows cannot be re-derived from the backup repository: they are the only record of
//! which snapshots an operator pinned together.

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::conn::{DbConn, MultiBackend};
use crate::error::{RecoveryDbError, Result};
use crate::schema::{backup_metadata, recovery_point_snapshots, recovery_points};
use crate::text::{check_id, clean, clean_opt};
use crate::types::{BackupStatus, Order, Page, Timestamp};

const ENTITY: &str = "recovery point";

/// A recovery point's own row.
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = recovery_points, check_for_backend(MultiBackend))]
#[diesel(treat_none_as_default_value = false)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecoveryPoint {
    /// Checkpoint id.
    pub id: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Operator's description.
    pub description: String,
    /// Who created it (user, `scheduler`, …).
    pub created_by: Option<String>,
    /// Last validation succeeded.
    pub validated: bool,
    /// Last validation time.
    pub validated_at: Option<Timestamp>,
    /// What the last validation found.
    pub validation_error: Option<String>,
}

/// The snapshot a recovery point pins for one graph.
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Queryable, Selectable, Insertable,
)]
#[diesel(table_name = recovery_point_snapshots, check_for_backend(MultiBackend))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PinnedSnapshot {
    /// Recovery point.
    pub recovery_point_id: String,
    /// Graph.
    pub graph_id: String,
    /// Snapshot of that graph.
    pub snapshot_id: String,
}

/// A recovery point with its pinned snapshots (ordered by graph id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecoveryPointDetails {
    /// The point.
    #[serde(flatten)]
    pub point: RecoveryPoint,
    /// One snapshot per graph.
    pub snapshots: Vec<PinnedSnapshot>,
}

/// Input of [`create_recovery_point`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRecoveryPoint {
    /// Checkpoint id (chosen by the caller).
    pub id: String,
    /// Description.
    pub description: String,
    /// Creator.
    pub created_by: Option<String>,
    /// `(graph id, snapshot id)` pairs; one per graph, at least one. Each snapshot must be in
    /// the catalog, belong to that graph and be completed.
    pub snapshots: Vec<(String, String)>,
}

/// Filter of [`list_recovery_points`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecoveryPointFilter {
    /// Only points that pin a snapshot of this graph.
    pub graph_id: Option<String>,
    /// Only points whose last validation succeeded (`true`) or did not (`false`).
    pub validated: Option<bool>,
    /// `created_at >= since`.
    pub since: Option<Timestamp>,
    /// `created_at < until`.
    pub until: Option<Timestamp>,
    /// Sort by `created_at`.
    pub order: Order,
}

/// Creates a recovery point and pins its snapshots, in one transaction.
///
/// [`RecoveryDbError::Conflict`] if the id exists, [`RecoveryDbError::NotFound`] for a snapshot
/// missing from the catalog, [`RecoveryDbError::InvalidInput`] for an empty list, a graph
/// listed twice, a snapshot of another graph or one that is not completed.
pub fn create_recovery_point(
    conn: &mut DbConn,
    new: &NewRecoveryPoint,
) -> Result<RecoveryPointDetails> {
    check_id("recovery point id", &new.id)?;
    if new.snapshots.is_empty() {
        return Err(RecoveryDbError::invalid(
            "snapshots",
            "a recovery point pins at least one snapshot",
        ));
    }
    let mut seen = BTreeSet::new();
    for (graph_id, snapshot_id) in &new.snapshots {
        check_id("graph id", graph_id)?;
        check_id("snapshot id", snapshot_id)?;
        if !seen.insert(graph_id.as_str()) {
            return Err(RecoveryDbError::invalid(
                "snapshots",
                format!(
                    "graph `{graph_id}` is listed twice; a recovery point pins one snapshot per graph"
                ),
            ));
        }
    }
    let mut description = new.description.clone();
    clean(&mut description);
    let mut created_by = new.created_by.clone();
    clean_opt(&mut created_by);
    let point = RecoveryPoint {
        id: new.id.clone(),
        created_at: Timestamp::now(),
        description,
        created_by,
        validated: false,
        validated_at: None,
        validation_error: None,
    };
    let mut pins: Vec<PinnedSnapshot> = new
        .snapshots
        .iter()
        .map(|(g, s)| PinnedSnapshot {
            recovery_point_id: new.id.clone(),
            graph_id: g.clone(),
            snapshot_id: s.clone(),
        })
        .collect();
    pins.sort_by(|a, b| a.graph_id.cmp(&b.graph_id));
    conn.transaction::<_, RecoveryDbError, _>(|conn| {
        // Write first: on SQLite this takes the write lock before any read of the transaction.
        diesel::insert_into(recovery_points::table)
            .values(&point)
            .execute(conn)
            .map_err(|e| match RecoveryDbError::from_diesel(ENTITY, e) {
                RecoveryDbError::Conflict { entity, .. } => RecoveryDbError::Conflict {
                    entity,
                    message: format!("recovery point `{}` already exists", point.id),
                },
                other => other,
            })?;
        for pin in &pins {
            let found: Option<(String, BackupStatus)> = backup_metadata::table
                .find(&pin.snapshot_id)
                .select((backup_metadata::graph_id, backup_metadata::status))
                .first(conn)
                .optional()?;
            match found {
                None => {
                    return Err(RecoveryDbError::not_found(
                        "backup",
                        pin.snapshot_id.clone(),
                    ));
                }
                Some((graph_id, _)) if graph_id != pin.graph_id => {
                    return Err(RecoveryDbError::invalid(
                        "snapshots",
                        format!(
                            "snapshot `{}` belongs to graph `{graph_id}`, not `{}`",
                            pin.snapshot_id, pin.graph_id
                        ),
                    ));
                }
                Some((_, status)) if status != BackupStatus::Completed => {
                    return Err(RecoveryDbError::invalid(
                        "snapshots",
                        format!("snapshot `{}` is {status}, not completed", pin.snapshot_id),
                    ));
                }
                Some(_) => {}
            }
        }
        // Multi-row INSERT runs on the inner connection (same session, same transaction).
        let insert = diesel::insert_into(recovery_point_snapshots::table).values(&pins);
        match conn {
            DbConn::Postgres(c) => insert.execute(c),
            DbConn::Sqlite(c) => insert.execute(c),
        }
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))?;
        Ok(())
    })?;
    Ok(RecoveryPointDetails {
        point,
        snapshots: pins,
    })
}

/// One recovery point with its snapshots. [`RecoveryDbError::NotFound`] if absent.
pub fn get_recovery_point(conn: &mut DbConn, id: &str) -> Result<RecoveryPointDetails> {
    let point = recovery_points::table
        .find(id)
        .select(RecoveryPoint::as_select())
        .first(conn)
        .optional()
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))?
        .ok_or_else(|| RecoveryDbError::not_found(ENTITY, id))?;
    let snapshots = recovery_point_snapshots::table
        .filter(recovery_point_snapshots::recovery_point_id.eq(id))
        .select(PinnedSnapshot::as_select())
        .order(recovery_point_snapshots::graph_id.asc())
        .load(conn)
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))?;
    Ok(RecoveryPointDetails { point, snapshots })
}

/// Recovery points matching `filter`, ordered by `created_at` (then id), with their snapshots.
pub fn list_recovery_points(
    conn: &mut DbConn,
    filter: &RecoveryPointFilter,
    page: Page,
) -> Result<Vec<RecoveryPointDetails>> {
    let mut q = recovery_points::table
        .select(RecoveryPoint::as_select())
        .into_boxed::<MultiBackend>();
    if let Some(g) = &filter.graph_id {
        q = q.filter(
            recovery_points::id.eq_any(
                recovery_point_snapshots::table
                    .filter(recovery_point_snapshots::graph_id.eq(g.clone()))
                    .select(recovery_point_snapshots::recovery_point_id),
            ),
        );
    }
    if let Some(v) = filter.validated {
        q = q.filter(recovery_points::validated.eq(v));
    }
    if let Some(t) = filter.since {
        q = q.filter(recovery_points::created_at.ge(t));
    }
    if let Some(t) = filter.until {
        q = q.filter(recovery_points::created_at.lt(t));
    }
    q = match filter.order {
        Order::NewestFirst => q.order((
            recovery_points::created_at.desc(),
            recovery_points::id.desc(),
        )),
        Order::OldestFirst => {
            q.order((recovery_points::created_at.asc(), recovery_points::id.asc()))
        }
    };
    let points: Vec<RecoveryPoint> = q
        .limit(page.limit_i64())
        .offset(page.offset_i64())
        .load(conn)
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))?;
    if points.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = points.iter().map(|p| p.id.as_str()).collect();
    let pins: Vec<PinnedSnapshot> = recovery_point_snapshots::table
        .filter(recovery_point_snapshots::recovery_point_id.eq_any(&ids))
        .select(PinnedSnapshot::as_select())
        .order((
            recovery_point_snapshots::recovery_point_id.asc(),
            recovery_point_snapshots::graph_id.asc(),
        ))
        .load(conn)
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))?;
    let mut by_point: BTreeMap<String, Vec<PinnedSnapshot>> = BTreeMap::new();
    for pin in pins {
        by_point
            .entry(pin.recovery_point_id.clone())
            .or_default()
            .push(pin);
    }
    Ok(points
        .into_iter()
        .map(|point| {
            let snapshots = by_point.remove(&point.id).unwrap_or_default();
            RecoveryPointDetails { point, snapshots }
        })
        .collect())
}

/// Records a validation: `error` is `None` when the point proved restorable.
pub fn record_recovery_point_validation(
    conn: &mut DbConn,
    id: &str,
    validated_at: Timestamp,
    error: Option<&str>,
) -> Result<RecoveryPointDetails> {
    let mut error = error.map(str::to_owned);
    clean_opt(&mut error);
    let n = diesel::update(recovery_points::table.find(id))
        .set((
            recovery_points::validated.eq(error.is_none()),
            recovery_points::validated_at.eq(Some(validated_at)),
            recovery_points::validation_error.eq(error.as_deref()),
        ))
        .execute(conn)
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))?;
    if n == 0 {
        return Err(RecoveryDbError::not_found(ENTITY, id));
    }
    get_recovery_point(conn, id)
}

/// Changes a recovery point's description.
pub fn update_recovery_point_description(
    conn: &mut DbConn,
    id: &str,
    description: &str,
) -> Result<RecoveryPointDetails> {
    let mut description = description.to_owned();
    clean(&mut description);
    let n = diesel::update(recovery_points::table.find(id))
        .set(recovery_points::description.eq(&description))
        .execute(conn)
        .map_err(|e| RecoveryDbError::from_diesel(ENTITY, e))?;
    if n == 0 {
        return Err(RecoveryDbError::not_found(ENTITY, id));
    }
    get_recovery_point(conn, id)
}

/// Deletes a recovery point and its pins (one transaction); the snapshots stay.
pub fn delete_recovery_point(conn: &mut DbConn, id: &str) -> Result<()> {
    conn.transaction::<_, RecoveryDbError, _>(|conn| {
        let n = diesel::delete(recovery_points::table.find(id)).execute(conn)?;
        if n == 0 {
            return Err(RecoveryDbError::not_found(ENTITY, id));
        }
        diesel::delete(
            recovery_point_snapshots::table
                .filter(recovery_point_snapshots::recovery_point_id.eq(id)),
        )
        .execute(conn)?;
        Ok(())
    })
}
