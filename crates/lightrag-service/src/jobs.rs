//! Long operations as jobs: an id, a state, live progress (files and bytes done / total) and a
//! result. The API starts a job and answers 202 with its id; `GET /api/v1/jobs/{id}` reports it.
//! Jobs run on the blocking pool, at most [`MAX_RUNNING_JOBS`] at once; shutdown waits for them.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use lightrag_backup::Progress;

use crate::error::{ErrorKind, Result, ServiceError};
use crate::workers::{BoxFuture, WorkResult, Worker};
use serde::Serialize;
use tokio::sync::watch;

/// Finished jobs kept for inspection (oldest forgotten first).
const KEEP_FINISHED: usize = 1000;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum JobState {
    /// Waiting or working.
    Running,
    /// Finished; `result` holds the outcome.
    Succeeded,
    /// Finished with an error; `error` says why.
    Failed,
}

/// A job as the API shows it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobView {
    /// Job id.
    pub id: String,
    /// What it does (`backup`, `restore`, `verify`, ...).
    pub kind: String,
    /// Graph concerned, if one.
    pub graph_id: Option<String>,
    /// State.
    pub state: JobState,
    /// Current phase reported by the operation.
    pub phase: Option<String>,
    /// Files finished / expected (0 when unknown).
    pub files_done: u64,
    /// Files expected.
    pub files_total: u64,
    /// Bytes processed / expected.
    pub bytes_done: u64,
    /// Bytes expected.
    pub bytes_total: u64,
    /// Seconds since the start (or until the end).
    pub elapsed_seconds: f64,
    /// Start time (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub started_at: time::OffsetDateTime,
    /// Result, when succeeded.
    pub result: Option<serde_json::Value>,
    /// Error message, when failed.
    pub error: Option<String>,
}

#[derive(Debug)]
struct Outcome {
    state: JobState,
    phase: Option<String>,
    result: Option<serde_json::Value>,
    error: Option<String>,
    finished: Option<Instant>,
}

/// One job; also the [`Progress`] sink of its operation.
#[derive(Debug)]
pub struct Job {
    id: String,
    kind: String,
    graph_id: Option<String>,
    started: Instant,
    started_at: SystemTime,
    files_done: AtomicU64,
    files_total: AtomicU64,
    bytes_done: AtomicU64,
    bytes_total: AtomicU64,
    outcome: Mutex<Outcome>,
    done: watch::Sender<bool>,
}

impl Job {
    /// Job id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Snapshot of the job for the API.
    pub fn view(&self) -> JobView {
        let o = self.outcome.lock().unwrap_or_else(|p| p.into_inner());
        let elapsed = o.finished.unwrap_or_else(Instant::now) - self.started;
        JobView {
            id: self.id.clone(),
            kind: self.kind.clone(),
            graph_id: self.graph_id.clone(),
            state: o.state,
            phase: o.phase.clone(),
            files_done: self.files_done.load(Ordering::Relaxed),
            files_total: self.files_total.load(Ordering::Relaxed),
            bytes_done: self.bytes_done.load(Ordering::Relaxed),
            bytes_total: self.bytes_total.load(Ordering::Relaxed),
            elapsed_seconds: elapsed.as_secs_f64(),
            started_at: self.started_at.into(),
            result: o.result.clone(),
            error: o.error.clone(),
        }
    }

    /// Records the end of the job.
    pub fn finish(&self, result: Result<serde_json::Value, String>) {
        {
            let mut o = self.outcome.lock().unwrap_or_else(|p| p.into_inner());
            match result {
                Ok(v) => {
                    o.state = JobState::Succeeded;
                    o.result = Some(v);
                }
                Err(e) => {
                    o.state = JobState::Failed;
                    o.error = Some(e);
                }
            }
            o.finished = Some(Instant::now());
        }
        self.done.send_replace(true);
    }

    /// Waits until the job has finished.
    pub async fn wait(&self) {
        let mut rx = self.done.subscribe();
        let _ = rx.wait_for(|d| *d).await;
    }
}

impl Progress for Job {
    fn begin(&self, operation: &str, total_files: u64, total_bytes: u64) {
        self.files_total.store(total_files, Ordering::Relaxed);
        self.bytes_total.store(total_bytes, Ordering::Relaxed);
        self.files_done.store(0, Ordering::Relaxed);
        self.bytes_done.store(0, Ordering::Relaxed);
        let mut o = self.outcome.lock().unwrap_or_else(|p| p.into_inner());
        o.phase = Some(operation.to_owned());
    }

