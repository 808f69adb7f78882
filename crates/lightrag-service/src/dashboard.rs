//! What the health dashboard shows: one report assembled from the health monitor, the catalog
//! and the workers, and the narrower views the dashboard's JSON paths serve.

use std::sync::Arc;

use lightrag_recovery::{ComponentHealth, HealthReport};
use lightrag_recovery_db::{
    BackupFilter, BackupRecord, ComponentType, Event, EventFilter, EventKind, HealthStatus, Order,
    Page, RecoveryPoint, RecoveryPointFilter, ReplicationState, ReplicationStateFilter,
    ReplicationTarget, Severity, Timestamp,
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
    /// Only statuses are shown: an API key is configured and the request did not present it.
    pub limited: bool,
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
