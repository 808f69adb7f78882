//! The event logger: typed event constructors, a bounded queue and a background batch writer.
//!
//! `log_*` calls never wait: the event goes into a bounded queue (default 10 000 events) and a
//! background task writes batches (up to 500 rows per transaction) with `insert_events`.
//! When the queue is full the event is **dropped and counted** in
//! `lightrag_event_log_dropped_total{reason="queue_full"}` and logged at WARN (rate-limited),
//! so an operation is never slowed by a stalled database and a loss is never silent. Callers
//! that prefer backpressure use [`EventLogger::log_wait`], which waits up to
//! [`EventLoggerConfig::enqueue_timeout`] for room first. [`EventLogger::flush`] returns once
//! everything queued before it is stored; [`EventLogger::shutdown`] drains the queue and stops
//! the writer (graceful stop loses nothing).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lightrag_recovery_db::{
    ComponentType, Db, Event, EventFilter, EventKind, HealthStatus, NewEvent, Order, Page,
    RecoveryDbError, Severity, Timestamp, delete_events_before, insert_event, insert_events,
    list_events,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::{MonitoringError, Result};
use crate::record;

/// Every event type the logger writes: `kind.outcome`. Analytics count `*.completed` as
/// successes and `*.failed` as failures of the kind's operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum EventType {
    /// A backup started.
    BackupStarted,
    /// A backup completed.
    BackupCompleted,
    /// A backup failed.
    BackupFailed,
    /// A snapshot was deleted (by an operator or retention).
    BackupDeleted,
    /// A sync to a target completed.
    ReplicationCompleted,
    /// A sync to a target failed.
    ReplicationFailed,
    /// A target stopped answering.
    TargetUnreachable,
    /// A target answers again.
    TargetRecovered,
    /// A restore or failover completed.
    RestoreCompleted,
    /// A restore or failover failed.
    RestoreFailed,
    /// A validation (recovery point or snapshot verification) passed.
    ValidationCompleted,
    /// A validation failed.
    ValidationFailed,
    /// A recovery point was created.
    RecoveryPointCreated,
    /// A recovery point was deleted.
    RecoveryPointDeleted,
    /// A retention / prune run finished.
    RetentionCompleted,
    /// A component's health changed.
    HealthChanged,
}

impl EventType {
    /// Stored `event_type` text.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BackupStarted => "backup.started",
            Self::BackupCompleted => "backup.completed",
            Self::BackupFailed => "backup.failed",
            Self::BackupDeleted => "backup.deleted",
            Self::ReplicationCompleted => "replication.completed",
            Self::ReplicationFailed => "replication.failed",
            Self::TargetUnreachable => "replication.target_unreachable",
            Self::TargetRecovered => "replication.target_recovered",
            Self::RestoreCompleted => "restore.completed",
            Self::RestoreFailed => "restore.failed",
            Self::ValidationCompleted => "validation.completed",
            Self::ValidationFailed => "validation.failed",
            Self::RecoveryPointCreated => "recovery_point.created",
            Self::RecoveryPointDeleted => "recovery_point.deleted",
            Self::RetentionCompleted => "retention.completed",
            Self::HealthChanged => "health.changed",
        }
    }

    /// Area.
    pub const fn kind(self) -> EventKind {
        match self {
            Self::BackupStarted
            | Self::BackupCompleted
            | Self::BackupFailed
            | Self::BackupDeleted => EventKind::Backup,
            Self::ReplicationCompleted
            | Self::ReplicationFailed
            | Self::TargetUnreachable
            | Self::TargetRecovered => EventKind::Replication,
            Self::RestoreCompleted | Self::RestoreFailed => EventKind::Restore,
            Self::ValidationCompleted | Self::ValidationFailed => EventKind::Validation,
            Self::RecoveryPointCreated | Self::RecoveryPointDeleted => EventKind::RecoveryPoint,
            Self::RetentionCompleted => EventKind::Retention,
            Self::HealthChanged => EventKind::Health,
        }
    }

    /// Default severity (health changes take theirs from the new status).
    pub const fn severity(self) -> Severity {
        match self {
            Self::BackupFailed | Self::ReplicationFailed | Self::TargetUnreachable => {
                Severity::Error
            }
            Self::RestoreFailed | Self::ValidationFailed => Severity::Critical,
            _ => Severity::Info,
        }
    }
}