    fn advance(&self, files: u64, bytes: u64) {
        self.files_done.fetch_add(files, Ordering::Relaxed);
        self.bytes_done.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// Jobs running at once through the API; more are refused with 429 (they share the blocking
/// pool with every database call).
pub const MAX_RUNNING_JOBS: usize = 4;

/// The server's jobs: running ones and the most recent finished ones.
#[derive(Debug)]
pub struct Jobs {
    inner: Mutex<JobsInner>,
    next: AtomicU64,
    slots: Arc<tokio::sync::Semaphore>,
    finished: AtomicU64,
    /// Where jobs run: the runtime that outlives the HTTP workers (the server's main one), so
    /// a shutdown can wait for them.
    runtime: Option<tokio::runtime::Handle>,
}

impl Default for Jobs {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Jobs {
    /// Jobs that run on `runtime`'s blocking pool (default: the caller's runtime).
    pub fn new(runtime: Option<tokio::runtime::Handle>) -> Self {
        Self {
            runtime,
            inner: Mutex::default(),
            next: AtomicU64::new(0),
            slots: Arc::new(tokio::sync::Semaphore::new(MAX_RUNNING_JOBS)),
            finished: AtomicU64::new(0),
        }
    }
}

#[derive(Debug, Default)]
struct JobsInner {
    by_id: HashMap<String, Arc<Job>>,
    order: VecDeque<String>,
}

impl Jobs {
    /// Registers a new running job.
    pub fn start(&self, kind: &str, graph_id: Option<&str>) -> Arc<Job> {
        let n = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (done, _) = watch::channel(false);
        let job = Arc::new(Job {
            id: format!("job-{n}-{}", kind),
            kind: kind.to_owned(),
            graph_id: graph_id.map(str::to_owned),
            started: Instant::now(),
            started_at: SystemTime::now(),
            files_done: AtomicU64::new(0),
            files_total: AtomicU64::new(0),
            bytes_done: AtomicU64::new(0),
            bytes_total: AtomicU64::new(0),
            outcome: Mutex::new(Outcome {
                state: JobState::Running,
                phase: None,
                result: None,
                error: None,
                finished: None,
            }),
            done,
        });
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.by_id.insert(job.id.clone(), job.clone());
        inner.order.push_back(job.id.clone());
        // Forget the oldest finished jobs beyond the cap; running ones always stay.
        while inner.order.len() > KEEP_FINISHED {
            let Some(pos) = inner.order.iter().position(|id| {
                inner
                    .by_id
                    .get(id)
                    .is_some_and(|j| j.view().state != JobState::Running)
            }) else {
                break;
            };
            if let Some(id) = inner.order.remove(pos) {
                inner.by_id.remove(&id);
            }
        }
        job
    }

    /// A job by id.
    pub fn get(&self, id: &str) -> Option<Arc<Job>> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.by_id.get(id).cloned()
    }

    /// Every known job, newest first.
    pub fn list(&self) -> Vec<JobView> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .order
            .iter()
            .rev()
            .filter_map(|id| inner.by_id.get(id).map(|j| j.view()))
            .collect()
    }

    /// Jobs running now.
    pub fn running(&self) -> usize {
        MAX_RUNNING_JOBS - self.slots.available_permits()
    }

    /// Runs `work` on the blocking pool as a new job, if a slot is free (else
    /// [`ServiceError::busy`]). The receiver gets the outcome once the job has finished.
    pub fn run<F>(
        self: &Arc<Self>,
        kind: &str,
        graph_id: Option<&str>,
        work: F,
    ) -> Result<(
        Arc<Job>,
        tokio::sync::oneshot::Receiver<Result<serde_json::Value>>,
    )>
    where
        F: FnOnce(&Job) -> Result<serde_json::Value> + Send + 'static,
    {
        let permit = self.slots.clone().try_acquire_owned().map_err(|_| {
            ServiceError::busy(format!(
                "{MAX_RUNNING_JOBS} operations are already running; retry when one has finished (see /api/v1/jobs)"
            ))
        })?;
        let job = self.start(kind, graph_id);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (j, jobs) = (job.clone(), self.clone());
        let runtime = self
            .runtime
            .clone()
            .unwrap_or_else(tokio::runtime::Handle::current);
        // Everything the job holds (its slot, its outcome) lives in the blocking task itself:
        // nothing is lost if the task that started it is torn down.
        runtime.spawn_blocking(move || {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&j)))
                .unwrap_or_else(|_| Err(ServiceError::internal("the job panicked")));
            j.finish(result.as_ref().map(Clone::clone).map_err(|e| {
                if e.kind() == ErrorKind::Internal {
                    // The client only sees "internal error": the cause goes to the log.
                    tracing::error!(job = %j.id(), error = %crate::error::chain(e), "Job failed");
                    format!("internal error; see the server log for job {}", j.id())
                } else {
                    e.public_message()
                }
            }));
            jobs.finished.fetch_add(1, Ordering::Relaxed);
            drop(permit);
            let _ = tx.send(result);
        });
        Ok((job, rx))
    }

    /// Waits until no job is running, at most `deadline`; returns whether none is.
    pub async fn wait_idle(&self, deadline: Duration) -> bool {
        let all = u32::try_from(MAX_RUNNING_JOBS).unwrap_or(u32::MAX);
        match tokio::time::timeout(deadline, self.slots.acquire_many(all)).await {
            Ok(Ok(p)) => {
                drop(p);
                true
            }
            _ => {
                tracing::warn!(
                    running = self.running(),
                    "Jobs still running at the shutdown deadline"
                );
                false
            }
        }
    }
}

