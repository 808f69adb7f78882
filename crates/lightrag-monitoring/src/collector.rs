//! The metrics collector: refreshes the state gauges from the recovery catalog and renders the
//! exposition.
//!
//! Counters are recorded at the point of operation (see [`crate::record`]); the collector only
//! mirrors state. Each refresh runs a bounded number of indexed queries: one
//! `LIMIT 1` lookup per known graph for the latest completed backup and the latest health
//! check, one read of `replication_state` and `replication_targets` (graphs × targets rows),
//! one `COUNT(*)` of recovery points. Nothing scans the event history or the snapshot history.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lightrag_recovery_db::{
    BackupFilter, BackupStatus, ComponentType, Db, HealthCheckFilter, HealthStatus, MAX_PAGE_SIZE,
    Order, Page, ReplicationStateFilter, count_recovery_points, list_backups, list_health_checks,
    list_replication_states, list_replication_targets,
};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::error::Result;
use crate::process::ProcessStats;
use crate::record;

/// Content type of the Prometheus text exposition.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Refreshes state gauges from the catalog and renders the exposition. Share it as `Arc`.
#[derive(Debug)]
pub struct MetricsCollector {
    handle: PrometheusHandle,
    db: Db,
    refresh_interval: Duration,
    graphs: RwLock<BTreeSet<String>>,
    targets: RwLock<BTreeSet<(String, String)>>,
    last_refresh: Mutex<Option<Instant>>,
}

fn system_time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

impl MetricsCollector {
    /// A collector rendering through `handle` and reading `db`. A scrape refreshes the gauges
    /// when the last refresh is older than `refresh_interval` (e.g. 5 s; zero = every scrape).
    /// Also creates the fixed-label series at 0.
    pub fn new(handle: PrometheusHandle, db: Db, refresh_interval: Duration) -> Self {
        record::register_globals();
        Self {
            handle,
            db,
            refresh_interval,
            graphs: RwLock::new(BTreeSet::new()),
            targets: RwLock::new(BTreeSet::new()),
            last_refresh: Mutex::new(None),
        }
    }

    /// Adds a known graph and creates its series at 0. Idempotent.
    pub fn register_graph(&self, graph: &str) {
        self.graphs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(graph.to_owned());
        record::register_graph(graph);
    }

    /// Adds a known (graph, target name) pair and creates its series at 0. Idempotent.
    pub fn register_target(&self, graph: &str, target: &str) {
        self.targets
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert((graph.to_owned(), target.to_owned()));
        record::register_target(graph, target);
    }