/// Optional facts attached to an event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventDetails {
    /// Snapshot concerned.
    pub snapshot_id: Option<String>,
    /// Duration of the operation.
    pub duration: Option<Duration>,
    /// Bytes processed (logical bytes of a backup, bytes copied by a sync, …).
    pub bytes: Option<u64>,
    /// Short human message (defaults to the event type).
    pub message: Option<String>,
    /// Overrides the type's default severity.
    pub severity: Option<Severity>,
    /// Free-form JSON details.
    pub extra: Option<serde_json::Value>,
    /// When it happened (default: now).
    pub at: Option<Timestamp>,
}

impl EventDetails {
    fn apply(self, mut e: NewEvent) -> NewEvent {
        if let Some(s) = self.snapshot_id {
            e = e.snapshot(s);
        }
        if let Some(d) = self.duration {
            e = e.duration_ms(i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        }
        if let Some(b) = self.bytes {
            e = e.bytes(i64::try_from(b).unwrap_or(i64::MAX));
        }
        if let Some(m) = self.message {
            e.message = m;
        }
        if let Some(s) = self.severity {
            e.severity = s;
        }
        if let Some(x) = &self.extra {
            e = e.with_details(x);
        }
        if let Some(t) = self.at {
            e = e.at(t);
        }
        e
    }
}

/// A half-open time range `[since, until)`: `since` inclusive, `until` exclusive; `None` =
/// unbounded on that side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TimeRange {
    /// Inclusive start.
    pub since: Option<Timestamp>,
    /// Exclusive end.
    pub until: Option<Timestamp>,
}

/// Tuning of the [`EventLogger`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventLoggerConfig {
    /// Queue capacity (events).
    pub capacity: usize,
    /// Most rows per INSERT transaction.
    pub batch_size: usize,
    /// How long [`EventLogger::log_wait`] waits for room.
    pub enqueue_timeout: Duration,
    /// Attempts per batch before its events are dropped (counted as `write_failed`).
    pub write_attempts: u32,
}

impl Default for EventLoggerConfig {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            batch_size: 500,
            enqueue_timeout: Duration::from_millis(100),
            write_attempts: 3,
        }
    }
}

enum Command {
    Event(Box<NewEvent>),
    Flush(oneshot::Sender<()>),
}

#[derive(Debug, Default)]
struct Counters {
    written: AtomicU64,
    dropped: AtomicU64,
    /// Events accepted into the queue and not yet written or dropped by the writer.
    pending: AtomicU64,
    last_drop_warning_ms: AtomicU64,
}

/// What [`EventLogger::shutdown_within`] did with the events still queued.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ShutdownReport {
    /// Events the writer stored during the drain.
    pub written: u64,
    /// Events lost: still queued (or in a batch not confirmed written) when the deadline
    /// passed, or dropped by the writer during the drain (write failed, invalid). Counted in
    /// `lightrag_event_log_dropped_total{reason="shutdown_deadline"}` for the first kind.
    pub dropped: u64,
    /// Whether the drain finished within the deadline.
    pub completed: bool,
}

/// Buffered, batched writer of the event log. Cheap to clone; one per process.
#[derive(Debug, Clone)]
pub struct EventLogger {
    db: Db,
    config: EventLoggerConfig,
    tx: Arc<Mutex<Option<mpsc::Sender<Command>>>>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
    counters: Arc<Counters>,
}

impl EventLogger {
    /// Starts the background writer on the current tokio runtime.
    pub fn start(db: Db, config: EventLoggerConfig) -> Self {
        let config = EventLoggerConfig {
            capacity: config.capacity.max(1),
            batch_size: config.batch_size.clamp(1, 1_000),
            write_attempts: config.write_attempts.max(1),
            ..config
        };
        let (tx, rx) = mpsc::channel(config.capacity);
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(writer(db.clone(), config, rx, counters.clone()));
        Self {
            db,
            config,
            tx: Arc::new(Mutex::new(Some(tx))),
            task: Arc::new(Mutex::new(Some(task))),
            counters,
        }
    }

    /// Events stored so far.
    pub fn written(&self) -> u64 {
        self.counters.written.load(Ordering::Relaxed)
    }

