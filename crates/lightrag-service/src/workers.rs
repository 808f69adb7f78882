//! One background runner: every piece of background work — the scheduler's tasks, the event
//! log's writer, the database probe, metrics upkeep and the API's jobs — is a [`Worker`], run
//! by [`Workers`], shown by one status list and drained by one shutdown with a deadline.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use tokio::sync::watch;

/// A boxed future borrowing the worker.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What one unit of work returns: a short summary, or why it failed.
pub type WorkResult = Result<String, String>;

/// A piece of background work.
pub trait Worker: Send + Sync + 'static {
    /// Stable name (shown in status and logs).
    fn name(&self) -> &'static str;

    /// How it is woken: `Some(interval)` for clocked work (zero = off), `None` for work that
    /// waits on a queue or on others.
    fn interval(&self) -> Option<Duration> {
        None
    }

    /// Waits until there is work to do. Never resolves for a worker that only reports and
    /// drains (it does its work elsewhere).
    fn wait_for_work(&self) -> BoxFuture<'_, ()>;

    /// Does one unit of work.
    fn work(&self) -> BoxFuture<'_, WorkResult>;

    /// Finishes what it holds (flushes a queue, waits for running work) within `deadline`.
    fn shutdown(&self, deadline: Duration) -> BoxFuture<'_, ()> {
        let _ = deadline;
        Box::pin(async {})
    }

    /// A line of live detail for the status (queue depth, jobs running).
    fn detail(&self) -> Option<String> {
        None
    }

    /// Whether it stops starting units at the first step of a shutdown ([`Workers::stop`]),
    /// while requests still finish. A worker that keeps the server's view of a dependency
    /// current (the database probe) says no: it stops with [`Workers::shutdown`].
    fn stops_early(&self) -> bool {
        true
    }
}

/// One worker as the API shows it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerStatus {
    /// Worker name.
    pub name: &'static str,
    /// Seconds between runs (0 = off or not clocked).
    pub interval_seconds: u64,
    /// Milliseconds between runs (0 = off or not clocked).
    pub interval_ms: u64,
    /// Woken by a clock (else by a queue or by others).
    pub clocked: bool,
    /// A unit of work is in progress.
    pub running: bool,
    /// Completed units of work.
    pub runs: u64,
    /// Wake-ups skipped because the previous unit was still going.
    pub skipped: u64,
    /// Failed units of work.
    pub failures: u64,
    /// Start of the last unit (RFC 3339).
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub last_started: Option<time::OffsetDateTime>,
    /// Duration of the last finished unit.
    pub last_duration_seconds: Option<f64>,
    /// Summary or error of the last finished unit.
    pub last_result: Option<String>,
    /// Whether the last finished unit succeeded.
    pub last_ok: Option<bool>,
    /// Live detail from the worker.
    pub detail: Option<String>,
    /// The worker has stopped (shutdown).
    pub stopped: bool,
}

struct Slot {
    worker: Arc<dyn Worker>,
    status: Mutex<WorkerStatus>,
    done: watch::Sender<bool>,
    stop: watch::Sender<bool>,
}

