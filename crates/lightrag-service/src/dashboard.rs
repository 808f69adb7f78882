//! What the health dashboard shows: one report assembled from the health monitor, the catalog
//! and the workers, and the narrower views the dashboard's JSON paths serve.

use std::sync::Arc;

use lightrag_backup::{CountDelta, LightRagSummary};
use lightrag_recovery::{ComponentHealth, HealthReport, SkippedEntry};
use lightrag_recovery_db::{
    BackupFilter, BackupRecord, BackupStatus, ComponentType, DaySeverityCount, DbConn, Event,
    EventFilter, EventKind, HealthStatus, Order, Page, RecoveryPoint, RecoveryPointFilter,
    ReplicationState, ReplicationStateFilter, ReplicationTarget, Severity, Timestamp,
};
use serde::Serialize;

use crate::error::{Result, ServiceError};
use crate::service::Service;
use crate::workers::WorkerStatus;

/// Everything the dashboard shows.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Dashboard {
    /// When this report was assembled.
    pub generated_at: Timestamp,
    /// Worst status of all.
    pub overall: HealthStatus,
    /// When the health report was taken.
    pub checked_at: Timestamp,
    /// Per graph.
    pub graphs: Vec<ComponentHealth>,
    /// Database, repository, targets.
    pub components: Vec<ComponentHealth>,
    /// Newest backups.
    pub recent_backups: Vec<BackupRecord>,
    /// Targets and their per-graph state.
    pub replication: Vec<TargetStatus>,
    /// Newest events of severity error or worse.
    pub critical_events: Vec<Event>,
    /// Newest replication events.
    pub replication_history: Vec<Event>,
    /// Newest recovery points.
    pub recovery_points: Vec<RecoveryPoint>,
    /// Every background worker.
    pub scheduler: Vec<WorkerStatus>,
    /// Folders that hold LightRAG files but are not protected, with the reason.
    pub unprotected: Vec<SkippedEntry>,
    /// Per graph, its newest backups and replication lags, oldest first (the charts).
    pub history: Vec<GraphHistory>,
    /// Events per UTC day and severity over the last [`HISTORY_DAYS`] days.
    pub events_per_day: Vec<DaySeverityCount>,
    /// Only statuses are shown: an API key is configured and the request did not present it.
    pub limited: bool,
}

/// Days of events the dashboard charts.
pub const HISTORY_DAYS: i64 = 14;
/// Backups per graph the dashboard charts.
pub const HISTORY_BACKUPS: u32 = 30;
/// Replication lag samples per graph the dashboard charts.
pub const HISTORY_LAGS: u32 = 60;

/// One backup on a chart.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BackupPoint {
    /// When it started.
    pub at: Timestamp,
    /// Snapshot id.
    pub snapshot_id: String,
    /// Outcome.
    pub status: BackupStatus,
    /// Size of the graph's files.
    pub logical_bytes: i64,
    /// Bytes this backup added to the repository (after deduplication and compression).
    pub new_bytes: i64,
    /// How long it took.
    pub duration_ms: Option<i64>,
}

/// One replication lag sample (from a `replication.completed` event).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LagPoint {
    /// When the sync ended.
    pub at: Timestamp,
    /// Target id.
    pub target_id: String,
    /// How far the target was behind the repository after the sync.
    pub lag_ms: i64,
}

/// A graph's history for the charts, oldest first.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GraphHistory {
    /// Graph id.
    pub graph_id: String,
    /// Its newest backups (at most [`HISTORY_BACKUPS`]).
    pub backups: Vec<BackupPoint>,
    /// Its newest replication lags (at most [`HISTORY_LAGS`], every target).
    pub lags: Vec<LagPoint>,
}

/// A snapshot of a graph with its LightRAG counts and what changed since the one before.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SnapshotRow {
    /// The catalog row.
    pub backup: BackupRecord,
    /// Documents, chunks, entities, relations, vectors in it (absent: not recorded).
    pub counts: Vec<CountDelta>,
    /// The snapshot the change is counted from: the next older one with counts, if any.
    pub previous: Option<String>,
}