    /// Events lost so far (queue full, shut down, invalid, write failed).
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    fn sender(&self) -> Option<mpsc::Sender<Command>> {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn drop_event(&self, reason: &'static str, event: &NewEvent) {
        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        record::event_log_dropped(reason, 1);
        // At most one warning per second.
        let now = Timestamp::now().unix_millis().max(0).cast_unsigned();
        let last = self.counters.last_drop_warning_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 1_000
            && self
                .counters
                .last_drop_warning_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                reason,
                event_type = %event.event_type,
                dropped_total = self.dropped(),
                "Event log dropped an event"
            );
        }
    }

    /// Queues `event` without waiting. Returns `false` (and counts the drop) when the queue is
    /// full or the logger is shut down.
    pub fn log(&self, event: NewEvent) -> bool {
        let Some(tx) = self.sender() else {
            self.drop_event("closed", &event);
            return false;
        };
        self.counters.pending.fetch_add(1, Ordering::SeqCst);
        match tx.try_send(Command::Event(Box::new(event))) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(Command::Event(e))) => {
                self.counters.pending.fetch_sub(1, Ordering::SeqCst);
                self.drop_event("queue_full", &e);
                false
            }
            Err(mpsc::error::TrySendError::Closed(Command::Event(e))) => {
                self.counters.pending.fetch_sub(1, Ordering::SeqCst);
                self.drop_event("closed", &e);
                false
            }
            Err(_) => {
                self.counters.pending.fetch_sub(1, Ordering::SeqCst);
                false
            }
        }
    }

    /// Queues `event`, waiting up to `enqueue_timeout` for room; drops and counts it after that.
    pub async fn log_wait(&self, event: NewEvent) -> bool {
        let Some(tx) = self.sender() else {
            self.drop_event("closed", &event);
            return false;
        };
        self.counters.pending.fetch_add(1, Ordering::SeqCst);
        match tx
            .send_timeout(Command::Event(Box::new(event)), self.config.enqueue_timeout)
            .await
        {
            Ok(()) => true,
            Err(mpsc::error::SendTimeoutError::Timeout(Command::Event(e))) => {
                self.counters.pending.fetch_sub(1, Ordering::SeqCst);
                self.drop_event("queue_full", &e);
                false
            }
            Err(mpsc::error::SendTimeoutError::Closed(Command::Event(e))) => {
                self.counters.pending.fetch_sub(1, Ordering::SeqCst);
                self.drop_event("closed", &e);
                false
            }
            Err(_) => {
                self.counters.pending.fetch_sub(1, Ordering::SeqCst);
                false
            }
        }
    }

    /// The event of type `ty` with `details`, for [`EventLogger::log`] (events tied to no
    /// graph, target or recovery point, such as a repository-wide verification).
    pub fn build(ty: EventType, details: EventDetails) -> NewEvent {
        details.apply(NewEvent::new(
            ty.kind(),
            ty.as_str(),
            ty.severity(),
            ty.as_str(),
        ))
    }

    /// Logs a backup event of `graph` (`BackupStarted|Completed|Failed|Deleted`).
    pub fn log_backup_event(&self, graph: &str, ty: EventType, details: EventDetails) -> bool {
        self.log(Self::build(ty, details).graph(graph))
    }

    /// Logs a replication event of (`graph`, `target`); `graph` may be `None` for target-level
    /// events (`TargetUnreachable`, `TargetRecovered`).
    pub fn log_replication_event(
        &self,
        graph: Option<&str>,
        target: &str,
        ty: EventType,
        details: EventDetails,
    ) -> bool {
        let mut e = Self::build(ty, details).target(target);
        if let Some(g) = graph {
            e = e.graph(g);
        }
        self.log(e)
    }

    /// Logs a recovery event (restore, validation, recovery point life cycle) of recovery point
    /// `checkpoint`, optionally of one graph.
    pub fn log_recovery_event(
        &self,
        checkpoint: &str,
        graph: Option<&str>,
        ty: EventType,
        details: EventDetails,
    ) -> bool {
        let mut e = Self::build(ty, details).recovery_point(checkpoint);
        if let Some(g) = graph {
            e = e.graph(g);
        }
        self.log(e)
    }

    /// Logs a health transition of a component. Severity follows the new status: HEALTHY info,
    /// DEGRADED warning, OFFLINE critical. A graph's id goes in `graph_id`, a target's in
    /// `target_id`; the details carry `component`, `id`, `from` and `to`.
    pub fn log_health_event(
        &self,
        component: ComponentType,
        id: &str,
        from: Option<HealthStatus>,
        to: HealthStatus,
        message: &str,
    ) -> bool {
        let severity = match to {
            HealthStatus::Offline => Severity::Critical,
            HealthStatus::Degraded => Severity::Warning,
            _ => Severity::Info,
        };
        let mut e = NewEvent::new(
            EventKind::Health,
            EventType::HealthChanged.as_str(),
            severity,
            message,
        )
        .with_details(&serde_json::json!({
            "component": component.as_str(),
            "id": id,
            "from": from.map(HealthStatus::as_str),
            "to": to.as_str(),
        }));
        match component {
            ComponentType::Graph => e = e.graph(id),
            ComponentType::Target => e = e.target(id),
            _ => {}
        }
        self.log(e)
    }

    /// Events of `graph` in `range` (`since` inclusive, `until` exclusive), newest first.
    pub async fn get_events_for_graph(
        &self,
        graph: &str,
        range: TimeRange,
        page: Page,
    ) -> Result<Vec<Event>> {
        let filter = EventFilter {
            graph_id: Some(graph.to_owned()),
            since: range.since,
            until: range.until,
            order: Order::NewestFirst,
            ..EventFilter::default()
        };
        Ok(self
            .db
            .run(move |conn| list_events(conn, &filter, page))
            .await?)
    }

    /// Returns once every event queued before this call is stored (or counted as dropped).
    pub async fn flush(&self) -> Result<()> {
        let tx = self.sender().ok_or(MonitoringError::LoggerClosed)?;
        let (ack, done) = oneshot::channel();
        tx.send(Command::Flush(ack))
            .await
            .map_err(|_| MonitoringError::LoggerClosed)?;
        done.await.map_err(|_| MonitoringError::LoggerClosed)
    }

    /// Events queued and not yet written or dropped.
    pub fn pending(&self) -> u64 {
        self.counters.pending.load(Ordering::SeqCst)
    }

    /// Stops accepting events, writes everything queued and waits for the writer to finish
    /// (however long the database takes). Later `log_*` calls are counted as dropped
    /// (`closed`). Idempotent. A process that must exit in bounded time uses
    /// [`EventLogger::shutdown_within`].
    pub async fn shutdown(&self) {
        drop(self.tx.lock().unwrap_or_else(|e| e.into_inner()).take());
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task
            && let Err(e) = task.await
        {
            tracing::error!(error = %e, "Event log writer ended abnormally");
        }
    }

    /// Like [`EventLogger::shutdown`], but gives the drain at most `deadline`: what is still
    /// queued (or in a batch not confirmed written) when it passes is counted as dropped
    /// (`lightrag_event_log_dropped_total{reason="shutdown_deadline"}`) and logged at ERROR,
    /// and the writer is stopped. Logs one line with the figures either way. Idempotent (a
    /// second call reports nothing more).
    pub async fn shutdown_within(&self, deadline: Duration) -> ShutdownReport {
        let written_before = self.written();
        let dropped_before = self.dropped();
        let queued = self.pending();
        drop(self.tx.lock().unwrap_or_else(|e| e.into_inner()).take());
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        let mut completed = true;
        if let Some(mut task) = task {
            match tokio::time::timeout(deadline, &mut task).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "Event log writer ended abnormally");
                }
                Err(_) => {
                    completed = false;
                    task.abort();
                    let _ = task.await;
                }
            }
        }
        // Whatever the writer did not account for is lost (an aborted or crashed writer).
        let lost = self.counters.pending.swap(0, Ordering::SeqCst);
        if lost > 0 {
            self.counters.dropped.fetch_add(lost, Ordering::Relaxed);
            record::event_log_dropped("shutdown_deadline", lost);
        }
        record::event_log_queue_depth(0);
        let report = ShutdownReport {
            written: self.written().saturating_sub(written_before),
            dropped: self.dropped().saturating_sub(dropped_before),
            completed,
        };
        if report.dropped > 0 {
            tracing::error!(
                queued,
                written = report.written,
                dropped = report.dropped,
                deadline_ms = deadline.as_millis() as u64,
                "Event log drained at shutdown with losses"
            );
        } else {
            tracing::info!(
                queued,
                written = report.written,
                "Event log drained at shutdown"
            );
        }
        report
    }

    /// Deletes events older than `retention` (`LIGHTRAG_EVENT_LOG_RETENTION` days); returns
    /// how many. An event exactly `retention` old is kept.
    pub async fn purge_expired(&self, retention: Duration) -> Result<usize> {
        let ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        let cutoff = Timestamp::from_unix_millis(Timestamp::now().unix_millis().saturating_sub(ms));
        self.purge_before(cutoff).await
    }

    /// Deletes events with `occurred_at < cutoff`; returns how many.
    pub async fn purge_before(&self, cutoff: Timestamp) -> Result<usize> {
        let n = self
            .db
            .run(move |conn| delete_events_before(conn, cutoff))
            .await?;
        tracing::info!(deleted = n, %cutoff, "Purged expired events");
        Ok(n)
    }
}

