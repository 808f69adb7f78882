//! Start-up: bind the listeners, build the application, run until SIGTERM/SIGINT.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::{Context as _, bail};
use lightrag_config::Config;
use lightrag_monitoring::{
    EventLogger, EventLoggerConfig, MetricsCollector, PROMETHEUS_CONTENT_TYPE,
};
use lightrag_recovery::{HealthMonitor, RecoveryManager};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::jobs::Jobs;
use crate::middleware::record_duration;
use crate::routes;
use crate::scheduler::Scheduler;
use crate::state::{AppState, Readiness};
use crate::telemetry;
use crate::wiring;

/// How long in-flight requests may take to finish after a shutdown signal.
const SHUTDOWN_TIMEOUT_SECS: u64 = 30;
/// How often the database probe runs (it feeds `/readyz` and the catalog's circuit breaker).
const DB_PROBE_INTERVAL: Duration = Duration::from_millis(500);
/// How long one probe waits for a connection: an outage is noticed within about
/// `DB_PROBE_INTERVAL + DB_PROBE_TIMEOUT`.
const DB_PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long the event log may take to store what is queued at shutdown (after the HTTP
/// servers stopped); what remains then is counted as dropped.
const EVENT_DRAIN_DEADLINE: Duration = Duration::from_secs(10);
/// How often a scrape refreshes the state gauges from the catalog (at most).
const METRICS_REFRESH: Duration = Duration::from_secs(5);
/// How often the Prometheus recorder's histograms are compacted.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// A server whose listeners are bound (so bind errors have already surfaced) but not yet run.
pub struct Listening {
    /// Address of the HTTP API.
    pub api_addr: SocketAddr,
    /// Address of the Prometheus listener, when metrics are enabled.
    pub metrics_addr: Option<SocketAddr>,
    /// The state shared by the handlers.
    pub state: AppState,
    api: Server,
    metrics: Option<Server>,
}

/// Validates the configuration against the network policy, binds every listener and builds the
/// application. Errors name the variable to change.
pub async fn bind(config: Config) -> anyhow::Result<Listening> {
    if !config.binds_loopback() && config.api_key.is_none() && !config.allow_insecure {
        bail!(
            "refusing to bind LIGHTRAG_HOST={} (not a loopback address) without an API key: \
             set LIGHTRAG_API_KEY (or LIGHTRAG_API_KEY_FILE), bind 127.0.0.1, or set \
             LIGHTRAG_ALLOW_INSECURE=true to accept an open API",
            config.host
        );
    }
    let handle = if config.metrics_enabled {
        Some(telemetry::prometheus_handle().context("installing the Prometheus recorder")?)
    } else {
        None
    };
    let api_listener = TcpListener::bind((config.host, config.port)).with_context(|| {
        format!(
            "cannot bind the HTTP API on {}:{} (LIGHTRAG_HOST/LIGHTRAG_PORT); choose another \
             port or stop the process using it",
            config.host, config.port
        )
    })?;
    let metrics_listener = match &handle {
        Some(_) => Some(
            TcpListener::bind((config.metrics_host, config.metrics_port)).with_context(|| {
                format!(
                    "cannot bind the metrics listener on {}:{} (LIGHTRAG_METRICS_HOST/LIGHTRAG_METRICS_PORT); \
                     choose another port, stop the process using it, or set LIGHTRAG_METRICS_ENABLED=false",
                    config.metrics_host, config.metrics_port
                )
            })?,
        ),
        None => None,
    };
    let state = build_state(config, handle).await?;
    let api_addr = api_listener.local_addr()?;
    let api = api_server(state.clone(), api_listener)?;
    let (metrics_addr, metrics_server) = match (&state.metrics, metrics_listener) {
        (Some(collector), Some(listener)) => (
            Some(listener.local_addr()?),
            Some(metrics_server(
                collector.clone(),
                listener,
                state.config.metrics_token.clone(),
            )?),
        ),
        _ => (None, None),
    };
    state.readiness.set("startup", Ok(()));
    Ok(Listening {
        api_addr,
        metrics_addr,
        state,
        api,
        metrics: metrics_server,
    })
}

impl std::fmt::Debug for Listening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listening")
            .field("api_addr", &self.api_addr)
            .field("metrics_addr", &self.metrics_addr)
            .finish_non_exhaustive()
    }
}