/// The runner: its workers, their statuses and the shutdown signal.
#[derive(Default)]
pub struct Workers {
    slots: Mutex<Vec<Arc<Slot>>>,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workers")
            .field("workers", &self.status().len())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Workers {
    /// Adds `worker` and, when it is on (not a zero interval), starts its loop on the current
    /// tokio runtime. A worker never overlaps itself: a wake-up during a unit is skipped and
    /// counted.
    pub fn spawn(&self, worker: Arc<dyn Worker>) {
        let interval = worker.interval();
        let (done, _) = watch::channel(false);
        let slot = Arc::new(Slot {
            status: Mutex::new(WorkerStatus {
                name: worker.name(),
                interval_seconds: interval.map_or(0, |d| d.as_secs()),
                interval_ms: interval
                    .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                clocked: interval.is_some(),
                running: false,
                runs: 0,
                skipped: 0,
                failures: 0,
                last_started: None,
                last_duration_seconds: None,
                last_result: None,
                last_ok: None,
                detail: None,
                stopped: false,
            }),
            worker,
            done,
            stop: watch::channel(false).0,
        });
        lock(&self.slots).push(slot.clone());
        if interval.is_some_and(|d| d.is_zero()) {
            tracing::info!(worker = slot.worker.name(), "Worker is off (interval 0)");
            slot.done.send_replace(true);
            return;
        }
        let stop = slot.stop.subscribe();
        tokio::spawn(run(slot, stop));
    }

    /// Statuses of every worker, in the order they were added (including those turned off).
    pub fn status(&self) -> Vec<WorkerStatus> {
        lock(&self.slots)
            .iter()
            .map(|s| {
                let mut st = lock(&s.status).clone();
                st.detail = s.worker.detail();
                st
            })
            .collect()
    }

    /// Whether no worker was added.
    pub fn is_empty(&self) -> bool {
        lock(&self.slots).is_empty()
    }

    /// Asks the loops that stop early to stop after their current unit (no wait): the first
    /// step of a shutdown, while requests still finish.
    pub fn stop(&self) {
        for s in lock(&self.slots).iter() {
            if s.worker.stops_early() {
                s.stop.send_replace(true);
            }
        }
    }

    /// Stops every loop: no new unit starts; running units get until `deadline` to finish,
    /// then each worker drains what it holds within what is left. Idempotent.
    pub async fn shutdown(&self, deadline: Duration) {
        let started = Instant::now();
        let slots: Vec<Arc<Slot>> = lock(&self.slots).clone();
        for s in &slots {
            s.stop.send_replace(true);
        }
        for s in &slots {
            let mut rx = s.done.subscribe();
            let left = deadline.saturating_sub(started.elapsed());
            if tokio::time::timeout(left, rx.wait_for(|d| *d))
                .await
                .is_err()
            {
                tracing::warn!(
                    worker = s.worker.name(),
                    "Worker still running at the shutdown deadline"
                );
            }
        }
        for s in &slots {
            let left = deadline.saturating_sub(started.elapsed());
            s.worker.shutdown(left).await;
            lock(&s.status).stopped = true;
        }
    }
}

async fn run(slot: Arc<Slot>, mut stop: watch::Receiver<bool>) {
    let name = slot.worker.name();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<(Duration, WorkResult)>(1);
    let mut running = false;
    let clocked = slot.worker.interval().is_some();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some((took, result)) = done_rx.recv() => {
                running = false;
                finish(&slot, took, result);
            }
            // While a unit runs, a clocked worker's ticks are counted as skipped; a worker woken
            // by a condition is not asked again (it would answer at once, over and over).
            () = slot.worker.wait_for_work(), if !running || clocked => {
                let mut s = lock(&slot.status);
                if running {
                    s.skipped += 1;
                    tracing::debug!(worker = name, "Previous run still going; wake-up skipped");
                    continue;
                }
                running = true;
                s.running = true;
                s.last_started = Some(SystemTime::now().into());
                drop(s);
                let (w, tx) = (slot.worker.clone(), done_tx.clone());
                tokio::spawn(async move {
                    let started = Instant::now();
                    // A panicking unit is a failed unit, never a worker stuck "running".
                    let r = tokio::spawn(async move { w.work().await })
                        .await
                        .unwrap_or_else(|e| Err(format!("the unit panicked: {e}")));
                    let _ = tx.send((started.elapsed(), r)).await;
                });
            }
        }
    }
    // A unit in progress finishes (bounded by the shutdown deadline of whoever waits).
    if running && let Some((took, result)) = done_rx.recv().await {
        finish(&slot, took, result);
    }
    slot.done.send_replace(true);
    tracing::debug!(worker = name, "Worker stopped");
}

fn finish(slot: &Slot, took: Duration, result: WorkResult) {
    let name = slot.worker.name();
    let mut s = lock(&slot.status);
    s.running = false;
    s.runs += 1;
    s.last_duration_seconds = Some(took.as_secs_f64());
    match &result {
        Ok(summary) => {
            tracing::debug!(worker = name, took_ms = took.as_millis() as u64, %summary, "Worker unit finished");
        }
        Err(error) => {
            s.failures += 1;
            // Once per run of failures (a probe failing every second during an outage logs
            // its first failure, then at debug level until it succeeds again).
            if s.last_ok != Some(false) || s.last_result.as_deref() != Some(error.as_str()) {
                tracing::warn!(worker = name, %error, "Worker unit failed");
            } else {
                tracing::debug!(worker = name, %error, "Worker unit failed again");
            }
        }
    }
    s.last_ok = Some(result.is_ok());
    s.last_result = Some(result.unwrap_or_else(|e| e));
}

/// Clocked wake-ups: the first after `first`, then every `every`; ticks missed while a unit
/// ran are skipped.
#[derive(Debug)]
pub struct Clock {
    every: Duration,
    tick: tokio::sync::Mutex<Option<tokio::time::Interval>>,
    first: Duration,
}

impl Clock {
    /// Every `every`, first after `first`.
    pub fn new(every: Duration, first: Duration) -> Self {
        Self {
            every,
            tick: tokio::sync::Mutex::new(None),
            first,
        }
    }

    /// The interval.
    pub fn every(&self) -> Duration {
        self.every
    }

