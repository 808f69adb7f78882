//! Background jobs on intervals: automatic backups, retention + prune, verification, event
//! purge (and the health and replication loops of their managers). Each task never overlaps
//! itself (a tick that finds the previous run still going is skipped and counted), reports its
//! status, and stops on shutdown.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use tokio::sync::watch;

use crate::state::AppState;

/// What a run returns: a short summary, or why it failed.
pub(crate) type RunResult = Result<String, String>;
type TaskFn =
    Arc<dyn Fn(AppState) -> Pin<Box<dyn Future<Output = RunResult> + Send>> + Send + Sync>;

/// One scheduled task as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TaskStatus {
    /// Task name.
    pub name: &'static str,
    /// Seconds between runs (0 = off).
    pub interval_seconds: u64,
    /// A run is in progress.
    pub running: bool,
    /// Completed runs.
    pub runs: u64,
    /// Ticks skipped because the previous run was still going.
    pub skipped: u64,
    /// Start of the last run (RFC 3339).
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_started: Option<time::OffsetDateTime>,
    /// Duration of the last finished run.
    pub last_duration_seconds: Option<f64>,
    /// Summary or error of the last finished run.
    pub last_result: Option<String>,
    /// Whether the last finished run succeeded.
    pub last_ok: Option<bool>,
}

#[derive(Debug)]
struct Task {
    status: Mutex<TaskStatus>,
}

/// The scheduler: its tasks' statuses and the shutdown signal of their loops.
#[derive(Debug)]
pub struct Scheduler {
    tasks: Vec<Arc<Task>>,
    stop: watch::Sender<bool>,
}

impl Scheduler {
    /// Statuses of every task (including those turned off).
    pub fn status(&self) -> Vec<TaskStatus> {
        self.tasks
            .iter()
            .map(|t| t.status.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .collect()
    }

    /// Asks every loop to stop after its current run.
    pub fn shutdown(&self) {
        self.stop.send_replace(true);
    }
}

/// The tasks and their intervals (zero = off).
fn specs(c: &lightrag_config::Config) -> Vec<(&'static str, Duration, TaskFn)> {
    vec![
        ("health", c.health_check_interval, task(run_health)),
        ("auto_backup", c.auto_backup_interval, task(run_backups)),
        (
            "replication",
            if c.replication_enabled {
                c.replication_interval
            } else {
                Duration::ZERO
            },
            task(run_replication),
        ),
        ("retention", c.retention_interval, task(run_retention)),
        ("verify", c.verify_interval, task(run_verify)),
        ("event_purge", EVENT_PURGE_INTERVAL, task(run_event_purge)),
    ]
}

impl Scheduler {
    /// The scheduler of `config`'s tasks, not yet started.
    pub(crate) fn new(c: &lightrag_config::Config) -> Self {
        let (stop, _) = watch::channel(false);
        let tasks = specs(c)
            .into_iter()
            .map(|(name, interval, _)| {
                Arc::new(Task {
                    status: Mutex::new(TaskStatus {
                        name,
                        interval_seconds: interval.as_secs(),
                        running: false,
                        runs: 0,
                        skipped: 0,
                        last_started: None,
                        last_duration_seconds: None,
                        last_result: None,
                        last_ok: None,
                    }),
                })
            })
            .collect();
        Self { tasks, stop }
    }

    /// Starts every task whose interval is non-zero on the current runtime.
    pub(crate) fn start(&self, state: &AppState) {
        for ((name, interval, f), t) in specs(&state.config).into_iter().zip(&self.tasks) {
            if interval.is_zero() {
                tracing::info!(task = name, "Scheduled task is off (interval 0)");
                continue;
            }
            actix_web::rt::spawn(run_loop(
                t.clone(),
                interval,
                f,
                state.clone(),
                self.stop.subscribe(),
            ));
        }
    }
}

/// Longest a scheduled verification spends re-reading data (structure is always checked).
const VERIFY_BUDGET: Duration = Duration::from_secs(15 * 60);
/// How often expired events are purged.
const EVENT_PURGE_INTERVAL: Duration = Duration::from_secs(6 * 3600);

fn task<F, Fut>(f: F) -> TaskFn
where
    F: Fn(AppState) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = RunResult> + Send + 'static,
{
    Arc::new(move |s| Box::pin(f(s)))
}

async fn run_loop(
    task: Arc<Task>,
    interval: Duration,
    f: TaskFn,
    state: AppState,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = actix_web::rt::time::interval_at(
        actix_web::rt::time::Instant::now() + first_delay(name_of(&task), interval),
        interval,
    );
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let name = name_of(&task);
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<(Duration, RunResult)>(1);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some((took, result)) = done_rx.recv() => {
                let mut s = task.status.lock().unwrap_or_else(|p| p.into_inner());
                s.running = false;
                s.runs += 1;
                s.last_duration_seconds = Some(took.as_secs_f64());
                s.last_ok = Some(result.is_ok());
                match &result {
                    Ok(summary) => tracing::info!(task = name, took_ms = took.as_millis() as u64, %summary, "Scheduled task finished"),
                    Err(error) => tracing::warn!(task = name, %error, "Scheduled task failed"),
                }
                s.last_result = Some(result.unwrap_or_else(|e| e));
            }
            _ = tick.tick() => {
                let mut s = task.status.lock().unwrap_or_else(|p| p.into_inner());
                if s.running {
                    s.skipped += 1;
                    tracing::info!(task = name, "Previous run still going; tick skipped");
                    continue;
                }
                s.running = true;
                s.last_started = Some(SystemTime::now().into());
                drop(s);
                let (f, st, tx) = (f.clone(), state.clone(), done_tx.clone());
                actix_web::rt::spawn(async move {
                    let started = Instant::now();
                    let r = f(st).await;
                    let _ = tx.send((started.elapsed(), r)).await;
                });
            }
        }
    }
    tracing::debug!(task = name, "Scheduled task stopped");
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

