//! The service's workers: the scheduler's tasks (health, automatic backups, replication,
//! retention, verification, event purge), the database probe, metrics upkeep, the event log's
//! writer and the API's jobs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lightrag_backup::NoProgress;
use lightrag_recovery_db::BackupTrigger;

use crate::jobs::JobsWorker;
use crate::service::Service;
use crate::workers::{BoxFuture, Clock, WorkResult, Worker};

/// Longest a scheduled verification spends re-reading data (structure is always checked).
const VERIFY_BUDGET: Duration = Duration::from_secs(15 * 60);
/// How often expired events are purged.
const EVENT_PURGE_INTERVAL: Duration = Duration::from_secs(6 * 3600);
/// Longest wait for the first automatic backup after start-up.
const FIRST_BACKUP_DELAY: Duration = Duration::from_secs(60);
/// How often the database probe runs (it feeds `/readyz` and the catalog's circuit breaker).
const DB_PROBE_INTERVAL: Duration = Duration::from_secs(2);
/// How long one probe waits for a connection: an outage is noticed within about
/// `DB_PROBE_INTERVAL + DB_PROBE_TIMEOUT`.
const DB_PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// The event log gets at least this long to store what is queued at shutdown, however long
/// the workers before it took; what remains then is counted as dropped.
const EVENT_DRAIN_MIN: Duration = Duration::from_secs(10);
/// How often the Prometheus recorder's histograms are compacted.
const METRICS_UPKEEP: Duration = Duration::from_secs(5);

type TaskFn = fn(&Service) -> WorkResult;

/// A scheduled task: a blocking operation of the service on an interval.
struct Scheduled {
    name: &'static str,
    clock: Clock,
    service: Arc<Service>,
    run: TaskFn,
}

impl Worker for Scheduled {
    fn name(&self) -> &'static str {
        self.name
    }

    fn interval(&self) -> Option<Duration> {
        Some(self.clock.every())
    }

    fn wait_for_work(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.clock.wait())
    }

    fn work(&self) -> BoxFuture<'_, WorkResult> {
        let (svc, run) = (self.service.clone(), self.run);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || run(&svc))
                .await
                .unwrap_or_else(|e| Err(format!("task failed: {e}")))
        })
    }
}

/// Delay before a task's first run: health at once (the dashboard needs a report); automatic
/// backups within [`FIRST_BACKUP_DELAY`], so restarts never postpone them by a whole
/// interval; everything else one interval.
fn first_delay(name: &str, interval: Duration) -> Duration {
    match name {
        "health" => Duration::ZERO,
        "auto_backup" => interval.min(FIRST_BACKUP_DELAY),
        _ => interval,
    }
}

/// Checks every replication target, then the health of every graph and component (only
/// transitions are stored).
fn run_health(svc: &Service) -> WorkResult {
    let targets = svc
        .list_targets(Some(true))
        .map_err(|e| crate::error::chain(&e))?;
    for t in targets {
        if let Err(e) = svc.target_health(&t.id) {
            tracing::warn!(target = %t.name, error = %crate::error::chain(&e), "Target health check failed");
        }
    }
    let r = svc.health_check();
    Ok(format!(
        "overall {}; {} graph(s); {} transition(s)",
        r.overall.as_str(),
        r.graphs.len(),
        r.transitions
    ))
}

/// Backs up every graph, one after the other (trigger `scheduled`).
fn run_backups(svc: &Service) -> WorkResult {
    let graphs = svc
        .graphs_to_back_up()
        .map_err(|e| crate::error::chain(&e))?;
    let (mut ok, mut failed) = (0, Vec::new());
    for g in &graphs {
        match svc.backup(g, BackupTrigger::Scheduled, &[], &NoProgress) {
            Ok(_) => ok += 1,
            Err(e) => failed.push(format!("{g}: {}", crate::error::chain(&e))),
        }
    }
    if failed.is_empty() {
        Ok(format!("{ok} graph(s) backed up"))
    } else {
        Err(format!(
            "{ok} backed up, {} failed: {}",
            failed.len(),
            failed.join("; ")
        ))
    }
}

/// Syncs every graph to every enabled target whose back-off allows it.
fn run_replication(svc: &Service) -> WorkResult {
    let outcomes = svc
        .replicate(None, None, false)
        .map_err(|e| crate::error::chain(&e))?;
    let failed: Vec<String> = outcomes
        .iter()
        .filter_map(|o| {
            o.error
                .as_ref()
                .map(|e| format!("{} → {}: {e}", o.graph_id, o.target))
        })
        .collect();
    let bytes: u64 = outcomes.iter().map(|o| o.bytes_sent).sum();
    if failed.is_empty() {
        Ok(format!("{} sync(s), {bytes} byte(s) sent", outcomes.len()))
    } else {
        Err(format!(
            "{} of {} sync(s) failed: {}",
            failed.len(),
            outcomes.len(),
            failed.join("; ")
        ))
    }
}