/// The graph detail page: health, snapshots with counts and the graph-level diff between
/// consecutive ones, charts, recovery points holding the graph, replication, events.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GraphPage {
    /// When this page was assembled.
    pub generated_at: Timestamp,
    /// Health with reasons.
    pub graph: ComponentHealth,
    /// When the health report was taken.
    pub checked_at: Timestamp,
    /// Newest snapshots first; each `counts` holds the values (`b`) and the change from the
    /// next older one (`delta`).
    pub snapshots: Vec<SnapshotRow>,
    /// Charts.
    pub history: GraphHistory,
    /// Events per UTC day and severity over the last [`HISTORY_DAYS`] days.
    pub events_per_day: Vec<DaySeverityCount>,
    /// Newest recovery points holding the graph.
    pub recovery_points: Vec<RecoveryPoint>,
    /// Per target.
    pub replication: Vec<ReplicationState>,
    /// Newest events of the graph.
    pub events: Vec<Event>,
}

impl Dashboard {
    /// The health report alone, every other list empty (nothing queried).
    fn from_report(report: &HealthReport) -> Self {
        Self {
            generated_at: Timestamp::now(),
            overall: report.overall,
            checked_at: report.checked_at,
            graphs: report.graphs.clone(),
            components: report.components.clone(),
            recent_backups: Vec::new(),
            replication: Vec::new(),
            critical_events: Vec::new(),
            replication_history: Vec::new(),
            recovery_points: Vec::new(),
            scheduler: Vec::new(),
            unprotected: report.unprotected.clone(),
            history: Vec::new(),
            events_per_day: Vec::new(),
            limited: false,
        }
    }

    /// What a client without the API key may see: overall and per-graph status, no reasons,
    /// paths, targets, events, errors, recovery points or workers.
    pub fn limit(mut self) -> Self {
        for g in self.graphs.iter_mut().chain(self.components.iter_mut()) {
            g.reasons.clear();
            g.path = None;
        }
        self.components
            .retain(|c| c.component_type != ComponentType::Target);
        self.recent_backups.clear();
        self.replication.clear();
        self.critical_events.clear();
        self.replication_history.clear();
        self.recovery_points.clear();
        self.scheduler.clear();
        self.history.clear();
        self.events_per_day.clear();
        // How many folders are unprotected is a status; where they are and why is not.
        for u in &mut self.unprotected {
            u.path = std::path::PathBuf::new();
            u.reason.clear();
        }
        self.limited = true;
        self
    }
}

/// A replication target with its per-graph state (the secret is never included).
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TargetStatus {
    /// The target.
    pub target: ReplicationTarget,
    /// Its state per graph.
    pub graphs: Vec<ReplicationState>,
}

/// One graph's page: health with reasons, latest backups, replication state.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GraphStatus {
    /// Health with reasons.
    pub graph: ComponentHealth,
    /// When the health report was taken.
    pub checked_at: Timestamp,
    /// Newest backups.
    pub recent_backups: Vec<BackupRecord>,
    /// Per target.
    pub replication: Vec<ReplicationState>,
}

/// Per graph: snapshot count and the latest backup.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GraphBackups {
    /// Graph id.
    pub graph_id: String,
    /// Snapshots in the catalog.
    pub snapshots: i64,
    /// The newest one.
    pub latest: Option<BackupRecord>,
}