/// Longest wait for the first automatic backup after start-up.
const FIRST_BACKUP_DELAY: Duration = Duration::from_secs(60);

fn name_of(task: &Task) -> &'static str {
    task.status.lock().unwrap_or_else(|p| p.into_inner()).name
}

async fn blocking<F>(f: F) -> RunResult
where
    F: FnOnce() -> RunResult + Send + 'static,
{
    actix_web::rt::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(format!("task failed: {e}")))
}

/// Checks every replication target, then the health of every graph and component (only
/// transitions are stored).
async fn run_health(state: AppState) -> RunResult {
    blocking(move || {
        let targets = {
            let mut c = state.db.conn().map_err(|e| e.to_string())?;
            lightrag_replication::list_targets(&mut c, Some(true)).map_err(|e| e.to_string())?
        };
        for t in targets {
            if let Err(e) = crate::ops::target_health(&state, &t.id) {
                tracing::warn!(target = %t.name, error = %e, "Target health check failed");
            }
        }
        let r = crate::ops::health_check(&state);
        Ok(format!(
            "overall {}; {} graph(s); {} transition(s)",
            r.overall.as_str(),
            r.graphs.len(),
            r.transitions
        ))
    })
    .await
}

/// Backs up every graph of the catalog, one after the other (trigger `scheduled`).
async fn run_backups(state: AppState) -> RunResult {
    blocking(move || {
        let graphs = crate::wiring::catalog_graph_ids(&state.db).map_err(|e| format!("{e:#}"))?;
        let (mut ok, mut failed) = (0, Vec::new());
        for g in &graphs {
            match crate::ops::backup(
                &state,
                g,
                lightrag_recovery_db::BackupTrigger::Scheduled,
                &lightrag_backup::NoProgress,
            ) {
                Ok(_) => ok += 1,
                Err(e) => failed.push(format!("{g}: {e}")),
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
    })
    .await
}

/// Syncs every graph to every enabled target whose back-off allows it.
async fn run_replication(state: AppState) -> RunResult {
    blocking(move || {
        let outcomes =
            crate::ops::replicate(&state, None, None, false).map_err(|e| e.to_string())?;
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
    })
    .await
}

/// Applies retention and prunes.
async fn run_retention(state: AppState) -> RunResult {
    blocking(move || {
        let prune = Some(lightrag_backup::PruneOptions::default());
        crate::ops::retention(&state, false, prune, &lightrag_backup::NoProgress)
            .map(|r| r.summary())
            .map_err(|e| e.to_string())
    })
    .await
}

/// Checks the whole repository and re-reads its data, within [`VERIFY_BUDGET`]; then drills
/// the newest recovery point (a restore into a scratch directory).
async fn run_verify(state: AppState) -> RunResult {
    blocking(move || {
        let drill = state
            .recovery
            .validate_newest(&state.repo)
            .map_err(|e| e.to_string())?;
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
        let report = crate::ops::verify(&state, &opts, &lightrag_backup::NoProgress)
            .map_err(|e| e.to_string())?;
        if report.is_ok() {
            Ok(format!("{} snapshot(s) verified", report.snapshots_checked))
        } else {
            Err(format!("{} problem(s) found", report.damage.len()))
        }
    })
    .await
}

/// Removes events older than `LIGHTRAG_EVENT_LOG_RETENTION`.
async fn run_event_purge(state: AppState) -> RunResult {
    state
        .events
        .purge_expired(state.config.event_log_retention)
        .await
        .map(|n| format!("{n} expired event(s) purged"))
        .map_err(|e| e.to_string())
}