/// Applies retention and prunes.
fn run_retention(svc: &Service) -> WorkResult {
    let prune = Some(lightrag_backup::PruneOptions::default());
    svc.retention(None, &svc.retention_policy(), false, prune, &NoProgress)
        .map(|r| r.summary())
        .map_err(|e| crate::error::chain(&e))
}

/// Drills the newest recovery point (a restore into a scratch directory), then checks the
/// whole repository and re-reads its data within [`VERIFY_BUDGET`].
fn run_verify(svc: &Service) -> WorkResult {
    let repo = svc.repo().map_err(|e| crate::error::chain(&e))?;
    let drill = svc
        .recovery
        .validate_newest(repo)
        .map_err(|e| crate::error::chain(&e))?;
    if let Some(r) = &drill {
        lightrag_monitoring::record::record_validation(r.ok);
        if let Some(e) = r.error_text() {
            return Err(format!(
                "recovery point {} does not restore: {e}",
                r.point_id
            ));
        }
    }
    let opts = lightrag_backup::VerifyOptions {
        read_data: lightrag_backup::ReadData::All,
        read_data_budget: Some(VERIFY_BUDGET),
        ..lightrag_backup::VerifyOptions::default()
    };
    let report = svc
        .verify(&opts, &NoProgress)
        .map_err(|e| crate::error::chain(&e))?;
    if report.is_ok() {
        Ok(format!("{} snapshot(s) verified", report.snapshots_checked))
    } else {
        Err(format!("{} problem(s) found", report.damage.len()))
    }
}

/// Removes events older than `LIGHTRAG_EVENT_LOG_RETENTION` (an event exactly that old is
/// kept).
fn run_event_purge(svc: &Service) -> WorkResult {
    use lightrag_recovery_db::Timestamp;
    let ms = i64::try_from(svc.config.event_log_retention.as_millis()).unwrap_or(i64::MAX);
    let cutoff = Timestamp::from_unix_millis(Timestamp::now().unix_millis().saturating_sub(ms));
    let mut conn = svc.db.conn().map_err(|e| crate::error::chain(&e))?;
    lightrag_recovery_db::delete_events_before(&mut conn, cutoff)
        .map(|n| format!("{n} expired event(s) purged"))
        .map_err(|e| crate::error::chain(&e))
}

/// Keeps `/readyz` and the catalog's circuit breaker in step with the database: a probe
/// checkout (which tests the connection, bounded by [`DB_PROBE_TIMEOUT`]) every
/// [`DB_PROBE_INTERVAL`]. A failure opens the breaker (catalog calls fail fast) and turns
/// readiness to 503 with the reason; when the database answers again the breaker closes and
/// the catalog is reconciled with the repository (as at start-up), so snapshots taken during
/// the outage appear in it.
struct DbProbe {
    clock: Clock,
    service: Arc<Service>,
    reconcile: AtomicBool,
}

impl Worker for DbProbe {
    fn name(&self) -> &'static str {
        "db_probe"
    }

    fn stops_early(&self) -> bool {
        // Readiness and the circuit breaker stay current while requests finish.
        false
    }

    fn interval(&self) -> Option<Duration> {
        Some(self.clock.every())
    }

    fn wait_for_work(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.clock.wait())
    }

    fn work(&self) -> BoxFuture<'_, WorkResult> {
        Box::pin(async move {
            let svc = self.service.clone();
            let reconcile = self.reconcile.load(Ordering::SeqCst);
            let (probe, rebuilt) = tokio::task::spawn_blocking(move || {
                let probe = svc
                    .db
                    .probe(DB_PROBE_TIMEOUT)
                    .map_err(|e| crate::error::chain(&e));
                let rebuilt = (probe.is_ok() && reconcile).then(|| svc.rebuild_catalog());
                (probe, rebuilt)
            })
            .await
            .map_err(|e| format!("probe task failed: {e}"))?;
            let outcome = match (&probe, rebuilt) {
                (Err(reason), _) => {
                    if !reconcile {
                        tracing::warn!(%reason, "Recovery database unavailable");
                    }
                    self.reconcile.store(true, Ordering::SeqCst);
                    Err(reason.clone())
                }
                (Ok(()), Some(Ok(report))) => {
                    self.reconcile.store(false, Ordering::SeqCst);
                    tracing::info!(
                        snapshots = report.snapshots,
                        inserted = report.inserted,
                        "Catalog reconciled with the repository after the database returned"
                    );
                    Ok(format!(
                        "database back; {} snapshot(s) reconciled",
                        report.snapshots
                    ))
                }
                (Ok(()), Some(Err(e))) => {
                    let e = crate::error::chain(&e);
                    tracing::warn!(error = %e, "Catalog reconciliation failed; retrying");
                    Err(format!("catalog reconciliation failed: {e}"))
                }
                (Ok(()), None) => Ok("database ok".to_owned()),
            };
            self.service.readiness.set("database", probe);
            outcome
        })
    }
}