    /// Forgets a graph (its last values stay exported until restart).
    pub fn unregister_graph(&self, graph: &str) {
        self.graphs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(graph);
        self.targets
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(g, _)| g != graph);
    }

    fn known_graphs(&self) -> Vec<String> {
        self.graphs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Latest completed backup per known graph → `lightrag_backup_size_bytes`,
    /// `lightrag_backup_last_success_timestamp_seconds`.
    pub async fn collect_backup_metrics(&self) -> Result<()> {
        let graphs = self.known_graphs();
        let latest = self
            .db
            .run(move |conn| {
                let mut out = Vec::with_capacity(graphs.len());
                for g in graphs {
                    let filter = BackupFilter {
                        graph_id: Some(g.clone()),
                        status: Some(BackupStatus::Completed),
                        order: Order::NewestFirst,
                        ..BackupFilter::default()
                    };
                    if let Some(b) = list_backups(conn, &filter, Page::new(1, 0))?.pop() {
                        out.push((g, b));
                    }
                }
                Ok(out)
            })
            .await?;
        for (g, b) in latest {
            let at = b.finished_at.unwrap_or(b.created_at).unix_millis();
            record::set_latest_backup(
                &g,
                u64::try_from(b.logical_size_bytes).unwrap_or(0),
                system_time(at),
            );
        }
        Ok(())
    }

    /// Replication state → `lightrag_replication_lag_seconds{graph,target}` and target
    /// reachability → `lightrag_replication_target_up{target}` (label: the target's name).
    pub async fn collect_replication_metrics(&self) -> Result<()> {
        let (targets, states) = self
            .db
            .run(|conn| {
                let targets = list_replication_targets(conn, None, Page::new(MAX_PAGE_SIZE, 0))?;
                let states = list_replication_states(
                    conn,
                    &ReplicationStateFilter::default(),
                    Page::new(MAX_PAGE_SIZE, 0),
                )?;
                Ok((targets, states))
            })
            .await?;
        let names: BTreeMap<&str, &str> = targets
            .iter()
            .map(|t| (t.id.as_str(), t.name.as_str()))
            .collect();
        for t in &targets {
            match t.last_status {
                Some(HealthStatus::Offline) => record::set_target_up(&t.name, false),
                Some(_) => record::set_target_up(&t.name, true),
                None => {}
            }
        }
        for s in &states {
            let target = names
                .get(s.target_id.as_str())
                .copied()
                .unwrap_or(&s.target_id);
            if let Some(lag) = s.lag_ms {
                record::set_replication_lag(
                    &s.graph_id,
                    target,
                    Duration::from_millis(u64::try_from(lag).unwrap_or(0)),
                );
            }
        }
        Ok(())
    }

    /// `lightrag_recovery_points` from a `COUNT(*)` of the catalog.
    pub async fn collect_recovery_metrics(&self) -> Result<()> {
        let n = self.db.run(count_recovery_points).await?;
        record::set_recovery_points(u64::try_from(n).unwrap_or(0));
        Ok(())
    }

    /// Latest health check per known graph → `lightrag_graph_health_status`; DB pool gauges.
    pub async fn collect_health_metrics(&self) -> Result<()> {
        record::set_db_pool(self.db.state());
        let graphs = self.known_graphs();
        let latest = self
            .db
            .run(move |conn| {
                let mut out = Vec::with_capacity(graphs.len());
                for g in graphs {
                    let filter = HealthCheckFilter {
                        component_type: Some(ComponentType::Graph),
                        component_id: Some(g.clone()),
                        order: Order::NewestFirst,
                        ..HealthCheckFilter::default()
                    };
                    if let Some(h) = list_health_checks(conn, &filter, Page::new(1, 0))?.pop() {
                        out.push((g, h.status));
                    }
                }
                Ok(out)
            })
            .await?;
        for (g, status) in latest {
            record::set_graph_health(&g, status);
        }
        Ok(())
    }

    /// Runs every `collect_*` now. Every part runs even if one fails; the first error is
    /// returned.
    pub async fn collect_all(&self) -> Result<()> {
        let results = [
            self.collect_backup_metrics().await,
            self.collect_replication_metrics().await,
            self.collect_recovery_metrics().await,
            self.collect_health_metrics().await,
        ];
        *self.last_refresh.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        results.into_iter().collect::<Result<Vec<()>>>().map(|_| ())
    }

    /// The exposition for a scrape (serve with [`PROMETHEUS_CONTENT_TYPE`]). Refreshes the
    /// gauges first when the last refresh is older than the refresh interval; a failed refresh
    /// is logged and the last values are served (a scrape never fails because the catalog is
    /// down). Process metrics are read from `/proc` at this moment.
    pub async fn export_to_prometheus(&self) -> String {
        let due = self
            .last_refresh
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none_or(|t| t.elapsed() >= self.refresh_interval);
        if due {
            if let Err(e) = self.collect_all().await {
                tracing::warn!(error = %lightrag_config::ErrorChain(&e), "Metrics refresh from the recovery database failed; serving the last values");
            }
        } else {
            record::set_db_pool(self.db.state());
        }
        self.render()
    }

    /// Renders without refreshing (recorder samples plus process metrics).
    pub fn render(&self) -> String {
        let mut out = self.handle.render();
        if let Some(p) = ProcessStats::read() {
            if !out.is_empty() && !out.ends_with("\n\n") {
                out.push('\n');
            }
            p.render(&mut out);
        }
        out
    }

    /// The recorder handle (e.g. for `run_upkeep`).
    pub fn handle(&self) -> &PrometheusHandle {
        &self.handle
    }
}