impl Service {
    /// The whole dashboard (the health report is the last one, or a fresh one).
    pub fn dashboard(&self) -> Result<Dashboard> {
        let report = self.health();
        let mut c = self.db.conn()?;
        let recent_backups = lightrag_recovery_db::list_backups(
            &mut c,
            &BackupFilter {
                order: Order::NewestFirst,
                ..BackupFilter::default()
            },
            Page::new(20, 0),
        )?;
        let critical_events = lightrag_recovery_db::list_events(
            &mut c,
            &EventFilter {
                min_severity: Some(Severity::Error),
                order: Order::NewestFirst,
                ..EventFilter::default()
            },
            Page::new(20, 0),
        )?;
        let replication_history = lightrag_recovery_db::list_events(
            &mut c,
            &EventFilter {
                kind: Some(EventKind::Replication),
                order: Order::NewestFirst,
                ..EventFilter::default()
            },
            Page::new(10, 0),
        )?;
        let recovery_points = lightrag_recovery_db::list_recovery_points(
            &mut c,
            &RecoveryPointFilter::default(),
            Page::new(10, 0),
        )?
        .into_iter()
        .map(|p| p.point)
        .collect();
        // The graphs the page shows, then any other graph with backups in the catalog (a
        // folder removed since, a graph registered after the last health check).
        let mut charted: Vec<String> = report.graphs.iter().map(|g| g.id.clone()).collect();
        let shown: std::collections::HashSet<String> = charted.iter().cloned().collect();
        charted.extend(
            lightrag_recovery_db::backup_graph_ids(&mut c)?
                .into_iter()
                .filter(|g| !shown.contains(g)),
        );
        let history = histories(&mut c, &charted)?;
        let events_per_day = events_per_day(&mut c, None)?;
        drop(c);
        Ok(Dashboard {
            generated_at: Timestamp::now(),
            overall: report.overall,
            checked_at: report.checked_at,
            graphs: report.graphs.clone(),
            components: report.components.clone(),
            recent_backups,
            replication: self.replication_targets_status()?,
            critical_events,
            replication_history,
            recovery_points,
            scheduler: self.workers.status(),
            unprotected: report.unprotected.clone(),
            history,
            events_per_day,
            limited: false,
        })
    }

    /// The limited dashboard (see [`Dashboard::limit`]) from the last health report only: no
    /// catalog query, no file read, no health check. `None` until the first report exists
    /// (the health worker checks at start-up; with `LIGHTRAG_HEALTH_CHECK_INTERVAL=0` only a
    /// full view, [`Service::health`], makes one). What anonymous `/health` serves, so a burst
    /// of unauthenticated requests costs no I/O.
    pub fn limited_dashboard(&self) -> Option<Dashboard> {
        self.latest_health()
            .map(|report| Dashboard::from_report(&report).limit())
    }

    /// The health report the dashboard's status path serves, and the workers.
    pub fn health_status(&self) -> (Arc<HealthReport>, Vec<WorkerStatus>) {
        (self.health(), self.workers.status())
    }

    /// One graph: health with reasons, latest backups, replication state.
    pub fn graph_status(&self, id: &lightrag_backup::GraphId) -> Result<GraphStatus> {
        let report = self.health();
        let graph = report.graph(id).cloned().ok_or_else(|| {
            ServiceError::not_found(format!(
                "graph `{id}` is not known; list graphs at /api/v1/graphs"
            ))
        })?;
        let mut c = self.db.conn()?;
        let recent_backups = lightrag_recovery_db::list_backups(
            &mut c,
            &BackupFilter {
                graph_id: Some(id.to_string()),
                order: Order::NewestFirst,
                ..BackupFilter::default()
            },
            Page::new(10, 0),
        )?;
        let replication = lightrag_recovery_db::list_replication_states(
            &mut c,
            &ReplicationStateFilter {
                graph_id: Some(id.to_string()),
                ..ReplicationStateFilter::default()
            },
            Page::new(1000, 0),
        )?;
        Ok(GraphStatus {
            graph,
            checked_at: report.checked_at,
            recent_backups,
            replication,
        })
    }