impl Listening {
    /// Handles that stop the servers (graceful).
    pub fn handles(&self) -> Vec<ServerHandle> {
        std::iter::once(self.api.handle())
            .chain(self.metrics.as_ref().map(Server::handle))
            .collect()
    }

    /// Runs until every server has stopped (through [`Listening::handles`] or a signal).
    pub async fn run(self) -> anyhow::Result<()> {
        let handles = self.handles();
        let scheduler = self.state.scheduler.clone();
        actix_web::rt::spawn(async move {
            wait_for_signal().await;
            tracing::info!("Shutting down: finishing in-flight requests");
            scheduler.shutdown();
            for h in handles {
                h.stop(true).await;
            }
        });
        actix_web::rt::spawn(probe_database(self.state.clone()));
        self.state.scheduler.start(&self.state);
        if let Some(collector) = self.state.metrics.clone() {
            actix_web::rt::spawn(async move {
                let mut tick = actix_web::rt::time::interval(METRICS_UPKEEP);
                loop {
                    tick.tick().await;
                    collector.handle().run_upkeep();
                }
            });
        }
        let metrics = self.metrics.map(actix_web::rt::spawn);
        let api_result = self.api.await.context("HTTP API server failed");
        let metrics_result = match metrics {
            Some(m) => m
                .await
                .context("metrics server task failed")
                .and_then(|r| r.context("metrics server failed")),
            None => Ok(()),
        };
        // Every request has finished: store what the event log still holds (bounded), so a
        // SIGTERM loses no event, or counts and logs what it had to drop.
        self.state
            .events
            .shutdown_within(EVENT_DRAIN_DEADLINE)
            .await;
        metrics_result?;
        api_result
    }
}

/// Binds and runs the server until SIGTERM or SIGINT.
pub async fn run_server(config: Config) -> anyhow::Result<()> {
    let listening = bind(config).await?;
    tracing::info!(
        api = %listening.api_addr,
        metrics = %listening.metrics_addr.map_or_else(|| "disabled".to_owned(), |a| a.to_string()),
        auth = listening.state.config.api_key.is_some(),
        "Listening"
    );
    listening.run().await?;
    tracing::info!("Stopped");
    Ok(())
}

/// Start-up after the listeners are bound: catalog (migrated), repository, graph discovery,
/// catalog reconciliation, event log, managers, metrics collector.
async fn build_state(config: Config, handle: Option<PrometheusHandle>) -> anyhow::Result<AppState> {
    let config = Arc::new(config);
    let readiness = Arc::new(Readiness::default());
    let c = config.clone();
    let (db, repo, graphs) = web::block(move || -> anyhow::Result<_> {
        let db = wiring::open_db(&c)?;
        let applied = db.migrate().context("migrating the recovery database")?;
        if !applied.is_empty() {
            tracing::info!(
                count = applied.len(),
                "Applied recovery database migrations"
            );
        }
        let repo = wiring::open_repository(&c, true)?;
        let graphs = wiring::register_discovered_graphs(&c, &db)?;
        let report = wiring::reconcile_catalog(&db, &repo)?;
        tracing::info!(
            graphs = graphs.len(),
            snapshots = report.snapshots,
            inserted = report.inserted,
            "Catalog reconciled with the repository"
        );
        Ok((db, repo, graphs))
    })
    .await
    .context("start-up task failed")??;
    readiness.set("database", Ok(()));
    readiness.set("repository", Ok(()));
    let events = EventLogger::start(db.clone(), EventLoggerConfig::default());
    let recovery = Arc::new(
        RecoveryManager::new(db.clone(), wiring::recovery_options(&config))
            .with_event_sink(Arc::new(wiring::LoggerSink(events.clone()))),
    );
    let health = Arc::new(
        HealthMonitor::new(db.clone(), wiring::health_options(&config))
            .with_event_sink(Arc::new(wiring::LoggerSink(events.clone()))),
    );
    let metrics = handle.map(|h| {
        let collector = Arc::new(MetricsCollector::new(h, db.clone(), METRICS_REFRESH));
        for g in &graphs {
            collector.register_graph(g);
        }
        collector
    });
    Ok(AppState {
        status_cache: Arc::default(),
        receiver: wiring::receiver(&config),
        scheduler: Arc::new(Scheduler::new(&config)),
        config,
        db,
        repo,
        recovery,
        health,
        events,
        metrics,
        jobs: Arc::new(Jobs::default()),
        readiness,
    })
}