    /// Waits for the next tick.
    pub async fn wait(&self) {
        let mut guard = self.tick.lock().await;
        let tick = guard.get_or_insert_with(|| {
            let mut t = tokio::time::interval_at(
                tokio::time::Instant::now() + self.first,
                self.every.max(Duration::from_millis(1)),
            );
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            t
        });
        tick.tick().await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    struct Counter {
        clock: Clock,
        n: AtomicU64,
        slow: Duration,
        drained: AtomicU64,
    }

    impl Worker for Counter {
        fn name(&self) -> &'static str {
            "counter"
        }
        fn interval(&self) -> Option<Duration> {
            Some(self.clock.every())
        }
        fn wait_for_work(&self) -> BoxFuture<'_, ()> {
            Box::pin(self.clock.wait())
        }
        fn work(&self) -> BoxFuture<'_, WorkResult> {
            Box::pin(async {
                tokio::time::sleep(self.slow).await;
                let n = self.n.fetch_add(1, Ordering::SeqCst) + 1;
                if n.is_multiple_of(2) {
                    Err(format!("even {n}"))
                } else {
                    Ok(format!("odd {n}"))
                }
            })
        }
        fn shutdown(&self, _deadline: Duration) -> BoxFuture<'_, ()> {
            Box::pin(async {
                self.drained.fetch_add(1, Ordering::SeqCst);
            })
        }
    }

    #[test]
    fn runs_counts_skips_failures_and_drains_on_shutdown() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let workers = Workers::default();
            let w = Arc::new(Counter {
                clock: Clock::new(Duration::from_millis(10), Duration::ZERO),
                n: AtomicU64::new(0),
                slow: Duration::from_millis(35),
                drained: AtomicU64::new(0),
            });
            workers.spawn(w.clone());
            // Bounded wait for a few units.
            for _ in 0..300 {
                if workers.status()[0].runs >= 3 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let st = workers.status().remove(0);
            assert!(st.runs >= 3, "{st:?}");
            assert!(st.failures >= 1, "{st:?}");
            assert!(
                st.skipped >= 1,
                "ticks during a 35 ms unit every 10 ms: {st:?}"
            );
            workers.shutdown(Duration::from_secs(5)).await;
            let st = workers.status().remove(0);
            assert!(st.stopped && !st.running, "{st:?}");
            assert_eq!(w.drained.load(Ordering::SeqCst), 1);
            let runs = st.runs;
            tokio::time::sleep(Duration::from_millis(60)).await;
            assert_eq!(
                workers.status()[0].runs,
                runs,
                "nothing runs after shutdown"
            );
        });
    }

    /// A worker woken by a condition that stays true while its unit runs (work arrived during
    /// the unit) is not polled in a loop: it runs again after the unit, once.
    struct Eager {
        runs: AtomicU64,
        polls: AtomicU64,
    }

    impl Worker for Eager {
        fn name(&self) -> &'static str {
            "eager"
        }
        fn wait_for_work(&self) -> BoxFuture<'_, ()> {
            // Counted when the wait is run, not when the future is only built.
            Box::pin(async {
                self.polls.fetch_add(1, Ordering::SeqCst);
            })
        }
        fn work(&self) -> BoxFuture<'_, WorkResult> {
            Box::pin(async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                self.runs.fetch_add(1, Ordering::SeqCst);
                Ok(String::new())
            })
        }
    }

    #[test]
    fn a_condition_worker_is_not_polled_while_its_unit_runs() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let workers = Workers::default();
            let w = Arc::new(Eager {
                runs: AtomicU64::new(0),
                polls: AtomicU64::new(0),
            });
            workers.spawn(w.clone());
            tokio::time::sleep(Duration::from_millis(275)).await;
            workers.shutdown(Duration::from_secs(5)).await;
            let (runs, polls) = (
                w.runs.load(Ordering::SeqCst),
                w.polls.load(Ordering::SeqCst),
            );
            // About one poll per unit (50 ms each), not thousands.
            assert!(runs >= 3 && polls <= runs + 2, "runs {runs}, polls {polls}");
            assert_eq!(workers.status()[0].skipped, 0);
        });
    }

    #[test]
    fn a_worker_with_a_zero_interval_is_listed_but_never_runs() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let workers = Workers::default();
            workers.spawn(Arc::new(Counter {
                clock: Clock::new(Duration::ZERO, Duration::ZERO),
                n: AtomicU64::new(0),
                slow: Duration::ZERO,
                drained: AtomicU64::new(0),
            }));
            tokio::time::sleep(Duration::from_millis(30)).await;
            let st = workers.status().remove(0);
            assert_eq!((st.interval_seconds, st.runs), (0, 0));
            workers.shutdown(Duration::from_secs(1)).await;
        });
    }
}