    /// The graph detail page (see [`GraphPage`]).
    pub fn graph_page(&self, id: &lightrag_backup::GraphId) -> Result<GraphPage> {
        let report = self.health();
        let graph = report.graph(id).cloned().ok_or_else(|| {
            ServiceError::not_found(format!(
                "graph `{id}` is not known; list graphs at /api/v1/graphs"
            ))
        })?;
        let mut c = self.db.conn()?;
        let backups = lightrag_recovery_db::list_backups(
            &mut c,
            &BackupFilter {
                graph_id: Some(id.to_string()),
                order: Order::NewestFirst,
                ..BackupFilter::default()
            },
            Page::new(HISTORY_BACKUPS + 1, 0),
        )?;
        let snapshots = snapshot_rows(backups);
        let mut history = histories(&mut c, &[id.to_string()])?;
        let history = history.pop().unwrap_or_else(|| GraphHistory {
            graph_id: id.to_string(),
            backups: Vec::new(),
            lags: Vec::new(),
        });
        let events_per_day = events_per_day(&mut c, Some(id))?;
        let recovery_points = lightrag_recovery_db::list_recovery_points(
            &mut c,
            &RecoveryPointFilter {
                graph_id: Some(id.to_string()),
                order: Order::NewestFirst,
                ..RecoveryPointFilter::default()
            },
            Page::new(20, 0),
        )?
        .into_iter()
        .map(|p| p.point)
        .collect();
        let replication = lightrag_recovery_db::list_replication_states(
            &mut c,
            &ReplicationStateFilter {
                graph_id: Some(id.to_string()),
                ..ReplicationStateFilter::default()
            },
            Page::new(1000, 0),
        )?;
        let events = lightrag_recovery_db::list_events(
            &mut c,
            &EventFilter {
                graph_id: Some(id.to_string()),
                order: Order::NewestFirst,
                ..EventFilter::default()
            },
            Page::new(30, 0),
        )?;
        Ok(GraphPage {
            generated_at: Timestamp::now(),
            graph,
            checked_at: report.checked_at,
            snapshots,
            history,
            events_per_day,
            recovery_points,
            replication,
            events,
        })
    }

    /// Per graph: snapshot count, latest backup and its status.
    pub fn backups_summary(&self) -> Result<Vec<GraphBackups>> {
        let graphs = self.catalog_graph_ids()?;
        let mut c = self.db.conn()?;
        let mut out = Vec::with_capacity(graphs.len());
        for g in graphs {
            let filter = BackupFilter {
                graph_id: Some(g.clone()),
                order: Order::NewestFirst,
                ..BackupFilter::default()
            };
            let snapshots = lightrag_recovery_db::count_backups(&mut c, &filter)?;
            let latest = lightrag_recovery_db::list_backups(&mut c, &filter, Page::new(1, 0))?
                .into_iter()
                .next();
            out.push(GraphBackups {
                graph_id: g,
                snapshots,
                latest,
            });
        }
        Ok(out)
    }

    /// Every replication target (no secrets) with its per-graph state.
    pub fn replication_targets_status(&self) -> Result<Vec<TargetStatus>> {
        let mut c = self.db.conn()?;
        let targets =
            lightrag_recovery_db::list_replication_targets(&mut c, None, Page::new(1000, 0))?;
        let states = lightrag_recovery_db::list_replication_states(
            &mut c,
            &ReplicationStateFilter::default(),
            Page::new(10_000, 0),
        )?;
        Ok(targets
            .into_iter()
            .map(|t| {
                let graphs = states
                    .iter()
                    .filter(|s| s.target_id == t.id)
                    .cloned()
                    .collect();
                TargetStatus { target: t, graphs }
            })
            .collect())
    }
}

/// Newest first, at most [`HISTORY_BACKUPS`] rows, each with its counts and the graph-level
/// diff from the next older row that has counts (a failed or running backup has none); the
/// list holds one more row than shown for the last diff.
fn snapshot_rows(backups: Vec<BackupRecord>) -> Vec<SnapshotRow> {
    let summary = |b: &BackupRecord| -> Option<LightRagSummary> {
        serde_json::from_str(b.summary_json.as_deref()?).ok()
    };
    let summaries: Vec<Option<LightRagSummary>> = backups.iter().map(summary).collect();
    let mut rows = Vec::with_capacity(backups.len().min(HISTORY_BACKUPS as usize));
    for (i, backup) in backups.iter().enumerate().take(HISTORY_BACKUPS as usize) {
        let empty = LightRagSummary::default();
        let this = summaries[i].as_ref();
        let older = (i + 1..backups.len()).find(|j| summaries[*j].is_some());
        let counts = match this {
            None => Vec::new(),
            Some(this) => {
                let base = older.and_then(|j| summaries[j].as_ref());
                lightrag_backup::graph_deltas(base.unwrap_or(&empty), this)
                    .into_iter()
                    .map(|mut d| {
                        if base.is_none() {
                            d.a = None;
                            d.delta = None;
                        }
                        d
                    })
                    .collect()
            }
        };
        rows.push(SnapshotRow {
            backup: backup.clone(),
            counts,
            previous: older.map(|j| backups[j].snapshot_id.clone()),
        });
    }
    rows
}

