//! The composed service: one value built once from the configuration, shared as `Arc`.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use lightrag_backup::Repository;
use lightrag_config::Config;
use lightrag_monitoring::{EventLogger, EventLoggerConfig, MetricsCollector};
use lightrag_recovery::{HealthMonitor, RecoveryManager};
use lightrag_recovery_db::Db;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::error::{Result, ServiceError};
use crate::jobs::Jobs;
use crate::settings;
use crate::workers::Workers;

/// How long a CLI command waits for the catalog before going on without it.
const COMMAND_CATALOG_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a scrape refreshes the state gauges from the catalog (at most).
const METRICS_REFRESH: Duration = Duration::from_secs(5);

/// Who opens the service, which decides what start-up must succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The long-running server: the catalog must open and migrate, the repository must open
    /// (it is created when missing), discovered graphs are registered and the catalog is
    /// reconciled with the repository.
    Server,
    /// One CLI command: the catalog is used when it answers (a backup still works while it is
    /// down: the snapshot reaches the catalog when it returns); the repository is opened when
    /// an operation needs it.
    Command {
        /// Create the repository when missing (commands that write a first snapshot).
        create_repository: bool,
    },
}

/// How to build the service.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// Server or command.
    pub mode: Mode,
    /// The installed Prometheus recorder, when metrics are exposed.
    pub metrics: Option<PrometheusHandle>,
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

/// Sends the recovery crate's events through the buffered event log.
#[derive(Debug)]
struct LoggerSink(EventLogger);

impl lightrag_recovery::EventSink for LoggerSink {
    fn emit(&self, event: lightrag_recovery_db::NewEvent) {
        self.0.log(event);
    }
}

/// The lightrag-ops service. Every operation is one method that does all of it — graph
/// location and exclusions, locks, catalog rows, events, metrics, replication after backup —
/// so the CLI, the HTTP API and the scheduler cannot drift apart.
#[derive(Debug)]
pub struct Service {
    pub(crate) config: Arc<Config>,
    pub(crate) db: Db,
    repo: std::sync::OnceLock<std::result::Result<Repository, String>>,
    create_repository: bool,
    pub(crate) recovery: Arc<RecoveryManager>,
    pub(crate) health: Arc<HealthMonitor>,
    pub(crate) events: EventLogger,
    pub(crate) metrics: Option<Arc<MetricsCollector>>,
    pub(crate) receiver: Option<Arc<lightrag_replication::Receiver>>,
    pub(crate) jobs: Arc<Jobs>,
    pub(crate) workers: Workers,
    pub(crate) readiness: Arc<Readiness>,
    /// Unprotected folders already logged: each is logged once while it stays unprotected.
    pub(crate) unprotected_logged: std::sync::Mutex<std::collections::BTreeSet<std::path::PathBuf>>,
}