/// The API's jobs as a worker: its status shows them, its shutdown waits for them.
#[derive(Debug)]
pub(crate) struct JobsWorker(pub(crate) Arc<Jobs>);

impl Worker for JobsWorker {
    fn name(&self) -> &'static str {
        "api_jobs"
    }

    fn wait_for_work(&self) -> BoxFuture<'_, ()> {
        Box::pin(std::future::pending())
    }

    fn work(&self) -> BoxFuture<'_, WorkResult> {
        Box::pin(async { Ok(String::new()) })
    }

    fn shutdown(&self, deadline: Duration) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.0.wait_idle(deadline).await;
        })
    }

    fn detail(&self) -> Option<String> {
        Some(format!(
            "{} running, {} finished",
            self.0.running(),
            self.0.finished.load(Ordering::Relaxed)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_and_outcome_are_reported() {
        let jobs = Jobs::default();
        let j = jobs.start("backup", Some("g1"));
        j.begin("backup", 3, 300);
        j.advance(1, 100);
        let v = j.view();
        assert_eq!(
            (v.files_done, v.files_total, v.bytes_done, v.bytes_total),
            (1, 3, 100, 300)
        );
        assert_eq!(v.state, JobState::Running);
        j.finish(Err("boom".into()));
        let v = jobs.get(j.id()).unwrap().view();
        assert_eq!(v.state, JobState::Failed);
        assert_eq!(v.error.as_deref(), Some("boom"));
        assert_eq!(jobs.list().len(), 1);
    }

    #[test]
    fn running_jobs_are_capped_slots_come_back_and_shutdown_waits_for_them() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let jobs = Arc::new(Jobs::default());
            let (release, gate) = std::sync::mpsc::channel::<()>();
            let gate = Arc::new(Mutex::new(gate));
            for _ in 0..MAX_RUNNING_JOBS {
                let g = gate.clone();
                jobs.run("verify", None, move |_| {
                    let _ = g.lock().unwrap().recv();
                    Ok(serde_json::Value::Null)
                })
                .unwrap();
            }
            let refused = jobs.run("verify", None, |_| Ok(serde_json::Value::Null));
            assert_eq!(refused.err().map(|e| e.kind()), Some(ErrorKind::Busy));
            assert_eq!(jobs.running(), MAX_RUNNING_JOBS);
            assert!(!jobs.wait_idle(Duration::from_millis(50)).await);
            for _ in 0..MAX_RUNNING_JOBS {
                release.send(()).unwrap();
            }
            assert!(jobs.wait_idle(Duration::from_secs(10)).await);
            let (_, done) = jobs
                .run("verify", None, |_| Ok(serde_json::json!(1)))
                .unwrap();
            assert_eq!(done.await.unwrap().unwrap(), serde_json::json!(1));
        });
    }

    #[test]
    fn finished_jobs_are_capped_but_running_ones_kept() {
        let jobs = Jobs::default();
        let running = jobs.start("verify", None);
        for _ in 0..(KEEP_FINISHED + 10) {
            jobs.start("backup", None)
                .finish(Ok(serde_json::Value::Null));
        }
        assert!(jobs.list().len() <= KEEP_FINISHED);
        assert!(jobs.get(running.id()).is_some());
    }
}