/// Chart data of each of `graphs` (in that order): its newest [`HISTORY_BACKUPS`] backups, one
/// indexed query per graph, so a graph with few backups keeps its chart however busy the
/// others are; and its newest [`HISTORY_LAGS`] replication lags (`replication.completed` events
/// that carry `details.lag_ms`), from one query of the newest `HISTORY_LAGS` × graphs such
/// events (the `(kind, occurred_at)` index: a per-graph lag query would walk the whole event
/// history of a graph that is not replicated). Graphs with neither are left out.
fn histories(c: &mut DbConn, graphs: &[String]) -> Result<Vec<GraphHistory>> {
    let mut out: Vec<GraphHistory> = Vec::with_capacity(graphs.len());
    for g in graphs {
        let backups = lightrag_recovery_db::list_backups(
            c,
            &BackupFilter {
                graph_id: Some(g.clone()),
                order: Order::NewestFirst,
                ..BackupFilter::default()
            },
            Page::new(HISTORY_BACKUPS, 0),
        )?;
        out.push(GraphHistory {
            graph_id: g.clone(),
            backups: backups
                .into_iter()
                .rev()
                .map(|b| BackupPoint {
                    at: b.created_at,
                    snapshot_id: b.snapshot_id,
                    status: b.status,
                    logical_bytes: b.logical_size_bytes,
                    new_bytes: b.stored_size_bytes,
                    duration_ms: b.duration_ms,
                })
                .collect(),
            lags: Vec::new(),
        });
    }
    let syncs = lightrag_recovery_db::list_events(
        c,
        &EventFilter {
            graph_id: match graphs {
                [one] => Some(one.clone()),
                _ => None,
            },
            kind: Some(EventKind::Replication),
            event_type: Some("replication.completed".to_owned()),
            order: Order::NewestFirst,
            ..EventFilter::default()
        },
        Page::new(
            HISTORY_LAGS.saturating_mul(u32::try_from(graphs.len()).unwrap_or(u32::MAX)),
            0,
        ),
    )?;
    let at: std::collections::HashMap<&str, usize> = graphs
        .iter()
        .enumerate()
        .map(|(i, g)| (g.as_str(), i))
        .collect();
    // Newest first: each graph keeps its newest HISTORY_LAGS, then they are put in time order.
    for e in syncs {
        let (Some(i), Some(target)) = (
            e.graph_id.as_deref().and_then(|g| at.get(g).copied()),
            e.target_id.clone(),
        ) else {
            continue;
        };
        let Some(lag_ms) = e
            .details_json()
            .and_then(|d| d.get("lag_ms").and_then(serde_json::Value::as_i64))
        else {
            continue;
        };
        if out[i].lags.len() < HISTORY_LAGS as usize {
            out[i].lags.push(LagPoint {
                at: e.occurred_at,
                target_id: target,
                lag_ms,
            });
        }
    }
    for h in &mut out {
        h.lags.reverse();
    }
    out.retain(|h| !h.backups.is_empty() || !h.lags.is_empty());
    Ok(out)
}

/// Events per day and severity over the last [`HISTORY_DAYS`] days.
fn events_per_day(
    c: &mut DbConn,
    graph: Option<&lightrag_backup::GraphId>,
) -> Result<Vec<DaySeverityCount>> {
    let since = Timestamp::from_unix_millis(
        Timestamp::now().unix_millis() - (HISTORY_DAYS - 1) * 86_400_000,
    );
    Ok(lightrag_recovery_db::events_per_day(
        c,
        since,
        graph.map(|g| g.as_str()),
    )?)
}