/// Compacts the Prometheus recorder's histograms.
struct MetricsUpkeep {
    clock: Clock,
    handle: metrics_exporter_prometheus::PrometheusHandle,
}

impl Worker for MetricsUpkeep {
    fn name(&self) -> &'static str {
        "metrics_upkeep"
    }

    fn interval(&self) -> Option<Duration> {
        Some(self.clock.every())
    }

    fn wait_for_work(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.clock.wait())
    }

    fn work(&self) -> BoxFuture<'_, WorkResult> {
        Box::pin(async move {
            self.handle.run_upkeep();
            Ok("histograms compacted".to_owned())
        })
    }
}

/// The event log's writer (it batches on its own task): its status and its drain.
struct EventLogWorker(lightrag_monitoring::EventLogger);

impl Worker for EventLogWorker {
    fn name(&self) -> &'static str {
        "event_log"
    }

    fn wait_for_work(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::pending())
    }

    fn work(&self) -> BoxFuture<'_, WorkResult> {
        Box::pin(async { Ok(String::new()) })
    }

    fn shutdown(&self, deadline: Duration) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.0.shutdown_within(deadline.max(EVENT_DRAIN_MIN)).await;
        })
    }

    fn detail(&self) -> Option<String> {
        Some(format!(
            "{} written, {} dropped, {} queued",
            self.0.written(),
            self.0.dropped(),
            self.0.pending()
        ))
    }
}

impl Service {
    /// Starts every background worker of the server on the current tokio runtime: the
    /// scheduler's tasks (each off when its interval is zero), the database probe, metrics
    /// upkeep, and the event log and API jobs (shown and drained).
    pub fn start_workers(self: &Arc<Self>) {
        let c = &self.config;
        let tasks: [(&'static str, Duration, TaskFn); 6] = [
            ("health", c.health_check_interval, run_health),
            ("auto_backup", c.auto_backup_interval, run_backups),
            (
                "replication",
                if c.replication_enabled {
                    c.replication_interval
                } else {
                    Duration::ZERO
                },
                run_replication,
            ),
            ("retention", c.retention_interval, run_retention),
            ("verify", c.verify_interval, run_verify),
            ("event_purge", EVENT_PURGE_INTERVAL, run_event_purge),
        ];
        for (name, every, run) in tasks {
            self.workers.spawn(Arc::new(Scheduled {
                name,
                clock: Clock::new(every, first_delay(name, every)),
                service: self.clone(),
                run,
            }));
        }
        self.workers.spawn(Arc::new(DbProbe {
            clock: Clock::new(DB_PROBE_INTERVAL, DB_PROBE_INTERVAL),
            service: self.clone(),
            reconcile: AtomicBool::new(false),
        }));
        if let Some(m) = &self.metrics {
            self.workers.spawn(Arc::new(MetricsUpkeep {
                clock: Clock::new(METRICS_UPKEEP, METRICS_UPKEEP),
                handle: m.handle().clone(),
            }));
        }
        if c.backup_on_change.enabled {
            match crate::watch::ChangeWatcher::start(self.clone(), c.backup_on_change) {
                Ok(w) => self.workers.spawn(Arc::new(w)),
                Err(e) => tracing::error!(
                    dir = %c.working_dir.display(),
                    error = %crate::error::chain(&e),
                    "Cannot watch the graphs for changes (LIGHTRAG_BACKUP_ON_CHANGE); set LIGHTRAG_BACKUP_WATCH_POLL to poll instead"
                ),
            }
        }
        self.workers.spawn(Arc::new(JobsWorker(self.jobs.clone())));
        self.workers
            .spawn(Arc::new(EventLogWorker(self.events.clone())));
    }
}
