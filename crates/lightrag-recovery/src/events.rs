//! Where this crate's events go.
//!
//! Every restore step, validation, recovery-point change and health transition produces a
//! [`NewEvent`]. The server decides where it goes by handing an [`EventSink`] to the
//! [`RecoveryManager`](crate::RecoveryManager) / [`HealthMonitor`](crate::HealthMonitor):
//! [`DbEventSink`] writes straight into the `events` table (the default), a monitoring
//! logger can implement the trait to also count metrics.

use std::{fmt, sync::Mutex};

use lightrag_recovery_db::{Db, NewEvent, insert_event};

/// Receives events. Implementations must not fail the operation that emits: they log
/// their own errors.
pub trait EventSink: Send + Sync + fmt::Debug {
    /// Record one event.
    fn emit(&self, event: NewEvent);
}

/// Writes events into the recovery database's `events` table.
#[derive(Debug, Clone)]
pub struct DbEventSink {
    db: Db,
}

impl DbEventSink {
    /// A sink writing through `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

impl EventSink for DbEventSink {
    fn emit(&self, event: NewEvent) {
        let res = self
            .db
            .conn()
            .and_then(|mut c| insert_event(&mut c, &event));
        if let Err(e) = res {
            tracing::warn!(event_type = %event.event_type, error = %lightrag_config::ErrorChain(&e), "Could not store event");
        }
    }
}

/// Keeps events in memory (tests, dry runs).
#[derive(Debug, Default)]
pub struct MemoryEventSink {
    events: Mutex<Vec<NewEvent>>,
}

impl MemoryEventSink {
    /// Events received so far.
    pub fn events(&self) -> Vec<NewEvent> {
        self.events.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl EventSink for MemoryEventSink {
    fn emit(&self, event: NewEvent) {
        if let Ok(mut v) = self.events.lock() {
            v.push(event);
        }
    }
}