/// Keeps `/readyz` and the catalog's circuit breaker in step with the database: a probe
/// checkout (which tests the connection, bounded by [`DB_PROBE_TIMEOUT`]) every
/// [`DB_PROBE_INTERVAL`]. A failure opens the breaker (catalog calls fail fast with 503) and
/// turns readiness to 503 with the reason; when the database answers again the breaker
/// closes and the catalog is reconciled with the repository (as at start-up), so snapshots
/// taken during the outage appear in it.
async fn probe_database(state: AppState) {
    let mut tick = actix_web::rt::time::interval(DB_PROBE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reconcile = false;
    loop {
        tick.tick().await;
        let db = state.db.clone();
        let result = match web::block(move || db.probe(DB_PROBE_TIMEOUT)).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(e) => Err(format!("probe task failed: {e}")),
        };
        match &result {
            Err(reason) => {
                if !reconcile {
                    tracing::warn!(%reason, "Recovery database unavailable");
                }
                reconcile = true;
            }
            Ok(()) if reconcile => {
                let st = state.clone();
                match web::block(move || st.recovery.rebuild_catalog(&st.repo)).await {
                    Ok(Ok(report)) => {
                        reconcile = false;
                        tracing::info!(
                            snapshots = report.snapshots,
                            inserted = report.inserted,
                            "Catalog reconciled with the repository after the database returned"
                        );
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "Catalog reconciliation failed; retrying");
                    }
                    Err(e) => tracing::warn!(error = %e, "Catalog reconciliation task failed"),
                }
            }
            Ok(()) => {}
        }
        state.readiness.set("database", result);
    }
}

fn api_server(state: AppState, listener: TcpListener) -> anyhow::Result<Server> {
    let guard = crate::guard::Guard::new(state.config.clone());
    let data = web::Data::new(state);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .configure(routes::json_errors)
            .configure(routes::config)
            .default_service(web::to(routes::not_found))
            .wrap(guard.clone())
            .wrap(from_fn(record_duration))
    })
    .workers(workers)
    .disable_signals()
    .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
    .listen(listener)?
    .run();
    Ok(server)
}

/// The Prometheus listener (`LIGHTRAG_METRICS_HOST:LIGHTRAG_METRICS_PORT`); with
/// `LIGHTRAG_METRICS_TOKEN` a scrape needs `Authorization: Bearer <token>`.
fn metrics_server(
    collector: Arc<MetricsCollector>,
    listener: TcpListener,
    token: Option<lightrag_config::Secret>,
) -> anyhow::Result<Server> {
    if token.is_none() && !listener.local_addr()?.ip().is_loopback() {
        tracing::warn!(
            target: "security",
            addr = %listener.local_addr()?,
            "The metrics listener is reachable from the network without a token; set LIGHTRAG_METRICS_TOKEN"
        );
    }
    let handle = web::Data::from(collector);
    let token = web::Data::new(crate::guard::MetricsToken(token));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(handle.clone())
            .app_data(token.clone())
            .wrap(from_fn(crate::guard::require_metrics_token))
            .route("/metrics", web::get().to(scrape))
            .route("/", web::get().to(scrape))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(5)
    .listen(listener)?
    .run();
    Ok(server)
}

async fn scrape(collector: web::Data<MetricsCollector>) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type(PROMETHEUS_CONTENT_TYPE)
        .body(collector.export_to_prometheus().await)
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "Cannot listen for SIGTERM; only SIGINT stops the server");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
