//! Shared application state handed to every handler.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use lightrag_backup::Repository;
use lightrag_config::Config;
use lightrag_monitoring::{EventLogger, MetricsCollector};
use lightrag_recovery::{HealthMonitor, RecoveryManager};
use lightrag_recovery_db::Db;

use crate::jobs::Jobs;
use crate::scheduler::Scheduler;

/// State shared by all workers (cheap to clone: `Arc` fields).
#[derive(Clone, Debug)]
pub struct AppState {
    /// The configuration the server started with.
    pub config: Arc<Config>,
    /// The recovery catalog.
    pub db: Db,
    /// The backup repository.
    pub repo: Repository,
    /// Recovery points, validation, restore orchestration, catalog upkeep.
    pub recovery: Arc<RecoveryManager>,
    /// Graph and component health (checked on an interval; reads serve the last report).
    pub health: Arc<HealthMonitor>,
    /// The buffered event log.
    pub events: EventLogger,
    /// State gauges and the exposition; `None` when metrics are disabled.
    pub metrics: Option<Arc<MetricsCollector>>,
    /// Long operations.
    pub jobs: Arc<Jobs>,
    /// Where peers' replicas are received (`None`: receiving is off without an API key).
    pub receiver: Option<Arc<lightrag_replication::Receiver>>,
    /// Background tasks.
    pub scheduler: Arc<Scheduler>,
    /// The last serialised `/api/v1/health-dashboard/status` answer.
    pub(crate) status_cache: Arc<crate::routes::StatusCache>,
    /// What `/readyz` reports.
    pub readiness: Arc<Readiness>,
}

/// Readiness of the server's dependencies: ready when every registered component is ok.
#[derive(Debug, Default)]
pub struct Readiness {
    components: RwLock<BTreeMap<String, Result<(), String>>>,
}

impl Readiness {
    /// Records the state of one component (`Err` holds the reason shown by `/readyz`).
    pub fn set(&self, component: &str, state: Result<(), String>) {
        let mut map = self.components.write().unwrap_or_else(|p| p.into_inner());
        map.insert(component.to_owned(), state);
    }

    /// `Ok` when every component is ready, else the reasons of those that are not. A server
    /// with no component registered yet is not ready.
    pub fn check(&self) -> Result<Vec<String>, Vec<String>> {
        let map = self.components.read().unwrap_or_else(|p| p.into_inner());
        if map.is_empty() {
            return Err(vec!["starting: no component is ready yet".to_owned()]);
        }
        let bad: Vec<String> = map
            .iter()
            .filter_map(|(k, v)| v.as_ref().err().map(|e| format!("{k}: {e}")))
            .collect();
        if bad.is_empty() {
            Ok(map.keys().cloned().collect())
        } else {
            Err(bad)
        }
    }
}