impl Service {
    /// Builds the service from `config`. Blocking (catalog, repository, discovery); must run
    /// inside a tokio runtime (the event log's writer is spawned on it).
    pub fn open(config: Config, opts: ServiceOptions) -> Result<Self> {
        let config = Arc::new(config);
        let server = opts.mode == Mode::Server;
        let db = if server {
            settings::open_db(&config)?
        } else {
            // One command: the catalog is used when it answers. Unreachable, it costs one
            // short probe, then every catalog call fails fast (the breaker is open): a backup
            // or a repository command still works, its events are counted as dropped.
            let db = settings::open_db_lazily(&config, COMMAND_CATALOG_TIMEOUT)?;
            if let Err(e) = db.probe(COMMAND_CATALOG_TIMEOUT) {
                tracing::warn!(error = %crate::error::chain(&e), "The recovery database is unavailable; operations that need it will fail");
            }
            db
        };
        match db.migrate() {
            Ok(applied) => {
                if !applied.is_empty() {
                    tracing::info!(
                        count = applied.len(),
                        "Applied recovery database migrations"
                    );
                }
            }
            // Already reported by the probe.
            Err(e) if !server && e.is_unavailable() => {}
            Err(e) => {
                return Err(ServiceError::context(
                    "migrating the recovery database (LIGHTRAG_RECOVERY_DB_URL)",
                    e,
                ));
            }
        };
        let (repo, create_repository) = match opts.mode {
            Mode::Server => (
                std::sync::OnceLock::from(Ok(settings::open_repository(&config, true)?)),
                true,
            ),
            // Opened when an operation first needs it (a command about targets never waits
            // on an object store).
            Mode::Command { create_repository } => (std::sync::OnceLock::new(), create_repository),
        };
        let events = EventLogger::start(db.clone(), EventLoggerConfig::default());
        let sink = Arc::new(LoggerSink(events.clone()));
        let recovery = Arc::new(
            RecoveryManager::new(db.clone(), settings::recovery_options(&config))
                .with_event_sink(sink.clone()),
        );
        let health = Arc::new(
            HealthMonitor::new(db.clone(), settings::health_options(&config)).with_event_sink(sink),
        );
        let metrics = opts
            .metrics
            .map(|h| Arc::new(MetricsCollector::new(h, db.clone(), METRICS_REFRESH)));
        let svc = Self {
            // Only the server receives replicas.
            receiver: if server {
                settings::receiver(&config)
            } else {
                None
            },
            config,
            db,
            repo,
            create_repository,
            recovery,
            health,
            events,
            metrics,
            jobs: Arc::new(Jobs::new(tokio::runtime::Handle::try_current().ok())),
            workers: Workers::default(),
            readiness: Arc::new(Readiness::default()),
            unprotected_logged: std::sync::Mutex::default(),
        };
        if server {
            // Start-up: every discovered graph in the catalog, the catalog in step with the
            // repository. (Commands never rewrite graph rows.)
            let graphs = svc.register_discovered_graphs()?;
            if let Some(m) = &svc.metrics {
                for g in &graphs {
                    m.register_graph(g);
                }
            }
            let report = svc.rebuild_catalog()?;
            tracing::info!(
                graphs = graphs.len(),
                snapshots = report.snapshots,
                inserted = report.inserted,
                "Catalog reconciled with the repository"
            );
            svc.readiness.set("database", Ok(()));
            svc.readiness.set("repository", Ok(()));
        }
        Ok(svc)
    }

    /// The configuration the service was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The configuration, shared.
    pub fn shared_config(&self) -> Arc<Config> {
        self.config.clone()
    }

    /// The recovery catalog.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The primary backup repository, or why it could not be opened.
    pub fn repo(&self) -> Result<&Repository> {
        self.repo
            .get_or_init(|| {
                settings::open_repository(&self.config, self.create_repository)
                    .map_err(|e| crate::error::chain(&e))
            })
            .as_ref()
            .map_err(|e| {
                ServiceError::context(
                    "the backup repository is not available",
                    ServiceError::internal(e.clone()),
                )
            })
    }

    /// The buffered event log.
    pub fn events(&self) -> &EventLogger {
        &self.events
    }

    /// The metrics collector, when metrics are exposed.
    pub fn metrics(&self) -> Option<&Arc<MetricsCollector>> {
        self.metrics.as_ref()
    }

    /// The receiver of peer replicas (`None` without an API key).
    pub fn receiver(&self) -> Option<&Arc<lightrag_replication::Receiver>> {
        self.receiver.as_ref()
    }

    /// Long operations started through the API.
    pub fn jobs(&self) -> &Arc<Jobs> {
        &self.jobs
    }

    /// Background workers and their status.
    pub fn workers(&self) -> &Workers {
        &self.workers
    }

    /// What `/readyz` reports.
    pub fn readiness(&self) -> &Arc<Readiness> {
        &self.readiness
    }

    /// Stops the background workers (running units get until `deadline`), waits for the API's
    /// jobs, then stores what the event log still holds. Without started workers (a CLI
    /// command) it drains the event log only.
    pub async fn shutdown(&self, deadline: Duration) {
        if self.workers.is_empty() {
            self.jobs.wait_idle(deadline).await;
            self.events.shutdown_within(deadline).await;
        } else {
            self.workers.shutdown(deadline).await;
        }
    }
}