async fn writer(
    db: Db,
    config: EventLoggerConfig,
    mut rx: mpsc::Receiver<Command>,
    counters: Arc<Counters>,
) {
    let mut batch: Vec<NewEvent> = Vec::with_capacity(config.batch_size);
    let mut acks: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        // Take what is already queued, up to one batch; stop at a flush marker.
        while let Some(cmd) = next.take() {
            match cmd {
                Command::Event(e) => batch.push(*e),
                Command::Flush(ack) => {
                    acks.push(ack);
                    break;
                }
            }
            if batch.len() >= config.batch_size {
                break;
            }
            next = rx.try_recv().ok();
        }
        record::event_log_queue_depth(rx.len());
        if !batch.is_empty() {
            write_batch(&db, &config, std::mem::take(&mut batch), &counters).await;
        }
        for ack in acks.drain(..) {
            let _ = ack.send(());
        }
    }
    record::event_log_queue_depth(0);
    tracing::debug!("Event log writer stopped");
}

async fn write_batch(
    db: &Db,
    config: &EventLoggerConfig,
    batch: Vec<NewEvent>,
    counters: &Counters,
) {
    let n = batch.len() as u64;
    let batch = Arc::new(batch);
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let rows = batch.clone();
        match db.run(move |conn| insert_events(conn, &rows)).await {
            Ok(_) => {
                counters.written.fetch_add(n, Ordering::Relaxed);
                counters.pending.fetch_sub(n, Ordering::SeqCst);
                record::event_log_written(n);
                tracing::trace!(
                    rows = n,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "Wrote events"
                );
                return;
            }
            Err(RecoveryDbError::InvalidInput { .. }) => {
                // One bad event must not sink the batch: store the others one by one.
                let rows = batch.clone();
                let (ok, bad) = db
                    .run(move |conn| {
                        let (mut ok, mut bad) = (0u64, 0u64);
                        for e in rows.iter() {
                            match insert_event(conn, e) {
                                Ok(()) => ok += 1,
                                Err(RecoveryDbError::InvalidInput { .. }) => bad += 1,
                                Err(e) => return Err(e),
                            }
                        }
                        Ok((ok, bad))
                    })
                    .await
                    .unwrap_or((0, n));
                counters.written.fetch_add(ok, Ordering::Relaxed);
                counters.dropped.fetch_add(bad, Ordering::Relaxed);
                counters.pending.fetch_sub(ok + bad, Ordering::SeqCst);
                record::event_log_written(ok);
                record::event_log_dropped("invalid", bad);
                tracing::warn!(invalid = bad, "Event log rejected invalid events");
                return;
            }
            Err(e) if attempt < config.write_attempts => {
                tracing::warn!(error = %lightrag_config::ErrorChain(&e), attempt, rows = n, "Event log write failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            Err(e) => {
                counters.dropped.fetch_add(n, Ordering::Relaxed);
                counters.pending.fetch_sub(n, Ordering::SeqCst);
                record::event_log_dropped("write_failed", n);
                tracing::error!(error = %lightrag_config::ErrorChain(&e), rows = n, "Event log write failed; events dropped");
                return;
            }
        }
    }
}
